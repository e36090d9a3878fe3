package maskingprocessor

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireVector skips where prescan is prescanByPasses (no AVX2, or not amd64).
func requireVector(t testing.TB) {
	if !vectorHints {
		t.Skip("prescan is prescanByPasses here")
	}
}

// TestPrescanAgree checks that the vector prescan finds what the IndexByte passes and the card
// probes find: on long random strings of the rules' pieces, with each rule's hint at every place
// in and around 32-byte blocks, and on runs of digits and separators of every length around a
// card number's at every place.
func TestPrescanAgree(t *testing.T) {
	requireVector(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50_000 {
		var b strings.Builder
		for n := rng.IntN(700); b.Len() < n; {
			b.WriteString(randomString(rng))
		}
		s := b.String()
		require.Equal(t, prescanByPasses(s), prescan(s), "%q", s)
	}
	for _, hint := range []string{"a@b", "bearer", "BEARER", "bEaReR", "b", "be", "password=", "token:", "x=", "@"} {
		for n := vectorMin; n < 3*32+vectorMin; n++ {
			for at := 0; at+len(hint) <= n; at++ {
				s := strings.Repeat("x", at) + hint + strings.Repeat(" ", n-at-len(hint))
				require.Equal(t, prescanByPasses(s), prescan(s), "%q", s)
			}
		}
	}
	rng = rand.New(rand.NewPCG(7, 8))
	for _, sep := range []string{"", " ", "-", "  ", "--", "x"} {
		for digits := 12; digits <= 17; digits++ {
			var b strings.Builder
			for i := range digits {
				if i > 0 && i%4 == 0 {
					b.WriteString(sep)
				}
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
			run := b.String()
			for n := vectorMin; n < 3*32+vectorMin; n++ {
				for at := 0; at+len(run) <= n; at++ {
					for _, pad := range []string{"x", " ", "-", "7"} {
						s := strings.Repeat(pad, at) + run + strings.Repeat(pad, n-at-len(run))
						require.Equal(t, prescanByPasses(s), prescan(s), "%q", s)
					}
				}
			}
		}
	}
	for range 20_000 {
		b := make([]byte, vectorMin+rng.IntN(300))
		for i := range b {
			b[i] = "0123456789 -x"[rng.IntN(13)]
		}
		require.Equal(t, prescanByPasses(string(b)), prescan(string(b)), "%q", b)
	}
}

// FuzzPrescanAgree checks prescan against prescanByPasses on what the fuzzer finds, lengthened to
// reach the vector code.
func FuzzPrescanAgree(f *testing.F) {
	requireVector(f)
	for _, s := range Samples {
		f.Add(s.In)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range []string{s, s + strings.Repeat(" ", vectorMin), strings.Repeat(s, vectorMin/(len(s)+1)+1)} {
			if got, want := prescan(v), prescanByPasses(v); got != want {
				t.Fatalf("prescan(%q) = %b, prescanByPasses %b", v, got, want)
			}
		}
	})
}
