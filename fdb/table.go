package fdb

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vxswitch/vxswitch/encap"
)

// Defaults used when the corresponding Config field is zero.
const (
	// DefaultAgeing is the idle time after which a learned entry expires:
	// 300 s, the Linux vxlan driver's default ageing time.
	DefaultAgeing = 300 * time.Second
	// DefaultMaxLearnedPerVNI bounds the learned entries of one VNI so a
	// flood of forged source MACs cannot grow the table without limit.
	DefaultMaxLearnedPerVNI = 16384
)

// Errors returned by Table.Add, wrapped with detail; test with errors.Is.
var (
	// ErrInvalidMAC: the MAC is multicast, broadcast or all zeros.
	ErrInvalidMAC = errors.New("fdb: invalid MAC")
	// ErrInvalidVNI: the VNI is above MaxVNI.
	ErrInvalidVNI = errors.New("fdb: invalid VNI")
	// ErrInvalidDest: not exactly one of Dest.Port and Dest.Remote is set,
	// or Remote is the unspecified address.
	ErrInvalidDest = errors.New("fdb: invalid destination")
)

// Config configures a Table. The zero value is valid and means the
// defaults.
type Config struct {
	// Ageing is how long a learned entry may stay idle (not refreshed by
	// traffic) before Age removes it. 0 means DefaultAgeing; a negative
	// value disables ageing.
	Ageing time.Duration
	// MaxLearnedPerVNI caps the learned entries of each VNI. 0 means
	// DefaultMaxLearnedPerVNI; a negative value means unlimited.
	MaxLearnedPerVNI int
	// Now is the clock. nil means time.Now; tests inject a fake clock. It
	// is called concurrently from every goroutine that calls Learn, Add or
	// Age.
	Now func() time.Time
}

// DefaultConfig returns a Config with every field set to its default.
func DefaultConfig() Config {
	return Config{
		Ageing:           DefaultAgeing,           // the kernel vxlan driver's default
		MaxLearnedPerVNI: DefaultMaxLearnedPerVNI, // bounds memory per segment
		Now:              time.Now,
	}
}

// numShards is the number of independently locked parts of the table, so
// that concurrent readers on different cores do not contend on one lock
// word. A power of two.
const (
	shardBits = 5
	numShards = 1 << shardBits
)

// entry is the table's record of one MAC. All fields except updated are
// read and written only with the shard lock held (read or write);
// updated is atomic so that a read-locked Learn can refresh it.
type entry struct {
	e       Entry // e.Updated is unused; see updated
	updated atomic.Int64
}

func (en *entry) snapshot() Entry {
	e := en.e
	e.Updated = time.Unix(0, en.updated.Load())
	return e
}

// shard is one lock plus the entries whose keys hash to it.
type shard struct {
	mu sync.RWMutex
	m  map[Key]*entry // protected by mu
	_  [64]byte       // keep neighbouring shards' locks off this cache line
}

// Table is the forwarding database. Create it with New. All methods are
// safe for concurrent use. Lookup, Learn (when refreshing) and Flood
// allocate nothing and never take a write lock.
type Table struct {
	ageing     time.Duration
	maxLearned int
	now        func() time.Time

	shards [numShards]shard

	// learned counts the learned entries of each VNI. It is locked after
	// (inside) a shard's write lock, never the other way round.
	learned struct {
		sync.Mutex
		n map[uint32]int
	}

	// flood holds the head-end replication lists; see flood.go.
	flood struct {
		sync.Mutex                                         // serialises writers
		lists      atomic.Pointer[map[uint32][]netip.Addr] // copy-on-write; readers load without locking
	}

	// subscribers is the copy-on-write list of OnChange callbacks.
	subscribers struct {
		sync.Mutex
		fns atomic.Pointer[[]func(Event)]
	}

	rejectedCap     atomic.Uint64
	rejectedMAC     atomic.Uint64
	rejectedInvalid atomic.Uint64
	moves           atomic.Uint64
	aged            atomic.Uint64
}

