package vswitch

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/capture"
	"github.com/vxswitch/vxswitch/vtep"
)

// PacketStartOffset is the headroom, in bytes, in front of every frame in the
// switch's buffers. Ports read frames at buf[PacketStartOffset:] so the VTEP
// can write the VXLAN header in place at buf[:PacketStartOffset] and send
// buf[:PacketStartOffset+size] without a copy; received VXLAN lands at buf[0:]
// with the inner frame at the same offset, so both paths hand ports the
// same shape. Device implementations rely on this being the offset they are
// called with.
const PacketStartOffset = encap.VXLANHeaderLen

// bufSize is the size of every frame buffer the loops own.
const bufSize = encap.MaxFrameSize

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("vswitch: switch closed")

// Config configures a Switch. The zero value is usable: DefaultConfig
// documents what each zero field means.
type Config struct {
	// Port is the UDP port the VTEP listens on and sends to (RFC 7348 §5:
	// IANA-assigned 4789). 0 means encap.VXLANPort.
	Port uint16

	// Strict drops VXLAN whose reserved bits are set, as Linux does.
	// Otherwise they are accepted and counted (RFC 7348 §5: reserved fields
	// "MUST be set to zero on transmission and ignored on receipt").
	Strict bool

	// NoLearning turns data-plane learning off (control-plane entries only).
	NoLearning bool

	// AgeInterval is how often learned FDB entries are aged out. 0 means
	// every 5 seconds.
	AgeInterval time.Duration

	// SourceFilter, if set, is called for received VXLAN packets' outer
	// source addresses; false drops the packet as DropNotMember. It is
	// called concurrently from the receive loops and must not block. A
	// loop asks once per source and batch (the packets of a batch, a GRO
	// train above all, mostly share their source), so a source that stops
	// being accepted is refused from the next batch on.
	SourceFilter func(netip.Addr) bool

	// Suppress, if set, answers ARP requests for known bindings on the
	// ingress port instead of flooding them (see Suppressor). nil floods
	// every request.
	Suppress *Suppressor

	// SingleLoop forwards with one loop goroutine that waits in epoll(7)
	// on every port queue and receive socket at once and serves whatever
	// is ready, instead of a reader goroutine per port queue and per
	// socket (the daemon's --wait=loop; see loop_linux.go). The loop
	// serves the port queues whose devices do not wait (tap.Config.NoWait,
	// tap.Polled) and the bind's receive sockets when its ReceiveFuncs do
	// not wait (vtep.Config.NoWait, ReceiveFDs); anything else gets a
	// goroutine as usual. Linux only.
	SingleLoop bool

	// BusyPoll, with SingleLoop, makes the loop poll without blocking for
	// up to this long after it last found traffic before it waits,
	// yielding the CPU (sched_yield) between polls, so a reply that comes
	// back within that time is forwarded without a thread wake-up: lower
	// latency for request/response traffic at the cost of CPU time while
	// traffic flows (the daemon's --busy-poll). The window adapts to the
	// traffic (pollWindow): it grows up to BusyPoll while events come
	// within BusyPoll of the loop's last work and shrinks to nothing when
	// they come later, so traffic sparser than BusyPoll is not polled for.
	// 0, the default, never polls. At most MaxBusyPoll; ignored when
	// GOMAXPROCS is 1 as the loop starts (its P would be the only one).
	BusyPoll time.Duration

	// BusyPollFixed makes the loop poll for all of BusyPoll after every
	// piece of work. Without it (the default) BusyPoll is the longest
	// window of an adaptive one (pollWindow): it grows while traffic
	// comes back within BusyPoll and shrinks to nothing when it does not.
	BusyPollFixed bool

	// RTPriority, with SingleLoop, runs the loop's OS thread under the
	// SCHED_FIFO real-time policy at this priority (1 to MaxRTPriority)
	// while the loop is behind, the daemon's --rt-priority: from a round
	// in which a source gave it a full batch (or holds more than its
	// descriptor shows) until rtHold passes without one. A real-time loop
	// runs as soon as traffic arrives instead of waiting for a time slice
	// behind the applications that make and take it, as the kernel's own
	// data path does in softirq, so queues do not build up in front of it
	// (README, "Latency under load"); falling back when it has caught up
	// lets it batch again, where a loop that is always real-time preempts
	// a sender of small packets at every packet (RTPriorityFixed). The
	// loop locks itself to its thread and never unlocks it, so the thread
	// ends with the loop and no other goroutine runs real-time; nothing
	// else in the process changes policy. New checks that the process may
	// do it (CAP_SYS_NICE or RLIMIT_RTPRIO) and refuses it together with
	// BusyPoll: a real-time thread that polls keeps normal threads off its
	// CPU (sched_yield(2) does not yield to them), among them the
	// application whose reply it waits for. Stats.RTEngaged counts the
	// loop's turns to real-time. 0, the default, leaves the loop to the
	// normal scheduler.
	RTPriority int

	// RTPriorityFixed keeps the loop's thread real-time all the time
	// instead of while it is behind (the daemon's --rt-priority-fixed).
	RTPriorityFixed bool

	// NoTAPGRO turns off coalescing of TCP segments into super-frames on
	// write ("GRO on write", tap.Config.NoGRO) on every port whose device
	// can switch it (a tap.TAP with offloads): AddPort applies the
	// switch's setting to each port's devices, whatever they were created
	// with. SetTAPGRO changes it at run time. The zero value coalesces.
	NoTAPGRO bool

	// Gather turns on gathered sends of TSO super-frames (the daemon's
	// --gather): where a port hands super-frames over whole
	// (tap.SuperReader) and the bind sends datagrams from two pieces
	// (vtep.GatherSender), a super-frame's segments for a remote VTEP
	// leave as their own headers followed by slices of the super-frame,
	// without copying each segment's payload into a buffer of its own
	// (see forwardSuper). Off by default: on the lab rig it saved less
	// userspace time than the kernel's send path then spent more
	// (README, "Gathered sends").
	Gather bool

	// Logger receives lifecycle and rate-limited error logs. nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration the daemon starts from.
func DefaultConfig() Config {
	return Config{
		Port:        encap.VXLANPort, // IANA-assigned, RFC 7348 §5
		AgeInterval: 5 * time.Second, // ageing granularity; entries live fdb.Config.Ageing
	}
}

// Switch is a VXLAN switch: ports, a VTEP bind and a forwarding database.
// All exported methods are safe for concurrent use.
type Switch struct {
	cfg  Config
	log  *slog.Logger
	fdb  *fdb.Table
	bind vtep.Bind

	// state serializes configuration changes (ports, VNIs) and Close.
	state struct {
		sync.Mutex
		closed   bool
		started  bool
		nextID   uint32
		noTAPGRO bool // Config.NoTAPGRO, then SetTAPGRO's argument negated
	}

	// topo is the forwarding loops' read-only view of ports and VNIs,
	// replaced as a whole (copy on write) under state's lock and read with
	// one atomic load per batch.
	topo atomic.Pointer[topology]

	drops                dropCounters
	reservedBitsAccepted atomic.Uint64
	busyPollHits         atomic.Uint64 // busy polls that found traffic
	busyPollMisses       atomic.Uint64 // busy polls that ran out: the loop waited
	rtEngaged            atomic.Uint64 // the loop's turns to real-time (Config.RTPriority)
	gathered             atomic.Uint64 // segments sent gathered (forwardSuper)

	// capture fans frames out to running packet captures; the loops call
	// it only when capture.Active() (one atomic load).
	capture capture.Hub

	// errLog limits error logs from the loops to one per second.
	errLog struct{ last atomic.Int64 }

	// loop is the single forwarding loop (Config.SingleLoop), else nil.
	loop *loop

	// gather is the bind as a vtep.GatherSender, or nil when it is not one
	// or Config.Gather is off: then super-frames are split by copying.
	gather vtep.GatherSender

	wg   sync.WaitGroup // the long-lived routines
	done chan struct{}  // closed by Close
}

// topology is an immutable snapshot of ports and VNIs.
type topology struct {
	ports  map[uint32]*Port     // by port ID
	byName map[string]*Port     // by name
	vnis   map[uint32]*vniState // served VNIs
}

// vniState holds one served VNI's local ports (a snapshot) and its underlay
// counters.
type vniState struct {
	vni   uint32
	ports []*Port // local ports in this VNI; immutable snapshot
	c     *vniCounters
}

// vniCounters live as long as the switch, across topology snapshots.
type vniCounters struct {
	rxPackets, rxBytes, txPackets, txBytes atomic.Uint64
}

// New returns a Switch that forwards with table and sends through bind. It
// does not start anything: call Start.
func New(cfg Config, bind vtep.Bind, table *fdb.Table) (*Switch, error) {
	if bind == nil || table == nil {
		return nil, errors.New("vswitch: New needs a bind and an FDB table")
	}
	if cfg.Port == 0 {
		cfg.Port = encap.VXLANPort
	}
	if cfg.AgeInterval <= 0 {
		cfg.AgeInterval = 5 * time.Second
	}
	if cfg.BusyPoll < 0 || cfg.BusyPoll > MaxBusyPoll {
		return nil, fmt.Errorf("vswitch: BusyPoll %s: must be 0 to %s", cfg.BusyPoll, MaxBusyPoll)
	}
	if cfg.BusyPoll > 0 && !cfg.SingleLoop {
		return nil, errors.New("vswitch: BusyPoll needs SingleLoop")
	}
	if cfg.RTPriorityFixed && cfg.RTPriority == 0 {
		return nil, errors.New("vswitch: RTPriorityFixed needs RTPriority")
	}
	if cfg.RTPriority != 0 {
		switch {
		case cfg.RTPriority < 0 || cfg.RTPriority > MaxRTPriority:
			return nil, fmt.Errorf("vswitch: RTPriority %d: must be 0 (off) or 1 to %d", cfg.RTPriority, MaxRTPriority)
		case !cfg.SingleLoop:
			return nil, errors.New("vswitch: RTPriority needs SingleLoop")
		case cfg.BusyPoll > 0:
			return nil, errors.New("vswitch: RTPriority and BusyPoll exclude each other: a real-time loop that polls keeps normal threads, among them the applications whose replies it waits for, off its CPU")
		}
		if err := probeRealtime(cfg.RTPriority); err != nil {
			return nil, err
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sw := &Switch{cfg: cfg, log: log, fdb: table, bind: bind, done: make(chan struct{})}
	sw.state.noTAPGRO = cfg.NoTAPGRO
	if g, ok := bind.(vtep.GatherSender); ok && cfg.Gather {
		sw.gather = g
	}
	if cfg.SingleLoop {
		l, err := newLoop(sw)
		if err != nil {
			return nil, err
		}
		sw.loop = l
	}
	sw.topo.Store(&topology{ports: map[uint32]*Port{}, byName: map[string]*Port{}, vnis: map[uint32]*vniState{}})
	return sw, nil
}

// MaxBusyPoll is the longest Config.BusyPoll: beyond a millisecond a
// reply is not what the loop waits for, and the CPU is better left to
// others.
const MaxBusyPoll = time.Millisecond

// FDB returns the switch's forwarding database.
func (sw *Switch) FDB() *fdb.Table { return sw.fdb }

// Capture returns the switch's capture hub: Start a capture.Session on it
// to record frames at every hop. The hub lives as long as the switch.
func (sw *Switch) Capture() *capture.Hub { return &sw.capture }

// Config returns the configuration the switch runs with.
func (sw *Switch) Config() Config { return sw.cfg }

// Start opens the bind on Config.Port and starts the receive and ageing
// routines. Ports may be added before or after Start.
func (sw *Switch) Start() error {
	sw.state.Lock()
	defer sw.state.Unlock()
	if sw.state.closed {
		return ErrClosed
	}
	if sw.state.started {
		return errors.New("vswitch: already started")
	}
	fns, port, err := sw.bind.Open(sw.cfg.Port)
	if err != nil {
		return fmt.Errorf("vswitch: open VTEP: %w", err)
	}
	var fds []int
	if b, ok := sw.bind.(interface{ ReceiveFDs() []int }); ok {
		fds = b.ReceiveFDs()
	}
	if sw.loop == nil && fds != nil {
		sw.bind.Close()
		return errors.New("vswitch: the bind's ReceiveFuncs do not wait (vtep.Config.NoWait): that needs Config.SingleLoop")
	}
	polled := sw.loop != nil && len(fds) == len(fns)
	sw.state.started = true
	busy := "off"
	switch {
	case sw.loop == nil || sw.cfg.BusyPoll == 0:
	case sw.cfg.BusyPollFixed:
		busy = sw.cfg.BusyPoll.String() + " fixed"
	default:
		busy = "adaptive up to " + sw.cfg.BusyPoll.String()
	}
	rt := "off"
	switch {
	case sw.loop == nil || sw.cfg.RTPriority == 0:
	case sw.cfg.RTPriorityFixed:
		rt = fmt.Sprintf("%d fixed", sw.cfg.RTPriority)
	default:
		rt = fmt.Sprintf("%d while behind", sw.cfg.RTPriority)
	}
	sw.log.Info("VTEP listening", "port", port, "receivers", len(fns), "single_loop", sw.loop != nil, "receivers_in_loop", polled, "busy_poll", busy, "rt_priority", rt)
	if polled {
		// A ReceiveFunc may hold packets it has received but not yet
		// returned (the rest of a GRO datagram train); the loop serves it
		// again while it says so, since its socket does not show them.
		var buffered []func() bool
		if b, ok := sw.bind.(interface{ ReceiveBuffered() []func() bool }); ok {
			buffered = b.ReceiveBuffered()
		}
		srcs := make([]*loopSource, len(fns))
		for i, fn := range fns {
			var bf func() bool
			if len(buffered) == len(fns) {
				bf = buffered[i]
			}
			srcs[i] = recvSource(fds[i], fn, bf, sw.bind.BatchSize())
		}
		sw.loop.add(srcs...)
		sw.startLoopLocked()
	} else {
		for _, fn := range fns {
			sw.wg.Add(1)
			go sw.routineReceiveFromVTEP(fn)
		}
	}
	sw.wg.Add(1)
	go sw.routineAgeFDB()
	return nil
}

// Close stops every routine, closes the bind and every port, and waits for
// the routines to exit. It is idempotent.
func (sw *Switch) Close() error {
	sw.state.Lock()
	if sw.state.closed {
		sw.state.Unlock()
		return nil
	}
	sw.state.closed = true
	close(sw.done)
	t := sw.topo.Load()
	sw.state.Unlock()

	if sw.loop != nil {
		// The loop must stop polling and reading before the bind's
		// sockets and the ports' devices are closed.
		sw.loop.shutdown()
	}
	var errs []error
	if err := sw.bind.Close(); err != nil {
		errs = append(errs, err)
	}
	for _, p := range t.ports {
		if err := p.close(); err != nil {
			errs = append(errs, err)
		}
	}
	sw.wg.Wait()
	return errors.Join(errs...)
}

// startLoopLocked starts the single loop if there is one and it is not
// running yet; the caller holds state's lock.
func (sw *Switch) startLoopLocked() {
	if sw.loop != nil && sw.loop.startLocked() {
		sw.wg.Add(1)
		go sw.loop.run()
	}
}

// AddVNI makes the switch serve vni even without a local port (VXLAN for an
// unserved VNI is dropped as DropUnknownVNI). Adding a served VNI is a no-op.
func (sw *Switch) AddVNI(vni uint32) error {
	if vni > encap.MaxVNI {
		return fmt.Errorf("vswitch: VNI %d out of range (0-%d)", vni, encap.MaxVNI)
	}
	sw.state.Lock()
	defer sw.state.Unlock()
	if sw.state.closed {
		return ErrClosed
	}
	old := sw.topo.Load()
	if _, ok := old.vnis[vni]; ok {
		return nil
	}
	nt := old.clone()
	nt.vnis[vni] = &vniState{vni: vni, c: &vniCounters{}}
	sw.topo.Store(nt)
	return nil
}

// VNIs returns the served VNIs in ascending order.
func (sw *Switch) VNIs() []uint32 {
	t := sw.topo.Load()
	out := make([]uint32, 0, len(t.vnis))
	for v := range t.vnis {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// Serves reports whether the switch serves vni.
func (sw *Switch) Serves(vni uint32) bool {
	_, ok := sw.topo.Load().vnis[vni]
	return ok
}

func (t *topology) clone() *topology {
	nt := &topology{
		ports:  make(map[uint32]*Port, len(t.ports)+1),
		byName: make(map[string]*Port, len(t.byName)+1),
		vnis:   make(map[uint32]*vniState, len(t.vnis)+1),
	}
	for k, v := range t.ports {
		nt.ports[k] = v
	}
	for k, v := range t.byName {
		nt.byName[k] = v
	}
	for k, v := range t.vnis {
		cp := *v
		nt.vnis[k] = &cp
	}
	return nt
}

// rebuildVNIPorts recomputes each VNI's port list from t.ports.
func (t *topology) rebuildVNIPorts() {
	for _, vs := range t.vnis {
		vs.ports = nil
	}
	ids := make([]uint32, 0, len(t.ports))
	for id := range t.ports {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := t.ports[id]
		vs := t.vnis[p.vni]
		vs.ports = append(vs.ports, p)
	}
}

// logErr logs at most one error line per second from the forwarding loops.
func (sw *Switch) logErr(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := sw.errLog.last.Load()
	if now-last < int64(time.Second) || !sw.errLog.last.CompareAndSwap(last, now) {
		return
	}
	sw.log.Warn(msg, args...)
}

// routineAgeFDB removes idle learned entries every AgeInterval.
func (sw *Switch) routineAgeFDB() {
	defer sw.wg.Done()
	sw.log.Debug("Routine: FDB ageing - started")
	defer sw.log.Debug("Routine: FDB ageing - stopped")
	tick := time.NewTicker(sw.cfg.AgeInterval)
	defer tick.Stop()
	for {
		select {
		case <-sw.done:
			return
		case <-tick.C:
			if n := sw.fdb.Age(); n > 0 {
				sw.log.Debug("FDB entries aged out", "count", n)
			}
		}
	}
}
