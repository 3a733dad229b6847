package fdb

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vxswitch/vxswitch/encap"
)

// slowFDB is the naive model of Table that the oracle tests compare against,
// like wireguard-go's SlowRouter for allowedips: one plain map, the cap
// counted by a linear scan, ageing by a linear scan. It is written from
// the rules, not from Table's code.
type slowFDB struct {
	m          map[Key]Entry
	ageing     time.Duration
	maxLearned int
	now        func() time.Time
	stats      Stats // counters only; sizes computed by stats()
	events     []Event
}

func newSlowFDB(ageing time.Duration, maxLearned int, now func() time.Time) *slowFDB {
	return &slowFDB{m: map[Key]Entry{}, ageing: ageing, maxLearned: maxLearned, now: now}
}

func (s *slowFDB) learnedIn(vni uint32) int {
	n := 0
	for k, e := range s.m {
		if k.VNI == vni && e.Origin == OriginLearned {
			n++
		}
	}
	return n
}

func (s *slowFDB) learn(vni uint32, mac encap.MAC, d Dest) LearnResult {
	if mac.IsMulticast() || mac == (encap.MAC{}) {
		s.stats.LearnRejectedMAC++
		return LearnRejectedMAC
	}
	validDest := (d.Port != 0 && !d.Remote.IsValid()) || (d.Port == 0 && d.Remote.IsValid() && !d.Remote.IsUnspecified())
	if vni >= 1<<24 || !validDest {
		s.stats.LearnRejectedInvalid++
		return LearnRejectedInvalid
	}
	k := Key{vni, mac}
	e, ok := s.m[k]
	switch {
	case ok && e.Origin != OriginLearned:
		return LearnIgnoredControlPlane
	case ok && e.Dest == d:
		e.Updated = s.now()
		s.m[k] = e
		return LearnRefreshed
	case ok:
		e.Dest, e.Updated = d, s.now()
		s.m[k] = e
		s.stats.Moves++
		s.events = append(s.events, Event{EventMoved, e})
		return LearnMoved
	case s.maxLearned > 0 && s.learnedIn(vni) >= s.maxLearned:
		s.stats.LearnRejectedCap++
		return LearnRejectedCap
	}
	e = Entry{Key: k, Dest: d, Origin: OriginLearned, Updated: s.now()}
	s.m[k] = e
	s.events = append(s.events, Event{EventAdded, e})
	return LearnAdded
}

func (s *slowFDB) add(e Entry) bool {
	if Validate(e) != nil {
		return false
	}
	if e.Updated.IsZero() {
		e.Updated = s.now()
	}
	kind := EventAdded
	if old, ok := s.m[e.Key]; ok && old.Dest != e.Dest {
		kind = EventMoved
	}
	s.m[e.Key] = e
	s.events = append(s.events, Event{kind, e})
	return true
}

func (s *slowFDB) delete(vni uint32, mac encap.MAC) bool {
	e, ok := s.m[Key{vni, mac}]
	if ok {
		delete(s.m, e.Key)
		s.events = append(s.events, Event{EventDeleted, e})
	}
	return ok
}

func (s *slowFDB) deleteIf(match func(Entry) bool) int {
	n := 0
	for k, e := range s.m {
		if match(e) {
			delete(s.m, k)
			s.events = append(s.events, Event{EventDeleted, e})
			n++
		}
	}
	return n
}

func (s *slowFDB) age() int {
	if s.ageing < 0 {
		return 0
	}
	n := 0
	for k, e := range s.m {
		if e.Origin == OriginLearned && s.now().Sub(e.Updated) > s.ageing {
			delete(s.m, k)
			s.events = append(s.events, Event{EventAged, e})
			n++
		}
	}
	s.stats.Aged += uint64(n)
	return n
}

func (s *slowFDB) lookup(vni uint32, mac encap.MAC) (Dest, bool) {
	e, ok := s.m[Key{vni, mac}]
	return e.Dest, ok
}

func (s *slowFDB) entries(vni uint32, all bool) []Entry {
	var out []Entry
	for k, e := range s.m {
		if all || k.VNI == vni {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmpKey(a.Key, b.Key)
	})
	return out
}

// cmpKey orders keys by VNI, then MAC bytes, independently of compareKeys.
func cmpKey(a, b Key) int {
	if a.VNI != b.VNI {
		return int(int64(a.VNI) - int64(b.VNI))
	}
	for i := range a.MAC {
		if a.MAC[i] != b.MAC[i] {
			return int(a.MAC[i]) - int(b.MAC[i])
		}
	}
	return 0
}

func (s *slowFDB) statsNow() Stats {
	st := s.stats
	st.Entries = len(s.m)
	for _, e := range s.m {
		if e.Origin == OriginLearned {
			st.Learned++
		}
	}
	return st
}

// entryEqual is a fast exact comparison; cmp.Diff explains a mismatch.
func entryEqual(a, b Entry) bool {
	u := a.Updated.Equal(b.Updated)
	a.Updated, b.Updated = time.Time{}, time.Time{}
	return u && a == b
}

