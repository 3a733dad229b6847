package capture

import (
	"bufio"
	"encoding/binary"
	"io"
	"net/http"
)

// pcapng block types and option codes (draft-ietf-opsawg-pcapng §4, §3.5).
//
// gopacket v1.1.19's pcapgo.NgWriter writes Enhanced Packet Blocks without
// options: it has no way to attach the epb_flags (direction) and
// opt_comment options this package needs on every packet. So the blocks
// are written here, on encoding/binary, following its layout: little-endian
// byte order, a Section Header Block, one Interface Description Block per
// capture point, then Enhanced Packet Blocks.
const (
	blockSHB = 0x0A0D0D0A // Section Header Block
	blockIDB = 0x00000001 // Interface Description Block
	blockEPB = 0x00000006 // Enhanced Packet Block
	blockISB = 0x00000005 // Interface Statistics Block

	byteOrderMagic = 0x1A2B3C4D

	optEndOfOpt  = 0
	optComment   = 1 // opt_comment: UTF-8 string
	optSHBUserAp = 4 // shb_userappl
	optIFName    = 2 // if_name
	optIFDescr   = 3 // if_description
	optIFTsresol = 9 // if_tsresol: 9 means nanoseconds
	optEPBFlags  = 2 // epb_flags: 32 bits, bits 0-1 direction
	optISBIfDrop = 5 // isb_ifdrop: packets dropped by the interface

	epbInbound  = 1 // epb_flags direction: inbound
	epbOutbound = 2 // epb_flags direction: outbound

	linkTypeEthernet = 1 // LINKTYPE_ETHERNET
)

// PcapNGWriter writes captured packets as a pcapng stream: one Section
// Header Block, then an Interface Description Block the first time each
// capture point appears (named "port-in:NAME", "port-out:NAME",
// "underlay-in", "underlay-out", "drop"), then one Enhanced Packet Block
// per packet with its direction in epb_flags and Meta.Comment in
// opt_comment. Blocks may be streamed: a reader can decode everything
// written before the last Flush. It is not safe for concurrent use.
type PcapNGWriter struct {
	w       *bufio.Writer
	under   io.Writer
	snaplen int
	ifaces  map[ifaceKey]uint32
	buf     []byte // scratch for one block
}

type ifaceKey struct {
	point Point
	port  string
}

// NewPcapNGWriter writes the Section Header Block to w (buffered until the
// first Flush) and returns the writer. snaplen is recorded in each
// interface block (0 means DefaultSnaplen).
func NewPcapNGWriter(w io.Writer, snaplen int) (*PcapNGWriter, error) {
	if snaplen <= 0 {
		snaplen = DefaultSnaplen
	}
	nw := &PcapNGWriter{w: bufio.NewWriterSize(w, 64<<10), under: w, snaplen: snaplen, ifaces: map[ifaceKey]uint32{}}
	b := nw.begin(blockSHB)
	b = binary.LittleEndian.AppendUint32(b, byteOrderMagic)
	b = binary.LittleEndian.AppendUint16(b, 1) // major version
	b = binary.LittleEndian.AppendUint16(b, 0) // minor version
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0))
	b = appendOpt(b, optSHBUserAp, []byte("vxswitch"))
	b = appendOpt(b, optEndOfOpt, nil)
	return nw, nw.end(b)
}

// begin starts a block in the scratch buffer: type and a length to patch.
func (nw *PcapNGWriter) begin(typ uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nw.buf[:0], typ)
	return binary.LittleEndian.AppendUint32(b, 0)
}

// end patches the block length, appends the trailing copy and writes it.
func (nw *PcapNGWriter) end(b []byte) error {
	n := uint32(len(b) + 4)
	binary.LittleEndian.PutUint32(b[4:], n)
	b = binary.LittleEndian.AppendUint32(b, n)
	nw.buf = b
	_, err := nw.w.Write(b)
	return err
}

// appendOpt appends one option with its value padded to 32 bits.
func appendOpt(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return appendPad(b, len(v))
}

func appendPad(b []byte, n int) []byte {
	for ; n%4 != 0; n++ {
		b = append(b, 0)
	}
	return b
}

// iface returns the interface ID for p's capture point, writing its
// Interface Description Block first if it is new.
func (nw *PcapNGWriter) iface(p *Packet) (uint32, error) {
	k := ifaceKey{point: p.Point}
	if p.Point == PortIn || p.Point == PortOut {
		k.port = p.Port
	}
	if id, ok := nw.ifaces[k]; ok {
		return id, nil
	}
	id := uint32(len(nw.ifaces))
	name := k.point.String()
	if k.port != "" {
		name += ":" + k.port
	}
	b := nw.begin(blockIDB)
	b = binary.LittleEndian.AppendUint16(b, linkTypeEthernet)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(nw.snaplen))
	b = appendOpt(b, optIFName, []byte(name))
	b = appendOpt(b, optIFDescr, []byte("vxswitch capture point "+name))
	b = appendOpt(b, optIFTsresol, []byte{9})
	b = appendOpt(b, optEndOfOpt, nil)
	if err := nw.end(b); err != nil {
		return 0, err
	}
	nw.ifaces[k] = id
	return id, nil
}

// WritePacket writes p as an Enhanced Packet Block (after its interface's
// description block when the point is new).
func (nw *PcapNGWriter) WritePacket(p *Packet) error {
	id, err := nw.iface(p)
	if err != nil {
		return err
	}
	ts := uint64(p.Time.UnixNano())
	b := nw.begin(blockEPB)
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint32(b, uint32(ts>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(p.Length))
	b = append(b, p.Data...)
	b = appendPad(b, len(p.Data))
	flags := uint32(epbOutbound)
	if p.Point.Inbound() {
		flags = epbInbound
	}
	b = appendOpt(b, optEPBFlags, binary.LittleEndian.AppendUint32(nil, flags))
	start := len(b)
	b = p.appendComment(binary.LittleEndian.AppendUint32(b, 0)) // code+length patched below
	clen := len(b) - start - 4
	binary.LittleEndian.PutUint16(b[start:], optComment)
	binary.LittleEndian.PutUint16(b[start+2:], uint16(clen))
	b = appendPad(b, clen)
	b = appendOpt(b, optEndOfOpt, nil)
	return nw.end(b)
}

// WriteStats writes one Interface Statistics Block per interface seen,
// with the session's lost packets as isb_ifdrop on the first and a
// comment with both counters, so a file records how complete it is.
func (nw *PcapNGWriter) WriteStats(st Stats) error {
	for id := range uint32(len(nw.ifaces)) {
		b := nw.begin(blockISB)
		b = binary.LittleEndian.AppendUint32(b, id)
		b = binary.LittleEndian.AppendUint64(b, 0) // timestamp unknown
		if id == 0 {
			b = appendOpt(b, optISBIfDrop, binary.LittleEndian.AppendUint64(nil, st.Lost))
			b = appendOpt(b, optComment, []byte("vxswitch capture: "+statsText(st)))
		}
		b = appendOpt(b, optEndOfOpt, nil)
		if err := nw.end(b); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes buffered blocks to the underlying writer and, if it is an
// http.Flusher (a streaming API response), flushes that too.
func (nw *PcapNGWriter) Flush() error { return flush(nw.w, nw.under) }

func flush(b *bufio.Writer, under io.Writer) error {
	if err := b.Flush(); err != nil {
		return err
	}
	switch f := under.(type) {
	case http.Flusher:
		f.Flush()
	case interface{ Flush() error }:
		return f.Flush()
	}
	return nil
}
