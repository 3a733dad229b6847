package encap

import (
	"encoding/binary"
	"errors"
)

// VirtioNetHdrLen is the length of the legacy virtio-net header (struct
// virtio_net_hdr, Virtual I/O Device (VIRTIO) Version 1.2 §5.1.6) that a
// TAP opened with IFF_VNET_HDR and TUNSETVNETHDRSZ 10 puts in front of
// every frame.
const VirtioNetHdrLen = 10

// Virtio-net header flags (VIRTIO 1.2 §5.1.6, linux/virtio_net.h).
const (
	// VirtioNetHdrFNeedsCsum: "the checksum needs to be finished": the
	// field at CsumStart+CsumOffset holds the folded pseudo-header sum, and
	// the one's complement sum from CsumStart to the end of the frame must
	// be stored there, complemented.
	VirtioNetHdrFNeedsCsum uint8 = 1
	// VirtioNetHdrFDataValid: the checksum was already verified.
	VirtioNetHdrFDataValid uint8 = 2
)

// Virtio-net GSO types (VIRTIO 1.2 §5.1.6, linux/virtio_net.h).
const (
	VirtioNetHdrGSONone  uint8 = 0    // not a GSO frame
	VirtioNetHdrGSOTCPv4 uint8 = 1    // TCP over IPv4 segmentation (TSO4)
	VirtioNetHdrGSOUDP   uint8 = 3    // UDP fragmentation offload (UFO; not supported here)
	VirtioNetHdrGSOTCPv6 uint8 = 4    // TCP over IPv6 segmentation (TSO6)
	VirtioNetHdrGSOUDPL4 uint8 = 5    // UDP segmentation (USO), IPv4 or IPv6
	VirtioNetHdrGSOECN   uint8 = 0x80 // ORed into a TCP type: the stream uses ECN (RFC 3168)
)

const (
	vnetFlagsOffset      = 0
	vnetGSOTypeOffset    = 1
	vnetHdrLenOffset     = 2
	vnetGSOSizeOffset    = 4
	vnetCsumStartOffset  = 6
	vnetCsumOffsetOffset = 8
)

// VirtioNetHdr is a view of the 10-byte virtio-net header (struct
// virtio_net_hdr) that precedes each frame on a TAP opened with
// IFF_VNET_HDR:
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	|     flags     |   gso_type    |        hdr_len (le16)         |
//	+---------------+---------------+-------------------------------+
//	|        gso_size (le16)        |      csum_start (le16)        |
//	+-------------------------------+-------------------------------+
//	|      csum_offset (le16)       |
//	+-------------------------------+
//
// The legacy header is in the guest's (here: the host's) native byte
// order; the tun driver uses little endian unless TUNSETVNETBE was set, so
// the fields are read and written little endian (all Linux hosts vxswitch
// targets are little endian; a big-endian host would need TUNSETVNETLE).
//
// csum_start is counted from the first byte of the Ethernet frame that
// follows the header. hdr_len is only a hint: Linux fills it with the
// length of the skb's linear part, which may include payload, so Segment
// derives the header length from csum_start and the L4 header instead.
//
// A VirtioNetHdr never copies and never allocates; the buffer's owner owns
// the view. It must be at least VirtioNetHdrLen bytes long (check once).
type VirtioNetHdr []byte

// VirtioNetHdrFields holds what VirtioNetHdr.Encode writes and Decode
// reads. The caller owns it.
type VirtioNetHdrFields struct {
	Flags      uint8  // VirtioNetHdrF… bits
	GSOType    uint8  // VirtioNetHdrGSO… value, possibly ORed with VirtioNetHdrGSOECN
	HdrLen     uint16 // length of the L2+L3+L4 headers (a hint on receive)
	GSOSize    uint16 // payload bytes per segment (MSS for TCP)
	CsumStart  uint16 // offset of the L4 header from the start of the frame
	CsumOffset uint16 // offset of the checksum field from CsumStart (16 for TCP, 6 for UDP)
}

// Flags returns the flags byte.
func (b VirtioNetHdr) Flags() uint8 { return b[vnetFlagsOffset] }

// GSOType returns the gso_type byte, ECN bit included.
func (b VirtioNetHdr) GSOType() uint8 { return b[vnetGSOTypeOffset] }

// HdrLen returns hdr_len.
func (b VirtioNetHdr) HdrLen() uint16 { return binary.LittleEndian.Uint16(b[vnetHdrLenOffset:]) }

// GSOSize returns gso_size.
func (b VirtioNetHdr) GSOSize() uint16 { return binary.LittleEndian.Uint16(b[vnetGSOSizeOffset:]) }

// CsumStart returns csum_start.
func (b VirtioNetHdr) CsumStart() uint16 {
	return binary.LittleEndian.Uint16(b[vnetCsumStartOffset:])
}