func entriesEqual(a, b []Entry) bool {
	return slices.EqualFunc(a, b, entryEqual)
}

func eventsEqual(a, b []Event) bool {
	return slices.EqualFunc(a, b, func(x, y Event) bool { return x.Kind == y.Kind && entryEqual(x.Entry, y.Entry) })
}

// intSource is where an oracle run takes its choices from: a seeded
// math/rand/v2 generator, or the bytes of a fuzz input.
type intSource interface{ IntN(n int) int }

// byteSource turns fuzz bytes into choices; it reports exhaustion so the
// run stops.
type byteSource struct {
	b    []byte
	done bool
}

func (s *byteSource) IntN(n int) int {
	if len(s.b) == 0 {
		s.done = true
		return 0
	}
	v := int(s.b[0])
	s.b = s.b[1:]
	return v % n
}

// oracleSpace is deliberately small so that collisions, moves, the cap
// and ageing happen all the time.
var (
	oracleVNIs  = []uint32{1, 2, 3, MaxVNI, MaxVNI + 1}
	oracleDests = []Dest{
		{Port: 1}, {Port: 2}, {Port: 3},
		{Remote: remoteA}, {Remote: remoteB}, {Remote: remoteC},
		{}, {Port: 1, Remote: remoteA}, {Remote: netip.IPv4Unspecified()}, // invalid
	}
)

func pickVNI(r intSource) uint32 {
	if i := r.IntN(20); i < len(oracleVNIs) && i >= 3 {
		return oracleVNIs[i] // the edges, rarely
	}
	return oracleVNIs[r.IntN(3)]
}

func pickMAC(r intSource) encap.MAC {
	switch r.IntN(30) {
	case 0:
		return encap.BroadcastMAC
	case 1:
		return encap.MAC{0x01, 0x00, 0x5e, 0, 0, 1}
	case 2:
		return encap.MAC{}
	}
	return macN(1 + r.IntN(10))
}

func pickDest(r intSource) Dest {
	if r.IntN(25) == 0 {
		return oracleDests[6+r.IntN(3)]
	}
	return oracleDests[r.IntN(6)]
}

// sortEvents orders events by key: DeleteIf and Age visit entries in map
// order, so only the set of events per operation is defined.
func sortEvents(evs []Event) {
	slices.SortStableFunc(evs, func(a, b Event) int { return cmpKey(a.Entry.Key, b.Entry.Key) })
}

