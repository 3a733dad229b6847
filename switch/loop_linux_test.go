package vswitch

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/internal/testutil"
	"github.com/vxswitch/vxswitch/switch/tap/taptest"
)

// pairDev is a tap.Device and tap.Polled over one end of an AF_UNIX
// SOCK_SEQPACKET socket pair: a real descriptor the single loop polls,
// without root. The test holds the other end (peer): what it writes there
// the switch reads from the port, and what the switch writes to the port
// the test reads there. Like a TAP created with tap.Config.NoWait, Read
// never waits.
type pairDev struct {
	name string
	fd   int
	peer int

	// chunk, when set, is the most frames a Read hands out (fewer than
	// BatchSize), and Buffered then reports frames still pending: like a
	// TAP that keeps a super-frame for the next batch, or a GRO socket
	// that keeps a datagram train whole.
	chunk int

	mu      sync.Mutex // serializes Close with Read (the switch's contract: the loop stops reading before Close)
	closed  bool
	pending [][]byte // read from the socket, not yet handed out
}

// Buffered implements tap.Polled: with chunk set, whether frames are
// pending; otherwise false (the loop must rely on full batches).
func (d *pairDev) Buffered() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.chunk > 0 && len(d.pending) > 0
}

func newPairDev(t testing.TB, name string) *pairDev {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	d := &pairDev{name: name, fd: fds[0], peer: fds[1]}
	t.Cleanup(func() {
		d.Close()
		unix.Close(d.peer)
	})
	return d
}

func (d *pairDev) Name() string   { return d.name }
func (d *pairDev) MTU() int       { return testMTU }
func (d *pairDev) BatchSize() int { return 8 }
func (d *pairDev) PollFD() int    { return d.fd }

// Read moves every message queued on the socket into pending, then hands
// out at most BatchSize of them: like a TAP with a super-frame split
// over several Reads or a socket's GRO queue, frames wait in userspace
// while the descriptor is no longer readable, so the loop must serve the
// device again without waiting when a batch came back full.
func (d *pairDev) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, os.ErrClosed
	}
	for {
		buf := make([]byte, 65536)
		m, err := unix.Read(d.fd, buf)
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			return 0, err
		}
		d.pending = append(d.pending, buf[:m])
	}
	limit := d.BatchSize()
	if d.chunk > 0 {
		limit = d.chunk
	}
	n := 0
	for n < len(bufs) && n < limit && len(d.pending) > 0 {
		sizes[n] = copy(bufs[n][offset:], d.pending[0])
		d.pending = d.pending[1:]
		n++
	}
	return n, nil
}

func (d *pairDev) Write(bufs [][]byte, offset int) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, os.ErrClosed
	}
	for i, b := range bufs {
		if _, err := unix.Write(d.fd, b[offset:]); err != nil {
			return i, err
		}
	}
	return len(bufs), nil
}

func (d *pairDev) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.closed = true
		unix.Close(d.fd)
	}
	return nil
}

// send writes frame at the peer end: the switch reads it from the port.
func (d *pairDev) send(t testing.TB, frame []byte) {
	t.Helper()
	if _, err := unix.Write(d.peer, frame); err != nil {
		t.Fatalf("%s: write to peer: %v", d.name, err)
	}
}

