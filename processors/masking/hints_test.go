package maskingprocessor

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireVector skips where hints is hintsByPasses (no AVX2, or not amd64).
func requireVector(t testing.TB) {
	if !vectorHints {
		t.Skip("hints is hintsByPasses here")
	}
}

// TestHintsAgree checks that the vector hints find what the IndexByte passes find: on long
// random strings of the rules' pieces, and with each rule's hint at every place in and around
// 32-byte blocks.
func TestHintsAgree(t *testing.T) {
	requireVector(t)
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
	requireVector(f)
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
