package encap

import "encoding/binary"

// gsoLayout is where the headers of a GSO super-frame are, as parseGSO
// found them.
type gsoLayout struct {
	ipStart int    // offset of the IP header (after Ethernet and one optional VLAN tag)
	l4Start int    // offset of the TCP/UDP header (csum_start)
	hdrLen  int    // l4Start plus the TCP/UDP header length
	v6      bool   // IPv6 rather than IPv4
	proto   uint8  // ProtocolTCP or ProtocolUDP
	mss     int    // payload bytes per segment (gso_size)
	payload int    // payload bytes in the super-frame
	nseg    int    // number of segments
	addrSum uint32 // unfolded sum of the source and destination addresses
	// The unfolded sums of the header words every segment shares: the
	// IPv4 header without Total Length, Identification and Header
	// Checksum; the TCP header without Sequence Number, the data offset
	// and flags word and Checksum, or the UDP header without Length and
	// Checksum. fixSegment adds each segment's own values (RFC 1624's
	// incremental update, in the form of RFC 1071's sum).
	ipBase, l4Base uint32
}

// Words (16-bit, by index) a segment rewrites, left out of the shared sums.
const (
	ipv4SegmentWords = 1<<(ipv4TotalLenOffset/2) | 1<<(ipv4IDOffset/2) | 1<<(ipv4ChecksumOffset/2)
	tcpSegmentWords  = 3<<(tcpSeqNumOffset/2) | 1<<(tcpDataOffsetOffset/2) | 1<<(tcpChecksumOffset/2)
	udpSegmentWords  = 1<<(udpLengthOffset/2) | 1<<(udpChecksumOffset/2)
)

// headerSum returns the unfolded sum of the network-order 16-bit words of
// hdr (even length, at most 64 words) whose index is not set in skip.
func headerSum(hdr []byte, skip uint64) uint32 {
	var sum uint32
	for i := 0; i+1 < len(hdr); i += 2 {
		if skip&(1<<(i/2)) == 0 {
			sum += uint32(binary.BigEndian.Uint16(hdr[i:]))
		}
	}
	return sum
}

// Preallocated so that rejecting a frame costs no allocation.
var (
	errGSOEthernet = wrapErr(ErrGSOFrame, "not Ethernet + IPv4/IPv6")
	errGSOIP       = wrapErr(ErrGSOFrame, "IP header does not match gso_type")
	errGSOL4       = wrapErr(ErrGSOFrame, "TCP/UDP header not at csum_start")
	errGSOEmpty    = wrapErr(ErrGSOFrame, "no payload")
	errGSOTooBig   = wrapErr(ErrGSOFrame, "segment longer than 65535 bytes")
)