// recv returns the next frame the switch wrote to the port.
func (d *pairDev) recv(t testing.TB) []byte {
	t.Helper()
	buf := make([]byte, 65536)
	deadline := time.Now().Add(waitTimeout)
	for {
		n, err := unix.Read(d.peer, buf)
		if err == nil {
			return buf[:n]
		}
		if err != unix.EAGAIN {
			t.Fatalf("%s: read from peer: %v", d.name, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no frame from the switch within %v", d.name, waitTimeout)
		}
		fds := []unix.PollFd{{Fd: int32(d.peer), Events: unix.POLLIN}}
		unix.Poll(fds, 100)
	}
}

// sendBurst sends n numbered IPv4 frames from src (at srcIP) to dst
// through dev, runs each of meanwhile (if any) once all are sent, and
// checks that all n arrive at remote in order and from src.
func sendBurst(t *testing.T, dev *pairDev, src encap.MAC, srcIP netip.Addr, dst encap.MAC, n int, remote *taptest.ChannelTAP, meanwhile ...func()) {
	t.Helper()
	for i := range n {
		f := ipv4Frame(dst, src, srcIP, overlayIP(1, 1), 100)
		f[len(f)-1] = byte(i)
		dev.send(t, f)
	}
	for _, fn := range meanwhile {
		fn()
	}
	for i := range n {
		f := waitFrame(t, remote)
		if got := f[len(f)-1]; got != byte(i) || encap.Ethernet(f).Source() != src {
			t.Fatalf("%s: burst frame %d arrived as number %d from %s", dev.name, i, got, encap.Ethernet(f).Source())
		}
	}
}

// TestSingleLoop drives two polled ports with the single loop, in a switch
// whose bind (the in-memory fabric) has no descriptors, so its receivers
// keep their goroutines: frames from a polled port reach the remote host,
// a burst much larger than a batch gets through whole and in order (the
// loop serves a source again without waiting while batches come back
// full, or while a device reports frames Buffered), replies reach the polled port, RemovePort returns while the other
// port keeps forwarding, and Close leaves no goroutine behind (newLab).
func TestSingleLoop(t *testing.T) {
	l := newLab(t, 2, labOptions{sw: Config{SingleLoop: true}})
	h0, h1 := l.hosts[0], l.hosts[1]
	l.flood(42, h0, h1)
	a, b := newPairDev(t, "vxpa"), newPairDev(t, "vxpb")
	for _, d := range []*pairDev{a, b} {
		if _, err := h0.sw.AddPort(d, PortConfig{VNI: 42}); err != nil {
			t.Fatalf("AddPort %s: %v", d.name, err)
		}
	}
	remote := h1.addPort("vxtap0", 42)

	// A broadcast from port a floods to port b and the remote host.
	la, lb, peer := mac(0, 1), mac(0, 2), mac(1, 1)
	a.send(t, arpRequest(la, overlayIP(0, 1), overlayIP(1, 1)))
	if f := waitFrame(t, remote); encap.Ethernet(f).Source() != la {
		t.Fatalf("unexpected frame at the remote port: % x", f)
	}
	if f := b.recv(t); encap.Ethernet(f).Source() != la {
		t.Fatalf("unexpected frame at port b: % x", f)
	}
	b.send(t, arpRequest(lb, overlayIP(0, 2), overlayIP(1, 1)))
	waitFrame(t, remote)
	a.recv(t)

	// A burst of 200 unicast frames (25 batches of 8) arrives whole and
	// in order.
	remote.Inbound <- ipv4Frame(la, peer, overlayIP(1, 1), overlayIP(0, 1), 64) // learn peer behind h1
	a.recv(t)
	sendBurst(t, a, la, overlayIP(0, 1), peer, 200, remote)

	// A device that hands out short batches and reports the rest as
	// Buffered (its descriptor is empty by then) is served again without
	// waiting too: a burst of 200 in batches of 5 of 8.
	c := newPairDev(t, "vxpc")
	c.chunk = 5
	if _, err := h0.sw.AddPort(c, PortConfig{VNI: 42}); err != nil {
		t.Fatalf("AddPort %s: %v", c.name, err)
	}
	sendBurst(t, c, mac(0, 3), overlayIP(0, 3), peer, 200, remote)

	// Replies from the remote host reach port a.
	remote.Inbound <- ipv4Frame(la, peer, overlayIP(1, 1), overlayIP(0, 1), 300)
	if f := a.recv(t); encap.Ethernet(f).Destination() != la {
		t.Fatalf("unexpected reply at port a: % x", f)
	}

	// RemovePort returns with the loop running, closes the device, and
	// the other port still forwards.
	if err := h0.sw.RemovePort("vxpa"); err != nil {
		t.Fatalf("RemovePort: %v", err)
	}
	if _, err := a.Write([][]byte{make([]byte, 64)}, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("port a's device after RemovePort: Write error %v, want os.ErrClosed", err)
	}
	b.send(t, ipv4Frame(peer, lb, overlayIP(0, 2), overlayIP(1, 1), 100))
	if f := waitFrame(t, remote); encap.Ethernet(f).Source() != lb {
		t.Fatalf("unexpected frame at the remote port after RemovePort: % x", f)
	}
	if p, ok := h0.sw.Port("vxpb"); !ok || p.Queues() != 1 {
		t.Fatalf("port b after removing a: %v, %v", p, ok)
	}
}

// TestSingleLoopManyPorts: the loop waits on many descriptors at once
// (one epoll set) and serves each: 48 polled ports, each in a VNI of its
// own, all read; after every other one is removed (the loop's
// registrations are rebuilt under new indices, and RemovePort closes the
// devices) and new ones are added (which may reuse the closed descriptor
// numbers), every port still there is read again and none twice.
func TestSingleLoopManyPorts(t *testing.T) {
	sw, err := New(Config{SingleLoop: true}, newSinkBind(), fdb.New(fdb.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { sw.Close() })
	devs := map[string]*pairDev{}
	want := map[string]uint64{} // frames each port must have read
	add := func(i int) {
		name := fmt.Sprintf("vxm%d", i)
		d := newPairDev(t, name)
		if _, err := sw.AddPort(d, PortConfig{VNI: uint32(100 + i)}); err != nil {
			t.Fatalf("AddPort %s: %v", name, err)
		}
		devs[name] = d
	}
	// round sends a frame on every port there is and waits until each
	// has read all it was sent, and no more.
	round := func(what string) {
		t.Helper()
		for name, d := range devs {
			d.send(t, ipv4Frame(mac(9, 9), mac(0, 1), overlayIP(0, 1), overlayIP(0, 9), 100))
			want[name]++
		}
		eventually(t, what, func() bool {
			for name := range devs {
				if p, ok := sw.Port(name); !ok || p.rxPackets.Load() != want[name] {
					return false
				}
			}
			return true
		})
	}
	for i := range 48 {
		add(i)
	}
	round("every port reads its frame")
	for i := 0; i < 48; i += 2 {
		name := fmt.Sprintf("vxm%d", i)
		if err := sw.RemovePort(name); err != nil {
			t.Fatalf("RemovePort %s: %v", name, err)
		}
		delete(devs, name)
	}
	round("every port left reads its frame")
	for i := 48; i < 60; i++ {
		add(i)
	}
	round("every port, old and new, reads its frame")
	if got := len(sw.Ports()); got != 36 {
		t.Fatalf("ports: %d, want 36", got)
	}
}

// TestSingleLoopPortBeforeStart: a polled port added before Start is
// served once the loop runs, and a switch closed without Start releases
// its polled ports.
func TestSingleLoopPortBeforeStart(t *testing.T) {
	checkGoroutines(t)
	for _, start := range []bool{true, false} {
		sw, err := New(Config{SingleLoop: true}, newSinkBind(), fdb.New(fdb.Config{}))
		if err != nil {
			t.Fatal(err)
		}
		d := newPairDev(t, "vxpa")
		if _, err := sw.AddPort(d, PortConfig{VNI: 42}); err != nil {
			t.Fatalf("AddPort: %v", err)
		}
		if start {
			if err := sw.Start(); err != nil {
				t.Fatalf("Start: %v", err)
			}
			d.send(t, ipv4Frame(mac(9, 9), mac(0, 1), overlayIP(0, 1), overlayIP(0, 9), 100))
			eventually(t, "the loop reads the port", func() bool {
				p, _ := sw.Port("vxpa")
				return p.rxPackets.Load() == 1
			})
		}
		done := make(chan error, 1)
		go func() { done <- sw.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("Close (started %v) did not return", start)
		}
	}
}

// TestPolledDeviceNeedsSingleLoop: a device whose Read never waits is
// refused by a switch without the single loop (a reader goroutine would
// spin on it).
func TestPolledDeviceNeedsSingleLoop(t *testing.T) {
	l := newLab(t, 1, labOptions{})
	d := newPairDev(t, "vxpa")
	_, err := l.hosts[0].sw.AddPort(d, PortConfig{VNI: 42})
	if err == nil || !strings.Contains(err.Error(), "SingleLoop") {
		t.Fatalf("unexpected AddPort error:\n- want: ... needs Config.SingleLoop\n-  got: %v", err)
	}
}

// newLoopPair builds a two-host lab flooding VNI 42 between the hosts,
// whose first switch runs the single loop (with cfg's busy polling) with
// polled port a (a pairDev), and the second a channel port (remote). It
// returns the first switch, a and remote.
func newLoopPair(t *testing.T, cfg Config) (*Switch, *pairDev, *taptest.ChannelTAP) {
	t.Helper()
	cfg.SingleLoop = true
	l := newLab(t, 2, labOptions{sw: cfg})
	h0, h1 := l.hosts[0], l.hosts[1]
	l.flood(42, h0, h1)
	a := newPairDev(t, "vxpa")
	if _, err := h0.sw.AddPort(a, PortConfig{VNI: 42}); err != nil {
		t.Fatalf("AddPort: %v", err)
	}
	return h0.sw, a, h1.addPort("vxtap0", 42)
}

// TestSingleLoopBusyPoll: with Config.BusyPoll the loop polls for a while
// after traffic before it waits. Frames sent one at a time, each well
// within the busy-poll time of the one before, are found by a busy poll
// (hits) whether the window is fixed or adaptive, and a burst gets through
// whole and in order; once traffic stops a busy poll runs out (a miss) and
// the loop waits: its counters then stay put (a loop that kept polling
// would keep counting misses). Sparse frames, further apart than
// BusyPoll, make a fixed window poll (and miss) after each and close the adaptive
// one: after a few, it does not poll at all. Without BusyPoll the
// counters stay zero.
func TestSingleLoopBusyPoll(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("the loop busy polls only with GOMAXPROCS > 1")
	}
	tests := []struct {
		name  string
		busy  time.Duration
		fixed bool
	}{
		{name: "off", busy: 0},
		{name: "fixed", busy: MaxBusyPoll, fixed: true},
		{name: "adaptive", busy: MaxBusyPoll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sw, a, remote := newLoopPair(t, Config{BusyPoll: tt.busy, BusyPollFixed: tt.fixed})
			la, peer := mac(0, 1), mac(1, 1)
			one := func() {
				t.Helper()
				a.send(t, ipv4Frame(peer, la, overlayIP(0, 1), overlayIP(1, 1), 100))
				waitFrame(t, remote)
			}
			for i := range 50 {
				one()
				if i%10 == 9 {
					sendBurst(t, a, la, overlayIP(0, 1), peer, 20, remote)
				}
			}
			st := sw.Stats().BusyPoll
			if tt.busy == 0 {
				if st != (BusyPollStats{}) {
					t.Fatalf("busy-poll counters without BusyPoll: %+v, want zero", st)
				}
				return
			}
			if st.Hits == 0 {
				t.Errorf("no busy poll found traffic over 50 frames sent one at a time: %+v", st)
			}
			if tt.fixed {
				// The last frame: the busy poll that follows it must run
				// out. (Counted before it is sent: the miss after the
				// frames above may already have happened.) An adaptive
				// window may have closed before it, after a slow frame.
				before := sw.Stats().BusyPoll.Misses
				one()
				eventually(t, "a busy poll runs out once traffic stops", func() bool {
					return sw.Stats().BusyPoll.Misses > before
				})
			}
			time.Sleep(2 * MaxBusyPoll)
			idle := sw.Stats().BusyPoll
			time.Sleep(50 * MaxBusyPoll)
			if got := sw.Stats().BusyPoll; got != idle {
				t.Errorf("busy-poll counters moved while idle (the loop keeps polling):\n- then: %+v\n-  now: %+v", idle, got)
			}

			// Sparse traffic: frames 5 × BusyPoll apart. The first few
			// close an adaptive window (each halves it).
			sparse := func(n int) {
				t.Helper()
				for range n {
					time.Sleep(5 * tt.busy)
					one()
				}
			}
			sparse(8)
			before := sw.Stats().BusyPoll
			sparse(10)
			if tt.fixed {
				// One poll (a miss) after each frame, unless the loop's
				// thread waited for a CPU longer than the window between
				// serving a frame and polling (it then waits at once), or
				// in the middle of a poll (which may then find the next
				// frame): under -race and a CPU hog, 9 of 10 were misses.
				// A window that closed would poll after none.
				eventually(t, fmt.Sprintf("a fixed window to poll after at least half of 10 frames %v apart", 5*tt.busy), func() bool {
					got := sw.Stats().BusyPoll
					return got.Misses+got.Hits-before.Misses-before.Hits >= 5
				})
				return
			}
			time.Sleep(2 * tt.busy) // the poll after the last frame ends
			if got := sw.Stats().BusyPoll; got != before {
				t.Errorf("the adaptive window still polls after frames %v apart:\n- then: %+v\n-  now: %+v", 5*tt.busy, before, got)
			}
		})
	}
}

