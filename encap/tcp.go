package encap

import (
	"encoding/binary"
	"net/netip"
)

// TCPMinimumSize is the length of a TCP header without options.
const TCPMinimumSize = 20

// TCP control bits (RFC 9293 §3.1, RFC 3168 for ECE and CWR), as returned
// by TCP.Flags.
const (
	TCPFlagFin uint8 = 0x01
	TCPFlagSyn uint8 = 0x02
	TCPFlagRst uint8 = 0x04
	TCPFlagPsh uint8 = 0x08
	TCPFlagAck uint8 = 0x10
	TCPFlagUrg uint8 = 0x20
	TCPFlagEce uint8 = 0x40
	TCPFlagCwr uint8 = 0x80
)

const (
	tcpSrcPortOffset    = 0
	tcpDstPortOffset    = 2
	tcpSeqNumOffset     = 4
	tcpAckNumOffset     = 8
	tcpDataOffsetOffset = 12
	tcpFlagsOffset      = 13
	tcpWindowOffset     = 14
	tcpChecksumOffset   = 16
	tcpUrgentPtrOffset  = 18
)

// TCP is a view of a TCP segment (RFC 9293 §3.1), header first:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A TCP never copies and never allocates; the buffer's owner owns the view.
// The segment is the whole slice (TCP has no length field; take it from
// the IP header's Payload). Check IsValid once; concurrent readers may share
// a view, writers need exclusive access.
type TCP []byte

// TCPFields holds what TCP.Encode writes. The caller owns it.
type TCPFields struct {
	SrcPort       uint16 // source port
	DstPort       uint16 // destination port
	SeqNum        uint32 // sequence number
	AckNum        uint32 // acknowledgment number
	DataOffset    uint8  // header length in bytes, a multiple of 4 (>= 20)
	Flags         uint8  // TCPFlag… bits
	WindowSize    uint16 // receive window
	Checksum      uint16 // as stored
	UrgentPointer uint16 // urgent pointer
}

// IsValid reports whether b holds a TCP header whose data offset is at
// least TCPMinimumSize and fits in b.
func (b TCP) IsValid() bool {
	return len(b) >= TCPMinimumSize && b.DataOffset() >= TCPMinimumSize && b.DataOffset() <= len(b)
}

// SourcePort returns the source port.
func (b TCP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[tcpSrcPortOffset:]) }

// DestinationPort returns the destination port.
func (b TCP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[tcpDstPortOffset:]) }

// SequenceNumber returns the sequence number.
func (b TCP) SequenceNumber() uint32 { return binary.BigEndian.Uint32(b[tcpSeqNumOffset:]) }

// AckNumber returns the acknowledgment number.
func (b TCP) AckNumber() uint32 { return binary.BigEndian.Uint32(b[tcpAckNumOffset:]) }

// DataOffset returns the header length in bytes, options included.
func (b TCP) DataOffset() int { return int(b[tcpDataOffsetOffset]>>4) * 4 }

// Flags returns the eight control bits (TCPFlag…).
func (b TCP) Flags() uint8 { return b[tcpFlagsOffset] }

// WindowSize returns the receive window.
func (b TCP) WindowSize() uint16 { return binary.BigEndian.Uint16(b[tcpWindowOffset:]) }

// Checksum returns the checksum field as stored.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[tcpChecksumOffset:]) }

// UrgentPointer returns the urgent pointer.
func (b TCP) UrgentPointer() uint16 { return binary.BigEndian.Uint16(b[tcpUrgentPtrOffset:]) }

// Payload returns the data after the header and options. It aliases b.
// Call only after IsValid.
func (b TCP) Payload() []byte { return b[b.DataOffset():] }

// SetSequenceNumber writes the sequence number.
func (b TCP) SetSequenceNumber(n uint32) { binary.BigEndian.PutUint32(b[tcpSeqNumOffset:], n) }

// SetFlags writes the eight control bits.
func (b TCP) SetFlags(f uint8) { b[tcpFlagsOffset] = f }

// SetChecksum writes the checksum field.
func (b TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[tcpChecksumOffset:], c) }

// CalculateChecksum returns the checksum to store for the segment b (the
// whole slice) sent from src to dst, with the stored checksum field taken
// as zero (RFC 9293 §3.1). It does not modify b. Call only after IsValid.
func (b TCP) CalculateChecksum(src, dst netip.Addr) uint16 {
	sum := PseudoHeaderChecksum(ProtocolTCP, src, dst, uint32(len(b)))
	sum = uint32(Checksum(b[:tcpChecksumOffset], sum))
	return ^Checksum(b[tcpChecksumOffset+2:], sum)
}

// IsChecksumValid reports whether the stored checksum of segment b is
// correct for a segment from src to dst. Call only after IsValid.
func (b TCP) IsChecksumValid(src, dst netip.Addr) bool {
	return Checksum(b, PseudoHeaderChecksum(ProtocolTCP, src, dst, uint32(len(b)))) == 0xffff
}

// Encode writes the 20-byte fixed header from f into b, which must be that
// long. Options, if f.DataOffset announces any, are the caller's to write.
// It does not allocate.
func (b TCP) Encode(f *TCPFields) {
	_ = b[TCPMinimumSize-1] // bounds check hint
	binary.BigEndian.PutUint16(b[tcpSrcPortOffset:], f.SrcPort)
	binary.BigEndian.PutUint16(b[tcpDstPortOffset:], f.DstPort)
	binary.BigEndian.PutUint32(b[tcpSeqNumOffset:], f.SeqNum)
	binary.BigEndian.PutUint32(b[tcpAckNumOffset:], f.AckNum)
	b[tcpDataOffsetOffset] = (f.DataOffset / 4) << 4
	b[tcpFlagsOffset] = f.Flags
	binary.BigEndian.PutUint16(b[tcpWindowOffset:], f.WindowSize)
	binary.BigEndian.PutUint16(b[tcpChecksumOffset:], f.Checksum)
	binary.BigEndian.PutUint16(b[tcpUrgentPtrOffset:], f.UrgentPointer)
}
