package bench

import (
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The sinks read only the fields they count from OTLP requests, with protowire, instead of
// decoding whole requests into pdata: at hundreds of thousands of items a second the sink shares
// the machine with the collector under test, and decoding everything would take CPU from it.
// TestOTLPWireMatchesPdata checks these walkers against pdata's encoding.

// Field numbers of opentelemetry-proto (collector/*/v1, logs/v1, trace/v1, common/v1).
const (
	fieldResourceLogs   = 1 // ExportLogsServiceRequest.resource_logs
	fieldScopeLogs      = 2 // ResourceLogs.scope_logs
	fieldLogRecords     = 2 // ScopeLogs.log_records
	fieldLogBody        = 5 // LogRecord.body
	fieldStringValue    = 1 // AnyValue.string_value
	fieldResourceSpans  = 1 // ExportTraceServiceRequest.resource_spans
	fieldScopeSpans     = 2 // ResourceSpans.scope_spans
	fieldSpans          = 2 // ScopeSpans.spans
	fieldSpanID         = 2 // Span.span_id
	wireTypeLengthDelim = protowire.BytesType
)

// eachBytesField calls fn with the payload of every length-delimited field num of message b.
func eachBytesField(b []byte, num protowire.Number, fn func([]byte) error) error {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return fmt.Errorf("bad tag: %w", protowire.ParseError(l))
		}
		b = b[l:]
		if n == num && typ == wireTypeLengthDelim {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return fmt.Errorf("field %d: %w", n, protowire.ParseError(l))
			}
			if err := fn(v); err != nil {
				return err
			}
			b = b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return fmt.Errorf("field %d: %w", n, protowire.ParseError(l))
		}
		b = b[l:]
	}
	return nil
}

// walkLogBodies calls fn with the string body of every log record of an
// ExportLogsServiceRequest (a record whose body is not a string gets "").
func walkLogBodies(req []byte, fn func(body []byte)) error {
	return eachBytesField(req, fieldResourceLogs, func(rl []byte) error {
		return eachBytesField(rl, fieldScopeLogs, func(sl []byte) error {
			return eachBytesField(sl, fieldLogRecords, func(lr []byte) error {
				var body []byte
				err := eachBytesField(lr, fieldLogBody, func(any []byte) error {
					return eachBytesField(any, fieldStringValue, func(s []byte) error {
						body = s
						return nil
					})
				})
				fn(body)
				return err
			})
		})
	})
}

// walkSpanIDs calls fn with the span ID of every span of an ExportTraceServiceRequest.
func walkSpanIDs(req []byte, fn func(id []byte)) error {
	return eachBytesField(req, fieldResourceSpans, func(rs []byte) error {
		return eachBytesField(rs, fieldScopeSpans, func(ss []byte) error {
			return eachBytesField(ss, fieldSpans, func(sp []byte) error {
				var id []byte
				err := eachBytesField(sp, fieldSpanID, func(v []byte) error {
					id = v
					return nil
				})
				fn(id)
				return err
			})
		})
	})
}

// spanSeq is the generator's sequence number carried in a span ID (seq+1, big-endian: a span
// ID of zeros is invalid).
func spanSeq(id []byte) (uint64, bool) {
	if len(id) != 8 {
		return 0, false
	}
	v := binary.BigEndian.Uint64(id)
	if v == 0 {
		return 0, false
	}
	return v - 1, true
}

func spanIDFor(seq uint64) [8]byte {
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], seq+1)
	return id
}
