package prometheusremotewriteexporter

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	prw "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	prom "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"google.golang.org/protobuf/encoding/protowire"
)

// translator turns metrics into the TimeSeries of a remote-write WriteRequest, written as
// protobuf straight into a buffer. A series' labels are built, sorted, sanitized and encoded
// the first time it is seen and kept, keyed by what they are made of (the resource's and
// scope's labels, the metric's name and the point's attributes): a series seen again costs a
// map lookup and its sample. The labels are those of contrib's translator with the same
// settings (translate_test.go runs both on the same metrics).
//
// A translator is not safe for concurrent use.
type translator struct {
	metricNamer otlptranslator.MetricNamer
	labelNamer  otlptranslator.LabelNamer
	external    []label // sorted, sanitized
	resource    []string
	scopeInfo   bool
	// settings of contrib's translator, which writes exponential histograms (native
	// histograms), the one type this one leaves to it.
	settings prw.Settings

	names   map[nameKey]nameResult
	sources map[string]*source
	series  map[string]*series
	nextID  uint64
	epoch   uint32 // advanced by sweep; a series not seen in a whole epoch is forgotten

	key     []byte  // scratch: a series' key
	lbls    []label // scratch: labels being built
	scratch []byte  // scratch: exemplars
}

type label struct{ name, value string }

type nameKey struct {
	name, unit string
	typ        otlptranslator.MetricType
}

type nameResult struct {
	name string
	err  error
}

// source is what a resource and scope put on each of their series.
type source struct {
	id       uint64
	epoch    uint32
	resource []label // included resource attributes (raw keys) it has
	job      string
	instance string
	scope    []label // sanitized otel_scope_* labels
}

// series holds the encoded labels of every series one point makes: a gauge's or sum's one
// series, or a histogram's or summary's several (dist).
type series struct {
	epoch  uint32
	labels []byte
	dist   *distribution
}

// distribution holds the series of a histogram or summary point.
type distribution struct {
	sum, count []byte
	bounds     []float64 // histogram bounds or summary quantiles the buckets were built for
	// buckets: a histogram's le series (the last one +Inf) or a summary's quantile series.
	buckets [][]byte
}

func newTranslator(cfg *Config) (*translator, error) {
	t := &translator{
		metricNamer: otlptranslator.MetricNamer{WithMetricSuffixes: cfg.AddMetricSuffixes, Namespace: cfg.Namespace},
		labelNamer:  otlptranslator.LabelNamer{PreserveMultipleUnderscores: true},
		resource:    cfg.ResourceConstantLabels.Included,
		scopeInfo:   !cfg.DisableScopeInfo,
		names:       map[nameKey]nameResult{},
		sources:     map[string]*source{},
		series:      map[string]*series{},
	}
	ext := make(map[string]string, len(cfg.ExternalLabels))
	for k, v := range cfg.ExternalLabels {
		name, err := t.labelNamer.Build(k)
		if err != nil {
			return nil, fmt.Errorf("external_labels: %q: %w", k, err)
		}
		ext[name] = v
	}
	for name, v := range ext {
		t.external = append(t.external, label{name, v})
	}
	slices.SortFunc(t.external, func(a, b label) int { return strings.Compare(a.name, b.name) })
	t.settings = prw.Settings{
		Namespace:         cfg.Namespace,
		ExternalLabels:    ext,
		DisableTargetInfo: true,
		DisableScopeInfo:  cfg.DisableScopeInfo,
		AddMetricSuffixes: cfg.AddMetricSuffixes,
	}
	return t, nil
}

// translateStats says what one call dropped.
type translateStats struct {
	dropped  int   // points not written
	firstErr error // why the first of them was not
}

func (s *translateStats) drop(n int, err error) {
	s.dropped += n
	if s.firstErr == nil {
		s.firstErr = err
	}
}

// appendMetrics appends md's series to buf as WriteRequest.timeseries fields and calls cut
// with the buffer's length after each series, so that the caller can end a request there.
func (t *translator) appendMetrics(buf []byte, md pmetric.Metrics, cut func(int)) ([]byte, translateStats) {
	var st translateStats
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			src := t.source(rm.Resource(), sm.Scope())
			ms := sm.Metrics()
			for k := 0; k < ms.Len(); k++ {
				buf = t.appendMetric(buf, src, rm.Resource(), sm.Scope(), ms.At(k), &st, cut)
			}
		}
	}
	return buf, st
}