// New returns an empty Table configured by cfg (zero fields take their
// defaults).
func New(cfg Config) *Table {
	t := &Table{ageing: cfg.Ageing, maxLearned: cfg.MaxLearnedPerVNI, now: cfg.Now}
	if t.ageing == 0 {
		t.ageing = DefaultAgeing
	}
	if t.maxLearned == 0 {
		t.maxLearned = DefaultMaxLearnedPerVNI
	}
	if t.now == nil {
		t.now = time.Now
	}
	for i := range t.shards {
		t.shards[i].m = make(map[Key]*entry)
	}
	t.learned.n = make(map[uint32]int)
	t.flood.lists.Store(&map[uint32][]netip.Addr{})
	return t
}

// shard returns the shard of k: a multiplicative hash of the VNI and MAC.
func (t *Table) shard(k Key) *shard {
	m := k.MAC
	h := uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
	h ^= uint64(k.VNI) * 0xff51afd7ed558ccd
	h *= 0x9e3779b97f4a7c15
	return &t.shards[h>>(64-shardBits)]
}

// Lookup returns where mac lives in the VNI. It is the per-frame hot path:
// safe for concurrent use, it takes one shard's read lock and allocates
// nothing. Learned entries that have outlived Ageing but were not yet
// removed by Age are still returned.
func (t *Table) Lookup(vni uint32, mac encap.MAC) (Dest, bool) {
	k := Key{VNI: vni, MAC: mac}
	s := t.shard(k)
	s.mu.RLock()
	en := s.m[k]
	if en == nil {
		s.mu.RUnlock()
		return Dest{}, false
	}
	d := en.e.Dest
	s.mu.RUnlock()
	return d, true
}

// Get returns a snapshot of the entry for (vni, mac).
func (t *Table) Get(vni uint32, mac encap.MAC) (Entry, bool) {
	k := Key{VNI: vni, MAC: mac}
	s := t.shard(k)
	s.mu.RLock()
	defer s.mu.RUnlock()
	en := s.m[k]
	if en == nil {
		return Entry{}, false
	}
	return en.snapshot(), true
}

// Learn records that source MAC mac of VNI vni was seen behind d. It is
// called for every received frame, concurrently. When mac is already known
// behind d (the common case) it takes one shard's read lock, refreshes the
// entry's timestamp atomically and allocates nothing. Adding and moving
// take the shard's write lock; OnChange subscribers are then called from
// this goroutine after the lock is released.
//
// Learn never changes local, static or gossip entries, never learns a
// multicast, broadcast or zero MAC, and adds nothing once the VNI holds
// MaxLearnedPerVNI learned entries. Rejections are counted in Stats.
func (t *Table) Learn(vni uint32, mac encap.MAC, d Dest) LearnResult {
	if !mac.IsUnicast() {
		t.rejectedMAC.Add(1)
		return LearnRejectedMAC
	}
	if vni > MaxVNI || !d.Valid() {
		t.rejectedInvalid.Add(1)
		return LearnRejectedInvalid
	}
	now := t.now().UnixNano()
	k := Key{VNI: vni, MAC: mac}
	s := t.shard(k)

	s.mu.RLock()
	if en := s.m[k]; en != nil {
		if en.e.Origin != OriginLearned {
			s.mu.RUnlock()
			return LearnIgnoredControlPlane
		}
		if en.e.Dest == d {
			en.refresh(now)
			s.mu.RUnlock()
			return LearnRefreshed
		}
	}
	s.mu.RUnlock()

	// Slow path: add or move. Re-check, the entry may have changed.
	s.mu.Lock()
	en := s.m[k]
	var ev Event
	switch {
	case en != nil && en.e.Origin != OriginLearned:
		s.mu.Unlock()
		return LearnIgnoredControlPlane
	case en != nil && en.e.Dest == d:
		en.refresh(now)
		s.mu.Unlock()
		return LearnRefreshed
	case en != nil:
		en.e.Dest = d
		en.updated.Store(now)
		ev = Event{Kind: EventMoved, Entry: en.snapshot()}
		s.mu.Unlock()
		t.moves.Add(1)
		t.notify(ev)
		return LearnMoved
	}
	if !t.addLearnedCount(vni) {
		s.mu.Unlock()
		t.rejectedCap.Add(1)
		return LearnRejectedCap
	}
	en = &entry{e: Entry{Key: k, Dest: d, Origin: OriginLearned}}
	en.updated.Store(now)
	s.m[k] = en
	ev = Event{Kind: EventAdded, Entry: en.snapshot()}
	s.mu.Unlock()
	t.notify(ev)
	return LearnAdded
}

