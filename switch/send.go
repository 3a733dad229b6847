package vswitch

import (
	"errors"
	"net"
	"net/netip"
	"os"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/capture"
	"github.com/vxswitch/vxswitch/switch/tap"
)

// routineReadFromPort reads batches of frames from one queue (dev) of a
// port and forwards each: to another local port, encapsulated to one
// remote VTEP, or flooded. It owns its buffers (allocated once, before the
// loop) and exits when the device is closed.
func (sw *Switch) routineReadFromPort(p *Port, dev tap.Device) {
	defer p.readers.Done()
	sw.log.Debug("Routine: port reader - started", "port", p.name)
	defer sw.log.Debug("Routine: port reader - stopped", "port", p.name)

	b := newPortBatch(sw, p, dev)
	out := newEgress(sw, dev.BatchSize())
	for {
		n, err := sw.readPort(p, dev, &b, out)
		if err != nil {
			if errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-sw.done:
				return
			default:
			}
			sw.logErr("port read failed", "port", p.name, "err", err)
			if n == 0 {
				// A device that keeps failing must not spin: stop reading
				// from it. The port stays listed until removed.
				sw.log.Error("port reader stopping after read error", "port", p.name, "err", err)
				return
			}
		}
	}
}

// learnMemo remembers the last source learned by a loop within one batch.
// A batch is mostly one flow (a TSO super-frame split into dozens of
// frames, a GRO-coalesced datagram train), so learning each source once
// per batch instead of once per frame saves an FDB lookup, a clock read
// and a store per frame. It is reset after every batch, so a live flow
// still refreshes its entry on every read.
type learnMemo struct {
	ok   bool
	vni  uint32
	mac  encap.MAC
	dest fdb.Dest
}

// lookupMemo remembers a loop's last successful FDB lookup within one
// batch, for the same reason as learnMemo: the frames of a batch mostly go
// to one destination, and each lookup takes a shard's read lock, whose
// counter the other loops' lookups contend for. Only hits are kept, and a
// learn in the batch forgets it, so a memo never answers differently from
// the table as this loop last changed it; changes by others are seen from
// the next batch on, microseconds later.
type lookupMemo struct {
	ok   bool
	vni  uint32
	mac  encap.MAC
	dest fdb.Dest
}

// vniMemo and portMemo remember the VNI state and the port a loop last
// looked up, and in which topology snapshot: the frames of a batch mostly
// share both, and the map lookups per frame showed in profiles of a TCP
// stream. Checking the snapshot keeps them exact: a topology change is
// seen at once.
type vniMemo struct {
	t   *topology
	vni uint32
	vs  *vniState
}

type portMemo struct {
	t  *topology
	id uint32
	p  *Port
}

// resetBatch forgets the batch memos at the end of a batch.
func (e *egress) resetBatch() {
	e.learned = learnMemo{}
	e.looked = lookupMemo{}
	e.accepted = netip.Addr{}
	e.vnis = vniMemo{}
	e.ports = portMemo{}
}

// vniState returns t.vnis[vni] through e's memo.
func (e *egress) vniState(t *topology, vni uint32) *vniState {
	m := &e.vnis
	if m.t == t && m.vni == vni && m.vs != nil {
		return m.vs
	}
	vs := t.vnis[vni]
	*m = vniMemo{t: t, vni: vni, vs: vs}
	return vs
}

// portByID returns t.ports[id] through e's memo.
func (e *egress) portByID(t *topology, id uint32) *Port {
	m := &e.ports
	if m.t == t && m.id == id && m.p != nil {
		return m.p
	}
	p := t.ports[id]
	*m = portMemo{t: t, id: id, p: p}
	return p
}

// accepts reports whether sw.cfg.SourceFilter f accepts src, asking f once
// per source and batch: a batch's packets mostly come from one VTEP, and
// the filter's lookup (a map keyed by netip.Addr in the daemon) was a
// visible share of a TCP stream's CPU time. Only acceptance is
// remembered, so every refused packet is counted by a fresh answer.
func (e *egress) accepts(f func(netip.Addr) bool, src netip.Addr) bool {
	if e.accepted.IsValid() && e.accepted == src {
		return true
	}
	if !f(src) {
		return false
	}
	e.accepted = src
	return true
}

