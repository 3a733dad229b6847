package encap

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

type ethView struct {
	Valid          bool
	Dst, Src       MAC
	EtherType      uint16
	InnerEtherType uint16
	PayloadOffset  int
	TCI            uint16
	Tagged         bool
}

func viewEthernet(b Ethernet) ethView {
	v := ethView{Valid: b.IsValid()}
	if !v.Valid {
		return v
	}
	v.Dst, v.Src, v.EtherType = b.Destination(), b.Source(), b.EtherType()
	v.InnerEtherType, v.PayloadOffset = b.InnerEtherType(), b.PayloadOffset()
	v.TCI, v.Tagged = b.VLANTag()
	return v
}

func TestEthernet(t *testing.T) {
	hdr := func(et uint16, rest ...byte) []byte {
		b := make([]byte, EthernetHeaderLen, EthernetHeaderLen+len(rest))
		Ethernet(b).Encode(&EthernetFields{Src: testMAC1, Dst: testMAC2, Type: et})
		return append(b, rest...)
	}
	tests := []struct {
		name string
		in   []byte
		want ethView
	}{
		{"too short", hdr(EtherTypeIPv4)[:13], ethView{}},
		{"untagged IPv4 header only", hdr(EtherTypeIPv4),
			ethView{true, testMAC2, testMAC1, EtherTypeIPv4, EtherTypeIPv4, 14, 0, false}},
		{"untagged ARP with payload", hdr(EtherTypeARP, 1, 2, 3),
			ethView{true, testMAC2, testMAC1, EtherTypeARP, EtherTypeARP, 14, 0, false}},
		{"802.1Q IPv6", hdr(EtherTypeVLAN, 0x20, 0x64, 0x86, 0xdd, 0x60),
			ethView{true, testMAC2, testMAC1, EtherTypeVLAN, EtherTypeIPv6, 18, 0x2064, true}},
		{"802.1ad IPv4", hdr(EtherTypeQinQ, 0x00, 0x0a, 0x08, 0x00),
			ethView{true, testMAC2, testMAC1, EtherTypeQinQ, EtherTypeIPv4, 18, 0x000a, true}},
		{"QinQ skips one tag only", hdr(EtherTypeQinQ, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00),
			ethView{true, testMAC2, testMAC1, EtherTypeQinQ, EtherTypeVLAN, 18, 0x000a, true}},
		{"truncated tag", hdr(EtherTypeVLAN, 0x00, 0x0a, 0x08),
			ethView{true, testMAC2, testMAC1, EtherTypeVLAN, 0, 17, 0, false}},
		{"tag without TCI", hdr(EtherTypeVLAN),
			ethView{true, testMAC2, testMAC1, EtherTypeVLAN, 0, 14, 0, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, viewEthernet(tt.in)); diff != "" {
				t.Errorf("unexpected view (-want +got):\n%s", diff)
			}
			if tt.want.Valid {
				if want, got := tt.in[14:], Ethernet(tt.in).Payload(); !bytes.Equal(want, got) {
					t.Errorf("unexpected payload:\n- want: % x\n-  got: % x", want, got)
				}
			}
		})
	}
}

