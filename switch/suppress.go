package vswitch

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
)

// Suppressor implements ARP and IPv6 Neighbor Discovery suppression (as
// the Linux bridge's neigh_suppress and EVPN proxy-ARP/ND do, RFC 7432
// §10): it records the IP↔MAC bindings seen in ARP and ND from local
// ports, and answers an ARP request, or a Neighbor Solicitation sent to the
// target's solicited-node multicast address (RFC 4861 §7.2.2), for an IP
// whose binding is known in the port's VNI with a reply (a Neighbor
// Advertisement, RFC 4861 §7.2.4) on the ingress port, so the request is
// never flooded to the VTEPs. Requests for unknown IPs flood as before, and
// so do probes that come from no address (RFC 5227 ARP probes, RFC 4862
// duplicate address detection): they are the hosts' business.
//
// Set it as Config.Suppress; Neigh is usually shared with the gossip
// control plane, which distributes the bindings. A Suppressor is used
// concurrently by every port reader; it allocates nothing per frame
// unless a binding changes.
type Suppressor struct {
	// Neigh is the neighbour table consulted and fed. It must not be nil.
	Neigh *fdb.NeighTable

	answered atomic.Uint64 // requests answered locally
	observed atomic.Uint64 // binding changes recorded from local ARP/ND
}

// SuppressStats are a Suppressor's counters.
type SuppressStats struct {
	Answered uint64 // ARP requests and ND solicitations answered on the ingress port, not flooded
	Observed uint64 // new or changed bindings learned from local ARP and ND
}

// Stats returns the counters.
func (s *Suppressor) Stats() SuppressStats {
	return SuppressStats{Answered: s.answered.Load(), Observed: s.observed.Load()}
}

// suppress handles an ARP or ND frame from port p: it records the
// sender's binding and, for a request whose target is known, rewrites pkt
// in place into the reply and queues it back to p. It reports whether the
// frame was consumed (and must not be forwarded). pkt holds
// PacketStartOffset bytes of headroom followed by the frame; the caller
// owns it until out is flushed.
func (s *Suppressor) suppress(sw *Switch, p *Port, pkt []byte, out *egress) bool {
	switch encap.Ethernet(pkt[PacketStartOffset:]).EtherType() {
	case encap.EtherTypeARP:
		return s.suppressARP(p, pkt, out)
	case encap.EtherTypeIPv6:
		return s.suppressND(p, pkt, out)
	}
	return false
}

// suppressARP is suppress for an ARP frame.
func (s *Suppressor) suppressARP(p *Port, pkt []byte, out *egress) bool {
	frame := encap.Ethernet(pkt[PacketStartOffset:])
	arp := encap.ARP(frame.Payload())
	if !arp.IsValid() {
		return false
	}
	op := arp.Op()
	senderMAC, senderIP := arp.SenderMAC(), arp.SenderIP()
	if op != encap.ARPRequest && op != encap.ARPReply {
		return false
	}
	if senderMAC == frame.Source() && s.Neigh.Observe(p.vni, senderIP, senderMAC, p.id) {
		s.observed.Add(1)
	}
	if op != encap.ARPRequest {
		return false
	}
	targetIP := arp.TargetIP()
	// Leave probes (RFC 5227: sender IP 0.0.0.0) and gratuitous ARP
	// (sender IP = target IP) to the hosts themselves.
	if senderIP.IsUnspecified() || senderIP == targetIP {
		return false
	}
	mac, ok := s.Neigh.Lookup(p.vni, targetIP)
	if !ok || mac == senderMAC {
		return false
	}
	frame.Encode(&encap.EthernetFields{Dst: senderMAC, Src: mac, Type: encap.EtherTypeARP})
	arp.Encode(&encap.ARPFields{Op: encap.ARPReply, SenderMAC: mac, SenderIP: targetIP, TargetMAC: senderMAC, TargetIP: senderIP})
	out.toPort(p, pkt)
	s.answered.Add(1)
	return true
}

// Neighbor Discovery (RFC 4861) message layout. NS and NA share it:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|R|S|O|                     Reserved                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Target Address (128 bits)               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Options ...
//	+-+-+-+-+-+-+-+-+-+-+-+-
//
// (R, S, O exist in an NA only; in an NS the word is reserved.)
const (
	icmpv6TypeNS uint8 = 135 // Neighbor Solicitation, RFC 4861 §4.3
	icmpv6TypeNA uint8 = 136 // Neighbor Advertisement, RFC 4861 §4.4

	ndMsgLen       = 24 // type, code, checksum, flags/reserved, target
	ndFlagsOffset  = 4
	ndTargetOffset = 8

	ndFlagSolicited = 0x40 // S, RFC 4861 §4.4
	ndFlagOverride  = 0x20 // O, RFC 4861 §4.4

	ndOptSourceLLA = 1 // Source Link-Layer Address option, RFC 4861 §4.6.1
	ndOptTargetLLA = 2 // Target Link-Layer Address option, RFC 4861 §4.6.1
	ndOptLLALen    = 8 // an Ethernet link-layer address option: type, length 1, MAC

	// ndHopLimit: "The IP Hop Limit field has a value of 255, i.e., the
	// packet could not possibly have been forwarded by a router" (RFC 4861
	// §7.1.1, §7.1.2); sent NDs carry it too.
	ndHopLimit = 255

	// ndReplyLen is the frame length of the advertisements we send:
	// Ethernet, IPv6, the NA and one target link-layer address option.
	ndReplyLen = encap.EthernetHeaderLen + encap.IPv6HeaderLen + ndMsgLen + ndOptLLALen
)

