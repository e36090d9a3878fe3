package lokiexporter

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"
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
	// Reused from one push request to the next: the block being marshalled, and the body
	// its blocks are compressed into (bodyWriter).
	blockBuf  spare
	bodyBuf   spare
	queuedBuf spare     // lent to the parts of a request that goes onto disk (lentParts)
	recs      sync.Pool // *[]record, tenantBatch.recs
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
	tenant  string
	streams map[string]*stream
	recs    []record // every entry of the tenant, in arrival order; streams index into it
	entries int
}

// record is one entry of the push request.
type record struct {
	ns   int64 // time, Unix ns
	line string
	meta push.LabelsAdapter
}

// stream is one label set and its entries.
type stream struct {
	labels   push.LabelsAdapter // sorted by name
	str      string             // labels as Loki's selector: {a="1", b="2"}
	idx      []int32            // its records in tenantBatch.recs, in arrival order
	size     int                // bytes of its StreamAdapter message (set by marshal)
	last     int64              // the newest record's time, Unix ns
	unsorted bool               // a record older than the one before it arrived
}

// encodeStats counts what encoding did to long lines.
type encodeStats struct {
	truncated int
	dropped   int
}

// groupState is what one call of group works with: scratch space and the arenas that the
// entries' structured metadata and trace IDs are cut from (a few allocations per call instead
// of one or more per record).
type groupState struct {
	names   map[string]string // attribute key -> sanitized name
	key     []byte
	scratch push.LabelsAdapter
	meta    push.LabelsAdapter // arena of metadata pairs
	hexes   []byte             // arena of hex-encoded trace and span IDs
}

// keep copies pairs into the arena and returns the copy (capacity capped, so that nothing
// appended to it can reach another entry's pairs).
func (st *groupState) keep(pairs push.LabelsAdapter) push.LabelsAdapter {
	if cap(st.meta)-len(st.meta) < len(pairs) {
		// A new chunk: the entries already cut from the old one keep it alive.
		st.meta = make(push.LabelsAdapter, 0, max(2*cap(st.meta), 64, len(pairs)))
	}
	start := len(st.meta)
	st.meta = append(st.meta, pairs...)
	return st.meta[start:len(st.meta):len(st.meta)]
}

// hex returns b hex-encoded, as a string that points into the arena: the arena's bytes are
// written once and never changed, and a full chunk is replaced, not grown.
func (st *groupState) hex(b []byte) string {
	n := hex.EncodedLen(len(b))
	if n == 0 {
		return ""
	}
	if cap(st.hexes)-len(st.hexes) < n {
		st.hexes = make([]byte, 0, max(2*cap(st.hexes), 512, n))
	}
	start := len(st.hexes)
	st.hexes = hex.AppendEncode(st.hexes, b)
	return unsafe.String(&st.hexes[start], n)
}

// levelSlot numbers the levels severityLevel returns, for the per-resource stream cache.
func levelSlot(level string) int {
	switch level {
	case "trace":
		return 1
	case "debug":
		return 2
	case "info":
		return 3
	case "warn":
		return 4
	case "error":
		return 5
	case "fatal":
		return 6
	case "unknown":
		return 7
	}
	return 0
}

// sameMetadataInputs reports whether a record's structured metadata is certainly that of prev
// (same resource, same level): both without trace context, with equal attributes.
func sameMetadataInputs(lr, prev plog.LogRecord) bool {
	if !lr.TraceID().IsEmpty() || !lr.SpanID().IsEmpty() || !prev.TraceID().IsEmpty() || !prev.SpanID().IsEmpty() {
		return false
	}
	a, b := lr.Attributes(), prev.Attributes()
	if a.Len() != b.Len() {
		return false
	}
	same := true
	a.Range(func(k string, v pcommon.Value) bool {
		w, ok := b.Get(k)
		same = ok && v.Equal(w)
		return same
	})
	return same
}

