package collector

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/lookoutdev/lookout/extensions/segmentstorage"
	"github.com/lookoutdev/lookout/internal/freeport"
)

// configure sets an OTLP exporter config's endpoint and its sending queue: batched, on disk when
// storage is set.
func configure(t *testing.T, cfg component.Config, endpoint string, storage *component.ID) {
	var q *configoptional.Optional[exporterhelper.QueueBatchConfig]
	switch c := cfg.(type) {
	case *otlpexporter.Config:
		c.ClientConfig.Endpoint = endpoint
		c.ClientConfig.TLS.Insecure = true
		q = &c.QueueConfig
	case *otlphttpexporter.Config:
		c.ClientConfig.Endpoint = "http://" + endpoint
		q = &c.QueueConfig
	default:
		t.Fatalf("not an OTLP exporter config: %T", cfg)
	}
	qc := exporterhelper.NewDefaultQueueConfig()
	qc.StorageID = storage
	qc.Batch = configoptional.Some(exporterhelper.BatchConfig{
		FlushTimeout: 100 * time.Millisecond,
		Sizer:        exporterhelper.RequestSizerTypeItems,
		MinSize:      1000,
	})
	*q = configoptional.Some(qc)
}

func TestDiskQueueExporterCapabilities(t *testing.T) {
	f, err := Components()
	require.NoError(t, err)
	storage := component.MustNewID("segment_storage")
	for _, tc := range []struct {
		typ, alias string
	}{
		{"otlp_grpc", "otlp"},
		{"otlp_http", "otlphttp"},
	} {
		fac := f.Exporters[component.MustNewType(tc.typ)]
		require.NotNil(t, fac, tc.typ)
		alias := f.Exporters[component.MustNewType(tc.alias)]
		require.Same(t, fac.(diskQueueFactory).Factory, alias.(diskQueueFactory).Factory, "%s is still %s's alias", tc.alias, tc.typ)
		require.Equal(t, tc.alias, fac.(aliasHolder).DeprecatedAlias().String())

		for _, onDisk := range []bool{false, true} {
			cfg := fac.CreateDefaultConfig()
			if onDisk {
				configure(t, cfg, "127.0.0.1:4317", &storage)
			} else {
				configure(t, cfg, "127.0.0.1:4317", nil)
			}
			set := exportertest.NewNopSettings(fac.Type())
			caps := map[string]consumer.Capabilities{}
			tr, err := fac.CreateTraces(t.Context(), set, cfg)
			require.NoError(t, err)
			caps["traces"] = tr.Capabilities()
			me, err := fac.CreateMetrics(t.Context(), set, cfg)
			require.NoError(t, err)
			caps["metrics"] = me.Capabilities()
			lo, err := fac.CreateLogs(t.Context(), set, cfg)
			require.NoError(t, err)
			caps["logs"] = lo.Capabilities()
			for signal, c := range caps {
				// In memory the batcher merges the requests it was given: upstream's answer stays.
				require.Equal(t, !onDisk, c.MutatesData, "%s %s, queue on disk: %v", tc.typ, signal, onDisk)
			}
		}
	}
}

// startReceiver starts a real OTLP gRPC receiver on addr that keeps what it takes.
func startReceiver(t *testing.T, addr string) *consumertest.TracesSink {
	t.Helper()
	rf := otlpreceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig().(*otlpreceiver.Config)
	rcfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = addr
	sink := new(consumertest.TracesSink)
	rcv, err := rf.CreateTraces(t.Context(), receivertest.NewNopSettings(rf.Type()), rcfg, sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(t.Context(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, rcv.Shutdown(context.Background())) })
	return sink
}

// startQueuedExporter starts segment_storage on dir and the traces exporter ef makes, named id,
// queued and batched on that storage and sending to endpoint. stop shuts both down.
func startQueuedExporter(t *testing.T, ef exporter.Factory, id component.ID, dir, endpoint string) (exp exporter.Traces, stop func()) {
	t.Helper()
	ctx := t.Context()
	sf := segmentstorage.NewFactory()
	scfg := sf.CreateDefaultConfig().(*segmentstorage.Config)
	scfg.Directory = dir
	ext, err := sf.Create(ctx, extensiontest.NewNopSettings(sf.Type()), scfg)
	require.NoError(t, err)
	storageID := component.NewID(sf.Type())
	host := storageHost{storageID: ext}
	require.NoError(t, ext.Start(ctx, host))
	cfg := ef.CreateDefaultConfig()
	configure(t, cfg, endpoint, &storageID)
	set := exportertest.NewNopSettings(ef.Type())
	set.ID = id
	exp, err = ef.CreateTraces(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, host))
	return exp, func() {
		require.NoError(t, exp.Shutdown(context.Background()))
		require.NoError(t, ext.Shutdown(context.Background()))
	}
}

