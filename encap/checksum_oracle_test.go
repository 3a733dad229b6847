package encap

import (
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
