package encap

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers") the
// switch looks at.
const (
	ProtocolICMP   uint8 = 1   // RFC 792
	ProtocolTCP    uint8 = 6   // RFC 9293
	ProtocolUDP    uint8 = 17  // RFC 768
	ProtocolICMPv6 uint8 = 58  // RFC 4443
	ProtocolSCTP   uint8 = 132 // RFC 9260
)

// Header sizes.
const (
	// IPv4MinimumSize is the length of an IPv4 header without options.
	IPv4MinimumSize = 20
	// IPv4MaximumHeaderSize is the largest IPv4 header (IHL = 15).
	IPv4MaximumHeaderSize = 60
	// IPv6HeaderLen is the length of the fixed IPv6 header.
	IPv6HeaderLen = 40
)

const (
	ipv4VersIHLOffset  = 0
	ipv4TOSOffset      = 1
	ipv4TotalLenOffset = 2
	ipv4IDOffset       = 4
	ipv4FlagsFragOff   = 6
	ipv4TTLOffset      = 8
	ipv4ProtocolOffset = 9
	ipv4ChecksumOffset = 10
	ipv4SrcOffset      = 12
	ipv4DstOffset      = 16

	ipv4FlagMF       = 0x2000 // More Fragments, in the flags/offset word
	ipv4FragOffMask  = 0x1fff // fragment offset, in 8-byte units
	ipv4FlagsShift   = 13
	ipv4VersionShift = 4
)

// IPv4 is a view of an IPv4 packet (RFC 791 §3.1), header first:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// An IPv4 never copies and never allocates; the buffer's owner owns the
// view. Check IsValid once; after that the accessors return plain values
// (Payload and HeaderLength rely on the IHL and Total Length IsValid
// checked). Concurrent readers may share a view; writers need exclusive
// access.
type IPv4 []byte

// IPv4Fields holds what IPv4.Encode writes. The caller owns it.
type IPv4Fields struct {
	TOS            uint8      // type of service / DSCP+ECN
	TotalLength    uint16     // header plus payload, in bytes
	ID             uint16     // identification
	Flags          uint8      // 3 bits: reserved, DF (0x2), MF (0x1)
	FragmentOffset uint16     // in bytes; must be a multiple of 8
	TTL            uint8      // time to live
	Protocol       uint8      // payload protocol, e.g. ProtocolUDP
	Checksum       uint16     // header checksum as stored (see SetChecksum)
	Src, Dst       netip.Addr // IPv4 addresses (others are written as 0.0.0.0)
}

// IsValid reports whether b holds a well-formed IPv4 header: at least
// IPv4MinimumSize bytes, version 4, an IHL of at least 5 words that fits in
// b, and a Total Length between the header length and len(b). b may be
// longer than Total Length (Ethernet padding); Payload excludes the excess.
func (b IPv4) IsValid() bool {
	if len(b) < IPv4MinimumSize || b[ipv4VersIHLOffset]>>ipv4VersionShift != 4 {
		return false
	}
	hl := b.HeaderLength()
	tl := int(b.TotalLength())
	return hl >= IPv4MinimumSize && hl <= tl && tl <= len(b)
}

// Version returns the IP version field (4 for a valid IPv4 header).
func (b IPv4) Version() uint8 { return b[ipv4VersIHLOffset] >> ipv4VersionShift }

// HeaderLength returns the header length in bytes (IHL × 4), options
// included.
func (b IPv4) HeaderLength() int { return int(b[ipv4VersIHLOffset]&0x0f) * 4 }

// TOS returns the type-of-service (DSCP and ECN) byte.
func (b IPv4) TOS() uint8 { return b[ipv4TOSOffset] }

// TotalLength returns the Total Length field: header plus payload.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipv4TotalLenOffset:]) }

// ID returns the Identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipv4IDOffset:]) }

// Flags returns the three flag bits (reserved, DF = 0x2, MF = 0x1).
func (b IPv4) Flags() uint8 {
	return uint8(binary.BigEndian.Uint16(b[ipv4FlagsFragOff:]) >> ipv4FlagsShift)
}

// FragmentOffset returns the fragment offset in bytes.
func (b IPv4) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(b[ipv4FlagsFragOff:]) & ipv4FragOffMask * 8
}

// IsFragment reports whether b is a fragment: More Fragments set or a
// non-zero fragment offset. Only the first fragment carries the transport
// header, so flow classification ignores ports of all fragments.
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[ipv4FlagsFragOff:])&(ipv4FlagMF|ipv4FragOffMask) != 0
}

// TTL returns the time-to-live field.
func (b IPv4) TTL() uint8 { return b[ipv4TTLOffset] }

// Protocol returns the protocol of the payload (e.g. ProtocolTCP).
func (b IPv4) Protocol() uint8 { return b[ipv4ProtocolOffset] }

// Checksum returns the header checksum field as stored.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipv4ChecksumOffset:]) }

// Src returns the source address.
func (b IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(b[ipv4SrcOffset : ipv4SrcOffset+4])) }

// Dst returns the destination address.
func (b IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(b[ipv4DstOffset : ipv4DstOffset+4])) }

