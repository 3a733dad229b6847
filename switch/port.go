package vswitch

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/tap"
)

// Port is a local access port: one Device attached to one VNI. A Port is
// created by AddPort and owned by the Switch; its accessors are safe for
// concurrent use.
type Port struct {
	id   uint32
	name string
	vni  uint32
	mtu  int
	dev  tap.Device // queue 0

	// queues are the device's queues (queues[0].dev == dev); more than one
	// for a multi-queue TAP opened several times. Each has a reader
	// routine; writes pick a queue by flow (FlowHash).
	queues []portQueue

	rxPackets, rxBytes, txPackets, txBytes atomic.Uint64

	closeOnce sync.Once
	closeErr  error
	readers   sync.WaitGroup // the reader routines, one per queue
	stopped   chan struct{}  // closed when every reader routine has exited
}

// portQueue is one queue of a port's device.
type portQueue struct {
	dev tap.Device
	// mu serializes Write on dev: the receive loops and the other ports'
	// readers all deliver to this port (Device.Write is called from one
	// goroutine at a time).
	mu *sync.Mutex
}

// ID is the port's number inside the switch (fdb.Dest.Port).
func (p *Port) ID() uint32 { return p.id }

// Name is the device name.
func (p *Port) Name() string { return p.name }

// VNI is the VXLAN segment the port is an access port of.
func (p *Port) VNI() uint32 { return p.vni }

// MTU is the device MTU the switch checks egress frames against.
func (p *Port) MTU() int { return p.mtu }

// Device returns the underlying device.
func (p *Port) Device() tap.Device { return p.dev }

// Queues is the number of device queues the port reads and writes.
func (p *Port) Queues() int { return len(p.queues) }

