package encap

import "encoding/binary"

// MaxCoalescedSegments bounds the segments of one coalesced super-frame,
// so that it is written with at most MaxCoalescedSegments+1 iovecs, far
// below UIO_MAXIOV.
const MaxCoalescedSegments = 64

// MaxCoalescedIPLen bounds a coalesced super-frame: its IPv4 Total Length,
// or the IPv6 fixed header plus Payload Length, fits the 16-bit length
// fields (no jumbograms).
const MaxCoalescedIPLen = 0xffff

// coalescedHdrMax is the scratch space per group for the virtio-net header
// and a copy of the head frame's headers: Ethernet (14) + one VLAN tag (4)
// + IPv4 without options or IPv6 (40) + TCP with options (60).
const coalescedHdrMax = VirtioNetHdrLen + EthernetHeaderLen + VLANTagLen + IPv6HeaderLen + 60

// zeroVnetHdr is the virtio-net header of a frame written as is.
var zeroVnetHdr [VirtioNetHdrLen]byte

// coalesceGroup is one output frame: a single input frame, or a run of TCP
// segments of one flow linked through Coalescer.next.
type coalesceGroup struct {
	head, tail int  // indices of the first and last input frame
	count      int  // input frames in the group
	tcp        bool // head is an eligible TCP segment; the fields below are valid
	open       bool // more segments may be appended
	v6         bool // IPv6 rather than IPv4
	ipStart    int  // offset of the IP header in the frame
	l4Start    int  // offset of the TCP header
	hdrLen     int  // l4Start + TCP data offset
	mss        int  // head's payload length: the gso_size
	payload    int  // payload bytes of all segments
	nextSeq    uint32
	nextID     uint16
	psh        bool   // the last segment has PSH
	hash       uint32 // cheap flow hash, compared before the headers
}

// Coalescer merges runs of in-order TCP segments of one flow, from one
// batch of frames about to be written to a TAP opened with IFF_VNET_HDR,
// into GSO super-frames the kernel receives as one (the receive-side
// counterpart of Segment, like the kernel's GRO and wireguard-go's
// tcpGRO).
//
// A segment joins the flow's current group when it has the same Ethernet
// header, the same IP header except lengths, ID and checksum (IPv4: no
// options, DF set, not a fragment, ID one more than the previous segment;
// IPv6: TCP right after the fixed header), the same TCP header except the
// sequence number, checksum and PSH (ports, ack, window, options, urgent
// pointer), a sequence number right after the group's data, flags ACK
// with optionally ECE and PSH (never SYN, FIN, RST, URG or CWR), a payload
// no longer than the first segment's (a shorter one, or one with PSH,
// ends the group), a valid TCP checksum, and the result stays within
// MaxCoalescedIPLen and MaxCoalescedSegments. Frames of one flow keep their order; frames of
// different flows and non-TCP frames may be reordered relative to each
// other, which Ethernet allows.
//
// Splitting a coalesced frame again with Segment gives back the original
// frames byte for byte.
//
// A Coalescer is not safe for concurrent use. Reuse one per writer: after
// the first batches it allocates nothing. The slices AppendFrame returns
// alias the Coalescer's scratch space and the input frames, and are valid
// until the next Coalesce.
type Coalescer struct {
	groups  []coalesceGroup
	next    []int // next[i] is the frame after frame i in its group, or -1
	scratch []byte
	frames  [][]byte // the current batch, without offset
}

// Coalesce plans the batch: bufs[i][offset:] are the frames, in order. It
// returns the number of output frames; fetch each with AppendFrame. It does
// not modify bufs. Frames too short to parse are passed through as single
// frames.
func (c *Coalescer) Coalesce(bufs [][]byte, offset int) int {
	c.groups = c.groups[:0]
	c.frames = c.frames[:0]
	if cap(c.next) < len(bufs) {
		c.next = make([]int, len(bufs))
	}
	c.next = c.next[:len(bufs)]
	for i, b := range bufs {
		c.next[i] = -1
		if offset < 0 || offset > len(b) {
			b = nil
		} else {
			b = b[offset:]
		}
		c.frames = append(c.frames, b)
		var g coalesceGroup
		switch parseSegment(b, &g) {
		case segEligible:
			if c.tryAppend(i, b, &g) {
				continue
			}
		case segTCP:
			c.closeFlow(b, &g) // keep this frame behind the flow's earlier segments
		}
		g.head, g.tail, g.count = i, i, 1
		c.groups = append(c.groups, g)
	}
	return len(c.groups)
}

