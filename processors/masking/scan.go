package maskingprocessor

import "strings"

// The rules' matchers, written by hand. Each one finds the same matches as the regular expression
// in its comment (leftmost first, as Go's regexp.ReplaceAllString does; differential tests check
// it) but starts from a cheap pre-scan: strings.IndexByte (vectorised) for a byte every match must
// contain, so that a value with nothing to mask is read a few times at memory speed and nothing is
// allocated. Case-insensitive comparisons fold ASCII letters only. Each finder returns the next
// match at or after from, [start, end), or start < 0.

// Byte classes.
const (
	cWord   uint8 = 1 << iota // [A-Za-z0-9_]: \b
	cDigit                    // [0-9]
	cLetter                   // [A-Za-z]
	cLocal                    // [A-Za-z0-9._%+-]: the local part of an e-mail address
	cDomain                   // [A-Za-z0-9-]: a domain label
	cToken                    // [A-Za-z0-9._~+/-]: a bearer token
	cSpace                    // [\t\n\f\r ]: \s
	cStop                     // \s " , ; &: ends an unquoted secret value
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		letter := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
		digit := '0' <= b && b <= '9'
		if letter {
			t[c] |= cLetter
		}
		if digit {
			t[c] |= cDigit
		}
		if letter || digit || b == '_' {
			t[c] |= cWord
		}
		if letter || digit || strings.IndexByte("._%+-", b) >= 0 {
			t[c] |= cLocal
		}
		if letter || digit || b == '-' {
			t[c] |= cDomain
		}
		if letter || digit || strings.IndexByte("._~+/-", b) >= 0 {
			t[c] |= cToken
		}
		if strings.IndexByte("\t\n\f\r ", b) >= 0 {
			t[c] |= cSpace | cStop
		}
		if strings.IndexByte(`",;&`, b) >= 0 {
			t[c] |= cStop
		}
	}
	return t
}()

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// hasPrefixFold reports whether s starts with kw (lower case) with ASCII letters folded.
func hasPrefixFold(s, kw string) bool {
	if len(s) < len(kw) {
		return false
	}
	for i := 0; i < len(kw); i++ {
		if lower(s[i]) != kw[i] {
			return false
		}
	}
	return true
}

// hasSuffixFold reports whether s ends with kw (lower case) with ASCII letters folded.
func hasSuffixFold(s, kw string) bool {
	return len(s) >= len(kw) && hasPrefixFold(s[len(s)-len(kw):], kw)
}

// byteScanner yields, in order, the positions in s of either of two bytes, each searched with
// strings.IndexByte and remembered, so that s is read once per byte whatever the number of hits.
type byteScanner struct {
	s      string
	a, b   byte
	na, nb int // next position of a and b at or after the cursor; len(s) for none
}

func newByteScanner(s string, from int, a, b byte) byteScanner {
	sc := byteScanner{s: s, a: a, b: b}
	sc.na = sc.index(from, a)
	sc.nb = sc.index(from, b)
	return sc
}

func (sc *byteScanner) index(from int, c byte) int {
	if from >= len(sc.s) {
		return len(sc.s)
	}
	if i := strings.IndexByte(sc.s[from:], c); i >= 0 {
		return from + i
	}
	return len(sc.s)
}

// next returns the next position at or after from, or -1.
func (sc *byteScanner) next(from int) int {
	if sc.na < from {
		sc.na = sc.index(from, sc.a)
	}
	if sc.nb < from {
		sc.nb = sc.index(from, sc.b)
	}
	p := min(sc.na, sc.nb)
	if p >= len(sc.s) {
		return -1
	}
	return p
}

// Rules a value may need, from prescan.
const (
	needEmail uint8 = 1 << iota
	needBearer
	needPair
	needCard
)

// hintBytes are the bytes prescan looks for, with the rule each may start.
var hintBytes = [...]struct {
	c    byte
	need uint8
}{{'@', needEmail}, {'=', needPair}, {':', needPair}, {'b', needBearer}, {'B', needBearer}}

