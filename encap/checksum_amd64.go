//go:build !purego

package encap

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2 inner loop of Checksum (checksum_amd64.s). The
// portable loop adds 8 bytes per carry-chained instruction; widening 16-bit
// words into 32-bit vector lanes adds 64 bytes per round without carries,
// about three times as fast on the lab machines (BenchmarkChecksum), and
// checksums were the largest userspace cost of a TCP stream through the
// switch (computed when a TSO super-frame is split, verified before
// segments are coalesced).
var useAVX2 = cpu.X86.HasAVX2

// sumWordsAVX2 is implemented in checksum_amd64.s.
//
//go:noescape
func sumWordsAVX2(b []byte) uint64

// copySumWordsAVX2 is implemented in checksum_amd64.s.
//
//go:noescape
func copySumWordsAVX2(dst, src []byte) uint64
