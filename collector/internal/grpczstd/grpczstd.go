// Package grpczstd gives gRPC's "zstd" compressor encoders that outlive garbage collections.
//
// configgrpc registers the compressor that every gRPC client and server of the collector uses
// for "zstd". Its encoders wait in a sync.Pool, which the runtime empties at every other
// collection: an exporter that sends a request a second (the agent's otlp_grpc/tempo batches
// for a second) finds the pool empty each time and builds a new encoder, with its window and
// tables (~3.8 MB), and one goroutine per core to encode blocks on. Here idle encoders wait in a
// free list of at most GOMAXPROCS (as many as can encode at once) instead, and each encodes on
// the caller's goroutine (concurrency 1), with configgrpc's window. Decompression stays
// configgrpc's, with its limits on the window a frame may declare.
package grpczstd

import (
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
	_ "go.opentelemetry.io/collector/config/configgrpc" // registers the compressor wrapped here; its init runs before this package's
	"google.golang.org/grpc/encoding"
)

// window is configgrpc's encoder window: large enough for an OTLP request, small enough that an
// idle encoder holds little.
const window = 512 << 10

func init() {
	upstream := encoding.GetCompressor("zstd")
	if upstream == nil {
		panic("grpczstd: configgrpc registered no zstd compressor")
	}
	encoding.RegisterCompressor(newCompressor(upstream, runtime.GOMAXPROCS(0)))
}

// compressor compresses with its own encoders and decompresses with upstream's.
type compressor struct {
	encoding.Compressor // Name and Decompress
	idle                chan *zstd.Encoder
}

// newCompressor keeps at most maxIdle idle encoders.
func newCompressor(upstream encoding.Compressor, maxIdle int) *compressor {
	return &compressor{Compressor: upstream, idle: make(chan *zstd.Encoder, maxIdle)}
}

func (c *compressor) Compress(w io.Writer) (io.WriteCloser, error) {
	var enc *zstd.Encoder
	select {
	case enc = <-c.idle:
		enc.Reset(w)
	default:
		var err error
		if enc, err = zstd.NewWriter(w, zstd.WithWindowSize(window), zstd.WithEncoderConcurrency(1)); err != nil {
			return nil, err
		}
	}
	return &encoder{Encoder: enc, idle: c.idle}, nil
}

// encoder returns its zstd.Encoder to the free list when closed. gRPC closes it once the
// message is written; one it abandons after a failed Write is left to the garbage collector.
type encoder struct {
	*zstd.Encoder
	idle chan *zstd.Encoder
}

func (e *encoder) Close() error {
	enc := e.Encoder
	if enc == nil {
		return nil
	}
	e.Encoder = nil
	err := enc.Close()
	enc.Reset(nil) // hold no reference to gRPC's buffer while idle
	select {
	case e.idle <- enc:
	default: // enough idle already
	}
	return err
}
