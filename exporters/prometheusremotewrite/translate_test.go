package prometheusremotewriteexporter

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	prw "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

var now = pcommon.NewTimestampFromTime(time.Date(2026, 12, 5, 15, 0, 0, 0, time.UTC))

// agentConfig is the translation part of the built-in agent config.
func agentConfig() *Config {
	c := createDefaultConfig().(*Config)
	c.ResourceConstantLabels.Included = []string{"service_name", "k8s.namespace.name", "k8s.pod.name", "host.name"}
	c.ExternalLabels = map[string]string{"k8s_cluster_name": "prod", "k8s.node.name": "node-1", "pod": "from-external"}
	return c
}

// scrape is what the prometheus receiver makes of one target: counters, gauges, a histogram
// and a summary under a resource with service.name and service.instance.id.
func scrape(md pmetric.Metrics, target string, series int) {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "shop")
	rm.Resource().Attributes().PutStr("service.instance.id", target)
	rm.Resource().Attributes().PutStr("k8s.pod.name", "shop-"+target)
	rm.Resource().Attributes().PutStr("k8s.namespace.name", "prod")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver")
	sm.Scope().SetVersion("1.2.3")
	c := sm.Metrics().AppendEmpty()
	c.SetName("http_requests_total")
	sum := c.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	g := sm.Metrics().AppendEmpty()
	g.SetName("queue_depth")
	gauge := g.SetEmptyGauge()
	for i := range series {
		p := sum.DataPoints().AppendEmpty()
		p.SetTimestamp(now)
		p.SetDoubleValue(float64(i * 7))
		p.Attributes().PutStr("method", []string{"GET", "POST"}[i%2])
		p.Attributes().PutStr("handler", fmt.Sprintf("/api/v1/item/%d", i))
		gp := gauge.DataPoints().AppendEmpty()
		gp.SetTimestamp(now)
		gp.SetIntValue(int64(i))
		gp.Attributes().PutStr("queue", fmt.Sprint("q", i))
	}
	h := sm.Metrics().AppendEmpty()
	h.SetName("request_duration_seconds")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := hist.DataPoints().AppendEmpty()
	hp.SetTimestamp(now)
	hp.ExplicitBounds().FromRaw([]float64{0.1, 0.5, 1})
	hp.BucketCounts().FromRaw([]uint64{3, 2, 1, 1})
	hp.SetCount(7)
	hp.SetSum(3.25)
	s := sm.Metrics().AppendEmpty()
	s.SetName("gc_duration_seconds")
	sp := s.SetEmptySummary().DataPoints().AppendEmpty()
	sp.SetTimestamp(now)
	sp.SetCount(4)
	sp.SetSum(0.5)
	for _, q := range []float64{0, 0.25, 0.5, 1} {
		qv := sp.QuantileValues().AppendEmpty()
		qv.SetQuantile(q)
		qv.SetValue(q / 10)
	}
}

