package gossip

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vxswitch/vxswitch/fdb"
)

// Node is one vxswitchd's membership in the gossip cluster. It announces
// the node's VTEP and VNIs, keeps the FDB's flood lists equal to the
// static remotes plus the members serving each VNI, distributes the
// table's local entries and neighbour bindings, and installs other nodes'
// as OriginGossip entries.
//
// All methods are safe for concurrent use. Received messages and
// membership changes are applied to the FDB by one goroutine in arrival
// order; the memberlist callbacks only decode and hand off, so they never
// block on the FDB.
type Node struct {
	cfg   Config
	log   *slog.Logger
	table *fdb.Table
	neigh *fdb.NeighTable // nil: no neighbour distribution
	name  string
	inc   uint64

	ml    atomic.Pointer[memberlist.Memberlist]
	queue *memberlist.TransmitLimitedQueue

	// clock is a hybrid logical clock: versions are max(now, last+1) and
	// the clock moves past every version received, so a later announcement
	// of a MAC by any node carries a larger version.
	clock atomic.Uint64

	// members is the immutable set of addresses IsMember accepts.
	members atomic.Pointer[map[netip.Addr]struct{}]
	static  map[uint32][]netip.Addr // static flood lists; never modified

	meta struct {
		sync.Mutex // protects b
		b          []byte
	}

	// own holds this node's announced entries by broadcast name.
	own struct {
		sync.Mutex
		m map[string]record
	}

	// peers is what this node knows about the others.
	peers struct {
		sync.Mutex
		m        map[string]*peer
		owners   map[string]uint64    // highest incarnation seen per owner
		departed map[string]uint64    // left or dead owners → incarnation at departure
		greeted  map[string]time.Time // when this node last greeted each member
	}

	// work is the apply routine's input, in arrival order.
	work struct {
		sync.Mutex
		q []workItem
	}
	wake chan struct{}

	floodVNIs map[uint32]bool // VNIs whose flood list gossip set; apply routine only

	stats struct {
		received, dropped, malformed, queued, installed, purged, pushPulls, greetings atomic.Uint64
		lastInstall                                                                   atomic.Int64
	}

	startOnce sync.Once
	stopOnce  sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

// peer is what a Node knows about another member.
type peer struct {
	name        string
	addr        string
	meta        Meta
	metaOK      bool
	state       string // alive, left or dead (suspect comes from memberlist)
	lastContact time.Time
}

type workKind uint8

const (
	workRecord     workKind = iota + 1 // apply rec
	workState                          // apply st
	workMembership                     // recompute flood lists and the member set
	workPurge                          // remove every entry of name
	workGreet                          // send our own entries to node
)

type workItem struct {
	kind workKind
	rec  record
	st   *state
	name string
	// direct marks a state sent to this node alone (a greeting): its
	// news are not broadcast on.
	direct bool
	node   memberlist.Node // workGreet: the new member (a copy)
}

// ErrNoVTEP is returned by New when Config.VTEP is not a unicast address.
var ErrNoVTEP = errors.New("gossip: Config.VTEP must be a unicast address")

// New returns a Node for table (and neigh, which may be nil) that is not
// yet started. The static flood lists are the ones table holds now: call
// New after configuring static remotes. table's existing local entries
// are announced once the node starts.
func New(cfg Config, table *fdb.Table, neigh *fdb.NeighTable) (*Node, error) {
	def := DefaultConfig()
	if !cfg.VTEP.IsValid() || cfg.VTEP.IsUnspecified() || cfg.VTEP.IsMulticast() {
		return nil, ErrNoVTEP
	}
	if table == nil {
		return nil, errors.New("gossip: New needs an FDB table")
	}
	cfg.VTEP = cfg.VTEP.Unmap()
	if cfg.Name == "" {
		cfg.Name = def.Name
	}
	if cfg.Name == "" || len(cfg.Name) > maxOwnerLen {
		return nil, fmt.Errorf("gossip: node name %q: want 1-%d bytes", cfg.Name, maxOwnerLen)
	}
	if cfg.VXLANPort == 0 {
		cfg.VXLANPort = def.VXLANPort
	}
	if !cfg.BindAddr.IsValid() {
		cfg.BindAddr = netip.AddrPortFrom(cfg.VTEP, DefaultGossipPort)
	}
	if cfg.RejoinInterval == 0 {
		cfg.RejoinInterval = def.RejoinInterval
	}
	if cfg.MaxStateBytes <= 0 {
		cfg.MaxStateBytes = def.MaxStateBytes
	}
	if cfg.RetransmitMult <= 0 {
		cfg.RetransmitMult = def.RetransmitMult
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = def.MaxPending
	}
	if cfg.Incarnation == 0 {
		cfg.Incarnation = uint64(time.Now().UnixNano())
	}
	for _, k := range cfg.Keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return nil, fmt.Errorf("gossip: %w", err)
		}
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		cfg: cfg, log: lg.With("node", cfg.Name), table: table, neigh: neigh,
		name: cfg.Name, inc: cfg.Incarnation,
		static:    table.FloodLists(),
		wake:      make(chan struct{}, 1),
		floodVNIs: map[uint32]bool{},
		done:      make(chan struct{}),
	}
	n.own.m = map[string]record{}
	n.peers.m = map[string]*peer{}
	n.peers.owners = map[string]uint64{}
	n.peers.departed = map[string]uint64{}
	n.peers.greeted = map[string]time.Time{}
	n.queue = &memberlist.TransmitLimitedQueue{NumNodes: n.numNodes, RetransmitMult: cfg.RetransmitMult}
	n.clock.Store(uint64(time.Now().UnixNano()))
	n.publishMembers(nil)
	n.meta.b = encodeMeta(Meta{VTEP: cfg.VTEP, VXLANPort: cfg.VXLANPort})
	return n, nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Incarnation returns the node's incarnation (its start time by default).
