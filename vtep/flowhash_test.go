package vtep

import (
	"encoding/binary"
	"testing"
)

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

func TestFlowHash(t *testing.T) {
	inner := func(flow int) []byte { return testFrame(flow, 100)[8:] }
	fragment := inner(1)
	fragment[14+6] = 0x20 // MF: ports must not count
	fragment2 := inner(2)
	fragment2[14+6] = 0x20
	v6 := func(sport byte) []byte {
		f := make([]byte, 14+40+8)
		binary.BigEndian.PutUint16(f[12:], 0x86dd)
		f[14+6] = 6 // TCP
		f[14+40+1] = sport
		return f
	}
	vlan := func(vid byte) []byte {
		f := append([]byte(nil), inner(1)[:12]...)
		f = append(f, 0x81, 0x00, 0x00, vid)
		return append(f, inner(1)[12:]...)
	}
	tests := []struct {
		name     string
		a, b     []byte
		wantSame bool
	}{
		{"same flow", inner(1), inner(1), true},
		{"different UDP source port", inner(1), inner(2), false},
		{"fragments ignore ports", fragment, fragment2, true},
		{"IPv6 different TCP port", v6(1), v6(2), false},
		{"IPv6 same TCP port", v6(1), v6(1), true},
		{"different VLAN", vlan(1), vlan(2), false},
		{"payload does not count", testFrame(1, 100)[8:], testFrame(1, 200)[8:100], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := flowHash(tt.a) == flowHash(tt.b); got != tt.wantSame {
				t.Fatalf("unexpected hash equality:\n- want: %v\n-  got: %v", tt.wantSame, got)
			}
		})
	}
}

func TestAllocsFlowHash(t *testing.T) {
	f := testFrame(1, 1400)[8:]
	if got := testing.AllocsPerRun(1000, func() { flowHash(f) }); got != 0 {
		t.Fatalf("unexpected allocations:\n- want: 0\n-  got: %v", got)
	}
}

// FuzzFlowHash checks that flowHash never panics on arbitrary frames and is
// deterministic.
func FuzzFlowHash(f *testing.F) {
	f.Add([]byte{})                                                     // empty frame
	f.Add(make([]byte, 13))                                             // one byte short of an Ethernet header
	f.Add(testFrame(1, 64)[8:])                                         // IPv4/UDP
	f.Add(testFrame(1, 8+14+20+3)[8:])                                  // IPv4 with a truncated UDP header
	f.Add(append(make([]byte, 12), 0x86, 0xdd, 0x60))                   // IPv6 EtherType, short header
	f.Add(append(make([]byte, 12), 0x81, 0x00, 0, 1, 0x08, 0x00, 0x4f)) // VLAN, IHL 60 past the end
	f.Fuzz(func(t *testing.T, frame []byte) {
		if a, b := flowHash(frame), flowHash(append([]byte(nil), frame...)); a != b {
			t.Fatalf("unexpected nondeterministic hash:\n- want: %#x\n-  got: %#x", a, b)
		}
	})
}
