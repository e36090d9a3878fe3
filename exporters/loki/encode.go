package lokiexporter

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// encoder turns OTLP logs into Loki push requests: it picks each record's tenant and stream
// labels, puts the other attributes into structured metadata, and groups and orders entries.
// It is safe for concurrent use; each call works on its own state.
type encoder struct {
	resourceLabels []resolvedLabel
	recordLabels   []resolvedLabel
	level          bool
	metadata       bool
	maxLineSize    int
	dropLongLines  bool
	tenantAttr     string
	tenantID       string
	now            func() time.Time
	bufs           sync.Pool // *[]byte, reused protobuf and snappy buffers
}

type resolvedLabel struct {
	attribute string
	name      string
}

func newEncoder(cfg *Config) *encoder {
	e := &encoder{
		level:         cfg.Labels.Level,
		metadata:      cfg.StructuredMetadata.Enabled,
		maxLineSize:   cfg.MaxLineSize,
		dropLongLines: cfg.LongLines == LongLineDrop,
		tenantAttr:    cfg.Tenant.FromAttribute,
		tenantID:      cfg.Tenant.ID,
		now:           time.Now,
	}
	resolve := func(list []AttributeLabel) []resolvedLabel {
		out := make([]resolvedLabel, 0, len(list))
		for _, a := range list {
			out = append(out, resolvedLabel{attribute: a.Attribute, name: a.labelName()})
		}
		// Sorted by label name, so that a stream key is canonical.
		slices.SortFunc(out, func(a, b resolvedLabel) int { return strings.Compare(a.name, b.name) })
		return out
	}
	e.resourceLabels = resolve(cfg.Labels.ResourceAttributes)
	e.recordLabels = resolve(cfg.Labels.RecordAttributes)
	return e
}

// tenantBatch is what one push request carries: the streams of one tenant.
type tenantBatch struct {
	tenant    string
	streams   map[string]*stream
	entries   int
	resources []int // indexes into the source ResourceLogs, to retry just this tenant
}

// stream is one label set and its entries.
type stream struct {
	labels  push.LabelsAdapter // sorted by name
	str     string             // labels as Loki's selector: {a="1", b="2"}
	entries []push.Entry
}

// encodeStats counts what encoding did to long lines.
type encodeStats struct {
	truncated int
	dropped   int
}

// group splits ld by tenant and, within each tenant, by stream; the result is ordered by tenant.
func (e *encoder) group(ld plog.Logs) ([]*tenantBatch, encodeStats) {
	var stats encodeStats
	byTenant := map[string]*tenantBatch{}
	names := map[string]string{} // attribute key -> sanitized name, for this call
	var key []byte
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		tenant := e.tenantID
		if e.tenantAttr != "" {
			if v, ok := res.Get(e.tenantAttr); ok && v.AsString() != "" {
				tenant = v.AsString()
			}
		}
		tb := byTenant[tenant]
		if tb == nil {
			tb = &tenantBatch{tenant: tenant, streams: map[string]*stream{}}
			byTenant[tenant] = tb
		}
		tb.resources = append(tb.resources, i)

		resLabels, resKey := e.labelPairs(res, e.resourceLabels, nil)
		var resMeta push.LabelsAdapter
		if e.metadata {
			resMeta = e.metadataPairs(res, resLabels, e.tenantAttr, names, nil)
		}
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				line, keep := e.line(lr.Body(), &stats)
				if !keep {
					continue
				}
				var recLabels push.LabelsAdapter
				if len(e.recordLabels) > 0 {
					recLabels, _ = e.labelPairs(lr.Attributes(), e.recordLabels, nil)
				}
				level := ""
				if e.level || e.metadata {
					level = severityLevel(lr)
				}
				key = append(key[:0], resKey...)
				for _, l := range recLabels {
					key = appendKey(key, l.Name, l.Value)
				}
				if e.level {
					key = appendKey(key, levelLabel, level)
				}
				s := tb.streams[string(key)]
				if s == nil {
					ls := e.streamLabels(resLabels, recLabels, level)
					s = &stream{labels: ls, str: labelsString(ls)}
					tb.streams[string(key)] = s
				}
				entry := push.Entry{Timestamp: e.timestamp(lr), Line: line}
				if e.metadata {
					entry.StructuredMetadata = e.entryMetadata(lr, resMeta, recLabels, level, names)
				}
				s.entries = append(s.entries, entry)
				tb.entries++
			}
		}
	}
	out := make([]*tenantBatch, 0, len(byTenant))
	for _, tb := range byTenant {
		out = append(out, tb)
	}
	slices.SortFunc(out, func(a, b *tenantBatch) int { return strings.Compare(a.tenant, b.tenant) })
	return out, stats
}

