package vswitch

import (
	"errors"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/switch/tap"
	"github.com/vxswitch/vxswitch/vtep"
)

// loop is the switch's single forwarding loop (Config.SingleLoop): one
// goroutine, and so one OS thread while it waits, that waits in
// epoll_pwait(2) on every port queue and receive socket at once and
// forwards whatever is ready, one batch per ready source per round, before
// it waits again.
//
// Why: with a reader goroutine per TAP queue and per socket, a data
// super-frame and its ACK wake at least four threads per round trip, and
// on a small machine those threads and the Go scheduler's hand-offs
// between them cost more CPU than the forwarding itself (ARCHITECTURE.md).
// One loop per switch wakes once for whatever arrived meanwhile, on any
// source, and the runtime leaves its P alone while it waits (an idle P
// exists), so there is no hand-off at all.
//
// Why epoll and not ppoll(2), which the loop used first: ppoll walks
// every descriptor twice per wait (registering on and leaving each wait
// queue), so a wait costs O(sources), and a node with a TAP port per Pod
// has many; epoll keeps the registrations and returns only what is ready.
// On the AMD test VM, where system calls are dear (SRSO mitigation), a
// non-blocking ppoll of 4 descriptors took 1.0 µs against 0.36 µs for
// epoll_wait, and the loop waits about twice per forwarded packet of a
// request/response exchange.
//
// Sources are added and removed by other goroutines (AddPort, RemovePort,
// Start, Close) under mu; the loop picks up a change at its next round,
// woken by an eventfd, updates its epoll registrations and only then
// acknowledges the change, so a caller that removed a source knows that
// the loop neither reads nor waits on its descriptor any more and may
// close it.
type loop struct {
	sw   *Switch
	efd  int // eventfd: written to wake the loop for a change
	epfd int // the epoll instance the loop waits on

	mu      sync.Mutex
	cond    sync.Cond     // signalled when applied changes or the loop exits
	srcs    []*loopSource // the wanted sources
	gen     atomic.Uint64 // bumped by every change of srcs or stop
	applied uint64        // the gen the loop runs with (under mu)
	stop    bool
	started bool // run was started (under mu)
	exited  bool
}

// loopSource is one descriptor the loop polls and the state to serve it:
// a port queue (port, dev) or a receive socket (recv). Its buffers belong
// to the loop.
type loopSource struct {
	fd   int
	port *Port
	dev  tap.Device
	recv vtep.ReceiveFunc

	// buffered reports that the source holds frames or packets its
	// descriptor does not show (tap.Polled.Buffered,
	// vtep.StdBind.ReceiveBuffered); nil if it never does.
	buffered func() bool

	pb portBatch // a port queue's buffers
	rb recvBatch // a socket's buffers

	more  bool // serve again without waiting (again)
	ready bool // the last wait reported its descriptor ready
	dead  bool // failed for good (or closed): no longer polled
}

// efdTag is the epoll data (EpollEvent.Fd) of the loop's eventfd; a
// source's is its index in the loop's list of live sources.
const efdTag = -1

// newLoop creates the loop's eventfd and epoll instance; start runs it.
func newLoop(sw *Switch) (*loop, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		unix.Close(efd)
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: efdTag}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		unix.Close(efd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	l := &loop{sw: sw, efd: efd, epfd: epfd}
	l.cond.L = &l.mu
	return l, nil
}

// portSource returns a source for queue dev of p, or nil when dev's Read
// waits itself (not tap.Polled with a descriptor): such a queue gets a
// reader goroutine as usual.
func portSource(sw *Switch, p *Port, dev tap.Device) *loopSource {
	pd, ok := dev.(tap.Polled)
	if !ok || pd.PollFD() < 0 {
		return nil
	}
	return &loopSource{fd: pd.PollFD(), port: p, dev: dev, buffered: pd.Buffered, pb: newPortBatch(sw, p, dev)}
}

// recvSource returns a source for the ReceiveFunc fn polling fd; buffered
// (may be nil) reports packets fn holds.
func recvSource(fd int, fn vtep.ReceiveFunc, buffered func() bool, batch int) *loopSource {
	return &loopSource{fd: fd, recv: fn, buffered: buffered, rb: newRecvBatch(batch)}
}

// again reports whether s must be served again without waiting: its last
// batch was full (more may be queued), or it holds frames its descriptor
// does not show.
func (s *loopSource) again(n, batch int) bool {
	return n == batch || (s.buffered != nil && s.buffered())
}

