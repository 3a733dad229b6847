package encap

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// innerFrame is a minimal inner Ethernet frame (header only).
var innerFrame = []byte{
	0x02, 0, 0, 0, 0, 0x02, // dst
	0x02, 0, 0, 0, 0, 0x01, // src
	0x08, 0x06, // ARP
}

func vxlanPacket(hdr ...byte) []byte { return append(append([]byte(nil), hdr...), innerFrame...) }

func TestVXLANAccessors(t *testing.T) {
	type view struct {
		Valid    bool
		Flags    uint8
		I        bool
		VNI      uint32
		Reserved bool
	}
	tests := []struct {
		name string
		in   []byte
		want view
	}{
		{"minimal valid", []byte{0x08, 0, 0, 0, 0, 0, 1, 0}, view{true, 0x08, true, 1, false}},
		{"max VNI", []byte{0x08, 0, 0, 0, 0xff, 0xff, 0xff, 0}, view{true, 0x08, true, MaxVNI, false}},
		{"I clear", []byte{0, 0, 0, 0, 0, 0x10, 0, 0}, view{true, 0, false, 0x1000, false}},
		{"reserved flag", []byte{0x88, 0, 0, 0, 0x12, 0x34, 0x56, 0}, view{true, 0x88, true, 0x123456, true}},
		{"reserved byte 1", []byte{0x08, 1, 0, 0, 0, 0, 7, 0}, view{true, 0x08, true, 7, true}},
		{"reserved byte 3", []byte{0x08, 0, 0, 0x80, 0, 0, 7, 0}, view{true, 0x08, true, 7, true}},
		{"reserved byte 7", []byte{0x08, 0, 0, 0, 0, 0, 7, 0x01}, view{true, 0x08, true, 7, true}},
		{"all ones", bytes.Repeat([]byte{0xff}, 8), view{true, 0xff, true, MaxVNI, true}},
		{"longer than header", vxlanPacket(0x08, 0, 0, 0, 0, 0, 42, 0), view{true, 0x08, true, 42, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := VXLAN(tt.in)
			got := view{b.IsValid(), b.Flags(), b.HasI(), b.VNI(), b.HasReservedBits()}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("unexpected view (-want +got):\n%s", diff)
			}
		})
	}
	for _, n := range []int{0, 1, 7} {
		if VXLAN(make([]byte, n)).IsValid() {
			t.Errorf("unexpected IsValid for %d bytes:\n- want: false\n-  got: true", n)
		}
	}
}

func TestVXLANEncode(t *testing.T) {
	tests := []struct {
		name string
		vni  uint32
		want []byte
	}{
		{"zero", 0, []byte{0x08, 0, 0, 0, 0, 0, 0, 0}},
		{"one", 1, []byte{0x08, 0, 0, 0, 0, 0, 1, 0}},
		{"max", MaxVNI, []byte{0x08, 0, 0, 0, 0xff, 0xff, 0xff, 0}},
		{"mixed", 0xabcdef, []byte{0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0}},
		{"above 24 bits truncated", 0x1abcdef, []byte{0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Start from garbage: Encode must clear every reserved bit.
			got := bytes.Repeat([]byte{0xff}, VXLANHeaderLen)
			VXLAN(got).Encode(&VXLANFields{VNI: tt.vni})
			if !bytes.Equal(tt.want, got) {
				t.Errorf("unexpected header:\n- want: % x\n-  got: % x", tt.want, got)
			}
		})
	}
}

func TestVXLANSetVNIKeepsFlags(t *testing.T) {
	b := VXLAN{0x88, 1, 2, 3, 0, 0, 0, 9}
	b.SetVNI(0x010203)
	want := VXLAN{0x88, 1, 2, 3, 1, 2, 3, 9}
	if !bytes.Equal(want, b) {
		t.Errorf("unexpected header:\n- want: % x\n-  got: % x", want, b)
	}
}