// Results of parseSegment.
const (
	segOther    = iota // not TCP over IPv4/IPv6 as the coalescer handles it
	segTCP             // a TCP segment that cannot be coalesced (flags, no payload)
	segEligible        // a TCP segment that may be coalesced (checksum not yet checked)
)

// parseSegment classifies frame. For segTCP it fills g's addressing fields
// (enough for sameFlow); for segEligible all TCP fields, and sets g.tcp.
func parseSegment(frame []byte, g *coalesceGroup) int {
	eth := Ethernet(frame)
	if !eth.IsValid() {
		return segOther
	}
	g.ipStart = eth.PayloadOffset()
	ip := frame[g.ipStart:]
	var h uint32
	switch eth.InnerEtherType() {
	case EtherTypeIPv4:
		if len(ip) < IPv4MinimumSize || ip[0] != 0x45 || int(IPv4(ip).TotalLength()) != len(ip) {
			return segOther
		}
		ip4 := IPv4(ip)
		if ip4.Protocol() != ProtocolTCP || ip4.Flags() != 0x2 || ip4.FragmentOffset() != 0 {
			return segOther // not TCP, DF clear, MF or reserved bit set, or a fragment
		}
		g.l4Start = g.ipStart + IPv4MinimumSize
		g.nextID = ip4.ID() + 1
		h = binary.BigEndian.Uint32(ip[ipv4SrcOffset:]) ^ binary.BigEndian.Uint32(ip[ipv4DstOffset:])
	case EtherTypeIPv6:
		if len(ip) < IPv6HeaderLen || ip[0]>>4 != 6 || int(IPv6(ip).PayloadLength())+IPv6HeaderLen != len(ip) ||
			IPv6(ip).NextHeader() != ProtocolTCP {
			return segOther
		}
		g.v6 = true
		g.l4Start = g.ipStart + IPv6HeaderLen
		for o := ipv6SrcOffset; o < ipv6DstOffset+16; o += 4 {
			h ^= binary.BigEndian.Uint32(ip[o:])
		}
	default:
		return segOther
	}
	tcp := TCP(frame[g.l4Start:])
	if !tcp.IsValid() {
		return segOther
	}
	g.hdrLen = g.l4Start + tcp.DataOffset()
	g.hash = h ^ binary.BigEndian.Uint32(tcp[tcpSrcPortOffset:])
	g.mss = len(frame) - g.hdrLen
	flags := tcp.Flags()
	if g.mss == 0 || VirtioNetHdrLen+g.hdrLen > coalescedHdrMax ||
		flags&^(TCPFlagAck|TCPFlagEce|TCPFlagPsh) != 0 || flags&TCPFlagAck == 0 {
		return segTCP
	}
	g.tcp = true
	g.psh = flags&TCPFlagPsh != 0
	g.payload = g.mss
	g.nextSeq = tcp.SequenceNumber() + uint32(g.mss)
	return segEligible
}

// tryAppend appends segment i (parsed into s) to its flow's current group
// and reports whether it did. When it does not, the flow's group is
// closed, so that a later segment of the flow cannot overtake frame i, and
// frame i starts a new group (which the caller appends, open unless it
// has PSH).
func (c *Coalescer) tryAppend(i int, frame []byte, s *coalesceGroup) bool {
	s.open = !s.psh
	for gi := len(c.groups) - 1; gi >= 0; gi-- {
		g := &c.groups[gi]
		if !g.tcp || g.hash != s.hash || !sameFlow(c.frames[g.head], g, frame, s) {
			continue
		}
		// g is the flow's latest group: merge or close it.
		if g.open && c.canMerge(g, frame, s) {
			c.next[g.tail] = i
			g.tail = i
			g.count++
			g.payload += s.mss
			g.nextSeq = s.nextSeq
			g.nextID = s.nextID
			g.psh = s.psh
			g.open = !s.psh && s.mss == g.mss
			return true
		}
		g.open = false
		break
	}
	return false
}

