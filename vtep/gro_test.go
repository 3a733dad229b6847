package vtep

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// slowSplit is the oracle for groQueue: it splits every message into its
// segments with no batching, buffer limits or state.
func slowSplit(data [][]byte, seg []int, trunc []bool) (pkts [][]byte, srcIdx []int) {
	for i, d := range data {
		s := seg[i]
		if trunc[i] || s <= 0 || s > len(d) {
			s = len(d)
		}
		if len(d) == 0 {
			pkts, srcIdx = append(pkts, []byte{}), append(srcIdx, i)
			continue
		}
		for off := 0; off < len(d); off += s {
			pkts = append(pkts, d[off:min(off+s, len(d))])
			srcIdx = append(srcIdx, i)
		}
	}
	return pkts, srcIdx
}

// runQueue loads msgs into a groQueue and drains it with batches of batch
// buffers of bufSize bytes, returning every packet (cut to its buffer) and
// size. It checks that every call keeps datagrams whole: a datagram is
// split over calls only when it starts a call (it does not fit in one),
// and a call stops early only when the next datagram does not fit in the
// rest of its batch.
func runQueue(t testing.TB, data [][]byte, seg []int, trunc []bool, batch, bufSize int, zeroCopy bool) (pkts [][]byte, sizes []int, srcs []netip.AddrPort) {
	q := newGROQueue(len(data))
	q.zeroCopy = zeroCopy
	for i := range data {
		q.data[i], q.seg[i], q.trunc[i] = data[i], seg[i], trunc[i]
		q.src[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 4789)
	}
	q.n = len(data)
	own := make([][]byte, batch)
	for i := range own {
		own[i] = make([]byte, bufSize)
	}
	bufs := make([][]byte, batch)
	sz, eps := make([]int, batch), make([]netip.AddrPort, batch)
	segs := make([]int, len(data)) // segments per datagram
	_, idx := slowSplit(data, seg, trunc)
	for _, i := range idx {
		segs[i]++
	}
	taken := make([]int, len(data))
	for calls := 0; !q.empty(); calls++ {
		if calls > 1<<16 {
			t.Fatal("groQueue does not make progress")
		}
		copy(bufs, own)
		n := q.drain(bufs, sz, eps)
		if n < 1 || n > batch {
			t.Fatalf("unexpected drain count %d for batch %d", n, batch)
		}
		for i := range n {
			m := int(eps[i].Addr().As4()[3])
			if taken[m] == 0 && i > 0 && segs[m] > n-i {
				t.Fatalf("call %d split datagram %d (%d segments) that starts at position %d of %d", calls, m, segs[m], i, n)
			}
			taken[m]++
		}
		if m := q.next; !q.empty() && n < batch && taken[m] == 0 && segs[m] <= batch-n {
			t.Fatalf("call %d returned %d of %d with datagram %d (%d segments) still fitting", calls, n, batch, m, segs[m])
		}
		for i := range n {
			pkts = append(pkts, append([]byte{}, bufs[i][:min(sz[i], bufSize)]...))
			sizes = append(sizes, sz[i])
			srcs = append(srcs, eps[i])
		}
	}
	return pkts, sizes, srcs
}

func TestGROQueueDrain(t *testing.T) {
	seq := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}
	tests := []struct {
		name      string
		data      [][]byte
		seg       []int
		trunc     []bool
		batch     int
		bufSize   int
		wantSizes []int
	}{
		{"not coalesced", [][]byte{seq(100), seq(50)}, []int{0, 0}, []bool{false, false}, 64, 2048, []int{100, 50}},
		{"even split", [][]byte{seq(300)}, []int{100}, []bool{false}, 64, 2048, []int{100, 100, 100}},
		{"short last segment", [][]byte{seq(250)}, []int{100}, []bool{false}, 64, 2048, []int{100, 100, 50}},
		{"batch of one keeps leftovers", [][]byte{seq(250), seq(10)}, []int{100, 0}, []bool{false, false}, 1, 2048, []int{100, 100, 50, 10}},
		{"batch boundary inside a message", [][]byte{seq(500), seq(40)}, []int{100, 20}, []bool{false, false}, 3, 2048, []int{100, 100, 100, 100, 100, 20, 20}},
		{"segment above buffer is oversize", [][]byte{seq(300)}, []int{150}, []bool{false}, 64, 100, []int{101, 101}},
		{"truncated message is one oversize packet", [][]byte{seq(300)}, []int{100}, []bool{true}, 64, 2048, []int{2049}},
		{"segment size above length", [][]byte{seq(30)}, []int{100}, []bool{false}, 64, 2048, []int{30}},
		{"empty datagram", [][]byte{{}, seq(5)}, []int{0, 0}, []bool{false, false}, 64, 2048, []int{0, 5}},
	}
	for _, tt := range tests {
		for _, zc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/zeroCopy=%v", tt.name, zc), func(t *testing.T) {
				pkts, sizes, srcs := runQueue(t, tt.data, tt.seg, tt.trunc, tt.batch, tt.bufSize, zc)
				if diff := cmp.Diff(tt.wantSizes, sizes); diff != "" {
					t.Fatalf("unexpected sizes (-want +got):\n%s", diff)
				}
				want, idx := slowSplit(tt.data, tt.seg, tt.trunc)
				for i := range want {
					if len(want[i]) > tt.bufSize {
						want[i] = want[i][:tt.bufSize]
					}
					if tt.trunc[idx[i]] && len(pkts) > i && len(pkts[i]) >= len(want[i]) {
						// Only the received bytes are defined; the rest of
						// the buffer is whatever it held.
						pkts[i] = pkts[i][:len(want[i])]
					}
				}
				if diff := cmp.Diff(want, pkts); diff != "" {
					t.Fatalf("unexpected packets (-want +got):\n%s", diff)
				}
				for i, s := range srcs {
					if w := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(idx[i])}), 4789); s != w {
						t.Fatalf("unexpected source of packet %d:\n- want: %v\n-  got: %v", i, w, s)
					}
				}
			})
		}
	}
}

