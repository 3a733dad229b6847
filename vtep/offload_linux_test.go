package vtep

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/vxswitch/vxswitch/encap"
	"golang.org/x/sys/unix"
)

// offloadModes are the sender/receiver offload combinations every
// loopback offload test runs under. The datagrams received must be the
// same in all of them.
var offloadModes = []struct {
	name   string
	tx, rx Config
}{
	{"GSO+GRO", Config{}, Config{}},
	{"GSO+GRO zero copy", Config{}, Config{ZeroCopy: true}},
	{"GSO", Config{}, Config{NoGRO: true}},
	{"GRO", Config{NoGSO: true}, Config{}},
	{"off", Config{NoGSO: true}, Config{NoGRO: true}},
}

// seqFrame is testFrame(flow, size) with seq in its last 4 bytes, so
// datagrams of one flow and size can be told apart and their order checked.
func seqFrame(flow, seq, size int) []byte {
	b := testFrame(flow, size)
	binary.BigEndian.PutUint32(b[len(b)-4:], uint32(seq))
	return b
}

// trainOf returns n frames of flow with size bytes each, then one of
// last bytes (none if last is 0), numbered from 0.
func trainOf(flow, n, size, last int) [][]byte {
	var bufs [][]byte
	for i := range n {
		bufs = append(bufs, seqFrame(flow, i, size))
	}
	if last > 0 {
		bufs = append(bufs, seqFrame(flow, n, last))
	}
	return bufs
}

// byFlow groups datagrams by the flow hash of their inner frame, keeping
// order within a flow.
func byFlow(data [][]byte) map[uint32][]string {
	m := make(map[uint32][]string)
	for _, d := range data {
		h := encap.FlowHash(d[encap.VXLANHeaderLen:])
		m[h] = append(m[h], string(d))
	}
	return m
}

func TestStdBindOffloadTrain(t *testing.T) {
	const (
		n     = 40
		size  = 1400
		short = 600
	)
	for _, fam := range families {
		for _, mode := range offloadModes {
			t.Run(fam.name+"/"+mode.name, func(t *testing.T) {
				skipNoFamily(t, fam.local)
				a, _ := openBind(t, fam.local, mode.tx)
				b, recv := openBind(t, fam.local, mode.rx)
				want := trainOf(7, n, size, short)
				if err := a.Send(want, b.LocalAddr()); err != nil {
					t.Fatalf("Send: %v", err)
				}
				got, sizes, eps := receiveN(t, b, recv, len(want), 2048)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("unexpected datagrams (-want +got):\n%s", diff)
				}
				if len(sizes) != len(want) {
					t.Fatalf("unexpected datagram count:\n- want: %d\n-  got: %d", len(want), len(sizes))
				}
				port := a.SourcePorts()[encap.FlowHash(want[0][encap.VXLANHeaderLen:])%uint32(len(a.SourcePorts()))]
				for i, ep := range eps {
					if w := netip.AddrPortFrom(fam.local, port); ep != w {
						t.Fatalf("unexpected source of datagram %d:\n- want: %v\n-  got: %v", i, w, ep)
					}
				}
				// With GSO on the sender and GRO on the receiver, the kernel
				// hands the whole train over as one coalesced datagram of
				// 1400-byte segments: proof that both offloads were used.
				if a.Offload().GSO && b.Offload().GRO {
					q := &b.receivers[0].q
					if q.n != 1 || q.seg[0] != size {
						t.Fatalf("unexpected last GRO read:\n- want: 1 datagram of %d-byte segments\n-  got: %d datagrams, first segment size %d", size, q.n, q.seg[0])
					}
				}
			})
		}
	}
}

