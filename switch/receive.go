package vswitch

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/capture"
	"github.com/vxswitch/vxswitch/vtep"
)

// routineReceiveFromVTEP receives batches of VXLAN packets from one
// ReceiveFunc of the bind, validates each header once, learns the inner
// source MAC behind the outer source address and delivers the inner frame to
// local ports. It exits when the bind is closed.
func (sw *Switch) routineReceiveFromVTEP(fn vtep.ReceiveFunc) {
	defer sw.wg.Done()
	sw.log.Debug("Routine: VTEP receiver - started")
	defer sw.log.Debug("Routine: VTEP receiver - stopped")

	bs := sw.bind.BatchSize()
	b := newRecvBatch(bs)
	out := newEgress(sw, bs)
	for {
		n, err := sw.receive(fn, &b, out)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-sw.done:
				return
			default:
			}
			// Transient (e.g. ECONNREFUSED from an ICMP error): keep going,
			// but never spin on a persistent error.
			sw.logErr("VTEP receive failed", "err", err)
			if n == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// forwardFromVTEP handles one received VXLAN packet pkt (header and inner
// frame) from the outer source address src (and out.srcPort). While a
// capture runs it records the packet with the decision (and, for a drop,
// at the drop point too) under a new ID that the frames delivered carry.
func (sw *Switch) forwardFromVTEP(pkt []byte, src netip.Addr, out *egress) {
	if !sw.capture.Active() {
		out.id = 0
		sw.switchFromVTEP(pkt, src, out)
		return
	}
	out.id = sw.capture.NextID()
	d := sw.switchFromVTEP(pkt, src, out)
	m := capture.Meta{
		Point: capture.UnderlayIn, VXLAN: true, Decision: d, ID: out.id,
		Local: sw.localAddr(), Remote: netip.AddrPortFrom(src, out.srcPort),
	}
	if len(pkt) >= encap.VXLANHeaderLen {
		m.VNI = encap.VXLAN(pkt).VNI()
	}
	sw.capture.Capture(&m, pkt)
	if d.Kind == capture.DecisionDrop {
		m.Point = capture.Drop
		sw.capture.Capture(&m, pkt)
	}
}

// switchFromVTEP is forwardFromVTEP's decision and delivery; it returns
// the decision for capture.
func (sw *Switch) switchFromVTEP(pkt []byte, src netip.Addr, out *egress) capture.Decision {
	vni, inner, err := encap.DecodeVXLAN(pkt)
	switch {
	case err == nil:
	case errors.Is(err, encap.ErrReservedBits):
		if sw.cfg.Strict {
			sw.drops.add(DropReservedBits)
			return dropped(DropReservedBits)
		}
		sw.reservedBitsAccepted.Add(1)
	case errors.Is(err, encap.ErrNoIFlag):
		sw.drops.add(DropBadFlags)
		return dropped(DropBadFlags)
	default: // encap.ErrTruncated
		sw.drops.add(DropTruncated)
		return dropped(DropTruncated)
	}
	_ = inner // the inner frame is pkt[PacketStartOffset:]
	if f := sw.cfg.SourceFilter; f != nil && !out.accepts(f, src) {
		sw.drops.add(DropNotMember)
		return dropped(DropNotMember)
	}
	t := sw.topo.Load()
	vs := out.vniState(t, vni)
	if vs == nil {
		sw.drops.add(DropUnknownVNI)
		return dropped(DropUnknownVNI)
	}
	vs.c.rxPackets.Add(1)
	vs.c.rxBytes.Add(uint64(len(pkt)))
	frame := encap.Ethernet(pkt[PacketStartOffset:])
	srcMAC := frame.Source()
	if !srcMAC.IsUnicast() {
		sw.drops.add(DropBadSourceMAC)
		return dropped(DropBadSourceMAC)
	}
	if !sw.cfg.NoLearning {
		sw.learn(out, vni, srcMAC, fdb.Dest{Remote: src})
	}
	dst := frame.Destination()
	if !dst.IsMulticast() {
		if d, ok := sw.lookup(out, vni, dst); ok {
			if d.Port == 0 {
				sw.drops.add(DropSplitHorizon)
				return dropped(DropSplitHorizon)
			}
			if q := out.portByID(t, d.Port); q != nil {
				out.toPort(q, pkt)
				return capture.Decision{Kind: capture.DecisionPort, Port: q.name}
			}
		}
	}
	// BUM or unknown unicast from the underlay: local ports only (the
	// sender already replicated it to every other VTEP).
	out.flush()
	if len(vs.ports) == 0 {
		sw.drops.add(DropNoRoute)
		return dropped(DropNoRoute)
	}
	sent := 0
	for _, q := range vs.ports {
		if q.fits(sw, pkt) {
			if sw.capture.Active() {
				sw.capturePortOut(q, pkt, out.id)
			}
			out.one[0] = pkt
			q.deliver(sw, out.one[:])
			sent++
		}
	}
	return capture.Decision{Kind: capture.DecisionFlood, Count: sent}
}
