package lokiexporter

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/s2"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
	"google.golang.org/protobuf/encoding/protowire"
)

// pushRequest is what the exporter's queue holds: logs already turned into Loki push bodies,
// one part per tenant. Logs are encoded and compressed once, as they arrive; the queue (in
// memory or on disk) keeps the compressed push bodies, several times smaller than the OTLP logs
// they came from, and a queue consumer only sends them.
//
// Batching never decodes them: two PushRequest encodings one after the other are one
// PushRequest with the streams of both (its only field is the repeated streams), and two snappy
// blocks are one block once their length headers are replaced by one for the sum (a block's
// copies only reach back into its own output), so merged parts are joined by s2.ConcatBlocks.
type pushRequest struct {
	parts []tenantPart
}

// tenantPart is one tenant's share of a request.
type tenantPart struct {
	tenant  string
	entries int
	size    int      // bytes of the PushRequest before compression
	blocks  [][]byte // snappy blocks of PushRequests; together, the tenant's push
	// queued, when set, is what the queue stores for a request of only this part: queueMagic,
	// then the part as queueEncoding frames it, its body being blocks[0].
	queued []byte
}

// newPart is the part of a tenant's push request of size bytes, compressed into body. It
// copies body once, into buf, which it frames for the queue: queueing a request of one part
// (convert's usual result) then copies nothing more. buf must have room for
// queuedSize(tenant, body).
func newPart(tenant string, entries, size int, body, buf []byte) tenantPart {
	q := append(buf[:0], queueMagic...)
	q = appendPart(q, tenant, entries, body)
	return tenantPart{tenant: tenant, entries: entries, size: size, blocks: [][]byte{q[len(q)-len(body):]}, queued: q}
}

// queuedSize bounds what newPart makes of a tenant's body.
func queuedSize(tenant string, body []byte) int {
	return len(queueMagic) + partFraming(tenant) + len(body)
}

var (
	_ xexporterhelper.Request                                    = (*pushRequest)(nil)
	_ xexporterhelper.RequestErrorHandler                        = (*pushRequest)(nil)
	_ exporterhelper.QueueBatchEncoding[xexporterhelper.Request] = queueEncoding{}
)

// body is the part's push body, snappy-compressed.
func (p tenantPart) body() ([]byte, error) {
	if len(p.blocks) == 1 {
		return p.blocks[0], nil
	}
	b, err := s2.ConcatBlocks(nil, p.blocks...)
	if err != nil {
		return nil, fmt.Errorf("join queued push bodies of tenant %q: %w", p.tenant, err)
	}
	return b, nil
}

// raw is the part's PushRequest, decompressed.
func (p tenantPart) raw() ([]byte, error) {
	raw := make([]byte, p.size)
	off := 0
	for _, b := range p.blocks {
		n, err := s2.DecodedLen(b)
		if err == nil && off+n > len(raw) {
			err = errors.New("longer than recorded")
		}
		if err == nil {
			_, err = s2.Decode(raw[off:off+n], b)
		}
		if err != nil {
			return nil, fmt.Errorf("decompress queued push body of tenant %q: %w", p.tenant, err)
		}
		off += n
	}
	return raw[:off], nil
}

// ItemsCount is the number of entries.
func (r *pushRequest) ItemsCount() int {
	n := 0
	for _, p := range r.parts {
		n += p.entries
	}
	return n
}

// BytesSize is the size of the push requests before compression: what the queue's bytes sizer
// counts (so batch sizes mean what Loki receives; the queue itself holds the compressed bodies).
func (r *pushRequest) BytesSize() int {
	n := 0
	for _, p := range r.parts {
		n += p.size
	}
	return n
}

// add appends p's streams to the part of the same tenant, or adds it as a new part.
func (r *pushRequest) add(p tenantPart) {
	for i := range r.parts {
		if q := &r.parts[i]; q.tenant == p.tenant {
			q.entries += p.entries
			q.size += p.size
			q.queued = nil
			q.blocks = append(q.blocks[:len(q.blocks):len(q.blocks)], p.blocks...) // never into a shared array
			return
		}
	}
	r.parts = append(r.parts, p)
}