// lookup is sw.fdb.Lookup through out's memo.
func (sw *Switch) lookup(out *egress, vni uint32, mac encap.MAC) (fdb.Dest, bool) {
	m := &out.looked
	if m.ok && m.vni == vni && m.mac == mac {
		return m.dest, true
	}
	d, ok := sw.fdb.Lookup(vni, mac)
	if ok {
		*m = lookupMemo{ok: true, vni: vni, mac: mac, dest: d}
	}
	return d, ok
}

// learn learns mac behind dest in vni unless this batch already did.
func (sw *Switch) learn(out *egress, vni uint32, mac encap.MAC, dest fdb.Dest) {
	m := &out.learned
	if m.ok && m.vni == vni && m.mac == mac && m.dest == dest {
		return
	}
	*m = learnMemo{ok: true, vni: vni, mac: mac, dest: dest}
	out.looked = lookupMemo{} // the learn may change what a lookup finds
	if r := sw.fdb.Learn(vni, mac, dest); r == fdb.LearnRejectedCap {
		sw.drops.add(DropLearnCap)
		m.ok = false // count every refused frame, as before
	}
}

// portBufSlack is how many bytes a port's read buffers hold beyond its
// largest valid frame.
const portBufSlack = 256

// portBufferSize is the size of a port reader's buffers. A port reads
// frames no larger than its MTU allows (an offload TAP splits super-frames
// to that size before they reach us), so its buffers need not be bufSize:
// 128 buffers of an offload TAP would otherwise pin 8 MiB per port. The
// slack keeps a frame that is too large whole, so it is counted as
// oversize rather than truncated.
func portBufferSize(p *Port) int {
	return min(bufSize, PacketStartOffset+max(p.maxFrame(), encap.EthernetHeaderLen+1500)+portBufSlack)
}

// forwardFromPort switches one frame that arrived on port p. pkt holds
// PacketStartOffset bytes of headroom followed by the frame. While a
// capture runs it records the frame with the decision (and, for a drop, at
// the drop point too) under a new ID that the copies sent carry.
//
// It does not return the decision: taking switchFromPort's result made
// the compiler copy the capture.Decision through the stack, 15 % of a
// frame's switching time (BenchmarkForwardBatch). forwardSuper learns
// what it needs from egress.unicast.
func (sw *Switch) forwardFromPort(p *Port, pkt []byte, out *egress) {
	if !sw.capture.Active() {
		out.id = 0
		sw.switchFromPort(p, pkt, out)
		return
	}
	out.id = sw.capture.NextID()
	frame := pkt[PacketStartOffset:]
	if sw.cfg.Suppress != nil {
		// Suppression answers an ARP request or neighbour solicitation by
		// rewriting the frame in place into the reply: record the frame
		// as it arrived. (Only while a capture runs; the copy's buffer is
		// kept for the next frame.)
		out.arrived = append(out.arrived[:0], frame...)
		frame = out.arrived
	}
	d := sw.switchFromPort(p, pkt, out)
	m := capture.Meta{Point: capture.PortIn, Port: p.name, VNI: p.vni, Decision: d, ID: out.id}
	sw.capture.Capture(&m, frame)
	if d.Kind == capture.DecisionDrop {
		m.Point = capture.Drop
		sw.capture.Capture(&m, frame)
	}
}

