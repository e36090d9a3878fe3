package prometheusremotewriteexporter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// BenchmarkExport sends the same scrapes (10 targets of 1,012 series: counters, gauges, a
// histogram and a summary) through contrib's prometheus_remote_write exporter and through this
// one, configured alike (the agent's labels, no queue: each call sends before it returns), to a
// server that reads and discards the requests. The series are the same every time, as each
// scrape of a target repeats them.
func BenchmarkExport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ours := agentConfig()
	ours.Endpoint = srv.URL
	ours.RemoteWriteQueue.Enabled = false

	cf := prometheusremotewriteexporter.NewFactory()
	theirs := cf.CreateDefaultConfig().(*prometheusremotewriteexporter.Config)
	theirs.HTTP.Endpoint = srv.URL
	theirs.ResourceConstantLabels = resourcetotelemetry.Settings{Included: ours.ResourceConstantLabels.Included}
	theirs.ExternalLabels = ours.ExternalLabels
	theirs.TargetInfo.Enabled = false
	theirs.RemoteWriteQueue.Enabled = false

	scrapes := func() pmetric.Metrics {
		md := pmetric.NewMetrics()
		for i := range 10 {
			scrape(md, fmt.Sprintf("10.0.0.%d:8080", i), 500)
		}
		return md
	}
	points := scrapes().DataPointCount()
	for _, c := range []struct {
		name string
		f    exporter.Factory
		cfg  any
	}{
		{"contrib", cf, theirs},
		{"lookout", NewFactory(), ours},
	} {
		b.Run(c.name, func(b *testing.B) {
			exp, err := c.f.CreateMetrics(context.Background(), exportertest.NewNopSettings(c.f.Type()), c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = exp.Shutdown(context.Background()) }()
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				md := scrapes()
				b.StartTimer()
				if err := exp.ConsumeMetrics(context.Background(), md); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*points), "ns/point")
		})
	}
}