func TestDecodeVXLAN(t *testing.T) {
	tests := []struct {
		name      string
		in        []byte
		wantVNI   uint32
		wantInner []byte
		wantErr   error
	}{
		{"nil", nil, 0, nil, ErrTruncated},
		{"short header", []byte{0x08, 0, 0, 0, 0, 0, 1}, 0, nil, ErrTruncated},
		{"header only", []byte{0x08, 0, 0, 0, 0, 0, 1, 0}, 0, nil, ErrTruncated},
		{"inner one byte short", vxlanPacket(0x08, 0, 0, 0, 0, 0, 1, 0)[:VXLANHeaderLen+EthernetMinimumSize-1], 0, nil, ErrTruncated},
		{"valid", vxlanPacket(0x08, 0, 0, 0, 0, 0, 1, 0), 1, innerFrame, nil},
		{"valid max VNI", vxlanPacket(0x08, 0, 0, 0, 0xff, 0xff, 0xff, 0), MaxVNI, innerFrame, nil},
		{"I clear", vxlanPacket(0, 0, 0, 0, 0, 0, 1, 0), 0, nil, ErrNoIFlag},
		{"I clear and reserved", vxlanPacket(0x80, 0, 0, 1, 0, 0, 1, 1), 0, nil, ErrNoIFlag},
		{"reserved flag bit", vxlanPacket(0x0c, 0, 0, 0, 0, 0, 5, 0), 5, innerFrame, ErrReservedBits},
		{"reserved low byte", vxlanPacket(0x08, 0, 0, 0, 0, 1, 0, 0xff), 256, innerFrame, ErrReservedBits},
		{"reserved middle", vxlanPacket(0x08, 0, 0x40, 0, 0, 0, 2, 0), 2, innerFrame, ErrReservedBits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vni, inner, err := DecodeVXLAN(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("unexpected error:\n- want: %v\n-  got: %v", tt.wantErr, err)
			}
			if tt.wantVNI != vni {
				t.Errorf("unexpected VNI:\n- want: %d\n-  got: %d", tt.wantVNI, vni)
			}
			if !bytes.Equal(tt.wantInner, inner) {
				t.Errorf("unexpected inner frame:\n- want: % x\n-  got: % x", tt.wantInner, inner)
			}
		})
	}
}

// TestVXLANAgainstGopacket checks encoding and decoding against gopacket's
// independent layers.VXLAN implementation.
func TestVXLANAgainstGopacket(t *testing.T) {
	for _, vni := range []uint32{0, 1, 42, 4096, 0x123456, MaxVNI} {
		t.Run(fmt.Sprint(vni), func(t *testing.T) {
			// gopacket encodes, we decode.
			ref := serialize(t, &layers.VXLAN{ValidIDFlag: true, VNI: vni}, gopacket.Payload(innerFrame))
			gotVNI, inner, err := DecodeVXLAN(ref)
			if err != nil {
				t.Fatalf("unexpected error:\n- want: <nil>\n-  got: %v", err)
			}
			if vni != gotVNI {
				t.Errorf("unexpected VNI:\n- want: %d\n-  got: %d", vni, gotVNI)
			}
			if !bytes.Equal(innerFrame, inner) {
				t.Errorf("unexpected inner:\n- want: % x\n-  got: % x", innerFrame, inner)
			}
			// We encode, gopacket decodes.
			pkt := make([]byte, VXLANHeaderLen)
			VXLAN(pkt).Encode(&VXLANFields{VNI: vni})
			var l layers.VXLAN
			if err := l.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
				t.Fatalf("gopacket decode: %v", err)
			}
			type fields struct {
				I   bool
				VNI uint32
				GBP bool
			}
			want := fields{I: true, VNI: vni}
			got := fields{I: l.ValidIDFlag, VNI: l.VNI, GBP: l.GBPExtension}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("unexpected gopacket decode (-want +got):\n%s", diff)
			}
			if !bytes.Equal(ref[:VXLANHeaderLen], pkt) {
				t.Errorf("unexpected header bytes:\n- want: % x\n-  got: % x", ref[:VXLANHeaderLen], pkt)
			}
		})
	}
}