func TestStdBindOffloadStatus(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	on, _ := openBindN(t, lo, Config{RecvSockets: 2, RecvByCPU: true})
	off, _ := openBindN(t, lo, Config{NoGSO: true, NoGRO: true, RecvSockets: 3})
	st := on.Offload()
	t.Logf("kernel offloads: %v", st)
	if !st.RecvByCPU || st.RecvSockets != 2 {
		t.Errorf("unexpected receive sockets:\n- want: 2 by CPU\n-  got: %d by CPU %v", st.RecvSockets, st.RecvByCPU)
	}
	if st.GSO && (st.GSOSockets != len(on.SourcePorts()) || (st.MaxSegments != 64 && st.MaxSegments != 128)) {
		t.Errorf("unexpected GSO status: %+v", st)
	}
	if st.RecvBuffer < DefaultSocketBuffer || st.SendBuffer < DefaultSocketBuffer {
		t.Logf("socket buffers below %d (not root?): %v", DefaultSocketBuffer, st)
	}
	got := off.Offload()
	want := OffloadStatus{RecvSockets: 3, RecvBuffer: got.RecvBuffer, SendBuffer: got.SendBuffer}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected status with offloads off (-want +got):\n%s", diff)
	}
	if got, want := got.String(), fmt.Sprintf("gso=off gro=off recv=3 rcvbuf=%d sndbuf=%d", got.RecvBuffer, got.SendBuffer); got != want {
		t.Errorf("unexpected String:\n- want: %q\n-  got: %q", want, got)
	}
	off.Close()
	if diff := cmp.Diff(OffloadStatus{}, off.Offload()); diff != "" {
		t.Errorf("unexpected status after Close (-want +got):\n%s", diff)
	}
}

// TestStdBindOffloadMixed sends interleaved flows with runs of equal and
// unequal lengths, several trains longer than one GSO message, and
// zero-length-payload edge sizes, to two receivers, and checks that every
// mode delivers the same datagrams in the same per-flow order.
func TestStdBindOffloadMixed(t *testing.T) {
	var batch [][]byte
	seq := 0
	add := func(flow, size int) {
		batch = append(batch, seqFrame(flow, seq, size))
		seq++
	}
	for i := range 100 { // 100 × 1400 > one GSO message
		add(1, 1400)
		if i%10 == 0 {
			add(2, 64+i) // another flow interleaved
		}
	}
	for _, s := range []int{1000, 1000, 999, 1000, 1000, 1001, 1001, 60, 60, 60} {
		add(3, s) // runs broken by a shorter and a longer datagram
	}
	for range 5 {
		add(4, 9000) // jumbo-sized: 7 fit in 65 507 bytes
	}
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			skipNoFamily(t, fam.local)
			var results []map[uint32][]string
			for _, mode := range offloadModes {
				a, _ := openBind(t, fam.local, mode.tx)
				b1, recv1 := openBind(t, fam.local, mode.rx)
				b2, recv2 := openBind(t, fam.local, mode.rx)
				// One Send per destination as the engine does; the batch
				// is longer than BatchSize, so it takes several chunks.
				if err := a.Send(batch, b1.LocalAddr()); err != nil {
					t.Fatalf("%s: Send: %v", mode.name, err)
				}
				if err := a.Send(batch[:50], b2.LocalAddr()); err != nil {
					t.Fatalf("%s: Send: %v", mode.name, err)
				}
				got1, _, _ := receiveN(t, b1, recv1, len(batch), 9100)
				got2, _, _ := receiveN(t, b2, recv2, 50, 9100)
				if diff := cmp.Diff(byFlow(batch), byFlow(got1)); diff != "" {
					t.Fatalf("%s: unexpected datagrams per flow at receiver 1 (-want +got):\n%s", mode.name, diff)
				}
				if diff := cmp.Diff(byFlow(batch[:50]), byFlow(got2)); diff != "" {
					t.Fatalf("%s: unexpected datagrams per flow at receiver 2 (-want +got):\n%s", mode.name, diff)
				}
				results = append(results, byFlow(got1))
			}
			for i := 1; i < len(results); i++ {
				if diff := cmp.Diff(results[0], results[i]); diff != "" {
					t.Errorf("unexpected difference between %s and %s (-%s +%s):\n%s", offloadModes[0].name, offloadModes[i].name, offloadModes[0].name, offloadModes[i].name, diff)
				}
			}
		})
	}
}