// switchFromPort is forwardFromPort's decision and delivery; it returns
// the decision for capture.
func (sw *Switch) switchFromPort(p *Port, pkt []byte, out *egress) capture.Decision {
	frame := encap.Ethernet(pkt[PacketStartOffset:])
	if len(frame) < encap.EthernetMinimumSize {
		sw.drops.add(DropTruncated)
		return dropped(DropTruncated)
	}
	p.rxPackets.Add(1)
	p.rxBytes.Add(uint64(len(frame)))
	if len(frame) > p.maxFrame() {
		sw.drops.add(DropOversize)
		return dropped(DropOversize)
	}
	src := frame.Source()
	if !src.IsUnicast() {
		sw.drops.add(DropBadSourceMAC)
		return dropped(DropBadSourceMAC)
	}
	t := sw.topo.Load()
	vs := out.vniState(t, p.vni)
	if vs == nil { // port detached concurrently
		return capture.Decision{}
	}
	if !sw.cfg.NoLearning {
		sw.learn(out, p.vni, src, fdb.Dest{Port: p.id})
	}
	if sw.cfg.Suppress != nil && sw.cfg.Suppress.suppress(sw, p, pkt, out) {
		return capture.Decision{Kind: capture.DecisionPort, Port: p.name} // answered on the ingress port
	}
	// The VXLAN header goes in the headroom once; every copy sent to the
	// underlay shares it (RFC 7348 §5: I flag set, reserved bits zero).
	encap.VXLAN(pkt[:encap.VXLANHeaderLen]).Encode(&encap.VXLANFields{VNI: p.vni})

	dst := frame.Destination()
	if !dst.IsMulticast() {
		if d, ok := sw.lookup(out, p.vni, dst); ok {
			if d.Port != 0 {
				if d.Port == p.id {
					sw.drops.add(DropHairpin)
					return dropped(DropHairpin)
				}
				if q := out.portByID(t, d.Port); q != nil {
					out.toPort(q, pkt)
					return capture.Decision{Kind: capture.DecisionPort, Port: q.name}
				}
				// Stale entry for a port being removed: flood instead.
			} else {
				out.toRemote(vs, netip.AddrPortFrom(d.Remote, sw.cfg.Port), pkt)
				out.unicast = true
				return capture.Decision{Kind: capture.DecisionUnicast, Remote: d.Remote}
			}
		}
	}
	// Broadcast, multicast or unknown unicast: flood within the VNI.
	out.flush()
	sent := 0
	for _, q := range vs.ports {
		if q != p && q.fits(sw, pkt) {
			if sw.capture.Active() {
				sw.capturePortOut(q, pkt, out.id)
			}
			out.one[0] = pkt
			q.deliver(sw, out.one[:])
			sent++
		}
	}
	for _, r := range sw.fdb.Flood(p.vni) {
		out.toRemote(vs, netip.AddrPortFrom(r, sw.cfg.Port), pkt)
		sent++
	}
	if sent == 0 {
		sw.drops.add(DropNoRoute)
		return dropped(DropNoRoute)
	}
	return capture.Decision{Kind: capture.DecisionFlood, Count: sent}
}

// egress collects consecutive frames for the same destination into one
// batch, so a burst towards one VTEP or port costs one Send or Write call.
// It belongs to one loop goroutine.
type egress struct {
	sw       *Switch
	learned  learnMemo  // the last (VNI, MAC, dest) learned in this batch
	looked   lookupMemo // the last FDB hit in this batch
	accepted netip.Addr // the last source SourceFilter accepted in this batch
	vnis     vniMemo    // the last VNI state looked up in this batch
	ports    portMemo   // the last port looked up in this batch
	bufs     [][]byte   // pending frames; len <= cap, allocated once
	// tails are the pending frames' second pieces while gathered is
	// set, parallel to bufs: a gathered segment (forwardSuper) is
	// bufs[i] followed by tails[i]; a frame queued whole has a nil tail.
	// Without gathered it is empty: frames are queued without touching
	// it (appending a nil tail per frame cost 3 % in
	// BenchmarkForwardBatch).
	tails    [][]byte
	gathered bool
	// unicast is set when a frame is queued for one remote VTEP as
	// known unicast (not a flood copy); forwardSuper clears it before
	// switching a super-frame's first segment and reads it after.
	unicast bool
	port    *Port // pending destination: a port...
	remote  netip.AddrPort
	vs      *vniState // ...or a remote VTEP, in this VNI
	one     [1][]byte // scratch for single writes

	// For capture: the ID of the frame being switched and the IDs of the
	// pending frames (parallel to bufs).
	id  uint64
	ids []uint64
	// arrived is the frame being switched as it arrived, kept while a
	// capture runs because suppression rewrites frames in place.
	arrived []byte
	// joined is scratch for capturing a gathered segment whole.
	joined []byte
	// srcPort is the outer UDP source port of the packet being received.
	srcPort uint16
}

func newEgress(sw *Switch, batch int) *egress {
	if batch < 1 {
		batch = 1
	}
	return &egress{sw: sw, bufs: make([][]byte, 0, batch), tails: make([][]byte, 0, batch), ids: make([]uint64, 0, batch)}
}

func (e *egress) toPort(p *Port, pkt []byte) {
	if !p.fits(e.sw, pkt) {
		return
	}
	if e.port != p || e.remote.IsValid() || len(e.bufs) == cap(e.bufs) {
		e.flush()
		e.port = p
	}
	e.bufs = append(e.bufs, pkt)
	e.ids = append(e.ids, e.id)
}

func (e *egress) toRemote(vs *vniState, dst netip.AddrPort, pkt []byte) {
	if e.port != nil || e.remote != dst || len(e.bufs) == cap(e.bufs) {
		e.flush()
		e.remote, e.vs = dst, vs
	}
	e.bufs = append(e.bufs, pkt)
	e.ids = append(e.ids, e.id)
}

