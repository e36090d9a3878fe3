package tracequeue

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestApplies(t *testing.T) {
	storage := component.MustNewID("segment_storage")
	batch := exporterhelper.BatchConfig{FlushTimeout: time.Second, Sizer: exporterhelper.RequestSizerTypeItems, MinSize: 8192}
	for _, tc := range []struct {
		name  string
		queue func(*exporterhelper.QueueBatchConfig)
		want  bool
	}{
		{"in memory", func(*exporterhelper.QueueBatchConfig) {}, false},
		{"on disk, not batched", func(q *exporterhelper.QueueBatchConfig) { q.StorageID = &storage }, true},
		{"on disk, batched", func(q *exporterhelper.QueueBatchConfig) {
			q.StorageID = &storage
			q.Batch = configoptional.Some(batch)
		}, true},
		{"on disk, batched with a maximum", func(q *exporterhelper.QueueBatchConfig) {
			q.StorageID = &storage
			b := batch
			b.MaxSize = 10000
			q.Batch = configoptional.Some(b)
		}, false},
		{"on disk, batched by client metadata", func(q *exporterhelper.QueueBatchConfig) {
			q.StorageID = &storage
			b := batch
			b.Partition.MetadataKeys = []string{"tenant"}
			q.Batch = configoptional.Some(b)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := otlpexporter.NewFactory().CreateDefaultConfig().(*otlpexporter.Config)
			q := exporterhelper.NewDefaultQueueConfig()
			tc.queue(&q)
			cfg.QueueConfig = configoptional.Some(q)
			require.Equal(t, tc.want, Applies(cfg))
		})
	}
	cfg := otlpexporter.NewFactory().CreateDefaultConfig().(*otlpexporter.Config)
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	require.False(t, Applies(cfg), "no queue")
}

func TestExportError(t *testing.T) {
	withRetryInfo := func(c codes.Code, d time.Duration) error {
		st, err := status.New(c, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		require.NoError(t, err)
		return st.Err()
	}
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
		throttle  string
	}{
		{"unavailable", status.Error(codes.Unavailable, "down"), false, ""},
		{"deadline", status.Error(codes.DeadlineExceeded, "slow"), false, ""},
		{"unavailable, retry in 3s", withRetryInfo(codes.Unavailable, 3*time.Second), false, "Throttle (3s)"},
		{"resource exhausted", status.Error(codes.ResourceExhausted, "full"), true, ""},
		{"resource exhausted, retry in 2s", withRetryInfo(codes.ResourceExhausted, 2*time.Second), false, "Throttle (2s)"},
		{"invalid argument", status.Error(codes.InvalidArgument, "bad"), true, ""},
		{"unauthenticated", status.Error(codes.Unauthenticated, "who"), true, ""},
		{"not a status", errors.New("connection reset"), true, ""}, // codes.Unknown
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := exportError(tc.err)
			require.Error(t, err)
			require.Equal(t, tc.permanent, consumererror.IsPermanent(err), "%v", err)
			if tc.throttle != "" {
				require.ErrorContains(t, err, tc.throttle)
			}
		})
	}
	require.NoError(t, exportError(nil))
}

// tracesServer is an OTLP trace server that answers with err, or a partial success.
type tracesServer struct {
	ptraceotlp.UnimplementedGRPCServer
	mu       sync.Mutex
	err      error
	rejected int64
	got      []ptrace.Traces
}

func (s *tracesServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := ptraceotlp.NewExportResponse()
	if s.err != nil {
		return resp, s.err
	}
	td := ptrace.NewTraces()
	req.Traces().CopyTo(td)
	s.got = append(s.got, td)
	if s.rejected > 0 {
		resp.PartialSuccess().SetRejectedSpans(s.rejected)
		resp.PartialSuccess().SetErrorMessage("too old")
	}
	return resp, nil
}

// TestPush sends a batch of two requests, as the queue joins them, to a real gRPC server (with
// the default gzip compression), then gets its errors and a partial success back.
func TestPush(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	ts := &tracesServer{}
	ptraceotlp.RegisterGRPCServer(srv, ts)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	cfg := otlpexporter.NewFactory().CreateDefaultConfig().(*otlpexporter.Config)
	cfg.ClientConfig.Endpoint = lis.Addr().String()
	cfg.ClientConfig.TLS.Insecure = true
	core, logs := observer.New(zap.WarnLevel)
	set := exportertest.NewNopSettings(component.MustNewType("otlp_grpc"))
	set.Logger = zap.New(core)
	e := &grpcExporter{cfg: cfg, set: set}
	require.NoError(t, e.start(t.Context(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })

	a, b, want := twoRequests(t)
	batch, err := a.MergeSplit(t.Context(), 0, exporterhelper.RequestSizerTypeItems, b)
	require.NoError(t, err)
	require.NoError(t, e.push(t.Context(), batch[0]))
	require.Len(t, ts.got, 1)
	require.Equal(t, want, ts.got[0])

	ts.rejected = 2
	require.NoError(t, e.push(t.Context(), a))
	require.Equal(t, 1, logs.FilterMessage("Partial success response").Len())

	ts.err = status.Error(codes.Unavailable, "restarting")
	err = e.push(t.Context(), a)
	require.ErrorContains(t, err, "restarting")
	require.False(t, consumererror.IsPermanent(err))
	ts.err = status.Error(codes.InvalidArgument, "bad span")
	require.True(t, consumererror.IsPermanent(e.push(t.Context(), a)))
}