// prescanByPasses reads s and returns which rules can match in it (a superset: each finder then
// looks for real matches): an '@' between a local-part and a domain character, "bearer" at the
// start of a word, a '=' or ':' after a secret pair's keyword (hintsByPasses finds these), and
// (probed every cardProbe bytes) a run of at least 15 digits. prescan gives the same answer,
// with vector instructions where it can (hints_amd64.go).
func prescanByPasses(s string) uint8 {
	need := hintsByPasses(s)
	if mayHaveCard(s) {
		need |= needCard
	}
	return need
}

// vectorMin is the shortest value that prescan reads 32 bytes at a time where it can (amd64 with
// AVX2): below it the IndexByte passes of hintsByPasses cost no more.
const vectorMin = 64

// hintsByPasses finds prescanByPasses' hints with strings.IndexByte (vector instructions): one
// pass per hint byte, and a pass stops once its rule is known to be needed. About three times
// faster on 200-byte lines than one loop testing every byte against a table
// (BenchmarkMaskString; reading 8 bytes at a time with SWAR tests measured no faster than the
// table); but each hit restarts IndexByte, which costs more than the reading on long lines with
// many hint bytes.
func hintsByPasses(s string) uint8 {
	var need uint8
	for _, h := range hintBytes {
		for i := 0; need&h.need == 0; i++ {
			j := strings.IndexByte(s[i:], h.c)
			if j < 0 {
				break
			}
			i += j
			need |= hintAt(s, i)
		}
	}
	return need
}

// hintAt looks at the hint byte s[i] and returns the rule it may start.
func hintAt(s string, i int) uint8 {
	switch s[i] {
	case '@':
		if i > 0 && class[s[i-1]]&cLocal != 0 && i+1 < len(s) && class[s[i+1]]&cDomain != 0 {
			return needEmail
		}
	case 'b', 'B':
		if hasPrefixFold(s[i:], "bearer") && (i == 0 || class[s[i-1]]&cWord == 0) {
			return needBearer
		}
	default: // '=', ':'
		k := i
		for k > 0 && class[s[k-1]]&cSpace != 0 {
			k--
		}
		if k > 0 && s[k-1] == '"' {
			k--
		}
		if pairKeywordEnd(s[:k]) {
			return needPair
		}
	}
	return 0
}

// mayHaveCard probes s every cardProbe bytes for a run of at least 15 digits (with single
// spaces or dashes between them), which every card number is part of.
func mayHaveCard(s string) bool {
	for q := 0; q < len(s); q += cardProbe {
		if !inDigitRun(s, q) {
			continue
		}
		_, re, digits := digitRun(s, 0, q)
		if digits >= 15 {
			return true
		}
		q = re - cardProbe
	}
	return false
}

// findEmail: [A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}
func findEmail(s string, from int) (int, int) {
	for at := from; at < len(s); {
		i := strings.IndexByte(s[at:], '@')
		if i < 0 {
			return -1, -1
		}
		a := at + i
		// The local part is the whole run of local characters before the '@' (down to from:
		// the previous match ends there), since '@' is not one of them.
		st := a
		for st > from && class[s[st-1]]&cLocal != 0 {
			st--
		}
		if st < a {
			if end := emailDomainEnd(s, a+1); end > 0 {
				return st, end
			}
		}
		at = a + 1
	}
	return -1, -1
}

// emailDomainEnd returns where the domain starting at d ends, or -1: the labels are whole runs of
// [A-Za-z0-9-] separated by single dots; the match ends after the letters that start the last
// label (not the first) with at least two of them, as the greedy group's backtracking does.
func emailDomainEnd(s string, d int) int {
	i := d
	for i < len(s) && class[s[i]]&cDomain != 0 {
		i++
	}
	if i == d {
		return -1
	}
	end := -1
	for i+1 < len(s) && s[i] == '.' && class[s[i+1]]&cDomain != 0 {
		j := i + 1
		for j < len(s) && class[s[j]]&cLetter != 0 {
			j++
		}
		if j-(i+1) >= 2 {
			end = j
		}
		for j < len(s) && class[s[j]]&cDomain != 0 {
			j++
		}
		i = j
	}
	return end
}