// refresh sets the timestamp to now. It stores only when the value
// changes (like the kernel's `if (f->updated != now)`), so that concurrent
// refreshes of one entry within one clock tick do not bounce its cache
// line between cores.
func (en *entry) refresh(now int64) {
	if en.updated.Load() != now {
		en.updated.Store(now)
	}
}

// addLearnedCount counts one more learned entry in vni unless the cap is
// reached. The caller holds a shard write lock.
func (t *Table) addLearnedCount(vni uint32) bool {
	t.learned.Lock()
	defer t.learned.Unlock()
	n := t.learned.n[vni]
	if t.maxLearned > 0 && n >= t.maxLearned {
		return false
	}
	t.learned.n[vni] = n + 1
	return true
}

// dropLearnedCount counts one learned entry of vni less. The caller holds
// a shard write lock.
func (t *Table) dropLearnedCount(vni uint32) {
	t.learned.Lock()
	defer t.learned.Unlock()
	if n := t.learned.n[vni] - 1; n > 0 {
		t.learned.n[vni] = n
	} else {
		delete(t.learned.n, vni)
	}
}

// Validate reports whether e could be installed with Add, with the same
// wrapped sentinel errors.
func Validate(e Entry) error {
	switch {
	case e.VNI > MaxVNI:
		return fmt.Errorf("%w: %d is above %d", ErrInvalidVNI, e.VNI, MaxVNI)
	case !e.MAC.IsUnicast():
		return fmt.Errorf("%w: %s is not a unicast address", ErrInvalidMAC, e.MAC)
	case !e.Dest.Valid():
		return fmt.Errorf("%w: %s: want exactly one of a non-zero port and a specified remote address", ErrInvalidDest, e.Dest)
	case !e.Origin.Valid() || e.Origin == OriginLearned:
		return fmt.Errorf("%w: %s: Add installs only local, static or gossip entries", ErrInvalidOrigin, e.Origin)
	}
	return nil
}

// Add installs a control-plane entry (OriginLocal, OriginStatic or
// OriginGossip), replacing any entry for its key, learned or not. Such
// entries never age and learning never moves them. If e.Updated is zero
// the current time is used. Add returns an error wrapping ErrInvalidVNI,
// ErrInvalidMAC, ErrInvalidDest or ErrInvalidOrigin and changes nothing
// when e is not valid. Subscribers are called after the lock is released.
func (t *Table) Add(e Entry) error {
	if err := Validate(e); err != nil {
		return err
	}
	if e.Updated.IsZero() {
		e.Updated = t.now()
	}
	now := e.Updated.UnixNano()
	e.Updated = time.Time{}
	s := t.shard(e.Key)
	s.mu.Lock()
	kind := EventAdded
	if old := s.m[e.Key]; old != nil {
		if old.e.Origin == OriginLearned {
			t.dropLearnedCount(e.VNI)
		}
		if old.e.Dest != e.Dest {
			kind = EventMoved
		}
	}
	en := &entry{e: e}
	en.updated.Store(now)
	s.m[e.Key] = en
	ev := Event{Kind: kind, Entry: en.snapshot()}
	s.mu.Unlock()
	t.notify(ev)
	return nil
}

// Delete removes the entry for (vni, mac), whatever its origin, and
// reports whether there was one.
func (t *Table) Delete(vni uint32, mac encap.MAC) bool {
	k := Key{VNI: vni, MAC: mac}
	s := t.shard(k)
	s.mu.Lock()
	en := s.m[k]
	if en == nil {
		s.mu.Unlock()
		return false
	}
	t.remove(s, en)
	ev := Event{Kind: EventDeleted, Entry: en.snapshot()}
	s.mu.Unlock()
	t.notify(ev)
	return true
}