func (n *Node) Incarnation() uint64 { return n.inc }

// Addr returns the address memberlist advertises ("" before Start).
func (n *Node) Addr() string {
	if ml := n.ml.Load(); ml != nil {
		return ml.LocalNode().Address()
	}
	return ""
}

func (n *Node) numNodes() int {
	if ml := n.ml.Load(); ml != nil {
		return ml.NumMembers()
	}
	return 1
}

// SetVNIs announces the VNIs the node serves (at most MaxMetaVNIs; more
// are left out with a warning). Before Start it only records them.
func (n *Node) SetVNIs(vnis []uint32) error {
	if len(vnis) > MaxMetaVNIs {
		n.log.Warn("too many VNIs for gossip metadata; announcing the lowest", "vnis", len(vnis), "max", MaxMetaVNIs)
	}
	n.meta.Lock()
	n.meta.b = encodeMeta(Meta{VTEP: n.cfg.VTEP, VXLANPort: n.cfg.VXLANPort, VNIs: vnis})
	n.meta.Unlock()
	if ml := n.ml.Load(); ml != nil {
		return ml.UpdateNode(5 * time.Second)
	}
	return nil
}

// Start creates the memberlist node, subscribes to the table, joins
// Config.Join (a failed join is logged, not fatal: a lone node is a
// cluster of one and re-joins later) and starts the apply and re-join
// routines. It may be called once.
func (n *Node) Start() error {
	err := errors.New("gossip: already started")
	n.startOnce.Do(func() { err = n.start() })
	return err
}

