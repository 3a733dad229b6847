package fdb

import (
	"maps"
	"net/netip"
	"slices"
)

// The flood lists are kept as an immutable map of immutable slices behind
// an atomic pointer. Writers (rare: configuration, gossip) serialise on
// t.flood's mutex, copy the map, replace one VNI's slice with a new one and
// publish the new map; readers (every BUM frame) load the pointer without
// locking.

// normalizeRemote returns a as stored in flood lists (IPv4-mapped IPv6
// addresses are unmapped) and whether it may be in one.
func normalizeRemote(a netip.Addr) (netip.Addr, bool) {
	a = a.Unmap()
	return a, a.IsValid() && !a.IsUnspecified()
}

// AddFlood appends remote to the flood list of vni, like
// `bridge fdb append 00:00:00:00:00:00 dev vx0 dst REMOTE`. It reports
// whether the list changed: false when remote is already in it, invalid or
// unspecified, or vni is above MaxVNI. IPv4-mapped addresses are stored
// unmapped.
func (t *Table) AddFlood(vni uint32, remote netip.Addr) bool {
	remote, ok := normalizeRemote(remote)
	if !ok || vni > MaxVNI {
		return false
	}
	t.flood.Lock()
	defer t.flood.Unlock()
	cur := *t.flood.lists.Load()
	if slices.Contains(cur[vni], remote) {
		return false
	}
	next := maps.Clone(cur)
	next[vni] = append(slices.Clip(cur[vni]), remote) // Clip: never write into the published array
	t.flood.lists.Store(&next)
	return true
}

// DelFlood removes remote from the flood list of vni and reports whether it
// was there. A VNI whose list becomes empty is forgotten.
func (t *Table) DelFlood(vni uint32, remote netip.Addr) bool {
	remote = remote.Unmap()
	t.flood.Lock()
	defer t.flood.Unlock()
	cur := *t.flood.lists.Load()
	i := slices.Index(cur[vni], remote)
	if i < 0 {
		return false
	}
	next := maps.Clone(cur)
	l := slices.Delete(slices.Clone(cur[vni]), i, i+1)
	if len(l) == 0 {
		delete(next, vni)
	} else {
		next[vni] = slices.Clip(l)
	}
	t.flood.lists.Store(&next)
	return true
}

// SetFlood replaces the flood list of vni with remotes, in order, without
// duplicates and skipping invalid or unspecified addresses; an empty
// result removes the VNI's list. remotes is copied, the caller keeps it. A
// vni above MaxVNI is ignored.
func (t *Table) SetFlood(vni uint32, remotes []netip.Addr) {
	if vni > MaxVNI {
		return
	}
	var l []netip.Addr
	for _, r := range remotes {
		if r, ok := normalizeRemote(r); ok && !slices.Contains(l, r) {
			l = append(l, r)
		}
	}
	t.flood.Lock()
	defer t.flood.Unlock()
	next := maps.Clone(*t.flood.lists.Load())
	if len(l) == 0 {
		delete(next, vni)
	} else {
		next[vni] = slices.Clip(l)
	}
	t.flood.lists.Store(&next)
}

// Flood returns the flood list of vni (nil if none). It is lock-free and
// allocates nothing; the slice is an immutable snapshot shared with other
// callers, which the caller must not modify (not even append to in place:
// its capacity is clipped, so append copies). Later changes publish a new
// slice and do not affect one already returned.
func (t *Table) Flood(vni uint32) []netip.Addr {
	return (*t.flood.lists.Load())[vni]
}

// FloodLists returns a copy of every VNI's flood list that the caller owns.
func (t *Table) FloodLists() map[uint32][]netip.Addr {
	cur := *t.flood.lists.Load()
	out := make(map[uint32][]netip.Addr, len(cur))
	for vni, l := range cur {
		out[vni] = slices.Clone(l)
	}
	return out
}
