package encap

import "errors"

// VXLAN is a view of a VXLAN header (RFC 7348 §5) at the start of a UDP
// payload, followed by the inner Ethernet frame:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|R|R|R|R|I|R|R|R|            Reserved                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                VXLAN Network Identifier (VNI) |   Reserved    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A VXLAN is a slice of someone else's buffer: it never copies and never
// allocates, and the caller that owns the buffer owns the view. The length
// is checked once with IsValid (or by DecodeVXLAN); after that the accessors
// index the first VXLANHeaderLen bytes directly and panic on a shorter
// slice. Methods are safe for concurrent use only as far as the underlying
// bytes are: readers may share a view, a writer needs exclusive access.
type VXLAN []byte

const (
	flagsOffset = 0
	vniOffset   = 4

	vxlanFlagI = 0x08 // "I" flag, RFC 7348 §5
)

// MaxVNI is the largest VXLAN Network Identifier: the VNI is a 24-bit field
// (RFC 7348 §5).
const MaxVNI = 1<<24 - 1

// VXLANFields holds the fields Encode writes into a VXLAN header. It is a
// plain value; the caller owns it.
type VXLANFields struct {
	// VNI is the VXLAN Network Identifier. Only the low 24 bits are
	// encoded; callers validate VNIs (<= MaxVNI) where they are configured.
	VNI uint32
}

// IsValid reports whether b is long enough to hold a VXLAN header. It does
// not look at the flags: use HasI and HasReservedBits, or DecodeVXLAN, to
// classify a received header.
func (b VXLAN) IsValid() bool { return len(b) >= VXLANHeaderLen }

// Flags returns the 8-bit flags field (the I flag and seven reserved bits).
func (b VXLAN) Flags() uint8 { return b[flagsOffset] }

// HasI reports whether the "I" flag is set, which RFC 7348 §5 requires for
// a valid VNI: "The I flag MUST be set to 1 for a valid VXLAN Network ID
// (VNI)."
func (b VXLAN) HasI() bool { return b[flagsOffset]&vxlanFlagI != 0 }

// VNI returns the 24-bit VXLAN Network Identifier.
func (b VXLAN) VNI() uint32 {
	return uint32(b[vniOffset])<<16 | uint32(b[vniOffset+1])<<8 | uint32(b[vniOffset+2])
}

// SetVNI writes the low 24 bits of vni into the VNI field. It leaves the
// flags and reserved bits alone.
func (b VXLAN) SetVNI(vni uint32) {
	_ = b[vniOffset+2] // bounds check hint
	b[vniOffset] = byte(vni >> 16)
	b[vniOffset+1] = byte(vni >> 8)
	b[vniOffset+2] = byte(vni)
}

// HasReservedBits reports whether any reserved bit is set: a flag other
// than I, the 24 reserved bits after the flags, or the last 8 bits.
//
// RFC 7348 §5: "Reserved fields (24 bits and 8 bits): MUST be set to zero on
// transmission and ignored on receipt." The same is said of the other seven
// flag bits ("R"). Encode therefore always clears them; on receipt the
// switch accepts and counts such headers by default and drops them only in
// strict mode (what the Linux vxlan driver does).
func (b VXLAN) HasReservedBits() bool {
	_ = b[7] // bounds check hint
	return b[flagsOffset]&^vxlanFlagI != 0 || b[1]|b[2]|b[3]|b[7] != 0
}

// Encode writes a complete header into b: the I flag, the low 24 bits of
// f.VNI, and all reserved bits zero ("MUST be set to zero on
// transmission", RFC 7348 §5). b must hold at least VXLANHeaderLen bytes.
// Encode does not allocate.
func (b VXLAN) Encode(f *VXLANFields) {
	_ = b[7] // bounds check hint
	b[flagsOffset] = vxlanFlagI
	b[1], b[2], b[3] = 0, 0, 0
	b.SetVNI(f.VNI)
	b[7] = 0
}

// Sentinel errors returned by DecodeVXLAN. They are returned unwrapped (so
// the hot path does not allocate); compare with errors.Is or ==. None of
// them means the receiving loop should stop: each concerns one packet.
var (
	// ErrTruncated means the packet is shorter than a VXLAN header plus an
	// inner Ethernet header (VXLANHeaderLen + EthernetMinimumSize). The
	// packet must be dropped (count it); keep receiving.
	ErrTruncated = errors.New("encap: truncated VXLAN packet")

	// ErrNoIFlag means the I flag is clear, so the VNI is not valid
	// (RFC 7348 §5: "The I flag MUST be set to 1 for a valid VXLAN Network
	// ID (VNI)"). The packet must be dropped (count it); keep receiving.
	ErrNoIFlag = errors.New("encap: VXLAN I flag not set")

	// ErrReservedBits means a reserved bit is set. It is returned together
	// with a valid VNI and inner frame: RFC 7348 §5 says reserved bits are
	// "ignored on receipt", so by default the caller counts the packet and
	// forwards it; a strict caller drops it instead. Keep receiving either
	// way.
	ErrReservedBits = errors.New("encap: VXLAN reserved bits set")
)

// DecodeVXLAN classifies a received UDP payload b in one call. On success
// it returns the VNI and inner, the inner Ethernet frame (a subslice of b,
// at least EthernetMinimumSize bytes), and a nil error. The checks run in
// this order: length (ErrTruncated), I flag (ErrNoIFlag), reserved bits
// (ErrReservedBits, returned with valid vni and inner). On ErrTruncated and
// ErrNoIFlag, vni is 0 and inner is nil.
//
// DecodeVXLAN never panics and never allocates. inner aliases b, so it is
// valid only as long as the caller's buffer is.
func DecodeVXLAN(b []byte) (vni uint32, inner []byte, err error) {
	if len(b) < VXLANHeaderLen+EthernetMinimumSize {
		return 0, nil, ErrTruncated
	}
	h := VXLAN(b[:VXLANHeaderLen])
	if !h.HasI() {
		return 0, nil, ErrNoIFlag
	}
	vni, inner = h.VNI(), b[VXLANHeaderLen:]
	if h.HasReservedBits() {
		return vni, inner, ErrReservedBits
	}
	return vni, inner, nil
}
