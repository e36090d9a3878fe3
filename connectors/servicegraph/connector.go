package servicegraphconnector

import (
	"context"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/lookoutdev/lookout/connectors/internal/histogram"
	"github.com/lookoutdev/lookout/connectors/internal/ticker"
	"github.com/lookoutdev/lookout/connectors/servicegraph/internal/metadata"
)

// The connection types (contrib's values).
const (
	connUnknown     = ""
	connMessaging   = "messaging_system"
	connDatabase    = "database"
	connVirtualNode = "virtual_node"
)

// staleAfter is how long a series may go without an edge before cache_loop drops it.
const staleAfter = 15 * time.Minute

// scopeName is the instrumentation scope of the metrics (contrib's).
const scopeName = "traces_service_graph"

type connectorImp struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	next      consumer.Metrics
	now       func() time.Time
	bounds    []float64 // in seconds
	start     pcommon.Timestamp

	mu     sync.Mutex
	edges  map[edgeKey]*edge // spans waiting for their other end
	queue  []*edge           // the same, oldest first; paired edges stay until they reach the front
	series map[string]*series
	key    []byte // reused to build series keys

	expirer, staler, flusher ticker.Ticker
}

// edgeKey is the client span's trace and span ID, which is the server span's parent.
type edgeKey struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

// edge is one call: its client end, its server end, or both.
type edge struct {
	key            edgeKey
	expires        time.Time
	paired         bool // recorded and out of the map; dropped when it reaches the queue's front
	connType       string
	client, server string
	clientLatency  float64
	serverLatency  float64
	failed         bool
	clientDims     []dimValue
	serverDims     []dimValue
	peer           string // the first of virtual_node_peer_attributes the client span has
	virtualNode    string // which end is virtual: "client", "server" or ""
}

type dimValue struct {
	value string
	ok    bool
}

// series is the metrics of the edges between two services with the same type, outcome and
// dimensions.
type series struct {
	attrs       pcommon.Map
	lastUpdated time.Time
	total       int64
	failed      int64
	server      histogram.Histogram
	client      histogram.Histogram
}

func newConnector(cfg *Config, set component.TelemetrySettings, next consumer.Metrics) (*connectorImp, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	c := &connectorImp{
		cfg:       cfg,
		logger:    set.Logger,
		telemetry: tb,
		next:      next,
		now:       time.Now,
		edges:     map[edgeKey]*edge{},
		series:    map[string]*series{},
	}
	for _, b := range cfg.LatencyHistogramBuckets {
		c.bounds = append(c.bounds, b.Seconds())
	}
	return c, nil
}

func (*connectorImp) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start runs the flushes, the store's expiry and the removal of stale series until Shutdown.
func (c *connectorImp) Start(context.Context, component.Host) error {
	c.start = pcommon.NewTimestampFromTime(c.now())
	c.expirer.Start(c.cfg.StoreExpirationLoop, c.expire)
	c.staler.Start(c.cfg.CacheLoop, c.dropStale)
	c.flusher.Start(c.cfg.MetricsFlushInterval, func() { c.flush(context.Background()) })
	return nil
}

// Shutdown stops the loops and sends the metrics once more: the metrics pipelines after the
// connector are still running.
func (c *connectorImp) Shutdown(ctx context.Context) error {
	c.flusher.Stop()
	c.staler.Stop()
	if c.expirer.Stop() {
		c.flush(ctx)
	}
	return nil
}

// ConsumeTraces pairs each client, producer, server and consumer span of td with its other end.
func (c *connectorImp) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	now := c.now()
	var added, dropped int64
	c.mu.Lock()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		rattrs := rs.Resource().Attributes()
		svc, ok := rattrs.Get("service.name")
		if !ok {
			continue
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				isNew, stored := c.add(spans.At(k), svc, rattrs, now)
				if isNew {
					added++
				}
				if !stored {
					dropped++
				}
			}
		}
	}
	c.mu.Unlock()
	if added > 0 {
		c.telemetry.ConnectorServicegraphTotalEdges.Add(ctx, added)
	}
	if dropped > 0 {
		c.telemetry.ConnectorServicegraphDroppedSpans.Add(ctx, dropped)
	}
	if c.cfg.MetricsFlushInterval == 0 {
		c.flush(ctx)
	}
	return nil
}

