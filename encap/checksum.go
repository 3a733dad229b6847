package encap

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Checksum returns the 16-bit one's complement sum (RFC 1071) of b, added
// to initial, folded to 16 bits but NOT complemented. An odd trailing byte
// is padded with a zero byte on the right, as RFC 1071 §4.1 does.
//
// initial is an unfolded partial sum, typically PseudoHeaderChecksum's
// result or 0. The value to store in a header's checksum field is
// ^Checksum(...) computed with that field zeroed; a received header (or
// segment plus pseudo-header) is intact when Checksum over it returns
// 0xffff. Checksum never allocates and is safe for concurrent use.
func Checksum(b []byte, initial uint32) uint16 {
	// The one's complement sum of 16-bit words does not depend on the
	// byte order it is computed in, as long as the result is swapped back
	// (RFC 1071 §2(B)): sum little-endian 64-bit words, 32 bytes per round
	// with the carries chained, then fold, swap and add initial (which is
	// in network order).
	var s, c uint64
	if useAVX2 && len(b) >= avx2MinLen {
		// The vector loop returns a plain sum of 16-bit words, the same
		// one's complement value as the 64-bit words below once folded.
		for len(b) >= 64 {
			n := min(len(b), avx2MaxLen) &^ 63
			s, c = bits.Add64(s, sumWordsAVX2(b[:n]), 0)
			s += c
			b = b[n:]
		}
	}
	return foldSum(s, sumWords(b), initial)
}

// checksumCopy copies src to dst, which must be at least as long, and
// returns Checksum(src, 0), reading src once where it can: with AVX2 the
// copy and the sum are one pass over each 64-byte block
// (copySumWordsAVX2), which makes splitting a super-frame about as cheap
// as copying it; elsewhere it is copy plus Checksum. Splitting a TSO
// super-frame copies and sums every payload byte (SegmentRange), and on
// the 2-vCPU rig the sending host's CPU is the bottleneck of a TCP stream
// (bench/PERFORMANCE.md, "Which CPU limits it").
func checksumCopy(dst, src []byte) uint16 {
	dst = dst[:len(src)]
	var s, c uint64
	if useAVX2 && len(src) >= avx2MinLen {
		for len(src) >= 64 {
			n := min(len(src), avx2MaxLen) &^ 63
			s, c = bits.Add64(s, copySumWordsAVX2(dst[:n], src[:n]), 0)
			s += c
			dst, src = dst[n:], src[n:]
		}
	}
	copy(dst, src)
	return foldSum(s, sumWords(src), 0)
}

// sumWords returns the one's complement sum of b's little-endian 16-bit
// words in a 64-bit accumulator (end-around carries added back), the
// portable loop of Checksum.
func sumWords(b []byte) uint64 {
	var s, c uint64
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[0:8]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:16]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:24]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	s, c = bits.Add64(s, c, 0)
	s += c
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), 0)
		s += c
		b = b[8:]
	}
	if len(b) >= 4 {
		s, c = bits.Add64(s, uint64(binary.LittleEndian.Uint32(b)), 0)
		s += c
		b = b[4:]
	}
	if len(b) >= 2 {
		s, c = bits.Add64(s, uint64(binary.LittleEndian.Uint16(b)), 0)
		s += c
		b = b[2:]
	}
	if len(b) == 1 {
		// A trailing byte is the high byte of a network-order word: the
		// low byte in little-endian order.
		s, c = bits.Add64(s, uint64(b[0]), 0)
		s += c
	}
	return s
}

// foldSum adds the little-endian partial sums s and t, folds them to 16
// bits, swaps to network order and adds initial (network order,
// unfolded): Checksum's result.
func foldSum(s, t uint64, initial uint32) uint16 {
	s, c := bits.Add64(s, t, 0)
	s += c
	// Fold 64 → 16 bits with end-around carry, swap to network order.
	s = s>>32 + s&0xffffffff
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	acc := uint64(bits.ReverseBytes16(uint16(s))) + uint64(initial)
	acc = acc>>32 + acc&0xffffffff
	acc = acc>>16 + acc&0xffff
	acc = acc>>16 + acc&0xffff
	acc = acc>>16 + acc&0xffff
	return uint16(acc)
}

// avx2MinLen is the shortest input Checksum hands to the vector loop (its
// setup and reduction cost about as much as 64 bytes of the portable
// loop); avx2MaxLen the longest per call, so that no 32-bit lane, which
// takes one 16-bit word per 64 bytes, can overflow.
const (
	avx2MinLen = 128
	avx2MaxLen = 64 << 16
)

// PseudoHeaderChecksum returns the unfolded one's complement sum of the
// pseudo-header that TCP and UDP checksums cover: for IPv4 (RFC 768, RFC
// 9293 §3.1) source and destination address, zero, protocol and the 16-bit
// segment length; for IPv6 (RFC 8200 §8.1) the two addresses, the 32-bit
// upper-layer length and the next header value. The IPv4 form is used when
// src is an IPv4 address, the IPv6 form otherwise (an invalid Addr counts
// as all zeros). Pass the result as Checksum's initial value. It never
// allocates.
func PseudoHeaderChecksum(protocol uint8, src, dst netip.Addr, length uint32) uint32 {
	var sum uint32
	if src.Is4() {
		s, d := src.As4(), dst.Unmap()
		var d4 [4]byte
		if d.Is4() {
			d4 = d.As4()
		}
		sum += uint32(binary.BigEndian.Uint16(s[0:])) + uint32(binary.BigEndian.Uint16(s[2:]))
		sum += uint32(binary.BigEndian.Uint16(d4[0:])) + uint32(binary.BigEndian.Uint16(d4[2:]))
	} else {
		s, d := src.As16(), dst.As16()
		for i := 0; i < 16; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(s[i:])) + uint32(binary.BigEndian.Uint16(d[i:]))
		}
	}
	return sum + uint32(protocol) + length>>16 + length&0xffff
}
