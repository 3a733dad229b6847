package daemon

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/gossip"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/switch/api"
)

// GossipConfig is the gossip control plane's part of Config (issue #4).
// Every field is a flag and a YAML key of the same name.
type GossipConfig struct {
	// NoGossip turns the control plane off (purely static setups): no
	// membership, no FDB distribution, no ARP suppression, no not_member
	// filter.
	NoGossip bool `yaml:"no-gossip"`
	// Join lists peers to join, "host" or "host:port" (port 7946 by
	// default); they are joined again every 30 s.
	Join []string `yaml:"join"`
	// GossipBind is the gossip listen address "ADDR:PORT"; "" means the
	// --local address, port 7946.
	GossipBind string `yaml:"gossip-bind"`
	// Node is the node's name in the cluster; "" means the host name.
	Node string `yaml:"node"`
	// GossipKey is a keyring file (base64 keys of 16, 24 or 32 bytes, one
	// per line, the first primary); "" means unencrypted gossip.
	GossipKey string `yaml:"gossip-key"`
	// ClusterLabel is memberlist's cluster label; nodes with another
	// label ignore each other.
	ClusterLabel string `yaml:"cluster-label"`
}

// registerGossipFlags adds the gossip flags to fs, writing into g.
func registerGossipFlags(fs *flag.FlagSet, g *GossipConfig) {
	fs.BoolVar(&g.NoGossip, "no-gossip", false, "turn the gossip control plane off (static --remote setups only)")
	fs.Var(listFlag{&g.Join}, "join", "gossip peer `HOST[:PORT]` to join (port 7946 by default; repeatable; re-joined every 30 s)")
	fs.StringVar(&g.GossipBind, "gossip-bind", "", "gossip listen `ADDR:PORT` (default: the --local address, port 7946)")
	fs.StringVar(&g.Node, "node", "", "node `NAME` in the gossip cluster (default: the host name)")
	fs.StringVar(&g.GossipKey, "gossip-key", "", "keyring `FILE` for gossip encryption and authentication (base64 AES keys, one per line, first is primary)")
	fs.StringVar(&g.ClusterLabel, "cluster-label", "", "gossip cluster `LABEL`; nodes with another label are ignored")
}

// mergeGossipFlags lets the gossip flags given on the command line (set)
// win over the file's values in merged.
func mergeGossipFlags(set map[string]bool, merged *GossipConfig, flags GossipConfig) {
	if set["no-gossip"] {
		merged.NoGossip = flags.NoGossip
	}
	if set["join"] {
		merged.Join = flags.Join
	}
	if set["gossip-bind"] {
		merged.GossipBind = flags.GossipBind
	}
	if set["node"] {
		merged.Node = flags.Node
	}
	if set["gossip-key"] {
		merged.GossipKey = flags.GossipKey
	}
	if set["cluster-label"] {
		merged.ClusterLabel = flags.ClusterLabel
	}
}

// validate checks the gossip settings.
func (g *GossipConfig) validate() error {
	if g.NoGossip {
		return nil
	}
	if g.GossipBind != "" {
		if _, err := netip.ParseAddrPort(g.GossipBind); err != nil {
			return fmt.Errorf("--gossip-bind %q: want ADDR:PORT, e.g. 192.0.2.10:7946", g.GossipBind)
		}
	}
	for _, j := range g.Join {
		if j == "" || strings.ContainsAny(j, " \t/") {
			return fmt.Errorf("--join %q: want HOST or HOST:PORT", j)
		}
	}
	if len(g.Node) > 255 {
		return errors.New("--node: at most 255 bytes")
	}
	return nil
}

// gossipHook connects the switch to the gossip node: the not_member source
// filter and ARP suppression are set in the switch's Config before the
// switch exists, and the node starts once the switch runs.
type gossipHook struct {
	cfg   GossipConfig
	neigh *fdb.NeighTable
	node  atomic.Pointer[gossip.Node]
	done  chan struct{} // closed by stop; ends routineWatchSwitch
	wg    sync.WaitGroup
}

// newGossipHook prepares swCfg for gossip (nil when --no-gossip).
func newGossipHook(cfg GossipConfig, swCfg *vswitch.Config) *gossipHook {
	if cfg.NoGossip {
		return nil
	}
	h := &gossipHook{cfg: cfg, neigh: fdb.NewNeighTable()}
	swCfg.SourceFilter = h.isMember
	swCfg.Suppress = &vswitch.Suppressor{Neigh: h.neigh}
	return h
}

// isMember accepts every source until the node runs, then only members
// and static remotes (vswitch.DropNotMember otherwise).
func (h *gossipHook) isMember(a netip.Addr) bool {
	n := h.node.Load()
	return n == nil || n.IsMember(a)
}