// add pairs span with its other end or stores it. It returns whether it started an edge, and
// false for stored when the store was full.
func (c *connectorImp) add(span ptrace.Span, svc pcommon.Value, rattrs pcommon.Map, now time.Time) (isNew, stored bool) {
	var (
		client bool
		conn   = connUnknown
		key    = edgeKey{trace: span.TraceID()}
	)
	switch span.Kind() {
	case ptrace.SpanKindProducer:
		conn = connMessaging
		fallthrough
	case ptrace.SpanKindClient:
		client = true
		key.span = span.SpanID()
	case ptrace.SpanKindConsumer:
		conn = connMessaging
		fallthrough
	case ptrace.SpanKindServer:
		key.span = span.ParentSpanID()
	default:
		return false, true
	}
	e := c.edges[key]
	if e == nil {
		// A new edge is stored unless it is complete at once (a call to a database); when the
		// store is full, nothing is allocated for a span that would only be dropped.
		if len(c.edges) >= c.cfg.Store.MaxItems && !(client && c.isDatabaseCall(span, rattrs)) {
			return false, false
		}
		isNew = true
		e = &edge{key: key, expires: now.Add(c.cfg.Store.TTL)}
	}
	c.update(e, client, conn, span, svc, rattrs)
	if e.client != "" && e.server != "" {
		if !isNew {
			delete(c.edges, key)
			e.paired = true
		}
		c.record(e, now)
		return isNew, true
	}
	if !isNew {
		return false, true
	}
	c.edges[key] = e
	c.queue = append(c.queue, e)
	return true, true
}

// update writes span's end of the call into e.
func (c *connectorImp) update(e *edge, client bool, conn string, span ptrace.Span, svc pcommon.Value, rattrs pcommon.Map) {
	sattrs := span.Attributes()
	var d float64
	if st, end := span.StartTimestamp(), span.EndTimestamp(); end > st {
		d = float64(end-st) / 1e9
	}
	e.connType = conn
	e.failed = e.failed || span.Status().Code() == ptrace.StatusCodeError
	dims := &e.serverDims
	if client {
		dims = &e.clientDims
		setString(&e.client, svc.AsString())
		e.clientLatency = d
		if e.peer == "" {
			for _, name := range c.cfg.VirtualNodePeerAttributes {
				if v, ok := sattrs.Get(name); ok {
					setString(&e.peer, v.AsString())
					break
				}
			}
		}
		if db, ok := firstValue(c.cfg.DatabaseNameAttributes, rattrs, sattrs); ok {
			e.connType = connDatabase
			setString(&e.server, db)
			e.serverLatency = d
		}
	} else {
		setString(&e.server, svc.AsString())
		e.serverLatency = d
	}
	if len(c.cfg.Dimensions) > 0 {
		if *dims == nil {
			*dims = make([]dimValue, len(c.cfg.Dimensions))
		}
		for i, name := range c.cfg.Dimensions {
			if v, ok := firstValue([]string{name}, rattrs, sattrs); ok {
				setString(&(*dims)[i].value, v)
				(*dims)[i].ok = true
			}
		}
	}
}

// setString sets *dst to a copy of s, unless it holds s already: the edge outlives the request
// whose memory s may be part of.
func setString(dst *string, s string) {
	if *dst != s {
		*dst = strings.Clone(s)
	}
}

// isDatabaseCall reports whether a client span is a call to a database.
func (c *connectorImp) isDatabaseCall(span ptrace.Span, rattrs pcommon.Map) bool {
	_, ok := firstValue(c.cfg.DatabaseNameAttributes, rattrs, span.Attributes())
	return ok
}

// firstValue returns the value of the first of names found, each looked up in attrs in order.
func firstValue(names []string, attrs ...pcommon.Map) (string, bool) {
	for _, name := range names {
		for _, m := range attrs {
			if v, ok := m.Get(name); ok {
				return v.AsString(), true
			}
		}
	}
	return "", false
}

