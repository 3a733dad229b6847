package fdb

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vxswitch/vxswitch/encap"
)

// ErrInvalidNeighbor is returned by NeighTable.Add for a binding whose VNI,
// IP, MAC or origin is not valid.
var ErrInvalidNeighbor = errors.New("fdb: invalid neighbour binding")

// NeighKey identifies an IP address within one VXLAN segment.
type NeighKey struct {
	VNI uint32
	IP  netip.Addr // unmapped
}

// Neighbor is one IP↔MAC binding, as learned from ARP or IPv6 ND seen on a
// local port (OriginLearned, Port != 0) or announced by another node
// (OriginGossip, Owner set). Neighbors returned by a NeighTable are copies.
type Neighbor struct {
	NeighKey
	MAC encap.MAC
	// Origin is OriginLearned for bindings observed on a local port,
	// OriginGossip for bindings announced by Owner, or OriginStatic.
	Origin Origin
	// Port is the local port the binding was observed on (0 otherwise).
	Port uint32
	// Owner, Version and Incarnation are the announcing node's name and
	// versions for gossip bindings (zero otherwise).
	Owner       string
	Version     uint64
	Incarnation uint64
	// Updated is when the binding was last changed.
	Updated time.Time
}

// NeighEvent is a change of a NeighTable delivered to OnChange subscribers.
// Deleted bindings are reported as they were.
type NeighEvent struct {
	Deleted  bool
	Neighbor Neighbor
}

// NeighTable is the IP→MAC neighbour table used for ARP and ND suppression.
// All methods are safe for concurrent use. Lookup and an Observe that
// changes nothing take only a read lock and allocate nothing, so the
// datapath may call them per frame. Bindings do not age: they leave with
// their port (DeleteIf) or their gossip owner.
type NeighTable struct {
	mu sync.RWMutex // protects m
	m  map[NeighKey]Neighbor

	subscribers struct {
		sync.Mutex // serializes registrations
		fns        atomic.Pointer[[]func(NeighEvent)]
	}
}

// NewNeighTable returns an empty neighbour table.
func NewNeighTable() *NeighTable { return &NeighTable{m: map[NeighKey]Neighbor{}} }

// Lookup returns the MAC bound to ip in vni. It takes a read lock and
// allocates nothing.
func (t *NeighTable) Lookup(vni uint32, ip netip.Addr) (encap.MAC, bool) {
	t.mu.RLock()
	n, ok := t.m[NeighKey{VNI: vni, IP: ip.Unmap()}]
	t.mu.RUnlock()
	return n.MAC, ok
}

// Get returns a copy of the binding of ip in vni.
func (t *NeighTable) Get(vni uint32, ip netip.Addr) (Neighbor, bool) {
	t.mu.RLock()
	n, ok := t.m[NeighKey{VNI: vni, IP: ip.Unmap()}]
	t.mu.RUnlock()
	return n, ok
}

// Observe records that ip is bound to mac behind local port in vni, as seen
// in ARP or ND from that port, and reports whether the table changed. A
// gossip or static binding for the same IP is replaced only when the MAC
// differs (the address moved here). Unspecified, multicast or loopback IPs
// and non-unicast MACs are ignored. An Observe that changes nothing
// allocates nothing.
func (t *NeighTable) Observe(vni uint32, ip netip.Addr, mac encap.MAC, port uint32) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() || !mac.IsUnicast() || vni > MaxVNI || port == 0 {
		return false
	}
	k := NeighKey{VNI: vni, IP: ip}
	t.mu.RLock()
	old, ok := t.m[k]
	t.mu.RUnlock()
	if ok && old.MAC == mac && (old.Port == port || old.Origin != OriginLearned) {
		return false
	}
	n := Neighbor{NeighKey: k, MAC: mac, Origin: OriginLearned, Port: port, Updated: time.Now()}
	t.mu.Lock()
	t.m[k] = n
	t.mu.Unlock()
	t.notify(NeighEvent{Neighbor: n})
	return true
}

// Add installs n, replacing any binding of its key. Its Origin must be
// OriginGossip or OriginStatic; otherwise, or for an invalid VNI, IP or
// MAC, Add returns an error wrapping ErrInvalidNeighbor and changes
// nothing.
func (t *NeighTable) Add(n Neighbor) error {
	n.IP = n.IP.Unmap()
	switch {
	case n.VNI > MaxVNI, !n.IP.IsValid(), n.IP.IsUnspecified(), n.IP.IsMulticast(), !n.MAC.IsUnicast():
		return fmt.Errorf("%w: %d/%s → %s", ErrInvalidNeighbor, n.VNI, n.IP, n.MAC)
	case n.Origin != OriginGossip && n.Origin != OriginStatic:
		return fmt.Errorf("%w: origin %s", ErrInvalidNeighbor, n.Origin)
	}
	if n.Updated.IsZero() {
		n.Updated = time.Now()
	}
	t.mu.Lock()
	t.m[n.NeighKey] = n
	t.mu.Unlock()
	t.notify(NeighEvent{Neighbor: n})
	return nil
}

// Delete removes the binding of ip in vni and reports whether there was one.
func (t *NeighTable) Delete(vni uint32, ip netip.Addr) bool {
	k := NeighKey{VNI: vni, IP: ip.Unmap()}
	t.mu.Lock()
	n, ok := t.m[k]
	delete(t.m, k)
	t.mu.Unlock()
	if ok {
		t.notify(NeighEvent{Deleted: true, Neighbor: n})
	}
	return ok
}

// DeleteIf removes every binding for which match returns true and returns
// how many it removed. match is called with the write lock held and must
// not call methods of t.
func (t *NeighTable) DeleteIf(match func(Neighbor) bool) int {
	var gone []Neighbor
	t.mu.Lock()
	for k, n := range t.m {
		if match(n) {
			delete(t.m, k)
			gone = append(gone, n)
		}
	}
	t.mu.Unlock()
	for _, n := range gone {
		t.notify(NeighEvent{Deleted: true, Neighbor: n})
	}
	return len(gone)
}

// Entries returns a copy of every binding sorted by (VNI, IP).
func (t *NeighTable) Entries() []Neighbor {
	t.mu.RLock()
	out := make([]Neighbor, 0, len(t.m))
	for _, n := range t.m {
		out = append(out, n)
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b Neighbor) int {
		if a.VNI != b.VNI {
			if a.VNI < b.VNI {
				return -1
			}
			return 1
		}
		return a.IP.Compare(b.IP)
	})
	return out
}

// Len returns the number of bindings.
func (t *NeighTable) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

// OnChange registers fn to be called after every change, from the goroutine
// that made it (including datapath goroutines calling Observe) with no lock
// held: fn must not block. There is no way to unregister.
func (t *NeighTable) OnChange(fn func(NeighEvent)) {
	if fn == nil {
		return
	}
	t.subscribers.Lock()
	defer t.subscribers.Unlock()
	var fns []func(NeighEvent)
	if p := t.subscribers.fns.Load(); p != nil {
		fns = append(fns, *p...)
	}
	fns = append(fns, fn)
	t.subscribers.fns.Store(&fns)
}

func (t *NeighTable) notify(ev NeighEvent) {
	if p := t.subscribers.fns.Load(); p != nil {
		for _, fn := range *p {
			fn(ev)
		}
	}
}