// parseGSO checks a GSO super-frame against its (validated) header.
func parseGSO(super []byte, h *VirtioNetHdrFields) (gsoLayout, error) {
	var l gsoLayout
	eth := Ethernet(super)
	if !eth.IsValid() {
		return l, errGSOEthernet
	}
	et := eth.InnerEtherType()
	l.ipStart = eth.PayloadOffset()
	l.l4Start = int(h.CsumStart)
	gso := h.GSOType &^ VirtioNetHdrGSOECN
	switch et {
	case EtherTypeIPv4:
		ip := super[l.ipStart:]
		if len(ip) < IPv4MinimumSize || ip[0]>>4 != 4 {
			return l, errGSOIP
		}
		ip4 := IPv4(ip)
		if ip4.HeaderLength() < IPv4MinimumSize || ip4.IsFragment() || l.ipStart+ip4.HeaderLength() != l.l4Start {
			return l, errGSOIP
		}
		l.proto = ip4.Protocol()
		if gso == VirtioNetHdrGSOTCPv6 {
			return l, errGSOIP
		}
		l.addrSum = uint32(Checksum(ip[ipv4SrcOffset:ipv4DstOffset+4], 0))
		l.ipBase = headerSum(ip[:ip4.HeaderLength()], ipv4SegmentWords)
	case EtherTypeIPv6:
		ip := super[l.ipStart:]
		if len(ip) < IPv6HeaderLen || ip[0]>>4 != 6 || l.ipStart+IPv6HeaderLen != l.l4Start {
			return l, errGSOIP
		}
		l.v6 = true
		l.proto = IPv6(ip).NextHeader()
		if gso == VirtioNetHdrGSOTCPv4 {
			return l, errGSOIP
		}
		l.addrSum = uint32(Checksum(ip[ipv6SrcOffset:ipv6DstOffset+16], 0))
	default:
		return l, errGSOEthernet
	}
	switch gso {
	case VirtioNetHdrGSOTCPv4, VirtioNetHdrGSOTCPv6:
		if l.proto != ProtocolTCP || h.CsumOffset != tcpChecksumOffset {
			return l, errGSOL4
		}
		if l.l4Start+TCPMinimumSize > len(super) {
			return l, errGSOL4
		}
		doff := TCP(super[l.l4Start:]).DataOffset()
		if doff < TCPMinimumSize || l.l4Start+doff > len(super) {
			return l, errGSOL4
		}
		l.hdrLen = l.l4Start + doff
		l.l4Base = headerSum(super[l.l4Start:l.hdrLen], tcpSegmentWords)
	case VirtioNetHdrGSOUDPL4:
		if l.proto != ProtocolUDP || h.CsumOffset != udpChecksumOffset ||
			l.l4Start+UDPMinimumSize > len(super) {
			return l, errGSOL4
		}
		l.hdrLen = l.l4Start + UDPMinimumSize
		l.l4Base = headerSum(super[l.l4Start:l.hdrLen], udpSegmentWords)
	}
	l.mss = int(h.GSOSize)
	l.payload = len(super) - l.hdrLen
	if l.payload <= 0 {
		return l, errGSOEmpty
	}
	if l.hdrLen-l.ipStart+min(l.mss, l.payload) > 0xffff {
		return l, errGSOTooBig
	}
	l.nseg = (l.payload + l.mss - 1) / l.mss
	return l, nil
}

// SegmentCount returns the number of frames Segment makes of super, the
// frame that followed the virtio-net header h: 1 for a frame without GSO,
// the number of gso_size pieces of the payload otherwise. It returns an
// error wrapping ErrVirtioHdr or ErrGSOFrame for a frame Segment would
// reject. It does not allocate.
func SegmentCount(super []byte, h VirtioNetHdrFields) (int, error) {
	if err := h.Validate(len(super)); err != nil {
		return 0, err
	}
	if h.GSOType == VirtioNetHdrGSONone {
		if len(super) < EthernetMinimumSize {
			return 0, errGSOEthernet
		}
		return 1, nil
	}
	l, err := parseGSO(super, &h)
	if err != nil {
		return 0, err
	}
	return l.nseg, nil
}

// Segment splits super, an Ethernet frame read from a TAP after the
// virtio-net header h, into complete Ethernet frames, the way the kernel's
// GSO would have (tcp_gso_segment, __udp_gso_segment). Frame i is written
// to outBufs[i][offset:] and its length stored in sizes[i]; it returns the
// number of frames.
//
// For a TSO (TCPv4/TCPv6) or USO (UDP_L4) super-frame, each frame gets a
// copy of the Ethernet, IP and TCP/UDP headers and gso_size bytes of
// payload (the last one what remains), with the IPv4 Total Length, the
// Identification (the super-frame's, plus the segment's index) and the
// header checksum, or the IPv6 Payload Length, rewritten; TCP sequence
// numbers advance by the payload before them, FIN and PSH stay on the last
// segment only and CWR on the first only; UDP lengths are rewritten; TCP
// and UDP checksums are computed in full. A frame without GSO is copied
// and, with NEEDS_CSUM, its partial checksum finished.
//
// super is only read. If outBufs or sizes has fewer entries than segments,
// or a buffer cannot hold its segment after offset, Segment returns an
// error wrapping ErrShortBuffer (use SegmentCount first, or SegmentRange).
// A header or frame that does not make sense gives an error wrapping
// ErrVirtioHdr or ErrGSOFrame; Segment never panics on bad input and does
// not allocate.
func Segment(super []byte, h VirtioNetHdrFields, outBufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := SegmentCount(super, h)
	if err != nil {
		return 0, err
	}
	if n > len(outBufs) || n > len(sizes) {
		return 0, errShortOut
	}
	return SegmentRange(super, h, 0, outBufs, sizes, offset)
}