// suppressND is suppress for an IPv6 frame: it consumes only a valid
// Neighbor Solicitation (RFC 4861 §7.1.1: hop limit 255, code 0, checksum,
// non-multicast target, well-formed options) for a known target sent to
// the target's solicited-node address, and observes bindings from valid
// solicitations (source address → source link-layer address) and
// advertisements (target → target link-layer address).
func (s *Suppressor) suppressND(p *Port, pkt []byte, out *egress) bool {
	frame := encap.Ethernet(pkt[PacketStartOffset:])
	ip := encap.IPv6(frame.Payload())
	if !ip.IsValid() || ip.NextHeader() != encap.ProtocolICMPv6 || ip.HopLimit() != ndHopLimit {
		return false
	}
	msg := ip.Payload()
	if len(msg) < ndMsgLen || msg[1] != 0 || (msg[0] != icmpv6TypeNS && msg[0] != icmpv6TypeNA) {
		return false
	}
	src, dst := ip.Src(), ip.Dst()
	if encap.Checksum(msg, encap.PseudoHeaderChecksum(encap.ProtocolICMPv6, src, dst, uint32(len(msg)))) != 0xffff {
		return false
	}
	target := netip.AddrFrom16([16]byte(msg[ndTargetOffset : ndTargetOffset+16]))
	if target.IsMulticast() {
		return false
	}
	want := ndOptTargetLLA
	if msg[0] == icmpv6TypeNS {
		want = ndOptSourceLLA
	}
	lla, hasLLA, ok := ndLinkLayerOption(msg[ndMsgLen:], uint8(want))
	if !ok {
		return false
	}
	mac := frame.Source()
	if hasLLA {
		mac = lla
	}
	if msg[0] == icmpv6TypeNA {
		if mac == frame.Source() && s.Neigh.Observe(p.vni, target, mac, p.id) {
			s.observed.Add(1)
		}
		return false
	}
	// A solicitation from the unspecified address is duplicate address
	// detection (RFC 4862 §5.4.2): the owner must answer it to all-nodes,
	// so it floods.
	if src.IsUnspecified() {
		return false
	}
	if mac == frame.Source() && s.Neigh.Observe(p.vni, src, mac, p.id) {
		s.observed.Add(1)
	}
	if dst != solicitedNode(target) || !mac.IsUnicast() {
		return false
	}
	tmac, known := s.Neigh.Lookup(p.vni, target)
	if !known || tmac == mac || cap(pkt) < PacketStartOffset+ndReplyLen {
		return false
	}
	pkt = pkt[:PacketStartOffset+ndReplyLen]
	writeNA(pkt[PacketStartOffset:], mac, tmac, src, target)
	out.toPort(p, pkt)
	s.answered.Add(1)
	return true
}

// ndLinkLayerOption walks the options of an ND message (RFC 4861 §4.6)
// and returns the first Ethernet link-layer address option of type typ.
// ok is false when the options are malformed ("All included options have
// a length that is greater than zero", §7.1.1), which invalidates the
// message.
func ndLinkLayerOption(opts []byte, typ uint8) (mac encap.MAC, found, ok bool) {
	for len(opts) > 0 {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return encap.MAC{}, false, false
		}
		n := int(opts[1]) * 8
		if opts[0] == typ && !found && n == ndOptLLALen {
			mac, found = encap.MAC(opts[2:8]), true
		}
		opts = opts[n:]
	}
	return mac, found, true
}

// solicitedNode returns the solicited-node multicast address of a
// (RFC 4291 §2.7.1): ff02::1:ff00:0/104 plus a's low 24 bits.
func solicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// writeNA writes into b (ndReplyLen bytes) the solicited Neighbor
// Advertisement that the owner of target (tmac) would send in reply to a
// solicitation from src (mac): "If the source of the solicitation is not
// the unspecified address, the node MUST set the Solicited flag to one and
// unicast the advertisement to the Source Address of the solicitation"
// (RFC 4861 §7.2.4). The override flag is set and the target link-layer
// address included, as a host answering for itself does.
func writeNA(b []byte, mac, tmac encap.MAC, src, target netip.Addr) {
	_ = b[ndReplyLen-1]
	encap.Ethernet(b).Encode(&encap.EthernetFields{Dst: mac, Src: tmac, Type: encap.EtherTypeIPv6})
	ip := b[encap.EthernetHeaderLen:]
	binary.BigEndian.PutUint32(ip[0:], 6<<28) // version 6, traffic class 0, flow label 0
	binary.BigEndian.PutUint16(ip[4:], ndMsgLen+ndOptLLALen)
	ip[6] = encap.ProtocolICMPv6
	ip[7] = ndHopLimit
	t16, s16 := target.As16(), src.As16()
	copy(ip[8:24], t16[:])
	copy(ip[24:40], s16[:])
	msg := ip[encap.IPv6HeaderLen : encap.IPv6HeaderLen+ndMsgLen+ndOptLLALen]
	msg[0], msg[1], msg[2], msg[3] = icmpv6TypeNA, 0, 0, 0
	binary.BigEndian.PutUint32(msg[ndFlagsOffset:], uint32(ndFlagSolicited|ndFlagOverride)<<24)
	copy(msg[ndTargetOffset:], t16[:])
	msg[ndMsgLen], msg[ndMsgLen+1] = ndOptTargetLLA, 1
	copy(msg[ndMsgLen+2:], tmac[:])
	sum := encap.Checksum(msg, encap.PseudoHeaderChecksum(encap.ProtocolICMPv6, target, src, uint32(len(msg))))
	binary.BigEndian.PutUint16(msg[2:], ^sum)
}
