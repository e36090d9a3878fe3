package spanmetricsconnector

import (
	"context"
	"encoding/binary"
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/xpdata/xhash"
	"go.uber.org/zap"

	"github.com/lookoutdev/lookout/connectors/internal/histogram"
	"github.com/lookoutdev/lookout/connectors/internal/ticker"
	"github.com/lookoutdev/lookout/connectors/spanmetrics/internal/metadata"
)

// spanKinds and statusCodes are the values of span.kind and status.code, by their enum value
// (contrib's spelling).
var (
	spanKinds = [...]string{
		ptrace.SpanKindUnspecified: "SPAN_KIND_UNSPECIFIED",
		ptrace.SpanKindInternal:    "SPAN_KIND_INTERNAL",
		ptrace.SpanKindServer:      "SPAN_KIND_SERVER",
		ptrace.SpanKindClient:      "SPAN_KIND_CLIENT",
		ptrace.SpanKindProducer:    "SPAN_KIND_PRODUCER",
		ptrace.SpanKindConsumer:    "SPAN_KIND_CONSUMER",
	}
	statusCodes = [...]string{
		ptrace.StatusCodeUnset: "STATUS_CODE_UNSET",
		ptrace.StatusCodeOk:    "STATUS_CODE_OK",
		ptrace.StatusCodeError: "STATUS_CODE_ERROR",
	}
)

type connectorImp struct {
	cfg    *Config
	logger *zap.Logger
	next   consumer.Metrics
	now    func() time.Time

	bounds    []float64 // bucket bounds in the histogram's unit
	unitNanos float64
	dims      []dimension

	mu        sync.Mutex
	resources map[string]*resource // by the encoded values of the key attributes
	key       []byte               // reused to build keys

	flusher ticker.Ticker
}

type dimension struct {
	name   string
	def    pcommon.Value
	hasDef bool
}

// resource holds the series of one resource.
type resource struct {
	attrs    pcommon.Map
	series   map[string]*series // by span name, kind, status and dimension values, encoded
	overflow *series
	lastSeen time.Time
}

// series is one calls counter and the duration histogram with the same attributes.
type series struct {
	attrs    pcommon.Map
	start    pcommon.Timestamp
	duration histogram.Histogram // its count is the calls counter
	reported bool                // whether the calls counter has been sent; the first time it is sent as 0
}

func newConnector(cfg *Config, logger *zap.Logger, next consumer.Metrics) (*connectorImp, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	unit, _ := unitNanos(cfg.Histogram.Unit)
	c := &connectorImp{
		cfg:       cfg,
		logger:    logger,
		next:      next,
		now:       time.Now,
		unitNanos: unit,
		resources: map[string]*resource{},
	}
	for _, b := range cfg.Histogram.Explicit.Buckets {
		c.bounds = append(c.bounds, float64(b.Nanoseconds())/unit)
	}
	for _, d := range cfg.Dimensions {
		dim := dimension{name: d.Name}
		if d.Default != nil {
			dim.def, dim.hasDef = pcommon.NewValueStr(*d.Default), true
		}
		c.dims = append(c.dims, dim)
	}
	return c, nil
}

func (*connectorImp) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start sends the metrics every metrics_flush_interval until Shutdown.
func (c *connectorImp) Start(context.Context, component.Host) error {
	c.flusher.Start(c.cfg.MetricsFlushInterval, func() { c.flush(context.Background()) })
	return nil
}

// Shutdown stops the flushes and sends the metrics once more, so that the spans counted since
// the last flush are not lost: the metrics pipelines after the connector are still running.
func (c *connectorImp) Shutdown(ctx context.Context) error {
	if c.flusher.Stop() {
		c.flush(ctx)
	}
	return nil
}

// ConsumeTraces counts each span of td in its series.
func (c *connectorImp) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	now := c.now()
	start := pcommon.NewTimestampFromTime(now)
	c.mu.Lock()
	defer c.mu.Unlock()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		rattrs := rs.Resource().Attributes()
		svc, ok := rattrs.Get(attrServiceName)
		if !ok {
			continue
		}
		r := c.resource(rattrs, now)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				s := c.series(r, svc, span, rattrs, start)
				var d float64
				if st, end := span.StartTimestamp(), span.EndTimestamp(); end > st {
					d = float64(end-st) / c.unitNanos
				}
				s.duration.Observe(c.bounds, d)
			}
		}
	}
	return nil
}

// resource returns the resource with attrs' key attributes, made if new.
func (c *connectorImp) resource(attrs pcommon.Map, now time.Time) *resource {
	c.key = c.key[:0]
	if len(c.cfg.ResourceMetricsKeyAttributes) == 0 {
		h := xhash.MapHash(attrs)
		c.key = append(c.key, h[:]...)
	}
	for _, name := range c.cfg.ResourceMetricsKeyAttributes {
		v, ok := attrs.Get(name)
		c.key = appendValue(c.key, v, ok)
	}
	r := c.resources[string(c.key)]
	if r == nil {
		if len(c.resources) >= c.cfg.ResourceMetricsCacheSize {
			c.evictOldest()
		}
		r = &resource{attrs: pcommon.NewMap(), series: map[string]*series{}}
		attrs.CopyTo(r.attrs)
		c.resources[string(c.key)] = r
	}
	r.lastSeen = now
	return r
}

