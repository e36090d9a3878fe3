#include "textflag.h"

// func hintMasks(p *byte, blocks int, dst *[5]uint32)
// Requires AVX2 and blocks >= 1. For block k: dst[k][0] '@', [1] 'b' or 'B', [2] 'e' or 'E',
// [3] '=' or ':', [4] '0' to '9', ' ' or '-'.
TEXT ·hintMasks(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ blocks+8(FP), CX
	MOVQ dst+16(FP), DI
	MOVQ $0x40, AX // '@'
	MOVQ AX, X1
	VPBROADCASTB X1, Y1
	MOVQ $0x20, AX // the ASCII case bit, and ' '
	MOVQ AX, X2
	VPBROADCASTB X2, Y2
	MOVQ $0x62, AX // 'b' ('B' with the case bit set)
	MOVQ AX, X3
	VPBROADCASTB X3, Y3
	MOVQ $0x65, AX // 'e'
	MOVQ AX, X4
	VPBROADCASTB X4, Y4
	MOVQ $0x3d, AX // '='
	MOVQ AX, X5
	VPBROADCASTB X5, Y5
	MOVQ $0x3a, AX // ':'
	MOVQ AX, X6
	VPBROADCASTB X6, Y6
	MOVQ $0x30, AX // '0'
	MOVQ AX, X10
	VPBROADCASTB X10, Y10
	MOVQ $0x09, AX // '9' - '0'
	MOVQ AX, X11
	VPBROADCASTB X11, Y11
	MOVQ $0x2d, AX // '-'
	MOVQ AX, X13
	VPBROADCASTB X13, Y13

loop:
	VMOVDQU (SI), Y0
	VPCMPEQB Y0, Y1, Y7
	VPMOVMSKB Y7, AX
	MOVL AX, 0(DI)
	VPOR Y0, Y2, Y8
	VPCMPEQB Y8, Y3, Y7
	VPMOVMSKB Y7, AX
	MOVL AX, 4(DI)
	VPCMPEQB Y8, Y4, Y7
	VPMOVMSKB Y7, AX
	MOVL AX, 8(DI)
	VPCMPEQB Y0, Y5, Y7
	VPCMPEQB Y0, Y6, Y9
	VPOR Y7, Y9, Y7
	VPMOVMSKB Y7, AX
	MOVL AX, 12(DI)
	// A digit is a byte b with b - '0' at most 9, unsigned: min(b - '0', 9) == b - '0'.
	VPSUBB Y10, Y0, Y7
	VPMINUB Y11, Y7, Y8
	VPCMPEQB Y8, Y7, Y7
	VPCMPEQB Y0, Y2, Y8
	VPCMPEQB Y0, Y13, Y9
	VPOR Y7, Y8, Y7
	VPOR Y7, Y9, Y7
	VPMOVMSKB Y7, AX
	MOVL AX, 16(DI)
	ADDQ $32, SI
	ADDQ $20, DI
	DECQ CX
	JNZ loop
	VZEROUPPER
	RET