// add makes the loop serve srcs from its next round on.
func (l *loop) add(srcs ...*loopSource) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.srcs = append(l.srcs, srcs...)
	l.gen.Add(1)
	l.wakeLocked()
}

// remove stops the loop serving p's queues and returns once the loop runs
// without them (or has exited): from then on it neither reads nor polls
// their descriptors, so they may be closed. It returns how many sources
// it removed.
func (l *loop) remove(p *Port) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.srcs)
	l.srcs = slices.DeleteFunc(l.srcs, func(s *loopSource) bool { return s.port == p })
	removed := n - len(l.srcs)
	g := l.gen.Add(1)
	l.wakeLocked()
	for l.started && l.applied < g && !l.exited {
		l.cond.Wait()
	}
	return removed
}

// shutdown stops the loop, waits until it has exited and closes the
// eventfd. The port queues it still served are released (Port.readers)
// on its way out.
func (l *loop) shutdown() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started {
		l.exit()
	} else {
		l.stop = true
		l.gen.Add(1)
		l.wakeLocked()
		for !l.exited {
			l.cond.Wait()
		}
	}
	if l.efd >= 0 {
		unix.Close(l.efd)
		l.efd = -1
	}
	if l.epfd >= 0 {
		unix.Close(l.epfd)
		l.epfd = -1
	}
}

// wakeLocked wakes the loop from its wait; mu is held, so the eventfd is not
// closed under the write (shutdown closes it under mu).
func (l *loop) wakeLocked() {
	if l.efd >= 0 {
		one := [8]byte{1}
		unix.Write(l.efd, one[:])
	}
}

// exit releases the port queues still served (Port.readers) and marks the
// loop exited. Called with mu held.
func (l *loop) exit() {
	for _, s := range l.srcs {
		if s.port != nil {
			s.port.readers.Done()
		}
	}
	l.srcs = nil
	l.exited = true
	l.cond.Broadcast()
}

// startLocked reports whether the caller is to start run (once); the
// caller holds the switch's state lock, so the switch is not closing.
func (l *loop) startLocked() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.exited {
		return false
	}
	l.started = true
	return true
}