func (n *Node) start() error {
	var mc *memberlist.Config
	if n.cfg.LAN {
		mc = memberlist.DefaultLANConfig()
	} else {
		mc = memberlist.DefaultLocalConfig()
	}
	mc.Name = n.name
	mc.BindAddr = n.cfg.BindAddr.Addr().String()
	mc.BindPort = int(n.cfg.BindAddr.Port())
	mc.AdvertisePort = mc.BindPort
	mc.Label = n.cfg.Label
	mc.Delegate = (*delegate)(n)
	mc.Events = (*events)(n)
	mc.Logger = log.New(slogWriter{n.log}, "", 0)
	mc.Transport = n.cfg.Transport
	if len(n.cfg.Keys) > 0 {
		kr, err := memberlist.NewKeyring(n.cfg.Keys, n.cfg.Keys[0])
		if err != nil {
			return fmt.Errorf("gossip: keyring: %w", err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming = true
		mc.GossipVerifyOutgoing = true
	} else {
		n.log.Warn("GOSSIP IS NOT ENCRYPTED OR AUTHENTICATED: any host that reaches the gossip port can join and rewrite the FDB; configure --gossip-key")
	}
	if n.cfg.Memberlist != nil {
		n.cfg.Memberlist(mc)
	}

	// Subscribe before reading the table, so no local change is missed.
	n.table.OnChange(n.onFDBEvent)
	for _, e := range n.table.Entries(0, true) {
		n.onFDBEvent(fdb.Event{Kind: fdb.EventAdded, Entry: e})
	}
	if n.neigh != nil {
		n.neigh.OnChange(n.onNeighEvent)
		for _, nb := range n.neigh.Entries() {
			n.onNeighEvent(fdb.NeighEvent{Neighbor: nb})
		}
	}

	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("gossip: start memberlist on %s: %w", n.cfg.BindAddr, err)
	}
	n.ml.Store(ml)
	n.wg.Add(1)
	go n.routineApply()
	n.log.Info("gossip started", "addr", ml.LocalNode().Address(), "incarnation", n.inc, "encrypted", len(n.cfg.Keys) > 0, "label", n.cfg.Label)
	if len(n.cfg.Join) > 0 {
		n.join()
	}
	if n.cfg.RejoinInterval > 0 && len(n.cfg.Join) > 0 {
		n.wg.Add(1)
		go n.routineRejoin()
	}
	return nil
}

// join joins the configured peers and, when that grew the cluster (after
// a start or a partition), announces the own entries again.
func (n *Node) join() {
	ml := n.ml.Load()
	before := ml.NumMembers()
	k, err := ml.Join(n.cfg.Join)
	if err != nil && k == 0 {
		n.log.Warn("gossip join failed", "peers", n.cfg.Join, "err", err)
		return
	}
	if ml.NumMembers() > before {
		n.log.Info("gossip joined", "contacted", k, "members", ml.NumMembers())
		n.requeueOwn()
	}
}

// loneRejoinDivisor: a node alone in its cluster (a lost partition, or
// started before its peers) retries its Join peers every RejoinInterval /
// loneRejoinDivisor (5 s at the default 30 s), so that a healed link
// rejoins in seconds rather than up to a whole RejoinInterval later.
const loneRejoinDivisor = 6

// routineRejoin joins the configured peers every RejoinInterval, which
// brings back peers forgotten after a partition longer than memberlist's
// dead-node memory (GossipToTheDeadTime), and more often while the node
// is alone (see loneRejoinDivisor).
func (n *Node) routineRejoin() {
	defer n.wg.Done()
	n.log.Debug("Routine: gossip re-join - started")
	defer n.log.Debug("Routine: gossip re-join - stopped")
	t := time.NewTicker(max(n.cfg.RejoinInterval/loneRejoinDivisor, time.Millisecond))
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
			if n.numNodes() > 1 && time.Since(last) < n.cfg.RejoinInterval {
				continue
			}
			last = time.Now()
			n.join()
		}
	}
}

// Leave announces the node's departure, waiting up to timeout for it to
// spread, then shuts the node down. The others purge its entries at once.
func (n *Node) Leave(timeout time.Duration) error {
	var err error
	if ml := n.ml.Load(); ml != nil {
		err = ml.Leave(timeout)
	}
	return errors.Join(err, n.Shutdown())
}

// Shutdown stops the node without a Leave (the others detect the failure)
// and waits for its routines. It is idempotent. The FDB entries it
// installed stay; the caller usually closes the switch next.
func (n *Node) Shutdown() error {
	var err error
	n.stopOnce.Do(func() {
		close(n.done)
		if ml := n.ml.Load(); ml != nil {
			err = ml.Shutdown()
		}
		n.wg.Wait()
	})
	return err
}

// IsMember reports whether a is the VTEP address of a live member or a
// static remote. It is lock-free and allocates nothing; use it as
// vswitch.Config.SourceFilter.
func (n *Node) IsMember(a netip.Addr) bool {
	_, ok := (*n.members.Load())[a.Unmap()]
	return ok
}

// NumMembers returns the number of live members, this node included.
func (n *Node) NumMembers() int { return n.numNodes() }

// tick returns a new version, larger than any seen.
func (n *Node) tick() uint64 {
	for {
		old := n.clock.Load()
		v := max(old+1, uint64(time.Now().UnixNano()))
		if n.clock.CompareAndSwap(old, v) {
			return v
		}
	}
}

