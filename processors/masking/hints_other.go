//go:build !amd64

package maskingprocessor

// vectorHints: hints reads with hintMasks (amd64 only).
const vectorHints = false

// hints returns the rules that the hint bytes of s may start (see prescan).
func hints(s string) uint8 {
	return hintsByPasses(s)
}