// TestGROQueueZeroCopy checks where drain puts the packets: with zeroCopy,
// bufs[i] is the segment inside the queued datagram, capacity cut to its
// length, and the caller's buffer is untouched; a segment longer than the
// caller's buffer is still copied into it, cut, and reported oversize;
// without zeroCopy every packet is copied into the caller's buffer.
func TestGROQueueZeroCopy(t *testing.T) {
	data := make([]byte, 250)
	for i := range data {
		data[i] = byte(i)
	}
	for _, zc := range []bool{false, true} {
		t.Run(fmt.Sprintf("zeroCopy=%v", zc), func(t *testing.T) {
			q := newGROQueue(1)
			q.zeroCopy = zc
			q.data[0], q.seg[0], q.n = data, 100, 1
			own := [][]byte{make([]byte, 2048), make([]byte, 2048), make([]byte, 2048)}
			bufs := slices.Clone(own)
			sizes, eps := make([]int, 3), make([]netip.AddrPort, 3)
			if n := q.drain(bufs, sizes, eps); n != 3 {
				t.Fatalf("unexpected drain count:\n- want: 3\n-  got: %d", n)
			}
			for i, want := range [][]byte{data[:100], data[100:200], data[200:]} {
				if sizes[i] != len(want) || !bytes.Equal(bufs[i][:sizes[i]], want) {
					t.Fatalf("packet %d: size %d, want %d bytes %v...", i, sizes[i], len(want), want[:4])
				}
				inQueue := &bufs[i][0] == &want[0] && cap(bufs[i]) == len(want)
				if inQueue != zc {
					t.Errorf("packet %d: points into the queued datagram (capacity cut to the packet) = %v, want %v", i, inQueue, zc)
				}
				if !zc && &bufs[i][0] != &own[i][0] {
					t.Errorf("packet %d: not in the caller's buffer", i)
				}
			}

			q.data[0], q.seg[0], q.n, q.next, q.off = data, 100, 1, 0, 0
			small := [][]byte{make([]byte, 60)}
			if n := q.drain(small, sizes, eps); n != 1 || sizes[0] != 61 || &small[0][0] == &data[0] || !bytes.Equal(small[0], data[:60]) {
				t.Errorf("segment above the buffer: n=%d size=%d (want 1, 61, copied and cut)", n, sizes[0])
			}
		})
	}
}

func TestAllocsGROQueueDrain(t *testing.T) {
	q := newGROQueue(1)
	d := make([]byte, 64*1400)
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	sizes, eps := make([]int, 64), make([]netip.AddrPort, 64)
	got := testing.AllocsPerRun(1000, func() {
		q.data[0], q.seg[0], q.n, q.next, q.off = d, 1400, 1, 0, 0
		if n := q.drain(bufs, sizes, eps); n != 64 {
			t.Fatalf("unexpected drain count:\n- want: 64\n-  got: %d", n)
		}
	})
	if got != 0 {
		t.Fatalf("unexpected allocations per drain:\n- want: 0\n-  got: %v", got)
	}
}

// FuzzGROQueue drains fuzzed messages with fuzzed batch and buffer sizes
// and compares the result with slowSplit: same packets in the same order,
// sizes within the ReceiveFunc contract.
func FuzzGROQueue(f *testing.F) {
	f.Add([]byte{10, 0, 3, 0}, uint8(4), uint8(2), uint8(16), byte(0))     // two messages, one coalesced
	f.Add([]byte{255, 255, 7, 1}, uint8(100), uint8(1), uint8(8), byte(1)) // truncated, batch of one
	f.Add([]byte{0, 0}, uint8(0), uint8(64), uint8(0), byte(0))            // empty datagram, empty buffers
	f.Fuzz(func(t *testing.T, spec []byte, segBase, batch, bufSize uint8, truncMask byte) {
		var data [][]byte
		var seg []int
		var trunc []bool
		for i := 0; i+1 < len(spec) && len(data) < 16; i += 2 {
			d := make([]byte, int(spec[i])*4)
			for j := range d {
				d[j] = byte(i + j)
			}
			data = append(data, d)
			seg = append(seg, int(spec[i+1])%(int(segBase)+1))
			trunc = append(trunc, truncMask&(1<<(len(trunc)%8)) != 0)
		}
		if len(data) == 0 {
			return
		}
		b := max(int(batch)%65, 1)
		pkts, sizes, _ := runQueue(t, data, seg, trunc, b, int(bufSize), truncMask&0x80 != 0)
		want, idx := slowSplit(data, seg, trunc)
		if len(pkts) != len(want) {
			t.Fatalf("unexpected packet count:\n- want: %d\n-  got: %d", len(want), len(pkts))
		}
		for i := range want {
			wantSize := len(want[i])
			if wantSize > int(bufSize) || trunc[idx[i]] {
				wantSize = int(bufSize) + 1
			}
			if sizes[i] != wantSize {
				t.Fatalf("unexpected size of packet %d:\n- want: %d\n-  got: %d", i, wantSize, sizes[i])
			}
			w := want[i][:min(len(want[i]), int(bufSize))]
			// A truncated packet's buffer is defined only up to the bytes
			// received.
			if len(pkts[i]) < len(w) || string(w) != string(pkts[i][:len(w)]) {
				t.Fatalf("unexpected packet %d:\n- want: % x\n-  got: % x", i, w, pkts[i])
			}
		}
	})
}
