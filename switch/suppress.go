package vswitch

import (
	"sync/atomic"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
)

// Suppressor implements ARP suppression (as the Linux bridge's
// neigh_suppress and EVPN proxy-ARP do, RFC 7432 §10): it records the
// IP↔MAC bindings seen in ARP from local ports, and answers an ARP request
// for an IP whose binding is known in the port's VNI with a reply on the
// ingress port, so the request is never flooded to the VTEPs. Requests for
// unknown IPs flood as before. IPv6 Neighbor Discovery is not suppressed
// (yet).
//
// Set it as Config.Suppress; Neigh is usually shared with the gossip
// control plane, which distributes the bindings. A Suppressor is used
// concurrently by every port reader; it allocates nothing per frame
// unless a binding changes.
type Suppressor struct {
	// Neigh is the neighbour table consulted and fed. It must not be nil.
	Neigh *fdb.NeighTable

	answered atomic.Uint64 // requests answered locally
	observed atomic.Uint64 // binding changes recorded from local ARP
}

// SuppressStats are a Suppressor's counters.
type SuppressStats struct {
	Answered uint64 // ARP requests answered on the ingress port, not flooded
	Observed uint64 // new or changed bindings learned from local ARP
}

// Stats returns the counters.
func (s *Suppressor) Stats() SuppressStats {
	return SuppressStats{Answered: s.answered.Load(), Observed: s.observed.Load()}
}

// suppress handles an ARP frame from port p: it records the sender's
// binding and, for a request whose target is known, rewrites pkt in place
// into the reply and queues it back to p. It reports whether the frame
// was consumed (and must not be forwarded). pkt holds PacketStartOffset
// bytes of headroom followed by the frame; the caller owns it until out
// is flushed.
func (s *Suppressor) suppress(sw *Switch, p *Port, pkt []byte, out *egress) bool {
	frame := encap.Ethernet(pkt[PacketStartOffset:])
	if frame.EtherType() != encap.EtherTypeARP {
		return false
	}
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
