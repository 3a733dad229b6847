package encap

import (
	"encoding/binary"
	"net/netip"
)

// ARP operation codes (RFC 826; IANA "ares_op$" values).
const (
	ARPRequest uint16 = 1 // ares_op$REQUEST
	ARPReply   uint16 = 2 // ares_op$REPLY
)

// ARPSize is the length of an ARP packet for Ethernet hardware and IPv4
// protocol addresses: 8 fixed bytes plus 2×(6+4) address bytes.
const ARPSize = 28

const (
	arpHTypeOffset   = 0
	arpPTypeOffset   = 2
	arpHLenOffset    = 4
	arpPLenOffset    = 5
	arpOpOffset      = 6
	arpSHAOffset     = 8
	arpSPAOffset     = 14
	arpTHAOffset     = 18
	arpTPAOffset     = 24
	arpHTypeEthernet = 1 // ares_hrd$Ethernet
)

// ARP is a view of an Address Resolution Protocol packet (RFC 826) for
// Ethernet hardware addresses and IPv4 protocol addresses, the payload of
// an Ethernet frame with EtherType EtherTypeARP:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|    Hardware type (1)          |   Protocol type (0x0800)      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  HLen (6)     |  PLen (4)     |          Operation            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Sender hardware address (6), sender protocol address (4),   |
//	|   target hardware address (6), target protocol address (4)    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// An ARP never copies and never allocates; the buffer's owner owns the
// view. Check IsValid once; after that the accessors index the packet
// directly and panic on a shorter slice. Concurrent readers may share a
// view; writers need exclusive access.
type ARP []byte

// ARPFields holds what Encode writes. The caller owns it.
type ARPFields struct {
	Op        uint16     // ARPRequest or ARPReply
	SenderMAC MAC        // sender hardware address
	SenderIP  netip.Addr // sender protocol address (IPv4)
	TargetMAC MAC        // target hardware address (zero in a request)
	TargetIP  netip.Addr // target protocol address (IPv4)
}

// IsValid reports whether b is at least ARPSize bytes long and describes
// Ethernet (hardware type 1, length 6) and IPv4 (protocol type 0x0800,
// length 4) addresses. Other ARP variants are not understood.
func (b ARP) IsValid() bool {
	return len(b) >= ARPSize &&
		binary.BigEndian.Uint16(b[arpHTypeOffset:]) == arpHTypeEthernet &&
		binary.BigEndian.Uint16(b[arpPTypeOffset:]) == EtherTypeIPv4 &&
		b[arpHLenOffset] == 6 && b[arpPLenOffset] == 4
}

// Op returns the operation code (ARPRequest, ARPReply, or another value).
func (b ARP) Op() uint16 { return binary.BigEndian.Uint16(b[arpOpOffset:]) }

// SenderMAC returns the sender hardware address.
func (b ARP) SenderMAC() MAC { return MAC(b[arpSHAOffset : arpSHAOffset+6]) }

// SenderIP returns the sender protocol address as an IPv4 netip.Addr.
func (b ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(b[arpSPAOffset : arpSPAOffset+4])) }

// TargetMAC returns the target hardware address.
func (b ARP) TargetMAC() MAC { return MAC(b[arpTHAOffset : arpTHAOffset+6]) }

// TargetIP returns the target protocol address as an IPv4 netip.Addr.
func (b ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(b[arpTPAOffset : arpTPAOffset+4])) }

// Encode writes a complete Ethernet/IPv4 ARP packet from f into the first
// ARPSize bytes of b, which must be that long. An address in f that is not
// IPv4 (or IPv4-mapped IPv6) is written as 0.0.0.0 rather than panicking;
// callers pass IPv4 addresses. Encode does not allocate.
func (b ARP) Encode(f *ARPFields) {
	_ = b[ARPSize-1] // bounds check hint
	binary.BigEndian.PutUint16(b[arpHTypeOffset:], arpHTypeEthernet)
	binary.BigEndian.PutUint16(b[arpPTypeOffset:], EtherTypeIPv4)
	b[arpHLenOffset] = 6
	b[arpPLenOffset] = 4
	binary.BigEndian.PutUint16(b[arpOpOffset:], f.Op)
	copy(b[arpSHAOffset:], f.SenderMAC[:])
	putIPv4(b[arpSPAOffset:], f.SenderIP)
	copy(b[arpTHAOffset:], f.TargetMAC[:])
	putIPv4(b[arpTPAOffset:], f.TargetIP)
}

// putIPv4 writes a as four bytes, or zeros if a is not an IPv4 (or
// IPv4-mapped) address.
func putIPv4(b []byte, a netip.Addr) {
	a = a.Unmap()
	var a4 [4]byte
	if a.Is4() {
		a4 = a.As4()
	}
	copy(b[:4], a4[:])
}