// Payload returns b[HeaderLength():TotalLength()]: the transport segment
// without any Ethernet padding. It aliases b. Call only after IsValid.
func (b IPv4) Payload() []byte { return b[b.HeaderLength():b.TotalLength()] }

// SetTotalLength writes the Total Length field. The checksum is not
// updated.
func (b IPv4) SetTotalLength(n uint16) { binary.BigEndian.PutUint16(b[ipv4TotalLenOffset:], n) }

// SetChecksum writes the header checksum field.
func (b IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[ipv4ChecksumOffset:], c) }

// CalculateChecksum returns the header checksum to store: the complement
// of the one's complement sum of the header (HeaderLength bytes) with the
// checksum field taken as zero (RFC 791 §3.1). It does not modify b.
func (b IPv4) CalculateChecksum() uint16 {
	hl := b.HeaderLength()
	sum := uint32(Checksum(b[:ipv4ChecksumOffset], 0))
	return ^Checksum(b[ipv4ChecksumOffset+2:hl], sum)
}

// IsChecksumValid reports whether the stored header checksum is correct.
func (b IPv4) IsChecksumValid() bool { return Checksum(b[:b.HeaderLength()], 0) == 0xffff }

// Encode writes a 20-byte header without options from f into b, which must
// hold IPv4MinimumSize bytes. The checksum field gets f.Checksum as is;
// call SetChecksum(CalculateChecksum()) afterwards to fill it in. Encode
// does not allocate.
func (b IPv4) Encode(f *IPv4Fields) {
	_ = b[IPv4MinimumSize-1] // bounds check hint
	b[ipv4VersIHLOffset] = 4<<ipv4VersionShift | IPv4MinimumSize/4
	b[ipv4TOSOffset] = f.TOS
	binary.BigEndian.PutUint16(b[ipv4TotalLenOffset:], f.TotalLength)
	binary.BigEndian.PutUint16(b[ipv4IDOffset:], f.ID)
	binary.BigEndian.PutUint16(b[ipv4FlagsFragOff:],
		uint16(f.Flags&0x7)<<ipv4FlagsShift|(f.FragmentOffset/8)&ipv4FragOffMask)
	b[ipv4TTLOffset] = f.TTL
	b[ipv4ProtocolOffset] = f.Protocol
	binary.BigEndian.PutUint16(b[ipv4ChecksumOffset:], f.Checksum)
	putIPv4(b[ipv4SrcOffset:], f.Src)
	putIPv4(b[ipv4DstOffset:], f.Dst)
}

const (
	ipv6PayloadLenOffset = 4
	ipv6NextHeaderOffset = 6
	ipv6HopLimitOffset   = 7
	ipv6SrcOffset        = 8
	ipv6DstOffset        = 24
)

// IPv6 is a view of an IPv6 packet (RFC 8200 §3), fixed header first:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                Source Address (128 bits)                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|             Destination Address (128 bits)                    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Extension headers are not walked: NextHeader and Payload describe what
// follows the fixed header. An IPv6 never copies and never allocates; the
// buffer's owner owns the view. Check IsValid once; concurrent readers may
// share a view, writers need exclusive access.
type IPv6 []byte

// IsValid reports whether b holds a fixed IPv6 header with version 6 and a
// Payload Length that fits in b (jumbograms, Payload Length 0 with a
// Hop-by-Hop jumbo option, are not supported and yield an empty Payload).
func (b IPv6) IsValid() bool {
	return len(b) >= IPv6HeaderLen && b[0]>>4 == 6 &&
		IPv6HeaderLen+int(b.PayloadLength()) <= len(b)
}

// Version returns the IP version field (6 for a valid IPv6 header).
func (b IPv6) Version() uint8 { return b[0] >> 4 }

// TrafficClass returns the 8-bit traffic class.
func (b IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(b[0:]) >> 4) }

// FlowLabel returns the 20-bit flow label.
func (b IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(b[0:]) & 0xfffff }

// PayloadLength returns the Payload Length field: bytes after the fixed
// header, extension headers included.
func (b IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(b[ipv6PayloadLenOffset:]) }

// NextHeader returns the type of the header after the fixed header.
func (b IPv6) NextHeader() uint8 { return b[ipv6NextHeaderOffset] }

// HopLimit returns the hop limit.
func (b IPv6) HopLimit() uint8 { return b[ipv6HopLimitOffset] }

// Src returns the source address.
func (b IPv6) Src() netip.Addr {
	return netip.AddrFrom16([16]byte(b[ipv6SrcOffset : ipv6SrcOffset+16]))
}

// Dst returns the destination address.
func (b IPv6) Dst() netip.Addr {
	return netip.AddrFrom16([16]byte(b[ipv6DstOffset : ipv6DstOffset+16]))
}

// Payload returns the PayloadLength bytes after the fixed header, without
// Ethernet padding. It aliases b. Call only after IsValid.
func (b IPv6) Payload() []byte { return b[IPv6HeaderLen : IPv6HeaderLen+int(b.PayloadLength())] }

// SetPayloadLength writes the Payload Length field.
func (b IPv6) SetPayloadLength(n uint16) { binary.BigEndian.PutUint16(b[ipv6PayloadLenOffset:], n) }