// group splits ld by tenant and, within each tenant, by stream; the result is ordered by tenant.
func (e *encoder) group(ld plog.Logs) ([]*tenantBatch, encodeStats) {
	var stats encodeStats
	byTenant := map[string]*tenantBatch{}
	st := &groupState{names: map[string]string{}}
	rls := ld.ResourceLogs()
	// First the tenants and how many records each has, so that each tenant's records are
	// allocated once.
	tenants := make([]*tenantBatch, rls.Len())
	counts := map[*tenantBatch]int{}
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		tenant := e.tenantID
		if e.tenantAttr != "" {
			if v, ok := rl.Resource().Attributes().Get(e.tenantAttr); ok && v.AsString() != "" {
				tenant = v.AsString()
			}
		}
		tb := byTenant[tenant]
		if tb == nil {
			tb = &tenantBatch{tenant: tenant, streams: map[string]*stream{}}
			byTenant[tenant] = tb
		}
		tenants[i] = tb
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			counts[tb] += sls.At(j).LogRecords().Len()
		}
	}
	for tb, n := range counts {
		tb.recs = e.getRecs(n)
	}
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		tb := tenants[i]

		resLabels, resKey := e.labelPairs(res, e.resourceLabels, nil)
		var resMeta push.LabelsAdapter
		if e.metadata {
			resMeta = e.metadataPairs(res, resLabels, e.tenantAttr, st.names, nil)
		}
		// Without record labels a record's stream depends only on its resource and level:
		// the resource's streams are looked up once per level, not once per record.
		var cache [8]*stream
		useCache := len(e.recordLabels) == 0
		// Records of a resource often carry the same metadata (the resource's, the stream):
		// consecutive equal ones share one slice, and a record with the same attributes and
		// level as the one before, and no trace context, is not even looked at again.
		var prevMeta push.LabelsAdapter
		var prevRec plog.LogRecord
		prevLevel, havePrev := "", false

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
				slot := 0
				if e.level {
					slot = levelSlot(level)
				}
				var s *stream
				if useCache {
					s = cache[slot]
				}
				if s == nil {
					st.key = append(st.key[:0], resKey...)
					for _, l := range recLabels {
						st.key = appendKey(st.key, l.Name, l.Value)
					}
					if e.level {
						st.key = appendKey(st.key, levelLabel, level)
					}
					s = tb.streams[string(st.key)]
					if s == nil {
						ls := e.streamLabels(resLabels, recLabels, level)
						s = &stream{labels: ls, str: labelsString(ls)}
						tb.streams[string(st.key)] = s
					}
					if useCache {
						cache[slot] = s
					}
				}
				r := record{ns: e.timestamp(lr), line: line}
				if e.metadata {
					switch {
					case havePrev && level == prevLevel && sameMetadataInputs(lr, prevRec):
					default:
						cand := e.entryMetadata(st, lr, resMeta, recLabels, level)
						switch {
						case len(cand) == 0:
							prevMeta = nil
						case havePrev && slices.Equal(cand, prevMeta):
						default:
							prevMeta = st.keep(cand)
						}
						prevRec, prevLevel, havePrev = lr, level, true
					}
					r.meta = prevMeta
				}
				if len(s.idx) > 0 && r.ns < s.last {
					s.unsorted = true
				}
				s.last = r.ns
				s.idx = append(s.idx, int32(len(tb.recs)))
				tb.recs = append(tb.recs, r)
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
// record attribute overrides a resource attribute of the same name. The result is st's scratch
// space: valid until the next call.
func (e *encoder) entryMetadata(st *groupState, lr plog.LogRecord, resMeta, recLabels push.LabelsAdapter, level string) push.LabelsAdapter {
	attrs := lr.Attributes()
	out := append(st.scratch[:0], resMeta...)
	if attrs.Len() > 0 {
		out = e.metadataPairs(attrs, recLabels, "", st.names, out)
		out = dedupeLast(out, len(resMeta))
	}
	if !e.level && level != "" && level != "unknown" {
		out = setPair(out, levelLabel, level)
	}
	if tid := lr.TraceID(); !tid.IsEmpty() {
		out = setPair(out, traceIDKey, st.hex(tid[:]))
	}
	if sid := lr.SpanID(); !sid.IsEmpty() {
		out = setPair(out, spanIDKey, st.hex(sid[:]))
	}
	st.scratch = out
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

// timestamp is the record's time, else its observed time, else now, in Unix ns.
func (e *encoder) timestamp(lr plog.LogRecord) int64 {
	if ts := lr.Timestamp(); ts != 0 {
		return int64(ts)
	}
	if ts := lr.ObservedTimestamp(); ts != 0 {
		return int64(ts)
	}
	return e.now().UnixNano()
}

// ordered returns tb's streams ordered by labels, each stream's records ordered by time
// (stable, so entries with the same timestamp keep their order).
func (tb *tenantBatch) ordered() []*stream {
	streams := make([]*stream, 0, len(tb.streams))
	for _, s := range tb.streams {
		if s.unsorted {
			s.idx = sortByTime(tb.recs, s.idx)
			s.unsorted = false
		}
		streams = append(streams, s)
	}
	slices.SortFunc(streams, func(a, b *stream) int { return strings.Compare(a.str, b.str) })
	return streams
}

// sortByTime orders idx, indexes into recs that arrived in runs of increasing time (one per
// resource, typically), by time, equal times in their order: a bottom-up merge of those runs,
// so that k interleaved runs of n records cost n·log2(k) comparisons.
func sortByTime(recs []record, idx []int32) []int32 {
	var runs []int // start of each run, then len(idx)
	for j := range idx {
		if j == 0 || recs[idx[j]].ns < recs[idx[j-1]].ns {
			runs = append(runs, j)
		}
	}
	runs = append(runs, len(idx))
	src, dst := idx, make([]int32, len(idx))
	for len(runs) > 2 {
		merged := runs[:0:0]
		for r := 0; r+1 < len(runs); r += 2 {
			lo, mid := runs[r], runs[r+1]
			hi := mid
			if r+2 < len(runs) {
				hi = runs[r+2]
			}
			merged = append(merged, lo)
			i, j, k := lo, mid, lo
			for i < mid && j < hi {
				// Take from the right run only when strictly older: ties keep their order.
				if recs[src[j]].ns < recs[src[i]].ns {
					dst[k] = src[j]
					j++
				} else {
					dst[k] = src[i]
					i++
				}
				k++
			}
			k += copy(dst[k:], src[i:mid])
			copy(dst[k:], src[j:hi])
		}
		merged = append(merged, len(idx))
		runs = merged
		src, dst = dst, src
	}
	return src
}

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
		// Prometheus's label parser, which Loki uses on a stream's labels, refuses a literal
		// U+FFFD (what validUTF8 puts for invalid bytes): it is escaped.
		b.WriteString(strings.ReplaceAll(strconv.Quote(l.Value), "\uFFFD", `\ufffd`))
	}
	b.WriteByte('}')
	return b.String()
}

