package encap

import "encoding/binary"

// EtherType values (IEEE 802; IANA "IEEE 802 Numbers" registry) the switch
// classifies.
const (
	EtherTypeIPv4 uint16 = 0x0800 // Internet Protocol version 4, RFC 894
	EtherTypeARP  uint16 = 0x0806 // Address Resolution Protocol, RFC 826
	EtherTypeVLAN uint16 = 0x8100 // IEEE 802.1Q customer VLAN tag (C-tag)
	EtherTypeIPv6 uint16 = 0x86DD // Internet Protocol version 6, RFC 2464
	EtherTypeQinQ uint16 = 0x88A8 // IEEE 802.1ad service VLAN tag (S-tag)
)

// VLANTagLen is the length of one 802.1Q/802.1ad tag: TPID (2) + TCI (2).
const VLANTagLen = 4

const (
	dstMACOffset    = 0
	srcMACOffset    = 6
	etherTypeOffset = 12
	vlanTCIOffset   = EthernetHeaderLen     // TCI follows the TPID at 12
	innerTypeOffset = EthernetHeaderLen + 2 // EtherType after one tag
)

// Ethernet is a view of an Ethernet II frame (IEEE 802.3 §3.1, DIX
// framing): destination MAC, source MAC, EtherType, payload. The frame
// check sequence is not present (TAP devices and VXLAN carry frames
// without it).
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Destination MAC (6 octets)                   |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                     Source MAC (6 octets)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           EtherType           |   [802.1Q/802.1ad tag TCI,    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   inner EtherType] / payload ...
//
// An Ethernet never copies and never allocates; the buffer's owner owns
// the view. Check IsValid (or len(b) >= EthernetMinimumSize) once at
// ingress; after that Destination, Source, EtherType and Payload index the
// header directly and panic on a shorter slice. The tag-aware accessors
// (VLANTag, InnerEtherType, PayloadOffset) check the tag's length
// themselves. Concurrent readers may share a view; writers need exclusive
// access.
type Ethernet []byte

// EthernetFields holds the header fields Encode writes. The caller owns it.
type EthernetFields struct {
	Src  MAC    // source address
	Dst  MAC    // destination address
	Type uint16 // EtherType of the (untagged) header
}

// IsValid reports whether b holds at least an untagged Ethernet header.
func (b Ethernet) IsValid() bool { return len(b) >= EthernetHeaderLen }

// Destination returns the destination MAC address (a copy, not a slice).
func (b Ethernet) Destination() MAC { return MAC(b[dstMACOffset : dstMACOffset+6]) }

// Source returns the source MAC address (a copy, not a slice).
func (b Ethernet) Source() MAC { return MAC(b[srcMACOffset : srcMACOffset+6]) }

// EtherType returns the EtherType of the untagged header (bytes 12-13),
// which is EtherTypeVLAN or EtherTypeQinQ for a tagged frame.
func (b Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(b[etherTypeOffset:]) }

// Payload returns everything after the untagged 14-byte header (for a
// tagged frame this starts with the tag's TCI). It aliases b.
func (b Ethernet) Payload() []byte { return b[EthernetHeaderLen:] }

// isTagged reports whether the untagged EtherType announces a VLAN tag.
func (b Ethernet) isTagged() bool {
	t := b.EtherType()
	return t == EtherTypeVLAN || t == EtherTypeQinQ
}

// VLANTag returns the Tag Control Information (PCP, DEI, 12-bit VID) of a
// single 802.1Q or 802.1ad tag, and ok=false when the frame is untagged or
// too short to hold the whole tag and the inner EtherType.
func (b Ethernet) VLANTag() (tci uint16, ok bool) {
	if !b.isTagged() || len(b) < EthernetHeaderLen+VLANTagLen {
		return 0, false
	}
	return binary.BigEndian.Uint16(b[vlanTCIOffset:]), true
}

// InnerEtherType returns the EtherType after skipping one 802.1Q or
// 802.1ad tag, or EtherType() when the frame is untagged. It returns 0 (not
// a valid EtherType) for a tagged frame too short to hold the inner
// EtherType. Only one tag is skipped: for a double-tagged (QinQ) frame the
// result is the inner tag's TPID.
func (b Ethernet) InnerEtherType() uint16 {
	if !b.isTagged() {
		return b.EtherType()
	}
	if len(b) < EthernetHeaderLen+VLANTagLen {
		return 0
	}
	return binary.BigEndian.Uint16(b[innerTypeOffset:])
}

// PayloadOffset returns the offset of the payload that InnerEtherType
// describes: EthernetHeaderLen for an untagged frame, EthernetHeaderLen +
// VLANTagLen after one tag. For a truncated tagged frame it returns len(b),
// so b[b.PayloadOffset():] never panics on a valid frame.
func (b Ethernet) PayloadOffset() int {
	if !b.isTagged() {
		return EthernetHeaderLen
	}
	return min(EthernetHeaderLen+VLANTagLen, len(b))
}

// Encode writes an untagged header from f into the first EthernetHeaderLen
// bytes of b, which must be that long. It does not allocate.
func (b Ethernet) Encode(f *EthernetFields) {
	_ = b[EthernetHeaderLen-1] // bounds check hint
	copy(b[dstMACOffset:], f.Dst[:])
	copy(b[srcMACOffset:], f.Src[:])
	binary.BigEndian.PutUint16(b[etherTypeOffset:], f.Type)
}