// run is the loop goroutine.
func (l *loop) run() {
	sw := l.sw
	defer sw.wg.Done()
	sw.log.Debug("Routine: single loop - started")
	defer sw.log.Debug("Routine: single loop - stopped")

	// With Config.RTPriority the loop's thread is locked for good (it ends
	// with the loop, see rtThread) and real-time while rtw says so. New
	// checked the privilege, so an error here is unexpected: the loop then
	// stays at normal priority.
	var (
		rt  *rtThread
		rtw = rtWindow{fixed: sw.cfg.RTPriorityFixed}
	)
	if p := sw.cfg.RTPriority; p > 0 {
		var err error
		if rt, err = lockThread(p); err != nil {
			sw.log.Error("single loop: staying at normal priority", "err", err)
		} else {
			defer rt.restore()
		}
	}
	// realTime applies rtw's verdict after a round that ended at now.
	realTime := func(behind bool, now time.Time) {
		want := rtw.want(behind, now)
		if want == rt.on {
			return
		}
		if err := rt.set(want); err != nil {
			sw.logErr("single loop: cannot change priority", "err", err)
			rt = nil // stays as it is from now on
			return
		}
		if want {
			sw.rtEngaged.Add(1)
		}
	}
	if rt != nil && rtw.fixed {
		realTime(false, time.Now())
	}
	out := newEgress(sw, max(tap.OffloadBatchSize, sw.bind.BatchSize()))
	// Until rawWaitMax after it last served a source, the loop waits with
	// a raw epoll_pwait (rawEpollWait), first busy polling until
	// Config.BusyPoll after that if it is set; later (idle) it waits like
	// any blocking system call until something arrives. Both are
	// measured from the last work, not from the start of a wait, so a raw
	// wait that a preemption signal cuts short (EINTR) neither restarts
	// the busy poll nor keeps an idle loop waiting raw. With GOMAXPROCS 1
	// (when the loop starts) it never waits raw nor busy polls: its P
	// would be the only one.
	rawWait := runtime.GOMAXPROCS(0) > 1
	poll := newPollWindow(sw.cfg.BusyPoll, sw.cfg.BusyPollFixed)
	var lastWork time.Time // when the loop last served a source
	idle := true
	var (
		applied uint64
		srcs    []*loopSource // the live sources; an event's Fd is an index
		all     []*loopSource // every source, dead ones included
		events  []unix.EpollEvent
		efdBuf  [8]byte
	)
	// rebuild makes srcs the live sources of all and the epoll
	// registrations follow: every previous source's descriptor leaves the
	// epoll instance and every live one joins under its new index. (A
	// descriptor that was closed has left by itself: EBADF or ENOENT is
	// expected and ignored.) Changes are rare (ports added or removed, a
	// source failing), so this costs nothing per packet.
	rebuild := func() {
		for _, s := range srcs {
			unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
		}
		srcs = srcs[:0]
		for _, s := range all {
			if s.dead {
				continue
			}
			s.ready = false
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(len(srcs))}
			if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
				// Not a descriptor epoll can wait on (or already closed):
				// as a read error would, stop serving it.
				sw.log.Error("single loop: cannot wait on a source", "fd", s.fd, "err", os.NewSyscallError("epoll_ctl", err))
				s.dead = true
				continue
			}
			srcs = append(srcs, s)
		}
		if cap(events) < len(srcs)+1 {
			events = make([]unix.EpollEvent, len(srcs)+1)
		}
		events = events[:len(srcs)+1]
	}
	rebuild()
	for {
		if g := l.gen.Load(); g != applied {
			l.mu.Lock()
			if l.stop {
				l.exit()
				l.mu.Unlock()
				return
			}
			all = slices.Clone(l.srcs)
			// Before acknowledging: a caller of remove may close the
			// descriptors of the sources it removed as soon as it returns.
			rebuild()
			applied = l.gen.Load()
			l.applied = applied
			l.cond.Broadcast()
			l.mu.Unlock()
		}
		// While the loop runs real-time for being behind, no wait may
		// outlast the hold: a loop that went quiet must fall back when it
		// runs out, not when the next frame wakes it (an idle loop's wait
		// has no end, and the round after a raw wait that a signal cut
		// short may never come).
		hold := time.Duration(-1) // how long a wait may last; -1: no bound
		if rt != nil && rt.on && !rtw.fixed {
			now := time.Now()
			if hold = rtw.left(now); hold == 0 {
				realTime(false, now)
				hold = -1
			}
		}
		more := false
		for _, s := range srcs {
			if s.more {
				more = true
				break
			}
		}
		var (
			ready int // events returned; 0 when a wait timed out
			err   error
		)
		switch {
		case more:
			ready, err = rawEpollWait(l.epfd, events, 0) // does not block
		case rawWait && !idle:
			if d := poll.window() - time.Since(lastWork); d > 0 {
				ready, err = l.busyPoll(events, d)
				if ready != 0 || err != nil {
					break
				}
			}
			left := rawWaitMax - time.Since(lastWork)
			if left <= 0 {
				idle = true
				continue
			}
			// A wait cut to the hold that finds nothing does not make the
			// loop idle.
			cut := hold >= 0 && hold < left
			if cut {
				left = hold
			}
			ready, err = rawEpollWait(l.epfd, events, waitMillis(left))
			idle = err == nil && ready == 0 && !cut
		default:
			ready, err = unix.EpollWait(l.epfd, events, waitMillis(hold))
			idle = false
		}
		if err != nil {
			if err == unix.EINTR {
				// Most likely the runtime asking this goroutine to stop
				// (a preemption signal, say for a GC phase), which it
				// cannot do inside a raw wait: yield here rather than
				// rely on the next function call's preemption check.
				runtime.Gosched()
			} else {
				sw.logErr("single loop: epoll_pwait failed", "err", err)
				time.Sleep(time.Millisecond)
			}
			continue
		}
		for _, ev := range events[:ready] {
			switch i := int(ev.Fd); {
			case i == efdTag:
				unix.Read(l.efd, efdBuf[:])
			case i >= 0 && i < len(srcs):
				srcs[i].ready = true
			}
		}
		died := false
		if ready > 0 || more {
			now := time.Now()
			if !more {
				// How long the loop waited (polling or not) since its
				// last work; an idle loop's wait counts as long.
				poll.observe(now.Sub(lastWork))
			}
			lastWork = now
		}
		behind := false // a source has more than this round took
		for _, s := range srcs {
			if !s.ready && !s.more {
				continue
			}
			s.ready = false
			if s.port != nil {
				l.servePort(s, out)
			} else {
				l.serveRecv(s, out)
			}
			died = died || s.dead
			behind = behind || s.more
		}
		if rt != nil && !rtw.fixed {
			realTime(behind, time.Now())
		}
		if died {
			rebuild()
		}
	}
}