// TestDiskQueuedExporterLeavesDataAlone sends read-only traces (as a fan-out to several
// read-only consumers passes them) through otlp_grpc queued and batched on disk to a real OTLP
// receiver: pdata panics on any change to read-only data, and every span must arrive. (With the
// queue in memory it panics: "invalid access to shared data".)
func TestDiskQueuedExporterLeavesDataAlone(t *testing.T) {
	ctx := t.Context()
	f, err := Components()
	require.NoError(t, err)
	addrs, err := freeport.Addrs(1)
	require.NoError(t, err)
	sink := startReceiver(t, addrs[0])
	otlpGRPC := component.MustNewType("otlp_grpc")
	exp, stop := startQueuedExporter(t, f.Exporters[otlpGRPC], component.NewID(otlpGRPC), t.TempDir(), addrs[0])
	defer stop()
	require.False(t, exp.Capabilities().MutatesData)

	const requests, spans = 20, 30
	for i := range requests {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "checkout")
		ss := rs.ScopeSpans().AppendEmpty()
		for j := range spans {
			s := ss.Spans().AppendEmpty()
			s.SetName("GET /cart")
			s.SetSpanID([8]byte{byte(i), byte(j), 1})
			s.SetTraceID([16]byte{byte(i), 1})
			s.Attributes().PutInt("http.response.status_code", 200)
		}
		td.MarkReadOnly()
		require.NoError(t, exp.ConsumeTraces(ctx, td))
	}
	require.Eventually(t, func() bool { return sink.SpanCount() == requests*spans }, 10*time.Second, 10*time.Millisecond,
		"%d of %d spans arrived", sink.SpanCount(), requests*spans)
}

// TestUpgradeDeliversUpstreamQueue is an agent upgraded while its backend is down: upstream's
// otlp_grpc exporter queued spans on disk (segment_storage) and could not send them; Lookout's,
// started on the same directory under the same name, delivers every one.
func TestUpgradeDeliversUpstreamQueue(t *testing.T) {
	ctx := t.Context()
	f, err := Components()
	require.NoError(t, err)
	addrs, err := freeport.Addrs(1)
	require.NoError(t, err)
	dir := t.TempDir()
	id := component.MustNewIDWithName("otlp_grpc", "tempo")

	// Upstream's exporter, the backend down: the spans stay queued on disk.
	upstream, stop := startQueuedExporter(t, otlpexporter.NewFactory(), id, dir, addrs[0])
	const requests, spans = 10, 50
	for i := range requests {
		td := ptrace.NewTraces()
		ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
		for j := range spans {
			ss.Spans().AppendEmpty().SetSpanID([8]byte{byte(i), byte(j), 2})
		}
		require.NoError(t, upstream.ConsumeTraces(ctx, td))
	}
	time.Sleep(300 * time.Millisecond) // the queue's consumers take batches and fail to send them
	stop()

	// The backend is back, and the agent runs Lookout's exporter.
	sink := startReceiver(t, addrs[0])
	_, stop = startQueuedExporter(t, f.Exporters[component.MustNewType("otlp_grpc")], id, dir, addrs[0])
	defer stop()
	require.Eventually(t, func() bool { return sink.SpanCount() >= requests*spans }, 10*time.Second, 10*time.Millisecond,
		"%d of %d spans arrived", sink.SpanCount(), requests*spans)
	seen := map[[8]byte]int{}
	for _, td := range sink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			ss := rs.ScopeSpans().At(0).Spans()
			for i := range ss.Len() {
				seen[ss.At(i).SpanID()]++
			}
		}
	}
	require.Len(t, seen, requests*spans, "every span")
	require.Equal(t, requests*spans, sink.SpanCount(), "each once")
}

// storageHost is a component.Host with the given extensions.
type storageHost map[component.ID]component.Component

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h }