// TestStdBindGROLeftovers receives a 41-segment GRO datagram through a
// receiver whose batch is 8, so most segments wait for later calls.
func TestStdBindGROLeftovers(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	a, _ := openBind(t, lo, Config{})
	b, recv := openBind(t, lo, Config{BatchSize: 8})
	want := trainOf(9, 40, 1400, 100)
	if err := a.Send(want, b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	sizes, eps := make([]int, 8), make([]netip.AddrPort, 8)
	var got [][]byte
	var counts []int
	timer := time.AfterFunc(10*time.Second, func() { b.Close() })
	defer timer.Stop()
	for len(got) < len(want) {
		n, err := recv(bufs, sizes, eps)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		counts = append(counts, n)
		for i := range n {
			got = append(got, append([]byte(nil), bufs[i][:sizes[i]]...))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("unexpected datagrams (-want +got):\n%s", diff)
	}
	if a.Offload().GSO && b.Offload().GRO {
		if diff := cmp.Diff([]int{8, 8, 8, 8, 8, 1}, counts); diff != "" {
			t.Fatalf("unexpected packets per receive call (-want +got):\n%s", diff)
		}
	}
}

// TestStdBindGROCloseWithLeftovers checks that segments still queued are
// not returned after Close.
func TestStdBindGROCloseWithLeftovers(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	a, _ := openBind(t, lo, Config{})
	b, recv := openBind(t, lo, Config{})
	if !a.Offload().GSO || !b.Offload().GRO {
		t.Skip("needs UDP GSO and GRO")
	}
	if err := a.Send(trainOf(1, 10, 500, 0), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	one := [][]byte{make([]byte, 2048)}
	sizes, eps := make([]int, 1), make([]netip.AddrPort, 1)
	if n, err := recv(one, sizes, eps); n != 1 || err != nil {
		t.Fatalf("unexpected first receive:\n- want: 1, <nil>\n-  got: %d, %v", n, err)
	}
	b.Close()
	if _, err := recv(one, sizes, eps); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("unexpected receive error after Close:\n- want: %v\n-  got: %v", net.ErrClosed, err)
	}
}

// TestStdBindGSOOversize checks that a run of equal datagrams too big for
// the UDP payload limit together is split into several GSO messages, and
// that a run whose segments the kernel refuses (EMSGSIZE alone, EINVAL
// as GSO) gets the same per-datagram verdicts as without GSO.
func TestStdBindGSOOversize(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			skipNoFamily(t, fam.local)
			for _, mode := range offloadModes {
				a, _ := openBind(t, fam.local, mode.tx)
				b, recv := openBind(t, fam.local, mode.rx)
				bad := [][]byte{seqFrame(5, 0, 100), seqFrame(5, 1, 70000), seqFrame(5, 2, 70000), seqFrame(5, 3, 100)}
				if err := a.Send(bad, b.LocalAddr()); !errors.Is(err, unix.EMSGSIZE) {
					t.Fatalf("%s: unexpected Send error:\n- want: %v\n-  got: %v", mode.name, unix.EMSGSIZE, err)
				}
				got, _, _ := receiveN(t, b, recv, 2, 2048)
				if diff := cmp.Diff([][]byte{bad[0], bad[3]}, got); diff != "" {
					t.Fatalf("%s: unexpected datagrams (-want +got):\n%s", mode.name, diff)
				}
			}
		})
	}
}

