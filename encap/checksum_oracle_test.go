package encap

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestChecksumExtremes compares Checksum with the naive RFC 1071 loop
// (ip_test.go) for every length up to 300 bytes (all tail cases of the
// 32-byte rounds) with random, all-ones and all-zero contents and extreme
// initial values (all-ones data makes every carry chain run).
func TestChecksumExtremes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 300)
	for n := 0; n <= len(buf); n++ {
		for _, fill := range []string{"random", "ones", "zeros"} {
			for i := range buf[:n] {
				switch fill {
				case "random":
					buf[i] = byte(rng.Uint32())
				case "ones":
					buf[i] = 0xff
				default:
					buf[i] = 0
				}
			}
			for _, initial := range []uint32{0, 0xffff, rng.Uint32(), 0xffffffff} {
				if got, want := Checksum(buf[:n], initial), naiveChecksum(buf[:n], initial); got != want {
					t.Fatalf("len %d %s initial %#x: unexpected checksum:\n- want: %#04x\n-  got: %#04x", n, fill, initial, want, got)
				}
			}
		}
	}
}

// FuzzChecksum: Checksum equals the naive RFC 1071 sum for any input.
func FuzzChecksum(f *testing.F) {
	f.Add([]byte{}, uint32(0))
	f.Add([]byte{0xff}, uint32(0xffffffff))
	f.Add(make([]byte, 65), uint32(12345))
	f.Fuzz(func(t *testing.T, b []byte, initial uint32) {
		if got, want := Checksum(b, initial), naiveChecksum(b, initial); got != want {
			t.Fatalf("unexpected checksum of %x (initial %#x):\n- want: %#04x\n-  got: %#04x", b, initial, want, got)
		}
	})
}

// TestChecksumLong compares Checksum with the naive loop on inputs long
// enough for the vector loop (checksum_amd64.s, when the CPU has AVX2),
// around its minimum length and its per-call limit, at every alignment,
// with all-ones contents (every 32-bit lane at its largest) and random
// ones. Run with -tags purego to check the portable loop alone.
func TestChecksumLong(t *testing.T) {
	t.Logf("vector loop in use: %v", useAVX2)
	rng := rand.New(rand.NewPCG(3, 4))
	big := make([]byte, 3*avx2MaxLen+200)
	for _, n := range []int{avx2MinLen - 1, avx2MinLen, avx2MinLen + 1, 1500, 9000, 65535, 65536 + 7,
		avx2MaxLen - 1, avx2MaxLen, avx2MaxLen + 65, 3*avx2MaxLen + 5} {
		for _, fill := range []string{"ones", "random"} {
			fillBytes(big, fill, rng)
			for off := range 4 {
				b := big[off : off+n]
				for _, initial := range []uint32{0, 0xffffffff} {
					if got, want := Checksum(b, initial), naiveChecksum(b, initial); got != want {
						t.Fatalf("len %d offset %d %s initial %#x: unexpected checksum:\n- want: %#04x\n-  got: %#04x", n, off, fill, initial, want, got)
					}
				}
			}
		}
	}
}

// TestChecksumCopy: checksumCopy leaves dst equal to src, writes nothing
// past len(src), and returns the naive RFC 1071 sum of src; for every
// length up to 300 bytes and the lengths around the vector loop's
// minimum and per-call limit, at every source and destination alignment,
// with all-ones and random contents.
func TestChecksumCopy(t *testing.T) {
	t.Logf("vector loop in use: %v", useAVX2)
	rng := rand.New(rand.NewPCG(5, 6))
	lengths := []int{avx2MinLen - 1, avx2MinLen, avx2MinLen + 1, 1398, 1500, 9000, 65535, avx2MaxLen, avx2MaxLen + 65}
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		src := make([]byte, n+4)
		dst := make([]byte, n+8)
		for _, fill := range []string{"ones", "random"} {
			fillBytes(src, fill, rng)
			for soff := range 4 {
				doff := (soff * 3) % 4
				for i := range dst {
					dst[i] = 0xa5
				}
				s := src[soff : soff+n]
				got := checksumCopy(dst[doff:], s)
				if want := naiveChecksum(s, 0); got != want {
					t.Fatalf("len %d offsets %d/%d %s: unexpected sum:\n- want: %#04x\n-  got: %#04x", n, soff, doff, fill, want, got)
				}
				if !bytes.Equal(dst[doff:doff+n], s) {
					t.Fatalf("len %d offsets %d/%d %s: dst differs from src", n, soff, doff, fill)
				}
				for i, b := range dst {
					if (i < doff || i >= doff+n) && b != 0xa5 {
						t.Fatalf("len %d offsets %d/%d %s: byte %d outside the copy changed to %#02x", n, soff, doff, fill, i, b)
					}
				}
			}
		}
	}
}

// FuzzChecksumCopy: checksumCopy copies any input exactly and returns its
// naive RFC 1071 sum.
func FuzzChecksumCopy(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{0xff}, uint8(1))
	f.Add(make([]byte, 200), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, off uint8) {
		dst := make([]byte, int(off%8)+len(b)+1)
		dst[len(dst)-1] = 0x5a
		got := checksumCopy(dst[off%8:], b)
		if want := naiveChecksum(b, 0); got != want {
			t.Fatalf("unexpected sum of %x:\n- want: %#04x\n-  got: %#04x", b, want, got)
		}
		if !bytes.Equal(dst[off%8:len(dst)-1], b) || dst[len(dst)-1] != 0x5a {
			t.Fatalf("copy of %x is %x", b, dst)
		}
	})
}

// fillBytes fills b with 0xff ("ones") or random bytes from rng.
func fillBytes(b []byte, fill string, rng *rand.Rand) {
	for i := range b {
		if fill == "ones" {
			b[i] = 0xff
		} else {
			b[i] = byte(rng.Uint32())
		}
	}
}
