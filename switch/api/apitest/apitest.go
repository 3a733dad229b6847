package apitest

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/tap"
	"github.com/vxswitch/vxswitch/switch/tap/taptest"
	"github.com/vxswitch/vxswitch/vtep"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

// LocalIP is the underlay address of the switch under test (RFC 5737
// TEST-NET-1); PeerIP is the address of the Env's peer bind.
var (
	LocalIP = netip.MustParseAddr("192.0.2.1")
	PeerIP  = netip.MustParseAddr("192.0.2.2")
)

// Version is what the Env's server reports in GET /v1/status.
const Version = "apitest"

// Env is a started switch with its API served on a unix socket in
// t.TempDir(). Everything is closed by t.Cleanup. Fields are set by New and
// must not be changed; the Switch, Client and Peer are safe for concurrent
// use as their own packages document.
type Env struct {
	Switch *vswitch.Switch
	Server *api.Server
	Client *api.Client
	// Socket is the API socket path (pass it to vxctl --api).
	Socket string
	// Peer is an open bind at PeerIP on the same fabric: what it sends to
	// LocalAddr arrives at the switch as VXLAN from a remote VTEP.
	Peer *vteptest.ChannelBind
	// PeerRecv receives what the switch sends to Peer (flooding, forwarding
	// to a remote entry at Peer). Drive it from one goroutine.
	PeerRecv vtep.ReceiveFunc
	// LocalAddr is the switch's VTEP address and port.
	LocalAddr netip.AddrPort
}

// New starts a switch at LocalIP with the given fdb configuration (zero
// fields mean fdb's defaults) and serves its API. The switch has no
// ports and serves no VNI until AddPort or Switch.AddVNI.
func New(t testing.TB, fcfg fdb.Config) *Env {
	t.Helper()
	fabric := vteptest.NewFabric()
	bind := fabric.Bind(LocalIP)
	peer := fabric.Bind(PeerIP)
	cfg := vswitch.DefaultConfig()
	sw, err := vswitch.New(cfg, bind, fdb.New(fcfg))
	if err != nil {
		t.Fatalf("apitest: new switch: %v", err)
	}
	t.Cleanup(func() { sw.Close() })
	if err := sw.Start(); err != nil {
		t.Fatalf("apitest: start switch: %v", err)
	}
	recv, _, err := peer.Open(cfg.Port)
	if err != nil {
		t.Fatalf("apitest: open peer bind: %v", err)
	}
	t.Cleanup(func() { peer.Close() })

	sock := filepath.Join(t.TempDir(), "run", "vxswitchd.sock")
	ln, err := api.Listen(sock)
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	srv := api.NewServer(sw, slog.New(slog.DiscardHandler))
	srv.SetInfo(api.Info{Version: Version, Local: LocalIP.String(), Started: time.Now()})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("apitest: Serve: %v", err)
		}
	})
	return &Env{
		Switch: sw, Server: srv, Client: api.NewClient(sock), Socket: sock,
		Peer: peer, PeerRecv: recv[0], LocalAddr: bind.LocalAddr(),
	}
}

// Port is a taptest.ChannelTAP that also reports a hardware address and
// offloads, as a real TAP does.
type Port struct {
	*taptest.ChannelTAP
	mac encap.MAC
	off atomic.Pointer[tap.Offloads]
	gro atomic.Bool
}

// SetGRO records the switch's setting of coalescing on write, as
// tap.TAP.SetGRO does.
func (p *Port) SetGRO(on bool) { p.gro.Store(on) }

// GRO reports coalescing on write as a TAP does: on only with offloads
// (SetOffloads with VnetHdr) and SetGRO(true).
func (p *Port) GRO() bool { return p.Offloads().VnetHdr && p.gro.Load() }

// HardwareAddr returns the port's own MAC.
func (p *Port) HardwareAddr() encap.MAC { return p.mac }

// Offloads returns what SetOffloads set (the zero Offloads, "off", until
// then).
func (p *Port) Offloads() tap.Offloads {
	if o := p.off.Load(); o != nil {
		return *o
	}
	return tap.Offloads{}
}

// SetOffloads sets what Offloads reports.
func (p *Port) SetOffloads(o tap.Offloads) { p.off.Store(&o) }

// AddPort attaches a channel TAP called name with MTU 1450 to VNI vni. A
// non-zero mac is reported by the device and installed as the port's local
// FDB entry.
func (e *Env) AddPort(t testing.TB, name string, vni uint32, mac encap.MAC) *Port {
	t.Helper()
	p := &Port{ChannelTAP: taptest.NewChannelTAP(name, 1450), mac: mac}
	var pc vswitch.PortConfig
	pc.VNI = vni
	if !mac.IsZero() {
		pc.LocalMACs = []encap.MAC{mac}
	}
	if _, err := e.Switch.AddPort(p, pc); err != nil {
		t.Fatalf("apitest: add port %s: %v", name, err)
	}
	return p
}