// TestSendBatchReset: after a Send, the pooled sendBatch must hold no
// pointer to the caller's buffers (Send does not retain bufs), in any
// message or iovec it used, also after a larger Send before a smaller one.
func TestSendBatchReset(t *testing.T) {
	sb := newSendBatch(2, sendChunk(DefaultBatchSize))
	buf := make([]byte, 1400)
	for _, n := range []int{sb.batch, 3, 100} { // datagrams of one group
		g := &sb.groups[0]
		for i := range n {
			var tail []byte
			if i%3 == 0 {
				tail = buf[100:] // gathered from two iovecs
			}
			g.queue(buf[:100+i%2], tail) // lengths vary: many messages
		}
		if m := sb.build(g, 0, 64, maxPayload4); m < n/3 {
			t.Fatalf("build(%d datagrams) made %d messages, want at least %d", n, m, n/3)
		}
		sb.reset()
		for i := range sb.msgs {
			if sb.msgs[i].Hdr.Iov != nil || sb.msgs[i].Hdr.Control != nil {
				t.Fatalf("after a Send of %d: message %d still points at %p", n, i, sb.msgs[i].Hdr.Iov)
			}
		}
		for _, g := range sb.groups {
			if len(g.iovs)+len(g.lens)+len(g.ends) != 0 {
				t.Fatalf("after a Send of %d: group not empty", n)
			}
			for i, iov := range g.iovs[:cap(g.iovs)] {
				if iov.Base != nil {
					t.Fatalf("after a Send of %d: iovec %d still points at the caller's buffer", n, i)
				}
			}
		}
	}
}

func TestGSORun(t *testing.T) {
	tests := []struct {
		name       string
		lens       []int
		maxSeg     int
		maxPayload int
		want       int
	}{
		{"empty", nil, 64, maxPayload4, 0},
		{"single", []int{100}, 64, maxPayload4, 1},
		{"equal run", []int{100, 100, 100}, 64, maxPayload4, 3},
		{"shorter last", []int{100, 100, 50, 100}, 64, maxPayload4, 3},
		{"longer breaks", []int{100, 100, 101}, 64, maxPayload4, 2},
		{"shorter first", []int{50, 100}, 64, maxPayload4, 1},
		{"zero length never coalesced", []int{0, 0}, 64, maxPayload4, 1},
		{"zero after run", []int{100, 0}, 64, maxPayload4, 1},
		{"segment limit", []int{10, 10, 10, 10, 10}, 4, maxPayload4, 4},
		{"payload limit IPv4", []int{1400, 1400, 1400}, 64, 2800, 2},
		{"47 of 1400 fit in IPv4", make47(1400), 128, maxPayload4, 46},
		{"too big alone", []int{70000, 70000}, 64, maxPayload4, 1},
		{"GSO off", []int{100, 100}, 1, maxPayload4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gsoRun(tt.lens, tt.maxSeg, tt.maxPayload); got != tt.want {
				t.Fatalf("unexpected run length:\n- want: %d\n-  got: %d", tt.want, got)
			}
		})
	}
}

func make47(l int) []int {
	lens := make([]int, 47)
	for i := range lens {
		lens[i] = l
	}
	return lens
}

// FuzzGSORun checks the run invariants for any lengths: the run is
// non-empty, within the limits, of equal lengths except a shorter last.
func FuzzGSORun(f *testing.F) {
	f.Add([]byte{10, 10, 10}, uint8(64), uint16(65507)) // equal run
	f.Add([]byte{10, 10, 5, 10}, uint8(64), uint16(20)) // shorter last, payload limit
	f.Add([]byte{0, 10}, uint8(1), uint16(0))           // zero length, GSO off
	f.Fuzz(func(t *testing.T, lens []byte, maxSeg uint8, maxPayload uint16) {
		ls := make([]int, len(lens))
		for i, l := range lens {
			ls[i] = int(l)
		}
		seg, limit := max(int(maxSeg), 1), int(maxPayload)
		k := gsoRun(ls, seg, limit)
		if len(lens) == 0 {
			if k != 0 {
				t.Fatalf("unexpected run on no input: %d", k)
			}
			return
		}
		if k < 1 || k > len(lens) || (k > 1 && k > seg) {
			t.Fatalf("run length %d out of range (n=%d, maxSeg=%d)", k, len(lens), seg)
		}
		if k == 1 {
			return
		}
		total := 0
		for i := range k {
			total += int(lens[i])
			if lens[i] == 0 || lens[i] > lens[0] || (lens[i] < lens[0] && i != k-1) {
				t.Fatalf("bad run %v of %v", lens[:k], lens)
			}
		}
		if total > limit {
			t.Fatalf("run of %d bytes above limit %d", total, limit)
		}
	})
}

