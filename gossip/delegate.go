package gossip

import (
	"net"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vxswitch/vxswitch/fdb"
)

// delegate is Node's memberlist.Delegate. memberlist calls it from its own
// goroutines: NotifyMsg and MergeRemoteState decode, copy what they keep
// and hand off to the apply routine without blocking; the others only read
// state under short locks.
type delegate Node

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*events)(nil)
)

// NodeMeta returns the encoded Meta (at most 512 bytes: see meta.go).
func (d *delegate) NodeMeta(limit int) []byte {
	d.meta.Lock()
	defer d.meta.Unlock()
	if len(d.meta.b) > limit {
		return nil
	}
	return append([]byte(nil), d.meta.b...)
}

// NotifyMsg decodes one broadcast record, or a greeting (a state a new
// member gets from every member; see Node.greet). msg is not retained
// (decoding copies what it keeps). Malformed messages are counted and
// dropped.
func (d *delegate) NotifyMsg(msg []byte) {
	n := (*Node)(d)
	n.stats.received.Add(1)
	if len(msg) > 1 && msg[1] == kindState {
		s, err := decodeState(msg)
		if err != nil {
			n.stats.malformed.Add(1)
			return
		}
		n.enqueue(workItem{kind: workState, st: &s, direct: true})
		return
	}
	r, err := decodeRecord(msg)
	if err != nil {
		n.stats.malformed.Add(1)
		return
	}
	n.enqueue(workItem{kind: workRecord, rec: r})
}

// GetBroadcasts drains the transmit-limited queue of named broadcasts.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

// LocalState returns the push/pull state: own entries, then the others'
// gossip entries, capped at MaxStateBytes.
func (d *delegate) LocalState(join bool) []byte {
	n := (*Node)(d)
	clock := n.tick()
	n.own.Lock()
	own := make([]record, 0, len(n.own.m))
	for _, r := range n.own.m {
		own = append(own, r)
	}
	n.own.Unlock()
	var others []record
	for _, e := range n.table.Entries(0, true) {
		if e.Origin == fdb.OriginGossip && e.Owner != n.name && e.Version != 0 && len(e.Owner) <= maxOwnerLen {
			others = append(others, record{kind: kindMAC, vni: e.VNI, mac: e.MAC, version: e.Version, incarnation: e.Incarnation, owner: e.Owner, vtep: e.Remote})
		}
	}
	if n.neigh != nil {
		for _, nb := range n.neigh.Entries() {
			if nb.Origin == fdb.OriginGossip && nb.Owner != n.name && nb.Version != 0 && len(nb.Owner) <= maxOwnerLen {
				others = append(others, record{kind: kindNeigh, vni: nb.VNI, mac: nb.MAC, version: nb.Version, incarnation: nb.Incarnation, owner: nb.Owner, vtep: n.cfg.VTEP, ip: nb.IP})
			}
		}
	}
	return encodeState(n.name, n.inc, clock, own, others, n.cfg.MaxStateBytes)
}

// MergeRemoteState decodes a peer's push/pull state and hands it off.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	n := (*Node)(d)
	n.stats.received.Add(1)
	s, err := decodeState(buf)
	if err != nil {
		n.stats.malformed.Add(1)
		n.log.Debug("dropping malformed push/pull state", "err", err)
		return
	}
	n.enqueue(workItem{kind: workState, st: &s})
}

// events is Node's memberlist.EventDelegate. memberlist calls it with its
// node lock held: it records the peer and hands off to the apply routine.
type events Node

func (e *events) update(mn *memberlist.Node, state string) {
	n := (*Node)(e)
	if mn.Name == n.name {
		return
	}
	m, err := decodeMeta(mn.Meta)
	if err != nil {
		n.stats.malformed.Add(1)
	}
	n.peers.Lock()
	p := n.peers.m[mn.Name]
	if p == nil {
		p = &peer{name: mn.Name}
		n.peers.m[mn.Name] = p
	}
	p.addr, p.meta, p.metaOK, p.state, p.lastContact = mn.Address(), m, err == nil, state, time.Now()
	if state == "alive" {
		delete(n.peers.departed, mn.Name)
	} else {
		n.peers.departed[mn.Name] = n.peers.owners[mn.Name]
	}
	n.peers.Unlock()
	if state == "alive" {
		n.enqueue(workItem{kind: workMembership})
	} else {
		n.enqueue(workItem{kind: workPurge, name: mn.Name})
	}
}

// NotifyJoin records a new member, updates the flood lists and greets the
// member with our own entries (Node.greet).
func (e *events) NotifyJoin(mn *memberlist.Node) {
	e.update(mn, "alive")
	if n := (*Node)(e); mn.Name != n.name {
		node := *mn // memberlist owns mn: keep our own copy of its address
		node.Addr, node.Meta = append(net.IP(nil), mn.Addr...), nil
		n.enqueue(workItem{kind: workGreet, node: node})
	}
}

// NotifyUpdate records a member's new metadata.
func (e *events) NotifyUpdate(mn *memberlist.Node) { e.update(mn, "alive") }

// NotifyLeave removes a left or dead member's entries and flood-list
// place.
func (e *events) NotifyLeave(mn *memberlist.Node) {
	st := "dead"
	if mn.State == memberlist.StateLeft {
		st = "left"
	}
	e.update(mn, st)
}