// TestSingleLoopStopTheWorld: while traffic flows the loop waits with a
// raw epoll_pwait that keeps its P (rawEpollWait), so the runtime can stop it for a
// GC only through a preemption signal, which the loop must answer by
// yielding. Garbage collections (each stops the world twice) run between
// and during bursts, and after the loop went idle (an ordinary wait); each
// must finish, and the frames keep flowing; also while the loop busy
// polls (Config.BusyPoll), whose polls are raw system calls too. A loop
// that went back into its raw wait after EINTR without passing a
// preemption point would hang runtime.GC here.
func TestSingleLoopStopTheWorld(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("the loop waits raw only with GOMAXPROCS > 1")
	}
	for _, busy := range []time.Duration{0, MaxBusyPoll} {
		t.Run(fmt.Sprintf("BusyPoll=%v", busy), func(t *testing.T) {
			_, a, remote := newLoopPair(t, Config{BusyPoll: busy})
			la, peer := mac(0, 1), mac(1, 1)
			gc := func(when string) {
				t.Helper()
				done := make(chan struct{})
				go func() { runtime.GC(); close(done) }()
				select {
				case <-done:
				case <-time.After(waitTimeout):
					t.Fatalf("runtime.GC %s did not return within %v: the loop does not yield", when, waitTimeout)
				}
			}
			for round := range 20 {
				sendBurst(t, a, la, overlayIP(0, 1), peer, 10, remote, func() { gc("during a burst") })
				gc("right after a burst (busy poll or raw wait)")
				if round%5 == 4 {
					time.Sleep(5 * rawWaitMax) // idle: the loop waits as a blocking call
					gc("while idle")
				}
			}
		})
	}
}

