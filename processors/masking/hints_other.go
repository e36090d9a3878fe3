//go:build !amd64

package maskingprocessor

// vectorHints: prescan reads with hintMasks (amd64 only).
const vectorHints = false

// prescan returns which rules can match in s (see prescanByPasses).
func prescan(s string) uint8 {
	return prescanByPasses(s)
}