// start starts the gossip node for sw (after the switch and its static
// flood lists) and mounts GET /v1/peers on srv.
func (h *gossipHook) start(local netip.Addr, vxlanPort uint16, sw *vswitch.Switch, srv *api.Server, log *slog.Logger) error {
	if h == nil {
		if srv != nil {
			srv.Handle("/v1/peers", api.PeersHandler(nil))
		}
		return nil
	}
	gc := gossip.DefaultConfig()
	if h.cfg.Node != "" {
		gc.Name = h.cfg.Node
	}
	gc.VTEP, gc.VXLANPort, gc.Label, gc.Join, gc.Logger = local, vxlanPort, h.cfg.ClusterLabel, h.cfg.Join, log
	if h.cfg.GossipBind != "" {
		gc.BindAddr = netip.MustParseAddrPort(h.cfg.GossipBind)
	}
	if h.cfg.GossipKey != "" {
		keys, err := gossip.LoadKeyFile(h.cfg.GossipKey)
		if err != nil {
			return err
		}
		gc.Keys = keys
	}
	n, err := gossip.New(gc, sw.FDB(), h.neigh)
	if err != nil {
		return err
	}
	if err := n.SetVNIs(sw.VNIs()); err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		return err
	}
	h.node.Store(n)
	h.done = make(chan struct{})
	h.wg.Add(1)
	go h.routineWatchSwitch(sw, log)
	if srv != nil {
		srv.Handle("/v1/peers", api.PeersHandler(h.peers))
	}
	return nil
}

// stop leaves the cluster (the others purge this node's entries at once)
// and shuts the node down.
func (h *gossipHook) stop(log *slog.Logger) {
	if h == nil {
		return
	}
	if n := h.node.Load(); n != nil {
		close(h.done)
		h.wg.Wait()
		if err := n.Leave(2 * time.Second); err != nil {
			log.Warn("gossip leave", "err", err)
		}
	}
}

// routineWatchSwitch keeps the announced VNIs equal to the switch's (ports
// come and go with Pods) and forgets bindings learned on removed ports,
// checking every 2 seconds.
func (h *gossipHook) routineWatchSwitch(sw *vswitch.Switch, log *slog.Logger) {
	defer h.wg.Done()
	log.Debug("Routine: gossip switch watcher - started")
	defer log.Debug("Routine: gossip switch watcher - stopped")
	announced := sw.VNIs()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
		}
		if vnis := sw.VNIs(); !slices.Equal(vnis, announced) {
			if err := h.node.Load().SetVNIs(vnis); err != nil {
				log.Warn("gossip: announcing VNIs", "vnis", vnis, "err", err)
				continue
			}
			announced = vnis
		}
		ports := map[uint32]bool{}
		for _, p := range sw.Ports() {
			ports[p.ID()] = true
		}
		h.neigh.DeleteIf(func(nb fdb.Neighbor) bool { return nb.Origin == fdb.OriginLearned && !ports[nb.Port] })
	}
}

func (h *gossipHook) peers() []api.PeerInfo {
	n := h.node.Load()
	if n == nil {
		return nil
	}
	ps := n.Peers()
	out := make([]api.PeerInfo, len(ps))
	for i, p := range ps {
		out[i] = api.PeerInfo{Name: p.Name, Addr: p.Addr, State: p.State, Self: p.Self, VTEP: p.VTEP, VXLANPort: p.VXLANPort,
			VNIs: p.VNIs, Entries: p.Entries, Incarnation: p.Incarnation, LastContact: p.LastContact}
	}
	return out
}

// metrics wraps the switch's metrics handler and appends the gossip
// metrics (vxswitch_gossip_*) to a successful GET.
func (h *gossipHook) metrics(inner http.Handler) http.Handler {
	if h == nil {
		return inner
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		inner.ServeHTTP(sw, r)
		n := h.node.Load()
		if n == nil || r.Method != http.MethodGet || sw.status != http.StatusOK {
			return
		}
		st := n.Stats()
		var b strings.Builder
		metric := func(name, typ, help string, v float64) {
			fmt.Fprintf(&b, "# HELP vxswitch_gossip_%s %s\n# TYPE vxswitch_gossip_%s %s\nvxswitch_gossip_%s %s\n",
				name, help, name, typ, name, strconv.FormatFloat(v, 'g', -1, 64))
		}
		metric("members", "gauge", "Live gossip members, this node included.", float64(st.Members))
		metric("broadcasts_queued", "gauge", "FDB broadcasts waiting for retransmission.", float64(st.QueuedBroadcasts))
		metric("broadcasts_total", "counter", "FDB records queued for broadcast (own and relayed).", float64(st.Broadcasts))
		metric("received_total", "counter", "Gossip records and push/pull states received.", float64(st.Received))
		metric("malformed_total", "counter", "Gossip messages that failed to decode.", float64(st.Malformed))
		metric("dropped_total", "counter", "Gossip records dropped because too many were pending.", float64(st.Dropped))
		metric("installed_total", "counter", "FDB entries and bindings installed from gossip.", float64(st.Installed))
		metric("purged_total", "counter", "Gossip entries removed (owner left, died, restarted or withdrew).", float64(st.Purged))
		metric("push_pulls_total", "counter", "Push/pull anti-entropy states and greetings merged.", float64(st.PushPulls))
		metric("greetings_total", "counter", "Own entries sent to a newly joined member over TCP.", float64(st.Greetings))
		metric("own_entries", "gauge", "Entries and bindings this node announces.", float64(st.OwnEntries))
		lag := 0.0
		if !st.LastInstall.IsZero() {
			lag = time.Since(st.LastInstall).Seconds()
		}
		metric("last_install_age_seconds", "gauge", "Seconds since the last gossip entry was installed (0: none yet).", lag)
		w.Write([]byte(b.String()))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