// findBearer: (?i)\bbearer\s+[A-Za-z0-9._~+/-]+=*
func findBearer(s string, from int) (int, int) {
	const kw = "bearer"
	sc := newByteScanner(s, from, 'b', 'B')
	for k := sc.next(from); k >= 0; k = sc.next(k + 1) {
		if !hasPrefixFold(s[k:], kw) || k > 0 && class[s[k-1]]&cWord != 0 {
			continue
		}
		j := k + len(kw)
		sp := j
		for j < len(s) && class[s[j]]&cSpace != 0 {
			j++
		}
		if j == sp {
			continue
		}
		t := j
		for j < len(s) && class[s[j]]&cToken != 0 {
			j++
		}
		if j == t {
			continue
		}
		for j < len(s) && s[j] == '=' {
			j++
		}
		return k, j
	}
	return -1, -1
}

// pairKeywords end the key of a secret pair (in lower case).
var pairKeywords = []string{"password", "passwd", "secret", "apikey", "api_key", "api-key", "token", "authorization"}

// pairKeywordsByLast are pairKeywords by their last letter: pairKeywordEnd looks only at the
// keywords that end with the key's last letter.
var pairKeywordsByLast = func() (by [256][]string) {
	for _, kw := range pairKeywords {
		by[kw[len(kw)-1]] = append(by[kw[len(kw)-1]], kw)
	}
	return by
}()

// pairSchemes may precede the value of a secret pair; they are masked with it.
var pairSchemes = []string{"bearer", "basic", "digest", "token"}

// findPairValue finds a secret pair and returns the part to mask: the value with its scheme.
// (?i)([A-Za-z0-9_.-]*(password|passwd|secret|api[_-]?key|token|authorization)"?\s*[=:]\s*)((bearer|basic|digest|token)\s+)?("[^"]*"|[^\s",;&]+)
// replaced with ${1}mask: the key, the separator and the blanks after it stay.
func findPairValue(s string, from int) (int, int) {
	sc := newByteScanner(s, from, '=', ':')
	for p := sc.next(from); p >= 0; p = sc.next(p + 1) {
		// Back from the separator: blanks, an optional quote, then a keyword ending there.
		k := p
		for k > from && class[s[k-1]]&cSpace != 0 {
			k--
		}
		if k > from && s[k-1] == '"' {
			k--
		}
		if k == from || !pairKeywordEnd(s[from:k]) {
			continue
		}
		j := p + 1
		for j < len(s) && class[s[j]]&cSpace != 0 {
			j++
		}
		for _, scheme := range pairSchemes {
			if !hasPrefixFold(s[j:], scheme) {
				continue
			}
			v := j + len(scheme)
			sp := v
			for v < len(s) && class[s[v]]&cSpace != 0 {
				v++
			}
			if v > sp {
				if end := valueEnd(s, v); end > 0 {
					return j, end
				}
			}
			break // the schemes do not start with one another
		}
		if end := valueEnd(s, j); end > 0 {
			return j, end
		}
	}
	return -1, -1
}

// pairKeywordEnd reports whether s ends with one of pairKeywords.
func pairKeywordEnd(s string) bool {
	if len(s) == 0 {
		return false
	}
	for _, kw := range pairKeywordsByLast[lower(s[len(s)-1])] {
		if hasSuffixFold(s, kw) {
			return true
		}
	}
	return false
}

// valueEnd returns the end of a secret value starting at j ("[^"]*"|[^\s",;&]+), or -1.
func valueEnd(s string, j int) int {
	if j >= len(s) {
		return -1
	}
	if s[j] == '"' {
		if q := strings.IndexByte(s[j+1:], '"'); q >= 0 {
			return j + 1 + q + 1
		}
		return -1
	}
	e := j
	for e < len(s) && class[s[e]]&cStop == 0 {
		e++
	}
	if e == j {
		return -1
	}
	return e
}

// keyKeywords name a secret when a key ends with one of them, after its start or a '.', '_' or
// '-': (?i)^(.*[._-])?(password|passwd|secret|token|api[._-]?key|authorization|credentials?)$
var keyKeywords = []string{"password", "passwd", "secret", "token", "apikey", "api.key", "api_key", "api-key", "authorization", "credential", "credentials"}