// blockSize is how much of a push request is compressed at a time: golang/snappy's block, the
// size its Encode cuts a long input into, so that a body is what Encode of the whole request
// gives.
const blockSize = 64 << 10

// bodyWriter writes a push request compressed: the protobuf goes, in order, into a buffer of a
// block that is compressed each time it fills, so that neither the whole marshalled request nor
// room for its worst-case compression (more than the request) is held, only the body so far.
type bodyWriter struct {
	block []byte // marshalled, not compressed yet: fewer than blockSize bytes
	body  []byte // the snappy body so far
	meta  []byte // the structured metadata last encoded, for the entries that share it
}

// write appends b to the request.
func write[T string | []byte](w *bodyWriter, b T) {
	for len(w.block)+len(b) >= blockSize {
		n := blockSize - len(w.block)
		w.block = append(w.block, b[:n]...)
		w.compressBlock()
		b = b[n:]
	}
	w.block = append(w.block, b...)
}

// compressBlock appends the block, compressed, to the body. golang/snappy rather than s2's
// snappy-compatible encoder: the same block format, as fast on 200 B lines and faster on long
// ones (BenchmarkCompress: about 10% on 1 KiB lines; `make bench`'s 1 KiB pod logs: 9% less CPU
// in all), for a few per cent more bytes.
func (w *bodyWriter) compressBlock() {
	n := len(w.body)
	w.body = slices.Grow(w.body, snappy.MaxEncodedLen(len(w.block)))
	enc := snappy.Encode(w.body[n:cap(w.body)], w.block)
	// Encode starts with the block's length; the body has one length, the request's, first.
	_, h := binary.Uvarint(enc)
	w.body = append(w.body, enc[h:]...)
	w.block = w.block[:0]
}

