package podlogsreceiver

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Keys of a JSON body that become fields of the log record rather than attributes.
var (
	messageKeys  = []string{"message", "msg"}
	severityKeys = []string{"level", "severity", "lvl", "levelname"}
	traceIDKeys  = []string{"trace_id", "traceId", "traceid"}
	spanIDKeys   = []string{"span_id", "spanId", "spanid"}
)

// looksLikeJSONObject is the cheap test done before trying to parse a body.
func looksLikeJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}'
}

// applyJSONBody parses body as a JSON object into lr. On error lr is left untouched, and the
// caller keeps the body as text.
func applyJSONBody(lr plog.LogRecord, body []byte) error {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("json body: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("json body: trailing data after the object")
	}
	if msg, key, ok := takeString(obj, messageKeys); ok {
		lr.Body().SetStr(msg)
		delete(obj, key)
	} else {
		lr.Body().SetStr(string(body))
	}
	if sev, key, ok := takeString(obj, severityKeys); ok {
		lr.SetSeverityText(sev)
		lr.SetSeverityNumber(severityNumber(sev))
		delete(obj, key)
	}
	if s, key, ok := takeString(obj, traceIDKeys); ok {
		var id pcommon.TraceID
		if n, err := hex.Decode(id[:], []byte(s)); err == nil && n == len(id) {
			lr.SetTraceID(id)
			delete(obj, key)
		}
	}
	if s, key, ok := takeString(obj, spanIDKeys); ok {
		var id pcommon.SpanID
		if n, err := hex.Decode(id[:], []byte(s)); err == nil && n == len(id) {
			lr.SetSpanID(id)
			delete(obj, key)
		}
	}
	attrs := lr.Attributes()
	for k, v := range obj {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				attrs.PutInt(k, i)
			} else if f, err := n.Float64(); err == nil {
				attrs.PutDouble(k, f)
			} else {
				attrs.PutStr(k, n.String())
			}
			continue
		}
		if err := attrs.PutEmpty(k).FromRaw(normalizeNumbers(v)); err != nil {
			attrs.PutStr(k, fmt.Sprint(v))
		}
	}
	return nil
}

func takeString(obj map[string]any, keys []string) (string, string, bool) {
	for _, k := range keys {
		if s, ok := obj[k].(string); ok {
			return s, k, true
		}
	}
	return "", "", false
}

// normalizeNumbers turns json.Number inside nested values into int64 or float64 for FromRaw.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = normalizeNumbers(e)
		}
	}
	return v
}

func severityNumber(s string) plog.SeverityNumber {
	switch strings.ToLower(s) {
	case "trace":
		return plog.SeverityNumberTrace
	case "debug", "dbg":
		return plog.SeverityNumberDebug
	case "info", "information", "notice":
		return plog.SeverityNumberInfo
	case "warn", "warning":
		return plog.SeverityNumberWarn
	case "error", "err":
		return plog.SeverityNumberError
	case "fatal", "critical", "crit", "panic", "emergency", "alert":
		return plog.SeverityNumberFatal
	default:
		return plog.SeverityNumberUnspecified
	}
}