// MergeSplit appends other's streams to r's and, when maxSize is set, cuts the result into
// requests of at most maxSize entries or bytes, at stream boundaries. A single stream larger
// than maxSize is sent whole (nothing is dropped); that is the only case where a request exceeds it.
func (r *pushRequest) MergeSplit(_ context.Context, maxSize int, szt exporterhelper.RequestSizerType, other xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	var size func(entries, bytes int) int
	switch szt {
	case exporterhelper.RequestSizerTypeBytes:
		size = func(_, bytes int) int { return bytes }
	case exporterhelper.RequestSizerTypeItems:
		size = func(entries, _ int) int { return entries }
	default:
		return nil, fmt.Errorf("loki exporter: batching by %q is not supported (use items or bytes)", szt.String())
	}
	merged := &pushRequest{parts: make([]tenantPart, 0, len(r.parts)+1)}
	for _, p := range r.parts {
		merged.add(p)
	}
	if other != nil {
		o, ok := other.(*pushRequest)
		if !ok {
			return nil, fmt.Errorf("loki exporter: cannot merge a %T", other)
		}
		for _, p := range o.parts {
			merged.add(p)
		}
	}
	if maxSize <= 0 || size(merged.ItemsCount(), merged.BytesSize()) <= maxSize {
		return []xexporterhelper.Request{merged}, nil
	}
	return merged.split(maxSize, size)
}

// split cuts r into requests of at most maxSize (by size), at stream boundaries, in order.
func (r *pushRequest) split(maxSize int, size func(entries, bytes int) int) ([]xexporterhelper.Request, error) {
	var (
		out   []xexporterhelper.Request
		group []rawStream // streams of the next request
		n     int
	)
	flush := func() {
		req := &pushRequest{}
		for i := 0; i < len(group); {
			// Consecutive streams of one tenant become one block.
			j, raw, entries := i, []byte(nil), 0
			for ; j < len(group) && group[j].tenant == group[i].tenant; j++ {
				raw = append(raw, group[j].raw...)
				entries += group[j].entries
			}
			req.add(tenantPart{tenant: group[i].tenant, entries: entries, size: len(raw), blocks: [][]byte{snappy.Encode(nil, raw)}})
			i = j
		}
		out = append(out, req)
		group, n = nil, 0
	}
	for _, p := range r.parts {
		raw, err := p.raw()
		if err != nil {
			return nil, err
		}
		streams, err := splitStreams(p.tenant, raw)
		if err != nil {
			return nil, err
		}
		for _, s := range streams {
			k := size(s.entries, len(s.raw))
			if n > 0 && n+k > maxSize {
				flush()
			}
			group = append(group, s)
			n += k
		}
	}
	if len(group) > 0 || len(out) == 0 {
		flush()
	}
	return out, nil
}

// rawStream is one stream of a decompressed PushRequest: its field in the request, as is.
type rawStream struct {
	tenant  string
	entries int
	raw     []byte
}

// splitStreams cuts a PushRequest into its streams (field 1), counting each stream's entries
// (field 2 of a Stream).
func splitStreams(tenant string, raw []byte) ([]rawStream, error) {
	var out []rawStream
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			return nil, fmt.Errorf("loki exporter: queued push request of tenant %q: bad stream field", tenant)
		}
		stream, m := protowire.ConsumeBytes(raw[n:])
		if m < 0 {
			return nil, fmt.Errorf("loki exporter: queued push request of tenant %q: truncated stream", tenant)
		}
		entries, err := countEntries(stream)
		if err != nil {
			return nil, fmt.Errorf("loki exporter: queued push request of tenant %q: %w", tenant, err)
		}
		out = append(out, rawStream{tenant: tenant, entries: entries, raw: raw[: n+m : n+m]})
		raw = raw[n+m:]
	}
	return out, nil
}

// countEntries counts the entries (field 2) of an encoded logproto.Stream.
func countEntries(stream []byte) (int, error) {
	n := 0
	for len(stream) > 0 {
		num, typ, k := protowire.ConsumeTag(stream)
		if k < 0 {
			return 0, errors.New("bad field in stream")
		}
		m := protowire.ConsumeFieldValue(num, typ, stream[k:])
		if m < 0 {
			return 0, errors.New("truncated field in stream")
		}
		if num == 2 {
			n++
		}
		stream = stream[k+m:]
	}
	return n, nil
}

// failedTenants is the error of a push in which some tenants failed with a retryable error:
// OnError keeps only their parts, so a retry does not send the others twice.
type failedTenants struct {
	err     error
	tenants map[string]bool
}

