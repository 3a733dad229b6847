package vswitch

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/tap/taptest"
)

// Addresses of the drop tests' underlay: the switch's peers.
var (
	peerA = netip.MustParseAddr("192.0.2.2")  // a flood-list member
	peerB = netip.MustParseAddr("192.0.2.3")  // another one
	peerX = netip.MustParseAddr("192.0.2.99") // not a member (SourceFilter)
)

// TestDropReasons drives every DropReason on a unit switch and checks that
// each frame is counted exactly once, under the right reason, and whether
// it was delivered. The base setup is:
//
//	VNI 42: ports a (local MAC 00:01) and b (local MAC 00:02); static
//	        entry 09:01 -> remote peerA
//	VNI 43: served, no port
//	VNI 44: port solo, empty flood list
func TestDropReasons(t *testing.T) {
	a, b, remoteMAC := mac(0, 1), mac(0, 2), mac(9, 1)
	ipA, ipB := overlayIP(0, 1), overlayIP(0, 2)
	toB := func(src encap.MAC, size int) []byte { return ipv4Frame(b, src, ipA, ipB, size) }
	bcast := func(src encap.MAC) []byte { return arpRequest(src, ipA, ipB) }
	withFlags := func(flags byte, pkt []byte) []byte { pkt[0] = flags; return pkt }

	tests := []struct {
		name string
		cfg  Config
		fdb  fdb.Config
		bind func() *sinkBind // nil: a working sinkBind
		// setup adds to the base setup; run sends the frames.
		setup         func(u *unit)
		run           func(u *unit)
		wantDrops     map[DropReason]uint64
		wantDelivered map[string]uint64 // frames per sinkDev port
		wantAccepted  uint64            // Stats.ReservedBitsAccepted
	}{
		{
			name:      "port: frame shorter than an Ethernet header",
			run:       func(u *unit) { u.fromPort("a", toB(a, 64)[:encap.EthernetHeaderLen-1]) },
			wantDrops: map[DropReason]uint64{DropTruncated: 1},
		},
		{
			name:      "port: empty frame",
			run:       func(u *unit) { u.fromPort("a", nil) },
			wantDrops: map[DropReason]uint64{DropTruncated: 1},
		},
		{
			name: "vtep: shorter than VXLAN plus Ethernet headers",
			run: func(u *unit) {
				u.fromVTEP(peerA, vxlanPacket(42, toB(a, 64))[:encap.VXLANHeaderLen+encap.EthernetHeaderLen-1])
				u.fromVTEP(peerA, []byte{0x08})
				u.fromVTEP(peerA, nil)
			},
			wantDrops: map[DropReason]uint64{DropTruncated: 3},
		},
		{
			name:      "vtep: I flag clear",
			run:       func(u *unit) { u.fromVTEP(peerA, withFlags(0x00, vxlanPacket(42, toB(mac(5, 5), 64)))) },
			wantDrops: map[DropReason]uint64{DropBadFlags: 1},
		},
		{
			name: "vtep: reserved bits under Strict",
			cfg:  Config{Strict: true},
			run: func(u *unit) {
				u.fromVTEP(peerA, withFlags(0x08|0x80, vxlanPacket(42, toB(mac(5, 5), 64))))
				pkt := vxlanPacket(42, toB(mac(5, 5), 64))
				pkt[7] = 1 // the last reserved byte
				u.fromVTEP(peerA, pkt)
			},
			wantDrops: map[DropReason]uint64{DropReservedBits: 2},
		},
		{
			name: "vtep: reserved bits accepted and counted without Strict",
			run: func(u *unit) {
				u.fromVTEP(peerA, withFlags(0x08|0x80, vxlanPacket(42, toB(mac(5, 5), 64))))
				pkt := vxlanPacket(42, toB(mac(5, 5), 64))
				pkt[2] = 0xff // reserved bits after the flags
				u.fromVTEP(peerA, pkt)
			},
			wantDelivered: map[string]uint64{"b": 2},
			wantAccepted:  2,
		},
		{
			name:      "vtep: VNI not served",
			run:       func(u *unit) { u.fromVTEP(peerA, vxlanPacket(4242, toB(mac(5, 5), 64))) },
			wantDrops: map[DropReason]uint64{DropUnknownVNI: 1},
		},
		{
			name: "port: frame above MTU + header + one tag is dropped, one at the limit passes",
			run: func(u *unit) {
				u.fromPort("a", toB(a, testMTU+encap.EthernetHeaderLen+4+1))
				u.fromPort("a", toB(a, testMTU+encap.EthernetHeaderLen+4))
			},
			wantDrops:     map[DropReason]uint64{DropOversize: 1},
			wantDelivered: map[string]uint64{"b": 1},
		},
		{
			name: "vtep: frame above the egress port's MTU",
			setup: func(u *unit) {
				u.addDev(newSinkDev("tiny", 100), 45, mac(4, 5))
			},
			run: func(u *unit) {
				u.fromVTEP(peerA, vxlanPacket(45, ipv4Frame(mac(4, 5), mac(5, 5), ipA, ipB, 200)))
			},
			wantDrops: map[DropReason]uint64{DropOversize: 1},
		},
		{
			name:      "port: broadcast with no other port and no flood list",
			run:       func(u *unit) { u.fromPort("solo", bcast(mac(4, 4))) },
			wantDrops: map[DropReason]uint64{DropNoRoute: 1},
		},
		{
			name:      "vtep: broadcast for a served VNI without ports",
			run:       func(u *unit) { u.fromVTEP(peerA, vxlanPacket(43, bcast(mac(5, 5)))) },
			wantDrops: map[DropReason]uint64{DropNoRoute: 1},
		},
		{
			name: "port: learning cap reached; the frame is still forwarded",
			fdb:  fdb.Config{MaxLearnedPerVNI: 1},
			run: func(u *unit) {
				u.fromPort("a", toB(mac(6, 1), 64)) // learned
				u.fromPort("a", toB(mac(6, 2), 64)) // over the cap
				u.fromPort("a", toB(mac(6, 1), 64)) // refresh: no drop
			},
			wantDrops:     map[DropReason]uint64{DropLearnCap: 1},
			wantDelivered: map[string]uint64{"b": 3},
		},
		{
			name: "vtep: learning cap reached; the frame is still delivered",
			fdb:  fdb.Config{MaxLearnedPerVNI: 1},
			run: func(u *unit) {
				u.fromVTEP(peerA, vxlanPacket(42, toB(mac(6, 1), 64)))
				u.fromVTEP(peerA, vxlanPacket(42, toB(mac(6, 2), 64)))
			},
			wantDrops:     map[DropReason]uint64{DropLearnCap: 1},
			wantDelivered: map[string]uint64{"b": 2},
		},
		{
			name: "port: multicast, broadcast and zero source MACs",
			run: func(u *unit) {
				u.fromPort("a", toB(encap.MAC{0x01, 0, 0x5e, 0, 0, 1}, 64))
				u.fromPort("a", toB(encap.BroadcastMAC, 64))
				u.fromPort("a", toB(encap.MAC{}, 64))
			},
			wantDrops: map[DropReason]uint64{DropBadSourceMAC: 3},
		},
		{
			name: "vtep: multicast source MAC",
			run: func(u *unit) {
				u.fromVTEP(peerA, vxlanPacket(42, toB(encap.MAC{0x03, 0, 0, 0, 0, 1}, 64)))
			},
			wantDrops: map[DropReason]uint64{DropBadSourceMAC: 1},
		},
		{
			name:      "port: unicast to a MAC behind the ingress port (hairpin)",
			run:       func(u *unit) { u.fromPort("a", ipv4Frame(a, mac(6, 6), ipB, ipA, 64)) },
			wantDrops: map[DropReason]uint64{DropHairpin: 1},
		},
		{
			name: "vtep: inner destination behind another VTEP (split horizon)",
			run: func(u *unit) {
				u.fromVTEP(peerB, vxlanPacket(42, ipv4Frame(remoteMAC, mac(5, 5), ipA, ipB, 64)))
			},
			wantDrops: map[DropReason]uint64{DropSplitHorizon: 1},
		},
		{
			name: "vtep: source not accepted by SourceFilter",
			cfg:  Config{SourceFilter: func(a netip.Addr) bool { return a == peerA }},
			run: func(u *unit) {
				u.fromVTEP(peerX, vxlanPacket(42, toB(mac(5, 5), 64)))
				u.fromVTEP(peerA, vxlanPacket(42, toB(mac(5, 5), 64)))
			},
			wantDrops:     map[DropReason]uint64{DropNotMember: 1},
			wantDelivered: map[string]uint64{"b": 1},
		},
		{
			name:      "port: underlay send fails for a known remote",
			bind:      func() *sinkBind { b := newSinkBind(); b.err = errInjected; return b },
			run:       func(u *unit) { u.fromPort("a", ipv4Frame(remoteMAC, a, ipA, ipB, 64)) },
			wantDrops: map[DropReason]uint64{DropSend: 1},
		},
		{
			name:  "port: underlay send fails for every head-end copy of a flood",
			bind:  func() *sinkBind { b := newSinkBind(); b.err = errInjected; return b },
			setup: func(u *unit) { u.fdb.SetFlood(42, []netip.Addr{peerA, peerB}) },
			run:   func(u *unit) { u.fromPort("a", bcast(a)) },
			// The local copy to b is delivered; each replicated copy is
			// a failed send.
			wantDrops:     map[DropReason]uint64{DropSend: 2},
			wantDelivered: map[string]uint64{"b": 1},
		},
		{
			name: "port and vtep: writing to the egress port fails",
			setup: func(u *unit) {
				u.addDev(failDev{taptest.NewChannelTAP("broken", testMTU)}, 42, mac(0, 3))
			},
			run: func(u *unit) {
				u.fromPort("a", ipv4Frame(mac(0, 3), a, ipA, ipB, 64))
				u.fromVTEP(peerA, vxlanPacket(42, ipv4Frame(mac(0, 3), mac(5, 5), ipA, ipB, 64)))
			},
			wantDrops: map[DropReason]uint64{DropPortWrite: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bind *sinkBind
			if tt.bind != nil {
				bind = tt.bind()
			} else {
				bind = newSinkBind()
			}
			u := newUnit(t, tt.cfg, tt.fdb, bind)
			u.add("a", 42, a)
			u.add("b", 42, b)
			if err := u.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: 42, MAC: remoteMAC}, Dest: fdb.Dest{Remote: peerA}, Origin: fdb.OriginStatic}); err != nil {
				t.Fatal(err)
			}
			if err := u.sw.AddVNI(43); err != nil {
				t.Fatal(err)
			}
			u.add("solo", 44)
			if tt.setup != nil {
				tt.setup(u)
			}
			tt.run(u)
			checkDrops(t, u.sw, tt.wantDrops)
			want := tt.wantDelivered
			if want == nil {
				want = map[string]uint64{}
			}
			if diff := cmp.Diff(want, u.delivered()); diff != "" {
				t.Errorf("unexpected deliveries (-want +got):\n%s", diff)
			}
			if got := u.sw.Stats().ReservedBitsAccepted; got != tt.wantAccepted {
				t.Errorf("unexpected reserved_bits_accepted:\n- want: %d\n-  got: %d", tt.wantAccepted, got)
			}
		})
	}
}

// TestDropReasonNames checks the stable names the API and metrics use, and
// that every reason has one.
func TestDropReasonNames(t *testing.T) {
	want := []string{
		"truncated", "bad_flags", "reserved_bits", "unknown_vni", "oversize", "no_route", "learn_cap",
		"bad_source_mac", "hairpin", "split_horizon", "port_write_error", "send_error", "not_member", "receive_overflow", "port_overflow",
	}
	var got []string
	for _, r := range DropReasons() {
		got = append(got, r.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected drop reason names (-want +got):\n%s", diff)
	}
	if got := DropReason(200).String(); got != "unknown" {
		t.Errorf("unexpected name of an invalid reason:\n- want: unknown\n-  got: %s", got)
	}
	u := newUnit(t, Config{}, fdb.Config{}, nil)
	if got := u.sw.Drops(DropReason(200)); got != 0 {
		t.Errorf("unexpected count of an invalid reason:\n- want: 0\n-  got: %d", got)
	}
}