var (
	errShortOut    = wrapErr(ErrShortBuffer, "fewer output buffers than segments")
	errShortBuf    = wrapErr(ErrShortBuffer, "segment does not fit its buffer")
	errBadOffset   = wrapErr(ErrShortBuffer, "negative offset")
	errFirstTooBig = wrapErr(ErrShortBuffer, "first segment index out of range")
)

// SegmentRange is Segment for the segments first, first+1, … of super:
// it makes as many as fit in min(len(outBufs), len(sizes)) and returns how
// many it made, so a reader with a short batch can continue with the next
// call (first += n) until first reaches SegmentCount. For a frame without
// GSO, first must be 0. Errors and guarantees are Segment's.
func SegmentRange(super []byte, h VirtioNetHdrFields, first int, outBufs [][]byte, sizes []int, offset int) (int, error) {
	if offset < 0 {
		return 0, errBadOffset
	}
	if err := h.Validate(len(super)); err != nil {
		return 0, err
	}
	room := min(len(outBufs), len(sizes))
	if h.GSOType == VirtioNetHdrGSONone {
		if len(super) < EthernetMinimumSize {
			return 0, errGSOEthernet
		}
		if first != 0 {
			return 0, errFirstTooBig
		}
		if room == 0 {
			return 0, nil
		}
		if len(outBufs[0]) < offset || len(outBufs[0])-offset < len(super) {
			return 0, errShortBuf
		}
		dst := outBufs[0][offset : offset+len(super)]
		copy(dst, super)
		if h.Flags&VirtioNetHdrFNeedsCsum != 0 {
			finishChecksum(dst, int(h.CsumStart), int(h.CsumOffset))
		}
		sizes[0] = len(super)
		return 1, nil
	}
	l, err := parseGSO(super, &h)
	if err != nil {
		return 0, err
	}
	if first < 0 || first > l.nseg {
		return 0, errFirstTooBig
	}
	n := min(room, l.nseg-first)
	for j := 0; j < n; j++ {
		i := first + j
		start := l.hdrLen + i*l.mss
		end := min(start+l.mss, len(super))
		size := l.hdrLen + end - start
		if len(outBufs[j]) < offset || len(outBufs[j])-offset < size {
			return j, errShortBuf
		}
		dst := outBufs[j][offset : offset+size]
		copy(dst, super[:l.hdrLen])
		l.fixSegment(dst, i, end-start, checksumCopy(dst[l.hdrLen:], super[start:end]))
		sizes[j] = size
	}
	return n, nil
}

