package maskingprocessor

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The regular expressions of the OTTL preset this processor replaced: the hand-written finders
// must find the same matches (cards without the Luhn check, which the preset did not have).
var referenceRules = []struct {
	name string
	re   *regexp.Regexp
	repl string
	find finder
	need uint8 // prescan's bit for the rule
}{
	{"emails", regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`), "****", findEmail, needEmail},
	{"bearer_tokens", regexp.MustCompile(`(?i)\bbearer\s+[A-Za-z0-9._~+/-]+=*`), "****", findBearer, needBearer},
	{"secret_pairs", regexp.MustCompile(`(?i)([A-Za-z0-9_.-]*(password|passwd|secret|api[_-]?key|token|authorization)"?\s*[=:]\s*)((bearer|basic|digest|token)\s+)?("[^"]*"|[^\s",;&]+)`), "${1}****", findPairValue, needPair},
	{"card_numbers", regexp.MustCompile(`\b(4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|6011|65\d{2})([ -]?\d{4}){3}\b|\b3[47]\d{2}[ -]?\d{6}[ -]?\d{5}\b`), "****",
		func(s string, from int) (int, int) { return findCardLuhn(s, from, false) }, needCard},
}

// secretKeyRE is the redaction processor's blocked key pattern of the preset, with the s flag:
// isSecretKey also masks a key with a line break before its keyword (the preset's "." stopped there).
var secretKeyRE = regexp.MustCompile(`(?is)^(.*[._-])?(password|passwd|secret|token|api[._-]?key|authorization|credentials?)$`)

// fragments are what random test strings are made of: pieces of every rule, and their edges.
var fragments = strings.Fields(`a Z 9 0 4 _ . - + % ~ / = == : " , ; & @ é ✓ \t \n
	bob x.y@ex.com a@b @b.c .co .c1 .com1 co uk localhost
	bearer Bearer BEARER basic Basic digest token Token tokens
	password PASSWORD passwd secret SECRET api_key api-key apikey API_KEY authorization Authorization
	4111 1111 4111111111111111 5500 0000 0004 378282 24631 0005 3782 6011 6511 2221 1234 12345 123456 00000`)

func randomString(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(12) {
		b.WriteString(strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(fragments[rng.IntN(len(fragments))]))
		switch rng.IntN(4) {
		case 0:
			b.WriteByte(' ')
		case 1:
			b.WriteByte("  -=:\"@.,"[rng.IntN(9)])
		}
	}
	return b.String()
}

func TestFindersMatchRegexps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50_000 {
		s := randomString(rng)
		for _, r := range referenceRules {
			want := r.re.ReplaceAllString(s, r.repl)
			got, changed := replaceAll(s, "****", r.find)
			require.Equal(t, want, got, "%s on %q", r.name, s)
			require.Equal(t, want != s, changed, "%s on %q", r.name, s)
			if r.re.MatchString(s) {
				require.NotZero(t, prescan(s)&r.need, "prescan misses %s in %q", r.name, s)
			}
		}
		require.Equal(t, secretKeyRE.MatchString(s), isSecretKey(s), "secret key %q", s)
	}
}

func FuzzFindersMatchRegexps(f *testing.F) {
	for _, s := range Samples {
		f.Add(s.In)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range referenceRules {
			want := r.re.ReplaceAllString(s, r.repl)
			got, _ := replaceAll(s, "****", r.find)
			if want != got {
				t.Fatalf("%s on %q: regexp %q, finder %q", r.name, s, want, got)
			}
			if r.re.MatchString(s) && prescan(s)&r.need == 0 {
				t.Fatalf("prescan misses %s in %q", r.name, s)
			}
		}
		if secretKeyRE.MatchString(s) != isSecretKey(s) {
			t.Fatalf("secret key %q: regexp %v", s, secretKeyRE.MatchString(s))
		}
	})
}

func TestLuhn(t *testing.T) {
	for _, tt := range []struct {
		digits string
		ok     bool
	}{{"4111111111111111", true}, {"4111111111111112", false}, {"378282246310005", true}, {"2221000000000009", true}, {"79927398713", true}, {"79927398710", false}} {
		d := []byte(tt.digits)
		for i := range d {
			d[i] -= '0'
		}
		require.Equal(t, tt.ok, luhnValid(d), tt.digits)
	}
}