// observe moves the clock past v.
func (n *Node) observe(v uint64) {
	for {
		old := n.clock.Load()
		if v <= old || n.clock.CompareAndSwap(old, v) {
			return
		}
	}
}

// broadcast is one queued record.
type broadcast struct {
	name string
	msg  []byte
}

func (b *broadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(*broadcast)
	return ok && ob.name == b.name
}
func (b *broadcast) Name() string    { return b.name }
func (b *broadcast) Message() []byte { return b.msg }
func (b *broadcast) Finished()       {}

func (n *Node) queueRecord(r *record) {
	n.queue.QueueBroadcast(&broadcast{name: r.name(), msg: appendRecord(nil, r)})
	n.stats.queued.Add(1)
}

// requeueOwn broadcasts every own entry again.
func (n *Node) requeueOwn() {
	n.own.Lock()
	recs := make([]record, 0, len(n.own.m))
	for _, r := range n.own.m {
		recs = append(recs, r)
	}
	n.own.Unlock()
	for i := range recs {
		n.queueRecord(&recs[i])
	}
}

// onFDBEvent turns changes of local entries (Dest.Port != 0, any origin
// but gossip) into broadcasts. It runs on the goroutine that changed the
// table, including datapath goroutines: it does not block.
func (n *Node) onFDBEvent(ev fdb.Event) {
	e := ev.Entry
	local := e.Dest.Port != 0 && e.Origin != fdb.OriginGossip
	name := e.Key.String()
	n.own.Lock()
	defer n.own.Unlock()
	_, had := n.own.m[name]
	switch {
	case local && (ev.Kind == fdb.EventAdded || ev.Kind == fdb.EventMoved):
		r := record{kind: kindMAC, vni: e.VNI, mac: e.MAC, version: n.tick(), incarnation: n.inc, owner: n.name, vtep: n.cfg.VTEP}
		n.own.m[name] = r
		n.queueRecord(&r)
	case had && local: // deleted or aged here: withdraw
		r := n.own.m[name]
		delete(n.own.m, name)
		r.deleted, r.version = true, n.tick()
		n.queueRecord(&r)
	case had && (ev.Kind == fdb.EventAdded || ev.Kind == fdb.EventMoved):
		// A newer announcement from another node replaced ours: the MAC
		// moved away. Nothing to withdraw.
		delete(n.own.m, name)
	}
}

// onNeighEvent is onFDBEvent for neighbour bindings observed on local
// ports (OriginLearned).
func (n *Node) onNeighEvent(ev fdb.NeighEvent) {
	nb := ev.Neighbor
	local := nb.Origin == fdb.OriginLearned && nb.Port != 0
	r := record{kind: kindNeigh, vni: nb.VNI, mac: nb.MAC, incarnation: n.inc, owner: n.name, vtep: n.cfg.VTEP, ip: nb.IP}
	name := r.name()
	n.own.Lock()
	defer n.own.Unlock()
	_, had := n.own.m[name]
	switch {
	case local && !ev.Deleted:
		r.version = n.tick()
		n.own.m[name] = r
		n.queueRecord(&r)
	case had && local:
		delete(n.own.m, name)
		r.deleted, r.version = true, n.tick()
		n.queueRecord(&r)
	case had && !ev.Deleted:
		delete(n.own.m, name)
	}
}

func (n *Node) ownVersion(name string) uint64 {
	n.own.Lock()
	defer n.own.Unlock()
	return n.own.m[name].version
}