// part encodes tb as the exporter queues it: marshalled, compressed and framed (newPart), in a
// new buffer or, when lent is set, in e.queuedBuf's spare, which lent records for the caller to
// give back.
func (e *encoder) part(tb *tenantBatch, lent *lentParts) tenantPart {
	w := bodyWriter{block: e.blockBuf.get(blockSize)[:0], body: e.bodyBuf.get(0)[:0]}
	size := tb.marshal(&w)
	var buf []byte
	if lent != nil {
		buf = e.queuedBuf.get(queuedSize(tb.tenant, w.body))
		lent.bufs = append(lent.bufs, buf)
	} else {
		buf = make([]byte, 0, queuedSize(tb.tenant, w.body))
	}
	p := newPart(tb.tenant, tb.entries, size, w.body, buf)
	e.blockBuf.put(w.block)
	e.bodyBuf.put(w.body)
	return p
}

// marshal writes tb's push request, Loki's PushRequest message (push.proto), to w and returns its
// size: streams ordered by labels, entries by time, as Loki wants them. The sizes that frame each
// message are worked out first, from the records, so that the request is written once, in order.
// Consecutive entries of a stream often share their structured metadata (the same slice: see
// group); it is sized and encoded once for them.
func (tb *tenantBatch) marshal(w *bodyWriter) int {
	streams := tb.ordered()
	total := 0
	for _, s := range streams {
		s.size = stringSize(s.str)
		var prevMeta push.LabelsAdapter
		metaSize := 0
		for _, j := range s.idx {
			r := &tb.recs[j]
			if !sameSlice(r.meta, prevMeta) {
				prevMeta, metaSize = r.meta, pairsSize(r.meta)
			}
			_, _, ts := timestamp(r.ns)
			s.size += lenSize(entrySize(ts, r.line, metaSize))
		}
		total += lenSize(s.size)
	}
	w.body = appendUvarint(w.body, uint64(total))

	var hdr [64]byte // a stream's or an entry's framing, up to its line: at most 55 bytes
	for _, s := range streams {
		h := appendLen(hdr[:0], 1, s.size) // PushRequest.streams
		h = appendLen(h, 1, len(s.str))    // StreamAdapter.labels
		write(w, h)
		write(w, s.str)
		var prevMeta push.LabelsAdapter
		w.meta = w.meta[:0]
		for _, j := range s.idx {
			r := &tb.recs[j]
			if !sameSlice(r.meta, prevMeta) {
				prevMeta, w.meta = r.meta, appendPairs(w.meta[:0], r.meta)
			}
			sec, nsec, ts := timestamp(r.ns)
			h := appendLen(hdr[:0], 2, entrySize(ts, r.line, len(w.meta))) // StreamAdapter.entries
			h = appendLen(h, 1, ts)                                        // EntryAdapter.timestamp
			h = appendVarint(h, 1, sec)                                    // Timestamp.seconds
			h = appendVarint(h, 2, nsec)                                   // Timestamp.nanos
			if r.line != "" {
				h = appendLen(h, 2, len(r.line)) // EntryAdapter.line
			}
			write(w, h)
			write(w, r.line)
			write(w, w.meta) // EntryAdapter.structuredMetadata
		}
	}
	if len(w.block) > 0 {
		w.compressBlock()
	}
	return total
}

// sameSlice reports whether a and b are the same slice (group shares one between entries).
func sameSlice(a, b push.LabelsAdapter) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// timestamp is Unix ns as the Timestamp message's seconds and nanos (nanos never negative), and
// the size of that message.
func timestamp(ns int64) (sec, nsec uint64, size int) {
	s, n := ns/1e9, ns%1e9
	if n < 0 {
		s, n = s-1, n+1e9
	}
	sec, nsec = uint64(s), uint64(n)
	return sec, nsec, varintSize(sec) + varintSize(nsec)
}

// entrySize is the size of an EntryAdapter message whose Timestamp takes tsSize bytes and
// structured metadata metaSize.
func entrySize(tsSize int, line string, metaSize int) int {
	return lenSize(tsSize) + stringSize(line) + metaSize
}

// pairsSize is the size of pairs as EntryAdapter.structuredMetadata fields.
func pairsSize(pairs push.LabelsAdapter) int {
	n := 0
	for _, p := range pairs {
		n += lenSize(stringSize(p.Name) + stringSize(p.Value))
	}
	return n
}

// appendPairs appends pairs as EntryAdapter.structuredMetadata fields.
func appendPairs(b []byte, pairs push.LabelsAdapter) []byte {
	for _, p := range pairs {
		b = appendLen(b, 3, stringSize(p.Name)+stringSize(p.Value))
		b = appendString(b, 1, p.Name)  // LabelPairAdapter.name
		b = appendString(b, 2, p.Value) // LabelPairAdapter.value
	}
	return b
}