// CsumOffset returns csum_offset.
func (b VirtioNetHdr) CsumOffset() uint16 {
	return binary.LittleEndian.Uint16(b[vnetCsumOffsetOffset:])
}

// Decode returns the header's fields.
func (b VirtioNetHdr) Decode() VirtioNetHdrFields {
	return VirtioNetHdrFields{
		Flags:      b.Flags(),
		GSOType:    b.GSOType(),
		HdrLen:     b.HdrLen(),
		GSOSize:    b.GSOSize(),
		CsumStart:  b.CsumStart(),
		CsumOffset: b.CsumOffset(),
	}
}

// Encode writes f into the first VirtioNetHdrLen bytes of b. It does not
// allocate.
func (b VirtioNetHdr) Encode(f *VirtioNetHdrFields) {
	_ = b[VirtioNetHdrLen-1] // bounds check hint
	b[vnetFlagsOffset] = f.Flags
	b[vnetGSOTypeOffset] = f.GSOType
	binary.LittleEndian.PutUint16(b[vnetHdrLenOffset:], f.HdrLen)
	binary.LittleEndian.PutUint16(b[vnetGSOSizeOffset:], f.GSOSize)
	binary.LittleEndian.PutUint16(b[vnetCsumStartOffset:], f.CsumStart)
	binary.LittleEndian.PutUint16(b[vnetCsumOffsetOffset:], f.CsumOffset)
}

// Errors returned by VirtioNetHdrFields.Validate, Segment and
// SegmentCount. The frame they concern should be dropped and counted;
// reading continues with the next frame.
var (
	// ErrVirtioHdr means the virtio-net header is inconsistent: an unknown
	// GSO type, a GSO frame without NEEDS_CSUM or with gso_size 0, or
	// csum_start/csum_offset outside the frame.
	ErrVirtioHdr = errors.New("encap: invalid virtio-net header")
	// ErrGSOFrame means a frame is shorter than an Ethernet header, or a
	// GSO super-frame does not hold what its header announces: not Ethernet + IPv4/IPv6 + TCP/UDP at csum_start, IP
	// options or extension headers, a fragment, or no payload.
	ErrGSOFrame = errors.New("encap: malformed GSO super-frame")
	// ErrShortBuffer means an output buffer cannot hold a segment at the
	// given offset, or there are fewer output buffers than segments.
	ErrShortBuffer = errors.New("encap: segment output buffers too short")
)

// Validate checks the header against the frame of frameLen bytes that
// follows it: a known GSO type (TCPv4, TCPv6, UDP_L4 or none; ECN only with
// TCP), NEEDS_CSUM and gso_size > 0 for a GSO frame, and, with NEEDS_CSUM,
// a checksum field (csum_start+csum_offset+2) inside the frame. It returns
// an error wrapping ErrVirtioHdr.
func (f *VirtioNetHdrFields) Validate(frameLen int) error {
	gso := f.GSOType &^ VirtioNetHdrGSOECN
	switch gso {
	case VirtioNetHdrGSONone:
		if f.GSOType&VirtioNetHdrGSOECN != 0 {
			return errVirtioECN
		}
	case VirtioNetHdrGSOTCPv4, VirtioNetHdrGSOTCPv6:
	case VirtioNetHdrGSOUDPL4:
		if f.GSOType&VirtioNetHdrGSOECN != 0 {
			return errVirtioECN
		}
	default:
		return errVirtioGSOType
	}
	if gso != VirtioNetHdrGSONone {
		if f.Flags&VirtioNetHdrFNeedsCsum == 0 {
			return errVirtioGSONoCsum
		}
		if f.GSOSize == 0 {
			return errVirtioGSOSize
		}
	}
	if f.Flags&VirtioNetHdrFNeedsCsum != 0 {
		if int(f.CsumStart)+int(f.CsumOffset)+2 > frameLen {
			return errVirtioCsumRange
		}
	}
	return nil
}

// Preallocated so that rejecting a frame costs no allocation.
var (
	errVirtioECN       = wrapErr(ErrVirtioHdr, "ECN flag without TCP GSO")
	errVirtioGSOType   = wrapErr(ErrVirtioHdr, "unsupported gso_type")
	errVirtioGSONoCsum = wrapErr(ErrVirtioHdr, "GSO without NEEDS_CSUM")
	errVirtioGSOSize   = wrapErr(ErrVirtioHdr, "GSO with gso_size 0")
	errVirtioCsumRange = wrapErr(ErrVirtioHdr, "checksum field outside the frame")
)

// detailError is a sentinel plus a fixed detail, matchable with errors.Is.
type detailError struct {
	err    error
	detail string
}

func wrapErr(err error, detail string) error { return &detailError{err: err, detail: detail} }
func (e *detailError) Error() string         { return e.err.Error() + ": " + e.detail }
func (e *detailError) Unwrap() error         { return e.err }