func (t *translator) appendMetric(buf []byte, src *source, res pcommon.Resource, scope pcommon.InstrumentationScope, m pmetric.Metric, st *translateStats, cut func(int)) []byte {
	n := pointCount(m)
	if n == 0 {
		st.drop(0, fmt.Errorf("metric %q has no data points", m.Name()))
		return buf
	}
	if !cumulative(m) {
		st.drop(n, fmt.Errorf("metric %q: %s with delta temporality cannot be written to Prometheus", m.Name(), m.Type()))
		return buf
	}
	name, err := t.name(m)
	if err != nil {
		st.drop(n, fmt.Errorf("metric %q: %w", m.Name(), err))
		return buf
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return t.appendNumbers(buf, src, name, m.Gauge().DataPoints(), false, st, cut)
	case pmetric.MetricTypeSum:
		return t.appendNumbers(buf, src, name, m.Sum().DataPoints(), m.Sum().IsMonotonic(), st, cut)
	case pmetric.MetricTypeHistogram:
		return t.appendHistograms(buf, src, name, m.Histogram().DataPoints(), st, cut)
	case pmetric.MetricTypeSummary:
		return t.appendSummaries(buf, src, name, m.Summary().DataPoints(), st, cut)
	case pmetric.MetricTypeExponentialHistogram:
		return t.appendExponential(buf, res, scope, m, st, cut)
	}
	st.drop(n, fmt.Errorf("metric %q: unsupported metric type %s", m.Name(), m.Type()))
	return buf
}

func pointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	}
	return 0
}

func cumulative(m pmetric.Metric) bool {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	case pmetric.MetricTypeHistogram:
		return m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	}
	return true
}

func (t *translator) name(m pmetric.Metric) (string, error) {
	tm := prom.TranslatorMetricFromOtelMetric(m)
	k := nameKey{tm.Name, tm.Unit, tm.Type}
	if r, ok := t.names[k]; ok {
		return r.name, r.err
	}
	name, err := t.metricNamer.Build(tm)
	k.name, k.unit = strings.Clone(k.name), strings.Clone(k.unit)
	t.names[k] = nameResult{name, err}
	return name, err
}

// source returns what res and scope put on each of their series, found by its key.
func (t *translator) source(res pcommon.Resource, scope pcommon.InstrumentationScope) *source {
	attrs := res.Attributes()
	// Each included attribute and service.* attribute: 0 if absent, 1 and its value if not.
	k := t.key[:0]
	for _, name := range t.resource {
		k = appendIfPresent(k, attrs, name)
	}
	for _, name := range [...]string{"service.name", "service.namespace", "service.instance.id"} {
		k = appendIfPresent(k, attrs, name)
	}
	if t.scopeInfo {
		k = appendKeyString(k, scope.Name())
		k = appendKeyString(k, scope.Version())
		for name, v := range scope.Attributes().All() {
			k = appendAttr(k, name, v)
		}
	}
	t.key = k
	if c, ok := t.sources[string(k)]; ok {
		c.epoch = t.epoch
		return c
	}
	t.nextID++
	c := &source{id: t.nextID, epoch: t.epoch}
	for _, name := range t.resource {
		if v, ok := attrs.Get(name); ok {
			c.resource = append(c.resource, label{name, strings.Clone(v.AsString())})
		}
	}
	if v, ok := attrs.Get("service.name"); ok && v.AsString() != "" {
		c.job = strings.Clone(v.AsString())
		if ns, ok := attrs.Get("service.namespace"); ok {
			c.job = ns.AsString() + "/" + c.job
		}
	}
	if v, ok := attrs.Get("service.instance.id"); ok {
		c.instance = strings.Clone(v.AsString())
	}
	if t.scopeInfo {
		if scope.Name() != "" {
			c.scope = append(c.scope, label{"otel_scope_name", strings.Clone(scope.Name())})
		}
		if scope.Version() != "" {
			c.scope = append(c.scope, label{"otel_scope_version", strings.Clone(scope.Version())})
		}
		for name, v := range scope.Attributes().All() {
			if name == "name" || name == "version" || name == "schema_url" {
				continue
			}
			if n, err := t.labelNamer.Build("otel_scope_" + name); err == nil {
				c.scope = append(c.scope, label{n, strings.Clone(v.AsString())})
			}
		}
	}
	t.sources[string(k)] = c
	return c
}