// enqueue hands an item to the apply routine. Records beyond MaxPending
// are dropped and counted; membership work is never dropped.
func (n *Node) enqueue(it workItem) {
	n.work.Lock()
	if it.kind == workRecord && len(n.work.q) >= n.cfg.MaxPending {
		n.work.Unlock()
		n.stats.dropped.Add(1)
		return
	}
	n.work.q = append(n.work.q, it)
	n.work.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// routineApply applies received records, states and membership changes
// to the FDB, one at a time in arrival order.
func (n *Node) routineApply() {
	defer n.wg.Done()
	n.log.Debug("Routine: gossip apply - started")
	defer n.log.Debug("Routine: gossip apply - stopped")
	for {
		select {
		case <-n.done:
			return
		case <-n.wake:
		}
		for {
			n.work.Lock()
			q := n.work.q
			n.work.q = nil
			n.work.Unlock()
			if len(q) == 0 {
				break
			}
			membership := false
			for i := range q {
				switch it := &q[i]; it.kind {
				case workRecord:
					if n.applyRecord(&it.rec) {
						// Spread it further, as memberlist does with
						// the membership messages it accepts.
						n.queueRecord(&it.rec)
					}
				case workState:
					n.applyState(it.st, !it.direct)
					if it.direct {
						n.greetBack(it.st.owner)
					}
				case workGreet:
					n.peers.Lock()
					n.peers.greeted[it.node.Name] = time.Now()
					n.peers.Unlock()
					// Spawned from this routine, which holds a count of
					// n.wg, so the Add cannot race Shutdown's Wait.
					n.wg.Add(1)
					go n.greet(it.node)
				case workPurge:
					n.purge(it.name, 0)
					membership = true
				case workMembership:
					membership = true
				}
			}
			if membership {
				n.recomputeMembership()
			}
		}
	}
}

// admit checks r's owner and incarnation, purging the owner's entries of
// older incarnations, and reports whether r may be applied.
func (n *Node) admit(r *record) bool {
	if r.owner == n.name {
		return false // our own announcement coming back
	}
	n.observe(r.version)
	n.peers.Lock()
	if dep, ok := n.peers.departed[r.owner]; ok && r.incarnation <= dep {
		n.peers.Unlock()
		return false
	}
	known := n.peers.owners[r.owner]
	if r.incarnation < known {
		n.peers.Unlock()
		return false
	}
	if p := n.peers.m[r.owner]; p != nil {
		p.lastContact = time.Now()
	}
	newer := r.incarnation > known
	if newer {
		n.peers.owners[r.owner] = r.incarnation
	}
	n.peers.Unlock()
	if newer && known != 0 {
		n.purge(r.owner, r.incarnation)
	}
	return true
}

// purge removes owner's gossip entries and bindings with an incarnation
// below inc (every one when inc is 0).
func (n *Node) purge(owner string, inc uint64) {
	k := n.table.DeleteIf(func(e fdb.Entry) bool {
		return e.Origin == fdb.OriginGossip && e.Owner == owner && (inc == 0 || e.Incarnation < inc)
	})
	if n.neigh != nil {
		k += n.neigh.DeleteIf(func(nb fdb.Neighbor) bool {
			return nb.Origin == fdb.OriginGossip && nb.Owner == owner && (inc == 0 || nb.Incarnation < inc)
		})
	}
	if k > 0 {
		n.stats.purged.Add(uint64(k))
		n.log.Debug("purged gossip entries", "owner", owner, "below_incarnation", inc, "count", k)
	}
}

// wins reports whether an announcement (version, owner, incarnation)
// replaces a gossip entry: a larger version wins, ties go to the larger
// owner name, and an owner's newer incarnation always wins.
func wins(v uint64, owner string, inc uint64, curV uint64, curOwner string, curInc uint64) bool {
	if owner == curOwner && inc != curInc {
		return inc > curInc
	}
	if v != curV {
		return v > curV
	}
	return owner > curOwner
}

// applyRecord applies one announcement and reports whether it changed
// the table (so that it is worth relaying).
func (n *Node) applyRecord(r *record) bool {
	if !n.admit(r) {
		return false
	}
	if r.kind == kindNeigh {
		return n.applyNeigh(r)
	}
	cur, ok := n.table.Get(r.vni, r.mac)
	if r.deleted {
		if ok && cur.Origin == fdb.OriginGossip && cur.Owner == r.owner && cur.Incarnation == r.incarnation && cur.Version <= r.version {
			return n.table.Delete(r.vni, r.mac)
		}
		return false
	}
	if ok {
		switch cur.Origin {
		case fdb.OriginStatic, fdb.OriginLocal:
			return false // the operator's or our own port's MAC
		case fdb.OriginLearned:
			if cur.Port != 0 && n.ownVersion(cur.Key.String()) >= r.version {
				return false // we announced it here more recently
			}
		case fdb.OriginGossip:
			if !wins(r.version, r.owner, r.incarnation, cur.Version, cur.Owner, cur.Incarnation) {
				return false
			}
		}
	}
	err := n.table.Add(fdb.Entry{
		Key:    fdb.Key{VNI: r.vni, MAC: r.mac},
		Dest:   fdb.Dest{Remote: r.vtep},
		Origin: fdb.OriginGossip, Owner: r.owner, Version: r.version, Incarnation: r.incarnation,
	})
	if err != nil {
		n.stats.malformed.Add(1)
		return false
	}
	n.stats.installed.Add(1)
	n.stats.lastInstall.Store(time.Now().UnixNano())
	return true
}

func (n *Node) applyNeigh(r *record) bool {
	if n.neigh == nil {
		return false
	}
	cur, ok := n.neigh.Get(r.vni, r.ip)
	if r.deleted {
		if ok && cur.Origin == fdb.OriginGossip && cur.Owner == r.owner && cur.Incarnation == r.incarnation && cur.Version <= r.version {
			return n.neigh.Delete(r.vni, r.ip)
		}
		return false
	}
	if ok {
		switch cur.Origin {
		case fdb.OriginStatic:
			return false
		case fdb.OriginLearned:
			if n.ownVersion(r.name()) >= r.version {
				return false
			}
		case fdb.OriginGossip:
			if !wins(r.version, r.owner, r.incarnation, cur.Version, cur.Owner, cur.Incarnation) {
				return false
			}
		}
	}
	if n.neigh.Add(fdb.Neighbor{
		NeighKey: fdb.NeighKey{VNI: r.vni, IP: r.ip}, MAC: r.mac,
		Origin: fdb.OriginGossip, Owner: r.owner, Version: r.version, Incarnation: r.incarnation,
	}) != nil {
		n.stats.malformed.Add(1)
		return false
	}
	n.stats.installed.Add(1)
	n.stats.lastInstall.Store(time.Now().UnixNano())
	return true
}

// applyState applies a push/pull state: the sender's own entries
// authoritatively (unless truncated), the others' additively.
//
// The sender's own entries that were news here are broadcast on (unless
// relay is false: a greeting, sent to every member anyway), as
// records received by gossip are: they are what the sender's own
// broadcasts should have brought, and those may have been spent on this
// node alone. That happens when nodes join at the same time: a joiner
// knows only its join peer for its first gossip rounds, so its
// announcements all go there, and the join peer learned them already from
// the join's push/pull. Without this the others learned them only from
// the next periodic push/pull (30 s or more). The others' entries a state
// carries are not re-broadcast: a node joining a large cluster would
// otherwise flood it with the whole table.
func (n *Node) applyState(s *state, relay bool) {
	n.stats.pushPulls.Add(1)
	for i := range s.own {
		if n.applyRecord(&s.own[i]) && relay {
			n.queueRecord(&s.own[i])
		}
	}
	if !s.truncated && s.owner != n.name {
		n.peers.Lock()
		_, departed := n.peers.departed[s.owner]
		current := n.peers.owners[s.owner] == s.incarnation
		n.peers.Unlock()
		if current && !departed {
			listed := make(map[string]bool, len(s.own))
			for i := range s.own {
				listed[s.own[i].name()] = true
			}
			stale := func(owner string, inc, v uint64, name string) bool {
				return owner == s.owner && inc == s.incarnation && v <= s.clock && !listed[name]
			}
			k := n.table.DeleteIf(func(e fdb.Entry) bool {
				return e.Origin == fdb.OriginGossip && stale(e.Owner, e.Incarnation, e.Version, e.Key.String())
			})
			if n.neigh != nil {
				k += n.neigh.DeleteIf(func(nb fdb.Neighbor) bool {
					return nb.Origin == fdb.OriginGossip && stale(nb.Owner, nb.Incarnation, nb.Version, neighName(nb.VNI, nb.IP))
				})
			}
			n.stats.purged.Add(uint64(k))
		}
	}
	for i := range s.others {
		n.applyRecord(&s.others[i])
	}
}

// greet sends our own entries to a member that just joined, as a state
// over memberlist's reliable (TCP) channel, so that a member learns every
// other member's entries as soon as it learns of the member, whatever
// became of the broadcasts. Broadcasts reach random members a limited
// number of times: when several nodes join at once they are spent before
// the joiners know each other, and a joiner then waited for the periodic
// push/pull (30 s or more) for some entries. Each member greets each new
// member once, so a joining node costs one small TCP exchange per member,
// and greets back a member that greets it after a while (greetBack).
func (n *Node) greet(node memberlist.Node) {
	defer n.wg.Done()
	ml := n.ml.Load()
	if ml == nil {
		return
	}
	n.own.Lock()
	own := make([]record, 0, len(n.own.m))
	for _, r := range n.own.m {
		own = append(own, r)
	}
	n.own.Unlock()
	msg := encodeState(n.name, n.inc, n.tick(), own, nil, n.cfg.MaxStateBytes)
	if err := ml.SendReliable(&node, msg); err != nil {
		select {
		case <-n.done: // shutting down
		default:
			n.log.Debug("greeting a new member failed; broadcasts and push/pull remain", "member", node.Name, "err", err)
		}
		return
	}
	n.stats.greetings.Add(1)
}

// greetBackAfter is how long after greeting a member this node greets it
// again when it receives a greeting from it (greetBack).
var greetBackAfter = 10 * time.Second

// greetBack greets owner, whose greeting this node just applied, unless
// this node greeted it within greetBackAfter. A greeting comes from a
// member that saw this node join, or come back after it had been
// declared dead (memberlist calls NotifyJoin then too). In the second
// case that member purged this node's entries when it declared it dead,
// and this node, which never saw the member leave, would not greet it:
// the entries stayed missing there until the next push/pull (30 s or
// more). On a plain join both sides greet each other within
// milliseconds, so the window keeps that from costing a second round.
// Called from the apply routine.
func (n *Node) greetBack(owner string) {
	if owner == n.name {
		return
	}
	n.peers.Lock()
	p := n.peers.m[owner]
	last, greeted := n.peers.greeted[owner]
	due := p != nil && p.state == "alive" && (!greeted || time.Since(last) >= greetBackAfter)
	var addr string
	if due {
		n.peers.greeted[owner] = time.Now()
		addr = p.addr
	}
	n.peers.Unlock()
	if !due {
		return
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return
	}
	// Spawned from the apply routine, which holds a count of n.wg.
	n.wg.Add(1)
	go n.greet(memberlist.Node{Name: owner, Addr: ap.Addr().AsSlice(), Port: ap.Port()})
}

func neighName(vni uint32, ip netip.Addr) string {
	r := record{kind: kindNeigh, vni: vni, ip: ip}
	return r.name()
}

// recomputeMembership sets every VNI's flood list to the static remotes
// plus the live members serving it, and publishes the member set.
func (n *Node) recomputeMembership() {
	n.peers.Lock()
	var live []Meta
	for _, p := range n.peers.m {
		if p.state == "alive" && p.metaOK {
			live = append(live, p.meta)
		}
	}
	n.peers.Unlock()
	slices.SortFunc(live, func(a, b Meta) int { return a.VTEP.Compare(b.VTEP) })
	want := map[uint32][]netip.Addr{}
	for vni, l := range n.static {
		want[vni] = slices.Clone(l)
	}
	for _, m := range live {
		if m.VTEP == n.cfg.VTEP {
			continue
		}
		for _, vni := range m.VNIs {
			if !slices.Contains(want[vni], m.VTEP) {
				want[vni] = append(want[vni], m.VTEP)
			}
		}
	}
	for vni := range n.floodVNIs {
		if _, ok := want[vni]; !ok {
			n.table.SetFlood(vni, nil)
			delete(n.floodVNIs, vni)
		}
	}
	for vni, l := range want {
		if !slices.Equal(n.table.Flood(vni), l) {
			n.table.SetFlood(vni, l)
		}
		n.floodVNIs[vni] = true
	}
	n.publishMembers(live)
}

func (n *Node) publishMembers(live []Meta) {
	set := map[netip.Addr]struct{}{}
	for _, l := range n.static {
		for _, a := range l {
			set[a.Unmap()] = struct{}{}
		}
	}
	for _, m := range live {
		set[m.VTEP] = struct{}{}
	}
	n.members.Store(&set)
}

// slogWriter sends memberlist's log lines to slog at debug level (its
// "[WARN]"/"[ERR]" lines at warn level).
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	s := strings.TrimSpace(string(p))
	if strings.Contains(s, "[ERR]") || strings.Contains(s, "[WARN]") {
		w.log.Warn("memberlist: " + s)
	} else {
		w.log.Debug("memberlist: " + s)
	}
	return len(p), nil
}

