package encap

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// arpView is everything the ARP accessors return, for table comparison.
type arpView struct {
	Valid     bool
	Op        uint16
	SenderMAC MAC
	SenderIP  netip.Addr
	TargetMAC MAC
	TargetIP  netip.Addr
}

func viewARP(b ARP) arpView {
	if !b.IsValid() {
		return arpView{}
	}
	return arpView{true, b.Op(), b.SenderMAC(), b.SenderIP(), b.TargetMAC(), b.TargetIP()}
}

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestARPAgainstGopacket(t *testing.T) {
	tests := []struct {
		name string
		arp  layers.ARP
		want arpView
	}{
		{"request", layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: hw(testMAC1), SourceProtAddress: ipOf(testIP1),
			DstHwAddress: make([]byte, 6), DstProtAddress: ipOf(testIP2),
		}, arpView{true, ARPRequest, testMAC1, testIP1, MAC{}, testIP2}},
		{"reply", layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPReply, SourceHwAddress: hw(testMAC2), SourceProtAddress: ipOf(testIP2),
			DstHwAddress: hw(testMAC1), DstProtAddress: ipOf(testIP1),
		}, arpView{true, ARPReply, testMAC2, testIP2, testMAC1, testIP1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eth := &layers.Ethernet{SrcMAC: tt.arp.SourceHwAddress, DstMAC: hw(BroadcastMAC), EthernetType: layers.EthernetTypeARP}
			frame := Ethernet(serialize(t, eth, &tt.arp))
			if et := frame.EtherType(); et != EtherTypeARP {
				t.Fatalf("unexpected EtherType:\n- want: %#x\n-  got: %#x", EtherTypeARP, et)
			}
			got := viewARP(ARP(frame.Payload()))
			if diff := cmp.Diff(tt.want, got, addrCmp); diff != "" {
				t.Errorf("unexpected decode (-want +got):\n%s", diff)
			}
			// Encode from the decoded fields reproduces gopacket's bytes.
			enc := make([]byte, ARPSize)
			ARP(enc).Encode(&ARPFields{Op: got.Op, SenderMAC: got.SenderMAC, SenderIP: got.SenderIP,
				TargetMAC: got.TargetMAC, TargetIP: got.TargetIP})
			if want := frame.Payload()[:ARPSize]; !bytes.Equal(want, enc) {
				t.Errorf("unexpected encoding:\n- want: % x\n-  got: % x", want, enc)
			}
			// And gopacket decodes our encoding to the same fields.
			var ref layers.ARP
			if err := ref.DecodeFromBytes(enc, gopacket.NilDecodeFeedback); err != nil {
				t.Fatal(err)
			}
			want := []any{uint16(tt.arp.Operation), tt.arp.SourceHwAddress, tt.arp.SourceProtAddress,
				tt.arp.DstHwAddress, tt.arp.DstProtAddress}
			gotRef := []any{ref.Operation, ref.SourceHwAddress, ref.SourceProtAddress, ref.DstHwAddress, ref.DstProtAddress}
			if diff := cmp.Diff(want, gotRef); diff != "" {
				t.Errorf("unexpected gopacket decode of our encoding (-want +got):\n%s", diff)
			}
		})
	}
}

func TestARPIsValid(t *testing.T) {
	valid := make([]byte, ARPSize)
	ARP(valid).Encode(&ARPFields{Op: ARPRequest, SenderMAC: testMAC1, SenderIP: testIP1, TargetIP: testIP2})
	mutate := func(i int, v byte) []byte {
		b := append([]byte(nil), valid...)
		b[i] = v
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{"valid", valid, true},
		{"valid with padding", append(append([]byte(nil), valid...), make([]byte, 18)...), true},
		{"short", valid[:ARPSize-1], false},
		{"empty", nil, false},
		{"hardware type", mutate(1, 6), false},
		{"protocol type IPv6", mutate(2, 0x86), false},
		{"hardware length", mutate(4, 8), false},
		{"protocol length", mutate(5, 16), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ARP(tt.in).IsValid(); tt.want != got {
				t.Errorf("unexpected IsValid:\n- want: %v\n-  got: %v", tt.want, got)
			}
		})
	}
}

func TestARPEncodeNonIPv4(t *testing.T) {
	b := bytes.Repeat([]byte{0xee}, ARPSize)
	ARP(b).Encode(&ARPFields{Op: ARPReply, SenderIP: testIP61, TargetIP: netip.AddrFrom16(testIP1.As16())})
	want := arpView{true, ARPReply, MAC{}, netip.IPv4Unspecified(), MAC{}, testIP1}
	if diff := cmp.Diff(want, viewARP(b), addrCmp); diff != "" {
		t.Errorf("unexpected decode (-want +got):\n%s", diff)
	}
}

func TestAllocsARP(t *testing.T) {
	b := make([]byte, ARPSize)
	f := ARPFields{Op: ARPReply, SenderMAC: testMAC1, SenderIP: testIP1, TargetMAC: testMAC2, TargetIP: testIP2}
	var sink int
	got := testing.AllocsPerRun(1000, func() {
		ARP(b).Encode(&f)
		v := viewARP(b)
		sink += int(v.Op) + int(v.SenderIP.As4()[3]) + int(v.TargetIP.As4()[3]) + int(v.SenderMAC[5])
	})
	if got != 0 {
		t.Errorf("unexpected allocations:\n- want: 0\n-  got: %v", got)
	}
	_ = sink
}

func FuzzARP(f *testing.F) {
	req := make([]byte, ARPSize)
	ARP(req).Encode(&ARPFields{Op: ARPRequest, SenderMAC: testMAC1, SenderIP: testIP1, TargetIP: testIP2})
	f.Add(req)                              // valid request
	f.Add(req[:ARPSize-1])                  // one byte short
	f.Add(append(req, 0, 0, 0, 0))          // with trailing padding
	f.Add(append([]byte{0, 6}, req[2:]...)) // IEEE 802 hardware type
	f.Add([]byte{})                         // empty
	f.Fuzz(func(t *testing.T, b []byte) {
		a := ARP(b)
		if !a.IsValid() {
			return
		}
		// decode → encode → equal (the first ARPSize bytes).
		v := viewARP(a)
		if !v.SenderIP.Is4() || !v.TargetIP.Is4() {
			t.Fatalf("non-IPv4 addresses: %v %v", v.SenderIP, v.TargetIP)
		}
		c := make([]byte, ARPSize)
		ARP(c).Encode(&ARPFields{Op: v.Op, SenderMAC: v.SenderMAC, SenderIP: v.SenderIP,
			TargetMAC: v.TargetMAC, TargetIP: v.TargetIP})
		if !bytes.Equal(b[:ARPSize], c) {
			t.Fatalf("round trip changed packet:\n- want: % x\n-  got: % x", b[:ARPSize], c)
		}
	})
}