// groCmsg encodes a control message as the kernel does for UDP_GRO (an
// int), with the given level and type.
func groCmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func nativeInt(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func TestGROSize(t *testing.T) {
	gro := groCmsg(unix.SOL_UDP, unix.UDP_GRO, nativeInt(1400))
	other := groCmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, make([]byte, 16))
	tests := []struct {
		name string
		ctrl []byte
		want int
	}{
		{"none", nil, 0},
		{"UDP_GRO int", gro, 1400},
		{"UDP_GRO uint16", groCmsg(unix.SOL_UDP, unix.UDP_GRO, binary.NativeEndian.AppendUint16(nil, 512)), 512},
		{"after another message", append(append([]byte(nil), other...), gro...), 1400},
		{"other level", groCmsg(unix.SOL_IP, unix.UDP_GRO, nativeInt(1400)), 0},
		{"too large", groCmsg(unix.SOL_UDP, unix.UDP_GRO, nativeInt(1<<20)), 0},
		{"short data", groCmsg(unix.SOL_UDP, unix.UDP_GRO, []byte{1}), 0},
		{"truncated header", gro[:8], 0},
		{"length beyond buffer", gro[:unix.CmsgLen(0)+2], 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := groSize(tt.ctrl); got != tt.want {
				t.Fatalf("unexpected GRO size:\n- want: %d\n-  got: %d", tt.want, got)
			}
		})
	}
}

// FuzzGROSize feeds arbitrary control data to the UDP_GRO parser: it must
// not panic and returns a size in [0, 65535].
func FuzzGROSize(f *testing.F) {
	f.Add(groCmsg(unix.SOL_UDP, unix.UDP_GRO, nativeInt(1400)))                           // kernel UDP_GRO
	f.Add(groCmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, make([]byte, 16)))                  // unrelated message
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}) // huge length
	f.Add([]byte{})                                                                       // empty
	f.Fuzz(func(t *testing.T, ctrl []byte) {
		if got := groSize(ctrl); got < 0 || got > 0xffff {
			t.Fatalf("GRO size out of range: %d", got)
		}
	})
}

// failGSO makes every sendmmsg whose first message carries UDP_SEGMENT
// fail with EIO, as a kernel whose route device cannot offload checksums
// does, until the test ends. It returns the count of such calls.
func failGSO(t *testing.T) *atomic.Int32 {
	var gsoCalls atomic.Int32
	sendFault = func(ms []unix.Mmsghdr) unix.Errno {
		if ms[0].Hdr.Controllen > 0 {
			gsoCalls.Add(1)
			return unix.EIO
		}
		return 0
	}
	t.Cleanup(func() { sendFault = nil })
	return &gsoCalls
}