// SegmentHeaders is SegmentRange for a TSO or USO super-frame without the
// payload copies: for segments first, first+1, … it writes only the
// segment's headers (Ethernet, IP and TCP/UDP, rewritten as SegmentRange
// rewrites them, checksums over the payload included) to
// hdrBufs[j][offset:], stores their length in sizes[j] and sets
// payloads[j] to the segment's payload, a slice of super. Segment j is
// then hdrBufs[j][offset:offset+sizes[j]] followed by payloads[j], byte
// for byte what SegmentRange would have written to one buffer. It makes
// as many as fit in min(len(hdrBufs), len(sizes), len(payloads)) and
// returns how many it made. A frame without GSO is not split (use
// SegmentRange): it gives an error wrapping ErrGSOFrame. Other errors and
// guarantees are SegmentRange's; super is only read, and payloads[j]
// aliases it.
func SegmentHeaders(super []byte, h VirtioNetHdrFields, first int, hdrBufs [][]byte, sizes []int, payloads [][]byte, offset int) (int, error) {
	if offset < 0 {
		return 0, errBadOffset
	}
	if err := h.Validate(len(super)); err != nil {
		return 0, err
	}
	if h.GSOType == VirtioNetHdrGSONone {
		return 0, errGSONone
	}
	l, err := parseGSO(super, &h)
	if err != nil {
		return 0, err
	}
	if first < 0 || first > l.nseg {
		return 0, errFirstTooBig
	}
	n := min(len(hdrBufs), len(sizes), len(payloads), l.nseg-first)
	for j := 0; j < n; j++ {
		i := first + j
		start := l.hdrLen + i*l.mss
		end := min(start+l.mss, len(super))
		if len(hdrBufs[j]) < offset || len(hdrBufs[j])-offset < l.hdrLen {
			return j, errShortBuf
		}
		dst := hdrBufs[j][offset : offset+l.hdrLen]
		copy(dst, super[:l.hdrLen])
		payloads[j] = super[start:end]
		l.fixSegment(dst, i, end-start, Checksum(payloads[j], 0))
		sizes[j] = l.hdrLen
	}
	return n, nil
}

var errGSONone = wrapErr(ErrGSOFrame, "not a GSO super-frame")

// fixSegment rewrites the headers of segment i (the frame dst with
// payloadLen bytes of payload, whose sum Checksum(payload, 0) is paySum)
// copied from the super-frame's headers. The checksums are the shared
// header sums (parseGSO) plus the fields this segment changes: no header
// is summed again. The payload starts an even number of bytes after the
// TCP/UDP header, so its 16-bit words are the checksum's words.
func (l *gsoLayout) fixSegment(dst []byte, i, payloadLen int, paySum uint16) {
	ip := dst[l.ipStart:]
	l4len := l.hdrLen - l.l4Start + payloadLen
	if l.v6 {
		IPv6(ip).SetPayloadLength(uint16(l.hdrLen - l.ipStart - IPv6HeaderLen + payloadLen))
	} else {
		total := uint16(l.hdrLen - l.ipStart + payloadLen)
		id := IPv4(ip).ID() + uint16(i)
		binary.BigEndian.PutUint16(ip[ipv4TotalLenOffset:], total)
		binary.BigEndian.PutUint16(ip[ipv4IDOffset:], id)
		binary.BigEndian.PutUint16(ip[ipv4ChecksumOffset:], ^fold16(l.ipBase+uint32(total)+uint32(id)))
	}
	l4 := dst[l.l4Start:]
	sum := l.l4Base + l.addrSum + uint32(l.proto) + uint32(l4len) + uint32(paySum)
	if l.proto == ProtocolTCP {
		tcp := TCP(l4)
		seq := tcp.SequenceNumber() + uint32(i)*uint32(l.mss)
		tcp.SetSequenceNumber(seq)
		flags := tcp.Flags()
		if i != l.nseg-1 {
			flags &^= TCPFlagFin | TCPFlagPsh
		}
		if i != 0 {
			flags &^= TCPFlagCwr
		}
		tcp.SetFlags(flags)
		sum += seq>>16 + seq&0xffff + uint32(binary.BigEndian.Uint16(l4[tcpDataOffsetOffset:]))
		tcp.SetChecksum(^fold16(sum))
		return
	}
	udp := UDP(l4)
	udp.SetLength(uint16(l4len))
	c := ^fold16(sum + uint32(l4len))
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	udp.SetChecksum(c)
}

// fold16 folds an unfolded one's complement sum to 16 bits.
func fold16(sum uint32) uint16 {
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return uint16(sum)
}

// finishChecksum completes a partial (CHECKSUM_PARTIAL) checksum: the
// field at start+off holds the folded pseudo-header sum; the complement of
// the sum from start to the end of frame replaces it. A zero result is
// stored as 0xffff, which is the same value in one's complement and what
// UDP requires (RFC 768). The caller checked that the field lies inside
// frame.
func finishChecksum(frame []byte, start, off int) {
	c := ^Checksum(frame[start:], 0)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(frame[start+off:], c)
}