// record counts the paired (or virtual) edge e in its series.
func (c *connectorImp) record(e *edge, now time.Time) {
	b := appendString(c.key[:0], e.client)
	b = appendString(b, e.server)
	b = appendString(b, e.connType)
	b = appendString(b, e.virtualNode)
	if e.failed {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for i := range c.cfg.Dimensions {
		b = appendDim(b, e.clientDims, i)
		b = appendDim(b, e.serverDims, i)
	}
	c.key = b
	s := c.series[string(b)]
	if s == nil {
		s = &series{attrs: pcommon.NewMap()}
		s.attrs.PutStr("client", e.client)
		s.attrs.PutStr("server", e.server)
		s.attrs.PutStr("connection_type", e.connType)
		s.attrs.PutBool("failed", e.failed)
		for i, name := range c.cfg.Dimensions {
			if i < len(e.clientDims) && e.clientDims[i].ok {
				s.attrs.PutStr("client_"+name, e.clientDims[i].value)
			}
			if i < len(e.serverDims) && e.serverDims[i].ok {
				s.attrs.PutStr("server_"+name, e.serverDims[i].value)
			}
		}
		if c.cfg.VirtualNodeExtraLabel {
			s.attrs.PutStr("virtual_node", e.virtualNode)
		}
		s.server, s.client = histogram.New(c.bounds), histogram.New(c.bounds)
		c.series[string(b)] = s
	}
	s.lastUpdated = now
	s.total++
	if e.failed {
		s.failed++
	}
	s.server.Observe(c.bounds, e.serverLatency)
	s.client.Observe(c.bounds, e.clientLatency)
}

func appendDim(b []byte, dims []dimValue, i int) []byte {
	if i >= len(dims) || !dims[i].ok {
		return append(b, 0)
	}
	return appendString(append(b, 1), dims[i].value)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// expire drops the spans that waited store::ttl; with virtual nodes, an expired root server
// span becomes a call from "user" and an expired client span a call to its peer.
func (c *connectorImp) expire() {
	now := c.now()
	var expired int64
	c.mu.Lock()
	n := 0
	for _, e := range c.queue {
		if !now.After(e.expires) {
			break
		}
		n++
		if e.paired {
			continue
		}
		delete(c.edges, e.key)
		expired++
		if len(c.cfg.VirtualNodePeerAttributes) == 0 {
			continue
		}
		e.connType = connVirtualNode
		if e.client == "" && e.key.span.IsEmpty() {
			e.client = "user"
			if c.cfg.VirtualNodeExtraLabel {
				e.virtualNode = "client"
			}
			c.record(e, now)
		}
		if e.server == "" {
			e.server = e.peer
			if e.server == "" {
				e.server = "unknown"
			}
			if c.cfg.VirtualNodeExtraLabel {
				e.virtualNode = "server"
			}
			c.record(e, now)
		}
	}
	clear(c.queue[:n])
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = c.queue[:0:0] // let the array go once drained
	}
	c.mu.Unlock()
	if expired > 0 {
		c.telemetry.ConnectorServicegraphExpiredEdges.Add(context.Background(), expired)
	}
}

// dropStale drops the series that have had no edge for 15 minutes.
func (c *connectorImp) dropStale() {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.series {
		if now.Sub(s.lastUpdated) > staleAfter {
			delete(c.series, k)
		}
	}
}

// flush sends every series' totals.
func (c *connectorImp) flush(ctx context.Context) {
	md := c.build()
	n := md.DataPointCount()
	if n == 0 {
		return
	}
	if err := c.next.ConsumeMetrics(ctx, md); err != nil {
		c.logger.Error("Sending service graph metrics failed", zap.Int("data_points", n), zap.Error(err))
	}
}

// build makes the metrics of every series.
func (c *connectorImp) build() pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(c.now().Add(-c.cfg.MetricsTimestampOffset))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.series) == 0 {
		return md
	}
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	ms := sm.Metrics()

	sum := func(name string) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		return s.DataPoints()
	}
	total := sum("traces_service_graph_request_total")
	var failed pmetric.NumberDataPointSlice
	hasFailed := false
	for _, s := range c.series {
		if s.failed > 0 {
			hasFailed = true
			break
		}
	}
	if hasFailed {
		failed = sum("traces_service_graph_request_failed_total")
	}
	hist := func(name string) pmetric.HistogramDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetUnit("s")
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		return h.DataPoints()
	}
	server := hist("traces_service_graph_request_server")
	client := hist("traces_service_graph_request_client")

	for _, s := range c.series {
		dp := total.AppendEmpty()
		dp.SetStartTimestamp(c.start)
		dp.SetTimestamp(ts)
		dp.SetIntValue(s.total)
		s.attrs.CopyTo(dp.Attributes())
		if s.failed > 0 {
			dp := failed.AppendEmpty()
			dp.SetStartTimestamp(c.start)
			dp.SetTimestamp(ts)
			dp.SetIntValue(s.failed)
			s.attrs.CopyTo(dp.Attributes())
		}
		for _, p := range []struct {
			dps pmetric.HistogramDataPointSlice
			h   *histogram.Histogram
		}{{server, &s.server}, {client, &s.client}} {
			hp := p.dps.AppendEmpty()
			hp.SetStartTimestamp(c.start)
			hp.SetTimestamp(ts)
			p.h.CopyTo(hp, c.bounds)
			s.attrs.CopyTo(hp.Attributes())
		}
	}
	return md
}
