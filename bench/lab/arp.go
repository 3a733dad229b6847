package lab

import (
	"encoding/binary"
	"net/netip"

	"github.com/vxswitch/vxswitch/encap"
)

// ARP over Ethernet for IPv4 (RFC 826), as far as ARPProbe needs it.
//
//	 0      2      4    5    6      8             14          18            24          28
//	+------+------+----+----+------+-------------+-----------+-------------+-----------+
//	| htype| ptype|hlen|plen|  op  | sender MAC  | sender IP | target MAC  | target IP |
//	+------+------+----+----+------+-------------+-----------+-------------+-----------+
const (
	etherTypeARP  = 0x0806
	etherTypeIPv4 = 0x0800
	arpLen        = 28
	arpRequest    = 1
	arpReply      = 2
	arpFrameLen   = encap.EthernetHeaderLen + arpLen
)

// arpRequestFrame builds a broadcast ARP request from (mac, ip) for target.
func arpRequestFrame(mac encap.MAC, ip, target netip.Addr) []byte {
	b := make([]byte, arpFrameLen)
	copy(b[0:6], encap.BroadcastMAC[:])
	copy(b[6:12], mac[:])
	binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
	a := b[encap.EthernetHeaderLen:]
	binary.BigEndian.PutUint16(a[0:2], 1) // htype Ethernet
	binary.BigEndian.PutUint16(a[2:4], etherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], arpRequest)
	copy(a[8:14], mac[:])
	ip4, t4 := ip.As4(), target.As4()
	copy(a[14:18], ip4[:])
	// target MAC a[18:24] stays zero
	copy(a[24:28], t4[:])
	return b
}

// parseARPReply returns the sender MAC if frame is an Ethernet/IPv4 ARP
// reply from target to ip.
func parseARPReply(frame []byte, ip, target netip.Addr) (encap.MAC, bool) {
	if len(frame) < arpFrameLen || binary.BigEndian.Uint16(frame[12:14]) != etherTypeARP {
		return encap.MAC{}, false
	}
	a := frame[encap.EthernetHeaderLen:]
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != etherTypeIPv4 ||
		a[4] != 6 || a[5] != 4 || binary.BigEndian.Uint16(a[6:8]) != arpReply {
		return encap.MAC{}, false
	}
	ip4, t4 := ip.As4(), target.As4()
	if [4]byte(a[14:18]) != t4 || [4]byte(a[24:28]) != ip4 {
		return encap.MAC{}, false
	}
	return encap.MAC(a[8:14]), true
}
