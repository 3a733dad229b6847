package vtep

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/internal/testutil"
	"golang.org/x/sys/unix"
)

// families are the loopback underlays the unprivileged tests run on.
var families = []struct {
	name  string
	local netip.Addr
}{
	{"IPv4", netip.MustParseAddr("127.0.0.1")},
	{"IPv6", netip.MustParseAddr("::1")},
}

// skipNoFamily skips the test when local cannot be bound (no IPv6).
func skipNoFamily(t testing.TB, local netip.Addr) {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		t.Skipf("%s unavailable: %v", local, err)
	}
	c.Close()
}

// goroutineLeakCheck fails the test if it ends with more goroutines than it
// started with, polling for a while so exiting goroutines can finish.
func goroutineLeakCheck(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := runtime.NumGoroutine(); got > before {
			buf := make([]byte, 1<<16)
			t.Errorf("unexpected goroutine count:\n- want: %d\n-  got: %d\n%s", before, got, buf[:runtime.Stack(buf, true)])
		}
	})
}

// openBind opens a StdBind on local with cfg, closing it at cleanup. A
// zero cfg.RecvSockets means 1 here, so that the one ReceiveFunc returned
// sees every datagram; openBindN tests several.
func openBind(t testing.TB, local netip.Addr, cfg Config) (*StdBind, ReceiveFunc) {
	t.Helper()
	if cfg.RecvSockets == 0 {
		cfg.RecvSockets = 1
	}
	b, fns := openBindN(t, local, cfg)
	return b, fns[0]
}

// openBindN opens a StdBind on local with cfg, checks that Open returned
// one ReceiveFunc per receive socket, and closes it at cleanup.
func openBindN(t testing.TB, local netip.Addr, cfg Config) (*StdBind, []ReceiveFunc) {
	t.Helper()
	cfg.Local = local
	b, err := NewStdBind(cfg)
	if err != nil {
		t.Fatalf("NewStdBind: %v", err)
	}
	fns, port, err := b.Open(0)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	if len(fns) != b.cfg.RecvSockets {
		t.Fatalf("unexpected number of ReceiveFuncs:\n- want: %d\n-  got: %d", b.cfg.RecvSockets, len(fns))
	}
	if got := b.LocalAddr(); got != netip.AddrPortFrom(local, port) {
		t.Fatalf("unexpected LocalAddr:\n- want: %v\n-  got: %v", netip.AddrPortFrom(local, port), got)
	}
	return b, fns
}

// receiveN receives until n datagrams arrived, with a deadline enforced by
// closing the bind.
func receiveN(t testing.TB, b *StdBind, fn ReceiveFunc, n, bufSize int) (data [][]byte, sizes []int, eps []netip.AddrPort) {
	t.Helper()
	timer := time.AfterFunc(10*time.Second, func() { b.Close() })
	defer timer.Stop()
	bs := b.BatchSize()
	own := make([][]byte, bs)
	for i := range own {
		own[i] = make([]byte, bufSize)
	}
	bufs := make([][]byte, bs)
	sz := make([]int, bs)
	ep := make([]netip.AddrPort, bs)
	for len(sizes) < n {
		copy(bufs, own) // a zero-copy ReceiveFunc may have replaced them
		got, err := fn(bufs, sz, ep)
		if err != nil {
			t.Fatalf("receive after %d of %d datagrams: %v", len(sizes), n, err)
		}
		for i := range got {
			data = append(data, bytes.Clone(bufs[i][:min(sz[i], bufSize)]))
			sizes = append(sizes, sz[i])
			eps = append(eps, ep[i])
		}
	}
	return data, sizes, eps
}