// remove deletes en from s. The caller holds s's write lock.
func (t *Table) remove(s *shard, en *entry) {
	delete(s.m, en.e.Key)
	if en.e.Origin == OriginLearned {
		t.dropLearnedCount(en.e.VNI)
	}
}

// DeleteIf removes every entry for which match returns true and returns how
// many it removed, e.g. all entries of a port or of a gossip owner. match
// is called with a shard's write lock held: it must be quick and must not
// call methods of t. Shards are visited one at a time, so DeleteIf is not
// atomic with respect to concurrent Learn or Add.
func (t *Table) DeleteIf(match func(Entry) bool) int {
	return t.removeIf(EventDeleted, func(en *entry) bool { return match(en.snapshot()) })
}

// removeIf removes the entries matching match from every shard and
// notifies subscribers with kind.
func (t *Table) removeIf(kind EventKind, match func(*entry) bool) int {
	notify := t.hasSubscribers()
	var evs []Event
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for _, en := range s.m {
			if match(en) {
				t.remove(s, en)
				n++
				if notify {
					evs = append(evs, Event{Kind: kind, Entry: en.snapshot()})
				}
			}
		}
		s.mu.Unlock()
	}
	for _, ev := range evs {
		t.notify(ev)
	}
	return n
}

// Age removes the learned entries that have been idle for longer than
// Ageing and returns how many it removed (also counted in Stats.Aged).
// Control-plane entries never age. The switch calls it periodically; the
// granularity of ageing is that period.
func (t *Table) Age() int {
	if t.ageing < 0 {
		return 0
	}
	cutoff := t.now().UnixNano() - int64(t.ageing)
	n := t.removeIf(EventAged, func(en *entry) bool {
		return en.e.Origin == OriginLearned && en.updated.Load() < cutoff
	})
	t.aged.Add(uint64(n))
	return n
}

// Entries returns a snapshot of the entries of vni, or of every VNI when
// all is true, sorted by (VNI, MAC). The caller owns the slice. Shards are
// read one at a time, so the snapshot is not atomic with respect to
// concurrent changes.
func (t *Table) Entries(vni uint32, all bool) []Entry {
	var out []Entry
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		for k, en := range s.m {
			if all || k.VNI == vni {
				out = append(out, en.snapshot())
			}
		}
		s.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b Entry) int { return compareKeys(a.Key, b.Key) })
	return out
}

func compareKeys(a, b Key) int {
	if a.VNI != b.VNI {
		if a.VNI < b.VNI {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.MAC[:], b.MAC[:])
}

// Len returns the number of entries of every origin in every VNI.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// Stats are the table's sizes and counters. Counters only grow.
type Stats struct {
	// Entries is the number of entries of every origin.
	Entries int
	// Learned is the number of learned entries.
	Learned int
	// LearnRejectedCap counts Learn calls refused by the per-VNI cap.
	LearnRejectedCap uint64
	// LearnRejectedMAC counts Learn calls with a multicast, broadcast or
	// zero MAC.
	LearnRejectedMAC uint64
	// LearnRejectedInvalid counts Learn calls with a VNI above MaxVNI or
	// an invalid Dest.
	LearnRejectedInvalid uint64
	// Moves counts learned entries moved to a new Dest by Learn.
	Moves uint64
	// Aged counts learned entries removed by Age.
	Aged uint64
}

// Stats returns the current sizes and counters. It is safe for concurrent
// use; the fields are read one after another, not atomically together.
func (t *Table) Stats() Stats {
	st := Stats{
		Entries:              t.Len(),
		LearnRejectedCap:     t.rejectedCap.Load(),
		LearnRejectedMAC:     t.rejectedMAC.Load(),
		LearnRejectedInvalid: t.rejectedInvalid.Load(),
		Moves:                t.moves.Load(),
		Aged:                 t.aged.Load(),
	}
	t.learned.Lock()
	for _, n := range t.learned.n {
		st.Learned += n
	}
	t.learned.Unlock()
	return st
}

// LearnedInVNI returns the number of learned entries of vni, the number the
// per-VNI cap applies to.
func (t *Table) LearnedInVNI(vni uint32) int {
	t.learned.Lock()
	defer t.learned.Unlock()
	return t.learned.n[vni]
}
