//go:build !purego

#include "textflag.h"

// ZERO_SUM clears the accumulators Y0-Y3: eight 32-bit lanes each.
#define ZERO_SUM \
	VPXOR Y0, Y0, Y0; \
	VPXOR Y1, Y1, Y1; \
	VPXOR Y2, Y2, Y2; \
	VPXOR Y3, Y3, Y3

// ADD_BLOCK widens the 32 little-endian 16-bit words of the 64-byte block
// at (SI) to 32 bits and adds them to the accumulators (clobbers Y4-Y7).
#define ADD_BLOCK \
	VPMOVZXWD (SI), Y4; \
	VPMOVZXWD 16(SI), Y5; \
	VPMOVZXWD 32(SI), Y6; \
	VPMOVZXWD 48(SI), Y7; \
	VPADDD    Y4, Y0, Y0; \
	VPADDD    Y5, Y1, Y1; \
	VPADDD    Y6, Y2, Y2; \
	VPADDD    Y7, Y3, Y3

// REDUCE_SUM widens each of the accumulators Y0-Y3's eight 32-bit lanes
// to 64 bits before adding them together, so the sum of the four cannot
// overflow, leaves the 64-bit total in AX (clobbers Y4, Y8, Y9) and
// clears the upper halves of the vector registers (VZEROUPPER).
#define REDUCE_SUM \
	VEXTRACTI128 $1, Y0, X4; \
	VPMOVZXDQ    X0, Y8; \
	VPMOVZXDQ    X4, Y9; \
	VPADDQ       Y9, Y8, Y8; \
	VEXTRACTI128 $1, Y1, X4; \
	VPMOVZXDQ    X1, Y9; \
	VPADDQ       Y9, Y8, Y8; \
	VPMOVZXDQ    X4, Y9; \
	VPADDQ       Y9, Y8, Y8; \
	VEXTRACTI128 $1, Y2, X4; \
	VPMOVZXDQ    X2, Y9; \
	VPADDQ       Y9, Y8, Y8; \
	VPMOVZXDQ    X4, Y9; \
	VPADDQ       Y9, Y8, Y8; \
	VEXTRACTI128 $1, Y3, X4; \
	VPMOVZXDQ    X3, Y9; \
	VPADDQ       Y9, Y8, Y8; \
	VPMOVZXDQ    X4, Y9; \
	VPADDQ       Y9, Y8, Y8; \
	VEXTRACTI128 $1, Y8, X9; \
	VPADDQ       X9, X8, X8; \
	VPSHUFD      $0x4e, X8, X9; \
	VPADDQ       X9, X8, X8; \
	VMOVQ        X8, AX; \
	VZEROUPPER;

// func sumWordsAVX2(b []byte) uint64
//
// Returns the plain (not one's complement) sum of the little-endian 16-bit
// words of b[:len(b)&^63], as a 64-bit integer. Each 32-bit lane of the
// four accumulators takes one word per 64-byte block, so len(b) must be at
// most 64 × 65536 bytes (4 MiB) for no lane to overflow; the caller
// splits longer input.
TEXT ·sumWordsAVX2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	SHRQ $6, CX
	ZERO_SUM
	TESTQ CX, CX
	JZ    reduce

loop:
	ADD_BLOCK
	ADDQ      $64, SI
	DECQ      CX
	JNZ       loop

reduce:
	REDUCE_SUM
	MOVQ         AX, ret+24(FP)
	RET

// func copySumWordsAVX2(dst, src []byte) uint64
//
// Copies src[:len(src)&^63] to dst and returns the plain sum of its
// little-endian 16-bit words, like sumWordsAVX2, in one pass: each 64-byte
// block is loaded, stored and widened while it is in L1. len(dst) must be
// at least len(src)&^63 and len(src) at most 4 MiB (see sumWordsAVX2).
TEXT ·copySumWordsAVX2(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $6, CX
	ZERO_SUM
	TESTQ CX, CX
	JZ    reduce

loop:
	VMOVDQU   (SI), Y8
	VMOVDQU   32(SI), Y9
	VMOVDQU   Y8, (DI)
	VMOVDQU   Y9, 32(DI)
	ADD_BLOCK
	ADDQ      $64, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       loop

reduce:
	REDUCE_SUM
	MOVQ         AX, ret+48(FP)
	RET
