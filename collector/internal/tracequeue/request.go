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

// queueEncoding stores a request in the persistent queue as the bytes it sends: a TracesData
// (what ExportTraceServiceRequest is on the wire), as it came from newRequest, without a copy.
// Reading it back counts its spans from the tags and lengths of the encoding (countSpans),
// without decoding a span.
type queueEncoding struct{}

// queueMagic started every request that Lookout queued before 2026-12-04 ("Lookout OTLP traces,
// v1"), followed by the span count (uvarint) and the request; such requests are still read.
// Neither upstream's envelope (field 1 as a fixed32: 0x0d) nor a TracesData (field 1 as bytes:
// 0x0a) can start with it: 'L' (0x4c) would be field 9, wire type 4.
var queueMagic = []byte("LKOT\x01")

func (queueEncoding) Marshal(_ context.Context, req xexporterhelper.Request) ([]byte, error) {
	r, ok := req.(*spansRequest)
	if !ok {
		return nil, fmt.Errorf("otlp_grpc traces: cannot queue a %T", req)
	}
	if len(r.chunks) == 1 {
		return r.chunks[0], nil
	}
	return bytes.Join(r.chunks, nil), nil
}

// Unmarshal reads a queued request; its chunk points into b, which the queue does not reuse.
// Requests that upstream's otlp_grpc exporter queued in its envelope (an agent upgraded with
// spans on disk) are decoded and encoded again, so that the upgrade loses none; the bare OTLP
// its older versions queued is what Lookout queues.
func (queueEncoding) Unmarshal(b []byte) (context.Context, xexporterhelper.Request, error) {
	ctx := context.Background()
	switch {
	case bytes.HasPrefix(b, queueMagic):
		b = b[len(queueMagic):]
		spans, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return ctx, nil, errors.New("otlp_grpc traces: queued request: bad span count")
		}
		b = b[n:]
		return ctx, &spansRequest{chunks: [][]byte{b}, spans: int(spans), size: len(b)}, nil
	case len(b) > 0 && b[0] != tracesDataTag:
		return unmarshalUpstream(b)
	}
	spans, err := countSpans(b)
	if err != nil {
		return ctx, nil, fmt.Errorf("otlp_grpc traces: queued request: %w", err)
	}
	return ctx, &spansRequest{chunks: [][]byte{b}, spans: spans, size: len(b)}, nil
}

// tracesDataTag starts a TracesData with spans: field 1 (resource_spans), length-delimited.
var tracesDataTag = byte(protowire.EncodeTag(1, protowire.BytesType))

// countSpans counts the spans of an encoded TracesData: it reads the tags and lengths of its
// resource_spans (field 1), of their scope_spans (2) and of those's spans (2), and jumps over
// everything else.
func countSpans(b []byte) (int, error) {
	n := 0
	err := eachField(b, 1, func(rs []byte) error {
		return eachField(rs, 2, func(ss []byte) error {
			return eachField(ss, 2, func([]byte) error {
				n++
				return nil
			})
		})
	})
	if err != nil {
		return 0, fmt.Errorf("malformed OTLP traces: %w", err)
	}
	return n, nil
}

// eachField calls fn with the value of each length-delimited field num of the message b.
func eachField(b []byte, num protowire.Number, fn func([]byte) error) error {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return protowire.ParseError(l)
			}
			if err := fn(v); err != nil {
				return err
			}
			b = b[l:]
			continue
		}
		if l = protowire.ConsumeFieldValue(n, typ, b); l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
	}
	return nil
}

// unmarshalUpstream reads what exporterhelper's traces encoding queued in its request envelope.
func unmarshalUpstream(b []byte) (context.Context, xexporterhelper.Request, error) {
	ctx, td, err := request.UnmarshalTraces(b)
	if err != nil {
		return ctx, nil, fmt.Errorf("otlp_grpc traces: queued request in upstream's format: %w", err)
	}
	r, err := newRequest(td)
	return ctx, r, err
}
