package vswitch

import (
	"github.com/vxswitch/vxswitch/encap"
)

// gatherHeadersMax is how many bytes of segment headers (Ethernet, IP
// and TCP or UDP, with options and extension headers) a portBatch's head
// buffer holds after the VXLAN header. A super-frame with longer headers
// is split by copying instead.
const gatherHeadersMax = 256

// forwardSuper forwards the TSO or USO super-frame b.super that a
// tap.SuperReader handed over whole.
//
// Its first segment is split off by copying (encap.SegmentRange) and
// switched like any frame read: the segments of a super-frame share their
// Ethernet addresses, so its decision, learning and checks hold for all
// of them. When it goes to one remote VTEP and no capture runs, the other
// segments are sent gathered: encap.SegmentHeaders writes each segment's
// headers after a copy of the VXLAN header into b.heads and points
// b.tails at its payload inside the super-frame, and the egress hands
// both to vtep.GatherSender.SendGather, so the payload is copied once, by
// the kernel into the socket buffer, instead of twice. Otherwise (a local
// port, a flood, a drop, a capture, headers longer than gatherHeadersMax)
// the other segments are split by copying and switched one by one, as
// Read would have handed them over.
//
// Everything pending on out is flushed before it returns, since the
// frames point into b and the device's buffer.
func (sw *Switch) forwardSuper(p *Port, b *portBatch, out *egress) {
	s := &b.super
	nseg, err := encap.SegmentCount(s.Frame, s.Hdr)
	if err == nil {
		_, err = encap.SegmentRange(s.Frame, s.Hdr, 0, b.bufs[:1], b.sizes[:1], PacketStartOffset)
	}
	if err != nil {
		// A header that does not describe the frame; a device that
		// validates it (TAP.ReadSuper) leaves only a segment too long
		// for the port's buffers. Counted once, as Read would drop it.
		sw.drops.add(DropOversize)
		return
	}
	gather := sw.gather != nil && !sw.capture.Active()
	first := b.bufs[0][:PacketStartOffset+b.sizes[0]]
	out.unicast = false
	sw.forwardFromPort(p, first, out)
	next := 1
	if gather && out.unicast && out.remote.IsValid() && nseg > 1 {
		next = sw.gatherSegments(p, b, first[:PacketStartOffset], out)
	}
	out.flush()
	for next < nseg {
		k, err := encap.SegmentRange(s.Frame, s.Hdr, next, b.bufs, b.sizes, PacketStartOffset)
		for i := 0; i < k; i++ {
			sw.forwardFromPort(p, b.bufs[i][:PacketStartOffset+b.sizes[i]], out)
		}
		out.flush() // before b.bufs are reused
		if err != nil || k == 0 {
			sw.drops.add(DropOversize)
			return
		}
		next += k
	}
}

// gatherSegments queues the segments of b.super from the second on for
// the remote VTEP the first went to (pending on out), with vxlan (the
// first's VXLAN header) before each segment's headers, flushing every
// len(b.heads) segments, and counts them as received on p. It returns the
// first segment it did not queue: all of them unless SegmentHeaders
// failed (headers longer than gatherHeadersMax), which leaves the rest to
// the copying split.
func (sw *Switch) gatherSegments(p *Port, b *portBatch, vxlan []byte, out *egress) int {
	s := &b.super
	vs, dst := out.vs, out.remote
	next := 1
	for {
		k, err := encap.SegmentHeaders(s.Frame, s.Hdr, next, b.heads, b.hsizes, b.tails, PacketStartOffset)
		if k == 0 {
			return next
		}
		var bytes uint64
		for j := 0; j < k; j++ {
			head := b.heads[j][:PacketStartOffset+b.hsizes[j]]
			copy(head, vxlan)
			out.toRemoteGather(vs, dst, head, b.tails[j])
			bytes += uint64(b.hsizes[j] + len(b.tails[j]))
		}
		p.rxPackets.Add(uint64(k))
		p.rxBytes.Add(bytes)
		sw.gathered.Add(uint64(k))
		next += k
		if err != nil {
			return next
		}
		out.flush() // before b.heads are reused
	}
}
