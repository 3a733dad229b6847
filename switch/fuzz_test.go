package vswitch

import (
	"net/netip"
	"testing"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
)

// FuzzForwardFromVTEP feeds arbitrary UDP payloads to the receive path and
// checks that none panics and that every one is either delivered or counted
// as exactly one drop. The switch serves VNI 42 with one port (local MAC
// 00:01; a static entry puts 09:01 behind another VTEP) and VNI 43 with no
// port, and accepts VXLAN only from 192.0.2.2 and 192.0.2.3. Learned
// entries are removed after each input, so the learning cap is never
// reached (that drop is counted on frames that are still delivered).
func FuzzForwardFromVTEP(f *testing.F) {
	frame := func(dst, src encap.MAC, size int) []byte {
		return ipv4Frame(dst, src, overlayIP(0, 1), overlayIP(0, 2), size)
	}
	// Seeds: (strict, last byte of the outer source address, payload).
	f.Add(false, byte(2), vxlanPacket(42, frame(mac(0, 1), mac(5, 5), 64)))                               // valid, to the local MAC
	f.Add(false, byte(2), vxlanPacket(42, arpRequest(mac(5, 5), overlayIP(0, 2), overlayIP(0, 1))))       // broadcast
	f.Add(false, byte(2), vxlanPacket(42, frame(mac(9, 9), mac(5, 5), 64)))                               // unknown unicast
	f.Add(false, byte(3), vxlanPacket(42, frame(mac(9, 1), mac(5, 5), 64)))                               // split horizon
	f.Add(false, byte(2), vxlanPacket(43, frame(mac(0, 1), mac(5, 5), 64)))                               // served VNI, no port
	f.Add(false, byte(2), vxlanPacket(4242, frame(mac(0, 1), mac(5, 5), 64)))                             // unknown VNI
	f.Add(false, byte(99), vxlanPacket(42, frame(mac(0, 1), mac(5, 5), 64)))                              // not a member
	f.Add(false, byte(2), vxlanPacket(42, frame(mac(0, 1), encap.BroadcastMAC, 64)))                      // bad source MAC
	f.Add(false, byte(2), vxlanPacket(42, frame(mac(0, 1), mac(5, 5), 1600)))                             // oversize
	f.Add(false, byte(2), []byte{0x00, 0, 0, 0, 0, 0, 42, 0})                                             // I flag clear, short
	f.Add(true, byte(2), append([]byte{0x88, 0, 0, 0, 0, 0, 42, 0}, frame(mac(0, 1), mac(5, 5), 64)...))  // reserved bits, strict
	f.Add(false, byte(2), append([]byte{0x08, 1, 0, 0, 0, 0, 42, 1}, frame(mac(0, 1), mac(5, 5), 64)...)) // reserved bits accepted
	f.Add(false, byte(2), []byte{})                                                                       // empty
	// One switch per strictness, reused: each input's learned entries are
	// removed afterwards and counters are compared as deltas.
	units := map[bool]*unit{}
	for _, strict := range []bool{false, true} {
		cfg := Config{
			Strict:       strict,
			SourceFilter: func(a netip.Addr) bool { return a == hostAddr(1) || a == hostAddr(2) },
		}
		u := newUnit(f, cfg, fdb.Config{}, nil)
		u.add("a", 42, mac(0, 1))
		if err := u.sw.AddVNI(43); err != nil {
			f.Fatal(err)
		}
		if err := u.fdb.Add(fdb.Entry{Key: fdb.Key{VNI: 42, MAC: mac(9, 1)}, Dest: fdb.Dest{Remote: hostAddr(9)}, Origin: fdb.OriginStatic}); err != nil {
			f.Fatal(err)
		}
		units[strict] = u
	}
	totalDrops := func(sw *Switch) (n uint64) {
		for _, r := range DropReasons() {
			n += sw.Drops(r)
		}
		return n
	}
	f.Fuzz(func(t *testing.T, strict bool, srcLast byte, pkt []byte) {
		u := units[strict]
		defer u.fdb.DeleteIf(func(e fdb.Entry) bool { return e.Origin == fdb.OriginLearned })
		if len(pkt) > bufSize {
			pkt = pkt[:bufSize]
		}
		drops0, delivered0 := totalDrops(u.sw), u.devs["a"].frames.Load()
		sent0 := u.bind.(*sinkBind).count.Load()

		u.fromVTEP(netip.AddrFrom4([4]byte{192, 0, 2, srcLast}), pkt)

		drops := totalDrops(u.sw) - drops0
		delivered := u.devs["a"].frames.Load() - delivered0
		if delivered+drops != 1 {
			t.Fatalf("unexpected outcome for %x:\n- want: delivered or exactly one drop\n-  got: delivered %d, drops %d (%v)", pkt, delivered, drops, u.sw.Stats().Drops)
		}
		if got := u.bind.(*sinkBind).count.Load() - sent0; got != 0 {
			t.Fatalf("unexpected VXLAN sent from the receive path:\n- want: 0\n-  got: %d", got)
		}
	})
}
