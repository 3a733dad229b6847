package gossip

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/vxswitch/vxswitch/fdb"
)

// Node metadata, version 1, at most memberlist.MetaMaxSize (512) bytes:
//
//	metaVersion (1) | vxlanPort (2) | vtepLen (1: 4 or 16) | vtep |
//	vniCount (2) | vniCount × VNI (3 bytes each, ascending, no duplicates)
//
// With an IPv6 VTEP that leaves room for MaxMetaVNIs VNIs.
const (
	metaVersion = 1
	metaMaxSize = 512 // memberlist.MetaMaxSize
	// MaxMetaVNIs is how many VNIs a node's metadata can announce.
	MaxMetaVNIs = (metaMaxSize - 1 - 2 - 1 - 16 - 2) / 3
)

// Meta is what a node announces about itself in its memberlist metadata.
type Meta struct {
	VTEP      netip.Addr // underlay address VXLAN is sent to
	VXLANPort uint16     // UDP port of the VTEP
	VNIs      []uint32   // served VNIs, ascending
}

// encodeMeta encodes m; VNIs are sorted, deduplicated and capped at
// MaxMetaVNIs (the caller checks and warns).
func encodeMeta(m Meta) []byte {
	vnis := slices.Clone(m.VNIs)
	slices.Sort(vnis)
	vnis = slices.Compact(vnis)
	if len(vnis) > MaxMetaVNIs {
		vnis = vnis[:MaxMetaVNIs]
	}
	b := []byte{metaVersion}
	b = binary.BigEndian.AppendUint16(b, m.VXLANPort)
	b = appendAddr(b, m.VTEP.Unmap())
	b = binary.BigEndian.AppendUint16(b, uint16(len(vnis)))
	for _, v := range vnis {
		b = append(b, byte(v>>16), byte(v>>8), byte(v))
	}
	return b
}

// decodeMeta decodes node metadata strictly.
func decodeMeta(b []byte) (Meta, error) {
	if len(b) > metaMaxSize {
		return Meta{}, malformed("metadata of %d bytes", len(b))
	}
	rd := reader{b: b}
	var m Meta
	if v := rd.u8(); rd.err == nil && v != metaVersion {
		return Meta{}, malformed("metadata version %d, want %d", v, metaVersion)
	}
	m.VXLANPort = rd.u16()
	m.VTEP = rd.addr("vtep")
	n := int(rd.u16())
	if rd.err != nil {
		return Meta{}, rd.err
	}
	if m.VXLANPort == 0 {
		return Meta{}, malformed("VXLAN port 0")
	}
	if n*3 != len(rd.b) {
		return Meta{}, malformed("%d VNIs in %d bytes", n, len(rd.b))
	}
	m.VNIs = make([]uint32, 0, n)
	for i := 0; i < n; i++ {
		p := rd.take(3)
		v := uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2])
		if v > fdb.MaxVNI || (i > 0 && v <= m.VNIs[i-1]) {
			return Meta{}, malformed("VNIs not ascending at %d", v)
		}
		m.VNIs = append(m.VNIs, v)
	}
	return m, nil
}
