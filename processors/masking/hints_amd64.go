package maskingprocessor

import (
	"math/bits"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// hintMasks sets dst[k], for each of the blocks 32-byte blocks from p, to the masks of the
// positions in block k (bit j for byte j) that hold '@' (dst[k][0]), 'b' or 'B' ([1]), 'e' or
// 'E' ([2]), '=' or ':' ([3]), and a digit, ' ' or '-' ([4]). It needs AVX2 (hints_amd64.s).
//
//go:noescape
func hintMasks(p *byte, blocks int, dst *[5]uint32)

// vectorHints: prescan reads with hintMasks.
var vectorHints = cpu.X86.HasAVX2

// prescan returns which rules can match in s, as prescanByPasses does. With AVX2 one pass finds
// every hint, 32 bytes at a time, with a mask per rule so that hintAt sees only the hits of rules
// not yet needed, and only the 'b's followed by an 'e' (hintsByPasses restarts
// strings.IndexByte at every 'b' and '=', which on long lines costs more than reading them). The
// same pass measures the runs of digits, spaces and dashes: mayHaveCard reads s only when one is
// cardMinRun bytes long, as every card number's run of digits and separators (inDigitRun) is.
func prescan(s string) uint8 {
	if !vectorHints || len(s) < vectorMin {
		return prescanByPasses(s)
	}
	const all = needEmail | needBearer | needPair
	var (
		need  uint8
		long  bool          // a run of cardMinRun bytes or more was seen
		run   int           // the bytes of the run that ends where the blocks read so far end
		masks [32][5]uint32 // a KiB of s per call
	)
	p := unsafe.StringData(s)
	full := len(s) / 32
	for at := 0; at < full && (need != all || !long); {
		n := min(full-at, len(masks))
		hintMasks((*byte)(unsafe.Add(unsafe.Pointer(p), at*32)), n, &masks[0])
		for k := range masks[:n] {
			need = blockHints(s, (at+k)*32, &masks[k], ^uint32(0), need)
			if !long {
				long, run = longRun(masks[k][4], run)
			}
		}
		at += n
	}
	if rest := len(s) % 32; rest > 0 && (need != all || !long) {
		// The last 32 bytes again, without the bytes already read.
		from := len(s) - 32
		hintMasks((*byte)(unsafe.Add(unsafe.Pointer(p), from)), 1, &masks[0])
		need = blockHints(s, from, &masks[0], ^uint32(0)<<(32-rest), need)
		if !long {
			long, _ = longRun(masks[0][4]>>(32-rest), run)
		}
	}
	if long && mayHaveCard(s) {
		need |= needCard
	}
	return need
}

// longRun reads the mask of the digits, spaces and dashes of the next bytes, bit j for byte j (a
// block, or the rest of one shifted down), after a run of run such bytes. It reports whether a
// run reaches cardMinRun bytes, and if not, returns the run at the end of the block.
func longRun(r uint32, run int) (bool, int) {
	if run+bits.TrailingZeros32(^r) >= cardMinRun {
		return true, 0
	}
	x := r & (r >> 1) // bit j: bytes j to j+1 are in the mask
	x &= x >> 2       // j to j+3
	x &= x >> 4       // j to j+7
	x &= x >> 7       // j to j+14
	return x != 0, bits.LeadingZeros32(^r)
}

// blockHints adds to need the rules of the hits of the block of s at at (its masks m, the bits
// in keep) that can start a rule not yet needed: every '@', '=' and ':', and each 'b' followed by
// an 'e' (or at the end of the block, whatever follows it).
func blockHints(s string, at int, m *[5]uint32, keep uint32, need uint8) uint8 {
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
