package fdb

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrent hammers one table from datapath-like goroutines (Learn,
// Lookup, Flood) while control-plane goroutines Add, Delete, DeleteIf, Age
// and change flood lists. Run it with -race. Afterwards the table's
// invariants must hold.
func TestConcurrent(t *testing.T) {
	const (
		maxLearned = 8
		iterations = 5000
		macs       = 32
	)
	tb, c := newTestTable(time.Second, maxLearned)
	var events atomic.Int64
	tb.OnChange(func(ev Event) {
		events.Add(1)
		tb.Lookup(ev.Entry.VNI, ev.Entry.MAC) // re-entrancy: no lock is held
	})
	dests := []Dest{{Port: 1}, {Port: 2}, {Remote: remoteA}, {Remote: remoteB}}

	var wg sync.WaitGroup
	worker := func(seed uint64, fn func(r *rand.Rand)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 0))
			for range iterations {
				fn(r)
			}
		}()
	}
	var learned atomic.Int64
	for i := range 4 {
		worker(uint64(i), func(r *rand.Rand) {
			vni := uint32(1 + r.IntN(2))
			if tb.Learn(vni, macN(1+r.IntN(macs)), dests[r.IntN(len(dests))]) == LearnAdded {
				learned.Add(1)
			}
			if d, ok := tb.Lookup(vni, macN(1+r.IntN(macs))); ok && !d.Valid() {
				t.Errorf("Lookup returned an invalid Dest %v", d)
			}
			for _, a := range tb.Flood(vni) {
				if !a.IsValid() {
					t.Errorf("Flood returned an invalid address")
				}
			}
		})
	}
	worker(10, func(r *rand.Rand) {
		k := Key{uint32(1 + r.IntN(2)), macN(1 + r.IntN(macs))}
		if r.IntN(2) == 0 {
			tb.Add(Entry{Key: k, Dest: dests[r.IntN(len(dests))], Origin: OriginStatic})
		} else {
			tb.Delete(k.VNI, k.MAC)
		}
	})
	worker(11, func(r *rand.Rand) {
		c.Advance(time.Duration(r.IntN(100)) * time.Millisecond)
		tb.Age()
		if r.IntN(50) == 0 {
			tb.DeleteIf(func(e Entry) bool { return e.Port == 2 })
		}
		_ = tb.Entries(0, true)
		_ = tb.Stats()
	})
	worker(12, func(r *rand.Rand) {
		vni := uint32(1 + r.IntN(2))
		switch r.IntN(3) {
		case 0:
			tb.AddFlood(vni, dests[2+r.IntN(2)].Remote)
		case 1:
			tb.DelFlood(vni, dests[2+r.IntN(2)].Remote)
		default:
			tb.SetFlood(vni, []netip.Addr{remoteC, remoteA})
		}
	})
	wg.Wait()

	if learned.Load() == 0 || events.Load() == 0 {
		t.Fatalf("the run learned %d MACs and produced %d events; want both > 0", learned.Load(), events.Load())
	}
	all := tb.Entries(0, true)
	perVNI := map[uint32]int{}
	for _, e := range all {
		if e.Origin == OriginLearned {
			perVNI[e.VNI]++
		}
	}
	st := tb.Stats()
	total := 0
	for vni, n := range perVNI {
		total += n
		if n > maxLearned {
			t.Errorf("VNI %d holds %d learned entries, above the cap of %d", vni, n, maxLearned)
		}
		if got := tb.LearnedInVNI(vni); got != n {
			t.Errorf("unexpected LearnedInVNI(%d):\n- want: %v\n-  got: %v", vni, n, got)
		}
	}
	if st.Learned != total || st.Entries != len(all) || tb.Len() != len(all) {
		t.Errorf("unexpected sizes:\n- want: Learned %d, Entries %d\n-  got: Learned %d, Entries %d, Len %d", total, len(all), st.Learned, st.Entries, tb.Len())
	}
}