func TestNewStdBindConfig(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	recv := min(runtime.NumCPU(), 4)
	tests := []struct {
		name    string
		cfg     Config
		want    Config // compared without Logf
		wantErr bool
	}{
		{name: "defaults", cfg: Config{Local: lo}, want: Config{Local: lo, SrcPortMin: 49152, SrcPortMax: 65535, SrcSockets: 8, RecvSockets: recv, BatchSize: 64, SocketBuffer: 4 << 20}},
		{name: "unspecified IPv6", cfg: Config{Local: netip.IPv6Unspecified()}, want: Config{Local: netip.IPv6Unspecified(), SrcPortMin: 49152, SrcPortMax: 65535, SrcSockets: 8, RecvSockets: recv, BatchSize: 64, SocketBuffer: 4 << 20}},
		{name: "mapped address unmapped", cfg: Config{Local: netip.MustParseAddr("::ffff:127.0.0.1")}, want: Config{Local: lo, SrcPortMin: 49152, SrcPortMax: 65535, SrcSockets: 8, RecvSockets: recv, BatchSize: 64, SocketBuffer: 4 << 20}},
		{name: "narrow range shrinks default sockets", cfg: Config{Local: lo, SrcPortMin: 50000, SrcPortMax: 50002}, want: Config{Local: lo, SrcPortMin: 50000, SrcPortMax: 50002, SrcSockets: 3, RecvSockets: recv, BatchSize: 64, SocketBuffer: 4 << 20}},
		{name: "one receive socket", cfg: Config{Local: lo, RecvSockets: 1}, want: Config{Local: lo, SrcPortMin: 49152, SrcPortMax: 65535, SrcSockets: 8, RecvSockets: 1, BatchSize: 64, SocketBuffer: 4 << 20}},
		{name: "64 receive sockets by CPU", cfg: Config{Local: lo, RecvSockets: 64, RecvByCPU: true}, want: Config{Local: lo, SrcPortMin: 49152, SrcPortMax: 65535, SrcSockets: 8, RecvSockets: 64, RecvByCPU: true, BatchSize: 64, SocketBuffer: 4 << 20}},
		{name: "negative receive sockets", cfg: Config{Local: lo, RecvSockets: -1}, wantErr: true},
		{name: "too many receive sockets", cfg: Config{Local: lo, RecvSockets: 65}, wantErr: true},
		{name: "no address", cfg: Config{}, wantErr: true},
		{name: "only min port", cfg: Config{Local: lo, SrcPortMin: 50000}, wantErr: true},
		{name: "min above max", cfg: Config{Local: lo, SrcPortMin: 50001, SrcPortMax: 50000}, wantErr: true},
		{name: "more sockets than ports", cfg: Config{Local: lo, SrcPortMin: 50000, SrcPortMax: 50001, SrcSockets: 3}, wantErr: true},
		{name: "negative sockets", cfg: Config{Local: lo, SrcSockets: -1}, wantErr: true},
		{name: "batch too large", cfg: Config{Local: lo, BatchSize: 1025}, wantErr: true},
		{name: "negative buffer", cfg: Config{Local: lo, SocketBuffer: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewStdBind(tt.cfg)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("unexpected error:\n- want: %v\n-  got: %v", ErrInvalidConfig, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewStdBind: %v", err)
			}
			got := b.cfg
			got.Logf = nil
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Fatalf("unexpected config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStdBindRoundTrip(t *testing.T) {
	for _, fam := range families {
		for _, poller := range []bool{false, true} {
			name := fam.name + "/thread"
			if poller {
				name = fam.name + "/poller"
			}
			t.Run(name, func(t *testing.T) { testRoundTrip(t, fam.local, poller) })
		}
	}
}

func testRoundTrip(t *testing.T, local netip.Addr, poller bool) {
	skipNoFamily(t, local)
	a, _ := openBind(t, local, Config{PollerWait: poller})
	b, recv := openBind(t, local, Config{PollerWait: poller})
	var want [][]byte
	for i := range 2*a.BatchSize() + 3 { // more than one sendmmsg batch
		want = append(want, testFrame(i, 64+i))
	}
	if err := a.Send(want, b.LocalAddr()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got, sizes, eps := receiveN(t, b, recv, len(want), 2048)
	// Datagrams of one flow keep their order; across flows (send sockets)
	// they may interleave, so compare as a set.
	byFlow := make(map[string]bool)
	for _, w := range want {
		byFlow[string(w)] = true
	}
	srcPorts := make(map[uint16]bool)
	for _, p := range a.SourcePorts() {
		srcPorts[p] = true
	}
	for i, g := range got {
		if !byFlow[string(g)] {
			t.Errorf("unexpected datagram %d (size %d): % x", i, sizes[i], g)
		}
		delete(byFlow, string(g))
		if eps[i].Addr() != local || !srcPorts[eps[i].Port()] {
			t.Errorf("unexpected source of datagram %d:\n- want: %v port in %v\n-  got: %v", i, local, a.SourcePorts(), eps[i])
		}
	}
	if len(byFlow) != 0 {
		t.Errorf("unexpected missing datagrams:\n- want: 0\n-  got: %d", len(byFlow))
	}
}

func TestStdBindSourcePortPerFlow(t *testing.T) {
	const (
		flows    = 64
		perFlow  = 3
		portMin  = 50000
		portMax  = 50999
		nSockets = 8
		minPorts = 2 // 64 flows all on one of 8 ports has probability 8^-63
	)
	for _, fam := range families {
		for _, mode := range offloadModes {
			t.Run(fam.name+"/"+mode.name, func(t *testing.T) {
				skipNoFamily(t, fam.local)
				txCfg := mode.tx
				txCfg.SrcPortMin, txCfg.SrcPortMax, txCfg.SrcSockets = portMin, portMax, nSockets
				a, _ := openBind(t, fam.local, txCfg)
				b, recv := openBind(t, fam.local, mode.rx)
				ports := a.SourcePorts()
				if len(ports) != nSockets {
					t.Fatalf("unexpected number of source ports:\n- want: %d\n-  got: %v", nSockets, ports)
				}
				for _, p := range ports {
					if p < portMin || p > portMax {
						t.Fatalf("unexpected source port outside %d-%d: %d", portMin, portMax, p)
					}
				}
				// One Send of interleaved flows, then one of per-flow trains
				// (which GSO coalesces), then interleaved again.
				for round := range perFlow {
					var batch [][]byte
					for f := range flows {
						if round == 1 {
							batch = append(batch, testFrame(f/4, 100)) // trains of 4
							continue
						}
						batch = append(batch, testFrame(f, 100))
					}
					if err := a.Send(batch, b.LocalAddr()); err != nil {
						t.Fatalf("Send: %v", err)
					}
				}
				got, _, eps := receiveN(t, b, recv, flows*perFlow, 2048)
				portOf := make(map[string]uint16)
				seen := make(map[uint16]bool)
				for i, g := range got {
					p := eps[i].Port()
					seen[p] = true
					if p < portMin || p > portMax {
						t.Errorf("unexpected source port outside %d-%d: %d", portMin, portMax, p)
					}
					if prev, ok := portOf[string(g)]; ok && prev != p {
						t.Errorf("unexpected source port change within a flow:\n- want: %d\n-  got: %d", prev, p)
					}
					portOf[string(g)] = p
					if want := ports[encap.FlowHash(g[encap.VXLANHeaderLen:])%nSockets]; p != want {
						t.Errorf("unexpected source port for flow hash:\n- want: %d\n-  got: %d", want, p)
					}
				}
				if len(seen) < minPorts {
					t.Errorf("unexpected number of distinct source ports over %d flows:\n- want: >= %d\n-  got: %d", flows, minPorts, len(seen))
				}
			})
		}
	}
}

// getsockoptInt reads an int socket option from c.
func getsockoptInt(t *testing.T, c sockConn, level, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt(%d, %d): %v", level, opt, gerr)
	}
	return v
}

func TestStdBindDontFragmentOption(t *testing.T) {
	type opt struct{ level, name, want int }
	tests := []struct {
		name  string
		local netip.Addr
		opts  []opt
	}{
		{"IPv4", netip.MustParseAddr("127.0.0.1"), []opt{{unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO}}},
		{"IPv6", netip.MustParseAddr("::1"), []opt{
			{unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO},
			{unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			skipNoFamily(t, tt.local)
			b, _ := openBindN(t, tt.local, Config{SrcSockets: 3, RecvSockets: 2})
			conns := append([]sockConn(nil), b.recv...)
			for _, s := range b.send {
				conns = append(conns, s.conn)
			}
			for i, c := range conns {
				for _, o := range tt.opts {
					if got := getsockoptInt(t, c, o.level, o.name); got != o.want {
						t.Errorf("unexpected option %d/%d on socket %d:\n- want: %d\n-  got: %d", o.level, o.name, i, o.want, got)
					}
				}
			}
		})
	}
}

func TestStdBindTruncated(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			skipNoFamily(t, fam.local)
			a, _ := openBind(t, fam.local, Config{})
			b, recv := openBind(t, fam.local, Config{})
			const bufSize = 100
			frames := [][]byte{testFrame(1, 60), testFrame(2, 300), testFrame(3, bufSize)}
			for _, f := range frames { // one Send per frame keeps the order
				if err := a.Send([][]byte{f}, b.LocalAddr()); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			_, sizes, _ := receiveN(t, b, recv, len(frames), bufSize)
			want := []int{60, bufSize + 1, bufSize}
			if diff := cmp.Diff(want, sizes); diff != "" {
				t.Fatalf("unexpected sizes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStdBindClose: Close wakes a blocked receive (waiting in ppoll, or in
// the runtime poller with PollerWait) with net.ErrClosed, and the Bind
// opens again.
func TestStdBindClose(t *testing.T) {
	for _, poller := range []bool{false, true} {
		t.Run(map[bool]string{false: "thread", true: "poller"}[poller], func(t *testing.T) { testClose(t, poller) })
	}
}

func testClose(t *testing.T, poller bool) {
	goroutineLeakCheck(t)
	lo := netip.MustParseAddr("127.0.0.1")
	b, err := NewStdBind(Config{Local: lo, PollerWait: poller})
	if err != nil {
		t.Fatal(err)
	}
	fns, _, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Open(0); !errors.Is(err, ErrBindAlreadyOpen) {
		t.Fatalf("unexpected second Open error:\n- want: %v\n-  got: %v", ErrBindAlreadyOpen, err)
	}
	done := make(chan error)
	go func() {
		bufs, sizes, eps := [][]byte{make([]byte, 1500)}, make([]int, 1), make([]netip.AddrPort, 1)
		_, err := fns[0](bufs, sizes, eps)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the receiver block (not required for correctness)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("unexpected receive error after Close:\n- want: %v\n-  got: %v", net.ErrClosed, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("receive still blocked 10s after Close")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("unexpected error from second Close:\n- want: <nil>\n-  got: %v", err)
	}
	if err := b.Send([][]byte{testFrame(1, 64)}, netip.MustParseAddrPort("127.0.0.1:4789")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("unexpected Send error after Close:\n- want: %v\n-  got: %v", net.ErrClosed, err)
	}
	if got := b.SourcePorts(); got != nil {
		t.Fatalf("unexpected SourcePorts after Close:\n- want: []\n-  got: %v", got)
	}
	// A closed StdBind opens again.
	if _, _, err := b.Open(0); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	b.Close()
}

func TestStdBindCloseConcurrent(t *testing.T) {
	goroutineLeakCheck(t)
	lo := netip.MustParseAddr("127.0.0.1")
	a, _ := openBind(t, lo, Config{})
	b, recv := openBind(t, lo, Config{})
	dst := b.LocalAddr()
	errc := make(chan error, 2)
	go func() {
		bufs := [][]byte{testFrame(1, 64), testFrame(2, 64)}
		for {
			if err := a.Send(bufs, dst); err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() {
		bufs := make([][]byte, b.BatchSize())
		for i := range bufs {
			bufs[i] = make([]byte, 2048)
		}
		sizes, eps := make([]int, len(bufs)), make([]netip.AddrPort, len(bufs))
		for {
			if _, err := recv(bufs, sizes, eps); errors.Is(err, net.ErrClosed) {
				errc <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	a.Close()
	b.Close()
	for range 2 {
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Errorf("unexpected error after concurrent Close:\n- want: %v\n-  got: %v", net.ErrClosed, err)
		}
	}
}

func TestStdBindSendErrors(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	a, _ := openBind(t, lo, Config{})
	b, recv := openBind(t, lo, Config{})
	tests := []struct {
		name string
		dst  netip.AddrPort
		bufs [][]byte
		want error
	}{
		{"IPv6 destination on IPv4 bind", netip.MustParseAddrPort("[::1]:4789"), [][]byte{testFrame(1, 64)}, errBadDestination},
		{"port zero", netip.AddrPortFrom(lo, 0), [][]byte{testFrame(1, 64)}, errBadDestination},
		{"datagram above 64 KiB", b.LocalAddr(), [][]byte{testFrame(1, 70000)}, syscall.EMSGSIZE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.Send(tt.bufs, tt.dst); !errors.Is(err, tt.want) {
				t.Fatalf("unexpected Send error:\n- want: %v\n-  got: %v", tt.want, err)
			}
		})
	}
	// A failed datagram in the middle of a batch does not stop the others,
	// and the bind stays usable.
	batch := [][]byte{testFrame(1, 64), testFrame(1, 70000), testFrame(1, 65)}
	if err := a.Send(batch, b.LocalAddr()); !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("unexpected Send error:\n- want: %v\n-  got: %v", syscall.EMSGSIZE, err)
	}
	_, sizes, _ := receiveN(t, b, recv, 2, 2048)
	if diff := cmp.Diff([]int{64, 65}, sizes); diff != "" {
		t.Fatalf("unexpected sizes after a failed datagram (-want +got):\n%s", diff)
	}
}

func TestAllocsStdBind(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, fam := range families {
		for _, mode := range offloadModes {
			for _, train := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/train=%v", fam.name, mode.name, train), func(t *testing.T) {
					skipNoFamily(t, fam.local)
					a, _ := openBind(t, fam.local, mode.tx)
					b, recv := openBind(t, fam.local, mode.rx)
					dst := b.LocalAddr()
					batch := 8 // different flows, one datagram each
					if train {
						batch = 41 // one flow: one GSO message with GSO on
					}
					send := make([][]byte, batch)
					for i := range send {
						flow := i
						if train {
							flow = 1
						}
						send[i] = testFrame(flow, 1400)
					}
					bufs := make([][]byte, b.BatchSize())
					for i := range bufs {
						bufs[i] = make([]byte, 2048)
					}
					sizes, eps := make([]int, len(bufs)), make([]netip.AddrPort, len(bufs))
					roundTrip := func() {
						if err := a.Send(send, dst); err != nil {
							t.Fatalf("Send: %v", err)
						}
						for got := 0; got < batch; {
							n, err := recv(bufs, sizes, eps)
							if err != nil {
								t.Fatalf("receive: %v", err)
							}
							got += n
						}
					}
					roundTrip() // warm the pools
					if got := testing.AllocsPerRun(200, roundTrip); got != 0 {
						t.Fatalf("unexpected allocations per Send+receive:\n- want: 0\n-  got: %v", got)
					}
					// Send alone (the receive buffer may overflow; loopback drops
					// silently).
					if got := testing.AllocsPerRun(200, func() { a.Send(send, dst) }); got != 0 {
						t.Fatalf("unexpected allocations per Send:\n- want: 0\n-  got: %v", got)
					}
					if train {
						heads, tails := gatherOf(send)
						if got := testing.AllocsPerRun(200, func() { a.SendGather(heads, tails, dst) }); got != 0 {
							t.Fatalf("unexpected allocations per SendGather:\n- want: 0\n-  got: %v", got)
						}
					}
				})
			}
		}
	}
}

func BenchmarkStdBindSendReceive(b *testing.B) {
	for _, fam := range families {
		for _, size := range []int{64, 1400} {
			b.Run(fmt.Sprintf("%s/%d", fam.name, size), func(b *testing.B) {
				skipNoFamily(b, fam.local)
				tx, _ := openBind(b, fam.local, Config{})
				rx, recv := openBind(b, fam.local, Config{})
				dst := rx.LocalAddr()
				batch := make([][]byte, tx.BatchSize())
				for i := range batch {
					batch[i] = testFrame(i, size)
				}
				bufs := make([][]byte, rx.BatchSize())
				for i := range bufs {
					bufs[i] = make([]byte, 2048)
				}
				sizes, eps := make([]int, len(bufs)), make([]netip.AddrPort, len(bufs))
				// Send and receive in lockstep, one batch at a time, so the
				// receive buffer never overflows and every datagram counts.
				b.SetBytes(int64(size))
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

// TestSourcePortOf: SourcePortOf names the port Send really uses for a
// packet, for several flows, and 0 once the bind is closed.
func TestSourcePortOf(t *testing.T) {
	b, err := NewStdBind(Config{Local: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Open(0); err != nil {
		t.Fatal(err)
	}
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	for i := range 16 {
		pkt := make([]byte, encap.VXLANHeaderLen+60)
		frame := pkt[encap.VXLANHeaderLen:]
		frame[5] = byte(i) // destination MAC differs per flow
		frame[11] = byte(i * 7)
		want := b.SourcePortOf(pkt)
		if err := b.Send([][]byte{pkt}, dst); err != nil {
			t.Fatal(err)
		}
		rx.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 200)
		_, from, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if from.Port() != want {
			t.Errorf("flow %d: unexpected source port:\n- want: %d (SourcePortOf)\n-  got: %d", i, want, from.Port())
		}
	}
	b.Close()
	if got := b.SourcePortOf(make([]byte, 40)); got != 0 {
		t.Errorf("unexpected source port after Close:\n- want: 0\n-  got: %d", got)
	}
}

// TestStdBindOutOfPoller: unless the ReceiveFuncs wait in the runtime
// poller (PollerWait), every socket of an open bind is outside the
// runtime's epoll set (internal/rawfd), so datagrams and freed send
// buffers do not wake the runtime's idle thread; with PollerWait they are
// in it. ReceiveFDs lists the receive sockets only with NoWait, whose
// ReceiveFuncs return at once when nothing was received.
func TestStdBindOutOfPoller(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tt := range []struct {
		name     string
		cfg      Config
		inPoller bool
	}{
		{"thread", Config{}, false},
		{"NoWait", Config{NoWait: true}, false},
		{"PollerWait", Config{PollerWait: true}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.RecvSockets, tt.cfg.SrcSockets = 2, 2
			b, fns := openBindN(t, lo, tt.cfg)
			if tt.cfg.NoWait {
				bs := b.BatchSize()
				bufs, sizes, eps := make([][]byte, bs), make([]int, bs), make([]netip.AddrPort, bs)
				for i := range bufs {
					bufs[i] = make([]byte, 2048)
				}
				for i, fn := range fns {
					if n, err := fn(bufs, sizes, eps); n != 0 || err != nil {
						t.Errorf("NoWait ReceiveFunc %d with nothing received: %d, %v; want 0, <nil>", i, n, err)
					}
				}
			}
			var fds []int
			for _, c := range append(append([]sockConn(nil), b.recv...), b.send[0].conn, b.send[1].conn) {
				rc, err := c.SyscallConn()
				if err != nil {
					t.Fatal(err)
				}
				rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
			}
			for i, fd := range fds {
				in, ok := testutil.InEpollSet(fd)
				if !ok {
					t.Skip("no epoll instance visible in /proc/self/fdinfo")
				}
				if in != tt.inPoller {
					t.Errorf("socket %d (fd %d): in the runtime poller = %v, want %v", i, fd, in, tt.inPoller)
				}
				// recvmmsg and sendmmsg are issued raw (internal/rawfd):
				// the sockets must never block.
				if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
					t.Errorf("socket %d (fd %d) is not non-blocking (flags %#x, %v)", i, fd, fl, err)
				}
			}
			got := b.ReceiveFDs()
			if tt.cfg.NoWait != (got != nil) || (got != nil && (len(got) != 2 || got[0] != fds[0] || got[1] != fds[1])) {
				t.Errorf("unexpected ReceiveFDs: %v (receive sockets %v, NoWait %v)", got, fds[:2], tt.cfg.NoWait)
			}
		})
	}
}
