package maskingprocessor

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/cpu"
)

func requireAVX2(t testing.TB) {
	if !cpu.X86.HasAVX2 {
		t.Skip("no AVX2: hints uses hintsByPasses")
	}
}

// TestHintMasks checks the assembly against a byte-by-byte mask on random bytes (every value).
func TestHintMasks(t *testing.T) {
	requireAVX2(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		blocks := 1 + rng.IntN(40)
		b := make([]byte, blocks*32)
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = "@=:bBeE"[rng.IntN(7)]
			} else {
				b[i] = byte(rng.IntN(256))
			}
		}
		got := make([][4]uint32, blocks+1)
		got[blocks] = [4]uint32{0xdeadbeef}
		hintMasks(&b[0], blocks, &got[0])
		for k := range blocks {
			var want [4]uint32
			for j := range 32 {
				for r, set := range []string{"@", "bB", "eE", "=:"} {
					if strings.IndexByte(set, b[k*32+j]) >= 0 {
						want[r] |= 1 << j
					}
				}
			}
			require.Equal(t, want, got[k], "block %d of %q", k, b)
		}
		require.Equal(t, [4]uint32{0xdeadbeef}, got[blocks], "wrote past the last block")
	}
}

// TestHintsAgree checks that the vector hints find what the IndexByte passes find: on long
// random strings of the rules' pieces, and with each rule's hint at every place in and around
// 32-byte blocks.
func TestHintsAgree(t *testing.T) {
	requireAVX2(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50_000 {
		var b strings.Builder
		for n := rng.IntN(700); b.Len() < n; {
			b.WriteString(randomString(rng))
		}
		s := b.String()
		require.Equal(t, hintsByPasses(s), hints(s), "%q", s)
	}
	for _, hint := range []string{"a@b", "bearer", "BEARER", "bEaReR", "b", "be", "password=", "token:", "x=", "@"} {
		for n := vectorMin; n < 3*32+vectorMin; n++ {
			for at := 0; at+len(hint) <= n; at++ {
				s := strings.Repeat("x", at) + hint + strings.Repeat(" ", n-at-len(hint))
				require.Equal(t, hintsByPasses(s), hints(s), "%q", s)
			}
		}
	}
}

// FuzzHintsAgree checks hints against hintsByPasses on what the fuzzer finds, lengthened to
// reach the vector code.
func FuzzHintsAgree(f *testing.F) {
	requireAVX2(f)
	for _, s := range Samples {
		f.Add(s.In)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range []string{s, s + strings.Repeat(" ", vectorMin), strings.Repeat(s, vectorMin/(len(s)+1)+1)} {
			if got, want := hints(v), hintsByPasses(v); got != want {
				t.Fatalf("hints(%q) = %b, hintsByPasses %b", v, got, want)
			}
		}
	})
}