// otlp is what a service sends: units, attributes of several types and names that collide
// once sanitized, exemplars, stale points, a histogram without sum, an exponential histogram
// and what Prometheus cannot take (delta, no points, no type).
func otlp(md pmetric.Metrics) {
	rm := md.ResourceMetrics().AppendEmpty()
	ra := rm.Resource().Attributes()
	ra.PutStr("service.name", "checkout")
	ra.PutStr("service.namespace", "shop")
	ra.PutStr("service_name", "checkout")
	ra.PutStr("host.name", "")
	ra.PutStr("process.pid", "42") // not included
	ra.PutStr("k8s.pod.name", "checkout-1")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("checkout/metrics")
	sm.Scope().Attributes().PutStr("library.kind", "sdk")
	sm.Scope().Attributes().PutStr("name", "ignored")

	m := sm.Metrics().AppendEmpty()
	m.SetName("rpc.server.duration")
	m.SetUnit("ms")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i, stale := range []bool{false, true} {
		p := h.DataPoints().AppendEmpty()
		p.SetTimestamp(now + pcommon.Timestamp(i)*1e9)
		p.ExplicitBounds().FromRaw([]float64{5, 10, 25.5})
		p.BucketCounts().FromRaw([]uint64{1, 0, 4, 2})
		p.SetCount(7)
		if i == 0 {
			p.SetSum(120)
		}
		p.Attributes().PutStr("rpc.method", "Pay")
		p.Attributes().PutStr("rpc_method", "Pay2") // collides with rpc.method
		p.Attributes().PutInt("rpc.grpc.status_code", 0)
		p.Attributes().PutBool("retry", false)
		p.Attributes().PutStr("k8s.pod.name", "overridden by the resource's")
		p.Attributes().PutStr("empty", "")
		if stale {
			p.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		}
		for j, v := range []float64{3, 7, 12, 30, 10} {
			e := p.Exemplars().AppendEmpty()
			e.SetDoubleValue(v)
			e.SetTimestamp(now - pcommon.Timestamp(j)*1e6)
			e.SetTraceID(pcommon.TraceID{1, 2, 3, byte(j)})
			e.SetSpanID(pcommon.SpanID{4, 5, byte(j)})
			e.FilteredAttributes().PutStr("user", strings.Repeat("u", j*20))
		}
	}

	c := sm.Metrics().AppendEmpty()
	c.SetName("bytes.sent")
	c.SetUnit("By")
	sum := c.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	p := sum.DataPoints().AppendEmpty()
	p.SetTimestamp(now)
	p.SetIntValue(1 << 40)
	p.Attributes().PutStr("k8s_cluster_name", "overrides the external label")
	p.Attributes().PutDouble("ratio", 0.5)
	p.Attributes().PutStr("peer.name", "db") // collides with peer_name, the same value
	p.Attributes().PutStr("peer_name", "db")
	e := p.Exemplars().AppendEmpty()
	e.SetIntValue(9)
	e.SetTimestamp(now)

	u := sm.Metrics().AppendEmpty()
	u.SetName("connections")
	u.SetUnit("{connection}")
	us := u.SetEmptySum()
	us.SetIsMonotonic(false)
	us.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	up := us.DataPoints().AppendEmpty()
	up.SetTimestamp(now)
	up.SetDoubleValue(-3)

	r := sm.Metrics().AppendEmpty()
	r.SetName("cpu.utilization")
	r.SetUnit("1")
	rp := r.SetEmptyGauge().DataPoints().AppendEmpty()
	rp.SetTimestamp(now)
	rp.SetDoubleValue(math.Inf(1))

	x := sm.Metrics().AppendEmpty()
	x.SetName("latency")
	x.SetUnit("s")
	xh := x.SetEmptyExponentialHistogram()
	xh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	xp := xh.DataPoints().AppendEmpty()
	xp.SetTimestamp(now)
	xp.SetScale(2)
	xp.SetCount(5)
	xp.SetSum(1.5)
	xp.SetZeroCount(1)
	xp.Positive().SetOffset(-3)
	xp.Positive().BucketCounts().FromRaw([]uint64{1, 2, 1})

	d := sm.Metrics().AppendEmpty()
	d.SetName("delta.requests")
	ds := d.SetEmptySum()
	ds.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	ds.DataPoints().AppendEmpty().SetIntValue(1)
	sm.Metrics().AppendEmpty().SetName("no.points")
	sm.Metrics().AppendEmpty().SetName("no.type")
	sm.Metrics().At(sm.Metrics().Len() - 2).SetEmptyGauge()

	// A scope of another library, on the same resource.
	sm2 := rm.ScopeMetrics().AppendEmpty()
	sm2.Scope().SetName("other")
	g := sm2.Metrics().AppendEmpty()
	g.SetName("queue_depth")
	gp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gp.SetTimestamp(now)
	gp.SetDoubleValue(1)
}

// contrib is what contrib's exporter writes for md with cfg: its resource_constant_labels
// wrapper puts the included resource attributes on each point, then its translator runs.
func contrib(t *testing.T, cfg *Config, md pmetric.Metrics) map[string][]string {
	t.Helper()
	md2 := pmetric.NewMetrics()
	md.CopyTo(md2)
	for i := 0; i < md2.ResourceMetrics().Len(); i++ {
		rm := md2.ResourceMetrics().At(i)
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				forEachPoint(ms.At(k), func(attrs pcommon.Map) {
					for _, key := range cfg.ResourceConstantLabels.Included {
						if v, ok := rm.Resource().Attributes().Get(key); ok {
							v.CopyTo(attrs.PutEmpty(key))
						}
					}
				})
			}
		}
	}
	tr, err := newTranslator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tss, _ := prw.FromMetrics(md2, tr.settings)
	var req prompb.WriteRequest
	for _, ts := range tss {
		req.Timeseries = append(req.Timeseries, *ts)
	}
	return normalize(t, req, false)
}