// TestStdBindGSOEIO injects EIO into every GSO sendmmsg, as a kernel whose
// route device cannot offload checksums returns it, and checks that Send
// still delivers every datagram in order, turns GSO off on that socket
// only, logs once, and sends later trains without GSO.
func TestStdBindGSOEIO(t *testing.T) {
	gsoCalls := failGSO(t)
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			skipNoFamily(t, fam.local)
			gsoCalls.Store(0)
			var logs atomic.Int32
			a, _ := openBind(t, fam.local, Config{Logf: func(string, ...any) { logs.Add(1) }})
			b, recv := openBind(t, fam.local, Config{})
			before := a.Offload()
			if !before.GSO {
				t.Skip("kernel without UDP GSO")
			}
			want := append(trainOf(2, 40, 1400, 600), trainOf(2, 20, 1000, 0)...)
			for range 3 {
				if err := a.Send(want, b.LocalAddr()); err != nil {
					t.Fatalf("Send: %v", err)
				}
				got, _, _ := receiveN(t, b, recv, len(want), 2048)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("unexpected datagrams (-want +got):\n%s", diff)
				}
			}
			if got := gsoCalls.Load(); got != 1 {
				t.Fatalf("unexpected GSO attempts (later Sends must not try GSO on that socket):\n- want: 1\n-  got: %d", got)
			}
			after := a.Offload()
			if after.GSO || after.GSOSockets != before.GSOSockets-1 {
				t.Fatalf("unexpected status after EIO:\n- want: %d GSO sockets\n-  got: %v", before.GSOSockets-1, after)
			}
			if got := logs.Load(); got != 1 {
				t.Fatalf("unexpected number of log lines:\n- want: 1\n-  got: %d", got)
			}
		})
	}
}

// TestStdBindGSOKeepsTrainsWhole sends two trains of one flow (41
// datagrams each, the segments of two super-frames) in one Send with a
// batch size smaller than both together, and checks that each train
// leaves as one UDP_SEGMENT message: chunking the batch must not cut a
// train into the tail of one message and the head of the next.
func TestStdBindGSOKeepsTrainsWhole(t *testing.T) {
	var mu sync.Mutex
	var msgs []int // datagrams per message sent, in order
	sendFault = func(ms []unix.Mmsghdr) unix.Errno {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ms {
			msgs = append(msgs, int(m.Hdr.Iovlen))
		}
		return 0
	}
	t.Cleanup(func() { sendFault = nil })
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			skipNoFamily(t, fam.local)
			a, _ := openBind(t, fam.local, Config{BatchSize: 64})
			b, recv := openBind(t, fam.local, Config{BatchSize: 64})
			if !a.Offload().GSO {
				t.Skip("kernel without UDP GSO")
			}
			want := append(trainOf(3, 40, 1400, 600), trainOf(3, 40, 1400, 600)...)
			mu.Lock()
			msgs = nil
			mu.Unlock()
			if err := a.Send(want, b.LocalAddr()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got, _, _ := receiveN(t, b, recv, len(want), 2048)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("unexpected datagrams (-want +got):\n%s", diff)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff([]int{41, 41}, msgs); diff != "" {
				t.Fatalf("unexpected datagrams per message sent (-want +got):\n%s", diff)
			}
		})
	}
}

// BenchmarkStdBindOffload sends and receives batches of 1400-byte datagrams
// of one inner flow (the segments of a TSO super-frame) in lockstep, with
// GSO and GRO on and off.
func BenchmarkStdBindOffload(b *testing.B) {
	const size = 1400
	for _, fam := range families {
		for _, mode := range []struct {
			name string
			cfg  Config
		}{{"on", Config{}}, {"off", Config{NoGSO: true, NoGRO: true}}} {
			b.Run(fmt.Sprintf("%s/%d/offload=%s", fam.name, size, mode.name), func(b *testing.B) {
				skipNoFamily(b, fam.local)
				tx, _ := openBind(b, fam.local, mode.cfg)
				rx, recv := openBind(b, fam.local, mode.cfg)
				dst := rx.LocalAddr()
				batch := trainOf(1, tx.BatchSize(), size, 0)
				bufs := make([][]byte, rx.BatchSize())
				for i := range bufs {
					bufs[i] = make([]byte, 2048)
				}
				sizes, eps := make([]int, len(bufs)), make([]netip.AddrPort, len(bufs))
				b.SetBytes(size)
				b.ReportAllocs()
				b.ResetTimer()
				for sent := 0; sent < b.N; {
					k := min(len(batch), b.N-sent)
					if err := tx.Send(batch[:k], dst); err != nil {
						b.Fatal(err)
					}
					for got := 0; got < k; {
						n, err := recv(bufs, sizes, eps)
						if err != nil {
							b.Fatal(err)
						}
						got += n
					}
					sent += k
				}
			})
		}
	}
}

