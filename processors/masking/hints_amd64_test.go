package maskingprocessor

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHintMasks checks the assembly against a byte-by-byte mask on random bytes (every value).
func TestHintMasks(t *testing.T) {
	requireVector(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		blocks := 1 + rng.IntN(40)
		b := make([]byte, blocks*32)
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = "@=:bBeE09 -/:"[rng.IntN(13)]
			} else {
				b[i] = byte(rng.IntN(256))
			}
		}
		got := make([][5]uint32, blocks+1)
		got[blocks] = [5]uint32{0xdeadbeef}
		hintMasks(&b[0], blocks, &got[0])
		for k := range blocks {
			var want [5]uint32
			for j := range 32 {
				for r, set := range []string{"@", "bB", "eE", "=:", "0123456789 -"} {
					if strings.IndexByte(set, b[k*32+j]) >= 0 {
						want[r] |= 1 << j
					}
				}
			}
			require.Equal(t, want, got[k], "block %d of %q", k, b)
		}
		require.Equal(t, [5]uint32{0xdeadbeef}, got[blocks], "wrote past the last block")
	}
}
