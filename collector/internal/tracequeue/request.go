// Package tracequeue is the traces half of Lookout's otlp_grpc exporter when its sending queue is
// on disk and batches without a maximum size (the agent's otlp_grpc/tempo): the queue holds the
// OTLP-encoded requests, batches are made by joining them, and they are sent as they are.
//
// Upstream's exporter queues pdata: each request is encoded onto disk, decoded when read back,
// merged span by span into a batch, and encoded again to be sent. Two encodings of an
// ExportTraceServiceRequest one after the other are one request with the resource spans of both
// (its only field is the repeated resource_spans), so nothing here decodes a span: a request is
// encoded once, as it arrives, and its bytes go to disk, into a batch and onto the wire. The
// config, the queue's place on disk, the exporter's own metrics and its errors are upstream's.
package tracequeue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/xpdata/request"
	"google.golang.org/protobuf/encoding/protowire"
)

// spansRequest is a batch of encoded ExportTraceServiceRequests; the concatenation of its
// chunks is the one request it sends.
type spansRequest struct {
	chunks [][]byte
	spans  int
	size   int // bytes of all chunks
}

var (
	_ xexporterhelper.Request                                    = (*spansRequest)(nil)
	_ exporterhelper.QueueBatchEncoding[xexporterhelper.Request] = queueEncoding{}
)

// newRequest encodes td.
func newRequest(td ptrace.Traces) (*spansRequest, error) {
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td) // TracesData: the same fields as the request
	if err != nil {
		return nil, fmt.Errorf("encode spans: %w", err)
	}
	return &spansRequest{chunks: [][]byte{b}, spans: td.SpanCount(), size: len(b)}, nil
}

// ItemsCount is the number of spans.
func (r *spansRequest) ItemsCount() int { return r.spans }

// BytesSize is the size of the encoded request.
func (r *spansRequest) BytesSize() int { return r.size }

// MergeSplit appends other's chunks to r's. It never splits: the factory uses this request only
// when the batch has no maximum size, so the queue never asks it to (and an error says so if it
// does, rather than sending a batch larger than asked).
func (r *spansRequest) MergeSplit(_ context.Context, maxSize int, szt exporterhelper.RequestSizerType, other xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	merged := &spansRequest{
		chunks: r.chunks[:len(r.chunks):len(r.chunks)], // appends never write into a shared array
		spans:  r.spans,
		size:   r.size,
	}
	if other != nil {
		o, ok := other.(*spansRequest)
		if !ok {
			return nil, fmt.Errorf("otlp_grpc traces: cannot merge a %T", other)
		}
		merged.chunks = append(merged.chunks, o.chunks...)
		merged.spans += o.spans
		merged.size += o.size
	}
	if maxSize > 0 {
		var n int
		switch szt {
		case exporterhelper.RequestSizerTypeItems:
			n = merged.spans
		case exporterhelper.RequestSizerTypeBytes:
			n = merged.size
		default:
			n = 1
		}
		if n > maxSize {
			return nil, fmt.Errorf("otlp_grpc traces: a batch of %d (%s) is over the maximum of %d, which this exporter does not split",
				n, szt.String(), maxSize)
		}
	}
	return []xexporterhelper.Request{merged}, nil
}

// queueEncoding stores a request in the persistent queue: a magic prefix, the span count
// (uvarint), then the encoded request.
type queueEncoding struct{}

// queueMagic starts every request queued in this format ("Lookout OTLP traces, v1"). What
// upstream's exporter queued under the same name cannot start with it: its envelope starts with
// field 1 as a fixed32 (0x0d), bare OTLP with field 1 as bytes (0x0a); 'L' (0x4c) would be field
// 9, wire type 4, which neither uses.
var queueMagic = []byte("LKOT\x01")

func (queueEncoding) Marshal(_ context.Context, req xexporterhelper.Request) ([]byte, error) {
	r, ok := req.(*spansRequest)
	if !ok {
		return nil, fmt.Errorf("otlp_grpc traces: cannot queue a %T", req)
	}
	out := make([]byte, 0, len(queueMagic)+binary.MaxVarintLen64+r.size)
	out = append(out, queueMagic...)
	out = protowire.AppendVarint(out, uint64(r.spans))
	for _, c := range r.chunks {
		out = append(out, c...)
	}
	return out, nil
}

// Unmarshal reads a queued request; its chunk points into b, which the queue does not reuse.
// Requests that upstream's otlp_grpc exporter queued before (an agent upgraded with spans on
// disk) are decoded and encoded again, so that the upgrade loses none.
func (queueEncoding) Unmarshal(b []byte) (context.Context, xexporterhelper.Request, error) {
	ctx := context.Background()
	if !bytes.HasPrefix(b, queueMagic) {
		return unmarshalUpstream(b)
	}
	b = b[len(queueMagic):]
	spans, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return ctx, nil, errors.New("otlp_grpc traces: queued request: bad span count")
	}
	b = b[n:]
	return ctx, &spansRequest{chunks: [][]byte{b}, spans: int(spans), size: len(b)}, nil
}

// unmarshalUpstream reads what exporterhelper's traces encoding queued: its request envelope,
// or, from older versions, bare OTLP.
func unmarshalUpstream(b []byte) (context.Context, xexporterhelper.Request, error) {
	ctx, td, err := request.UnmarshalTraces(b)
	if errors.Is(err, request.ErrInvalidFormat) {
		td, err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
	}
	if err != nil {
		return ctx, nil, fmt.Errorf("otlp_grpc traces: queued request in upstream's format: %w", err)
	}
	r, err := newRequest(td)
	return ctx, r, err
}