func (f *failedTenants) Error() string { return f.err.Error() }
func (f *failedTenants) Unwrap() error { return f.err }

// OnError returns what is left to send after err: the tenants that failed, or all of r.
func (r *pushRequest) OnError(err error) xexporterhelper.Request {
	var f *failedTenants
	if !errors.As(err, &f) {
		return r
	}
	left := &pushRequest{}
	for _, p := range r.parts {
		if f.tenants[p.tenant] {
			left.parts = append(left.parts, p)
		}
	}
	return left
}

// queueEncoding stores requests in the persistent queue: a magic prefix, then per part the
// tenant, the entry count and the body, each length-prefixed (uvarint).
type queueEncoding struct {
	// convert turns logs that an earlier version queued as OTLP into a request, so that an
	// upgrade loses nothing that was on disk.
	convert func(context.Context, plog.Logs) (xexporterhelper.Request, error)
}

// queueMagic starts every queued request of this format ("Lookout Loki push, v1"). What an
// earlier version queued cannot start with it: exporterhelper's request envelope starts with
// 0x0d, bare OTLP logs with field 1 (0x0a); 'L' (0x4c) would be field 9, wire type 4, which
// neither uses.
var queueMagic = []byte("LKLP\x01")

func (queueEncoding) Marshal(_ context.Context, req xexporterhelper.Request) ([]byte, error) {
	r, ok := req.(*pushRequest)
	if !ok {
		return nil, fmt.Errorf("loki exporter: cannot queue a %T", req)
	}
	if len(r.parts) == 1 && r.parts[0].queued != nil {
		return r.parts[0].queued, nil
	}
	size := len(queueMagic)
	for _, p := range r.parts {
		size += partFraming(p.tenant)
		for _, b := range p.blocks {
			size += len(b)
		}
	}
	out := make([]byte, 0, size)
	out = append(out, queueMagic...)
	for _, p := range r.parts {
		body, err := p.body()
		if err != nil {
			return nil, err
		}
		out = appendPart(out, p.tenant, p.entries, body)
	}
	return out, nil
}

// partFraming bounds the bytes that appendPart adds to a part's body.
func partFraming(tenant string) int {
	return 3*binary.MaxVarintLen64 + len(tenant)
}

// appendPart appends a part as the queue stores it: its tenant, entry count and body.
func appendPart(b []byte, tenant string, entries int, body []byte) []byte {
	b = protowire.AppendString(b, tenant)
	b = protowire.AppendVarint(b, uint64(entries))
	return protowire.AppendBytes(b, body)
}

// Unmarshal reads a queued request. Its parts point into b, which the queue does not reuse.
func (e queueEncoding) Unmarshal(b []byte) (context.Context, xexporterhelper.Request, error) {
	ctx := context.Background()
	if !bytes.HasPrefix(b, queueMagic) {
		return e.unmarshalOTLP(b)
	}
	b = b[len(queueMagic):]
	r := &pushRequest{}
	for len(b) > 0 {
		tenant, n := protowire.ConsumeString(b)
		if n < 0 {
			return ctx, nil, errors.New("loki exporter: queued request: bad tenant")
		}
		b = b[n:]
		entries, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return ctx, nil, errors.New("loki exporter: queued request: bad entry count")
		}
		b = b[n:]
		body, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return ctx, nil, errors.New("loki exporter: queued request: truncated body")
		}
		b = b[n:]
		size, err := s2.DecodedLen(body)
		if err != nil {
			return ctx, nil, fmt.Errorf("loki exporter: queued request: body of tenant %q: %w", tenant, err)
		}
		r.parts = append(r.parts, tenantPart{tenant: tenant, entries: int(entries), size: size, blocks: [][]byte{body}})
	}
	return ctx, r, nil
}

// unmarshalOTLP reads what exporterhelper's own logs encoding queued (OTLP logs, with or
// without their context), as this exporter did before it queued push requests.
func (e queueEncoding) unmarshalOTLP(b []byte) (context.Context, xexporterhelper.Request, error) {
	ctx, ld, err := pdatareq.UnmarshalLogs(b)
	if errors.Is(err, pdatareq.ErrInvalidFormat) {
		ctx = context.Background()
		ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
	}
	if err != nil {
		return ctx, nil, fmt.Errorf("loki exporter: queued request is neither a push request nor OTLP logs: %w", err)
	}
	req, err := e.convert(ctx, ld)
	return ctx, req, err
}