func TestEthernetAgainstGopacket(t *testing.T) {
	tests := []struct {
		name string
		ls   []gopacket.SerializableLayer
		want ethView
	}{
		{"untagged", []gopacket.SerializableLayer{
			&layers.Ethernet{SrcMAC: hw(testMAC1), DstMAC: hw(BroadcastMAC), EthernetType: layers.EthernetTypeARP},
			gopacket.Payload(make([]byte, ARPSize)),
		}, ethView{true, BroadcastMAC, testMAC1, EtherTypeARP, EtherTypeARP, 14, 0, false}},
		{"dot1q", []gopacket.SerializableLayer{
			&layers.Ethernet{SrcMAC: hw(testMAC2), DstMAC: hw(testMAC1), EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{Priority: 5, VLANIdentifier: 100, Type: layers.EthernetTypeIPv4},
			gopacket.Payload(make([]byte, 20)),
		}, ethView{true, testMAC1, testMAC2, EtherTypeVLAN, EtherTypeIPv4, 18, 5<<13 | 100, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := serialize(t, tt.ls...)
			if diff := cmp.Diff(tt.want, viewEthernet(frame)); diff != "" {
				t.Errorf("unexpected view (-want +got):\n%s", diff)
			}
			// Cross-check with gopacket's decoder.
			var ref layers.Ethernet
			if err := ref.DecodeFromBytes(frame, gopacket.NilDecodeFeedback); err != nil {
				t.Fatal(err)
			}
			e := Ethernet(frame)
			want := []any{ref.DstMAC.String(), ref.SrcMAC.String(), uint16(ref.EthernetType), ref.Payload}
			got := []any{e.Destination().String(), e.Source().String(), e.EtherType(), e.Payload()}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("unexpected difference from gopacket (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEthernetEncode(t *testing.T) {
	got := bytes.Repeat([]byte{0xee}, EthernetHeaderLen+2)
	Ethernet(got).Encode(&EthernetFields{Src: testMAC1, Dst: BroadcastMAC, Type: EtherTypeARP})
	want := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0xee, 0xee}
	if !bytes.Equal(want, got) {
		t.Errorf("unexpected frame:\n- want: % x\n-  got: % x", want, got)
	}
}

func TestAllocsEthernet(t *testing.T) {
	frame := tcpUDPFrame(t, false, true, 1234, 80, []byte("hello"))
	tagged := append(append(append([]byte(nil), frame[:12]...), 0x81, 0, 0, 7), frame[12:]...)
	var sink int
	f := EthernetFields{Src: testMAC1, Dst: testMAC2, Type: EtherTypeIPv4}
	got := testing.AllocsPerRun(1000, func() {
		for _, b := range []Ethernet{frame, tagged} {
			if b.IsValid() {
				d, s := b.Destination(), b.Source()
				tci, _ := b.VLANTag()
				sink += int(d[5]) + int(s[5]) + int(b.EtherType()) + int(b.InnerEtherType()) +
					b.PayloadOffset() + len(b.Payload()) + int(tci)
			}
		}
		Ethernet(frame).Encode(&f)
	})
	if got != 0 {
		t.Errorf("unexpected allocations:\n- want: 0\n-  got: %v", got)
	}
	_ = sink
}

func FuzzEthernet(f *testing.F) {
	f.Add([]byte{})                                                                       // empty
	f.Add(make([]byte, 13))                                                               // one byte short
	f.Add([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00})                         // untagged IPv4, header only
	f.Add([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x0a, 0x86, 0xdd}) // 802.1Q IPv6
	f.Add([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xa8, 0x00, 0x0a, 0x81})       // truncated QinQ
	f.Fuzz(func(t *testing.T, b []byte) {
		e := Ethernet(b)
		if e.IsValid() != (len(b) >= EthernetHeaderLen) {
			t.Fatalf("IsValid %v for %d bytes", e.IsValid(), len(b))
		}
		if !e.IsValid() {
			return
		}
		off := e.PayloadOffset()
		if off < EthernetHeaderLen || off > len(b) {
			t.Fatalf("PayloadOffset %d out of [14, %d]", off, len(b))
		}
		tci, tagged := e.VLANTag()
		inner := e.InnerEtherType()
		if tagged && (off != EthernetHeaderLen+VLANTagLen || inner != binary.BigEndian.Uint16(b[16:])) {
			t.Fatalf("tagged (tci %#x) but offset %d, inner %#x", tci, off, inner)
		}
		if !tagged && off == EthernetHeaderLen && e.EtherType() != EtherTypeVLAN && e.EtherType() != EtherTypeQinQ && inner != e.EtherType() {
			t.Fatalf("untagged but inner EtherType %#x != %#x", inner, e.EtherType())
		}
		// Encode round trip on a copy.
		c := append([]byte(nil), b...)
		Ethernet(c).Encode(&EthernetFields{Src: e.Source(), Dst: e.Destination(), Type: e.EtherType()})
		if !bytes.Equal(b, c) {
			t.Fatalf("re-encode changed frame:\n- want: % x\n-  got: % x", b, c)
		}
	})
}