// appendAttr appends what identifies the attribute name=v in a key. Strings are prefixed with
// their length, so that no two keys read alike whatever bytes the strings hold.
func appendAttr(b []byte, name string, v pcommon.Value) []byte {
	return appendValue(appendKeyString(b, name), v)
}

func appendIfPresent(b []byte, attrs pcommon.Map, name string) []byte {
	v, ok := attrs.Get(name)
	if !ok {
		return append(b, 0)
	}
	return appendValue(append(b, 1), v)
}

func appendKeyString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendValue appends what identifies v: its type and its value.
func appendValue(b []byte, v pcommon.Value) []byte {
	b = append(b, byte(v.Type()))
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendKeyString(b, v.Str())
	case pcommon.ValueTypeInt:
		return binary.LittleEndian.AppendUint64(b, uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return append(b, 1)
		}
		return append(b, 0)
	}
	return appendKeyString(b, v.AsString())
}

// lookup returns the series of a point of a metric of type typ named name with attrs from src
// (the type, as a gauge and a histogram may have the same name), and whether it is
// new (its labels not built yet).
func (t *translator) lookup(src *source, typ pmetric.MetricType, name string, attrs pcommon.Map) (*series, bool) {
	k := binary.AppendUvarint(t.key[:0], src.id)
	k = append(k, byte(typ))
	k = appendKeyString(k, name)
	for key, v := range attrs.All() {
		k = appendAttr(k, key, v)
	}
	t.key = k
	if s, ok := t.series[string(k)]; ok {
		s.epoch = t.epoch
		return s, false
	}
	s := &series{epoch: t.epoch}
	t.series[string(k)] = s
	return s, true
}