func (p *Port) close() error {
	p.closeOnce.Do(func() {
		var errs []error
		for _, q := range p.queues {
			if err := q.dev.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// maxFrame is the largest frame the port accepts on egress: its MTU plus an
// Ethernet header and one 802.1Q tag.
func (p *Port) maxFrame() int { return p.mtu + encap.EthernetHeaderLen + 4 }

// PortConfig describes a port to attach.
type PortConfig struct {
	// VNI is the segment the port belongs to (0 to 2^24-1).
	VNI uint32
	// LocalMACs are installed as fdb.OriginLocal entries pointing at the
	// port (for example the TAP's own address), so they are known before
	// any traffic and never move by learning. They are removed with the
	// port.
	LocalMACs []encap.MAC
	// Queues are further queues of the same device: a multi-queue TAP
	// (tap.Config.MultiQueue) opened once more per queue. The kernel
	// spreads the flows it sends over the queues, each queue gets its own
	// reader, and frames for the port are written to a queue chosen by
	// flow, so one flow keeps its order. The switch owns them like dev.
	Queues []tap.Device
}

// AddPort attaches dev to the switch as an access port of cfg.VNI and starts
// reading from it. The switch owns dev from then on and closes it in
// RemovePort or Close.
func (sw *Switch) AddPort(dev tap.Device, cfg PortConfig) (*Port, error) {
	if dev == nil {
		return nil, errors.New("vswitch: AddPort needs a device")
	}
	for _, q := range cfg.Queues {
		if q == nil || q.Name() != dev.Name() {
			return nil, fmt.Errorf("vswitch: port %s: every queue must be a device of that name", dev.Name())
		}
	}
	if sw.loop == nil {
		for _, d := range append([]tap.Device{dev}, cfg.Queues...) {
			if pd, ok := d.(tap.Polled); ok && pd.PollFD() >= 0 {
				return nil, fmt.Errorf("vswitch: port %s: the device's Read does not wait (tap.Config.NoWait): that needs Config.SingleLoop", dev.Name())
			}
		}
	}
	if cfg.VNI > encap.MaxVNI {
		return nil, fmt.Errorf("vswitch: port %s: VNI %d out of range (0-%d)", dev.Name(), cfg.VNI, encap.MaxVNI)
	}
	sw.state.Lock()
	defer sw.state.Unlock()
	if sw.state.closed {
		return nil, ErrClosed
	}
	old := sw.topo.Load()
	if _, ok := old.byName[dev.Name()]; ok {
		return nil, fmt.Errorf("vswitch: port %s already attached", dev.Name())
	}
	sw.state.nextID++
	p := &Port{
		id:      sw.state.nextID,
		name:    dev.Name(),
		vni:     cfg.VNI,
		mtu:     dev.MTU(),
		dev:     dev,
		stopped: make(chan struct{}),
	}
	for _, d := range append([]tap.Device{dev}, cfg.Queues...) {
		p.queues = append(p.queues, portQueue{dev: d, mu: new(sync.Mutex)})
		if g, ok := d.(groSwitch); ok {
			g.SetGRO(!sw.state.noTAPGRO)
		}
	}
	for _, mac := range cfg.LocalMACs {
		err := sw.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: cfg.VNI, MAC: mac}, Dest: fdb.Dest{Port: p.id}, Origin: fdb.OriginLocal})
		if err != nil {
			sw.fdb.DeleteIf(func(e fdb.Entry) bool { return e.Port == p.id })
			return nil, fmt.Errorf("vswitch: port %s: %w", p.name, err)
		}
	}
	nt := old.clone()
	if _, ok := nt.vnis[cfg.VNI]; !ok {
		nt.vnis[cfg.VNI] = &vniState{vni: cfg.VNI, c: &vniCounters{}}
	}
	nt.ports[p.id] = p
	nt.byName[p.name] = p
	nt.rebuildVNIPorts()
	sw.topo.Store(nt)

	sw.wg.Add(1)
	p.readers.Add(len(p.queues))
	var polled []*loopSource
	for _, q := range p.queues {
		if sw.loop != nil {
			if s := portSource(sw, p, q.dev); s != nil {
				polled = append(polled, s) // served by the single loop
				continue
			}
		}
		go sw.routineReadFromPort(p, q.dev)
	}
	if len(polled) > 0 {
		sw.loop.add(polled...)
		sw.startLoopLocked()
	}
	go func() {
		defer sw.wg.Done()
		p.readers.Wait()
		close(p.stopped)
	}()
	sw.log.Info("port attached", "port", p.name, "vni", p.vni, "mtu", p.mtu, "queues", len(p.queues), "queues_in_loop", len(polled))
	return p, nil
}

// ErrNoPort is returned for operations on a port name that is not attached.
var ErrNoPort = errors.New("vswitch: no such port")

// RemovePort detaches the named port, closes its device, waits for its
// reader to stop and removes every FDB entry that points at it. The VNI
// stays served.
func (sw *Switch) RemovePort(name string) error {
	sw.state.Lock()
	old := sw.topo.Load()
	p, ok := old.byName[name]
	if !ok {
		sw.state.Unlock()
		return fmt.Errorf("%w: %s", ErrNoPort, name)
	}
	nt := old.clone()
	delete(nt.ports, p.id)
	delete(nt.byName, name)
	nt.rebuildVNIPorts()
	// Keep what the kernel dropped at the port in the total (Stats adds
	// the ports still attached); a Stats call in between may count it
	// twice for a moment.
	sw.drops.d[DropPortOverflow].Add(p.kernelDrops())
	sw.topo.Store(nt)
	sw.state.Unlock()

	if sw.loop != nil {
		// Stop the loop polling the port's queues before they close.
		for range sw.loop.remove(p) {
			p.readers.Done()
		}
	}
	err := p.close()
	<-p.stopped
	n := sw.fdb.DeleteIf(func(e fdb.Entry) bool { return e.Port == p.id })
	sw.log.Info("port detached", "port", name, "fdb_entries_removed", n)
	return err
}

// kernelDrops is what the kernel dropped on the way from the port's
// device to the switch (tap.TAP.TxDropped of the first queue: every queue
// is the same link), 0 for a device that cannot tell.
func (p *Port) kernelDrops() uint64 {
	if d, ok := p.queues[0].dev.(interface{ TxDropped() (uint64, error) }); ok {
		if n, err := d.TxDropped(); err == nil {
			return n
		}
	}
	return 0
}

// Port returns the attached port called name.
func (sw *Switch) Port(name string) (*Port, bool) {
	p, ok := sw.topo.Load().byName[name]
	return p, ok
}

// Ports returns the attached ports ordered by ID.
func (sw *Switch) Ports() []*Port {
	t := sw.topo.Load()
	out := make([]*Port, 0, len(t.ports))
	for _, vs := range t.vnis {
		out = append(out, vs.ports...)
	}
	sortPorts(out)
	return out
}

func sortPorts(ps []*Port) {
	slices.SortFunc(ps, func(a, b *Port) int { return cmp.Compare(a.id, b.id) })
}

// PortName returns the name of the port with the given ID, or "" (for
// rendering fdb.Dest).
func (sw *Switch) PortName(id uint32) string {
	if p, ok := sw.topo.Load().ports[id]; ok {
		return p.name
	}
	return ""
}

// fits reports whether pkt's frame fits the port's MTU, counting an
// oversize drop when it does not.
func (p *Port) fits(sw *Switch, pkt []byte) bool {
	if len(pkt)-PacketStartOffset > p.maxFrame() {
		sw.drops.add(DropOversize)
		if sw.capture.Active() {
			sw.captureEgressDrop(DropOversize, p, pkt)
		}
		return false
	}
	return true
}

// deliver writes pkts (each PacketStartOffset bytes of headroom and a frame
// that fits) to the port: with one Write call on a single-queue port. On a
// port with several queues each frame goes to the queue its flow hashes
// to, consecutive frames for one queue in one Write. Writing a flow always
// through one queue matters beyond spreading the load: a multi-queue TAP
// sends a flow's other direction to the queue that flow's frames were last
// written from (the tun driver's automatic steering), so a flow written
// through a queue chosen by another flow's frame (the first of a batch)
// would have its frames to us move between queues, where a reader may
// take them out of order.
func (p *Port) deliver(sw *Switch, pkts [][]byte) {
	if len(pkts) == 0 {
		return
	}
	if len(p.queues) == 1 {
		p.write(sw, &p.queues[0], pkts)
		return
	}
	start, qi := 0, p.queueOf(pkts[0])
	for i := 1; i < len(pkts); i++ {
		if j := p.queueOf(pkts[i]); j != qi {
			p.write(sw, &p.queues[qi], pkts[start:i])
			start, qi = i, j
		}
	}
	p.write(sw, &p.queues[qi], pkts[start:])
}

// queueOf is the index of the queue pkt's flow is written to.
func (p *Port) queueOf(pkt []byte) int {
	if len(pkt) <= PacketStartOffset {
		return 0
	}
	return int(encap.FlowHash(pkt[PacketStartOffset:]) % uint32(len(p.queues)))
}

// write writes pkts to queue q with one Write call and counts them.
func (p *Port) write(sw *Switch, q *portQueue, pkts [][]byte) {
	q.mu.Lock()
	n, err := q.dev.Write(pkts, PacketStartOffset)
	q.mu.Unlock()
	if n > len(pkts) || n < 0 {
		n = 0
	}
	var bytes uint64
	for _, pkt := range pkts[:n] {
		bytes += uint64(len(pkt) - PacketStartOffset)
	}
	p.txPackets.Add(uint64(n))
	p.txBytes.Add(bytes)
	if err != nil {
		sw.drops.d[DropPortWrite].Add(uint64(len(pkts) - n))
		sw.logErr("port write failed", "port", p.name, "err", err)
	}
}

// groSwitch is implemented by devices that can turn coalescing of TCP
// segments on write on and off at run time (tap.TAP; it does nothing on a
// TAP without offloads, whose GRO is always false).
type groSwitch interface {
	SetGRO(on bool)
	GRO() bool
}

// SetTAPGRO turns coalescing of TCP segments into super-frames on write
// (Config.NoTAPGRO) on or off for every queue of every attached port whose
// device can switch it, and for ports attached later. It returns the
// number of ports whose devices can switch it. A write in progress
// finishes with the old setting. Safe for concurrent use.
func (sw *Switch) SetTAPGRO(on bool) int {
	sw.state.Lock()
	defer sw.state.Unlock()
	sw.state.noTAPGRO = !on
	n := 0
	for _, p := range sw.topo.Load().ports {
		switched := false
		for _, q := range p.queues {
			if g, ok := q.dev.(groSwitch); ok {
				g.SetGRO(on)
				switched = true
			}
		}
		if switched {
			n++
		}
	}
	return n
}

// TAPGRO reports the switch's setting of coalescing on write (see
// Config.NoTAPGRO and SetTAPGRO); Port.GRO tells what one port does.
func (sw *Switch) TAPGRO() bool {
	sw.state.Lock()
	defer sw.state.Unlock()
	return !sw.state.noTAPGRO
}

// GRO reports whether the port's device coalesces TCP segments on write,
// and ok false if the device cannot (it is not a TAP).
func (p *Port) GRO() (on, ok bool) {
	g, ok := p.dev.(groSwitch)
	if !ok {
		return false, false
	}
	return g.GRO(), true
}