// Stats are the node's counters.
type Stats struct {
	Members          int    // live members, this node included
	QueuedBroadcasts int    // broadcasts waiting for retransmission
	Broadcasts       uint64 // records queued for broadcast since start
	Received         uint64 // records and states received
	Dropped          uint64 // records dropped because MaxPending were waiting
	Malformed        uint64 // messages and metadata that failed to decode
	Installed        uint64 // entries and bindings installed from gossip
	Purged           uint64 // entries and bindings removed (owner gone, restarted or withdrawn by state)
	PushPulls        uint64 // push/pull states and greetings merged
	Greetings        uint64 // own entries sent to a new member (greet)
	OwnEntries       int    // entries and bindings this node announces
	// LastInstall is when the last gossip entry was installed (zero if none).
	LastInstall time.Time
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	n.own.Lock()
	own := len(n.own.m)
	n.own.Unlock()
	s := Stats{
		Members: n.numNodes(), QueuedBroadcasts: n.queue.NumQueued(),
		Broadcasts: n.stats.queued.Load(), Received: n.stats.received.Load(), Dropped: n.stats.dropped.Load(),
		Malformed: n.stats.malformed.Load(), Installed: n.stats.installed.Load(), Purged: n.stats.purged.Load(),
		PushPulls: n.stats.pushPulls.Load(), Greetings: n.stats.greetings.Load(), OwnEntries: own,
	}
	if t := n.stats.lastInstall.Load(); t != 0 {
		s.LastInstall = time.Unix(0, t)
	}
	return s
}

