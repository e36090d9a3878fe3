package derive

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/catalog/emitted"
	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// TestCommittedListIsFresh derives the list again and compares it with metrics.yaml.
func TestCommittedListIsFresh(t *testing.T) {
	root := lookouttest.RepoRoot()
	l, err := Derive(context.Background(), Options{RepoRoot: root})
	require.NoError(t, err)
	want, err := l.Encode()
	require.NoError(t, err)
	path := filepath.Join(root, "internal", "catalog", "emitted", emitted.FileName)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	if string(got) != string(want) {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(got)), B: difflib.SplitLines(string(want)),
			FromFile: "committed", ToFile: "derived", Context: 2,
		})
		t.Fatalf("%s is stale: run `go generate ./internal/catalog/emitted` and commit it.\n%s", path, diff)
	}
}

func TestDerive(t *testing.T) {
	root := lookouttest.RepoRoot()
	tests := []struct {
		name    string
		config  string
		has     map[string]string // series -> condition ("" = always emitted)
		hasNot  []string
		spans   *emitted.SpanMetrics
		wantErr string
	}{
		{
			name:   "span metrics with the connector's default unit",
			config: "minimal.yaml",
			has: map[string]string{
				"traces_span_metrics_calls_total":             "",
				"traces_span_metrics_duration_seconds_bucket": "",
				"traces_span_metrics_duration_seconds_count":  "",
				"go_goroutines":                 "",
				"process_resident_memory_bytes": "",
			},
			// No self-scrape: none of the collector's own metrics. No target_info: Lookout's
			// exporter writes none.
			hasNot: []string{"otelcol_exporter_queue_size", "up", "system_cpu_time_seconds_total", "target_info"},
			spans: &emitted.SpanMetrics{
				Calls: "traces_span_metrics_calls_total", Duration: "traces_span_metrics_duration_seconds",
				DurationUnit: "s",
				Buckets:      []string{"0.002", "0.004", "0.006", "0.008", "0.01", "0.05", "0.1", "0.2", "0.4", "0.8", "1", "1.4", "2", "5", "10", "15"},
				Labels:       emitted.SpanMetricsLabels{Service: "service_name", SpanName: "span_name", SpanKind: "span_kind", StatusCode: "status_code"},
				Values:       emitted.SpanMetricsValues{SpanKindServer: "SPAN_KIND_SERVER", StatusCodeError: "STATUS_CODE_ERROR"},
			},
		},
		{
			name:   "exporter without suffixes, a metric enabled by config",
			config: "nosuffix.yaml",
			has:    map[string]string{"system_cpu_time": "", "system_cpu_utilization": "", "system_cpu_logical_count": ""},
			hasNot: []string{"system_cpu_time_seconds_total", "system_memory_usage", "system_cpu_frequency"},
		},
		{
			name:   "self-scrape at detailed level, exposition defaults kept",
			config: "selfscrape.yaml",
			has: map[string]string{
				"otelcol_process_memory_rss":                    "",
				"otelcol_process_uptime_total":                  "",
				"otelcol_exporter_queue_size":                   "",
				"otelcol_exporter_enqueue_size_bucket":          "",
				"otelcol_receiver_accepted_metric_points_total": "",
				"otelcol_receiver_produced_items_total":         "the feature gate telemetry.newPipelineTelemetry is enabled",
				"up":                                            "",
				"scrape_timeout_seconds":                        "the scrape config enables extra scrape metrics",
			},
			// Only a metrics pipeline: no span or log variants.
			hasNot: []string{"otelcol_receiver_accepted_spans_total", "otelcol_exporter_sent_log_records_total", "otelcol_fileconsumer_open_files"},
		},
		{
			name:   "Lookout's pod-log receiver, hand-named instruments",
			config: "podlogs.yaml",
			has:    map[string]string{"otelcol_podlogs_file_lag": "", "otelcol_receiver_accepted_log_records_total": ""},
		},
		{name: "unknown component", config: "unknown.yaml", wantErr: `receivers::no_such_receiver: no component of type "no_such_receiver"`},
		{name: "no remote write", config: "noexporter.yaml", wantErr: "want exactly one prometheus_remote_write exporter, have 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Derive(context.Background(), Options{RepoRoot: root, Config: filepath.Join("internal", "catalog", "emitted", "derive", "testdata", tt.config)})
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			for series, cond := range tt.has {
				m, ok := l.Lookup(series)
				require.Truef(t, ok, "%s missing", series)
				require.Equalf(t, cond, m.Condition, "condition of %s", series)
			}
			for _, series := range tt.hasNot {
				_, ok := l.Lookup(series)
				require.Falsef(t, ok, "%s should not be listed", series)
			}
			if tt.spans != nil {
				require.Equal(t, tt.spans, l.SpanMetrics)
			}
		})
	}
}

// TestKubeletDefaultGroups checks the receiver's default metric groups that kubeletStats assumes.
func TestKubeletDefaultGroups(t *testing.T) {
	pkgs, err := goList(context.Background(), Options{RepoRoot: lookouttest.RepoRoot(), Go: "go"},
		[]string{"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/kubeletstatsreceiver"})
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(pkgs[0].Dir, "factory.go"))
	require.NoError(t, err)
	require.Contains(t, string(b), "var defaultMetricGroups = []kubelet.MetricGroup{\n\tkubelet.ContainerMetricGroup,\n\tkubelet.PodMetricGroup,\n\tkubelet.NodeMetricGroup,\n}")
}