// TestPrivilegedSingleLoopRTPriority: with Config.RTPriority the loop's
// thread runs under SCHED_FIFO at that priority while the loop is behind
// and only then: frames sent one at a time never make it real-time,
// bursts that fill its batches do (Stats.RTEngaged), and once traffic
// stops it falls back. With RTPriorityFixed it is real-time from the
// start and stays so. No other thread changes policy, and after Close no
// real-time thread is left in the process (the loop never unlocks its
// thread, so the thread ends with it instead of going back to the
// runtime's pool). With GOMAXPROCS 1 the loop never waits raw: its
// ordinary wait must end when the hold runs out too (an earlier version
// stayed real-time there until the next frame; with GOMAXPROCS 2 it did
// when a signal cut its last raw wait short, and CI caught it). Needs
// CAP_SYS_NICE.
func TestPrivilegedSingleLoopRTPriority(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SCHED_FIFO needs CAP_SYS_NICE: run as root")
	}
	const prio = 7
	for _, tc := range []struct {
		fixed bool
		procs int // GOMAXPROCS while the loops start; 0: as it is
	}{{false, 0}, {true, 0}, {false, 1}} {
		t.Run(fmt.Sprintf("fixed=%v,GOMAXPROCS=%d", tc.fixed, tc.procs), func(t *testing.T) {
			fixed := tc.fixed
			if tc.procs > 0 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(tc.procs))
			}
			if n := fifoThreads(t, prio); n != 0 {
				t.Fatalf("%d threads of the test process already run SCHED_FIFO at %d", n, prio)
			}
			l := newLab(t, 2, labOptions{sw: Config{SingleLoop: true, RTPriority: prio, RTPriorityFixed: fixed}})
			h0, h1 := l.hosts[0], l.hosts[1]
			l.flood(42, h0, h1)
			a := newPairDev(t, "vxpa")
			if _, err := h0.sw.AddPort(a, PortConfig{VNI: 42}); err != nil {
				t.Fatalf("AddPort: %v", err)
			}
			remote := h1.addPort("vxtap0", 42)
			la, peer := mac(0, 1), mac(1, 1)
			for range 10 {
				a.send(t, ipv4Frame(peer, la, overlayIP(0, 1), overlayIP(1, 1), 100))
				waitFrame(t, remote)
			}
			// h0's loop forwarded the frames above; h1's runs too if it
			// has started. More would mean threads other than the loops'
			// run real-time.
			n, engaged := fifoThreads(t, prio), h0.sw.Stats().RTEngaged
			if fixed {
				if n < 1 || n > 2 || engaged != 1 {
					t.Errorf("fixed: %d threads under SCHED_FIFO at %d (want 1 or 2, the loops'), h0's loop engaged %d times (want 1)", n, prio, engaged)
				}
			} else if n != 0 || engaged != 0 {
				t.Errorf("frames one at a time (never behind): %d threads under SCHED_FIFO, engaged %d times; want none", n, engaged)
			}

			// Bursts of 20 frames, more than a read takes (8): the loop
			// falls behind and, unless fixed, turns real-time; between
			// bursts longer than the hold, it falls back, so it turns
			// real-time again.
			for i := 0; h0.sw.Stats().RTEngaged < 2 && i < 50; i++ {
				sendBurst(t, a, la, overlayIP(0, 1), peer, 20, remote)
				time.Sleep(3 * rtHold)
			}
			if got := h0.sw.Stats().RTEngaged; fixed && got != 1 || !fixed && got < 2 {
				t.Errorf("after bursts that fill the loop's batches: engaged %d times, want %s", got, map[bool]string{true: "1 (fixed)", false: "2 or more"}[fixed])
			}
			if fixed {
				time.Sleep(rawWaitMax + 5*rtHold)
				if n := fifoThreads(t, prio); n < 1 {
					t.Errorf("fixed: %d threads under SCHED_FIFO once traffic stopped, want the loop's", n)
				}
			} else {
				eventually(t, "the loop to fall back to normal scheduling once traffic stopped", func() bool {
					return fifoThreads(t, prio) == 0
				})
			}
			for i, h := range l.hosts {
				if err := h.sw.Close(); err != nil {
					t.Fatalf("host %d: Close: %v", i, err)
				}
			}
			eventually(t, "the closed loops' real-time threads to end", func() bool {
				return fifoThreads(t, prio) == 0
			})
		})
	}
}

// fifoThreads counts this process's threads under SCHED_FIFO at prio.
func fifoThreads(t *testing.T, prio int) int {
	t.Helper()
	n, err := testutil.FIFOThreads(0, prio)
	if err != nil {
		t.Fatalf("threads: %v", err)
	}
	return n
}