func appendKey(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, 0xff)
	b = append(b, value...)
	return append(b, 0xfe)
}

// labelPairs returns the configured labels that attrs has (empty values skipped), in label
// order, and their stream key.
func (e *encoder) labelPairs(attrs pcommon.Map, want []resolvedLabel, key []byte) (push.LabelsAdapter, []byte) {
	var out push.LabelsAdapter
	for _, l := range want {
		v, ok := attrs.Get(l.attribute)
		if !ok {
			continue
		}
		s := validUTF8(v.AsString())
		if s == "" {
			continue
		}
		out = append(out, push.LabelAdapter{Name: l.name, Value: s})
		key = appendKey(key, l.name, s)
	}
	return out, key
}

// streamLabels merges resource labels, record labels and level into one sorted label set; a
// record that matched no label gets service_name="unknown_service".
func (e *encoder) streamLabels(res, rec push.LabelsAdapter, level string) push.LabelsAdapter {
	out := make(push.LabelsAdapter, 0, len(res)+len(rec)+1)
	out = append(out, res...)
	out = append(out, rec...)
	if e.level {
		out = append(out, push.LabelAdapter{Name: levelLabel, Value: level})
	}
	if len(out) == 0 {
		out = append(out, push.LabelAdapter{Name: fallbackLabel, Value: fallbackValue})
	}
	slices.SortFunc(out, func(a, b push.LabelAdapter) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// metadataPairs appends the attributes that are not labels (and not skip) as structured
// metadata with sanitized names; empty values are left out.
func (e *encoder) metadataPairs(attrs pcommon.Map, labels push.LabelsAdapter, skip string, names map[string]string, out push.LabelsAdapter) push.LabelsAdapter {
	attrs.Range(func(k string, v pcommon.Value) bool {
		if k == skip && skip != "" {
			return true
		}
		for _, l := range labels {
			if e.isLabelAttribute(k, l.Name) {
				return true
			}
		}
		name, ok := names[k]
		if !ok {
			name = sanitizeLabelName(k)
			names[k] = name
		}
		value := v.AsString()
		if name == "" || value == "" {
			return true
		}
		out = append(out, push.LabelAdapter{Name: name, Value: validUTF8(value)})
		return true
	})
	return out
}

// isLabelAttribute reports whether attribute key produced the label name.
func (e *encoder) isLabelAttribute(key, name string) bool {
	for _, l := range e.resourceLabels {
		if l.attribute == key && l.name == name {
			return true
		}
	}
	for _, l := range e.recordLabels {
		if l.attribute == key && l.name == name {
			return true
		}
	}
	return false
}

// entryMetadata is the structured metadata of one entry: the resource's, then the record's
// attributes that are not labels, the level when it is not a label, trace_id and span_id. A
// record attribute overrides a resource attribute of the same name.
func (e *encoder) entryMetadata(lr plog.LogRecord, resMeta, recLabels push.LabelsAdapter, level string, names map[string]string) push.LabelsAdapter {
	attrs := lr.Attributes()
	n := len(resMeta) + attrs.Len() + 3
	out := make(push.LabelsAdapter, 0, n)
	out = append(out, resMeta...)
	if attrs.Len() > 0 {
		out = e.metadataPairs(attrs, recLabels, "", names, out)
		out = dedupeLast(out, len(resMeta))
	}
	if !e.level && level != "" && level != "unknown" {
		out = setPair(out, levelLabel, level)
	}
	if tid := lr.TraceID(); !tid.IsEmpty() {
		out = setPair(out, traceIDKey, hex.EncodeToString(tid[:]))
	}
	if sid := lr.SpanID(); !sid.IsEmpty() {
		out = setPair(out, spanIDKey, hex.EncodeToString(sid[:]))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// dedupeLast removes, from pairs[:split], the names that pairs[split:] sets again.
func dedupeLast(pairs push.LabelsAdapter, split int) push.LabelsAdapter {
	if split == 0 || split == len(pairs) {
		return pairs
	}
	out := pairs[:0]
	for i, p := range pairs {
		if i < split && slices.ContainsFunc(pairs[split:], func(q push.LabelAdapter) bool { return q.Name == p.Name }) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// setPair sets name to value, replacing an attribute of the same name.
func setPair(pairs push.LabelsAdapter, name, value string) push.LabelsAdapter {
	for i := range pairs {
		if pairs[i].Name == name {
			pairs[i].Value = value
			return pairs
		}
	}
	return append(pairs, push.LabelAdapter{Name: name, Value: value})
}

// line returns the record's body as a Loki line: strings as they are, maps and slices as JSON;
// it applies max_line_size.
func (e *encoder) line(body pcommon.Value, stats *encodeStats) (string, bool) {
	var s string
	switch body.Type() {
	case pcommon.ValueTypeStr:
		s = body.Str()
	case pcommon.ValueTypeEmpty:
		s = ""
	default:
		s = body.AsString()
	}
	if e.maxLineSize > 0 && len(s) > e.maxLineSize {
		if e.dropLongLines {
			stats.dropped++
			return "", false
		}
		stats.truncated++
		s = truncateUTF8(s, e.maxLineSize)
	}
	return s, true
}

// truncateUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// timestamp is the record's time, else its observed time, else now.
func (e *encoder) timestamp(lr plog.LogRecord) time.Time {
	if ts := lr.Timestamp(); ts != 0 {
		return ts.AsTime()
	}
	if ts := lr.ObservedTimestamp(); ts != 0 {
		return ts.AsTime()
	}
	return e.now()
}

// pushRequest orders tb's streams by labels and each stream's entries by time (stable, so
// entries with the same timestamp keep their order), and returns the push request.
func (tb *tenantBatch) pushRequest() push.PushRequest {
	req := push.PushRequest{Streams: make([]push.Stream, 0, len(tb.streams))}
	for _, s := range tb.streams {
		if !slices.IsSortedFunc(s.entries, compareEntries) {
			slices.SortStableFunc(s.entries, compareEntries)
		}
		req.Streams = append(req.Streams, push.Stream{Labels: s.str, Entries: s.entries})
	}
	slices.SortFunc(req.Streams, func(a, b push.Stream) int { return strings.Compare(a.Labels, b.Labels) })
	return req
}

func compareEntries(a, b push.Entry) int { return a.Timestamp.Compare(b.Timestamp) }

// labelsString renders labels in Loki's stream selector syntax: {a="1", b="2"}.
func labelsString(ls push.LabelsAdapter) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.Name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(l.Value))
	}
	b.WriteByte('}')
	return b.String()
}

// encodeProtobuf marshals req and compresses it with snappy (block format, as Loki expects).
// The returned release function gives the buffers back; call it when the body is sent.
func (e *encoder) encodeProtobuf(req *push.PushRequest) ([]byte, func(), error) {
	raw := e.getBuf(req.Size())
	n, err := req.MarshalToSizedBuffer(*raw)
	if err != nil {
		e.bufs.Put(raw)
		return nil, func() {}, fmt.Errorf("marshal push request: %w", err)
	}
	data := (*raw)[len(*raw)-n:]
	out := e.getBuf(snappy.MaxEncodedLen(len(data)))
	body := snappy.Encode(*out, data)
	e.bufs.Put(raw)
	return body, func() { e.bufs.Put(out) }, nil
}

func (e *encoder) getBuf(n int) *[]byte {
	if p, ok := e.bufs.Get().(*[]byte); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n)
	return &b
}

// jsonPush is Loki's JSON push body.
type jsonPush struct {
	Streams []jsonStream `json:"streams"`
}

type jsonStream struct {
	Stream map[string]string `json:"stream"`
	Values [][]any           `json:"values"`
}

// encodeJSON renders req as Loki's JSON push body: each value is [unix-ns string, line] plus,
// when present, a structured metadata object.
func encodeJSON(req *push.PushRequest, labels map[string]push.LabelsAdapter) ([]byte, error) {
	body := jsonPush{Streams: make([]jsonStream, 0, len(req.Streams))}
	for _, s := range req.Streams {
		js := jsonStream{Stream: map[string]string{}, Values: make([][]any, 0, len(s.Entries))}
		for _, l := range labels[s.Labels] {
			js.Stream[l.Name] = l.Value
		}
		for _, en := range s.Entries {
			v := []any{strconv.FormatInt(en.Timestamp.UnixNano(), 10), en.Line}
			if len(en.StructuredMetadata) > 0 {
				sm := make(map[string]string, len(en.StructuredMetadata))
				for _, p := range en.StructuredMetadata {
					sm[p.Name] = p.Value
				}
				v = append(v, sm)
			}
			js.Values = append(js.Values, v)
		}
		body.Streams = append(body.Streams, js)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("marshal JSON push body: %w", err)
	}
	return b, nil
}

// labelSets maps each stream's label string to its labels, for the JSON encoding.
func (tb *tenantBatch) labelSets() map[string]push.LabelsAdapter {
	out := make(map[string]push.LabelsAdapter, len(tb.streams))
	for _, s := range tb.streams {
		out[s.str] = s.labels
	}
	return out
}