// gatherOf splits each datagram of data into a head of the VXLAN, Ethernet,
// IP and TCP headers' length (74 bytes, as the switch's super-frame path
// makes them) and a tail of the rest; every fifth keeps an empty tail, as
// a super-frame's first segment does.
func gatherOf(data [][]byte) (heads, tails [][]byte) {
	for i, d := range data {
		h := min(74, len(d))
		if i%5 == 0 {
			h = len(d)
		}
		heads = append(heads, d[:h])
		tails = append(tails, d[h:])
	}
	return heads, tails
}

// TestStdBindSendGather sends trains (more datagrams than one chunk, a
// shorter last one, heads with and without tails) with SendGather in every
// offload mode and checks that the receiver gets exactly the datagrams
// Send would have sent, in order, from the source port Send picks for the
// flow; a refused GSO message (EIO, as a device without checksum offload
// gives) is resent datagram by datagram, heads and tails still joined.
func TestStdBindSendGather(t *testing.T) {
	want := append(trainOf(6, 150, 1400, 600), trainOf(6, 30, 900, 0)...)
	heads, tails := gatherOf(want)
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			skipNoFamily(t, fam.local)
			for _, mode := range offloadModes {
				a, _ := openBind(t, fam.local, mode.tx)
				b, recv := openBind(t, fam.local, mode.rx)
				if err := a.SendGather(heads, tails, b.LocalAddr()); err != nil {
					t.Fatalf("%s: SendGather: %v", mode.name, err)
				}
				got, _, eps := receiveN(t, b, recv, len(want), 2048)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("%s: unexpected datagrams (-want +got):\n%s", mode.name, diff)
				}
				if err := a.Send(want[:1], b.LocalAddr()); err != nil {
					t.Fatalf("%s: Send: %v", mode.name, err)
				}
				_, _, eps1 := receiveN(t, b, recv, 1, 2048)
				for i, ep := range eps {
					if ep != eps1[0] {
						t.Fatalf("%s: datagram %d came from %v, Send's from %v", mode.name, i, ep, eps1[0])
					}
				}
			}
		})
	}
	t.Run("EIO", func(t *testing.T) {
		gsoCalls := failGSO(t)
		lo := netip.MustParseAddr("127.0.0.1")
		a, _ := openBind(t, lo, Config{Logf: func(string, ...any) {}})
		b, recv := openBind(t, lo, Config{})
		if !a.Offload().GSO {
			t.Skip("kernel without UDP GSO")
		}
		w := want[:45]
		h, tl := gatherOf(w)
		if err := a.SendGather(h, tl, b.LocalAddr()); err != nil {
			t.Fatalf("SendGather: %v", err)
		}
		got, _, _ := receiveN(t, b, recv, len(w), 2048)
		if diff := cmp.Diff(w, got); diff != "" {
			t.Fatalf("unexpected datagrams (-want +got):\n%s", diff)
		}
		if gsoCalls.Load() != 1 {
			t.Fatalf("GSO attempts: got %d, want 1", gsoCalls.Load())
		}
	})
	t.Run("mismatch", func(t *testing.T) {
		lo := netip.MustParseAddr("127.0.0.1")
		a, _ := openBind(t, lo, Config{})
		if err := a.SendGather(heads, tails[:3], a.LocalAddr()); err == nil {
			t.Fatal("SendGather with fewer tails than heads: no error")
		}
	})
}
