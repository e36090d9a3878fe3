package tracequeue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/lookoutdev/lookout/extensions/segmentstorage"
)

// QueueOnDisk reports whether a sending queue is enabled and kept on disk (storage is set).
func QueueOnDisk(q configoptional.Optional[exporterhelper.QueueBatchConfig]) bool {
	return q.HasValue() && q.Get().StorageID != nil
}

// Applies reports whether cfg is one this package exports for: the sending queue on disk,
// batching (if at all) without a maximum size or partitions.
func Applies(cfg *otlpexporter.Config) bool {
	if !QueueOnDisk(cfg.QueueConfig) {
		return false
	}
	q := cfg.QueueConfig.Get()
	if !q.Batch.HasValue() {
		return true
	}
	b := q.Batch.Get()
	return b.MaxSize == 0 && len(b.Partition.MetadataKeys) == 0
}

// NewTraces is the traces exporter of otlp_grpc for a cfg that Applies.
func NewTraces(ctx context.Context, set exporter.Settings, cfg *otlpexporter.Config) (exporter.Traces, error) {
	if !Applies(cfg) {
		return nil, errors.New("otlp_grpc traces: the encoded queue needs a sending queue on disk, batched without max_size or partitions")
	}
	e := &grpcExporter{cfg: cfg, set: set}
	exp, err := xexporterhelper.NewTracesRequest(ctx, set, e.convert, e.push,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(cfg.TimeoutConfig),
		exporterhelper.WithRetry(cfg.RetryConfig),
		xexporterhelper.WithQueueBatch(cfg.QueueConfig, xexporterhelper.QueueBatchSettings{Encoding: queueEncoding{}}),
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithAttrs(endpointAttributes(cfg.ClientConfig.Endpoint)...),
	)
	if err != nil {
		return nil, err
	}
	return givingTraces{exp}, nil
}

// givingTraces gives segment_storage the buffer of each request it queues (GiveValues), to
// keep in its read cache instead of a copy: newRequest encodes every request into a buffer of
// its own, which the persistent queue stores as it is (queueEncoding) and then drops.
type givingTraces struct{ exporter.Traces }

func (g givingTraces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return g.Traces.ConsumeTraces(segmentstorage.GiveValues(ctx), td)
}

// exportMethod is OTLP's trace export RPC.
const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

type grpcExporter struct {
	cfg  *otlpexporter.Config
	set  exporter.Settings
	conn *grpc.ClientConn
}

func (e *grpcExporter) start(ctx context.Context, host component.Host) error {
	// The same connection upstream's exporter makes: TLS, auth, headers, compression,
	// keepalive and balancer all come from configgrpc.
	ua := fmt.Sprintf("%s/%s (%s/%s)", e.set.BuildInfo.Description, e.set.BuildInfo.Version, runtime.GOOS, runtime.GOARCH)
	conn, err := e.cfg.ClientConfig.ToClientConn(ctx, host.GetExtensions(), e.set.TelemetrySettings,
		configgrpc.WithGrpcDialOption(grpc.WithUserAgent(ua)))
	if err != nil {
		return err
	}
	e.conn = conn
	return nil
}

func (e *grpcExporter) shutdown(context.Context) error {
	if e.conn != nil {
		return e.conn.Close()
	}
	return nil
}

func (e *grpcExporter) convert(_ context.Context, td ptrace.Traces) (xexporterhelper.Request, error) {
	return newRequest(td)
}

func (e *grpcExporter) push(ctx context.Context, req xexporterhelper.Request) error {
	r, ok := req.(*spansRequest)
	if !ok {
		return consumererror.NewPermanent(fmt.Errorf("otlp_grpc traces: cannot send a %T", req))
	}
	if e.conn == nil {
		return errors.New("otlp_grpc traces: exporter not started")
	}
	var resp rawMessage
	err := e.conn.Invoke(ctx, exportMethod, &rawMessage{chunks: r.chunks}, &resp,
		grpc.ForceCodecV2(rawCodec{}), grpc.WaitForReady(e.cfg.ClientConfig.WaitForReady))
	if err := exportError(err); err != nil {
		return err
	}
	partial := ptraceotlp.NewExportResponse()
	if err := partial.UnmarshalProto(resp.body); err != nil {
		// The spans were taken; only the answer is unreadable.
		e.set.Logger.Warn("Unreadable export response", zap.Error(err))
		return nil
	}
	if ps := partial.PartialSuccess(); ps.ErrorMessage() != "" || ps.RejectedSpans() != 0 {
		e.set.Logger.Warn("Partial success response",
			zap.String("message", ps.ErrorMessage()),
			zap.Int64("dropped_spans", ps.RejectedSpans()))
	}
	return nil
}

// exportError classifies an export's error by OTLP's rules: these codes are retried (after the
// delay the server asks for, if it does); ResourceExhausted only when the server says when;
// every other code is permanent.
func exportError(err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	var retryInfo *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retryInfo = ri
		}
	}
	switch st.Code() {
	case codes.OK:
		return nil
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss:
	case codes.ResourceExhausted:
		if retryInfo == nil {
			return consumererror.NewPermanent(err)
		}
	default:
		return consumererror.NewPermanent(err)
	}
	if d := retryInfo.GetRetryDelay().AsDuration(); d > 0 {
		return exporterhelper.NewThrottleRetry(err, d)
	}
	return err
}

// endpointAttributes are the server.address and server.port of the exporter's own telemetry.
func endpointAttributes(endpoint string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return []attribute.KeyValue{attribute.String("server.address", endpoint)}
	}
	out := []attribute.KeyValue{attribute.String("server.address", host)}
	if p, err := strconv.Atoi(port); err == nil {
		out = append(out, attribute.Int("server.port", p))
	}
	return out
}

// rawMessage is a gRPC message that is already encoded: the chunks of a request going out, the
// body of a response coming in.
type rawMessage struct {
	chunks [][]byte
	body   []byte
}

// rawCodec sends and receives rawMessages as they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, fmt.Errorf("raw codec: cannot marshal a %T", v)
	}
	out := make(mem.BufferSlice, len(m.chunks))
	for i, c := range m.chunks {
		out[i] = mem.SliceBuffer(c)
	}
	return out, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into a %T", v)
	}
	m.body = data.Materialize()
	return nil
}

// Name is proto's: the content type stays application/grpc.
func (rawCodec) Name() string { return "proto" }