func forEachPoint(m pmetric.Metric, f func(pcommon.Map)) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for i := 0; i < m.Gauge().DataPoints().Len(); i++ {
			f(m.Gauge().DataPoints().At(i).Attributes())
		}
	case pmetric.MetricTypeSum:
		for i := 0; i < m.Sum().DataPoints().Len(); i++ {
			f(m.Sum().DataPoints().At(i).Attributes())
		}
	case pmetric.MetricTypeHistogram:
		for i := 0; i < m.Histogram().DataPoints().Len(); i++ {
			f(m.Histogram().DataPoints().At(i).Attributes())
		}
	case pmetric.MetricTypeSummary:
		for i := 0; i < m.Summary().DataPoints().Len(); i++ {
			f(m.Summary().DataPoints().At(i).Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for i := 0; i < m.ExponentialHistogram().DataPoints().Len(); i++ {
			f(m.ExponentialHistogram().DataPoints().At(i).Attributes())
		}
	}
}

// ours translates md with tr and decodes what it wrote.
func ours(t *testing.T, tr *translator, md pmetric.Metrics) (map[string][]string, translateStats) {
	t.Helper()
	buf, st := tr.appendMetrics(nil, md, func(int) {})
	var req prompb.WriteRequest
	if err := req.Unmarshal(buf); err != nil {
		t.Fatalf("what the translator wrote is not a WriteRequest: %v", err)
	}
	return normalize(t, req, true), st
}

// normalize maps each series (its labels, sorted) to its samples, histograms and exemplars,
// each in order (contrib writes a series once with all its samples, this translator once a
// point). With sorted, the labels must be sorted already.
func normalize(t *testing.T, req prompb.WriteRequest, sorted bool) map[string][]string {
	t.Helper()
	samples, exemplars := map[string][]string{}, map[string][]string{}
	for _, ts := range req.Timeseries {
		if sorted && !sort.SliceIsSorted(ts.Labels, func(i, j int) bool { return ts.Labels[i].Name < ts.Labels[j].Name }) {
			t.Errorf("labels not sorted: %v", ts.Labels)
		}
		ls := slices.Clone(ts.Labels)
		slices.SortFunc(ls, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
		var key []string
		for _, l := range ls {
			key = append(key, l.Name+"="+l.Value)
		}
		k := strings.Join(key, ",")
		for _, s := range ts.Samples {
			samples[k] = append(samples[k], fmt.Sprintf("sample %x@%d", math.Float64bits(s.Value), s.Timestamp))
		}
		for _, h := range ts.Histograms {
			samples[k] = append(samples[k], fmt.Sprintf("histogram %s", h.String()))
		}
		for _, e := range ts.Exemplars {
			exemplars[k] = append(exemplars[k], fmt.Sprintf("exemplar %v %x@%d", e.Labels, math.Float64bits(e.Value), e.Timestamp))
		}
	}
	for k, e := range exemplars {
		samples[k] = append(samples[k], e...)
	}
	return samples
}

func TestTranslateMatchesContrib(t *testing.T) {
	scrapeOnly := pmetric.NewMetrics()
	scrape(scrapeOnly, "10.0.0.1:8080", 50)
	scrape(scrapeOnly, "10.0.0.2:8080", 50)
	services := pmetric.NewMetrics()
	otlp(services)
	both := pmetric.NewMetrics()
	scrapeOnly.ResourceMetrics().CopyTo(both.ResourceMetrics())
	otlp(both)

	noScope := agentConfig()
	noScope.DisableScopeInfo = true
	noSuffixes := agentConfig()
	noSuffixes.AddMetricSuffixes = false
	noSuffixes.Namespace = "lookout"
	bare := createDefaultConfig().(*Config)

	for _, tc := range []struct {
		name string
		cfg  *Config
		md   pmetric.Metrics
	}{
		{"scrape", agentConfig(), scrapeOnly},
		{"services", agentConfig(), services},
		{"both", agentConfig(), both},
		{"no scope info", noScope, both},
		{"no suffixes, namespace", noSuffixes, both},
		{"defaults", bare, both},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := contrib(t, tc.cfg, tc.md)
			tr, err := newTranslator(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the second time every series' labels come from the cache.
			for round := range 2 {
				got, _ := ours(t, tr, tc.md)
				if len(got) != len(want) {
					t.Errorf("round %d: %d series, contrib %d", round, len(got), len(want))
				}
				for k, v := range want {
					if !slices.Equal(got[k], v) {
						t.Errorf("round %d: series {%s}: got %v, contrib %v", round, k, got[k], v)
					}
				}
				for k := range got {
					if _, ok := want[k]; !ok {
						t.Errorf("round %d: series {%s} not in contrib's", round, k)
					}
				}
			}
		})
	}
}