// labels builds the sorted labels of a series, as contrib's createAttributes does: the point's
// attributes with the included resource attributes over them, sorted by key and sanitized
// (values of keys that sanitize to the same name joined with ";"), then job and instance, the
// external labels where no attribute has their name and the scope's labels. The labels are
// only read until encodeLabels returns: their strings may be the metrics'.
func (t *translator) labels(src *source, attrs pcommon.Map) ([]label, error) {
	raw := t.lbls[:0]
	for k, v := range attrs.All() {
		raw = append(raw, label{k, v.AsString()})
	}
	for _, r := range src.resource {
		if i := slices.IndexFunc(raw, func(l label) bool { return l.name == r.name }); i >= 0 {
			raw[i].value = r.value
		} else {
			raw = append(raw, r)
		}
	}
	raw = slices.DeleteFunc(raw, func(l label) bool { return l.value == "" })
	slices.SortStableFunc(raw, func(a, b label) int { return strings.Compare(a.name, b.name) })
	t.lbls = raw
	out := make([]label, 0, len(raw)+len(t.external)+len(src.scope)+4)
	for _, l := range raw {
		name, err := t.labelNamer.Build(l.name)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", l.name, err)
		}
		if i := slices.IndexFunc(out, func(o label) bool { return o.name == name }); i >= 0 {
			if out[i].value != l.value {
				out[i].value += ";" + l.value
			}
			continue
		}
		out = append(out, label{name, l.value})
	}
	if src.job != "" {
		out = setLabel(out, "job", src.job)
	}
	if src.instance != "" {
		out = setLabel(out, "instance", src.instance)
	}
	for _, e := range t.external {
		if !slices.ContainsFunc(out, func(o label) bool { return o.name == e.name }) {
			out = append(out, e)
		}
	}
	for _, s := range src.scope {
		out = setLabel(out, s.name, s.value)
	}
	slices.SortFunc(out, func(a, b label) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

func setLabel(ls []label, name, value string) []label {
	if i := slices.IndexFunc(ls, func(l label) bool { return l.name == name }); i >= 0 {
		ls[i].value = value
		return ls
	}
	return append(ls, label{name, value})
}

// with returns a sorted copy of the sorted ls with name set to value.
func with(ls []label, name, value string) []label {
	out := setLabel(slices.Clone(ls), name, value)
	slices.SortFunc(out, func(a, b label) int { return strings.Compare(a.name, b.name) })
	return out
}

// encodeLabels returns ls as TimeSeries.labels fields, with __name__ set to name, in a slice of
// their size (it is kept for as long as the series is written).
func encodeLabels(ls []label, name string) []byte {
	ordered := make([]label, 0, len(ls)+1)
	for _, l := range ls {
		if l.name == "__name__" {
			continue
		}
		if name != "" && l.name > "__name__" {
			ordered = append(ordered, label{"__name__", name})
			name = ""
		}
		ordered = append(ordered, l)
	}
	if name != "" {
		ordered = append(ordered, label{"__name__", name})
	}
	size := 0
	for _, l := range ordered {
		n := labelSize(l)
		size += 1 + protowire.SizeBytes(n)
	}
	return appendLabels(make([]byte, 0, size), 0x0a, ordered)
}

// appendLabels appends ls as Label messages in fields of tag.
func appendLabels(b []byte, tag byte, ls []label) []byte {
	for _, l := range ls {
		b = append(b, tag)
		b = binary.AppendUvarint(b, uint64(labelSize(l)))
		b = appendString(b, 0x0a, l.name)
		b = appendString(b, 0x12, l.value)
	}
	return b
}

func labelSize(l label) int {
	return 1 + protowire.SizeBytes(len(l.name)) + 1 + protowire.SizeBytes(len(l.value))
}

func appendString(b []byte, tag byte, s string) []byte {
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendSeries appends one TimeSeries: its encoded labels, one sample and the exemplars
// (already encoded as TimeSeries.exemplars fields).
func appendSeries(b, labels []byte, v float64, ms int64, exemplars []byte) []byte {
	sample := 1 + 8 + 1 + protowire.SizeVarint(uint64(ms))
	n := len(labels) + 1 + protowire.SizeBytes(sample) + len(exemplars)
	b = append(b, 0x0a)
	b = binary.AppendUvarint(b, uint64(n))
	b = append(b, labels...)
	b = append(b, 0x12)
	b = binary.AppendUvarint(b, uint64(sample))
	b = append(b, 0x09)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	b = append(b, 0x10)
	b = binary.AppendUvarint(b, uint64(ms))
	return append(b, exemplars...)
}

func millis(ts pcommon.Timestamp) int64 { return int64(ts) / 1e6 }

var staleNaN = math.Float64frombits(value.StaleNaN)

// orStale is v, or Prometheus' stale marker for a point flagged as having no recorded value.
func orStale(v float64, stale bool) float64 {
	if stale {
		return staleNaN
	}
	return v
}

func (t *translator) appendNumbers(buf []byte, src *source, name string, pts pmetric.NumberDataPointSlice, counter bool, st *translateStats, cut func(int)) []byte {
	for i := 0; i < pts.Len(); i++ {
		pt := pts.At(i)
		s, fresh := t.lookup(src, pmetric.MetricTypeGauge, name, pt.Attributes()) // gauges and sums: the same labels
		if fresh {
			ls, err := t.labels(src, pt.Attributes())
			if err != nil {
				t.forget()
				st.drop(1, fmt.Errorf("metric %q: %w", name, err))
				continue
			}
			s.labels = encodeLabels(ls, name)
		}
		var v float64
		switch pt.ValueType() {
		case pmetric.NumberDataPointValueTypeInt:
			v = float64(pt.IntValue())
		case pmetric.NumberDataPointValueTypeDouble:
			v = pt.DoubleValue()
		}
		v = orStale(v, pt.Flags().NoRecordedValue())
		var ex []byte
		if counter && pt.Exemplars().Len() > 0 {
			ex = t.appendExemplars(t.scratch[:0], pt.Exemplars(), func(float64) bool { return true })
			t.scratch = ex
		}
		buf = appendSeries(buf, s.labels, v, millis(pt.Timestamp()), ex)
		cut(len(buf))
	}
	return buf
}

// sameBounds reports whether the first n of bs are bounds.
func sameBounds(bounds []float64, bs pcommon.Float64Slice, n int) bool {
	if len(bounds) != n {
		return false
	}
	for i, b := range bounds {
		if bs.At(i) != b {
			return false
		}
	}
	return true
}

// forget removes the series lookup just added, whose labels could not be built.
func (t *translator) forget() { delete(t.series, string(t.key)) }

func (t *translator) appendHistograms(buf []byte, src *source, name string, pts pmetric.HistogramDataPointSlice, st *translateStats, cut func(int)) []byte {
	for i := 0; i < pts.Len(); i++ {
		pt := pts.At(i)
		s, fresh := t.lookup(src, pmetric.MetricTypeHistogram, name, pt.Attributes())
		nb := min(pt.ExplicitBounds().Len(), pt.BucketCounts().Len())
		if fresh || !sameBounds(s.dist.bounds, pt.ExplicitBounds(), nb) {
			bounds := pt.ExplicitBounds().AsRaw()[:nb]
			ls, err := t.labels(src, pt.Attributes())
			if err != nil {
				t.forget()
				st.drop(1, fmt.Errorf("metric %q: %w", name, err))
				continue
			}
			d := &distribution{sum: encodeLabels(ls, name+"_sum"), count: encodeLabels(ls, name+"_count"), bounds: bounds}
			for _, b := range bounds {
				d.buckets = append(d.buckets, encodeLabels(with(ls, "le", strconv.FormatFloat(b, 'f', -1, 64)), name+"_bucket"))
			}
			d.buckets = append(d.buckets, encodeLabels(with(ls, "le", "+Inf"), name+"_bucket"))
			s.dist = d
		}
		d := s.dist
		bounds := d.bounds
		ms := millis(pt.Timestamp())
		stale := pt.Flags().NoRecordedValue()
		if pt.HasSum() {
			buf = appendSeries(buf, d.sum, orStale(pt.Sum(), stale), ms, nil)
			cut(len(buf))
		}
		buf = appendSeries(buf, d.count, orStale(float64(pt.Count()), stale), ms, nil)
		cut(len(buf))
		// Each exemplar goes to the first bucket whose bound is at least its value.
		exs := pt.Exemplars()
		var cum uint64
		for b := 0; b <= nb; b++ {
			bound := math.Inf(1)
			v := float64(pt.Count())
			if b < nb {
				bound = bounds[b]
				cum += pt.BucketCounts().At(b)
				v = float64(cum)
			}
			var ex []byte
			if exs.Len() > 0 {
				lower := math.Inf(-1)
				if b > 0 {
					lower = bounds[b-1]
				}
				ex = t.appendExemplars(t.scratch[:0], exs, func(x float64) bool { return x <= bound && !(x <= lower) })
				t.scratch = ex
			}
			buf = appendSeries(buf, d.buckets[b], orStale(v, stale), ms, ex)
			cut(len(buf))
		}
	}
	return buf
}

func (t *translator) appendSummaries(buf []byte, src *source, name string, pts pmetric.SummaryDataPointSlice, st *translateStats, cut func(int)) []byte {
	for i := 0; i < pts.Len(); i++ {
		pt := pts.At(i)
		s, fresh := t.lookup(src, pmetric.MetricTypeSummary, name, pt.Attributes())
		qs := pt.QuantileValues()
		same := !fresh && len(s.dist.bounds) == qs.Len()
		for q := 0; same && q < qs.Len(); q++ {
			same = s.dist.bounds[q] == qs.At(q).Quantile()
		}
		if !same {
			ls, err := t.labels(src, pt.Attributes())
			if err != nil {
				t.forget()
				st.drop(1, fmt.Errorf("metric %q: %w", name, err))
				continue
			}
			d := &distribution{sum: encodeLabels(ls, name+"_sum"), count: encodeLabels(ls, name+"_count")}
			for q := 0; q < qs.Len(); q++ {
				d.bounds = append(d.bounds, qs.At(q).Quantile())
				d.buckets = append(d.buckets, encodeLabels(with(ls, "quantile", strconv.FormatFloat(qs.At(q).Quantile(), 'f', -1, 64)), name))
			}
			s.dist = d
		}
		d := s.dist
		ms := millis(pt.Timestamp())
		stale := pt.Flags().NoRecordedValue()
		buf = appendSeries(buf, d.sum, orStale(pt.Sum(), stale), ms, nil)
		cut(len(buf))
		buf = appendSeries(buf, d.count, orStale(float64(pt.Count()), stale), ms, nil)
		cut(len(buf))
		for q := 0; q < qs.Len(); q++ {
			buf = appendSeries(buf, d.buckets[q], orStale(qs.At(q).Value(), stale), ms, nil)
			cut(len(buf))
		}
	}
	return buf
}

// maxExemplarRunes is OpenMetrics' bound on an exemplar's labels; beyond it only the trace and
// span IDs are kept.
const maxExemplarRunes = 128

// appendExemplars appends the exemplars whose value keep accepts as TimeSeries.exemplars fields.
func (t *translator) appendExemplars(b []byte, exs pmetric.ExemplarSlice, keep func(float64) bool) []byte {
	for i := 0; i < exs.Len(); i++ {
		e := exs.At(i)
		var v float64
		switch e.ValueType() {
		case pmetric.ExemplarValueTypeInt:
			v = float64(e.IntValue())
		case pmetric.ExemplarValueTypeDouble:
			v = e.DoubleValue()
		}
		if !keep(v) {
			continue
		}
		var ls []label
		runes := 0
		if id := e.TraceID(); !id.IsEmpty() {
			ls = append(ls, label{otlptranslator.ExemplarTraceIDKey, hex.EncodeToString(id[:])})
			runes += len(otlptranslator.ExemplarTraceIDKey) + 32
		}
		if id := e.SpanID(); !id.IsEmpty() {
			ls = append(ls, label{otlptranslator.ExemplarSpanIDKey, hex.EncodeToString(id[:])})
			runes += len(otlptranslator.ExemplarSpanIDKey) + 16
		}
		var attrs []label
		for k, av := range e.FilteredAttributes().All() {
			s := av.AsString()
			runes += utf8.RuneCountInString(k) + utf8.RuneCountInString(s)
			attrs = append(attrs, label{k, s})
		}
		if runes <= maxExemplarRunes {
			ls = append(ls, attrs...)
		}
		body := appendLabels(nil, 0x0a, ls)
		body = append(body, 0x11)
		body = binary.LittleEndian.AppendUint64(body, math.Float64bits(v))
		body = append(body, 0x18)
		body = binary.AppendUvarint(body, uint64(millis(e.Timestamp())))
		b = append(b, 0x1a)
		b = binary.AppendUvarint(b, uint64(len(body)))
		b = append(b, body...)
	}
	return b
}

// appendExponential writes an exponential histogram as native histograms with contrib's
// translator, on a copy of the metric with the included resource attributes on its points.
func (t *translator) appendExponential(buf []byte, res pcommon.Resource, scope pcommon.InstrumentationScope, m pmetric.Metric, st *translateStats, cut func(int)) []byte {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res.CopyTo(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	scope.CopyTo(sm.Scope())
	c := sm.Metrics().AppendEmpty()
	m.CopyTo(c)
	pts := c.ExponentialHistogram().DataPoints()
	for i := 0; i < pts.Len(); i++ {
		attrs := pts.At(i).Attributes()
		for _, name := range t.resource {
			if v, ok := res.Attributes().Get(name); ok {
				v.CopyTo(attrs.PutEmpty(name))
			}
		}
	}
	tss, err := prw.FromMetrics(md, t.settings)
	if err != nil {
		st.drop(0, fmt.Errorf("metric %q: %w", m.Name(), err))
	}
	for _, ts := range tss {
		slices.SortFunc(ts.Labels, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
		b, err := ts.Marshal()
		if err != nil {
			st.drop(len(ts.Histograms), fmt.Errorf("metric %q: %w", m.Name(), err))
			continue
		}
		buf = append(buf, 0x0a)
		buf = binary.AppendUvarint(buf, uint64(len(b)))
		buf = append(buf, b...)
		cut(len(buf))
	}
	return buf
}

// sweep forgets the series and sources not seen since the last sweep.
func (t *translator) sweep() {
	for k, s := range t.series {
		if s.epoch != t.epoch {
			delete(t.series, k)
		}
	}
	for k, c := range t.sources {
		if c.epoch != t.epoch {
			delete(t.sources, k)
		}
	}
	t.epoch++
}
