package vswitch

import (
	"sync/atomic"

	"github.com/vxswitch/vxswitch/switch/capture"
)

// DropReason says why the switch did not deliver a frame. Reasons are
// counters, never log lines: the forwarding loops continue after a drop.
type DropReason uint8

// Drop reasons. The names (String) are the keys of the "drops" object in
// the stats API and the reason label of the metrics.
const (
	// DropTruncated: a VXLAN packet shorter than its 8-byte header, or an
	// inner frame shorter than an Ethernet header.
	DropTruncated DropReason = iota
	// DropBadFlags: the VXLAN "I" flag is clear (RFC 7348 §5: the I flag
	// MUST be set to 1 for a valid VNI).
	DropBadFlags
	// DropReservedBits: reserved VXLAN bits set while Config.Strict is on.
	// Without Strict such packets are accepted and counted in
	// Stats.ReservedBitsAccepted.
	DropReservedBits
	// DropUnknownVNI: VXLAN for a VNI this switch does not serve.
	DropUnknownVNI
	// DropOversize: a frame larger than the egress port's MTU allows, or a
	// datagram larger than the receive buffer.
	DropOversize
	// DropNoRoute: a frame with nowhere to go: BUM or unknown unicast in a
	// VNI with no other local port and an empty flood list.
	DropNoRoute
	// DropLearnCap: learning refused because the VNI reached its cap of
	// learned entries. The frame itself was still forwarded; only the FDB
	// entry was not added.
	DropLearnCap
	// DropBadSourceMAC: a frame whose source MAC is multicast, broadcast or
	// zero (IEEE 802.1Q §8.6.3 bridges never forward those).
	DropBadSourceMAC
	// DropHairpin: a unicast frame addressed to a MAC behind the very port
	// it came in on.
	DropHairpin
	// DropSplitHorizon: VXLAN from the underlay whose inner destination lives
	// behind another remote VTEP. A VTEP never relays between VTEPs.
	DropSplitHorizon
	// DropPortWrite: writing a frame to a local port failed.
	DropPortWrite
	// DropSend: sending a VXLAN packet on the underlay failed.
	DropSend
	// DropNotMember: VXLAN from a source that is neither a cluster member
	// nor a configured remote (used when the control plane restricts
	// sources).
	DropNotMember
	// DropReceiveOverflow: VXLAN datagrams the kernel dropped at the
	// underlay receive sockets before the switch read them, almost always
	// because a socket's receive buffer was full while the switch fell
	// behind. The kernel counts these (the bind's ReceiveDrops, read when
	// Stats is called); the switch never increments it.
	DropReceiveOverflow
	// DropPortOverflow: frames a port's TAP dropped before the switch read
	// them, almost always because its queue to the switch (txqueuelen) was
	// full. The kernel counts these (the TAP's tx_dropped, read when Stats
	// is called, from the first queue's device if it can tell); the switch
	// adds a removed port's count to its own counter, so the total does
	// not fall when a port goes.
	DropPortOverflow

	numDropReasons
)

var dropNames = [numDropReasons]string{
	DropTruncated:    "truncated",
	DropBadFlags:     "bad_flags",
	DropReservedBits: "reserved_bits",
	DropUnknownVNI:   "unknown_vni",
	DropOversize:     "oversize",
	DropNoRoute:      "no_route",
	DropLearnCap:     "learn_cap",
	DropBadSourceMAC: "bad_source_mac",
	DropHairpin:      "hairpin",
	DropSplitHorizon: "split_horizon",
	DropPortWrite:    "port_write_error",
	DropSend:         "send_error",
	DropNotMember:    "not_member",

	DropReceiveOverflow: "receive_overflow",
	DropPortOverflow:    "port_overflow",
}

// String returns the reason's stable name, e.g. "unknown_vni".
func (r DropReason) String() string {
	if r < numDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// DropReasons lists every reason in order, for APIs that report all of them
// (a zero counter is information too).
func DropReasons() []DropReason {
	rs := make([]DropReason, numDropReasons)
	for i := range rs {
		rs[i] = DropReason(i)
	}
	return rs
}

// dropCounters counts drops by reason. Safe for concurrent use.
type dropCounters struct{ d [numDropReasons]atomic.Uint64 }

func (d *dropCounters) add(r DropReason) { d.d[r].Add(1) }

// captureEgressDrop records, at the capture drop point, a frame dropped on
// its way out of port p (pkt has PacketStartOffset bytes of headroom).
func (sw *Switch) captureEgressDrop(r DropReason, p *Port, pkt []byte) {
	m := capture.Meta{Point: capture.Drop, Port: p.name, VNI: p.vni, Decision: dropped(r)}
	sw.capture.Capture(&m, pkt[PacketStartOffset:])
}