// The fields of these messages are numbered below 16: a tag is one byte. Proto3 leaves out a
// string or varint field with the zero value; messages are written even when empty.

// lenSize is the size of a length-delimited field of n bytes.
func lenSize(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

// stringSize is the size of string field s.
func stringSize(s string) int {
	if s == "" {
		return 0
	}
	return lenSize(len(s))
}

// varintSize is the size of varint field v.
func varintSize(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

// appendLen appends the tag and length of a length-delimited field num of n bytes.
func appendLen(b []byte, num protowire.Number, n int) []byte {
	return appendUvarint(append(b, byte(num)<<3|byte(protowire.BytesType)), uint64(n))
}

// appendString appends string field num, unless s is empty.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return append(appendLen(b, num, len(s)), s...)
}

// appendVarint appends varint field num, unless v is 0.
func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendUvarint(append(b, byte(num)<<3|byte(protowire.VarintType)), v)
}

// appendUvarint is protowire.AppendVarint, short enough to be inlined.
func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// spare keeps one buffer for the next request. Requests are encoded one at a time (on the
// goroutine of podlogs, the exporter's only steady client), so one is enough; a sync.Pool kept one
// in each P's cache and another of the previous GC cycle, four 2 MiB buffers where one does.
type spare struct {
	mu  sync.Mutex
	buf []byte
}

// get returns a buffer of n bytes: the spare when it is large enough, else a new one.
func (s *spare) get(n int) []byte {
	s.mu.Lock()
	b := s.buf
	s.buf = nil
	s.mu.Unlock()
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// put keeps b for the next get, unless the spare it holds is larger.
func (s *spare) put(b []byte) {
	s.mu.Lock()
	if cap(b) > cap(s.buf) {
		s.buf = b
	}
	s.mu.Unlock()
}

// getRecs returns an empty records slice with room for n, reused when the pool has one.
func (e *encoder) getRecs(n int) []record {
	if p, ok := e.recs.Get().(*[]record); ok && cap(*p) >= n {
		return *p
	}
	return make([]record, 0, n)
}

// release gives back the records of batches, which are not used after it.
func (e *encoder) release(batches []*tenantBatch) {
	for _, tb := range batches {
		clear(tb.recs) // keeps no line of this request alive
		recs := tb.recs[:0]
		tb.recs = nil
		e.recs.Put(&recs)
	}
}

// jsonPush is Loki's JSON push body.
type jsonPush struct {
	Streams []jsonStream `json:"streams"`
}

type jsonStream struct {
	Stream map[string]string `json:"stream"`
	Values [][]any           `json:"values"`
}

// protobufToJSON turns a protobuf push request (not compressed) into Loki's JSON push body.
func protobufToJSON(raw []byte) ([]byte, error) {
	var req push.PushRequest
	if err := req.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("decode queued push request: %w", err)
	}
	return encodeJSON(&req)
}

// encodeJSON renders req as Loki's JSON push body: each value is [unix-ns string, line] plus,
// when present, a structured metadata object.
func encodeJSON(req *push.PushRequest) ([]byte, error) {
	body := jsonPush{Streams: make([]jsonStream, 0, len(req.Streams))}
	for _, s := range req.Streams {
		labels, err := parseLabels(s.Labels)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", s.Labels, err)
		}
		js := jsonStream{Stream: labels, Values: make([][]any, 0, len(s.Entries))}
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

// parseLabels reads a stream selector as labelsString writes it: {a="1", b="2"}.
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	rest, ok := strings.CutPrefix(s, "{")
	if !ok {
		return nil, errors.New("labels do not start with {")
	}
	for rest != "}" {
		name, value, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, errors.New("label without =")
		}
		quoted, err := strconv.QuotedPrefix(value)
		if err != nil {
			return nil, fmt.Errorf("label %s: %w", name, err)
		}
		v, err := strconv.Unquote(quoted)
		if err != nil {
			return nil, fmt.Errorf("label %s: %w", name, err)
		}
		out[name] = v
		rest = value[len(quoted):]
		if r, ok := strings.CutPrefix(rest, ", "); ok {
			rest = r
		} else if rest != "}" {
			return nil, errors.New("labels do not end with }")
		}
	}
	return out, nil
}