func TestTranslateDrops(t *testing.T) {
	md := pmetric.NewMetrics()
	otlp(md)
	tr, err := newTranslator(agentConfig())
	if err != nil {
		t.Fatal(err)
	}
	_, st := ours(t, tr, md)
	// The delta sum's point; the metric without points and the one without a type have none.
	if st.dropped != 1 || st.firstErr == nil || !strings.Contains(st.firstErr.Error(), `"delta.requests"`) {
		t.Errorf("dropped %d points, first error %v; want the delta sum's point, named", st.dropped, st.firstErr)
	}

	// An attribute whose name sanitizes to nothing drops its point, and only that one.
	bad := pmetric.NewMetrics()
	ps := bad.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints()
	bad.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetName("g")
	ps.AppendEmpty().Attributes().PutStr("", "x")
	ps.AppendEmpty().Attributes().PutStr("ok", "x")
	got, st := ours(t, tr, bad)
	if st.dropped != 1 || len(got) != 1 {
		t.Errorf("dropped %d, wrote %d series; want 1 and 1", st.dropped, len(got))
	}
}

func TestTranslateCache(t *testing.T) {
	md := pmetric.NewMetrics()
	scrape(md, "10.0.0.1:8080", 10)
	tr, err := newTranslator(agentConfig())
	if err != nil {
		t.Fatal(err)
	}
	ours(t, tr, md)
	n := len(tr.series)
	if n != 10+10+1+1 {
		t.Fatalf("%d series kept, want one per point", n)
	}

	// New bounds rebuild the histogram's bucket series.
	hp := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(2).Histogram().DataPoints().At(0)
	hp.ExplicitBounds().FromRaw([]float64{0.2, 2})
	hp.BucketCounts().FromRaw([]uint64{1, 2, 4})
	got, _ := ours(t, tr, md)
	want := contrib(t, agentConfig(), md)
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("after new bounds: series {%s}: got %v, contrib %v", k, got[k], v)
		}
	}

	// A sweep keeps what was seen since the last one and forgets the rest.
	tr.sweep()
	if len(tr.series) != n {
		t.Errorf("after a sweep: %d series kept, want %d", len(tr.series), n)
	}
	tr.sweep()
	if len(tr.series) != 0 || len(tr.sources) != 0 {
		t.Errorf("after two sweeps with nothing seen: %d series and %d sources kept", len(tr.series), len(tr.sources))
	}
}

// A gauge, a histogram and a summary of one name and attributes are three kept series, not one
// whose labels the others would take.
func TestTranslateSameNameOtherType(t *testing.T) {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	g := ms.AppendEmpty()
	g.SetName("work")
	gp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gp.SetDoubleValue(1)
	h := ms.AppendEmpty()
	h.SetName("work")
	h.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := h.Histogram().DataPoints().AppendEmpty()
	hp.SetCount(1)
	s := ms.AppendEmpty()
	s.SetName("work")
	s.SetEmptySummary().DataPoints().AppendEmpty().SetCount(1)
	for _, p := range []pcommon.Map{gp.Attributes(), hp.Attributes(), s.Summary().DataPoints().At(0).Attributes()} {
		p.PutStr("queue", "a")
	}
	tr, err := newTranslator(agentConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := contrib(t, agentConfig(), md)
	for round := range 2 {
		got, _ := ours(t, tr, md)
		if len(got) != len(want) {
			t.Errorf("round %d: %d series, contrib %d", round, len(got), len(want))
		}
		for k, v := range want {
			if !slices.Equal(got[k], v) {
				t.Errorf("round %d: series {%s}: got %v, contrib %v", round, k, got[k], v)
			}
		}
	}
}

// A summary point flagged as having no recorded value (its target went away) is stale markers
// in its sum, count and every quantile, as contrib writes them.
func TestTranslateStaleSummary(t *testing.T) {
	md := pmetric.NewMetrics()
	s := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	s.SetName("gc_duration_seconds")
	live := s.SetEmptySummary().DataPoints().AppendEmpty()
	live.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0)))
	live.SetCount(4)
	live.SetSum(0.5)
	for _, q := range []float64{0, 0.5, 1} {
		qv := live.QuantileValues().AppendEmpty()
		qv.SetQuantile(q)
		qv.SetValue(q / 10)
	}
	stale := s.Summary().DataPoints().AppendEmpty()
	live.CopyTo(stale)
	stale.SetTimestamp(live.Timestamp() + 1e9)
	stale.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))

	tr, err := newTranslator(agentConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := contrib(t, agentConfig(), md)
	got, _ := ours(t, tr, md)
	if len(got) != 5 || len(got) != len(want) {
		t.Errorf("%d series, contrib %d, want 5 (sum, count, three quantiles)", len(got), len(want))
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("series {%s}: got %v, contrib %v", k, got[k], v)
		}
	}
}
