package lokiexporter

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
)

const (
	// levelLabel is the label (or structured metadata) name of the severity level.
	levelLabel = "level"
	// fallbackLabel and fallbackValue name the stream of records that match no label: Loki refuses
	// a stream without labels.
	fallbackLabel = "service_name"
	fallbackValue = "unknown_service"
	// traceIDKey and spanIDKey are the structured metadata names Grafana's derived fields and
	// "logs to traces" links look for.
	traceIDKey = "trace_id"
	spanIDKey  = "span_id"
)

// validLabelName reports whether name follows Loki's (Prometheus's) label name rules:
// [a-zA-Z_][a-zA-Z0-9_]*, and not the reserved "__" prefix.
func validLabelName(name string) bool {
	if name == "" || strings.HasPrefix(name, "__") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// sanitizeLabelName turns an attribute key into a valid label name: every character other than
// [a-zA-Z0-9_] becomes "_", a leading digit gets a "_" in front, and a leading run of
// underscores (the "__" prefix is reserved) shrinks to one. An empty key stays empty.
func sanitizeLabelName(key string) string {
	if validLabelName(key) {
		return key
	}
	if key == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(key) + 1)
	if c := key[0]; c >= '0' && c <= '9' {
		b.WriteByte('_')
	}
	for _, r := range key {
		if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if strings.HasPrefix(s, "__") {
		s = "_" + strings.TrimLeft(s, "_")
	}
	return s
}

// severityLevel maps a record's severity to a Loki level: trace, debug, info, warn, error,
// fatal, or unknown.
func severityLevel(lr plog.LogRecord) string {
	switch n := lr.SeverityNumber(); {
	case n >= plog.SeverityNumberTrace && n <= plog.SeverityNumberTrace4:
		return "trace"
	case n >= plog.SeverityNumberDebug && n <= plog.SeverityNumberDebug4:
		return "debug"
	case n >= plog.SeverityNumberInfo && n <= plog.SeverityNumberInfo4:
		return "info"
	case n >= plog.SeverityNumberWarn && n <= plog.SeverityNumberWarn4:
		return "warn"
	case n >= plog.SeverityNumberError && n <= plog.SeverityNumberError4:
		return "error"
	case n >= plog.SeverityNumberFatal && n <= plog.SeverityNumberFatal4:
		return "fatal"
	}
	return levelFromText(lr.SeverityText())
}

// levelFromText maps common severity words (any case) to a level.
func levelFromText(text string) string {
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "trace":
		return "trace"
	case "debug", "dbg":
		return "debug"
	case "info", "information", "informational", "notice":
		return "info"
	case "warn", "warning":
		return "warn"
	case "error", "err":
		return "error"
	case "fatal", "critical", "crit", "panic", "emerg", "emergency", "alert":
		return "fatal"
	}
	return "unknown"
}
