package grpczstd

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/encoding"
)

// payload is n bytes of something like an OTLP request: repetitive, not constant.
func payload(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "\x0a\x2e svc-%d GET /api/v1/orders/%d http.response.status_code %d ", i%5, 10000+i, 200+i%7)
	}
	return b.Bytes()[:n]
}

func compress(t testing.TB, c encoding.Compressor, in []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := c.Compress(&out)
	require.NoError(t, err)
	_, err = w.Write(in)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return out.Bytes()
}

func decompress(t testing.TB, c encoding.Compressor, in []byte) []byte {
	t.Helper()
	r, err := c.Decompress(bytes.NewReader(in))
	require.NoError(t, err)
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return out
}

func TestRegistered(t *testing.T) {
	c, ok := encoding.GetCompressor("zstd").(*compressor)
	require.True(t, ok, "gRPC's zstd compressor is %T", encoding.GetCompressor("zstd"))
	require.Equal(t, "zstd", c.Name())
	in := payload(300 << 10)
	require.Equal(t, in, decompress(t, c, compress(t, c, in)))
}

func TestEncodersOutliveGC(t *testing.T) {
	c := newCompressor(encoding.GetCompressor("zstd").(*compressor).Compressor, 2)
	dec, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer dec.Close()

	first := payload(100 << 10)
	got, err := dec.DecodeAll(compress(t, c, first), nil)
	require.NoError(t, err)
	require.Equal(t, first, got)
	require.Len(t, c.idle, 1, "the encoder is back in the free list once closed")

	runtime.GC()
	runtime.GC() // sync.Pool would be empty now
	var out bytes.Buffer
	w, err := c.Compress(&out)
	require.NoError(t, err)
	require.Empty(t, c.idle, "the idle encoder was taken after two collections")
	// A reused encoder starts a new, independent frame.
	second := payload(40 << 10)[1000:]
	_, err = w.Write(second)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "a second Close does nothing")
	require.Len(t, c.idle, 1)
	got, err = dec.DecodeAll(out.Bytes(), nil)
	require.NoError(t, err)
	require.Equal(t, second, got)
}

func TestFreeListBounded(t *testing.T) {
	c := newCompressor(encoding.GetCompressor("zstd").(*compressor).Compressor, 2)
	var ws []io.WriteCloser
	for range 5 {
		w, err := c.Compress(io.Discard)
		require.NoError(t, err)
		ws = append(ws, w)
	}
	for _, w := range ws {
		require.NoError(t, w.Close())
	}
	require.Len(t, c.idle, 2)
}

func TestConcurrent(t *testing.T) {
	c := newCompressor(encoding.GetCompressor("zstd").(*compressor).Compressor, 2)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				in := payload(1000 + 997*g + 131*i)
				if out := decompress(t, c, compress(t, c, in)); !bytes.Equal(in, out) {
					t.Errorf("goroutine %d message %d: round trip changed the data", g, i)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkCompress compresses a 300 KB request (a second of the agent's spans) as gRPC does,
// with configgrpc's compressor and with this one, with a garbage collection between messages (as
// when an exporter sends once a second) and without.
func BenchmarkCompress(b *testing.B) {
	upstream := encoding.GetCompressor("zstd").(*compressor).Compressor
	in := payload(300 << 10)
	for _, gc := range []bool{true, false} {
		for _, cc := range []struct {
			name string
			c    encoding.Compressor
		}{{"configgrpc", upstream}, {"grpczstd", newCompressor(upstream, runtime.GOMAXPROCS(0))}} {
			b.Run(fmt.Sprintf("gc=%t/compressor=%s", gc, cc.name), func(b *testing.B) {
				var out bytes.Buffer
				b.SetBytes(int64(len(in)))
				b.ReportAllocs()
				for b.Loop() {
					if gc {
						b.StopTimer()
						runtime.GC()
						runtime.GC()
						b.StartTimer()
					}
					out.Reset()
					w, err := cc.c.Compress(&out)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := w.Write(in); err != nil {
						b.Fatal(err)
					}
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
