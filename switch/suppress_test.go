package vswitch

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/tap/taptest"
)

var (
	supMACA   = encap.MustParseMAC("02:00:00:00:0a:01") // host on port a
	supMACX   = encap.MustParseMAC("02:00:00:00:0b:09") // a remote host with a known binding
	supIPA    = netip.MustParseAddr("198.18.1.1")
	supIPX    = netip.MustParseAddr("198.18.1.9")
	supIPNone = netip.MustParseAddr("198.18.1.77")
)

// arpFrame builds an untagged Ethernet ARP frame.
func arpFrame(dst, src encap.MAC, f encap.ARPFields) []byte {
	b := make([]byte, encap.EthernetHeaderLen+encap.ARPSize)
	encap.Ethernet(b).Encode(&encap.EthernetFields{Dst: dst, Src: src, Type: encap.EtherTypeARP})
	encap.ARP(b[encap.EthernetHeaderLen:]).Encode(&f)
	return b
}

func supRequest(senderMAC encap.MAC, senderIP, target netip.Addr) []byte {
	return arpFrame(encap.BroadcastMAC, senderMAC, encap.ARPFields{Op: encap.ARPRequest, SenderMAC: senderMAC, SenderIP: senderIP, TargetIP: target})
}

// newSuppressUnit returns a unit with suppression on VNI 7: port a (a
// ChannelTAP whose writes the test reads), port b (a sink), one flood
// remote, and the binding supIPX → supMACX known from gossip.
func newSuppressUnit(t *testing.T) (*unit, *taptest.ChannelTAP, *Suppressor) {
	nt := fdb.NewNeighTable()
	if err := nt.Add(fdb.Neighbor{NeighKey: fdb.NeighKey{VNI: 7, IP: supIPX}, MAC: supMACX, Origin: fdb.OriginGossip, Owner: "n9", Version: 1}); err != nil {
		t.Fatal(err)
	}
	s := &Suppressor{Neigh: nt}
	u := newUnit(t, Config{Suppress: s}, fdb.DefaultConfig(), nil)
	dev := taptest.NewChannelTAP("a", testMTU)
	u.addDev(dev, 7)
	u.add("b", 7)
	u.fdb.AddFlood(7, netip.MustParseAddr("192.0.2.99"))
	return u, dev, s
}

func TestSuppressARP(t *testing.T) {
	tests := []struct {
		name      string
		frame     []byte
		wantReply []byte         // written back to port a, or nil
		want      map[string]int // frames flooded: "b" (local port), "sent" (VTEP)
	}{
		{
			name:      "known binding answered locally",
			frame:     supRequest(supMACA, supIPA, supIPX),
			wantReply: arpFrame(supMACA, supMACX, encap.ARPFields{Op: encap.ARPReply, SenderMAC: supMACX, SenderIP: supIPX, TargetMAC: supMACA, TargetIP: supIPA}),
			want:      map[string]int{"b": 0, "sent": 0},
		},
		{name: "unknown IP floods", frame: supRequest(supMACA, supIPA, supIPNone), want: map[string]int{"b": 1, "sent": 1}},
		{name: "gratuitous request floods", frame: supRequest(supMACA, supIPX, supIPX), want: map[string]int{"b": 1, "sent": 1}},
		{name: "probe floods", frame: supRequest(supMACA, netip.IPv4Unspecified(), supIPX), want: map[string]int{"b": 1, "sent": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, dev, _ := newSuppressUnit(t)
			bind := u.bind.(*sinkBind)
			u.fromPort("a", tt.frame)
			got := map[string]int{"b": int(u.devs["b"].frames.Load()), "sent": int(bind.count.Load())}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("unexpected flooding (-want +got):\n%s", diff)
			}
			var reply []byte
			select {
			case reply = <-dev.Outbound:
			default:
			}
			if diff := cmp.Diff(tt.wantReply, reply); diff != "" {
				t.Errorf("unexpected reply on the ingress port (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSuppressObserves: bindings are learned from the sender of requests
// and replies on local ports, and then answer later requests.
func TestSuppressObserves(t *testing.T) {
	u, _, s := newSuppressUnit(t)
	u.fromPort("a", supRequest(supMACA, supIPA, supIPNone))
	reply := arpFrame(supMACA, supMACX, encap.ARPFields{Op: encap.ARPReply, SenderMAC: encap.MustParseMAC("02:00:00:00:0a:02"), SenderIP: netip.MustParseAddr("198.18.1.2"), TargetMAC: supMACA, TargetIP: supIPA})
	copy(reply[6:12], []byte{2, 0, 0, 0, 0x0a, 2}) // Ethernet source = ARP sender
	u.fromPort("a", reply)
	nb, ok := s.Neigh.Get(7, supIPA)
	if !ok || nb.MAC != supMACA || nb.Origin != fdb.OriginLearned || nb.Port != u.ports["a"].ID() {
		t.Errorf("unexpected binding of %s:\n- want: %s learned on port a\n-  got: %+v (%v)", supIPA, supMACA, nb, ok)
	}
	if mac, ok := s.Neigh.Lookup(7, netip.MustParseAddr("198.18.1.2")); !ok || mac != encap.MustParseMAC("02:00:00:00:0a:02") {
		t.Errorf("binding from an ARP reply not learned: %s %v", mac, ok)
	}
	if got := s.Stats(); got.Observed != 2 {
		t.Errorf("unexpected stats:\n- want: 2 observed\n-  got: %+v", got)
	}
}

// TestAllocsSuppress: answering a request allocates nothing.
func TestAllocsSuppress(t *testing.T) {
	nt := fdb.NewNeighTable()
	nt.Add(fdb.Neighbor{NeighKey: fdb.NeighKey{VNI: 7, IP: supIPX}, MAC: supMACX, Origin: fdb.OriginGossip, Owner: "n9", Version: 1})
	s := &Suppressor{Neigh: nt}
	u := newUnit(t, Config{Suppress: s}, fdb.DefaultConfig(), nil)
	p := u.add("a", 7)
	req := withHeadroom(supRequest(supMACA, supIPA, supIPX))
	buf := make([]byte, len(req))
	got := testing.AllocsPerRun(1000, func() {
		copy(buf, req) // the reply is written in place
		u.sw.forwardFromPort(p, buf, u.out)
		u.out.flush()
	})
	if got != 0 {
		t.Errorf("unexpected allocations:\n- want: 0\n-  got: %v", got)
	}
	if a := s.Stats().Answered; a != 1001 || u.devs["a"].frames.Load() != 1001 {
		t.Errorf("unexpected answers:\n- want: 1001\n-  got: %d (delivered %d)", a, u.devs["a"].frames.Load())
	}
}
