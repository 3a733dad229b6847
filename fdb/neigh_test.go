package fdb

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/vxswitch/vxswitch/encap"
)

func TestNeighTable(t *testing.T) {
	ip := netip.MustParseAddr("198.18.0.1")
	m1 := encap.MustParseMAC("02:00:00:00:00:01")
	m2 := encap.MustParseMAC("02:00:00:00:00:02")
	tests := []struct {
		name        string
		do          func(t *NeighTable) bool
		wantChanged bool
		wantMAC     encap.MAC
		wantOK      bool
	}{
		{name: "observe", do: func(t *NeighTable) bool { return t.Observe(1, ip, m1, 3) }, wantChanged: true, wantMAC: m1, wantOK: true},
		{name: "observe again is no change", do: func(t *NeighTable) bool { t.Observe(1, ip, m1, 3); return t.Observe(1, ip, m1, 3) }, wantMAC: m1, wantOK: true},
		{name: "MAC change", do: func(t *NeighTable) bool { t.Observe(1, ip, m1, 3); return t.Observe(1, ip, m2, 3) }, wantChanged: true, wantMAC: m2, wantOK: true},
		{name: "multicast IP ignored", do: func(t *NeighTable) bool { return t.Observe(1, netip.MustParseAddr("224.0.0.1"), m1, 3) }},
		{name: "zero MAC ignored", do: func(t *NeighTable) bool { return t.Observe(1, ip, encap.MAC{}, 3) }},
		{name: "gossip binding, same MAC seen locally: kept", do: func(t *NeighTable) bool {
			t.Add(Neighbor{NeighKey: NeighKey{VNI: 1, IP: ip}, MAC: m1, Origin: OriginGossip, Owner: "a", Version: 1})
			return t.Observe(1, ip, m1, 3)
		}, wantMAC: m1, wantOK: true},
		{name: "delete", do: func(t *NeighTable) bool { t.Observe(1, ip, m1, 3); return t.Delete(1, ip) }, wantChanged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nt := NewNeighTable()
			var events int
			nt.OnChange(func(NeighEvent) { events++ })
			if got := tt.do(nt); got != tt.wantChanged {
				t.Errorf("unexpected change report:\n- want: %v\n-  got: %v", tt.wantChanged, got)
			}
			mac, ok := nt.Lookup(1, ip)
			if mac != tt.wantMAC || ok != tt.wantOK {
				t.Errorf("unexpected lookup:\n- want: %s %v\n-  got: %s %v", tt.wantMAC, tt.wantOK, mac, ok)
			}
			if tt.wantChanged && events == 0 {
				t.Errorf("no event for a change")
			}
		})
	}
}

func TestNeighAddInvalid(t *testing.T) {
	ip := netip.MustParseAddr("198.18.0.1")
	m := encap.MustParseMAC("02:00:00:00:00:01")
	tests := []struct {
		name string
		n    Neighbor
	}{
		{"learned origin", Neighbor{NeighKey: NeighKey{VNI: 1, IP: ip}, MAC: m, Origin: OriginLearned}},
		{"VNI too large", Neighbor{NeighKey: NeighKey{VNI: MaxVNI + 1, IP: ip}, MAC: m, Origin: OriginGossip}},
		{"no IP", Neighbor{NeighKey: NeighKey{VNI: 1}, MAC: m, Origin: OriginGossip}},
		{"broadcast MAC", Neighbor{NeighKey: NeighKey{VNI: 1, IP: ip}, MAC: encap.BroadcastMAC, Origin: OriginGossip}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nt := NewNeighTable()
			if err := nt.Add(tt.n); !errors.Is(err, ErrInvalidNeighbor) {
				t.Errorf("unexpected error:\n- want: %v\n-  got: %v", ErrInvalidNeighbor, err)
			}
			if nt.Len() != 0 {
				t.Errorf("invalid binding installed")
			}
		})
	}
}

func TestNeighDeleteIf(t *testing.T) {
	nt := NewNeighTable()
	for i := 1; i <= 4; i++ {
		nt.Observe(1, netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}), encap.MAC{2, 0, 0, 0, 0, byte(i)}, uint32(i%2+1))
	}
	if got := nt.DeleteIf(func(n Neighbor) bool { return n.Port == 1 }); got != 2 {
		t.Errorf("unexpected deletions:\n- want: 2\n-  got: %d", got)
	}
	if got := len(nt.Entries()); got != 2 {
		t.Errorf("unexpected remaining:\n- want: 2\n-  got: %d", got)
	}
}

func TestAllocsNeighLookupObserve(t *testing.T) {
	nt := NewNeighTable()
	ip := netip.MustParseAddr("198.18.0.1")
	m := encap.MustParseMAC("02:00:00:00:00:01")
	nt.Observe(1, ip, m, 3)
	if got := testing.AllocsPerRun(1000, func() { nt.Lookup(1, ip); nt.Observe(1, ip, m, 3) }); got != 0 {
		t.Errorf("unexpected allocations:\n- want: 0\n-  got: %v", got)
	}
}