// isSecretKey reports whether an attribute key names a secret.
func isSecretKey(k string) bool {
	if len(k) < 5 {
		return false
	}
	switch lower(k[len(k)-1]) {
	case 'd', 't', 'n', 'y', 'l', 's':
	default:
		return false
	}
	for _, kw := range keyKeywords {
		if !hasSuffixFold(k, kw) {
			continue
		}
		if i := len(k) - len(kw); i == 0 || k[i-1] == '.' || k[i-1] == '_' || k[i-1] == '-' {
			return true
		}
	}
	return false
}

// cardMinRun is the length of the shortest run of digits and separators (inDigitRun) that holds
// a card number: 15 digits.
const cardMinRun = 15

// cardProbe is the stride of the card pre-scan: every card number's run spans at least
// cardMinRun bytes, so a probe every cardMinRun bytes lands in each one.
const cardProbe = cardMinRun

// findCard finds a payment card number with a valid Luhn check digit:
// \b(4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|6011|65\d{2})([ -]?\d{4}){3}\b|\b3[47]\d{2}[ -]?\d{6}[ -]?\d{5}\b
func findCard(s string, from int) (int, int) {
	return findCardLuhn(s, from, true)
}

func findCardLuhn(s string, from int, luhn bool) (int, int) {
	for q := from; q < len(s); q += cardProbe {
		if !inDigitRun(s, q) {
			continue
		}
		rs, re, digits := digitRun(s, from, q)
		if digits >= 15 {
			for st := rs; st < re; st++ {
				if class[s[st]]&cDigit == 0 || st > 0 && class[s[st-1]]&cWord != 0 {
					continue
				}
				if end := cardAt(s, st, luhn); end > 0 {
					return st, end
				}
			}
		}
		// Go on probing at the end of the run (re > q, so this moves forward).
		q = re - cardProbe
	}
	return -1, -1
}

// digitRun returns the run of digits and single separators around s[q] (a digit or a separator in
// a run), not reaching back before from, and how many digits it holds.
func digitRun(s string, from, q int) (rs, re, digits int) {
	rs, re = q, q+1
	for rs > from && inDigitRun(s, rs-1) {
		rs--
	}
	for re < len(s) && inDigitRun(s, re) {
		re++
	}
	for i := rs; i < re; i++ {
		if class[s[i]]&cDigit != 0 {
			digits++
		}
	}
	return rs, re, digits
}

// inDigitRun reports whether s[i] is a digit, or a space or dash between two digits.
func inDigitRun(s string, i int) bool {
	c := s[i]
	if class[c]&cDigit != 0 {
		return true
	}
	return (c == ' ' || c == '-') && i > 0 && i+1 < len(s) && class[s[i-1]]&cDigit != 0 && class[s[i+1]]&cDigit != 0
}

// cardAt returns the end of a card number starting at st, or -1.
func cardAt(s string, st int, luhn bool) int {
	var d [16]byte
	n := 0
	// group reads an optional separator (unless first) and size digits at i.
	group := func(i, size int, first bool) int {
		if !first && i < len(s) && (s[i] == ' ' || s[i] == '-') {
			i++
		}
		if i+size > len(s) {
			return -1
		}
		for k := 0; k < size; k++ {
			if class[s[i+k]]&cDigit == 0 {
				return -1
			}
			d[n] = s[i+k] - '0'
			n++
		}
		return i + size
	}
	var sizes []int
	if len(s)-st < 4 {
		return -1
	}
	a, b := s[st], s[st+1]
	switch {
	case a == '4', a == '5' && '1' <= b && b <= '5', a == '2' && '2' <= b && b <= '7', a == '6' && b == '5', strings.HasPrefix(s[st:], "6011"):
		sizes = []int{4, 4, 4, 4}
	case a == '3' && (b == '4' || b == '7'):
		sizes = []int{4, 6, 5}
	default:
		return -1
	}
	i := st
	for g, size := range sizes {
		if i = group(i, size, g == 0); i < 0 {
			return -1
		}
	}
	if i < len(s) && class[s[i]]&cWord != 0 {
		return -1
	}
	if luhn && !luhnValid(d[:n]) {
		return -1
	}
	return i
}

// luhnValid reports whether the last digit is the Luhn check digit of the others.
func luhnValid(d []byte) bool {
	sum := 0
	for i := range d {
		v := int(d[len(d)-1-i])
		if i%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}
