package encap

import (
	"encoding/binary"
	"net/netip"
)

// UDPMinimumSize is the length of a UDP header (RFC 768).
const UDPMinimumSize = 8

const (
	udpSrcPortOffset  = 0
	udpDstPortOffset  = 2
	udpLengthOffset   = 4
	udpChecksumOffset = 6
)

// UDP is a view of a UDP datagram (RFC 768), header first:
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|                 |                 |
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
//	|          data octets ...
//
// A UDP never copies and never allocates; the buffer's owner owns the view.
// Check IsValid once; concurrent readers may share a view, writers need
// exclusive access.
type UDP []byte

// UDPFields holds what UDP.Encode writes. The caller owns it.
type UDPFields struct {
	SrcPort  uint16 // source port
	DstPort  uint16 // destination port
	Length   uint16 // header plus payload, in bytes
	Checksum uint16 // as stored; 0 means "no checksum" over IPv4
}

// IsValid reports whether b holds a UDP header whose Length field is at
// least UDPMinimumSize and fits in b.
func (b UDP) IsValid() bool {
	return len(b) >= UDPMinimumSize && b.Length() >= UDPMinimumSize && int(b.Length()) <= len(b)
}

// SourcePort returns the source port.
func (b UDP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[udpSrcPortOffset:]) }

// DestinationPort returns the destination port.
func (b UDP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[udpDstPortOffset:]) }

// Length returns the Length field: header plus payload.
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[udpLengthOffset:]) }

// Checksum returns the checksum field as stored.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[udpChecksumOffset:]) }

// Payload returns b[UDPMinimumSize:Length()]. It aliases b. Call only after
// IsValid.
func (b UDP) Payload() []byte { return b[UDPMinimumSize:b.Length()] }

// SetSourcePort writes the source port.
func (b UDP) SetSourcePort(p uint16) { binary.BigEndian.PutUint16(b[udpSrcPortOffset:], p) }

// SetDestinationPort writes the destination port.
func (b UDP) SetDestinationPort(p uint16) { binary.BigEndian.PutUint16(b[udpDstPortOffset:], p) }

// SetLength writes the Length field.
func (b UDP) SetLength(n uint16) { binary.BigEndian.PutUint16(b[udpLengthOffset:], n) }

// SetChecksum writes the checksum field.
func (b UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[udpChecksumOffset:], c) }

// CalculateChecksum returns the checksum to store for the datagram
// b[:Length()] sent from src to dst, with the stored checksum field taken
// as zero. A computed zero is returned as 0xffff, because RFC 768 says "If
// the computed checksum is zero, it is transmitted as all ones". Call only
// after IsValid. It does not modify b.
func (b UDP) CalculateChecksum(src, dst netip.Addr) uint16 {
	n := b.Length()
	sum := PseudoHeaderChecksum(ProtocolUDP, src, dst, uint32(n))
	sum = uint32(Checksum(b[:udpChecksumOffset], sum))
	c := ^Checksum(b[udpChecksumOffset+2:n], sum)
	if c == 0 {
		return 0xffff
	}
	return c
}

// IsChecksumValid reports whether the stored checksum of b[:Length()] is
// correct for a datagram from src to dst. A zero checksum over IPv4 means
// "no checksum" (RFC 768) and is reported valid; over IPv6 it is invalid
// (RFC 8200 §8.1). Call only after IsValid.
func (b UDP) IsChecksumValid(src, dst netip.Addr) bool {
	if b.Checksum() == 0 {
		return src.Is4()
	}
	n := b.Length()
	return Checksum(b[:n], PseudoHeaderChecksum(ProtocolUDP, src, dst, uint32(n))) == 0xffff
}

// Encode writes the 8-byte header from f into b, which must be that long.
// It does not allocate.
func (b UDP) Encode(f *UDPFields) {
	_ = b[UDPMinimumSize-1] // bounds check hint
	binary.BigEndian.PutUint16(b[udpSrcPortOffset:], f.SrcPort)
	binary.BigEndian.PutUint16(b[udpDstPortOffset:], f.DstPort)
	binary.BigEndian.PutUint16(b[udpLengthOffset:], f.Length)
	binary.BigEndian.PutUint16(b[udpChecksumOffset:], f.Checksum)
}
