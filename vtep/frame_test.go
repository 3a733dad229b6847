package vtep

import "encoding/binary"

// testFrame returns a VXLAN header (VNI 42) followed by an Ethernet/IPv4/UDP
// frame of inner flow number flow, padded to size bytes in total. Overlay
// addresses come from 198.18.0.0/15.
func testFrame(flow, size int) []byte {
	b := make([]byte, max(size, 8+14+20+8))
	b[0] = 0x08                                                   // VXLAN I flag
	binary.BigEndian.PutUint32(b[4:], 42<<8)                      // VNI
	copy(b[8:], []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1}) // dst, src MAC
	binary.BigEndian.PutUint16(b[20:], 0x0800)
	ip := b[22:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	ip[8], ip[9] = 64, 17
	copy(ip[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], uint16(10000+flow))
	binary.BigEndian.PutUint16(udp[2:], 80)
	return b[:size:size]
}
