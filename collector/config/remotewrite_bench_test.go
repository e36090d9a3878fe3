package config

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"gopkg.in/yaml.v3"
)

// BenchmarkRemoteWriteLabels measures the agent's remote-write exporter on 1,000 scraped points
// (100 counters of 10 series, a resource as the prometheus receiver and the resource processor
// make it) four ways: as configured, service_name a label from the target, the cluster and node
// as external labels and the scope cleared as transform/own_scope clears it; with service_name
// copied into every point from the resource's service.name instead (before 2026-12-05); with
// the prometheus receiver's scope, which the exporter writes as otel_scope_name and
// otel_scope_version labels (before 2026-12-03); and with the cluster and node as resource
// constant labels instead (before 2026-12-03 too), which copies them into every point. All four
// give the same labels but the scope's.
func BenchmarkRemoteWriteLabels(b *testing.B) {
	raw, err := Get("agent")
	if err != nil {
		b.Fatal(err)
	}
	var agent struct {
		Exporters struct {
			PRW struct {
				Constant struct {
					Included []string `yaml:"included"`
				} `yaml:"resource_constant_labels"`
				External map[string]string `yaml:"external_labels"`
			} `yaml:"prometheus_remote_write"`
		} `yaml:"exporters"`
	}
	if err := yaml.Unmarshal(raw, &agent); err != nil {
		b.Fatal(err)
	}
	prw := agent.Exporters.PRW
	// The resource attribute each external label stands for.
	attributeOf := map[string]string{"k8s_cluster_name": "k8s.cluster.name", "k8s_node_name": "k8s.node.name"}
	external := map[string]string{}
	if !slices.Contains(prw.Constant.Included, "service_name") {
		b.Fatalf("resource_constant_labels: no service_name in %v", prw.Constant.Included)
	}
	// service.name where the configured list has service_name: copied from the resource.
	fromResource := append([]string{"service.name"}, slices.DeleteFunc(slices.Clone(prw.Constant.Included), func(a string) bool { return a == "service_name" })...)
	asResource := append([]string(nil), prw.Constant.Included...)
	for label := range prw.External {
		attr, ok := attributeOf[label]
		if !ok {
			b.Fatalf("external label %q: no resource attribute known for it", label)
		}
		external[label] = "value-of-" + label
		asResource = append(asResource, attr)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	receiverScope := pcommon.NewInstrumentationScope()
	receiverScope.SetName("github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver")
	receiverScope.SetVersion("v0.4.2")
	noScope := pcommon.NewInstrumentationScope()
	for _, c := range []struct {
		name         string
		included     []string
		external     map[string]string
		scope        pcommon.InstrumentationScope
		serviceLabel bool // the point has service_name, as a scrape target's label
	}{
		{"as-configured", prw.Constant.Included, external, noScope, true},
		{"service-from-resource", fromResource, external, noScope, false},
		{"with-receiver-scope", prw.Constant.Included, external, receiverScope, true},
		{"cluster-and-node-as-resource-labels", asResource, nil, noScope, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := prometheusremotewriteexporter.NewFactory()
			cfg := f.CreateDefaultConfig().(*prometheusremotewriteexporter.Config)
			cfg.HTTP.Endpoint = srv.URL
			cfg.ResourceConstantLabels = resourcetotelemetry.Settings{Included: c.included}
			cfg.ExternalLabels = c.external
			cfg.TargetInfo.Enabled = false
			cfg.RemoteWriteQueue.Enabled = false // each call exports before it returns
			exp, err := f.CreateMetrics(context.Background(), exportertest.NewNopSettings(f.Type()), cfg)
			if err != nil {
				b.Fatal(err)
			}
			if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := exp.Shutdown(context.Background()); err != nil {
					b.Error(err)
				}
			}()
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				md := scrapedPoints(c.scope, c.serviceLabel)
				b.StartTimer()
				if err := exp.ConsumeMetrics(context.Background(), md); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// scrapedPoints is one scrape of a target in scope: 100 counters of 10 series each, with the
// target's service_name label when serviceLabel is set.
func scrapedPoints(scope pcommon.InstrumentationScope, serviceLabel bool) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("service.name", "orders")
	res.PutStr("service.instance.id", "10.0.3.7:9100")
	res.PutStr("server.address", "10.0.3.7")
	res.PutStr("server.port", "9100")
	res.PutStr("url.scheme", "http")
	res.PutStr("k8s.cluster.name", "value-of-k8s_cluster_name")
	res.PutStr("k8s.node.name", "value-of-k8s_node_name")
	sm := rm.ScopeMetrics().AppendEmpty()
	scope.CopyTo(sm.Scope())
	metrics := sm.Metrics()
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := range 100 {
		m := metrics.AppendEmpty()
		m.SetName(fmt.Sprintf("orders_requests_%d_total", i))
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for j := range 10 {
			dp := sum.DataPoints().AppendEmpty()
			dp.SetTimestamp(now)
			dp.SetDoubleValue(float64(i * j))
			dp.Attributes().PutStr("path", fmt.Sprintf("/api/v1/orders/%d", j))
			dp.Attributes().PutStr("code", "200")
			if serviceLabel {
				dp.Attributes().PutStr("service_name", "orders")
			}
		}
	}
	return md
}