// waitMillis is epoll_pwait's timeout for a wait of at most d (-1: no
// bound). epoll_pwait takes whole milliseconds: round up, so that a wait
// does not end before d (the loop would spin through sub-millisecond
// waits).
func waitMillis(d time.Duration) int {
	if d < 0 {
		return -1
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// rawWaitMax bounds a raw wait of the loop (rawEpollWait): how long, at
// most, the loop keeps its P while nothing arrives, which bounds how long
// a stop-the-world waits for it when asynchronous preemption is off
// (GODEBUG=asyncpreemptoff=1; otherwise a signal ends the wait at once),
// and after which an idle daemon waits as an ordinary blocking call. It
// is longer than a scheduler time slice: with 1 ms, a peer descheduled
// for a few milliseconds under load made the loop fall back to ordinary
// waits in the middle of a TCP stream, and most of the gain was lost (TCP
// A/B against the build before: ×1.03 over 8 rounds with 1 ms, ×1.14
// over 6 with 20 ms).
const rawWaitMax = 20 * time.Millisecond

// busyPoll polls the epoll instance without blocking until a source is
// ready or d has passed since it began, yielding the CPU (sched_yield(2))
// between polls so that other threads runnable on this CPU, often the very
// application whose reply the loop waits for, run first. It returns what
// the last poll returned (the events in events) and counts a hit (traffic
// found) or a miss (the caller waits). Each poll is a raw system call,
// like the raw wait: the loop keeps its P, and a preemption signal ends a
// poll with EINTR.
func (l *loop) busyPoll(events []unix.EpollEvent, d time.Duration) (int, error) {
	deadline := time.Now().Add(d)
	for {
		ready, err := rawEpollWait(l.epfd, events, 0)
		if ready != 0 || err != nil {
			if ready != 0 {
				l.sw.busyPollHits.Add(1)
			}
			return ready, err
		}
		if !time.Now().Before(deadline) {
			l.sw.busyPollMisses.Add(1)
			return 0, nil
		}
		unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
}

// rawEpollWait is epoll_pwait(2) (no signal mask) issued with
// RawSyscall6, without telling the Go scheduler that the goroutine enters
// a system call. The scheduler then leaves the loop's P with its thread
// while it waits, instead of handing the P to another thread (sysmon
// retakes a P whose thread is in a system call) and the loop's thread
// taking one back, or a different thread taking over the loop, when the
// wait ends: on the 2-vCPU rig the daemons' context switches per 64 KiB
// of TCP fell from 2.7-2.9 to 2.3-2.4 and TCP rose 14 % (README,
// Performance; measured with ppoll, which the loop used then, together
// with the forwarding system calls made the same way, see internal/rawfd).
// A signal (preemption) ends the wait with EINTR. It returns the number of
// events, 0 on timeout; msec is the timeout in milliseconds (0: do not
// block).
func rawEpollWait(epfd int, events []unix.EpollEvent, msec int) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)),
		uintptr(msec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// servePort reads one batch from a port queue and forwards it.
func (l *loop) servePort(s *loopSource, out *egress) {
	sw := l.sw
	n, err := sw.readPort(s.port, s.dev, &s.pb, out)
	s.more = s.again(n, len(s.pb.bufs))
	if err != nil {
		s.more = false
		s.dead = true
		if errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) {
			return
		}
		// As a reader goroutine would: stop reading a device that fails.
		// The port stays listed until removed.
		sw.log.Error("port reader stopping after read error", "port", s.port.name, "err", err)
	}
}

// serveRecv receives one batch from a socket and switches it.
func (l *loop) serveRecv(s *loopSource, out *egress) {
	sw := l.sw
	n, err := sw.receive(s.recv, &s.rb, out)
	s.more = s.again(n, len(s.rb.bufs))
	if err != nil {
		s.more = false
		if errors.Is(err, net.ErrClosed) {
			s.dead = true
			return
		}
		sw.logErr("VTEP receive failed", "err", err) // transient: keep polling
	}
}