// runOracle drives a Table and a slowFDB through the same operations and
// fails at the first difference. It returns how often each LearnResult
// and each non-zero Age happened, so callers can check the run covered
// the interesting cases.
func runOracle(t *testing.T, r intSource, ops int, ageing time.Duration, maxLearned int) (tally map[string]int) {
	t.Helper()
	tally = map[string]int{}
	c := newFakeClock()
	tb := New(Config{Ageing: ageing, MaxLearnedPerVNI: maxLearned, Now: c.Now})
	slow := newSlowFDB(ageing, maxLearned, c.Now)
	if ageing == 0 {
		slow.ageing = DefaultAgeing
	}
	if maxLearned == 0 {
		slow.maxLearned = DefaultMaxLearnedPerVNI
	}
	var gotEvents []Event
	tb.OnChange(func(ev Event) { gotEvents = append(gotEvents, ev) })
	step := max(slow.ageing, time.Second) / 4

	for i := 0; i < ops; i++ {
		if bs, ok := r.(*byteSource); ok && bs.done {
			return tally
		}
		var op string
		var want, got any
		switch r.IntN(16) {
		case 0, 1, 2, 3, 4:
			vni, m, d := pickVNI(r), pickMAC(r), pickDest(r)
			op = fmt.Sprintf("Learn(%d, %v, %v)", vni, m, d)
			lr := tb.Learn(vni, m, d)
			want, got = slow.learn(vni, m, d), lr
			tally[lr.String()]++
		case 5, 6, 7:
			vni, m := pickVNI(r), pickMAC(r)
			op = fmt.Sprintf("Lookup(%d, %v)", vni, m)
			wd, wok := slow.lookup(vni, m)
			gd, gok := tb.Lookup(vni, m)
			want, got = fmt.Sprint(wd, wok), fmt.Sprint(gd, gok)
		case 8:
			e := Entry{
				Key:    Key{pickVNI(r), pickMAC(r)},
				Dest:   pickDest(r),
				Origin: Origin(r.IntN(6)),
			}
			if e.Origin == OriginGossip {
				e.Owner, e.Version, e.Incarnation = fmt.Sprint("node", r.IntN(3)), uint64(r.IntN(100)), uint64(r.IntN(3))
			}
			if r.IntN(4) == 0 {
				e.Updated = c.Now().Add(-time.Duration(r.IntN(1000)) * step)
			}
			op = fmt.Sprintf("Add(%+v)", e)
			want, got = slow.add(e), tb.Add(e) == nil
		case 9:
			vni, m := pickVNI(r), pickMAC(r)
			op = fmt.Sprintf("Delete(%d, %v)", vni, m)
			want, got = slow.delete(vni, m), tb.Delete(vni, m)
		case 10:
			port := uint32(1 + r.IntN(3))
			match := func(e Entry) bool { return e.Port == port }
			op = fmt.Sprintf("DeleteIf(port %d)", port)
			want, got = slow.deleteIf(match), tb.DeleteIf(match)
		case 11:
			op = "Age()"
			n := tb.Age()
			want, got = slow.age(), n
			if n > 0 {
				tally["aged"]++
			}
		case 12, 13:
			d := time.Duration(r.IntN(5)) * step
			if r.IntN(2) == 0 {
				d += time.Duration(r.IntN(3)) - 1 // land exactly on, before and after the boundary
			}
			c.Advance(d)
			continue
		case 14:
			vni, m := pickVNI(r), pickMAC(r)
			op = fmt.Sprintf("Get(%d, %v)", vni, m)
			we, wok := slow.m[Key{vni, m}]
			ge, gok := tb.Get(vni, m)
			if !entryEqual(we, ge) || wok != gok {
				t.Fatalf("op %d: %s: unexpected entry (want ok=%v, got ok=%v) (-want +got):\n%s", i, op, wok, gok, cmp.Diff(we, ge, cmpOpts...))
			}
			continue
		case 15:
			vni, all := pickVNI(r), r.IntN(2) == 0
			op = fmt.Sprintf("Entries(%d, %v)", vni, all)
			we, ge := slow.entries(vni, all), tb.Entries(vni, all)
			if !entriesEqual(we, ge) {
				t.Fatalf("op %d: %s: unexpected entries (-want +got):\n%s", i, op, cmp.Diff(we, ge, cmpOpts...))
			}
			if diff := cmp.Diff(slow.statsNow(), tb.Stats()); diff != "" {
				t.Fatalf("op %d: unexpected stats (-want +got):\n%s", i, diff)
			}
			continue
		}
		if want != got {
			t.Fatalf("op %d: %s: unexpected result:\n- want: %v\n-  got: %v", i, op, want, got)
		}
		sortEvents(slow.events)
		sortEvents(gotEvents)
		if !eventsEqual(slow.events, gotEvents) {
			t.Fatalf("op %d: %s: unexpected events (-want +got):\n%s", i, op, cmp.Diff(slow.events, gotEvents, cmpOpts...))
		}
		slow.events, gotEvents = slow.events[:0], gotEvents[:0]
		if tb.Len() != len(slow.m) {
			t.Fatalf("op %d: %s: unexpected Len:\n- want: %v\n-  got: %v", i, op, len(slow.m), tb.Len())
		}
	}
	if diff := cmp.Diff(slow.entries(0, true), tb.Entries(0, true), cmpOpts...); diff != "" {
		t.Fatalf("unexpected final entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(slow.statsNow(), tb.Stats()); diff != "" {
		t.Fatalf("unexpected final stats (-want +got):\n%s", diff)
	}
	return tally
}

func TestOracle(t *testing.T) {
	all := []string{"added", "refreshed", "moved", "ignored-control-plane", "rejected-mac", "rejected-invalid", "rejected-cap", "aged"}
	tests := []struct {
		name       string
		ageing     time.Duration
		maxLearned int
		wantSeen   []string // outcomes the run must have produced
	}{
		{"small cap", 10 * time.Second, 3, all},
		{"cap of one", 10 * time.Second, 1, all},
		{"default cap", 0, 0, all[:6]},
		{"unlimited, no ageing", -1, -1, all[:6]},
	}
	const ops = 20000
	for _, tt := range tests {
		for seed := uint64(1); seed <= 4; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", tt.name, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 0x0fdb))
				tally := runOracle(t, r, ops, tt.ageing, tt.maxLearned)
				for _, k := range tt.wantSeen {
					if tally[k] == 0 {
						t.Errorf("the run never produced %q: %v", k, tally)
					}
				}
			})
		}
	}
}

// FuzzOracle lets the fuzzer choose the operations of an oracle run.
func FuzzOracle(f *testing.F) {
	f.Add(uint8(3), []byte{})                                  // empty run
	f.Add(uint8(1), []byte{0, 0, 1, 3, 0, 0, 1, 4, 12, 4, 11}) // learn, move, advance, age
	f.Add(uint8(2), []byte{8, 1, 4, 1, 2, 0, 0, 5, 1, 4})      // add then learn over it
	f.Add(uint8(0), []byte{0, 0, 0, 0, 15, 0, 1, 10, 0})       // rejected MACs, entries, DeleteIf
	f.Fuzz(func(t *testing.T, maxLearned uint8, ops []byte) {
		runOracle(t, &byteSource{b: ops}, len(ops), 10*time.Second, int(maxLearned%5))
	})
}