// closeFlow closes the current group of the flow of segment frame, parsed
// into s.
func (c *Coalescer) closeFlow(frame []byte, s *coalesceGroup) {
	for gi := len(c.groups) - 1; gi >= 0; gi-- {
		g := &c.groups[gi]
		if g.tcp && g.hash == s.hash && sameFlow(c.frames[g.head], g, frame, s) {
			g.open = false
			return
		}
	}
}

// sameFlow reports whether two parsed segments have the same IP version,
// addresses and ports.
func sameFlow(a []byte, ga *coalesceGroup, b []byte, gb *coalesceGroup) bool {
	if ga.v6 != gb.v6 || ga.ipStart != gb.ipStart {
		return false
	}
	if ga.v6 {
		if string(a[ga.ipStart+ipv6SrcOffset:ga.ipStart+IPv6HeaderLen]) != string(b[gb.ipStart+ipv6SrcOffset:gb.ipStart+IPv6HeaderLen]) {
			return false
		}
	} else if string(a[ga.ipStart+ipv4SrcOffset:ga.ipStart+IPv4MinimumSize]) != string(b[gb.ipStart+ipv4SrcOffset:gb.ipStart+IPv4MinimumSize]) {
		return false
	}
	return string(a[ga.l4Start:ga.l4Start+4]) == string(b[gb.l4Start:gb.l4Start+4])
}

// canMerge reports whether segment frame (parsed into s) continues group g.
func (c *Coalescer) canMerge(g *coalesceGroup, frame []byte, s *coalesceGroup) bool {
	head := c.frames[g.head]
	if s.hdrLen != g.hdrLen || s.mss > g.mss || s.nextSeq-uint32(s.mss) != g.nextSeq {
		return false
	}
	if g.count >= MaxCoalescedSegments || g.hdrLen-g.ipStart+g.payload+s.mss > MaxCoalescedIPLen {
		return false
	}
	// Ethernet header (and VLAN tag) identical.
	if string(head[:g.ipStart]) != string(frame[:s.ipStart]) {
		return false
	}
	hip, fip := head[g.ipStart:], frame[s.ipStart:]
	if g.v6 {
		// Version, traffic class, flow label; next header, hop limit
		// (addresses compared by sameFlow).
		if string(hip[0:4]) != string(fip[0:4]) || string(hip[6:8]) != string(fip[6:8]) {
			return false
		}
	} else {
		// TOS; flags and fragment offset, TTL, protocol.
		if hip[ipv4TOSOffset] != fip[ipv4TOSOffset] || string(hip[6:10]) != string(fip[6:10]) ||
			s.nextID-1 != g.nextID {
			return false
		}
	}
	ht, ft := head[g.l4Start:g.hdrLen], frame[s.l4Start:s.hdrLen]
	// Ack number and data offset; flags other than PSH; window; urgent
	// pointer and options.
	if string(ht[tcpAckNumOffset:tcpFlagsOffset]) != string(ft[tcpAckNumOffset:tcpFlagsOffset]) ||
		ht[tcpFlagsOffset]&^TCPFlagPsh != ft[tcpFlagsOffset]&^TCPFlagPsh ||
		string(ht[tcpWindowOffset:tcpChecksumOffset]) != string(ft[tcpWindowOffset:tcpChecksumOffset]) ||
		string(ht[tcpUrgentPtrOffset:]) != string(ft[tcpUrgentPtrOffset:]) {
		return false
	}
	// Both checksums (and IPv4 header checksums) must verify: the merged
	// frame gets new ones, which would hide corruption of either.
	if g.count == 1 && !segmentChecksumValid(head, g) {
		return false
	}
	return segmentChecksumValid(frame, s)
}