// evictOldest drops the resource seen least recently.
func (c *connectorImp) evictOldest() {
	var (
		oldest string
		seen   time.Time
	)
	for k, r := range c.resources {
		if seen.IsZero() || r.lastSeen.Before(seen) {
			oldest, seen = k, r.lastSeen
		}
	}
	delete(c.resources, oldest)
}

// series returns span's series in r, made if new (or r's overflow series when r has as many
// series as the cardinality limit allows).
func (c *connectorImp) series(r *resource, svc pcommon.Value, span ptrace.Span, rattrs pcommon.Map, start pcommon.Timestamp) *series {
	kind, status := span.Kind(), span.Status().Code()
	c.key = appendString(c.key[:0], span.Name())
	c.key = append(c.key, byte(kind), byte(status))
	sattrs := span.Attributes()
	for _, d := range c.dims {
		v, ok := d.lookup(sattrs, rattrs)
		c.key = appendValue(c.key, v, ok)
	}
	if s := r.series[string(c.key)]; s != nil {
		return s
	}
	if limit := c.cfg.AggregationCardinalityLimit; limit > 0 && len(r.series) >= limit {
		if r.overflow == nil {
			c.logger.Warn("Series limit reached: spans making new series are counted in the otel.metric.overflow series",
				zap.Int("aggregation_cardinality_limit", limit), zap.String(attrServiceName, svc.AsString()))
			r.overflow = c.newSeries(start)
			r.overflow.attrs.PutBool(attrOverflow, true)
		}
		return r.overflow
	}
	s := c.newSeries(start)
	s.attrs.EnsureCapacity(4 + len(c.dims))
	svc.CopyTo(s.attrs.PutEmpty(attrServiceName))
	s.attrs.PutStr(attrSpanName, span.Name())
	s.attrs.PutStr(attrSpanKind, enumName(spanKinds[:], int(kind)))
	s.attrs.PutStr(attrStatusCode, enumName(statusCodes[:], int(status)))
	for _, d := range c.dims {
		if v, ok := d.lookup(sattrs, rattrs); ok {
			v.CopyTo(s.attrs.PutEmpty(d.name))
		}
	}
	r.series[string(c.key)] = s
	return s
}

func (c *connectorImp) newSeries(start pcommon.Timestamp) *series {
	return &series{attrs: pcommon.NewMap(), start: start, duration: histogram.New(c.bounds)}
}

// lookup returns the dimension's value: the span's attribute, else the resource's, else the
// default.
func (d dimension) lookup(span, res pcommon.Map) (pcommon.Value, bool) {
	if v, ok := span.Get(d.name); ok {
		return v, true
	}
	if v, ok := res.Get(d.name); ok {
		return v, true
	}
	return d.def, d.hasDef
}

func enumName(names []string, i int) string {
	if i < 0 || i >= len(names) {
		return ""
	}
	return names[i]
}

// appendValue appends v (or its absence) to a key so that different values, or types, never
// give the same bytes.
func appendValue(b []byte, v pcommon.Value, ok bool) []byte {
	if !ok {
		return append(b, 0)
	}
	b = append(b, byte(v.Type())+1)
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendString(b, v.Str())
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
	return appendString(b, v.AsString())
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// flush sends every series' totals, then drops the resources that have sent no span for
// metrics_expiration.
func (c *connectorImp) flush(ctx context.Context) {
	md := c.build()
	n := md.DataPointCount()
	if n == 0 {
		return
	}
	if err := c.next.ConsumeMetrics(ctx, md); err != nil {
		c.logger.Error("Sending span metrics failed", zap.Int("data_points", n), zap.Error(err))
	}
}

// build makes the metrics of every series and expires resources.
func (c *connectorImp) build() pmetric.Metrics {
	md := pmetric.NewMetrics()
	now := c.now()
	ts := pcommon.NewTimestampFromTime(now)
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, r := range c.resources {
		rm := md.ResourceMetrics().AppendEmpty()
		r.attrs.CopyTo(rm.Resource().Attributes())
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(metadata.ScopeName)

		calls := sm.Metrics().AppendEmpty()
		calls.SetName(c.cfg.Namespace + ".calls")
		sum := calls.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)

		dur := sm.Metrics().AppendEmpty()
		dur.SetName(c.cfg.Namespace + ".duration")
		dur.SetUnit(c.cfg.Histogram.Unit)
		hist := dur.SetEmptyHistogram()
		hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)

		total := len(r.series)
		if r.overflow != nil {
			total++
		}
		sum.DataPoints().EnsureCapacity(total)
		hist.DataPoints().EnsureCapacity(total)
		add := func(s *series) {
			dp := sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(s.start)
			dp.SetTimestamp(ts)
			if s.reported {
				dp.SetIntValue(int64(s.duration.Count()))
			} else {
				// A new series starts at 0, so that rate() and increase() count its first calls.
				dp.SetIntValue(0)
				s.reported = true
			}
			s.attrs.CopyTo(dp.Attributes())

			hp := hist.DataPoints().AppendEmpty()
			hp.SetStartTimestamp(s.start)
			hp.SetTimestamp(ts)
			s.duration.CopyTo(hp, c.bounds)
			s.attrs.CopyTo(hp.Attributes())
		}
		for _, s := range r.series {
			add(s)
		}
		if r.overflow != nil {
			add(r.overflow)
		}
		if exp := c.cfg.MetricsExpiration; exp > 0 && now.Sub(r.lastSeen) >= exp {
			delete(c.resources, k)
		}
	}
	return md
}
