package maskingprocessor

import (
	"math/bits"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// hintMasks sets dst[k], for each of the blocks 32-byte blocks from p, to the masks of the
// positions in block k (bit j for byte j) that hold '@' (dst[k][0]), 'b' or 'B' ([1]), 'e' or
// 'E' ([2]), and '=' or ':' ([3]). It needs AVX2 (hints_amd64.s).
//
//go:noescape
func hintMasks(p *byte, blocks int, dst *[4]uint32)

// vectorHints: hints reads with hintMasks.
var vectorHints = cpu.X86.HasAVX2

// hints returns the rules that the hint bytes of s may start (see prescan). With AVX2 one pass
// finds them all, 32 bytes at a time, with a mask per rule so that hintAt sees only the hits of
// rules not yet needed, and only the 'b's followed by an 'e' (hintsByPasses restarts
// strings.IndexByte at every 'b' and '=', which on long lines costs more than reading them).
func hints(s string) uint8 {
	if !vectorHints || len(s) < vectorMin {
		return hintsByPasses(s)
	}
	const all = needEmail | needBearer | needPair
	var (
		need  uint8
		masks [32][4]uint32 // a KiB of s per call
	)
	p := unsafe.StringData(s)
	full := len(s) / 32
	for at := 0; at < full && need != all; {
		n := min(full-at, len(masks))
		hintMasks((*byte)(unsafe.Add(unsafe.Pointer(p), at*32)), n, &masks[0])
		for k := range masks[:n] {
			need = blockHints(s, (at+k)*32, &masks[k], ^uint32(0), need)
		}
		at += n
	}
	if rest := len(s) % 32; rest > 0 && need != all {
		// The last 32 bytes again, without the bytes already read.
		from := len(s) - 32
		hintMasks((*byte)(unsafe.Add(unsafe.Pointer(p), from)), 1, &masks[0])
		need = blockHints(s, from, &masks[0], ^uint32(0)<<(32-rest), need)
	}
	return need
}

// blockHints adds to need the rules of the hits of the block of s at at (its masks m, the bits
// in keep) that can start a rule not yet needed: every '@', '=' and ':', and each 'b' followed by
// an 'e' (or at the end of the block, whatever follows it).
func blockHints(s string, at int, m *[4]uint32, keep uint32, need uint8) uint8 {
	for {
		var hits uint32
		if need&needEmail == 0 {
			hits |= m[0]
		}
		if need&needBearer == 0 {
			hits |= m[1] & (m[2]>>1 | 1<<31)
		}
		if need&needPair == 0 {
			hits |= m[3]
		}
		hits &= keep
		for ; hits != 0; hits &= hits - 1 {
			j := bits.TrailingZeros32(hits)
			if r := hintAt(s, at+j); r != 0 {
				need |= r
				keep = ^uint32(0) << j << 1 // on from the next byte, without r's hits
				break
			}
		}
		if hits == 0 {
			return need
		}
	}
}