// Peer describes one member for `vxctl peers`.
type Peer struct {
	Name        string    `json:"name"`
	Addr        string    `json:"addr"`  // gossip address
	State       string    `json:"state"` // alive, suspect, dead or left
	Self        bool      `json:"self,omitempty"`
	VTEP        string    `json:"vtep"`
	VXLANPort   uint16    `json:"vxlan_port"`
	VNIs        []uint32  `json:"vnis"`
	Entries     int       `json:"entries"` // FDB entries and bindings this node holds from it (own: announced)
	Incarnation uint64    `json:"incarnation,omitempty"`
	LastContact time.Time `json:"last_contact"`
}

// Peers returns every known member, this node included, sorted by name.
func (n *Node) Peers() []Peer {
	counts := map[string]int{}
	for _, e := range n.table.Entries(0, true) {
		if e.Origin == fdb.OriginGossip {
			counts[e.Owner]++
		}
	}
	if n.neigh != nil {
		for _, nb := range n.neigh.Entries() {
			if nb.Origin == fdb.OriginGossip {
				counts[nb.Owner]++
			}
		}
	}
	states := map[string]string{}
	if ml := n.ml.Load(); ml != nil {
		for _, m := range ml.Members() {
			states[m.Name] = stateName(m.State)
		}
	}
	n.meta.Lock()
	self, _ := decodeMeta(n.meta.b)
	n.meta.Unlock()
	n.own.Lock()
	ownN := len(n.own.m)
	n.own.Unlock()
	out := []Peer{{
		Name: n.name, Addr: n.Addr(), State: "alive", Self: true, VTEP: self.VTEP.String(), VXLANPort: self.VXLANPort,
		VNIs: self.VNIs, Entries: ownN, Incarnation: n.inc, LastContact: time.Now(),
	}}
	n.peers.Lock()
	for _, p := range n.peers.m {
		st := p.state
		if s, ok := states[p.name]; ok {
			st = s
		}
		q := Peer{Name: p.name, Addr: p.addr, State: st, Entries: counts[p.name], Incarnation: n.peers.owners[p.name], LastContact: p.lastContact, VNIs: []uint32{}}
		if p.metaOK {
			q.VTEP, q.VXLANPort, q.VNIs = p.meta.VTEP.String(), p.meta.VXLANPort, p.meta.VNIs
		}
		out = append(out, q)
	}
	n.peers.Unlock()
	slices.SortFunc(out[1:], func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}