// segmentChecksumValid verifies the TCP checksum of a parsed segment, and
// for IPv4 the header checksum.
func segmentChecksumValid(frame []byte, g *coalesceGroup) bool {
	ip := frame[g.ipStart:]
	var sum uint32
	if g.v6 {
		sum = uint32(Checksum(ip[ipv6SrcOffset:ipv6DstOffset+16], 0))
	} else {
		if Checksum(ip[:IPv4MinimumSize], 0) != 0xffff {
			return false
		}
		sum = uint32(Checksum(ip[ipv4SrcOffset:ipv4DstOffset+4], 0))
	}
	seg := frame[g.l4Start:]
	sum += uint32(ProtocolTCP) + uint32(len(seg))
	return Checksum(seg, sum) == 0xffff
}

// AppendFrame appends output frame i of the last Coalesce to dst, as the
// pieces to write with one writev(2), and returns the extended slice. The
// first piece is the virtio-net header: all zero for a frame written as
// is, followed by the frame itself; for a coalesced group, the header
// (NEEDS_CSUM, GSO TCPv4/TCPv6, gso_size, csum_start, csum_offset 16) is
// followed in the same piece by a copy of the first segment's headers with
// the IP length (and IPv4 checksum) of the whole super-frame, PSH if the
// last segment had it, and the pseudo-header sum in the TCP checksum
// field; then come the payloads of all segments, which alias the batch.
// The pieces are valid until the next Coalesce. It does not allocate
// once dst has room.
func (c *Coalescer) AppendFrame(dst [][]byte, i int) [][]byte {
	g := &c.groups[i]
	if g.count == 1 {
		return append(dst, zeroVnetHdr[:], c.frames[g.head])
	}
	if need := (i + 1) * coalescedHdrMax; len(c.scratch) < need {
		c.scratch = append(c.scratch, make([]byte, need-len(c.scratch)+8*coalescedHdrMax)...)
	}
	hdr := c.scratch[i*coalescedHdrMax : i*coalescedHdrMax+VirtioNetHdrLen+g.hdrLen]
	head := c.frames[g.head]
	frame := hdr[VirtioNetHdrLen:]
	copy(frame, head[:g.hdrLen])
	gso := VirtioNetHdrGSOTCPv4
	if g.v6 {
		gso = VirtioNetHdrGSOTCPv6
	}
	VirtioNetHdr(hdr).Encode(&VirtioNetHdrFields{
		Flags:      VirtioNetHdrFNeedsCsum,
		GSOType:    gso,
		HdrLen:     uint16(g.hdrLen),
		GSOSize:    uint16(g.mss),
		CsumStart:  uint16(g.l4Start),
		CsumOffset: tcpChecksumOffset,
	})
	ip := frame[g.ipStart:]
	var sum uint32
	if g.v6 {
		IPv6(ip).SetPayloadLength(uint16(g.hdrLen - g.ipStart - IPv6HeaderLen + g.payload))
		sum = uint32(Checksum(ip[ipv6SrcOffset:ipv6DstOffset+16], 0))
	} else {
		ip4 := IPv4(ip)
		ip4.SetTotalLength(uint16(g.hdrLen - g.ipStart + g.payload))
		ip4.SetChecksum(0)
		ip4.SetChecksum(^Checksum(ip[:IPv4MinimumSize], 0))
		sum = uint32(Checksum(ip[ipv4SrcOffset:ipv4DstOffset+4], 0))
	}
	tcp := TCP(frame[g.l4Start:])
	if g.psh {
		tcp.SetFlags(tcp.Flags() | TCPFlagPsh)
	}
	sum += uint32(ProtocolTCP) + uint32(g.hdrLen-g.l4Start+g.payload)
	tcp.SetChecksum(Checksum(nil, sum))
	dst = append(dst, hdr)
	for j := g.head; j >= 0; j = c.next[j] {
		dst = append(dst, c.frames[j][g.hdrLen:])
	}
	return dst
}

// Coalesced reports whether output frame i of the last Coalesce is a
// super-frame made of several segments, and how many.
func (c *Coalescer) Coalesced(i int) (segments int, ok bool) {
	n := c.groups[i].count
	return n, n > 1
}