// toRemoteGather queues a datagram of two pieces, head (the VXLAN and
// segment headers) and tail (the segment's payload), for dst: a segment
// of the super-frame forwardSuper is sending, whose other segments are
// the only datagrams flushed with it (vtep.GatherSender's one-flow rule).
func (e *egress) toRemoteGather(vs *vniState, dst netip.AddrPort, head, tail []byte) {
	e.toRemote(vs, dst, head)
	for len(e.tails) < len(e.bufs)-1 {
		e.tails = append(e.tails, nil) // frames queued whole before
	}
	e.tails = append(e.tails, tail)
	e.gathered = true
}

// flush hands the pending batch to its destination.
func (e *egress) flush() {
	if len(e.bufs) == 0 {
		e.port, e.remote, e.vs = nil, netip.AddrPort{}, nil
		return
	}
	sw := e.sw
	if sw.capture.Active() {
		e.capture()
	}
	switch {
	case e.port != nil:
		e.port.deliver(sw, e.bufs)
	case e.remote.IsValid():
		var bytes uint64
		for _, pkt := range e.bufs {
			bytes += uint64(len(pkt))
		}
		for _, t := range e.tails {
			bytes += uint64(len(t))
		}
		var err error
		if e.gathered {
			err = sw.gather.SendGather(e.bufs, e.tails, e.remote)
		} else {
			err = sw.bind.Send(e.bufs, e.remote)
		}
		if err != nil {
			sw.drops.d[DropSend].Add(uint64(len(e.bufs)))
			sw.logErr("VXLAN send failed", "dst", e.remote, "err", err)
		} else {
			e.vs.c.txPackets.Add(uint64(len(e.bufs)))
			e.vs.c.txBytes.Add(bytes)
		}
	}
	clear(e.bufs)
	e.bufs = e.bufs[:0]
	if e.gathered {
		clear(e.tails)
		e.tails = e.tails[:0]
		e.gathered = false
	}
	e.ids = e.ids[:0]
	e.port, e.remote, e.vs = nil, netip.AddrPort{}, nil
}

// dropped is the capture decision for a drop.
func dropped(r DropReason) capture.Decision {
	return capture.Decision{Kind: capture.DecisionDrop, Reason: r.String()}
}

// capture records the pending batch at its egress point.
func (e *egress) capture() {
	sw := e.sw
	for i, pkt := range e.bufs {
		var id uint64
		if i < len(e.ids) {
			id = e.ids[i]
		}
		if e.port != nil {
			sw.capturePortOut(e.port, pkt, id)
			continue
		}
		local := sw.localAddr()
		if b, ok := sw.bind.(interface{ SourcePortOf([]byte) uint16 }); ok {
			if p := b.SourcePortOf(pkt); p != 0 {
				local = netip.AddrPortFrom(local.Addr(), p)
			}
		}
		m := capture.Meta{Point: capture.UnderlayOut, VNI: e.vs.vni, VXLAN: true, Local: local, Remote: e.remote, ID: id}
		if i < len(e.tails) && len(e.tails[i]) > 0 {
			// A gathered segment, met by a capture that started during
			// its super-frame: record it joined.
			e.joined = append(append(e.joined[:0], pkt...), e.tails[i]...)
			pkt = e.joined
		}
		sw.capture.Capture(&m, pkt)
	}
}

// capturePortOut records pkt's frame as written to port q.
func (sw *Switch) capturePortOut(q *Port, pkt []byte, id uint64) {
	m := capture.Meta{Point: capture.PortOut, Port: q.name, VNI: q.vni, ID: id}
	sw.capture.Capture(&m, pkt[PacketStartOffset:])
}

// localAddr is the VTEP's underlay address for synthesized outer headers:
// the bind's LocalAddr when it has one (StdBind, vteptest.ChannelBind),
// else the unspecified address and the VXLAN port. Sent packets take the
// per-flow source port from the bind when it tells (StdBind.SourcePortOf).
func (sw *Switch) localAddr() netip.AddrPort {
	if b, ok := sw.bind.(interface{ LocalAddr() netip.AddrPort }); ok {
		if a := b.LocalAddr(); a.IsValid() {
			return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		}
	}
	return netip.AddrPortFrom(netip.Addr{}, sw.cfg.Port)
}