func TestAllocsVXLAN(t *testing.T) {
	pkt := vxlanPacket(0x08, 0, 0, 0, 0, 0, 1, 0)
	f := VXLANFields{VNI: 4242}
	var sink uint32
	tests := []struct {
		name string
		fn   func()
	}{
		{"Encode", func() { VXLAN(pkt).Encode(&f) }},
		{"DecodeVXLAN", func() {
			vni, _, err := DecodeVXLAN(pkt)
			if err == nil {
				sink += vni
			}
		}},
		{"DecodeVXLAN error", func() {
			_, _, err := DecodeVXLAN(pkt[:3])
			if err != nil {
				sink++
			}
		}},
		{"accessors", func() {
			h := VXLAN(pkt)
			if h.IsValid() && h.HasI() && !h.HasReservedBits() {
				sink += h.VNI() + uint32(h.Flags())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(1000, tt.fn); got != 0 {
				t.Errorf("unexpected allocations:\n- want: 0\n-  got: %v", got)
			}
		})
	}
	_ = sink
}

func BenchmarkVXLANEncode(b *testing.B) {
	b.ReportAllocs()
	h := make(VXLAN, VXLANHeaderLen)
	f := VXLANFields{VNI: 4242}
	for b.Loop() {
		h.Encode(&f)
	}
}

func BenchmarkDecodeVXLAN(b *testing.B) {
	b.ReportAllocs()
	pkt := vxlanPacket(0x08, 0, 0, 0, 0, 0x10, 0x92, 0)
	b.SetBytes(int64(len(pkt)))
	var sink uint32
	for b.Loop() {
		vni, _, _ := DecodeVXLAN(pkt)
		sink += vni
	}
	_ = sink
}

func FuzzDecodeVXLAN(f *testing.F) {
	f.Add(vxlanPacket(0x08, 0, 0, 0, 0, 0, 1, 0))          // minimal valid header with an inner header
	f.Add(vxlanPacket(0x00, 0, 0, 0, 0, 0, 1, 0))          // I flag clear
	f.Add(vxlanPacket(0x08, 0, 0, 0, 0xff, 0xff, 0xff, 0)) // VNI = 2^24-1
	f.Add(vxlanPacket(0x88, 1, 2, 3, 0, 0, 9, 4))          // reserved bits everywhere
	f.Add([]byte{0x08, 0, 0, 0, 0, 0, 1, 0})               // header without inner frame
	f.Add([]byte{})                                        // empty
	f.Fuzz(func(t *testing.T, b []byte) {
		vni, inner, err := DecodeVXLAN(b)
		switch {
		case len(b) < VXLANHeaderLen+EthernetMinimumSize:
			if err != ErrTruncated {
				t.Fatalf("unexpected error for %d bytes:\n- want: %v\n-  got: %v", len(b), ErrTruncated, err)
			}
			return
		case b[0]&vxlanFlagI == 0:
			if err != ErrNoIFlag {
				t.Fatalf("unexpected error:\n- want: %v\n-  got: %v", ErrNoIFlag, err)
			}
			return
		}
		h := VXLAN(b)
		if reserved := err == ErrReservedBits; reserved != h.HasReservedBits() {
			t.Fatalf("unexpected reserved-bit detection:\n- want: %v\n-  got: %v (err %v)", h.HasReservedBits(), reserved, err)
		}
		if err != nil && err != ErrReservedBits {
			t.Fatalf("unexpected error: %v", err)
		}
		if vni > MaxVNI || len(inner) != len(b)-VXLANHeaderLen || &inner[0] != &b[VXLANHeaderLen] {
			t.Fatalf("bad decode: vni %d, %d inner bytes of %d", vni, len(inner), len(b))
		}
		// Round trip: re-encoding the decoded VNI gives a header with the
		// same VNI and I flag, and no reserved bits.
		var re [VXLANHeaderLen]byte
		VXLAN(re[:]).Encode(&VXLANFields{VNI: vni})
		rvni, _, rerr := DecodeVXLAN(append(re[:], inner...))
		if rerr != nil || rvni != vni || !VXLAN(re[:]).HasI() || VXLAN(re[:]).HasReservedBits() {
			t.Fatalf("round trip: vni %d -> %d, err %v, header % x", vni, rvni, rerr, re)
		}
		// Only reserved bits may differ between the two headers.
		for i := range re {
			mask := byte(0xff)
			switch i {
			case 0:
				mask = vxlanFlagI
			case 1, 2, 3, 7:
				mask = 0
			}
			if b[i]&mask != re[i]&mask {
				t.Fatalf("round trip changed byte %d: % x -> % x", i, b[:VXLANHeaderLen], re)
			}
		}
	})
}
