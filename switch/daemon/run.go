package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/tap"
	"github.com/vxswitch/vxswitch/vtep"
)

// Version is the daemon's version string, set at build time with
// -ldflags "-X github.com/vxswitch/vxswitch/switch/daemon.Version=…".
var Version = "dev"

// Main runs vxswitchd with args (without the program name) until SIGTERM or
// SIGINT and returns the process exit code: 0 after a clean shutdown, 1 on
// a runtime error, 2 on a usage error.
func Main(args []string, stdout, stderr io.Writer) int {
	cfg, err := ParseArgs(args, stderr)
	switch {
	case errors.Is(err, ErrHelp):
		return 0
	case errors.Is(err, errVersion):
		fmt.Fprintln(stdout, "vxswitchd", Version)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "vxswitchd: %v\n", err)
		return 2
	}
	level, _ := parseLevel(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	log := slog.New(h)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := Run(ctx, cfg, log); err != nil {
		log.Error("vxswitchd failed", "err", err)
		fmt.Fprintf(stderr, "vxswitchd: %v\n", err)
		return 1
	}
	return 0
}

// Run starts the daemon described by cfg and blocks until ctx is done, then
// shuts down: it stops the API, closes the switch (which removes the TAPs it
// created) and returns. Any resource created before a failure is released.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	local := netip.MustParseAddr(cfg.Local).Unmap()
	underlayMTU, ifName, err := interfaceMTU(local)
	if err != nil {
		return err
	}
	mtu := cfg.MTU
	if mtu == 0 {
		overhead := encap.OverheadIPv4
		if local.Is6() {
			overhead = encap.OverheadIPv6
		}
		mtu = underlayMTU - overhead
		if mtu < 68 {
			return fmt.Errorf("underlay interface %s has MTU %d, too small for VXLAN (needs at least %d)", ifName, underlayMTU, 68+overhead)
		}
	}
	lo, hi, _ := parsePortRange(cfg.SrcPorts)

	bind, err := vtep.NewStdBind(vtep.Config{
		Local: local, SrcPortMin: lo, SrcPortMax: hi,
		NoGSO: !cfg.Offload, NoGRO: !cfg.Offload, PollerWait: cfg.Wait == WaitPoller, NoWait: cfg.Wait == WaitLoop,
		ZeroCopy: true, // the switch's receive loops hand the bind their buffers again on every call
		Logf:     func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return err
	}
	table := fdb.New(fdb.Config{Ageing: cfg.Ageing, MaxLearnedPerVNI: cfg.MaxLearned})
	swCfg := vswitch.DefaultConfig()
	swCfg.Port = cfg.Port
	swCfg.Strict = cfg.Strict
	swCfg.NoLearning = cfg.NoLearning
	// Age at least twice per ageing period, so that a learned entry lives
	// at most 1.5 × --ageing, not --ageing plus the default 5 s interval.
	swCfg.AgeInterval = min(swCfg.AgeInterval, max(cfg.Ageing/2, 100*time.Millisecond))
	swCfg.Logger = log
	swCfg.SingleLoop = cfg.Wait == WaitLoop
	swCfg.BusyPoll = cfg.BusyPoll
	swCfg.BusyPollFixed = cfg.BusyPollFixed
	swCfg.RTPriority = cfg.RTPriority
	swCfg.RTPriorityFixed = cfg.RTPriorityFixed
	swCfg.NoTAPGRO = !cfg.TAPGRO // PATCH /v1/settings changes it at run time
	swCfg.Gather = cfg.Gather
	gh := newGossipHook(cfg.GossipConfig, &swCfg)
	sw, err := vswitch.New(swCfg, bind, table)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sw.Close(); cerr != nil {
			log.Warn("closing the switch", "err", cerr)
		}
		log.Info("vxswitchd stopped")
	}()

	// addVNI serves a VNI and gives it the configured flood peers; Pod
	// ports and gateways join VNIs that no --tap named.
	addVNI := func(vni uint32) error {
		if err := sw.AddVNI(vni); err != nil {
			return err
		}
		for _, r := range cfg.Remotes {
			table.AddFlood(vni, netip.MustParseAddr(r).Unmap())
		}
		for _, r := range cfg.VNIRemotes[vni] {
			table.AddFlood(vni, netip.MustParseAddr(r).Unmap())
		}
		return nil
	}
	for _, t := range cfg.TAPs {
		if err := sw.AddVNI(t.VNI); err != nil {
			return err
		}
	}
	for vni := range cfg.VNIRemotes {
		if err := sw.AddVNI(vni); err != nil {
			return err
		}
	}
	for _, vni := range sw.VNIs() {
		for _, r := range cfg.Remotes {
			table.AddFlood(vni, netip.MustParseAddr(r).Unmap())
		}
		for _, r := range cfg.VNIRemotes[vni] {
			table.AddFlood(vni, netip.MustParseAddr(r).Unmap())
		}
	}

	// API socket before the TAPs: it fails fast when another daemon runs.
	ln, err := api.Listen(cfg.API)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.API)

	// The VTEP before the ports: a TAP comes up sending (IPv6 neighbour
	// and multicast listener messages) and the loop floods that to the
	// remotes at once, which fails (and is logged) while the bind is not
	// open. The VNIs are served already, so what arrives before the ports
	// are attached is switched as usual (learned, flooded to no port).
	if err := sw.Start(); err != nil {
		ln.Close()
		return err
	}
	log.Info("VTEP open", "local", local, "port", cfg.Port, "offloads", bind.Offload().String())

	// Every port the daemon creates (--tap, gateway, Pod) gets the same
	// device options.
	ports := PortOptions{Offload: cfg.Offload, TxQueueLen: cfg.TxQueueLen, PollerWait: cfg.Wait == WaitPoller, NoWait: cfg.Wait == WaitLoop}
	for _, t := range cfg.TAPs {
		mac := t.MAC
		if mac.IsZero() {
			mac = StableMAC(local, t.Name)
		}
		multi := cfg.TAPQueues > 1
		dev, err := tap.Create(ports.tapConfig(tap.Config{Name: t.Name, MTU: mtu, MAC: mac, Up: true, MultiQueue: multi}, log))
		if err != nil {
			ln.Close()
			return err
		}
		// Further queues: the same TAP opened again (IFF_MULTI_QUEUE); the
		// kernel spreads the flows it sends over them.
		var queues []tap.Device
		closeAll := func() {
			for _, q := range queues {
				q.Close()
			}
			dev.Close()
		}
		for range cfg.TAPQueues - 1 {
			q, err := tap.Create(ports.tapConfig(tap.Config{Name: t.Name, MultiQueue: true}, log))
			if err != nil {
				closeAll()
				ln.Close()
				return fmt.Errorf("--tap-queues %d: %w", cfg.TAPQueues, err)
			}
			queues = append(queues, q)
		}
		ports.tuneLink(dev, log)
		log.Info("TAP port up", "tap", t.Name, "vni", t.VNI, "mac", dev.HardwareAddr(), "mtu", dev.MTU(), "offloads", dev.Offloads().String(), "queues", 1+len(queues))
		if _, err := sw.AddPort(dev, vswitch.PortConfig{VNI: t.VNI, LocalMACs: []encap.MAC{dev.HardwareAddr()}, Queues: queues}); err != nil {
			closeAll()
			ln.Close()
			return err
		}
	}
	for _, s := range cfg.Gateways {
		g, _ := ParseGateway(s) // validated
		if err := setupGateway(sw, g, mtu, addVNI, ports, log); err != nil {
			ln.Close()
			return err
		}
		log.Info("gateway port up", "vni", g.VNI, "port", g.Name(), "addr", g.Prefix, "mac", GatewayMAC(g))
	}
	attacher := NewAttacher(sw, AttacherConfig{StatePath: StatePath(cfg.StateDir, cfg.API), MTU: mtu, AddVNI: addVNI, Logger: log, Ports: ports})
	readopted, err := attacher.Readopt()
	if err != nil {
		ln.Close()
		return err
	}

	srv := api.NewServer(sw, log)
	srv.SetInfo(api.Info{Version: Version, Local: local.String(), Port: cfg.Port, Started: time.Now()})
	attacher.Register(srv)
	srv.Handle("/v1/capture", api.CaptureHandler(sw.Capture(), log))
	if err := gh.start(local, cfg.Port, sw, srv, log); err != nil {
		ln.Close()
		return err
	}
	defer gh.stop(log)
	stopCapture, err := startCapture(sw, cfg.Capture, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopCapture()
	apiErr := make(chan error, 1)
	go func() { apiErr <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()

	var metricsErr chan error
	if cfg.Metrics != "" {
		mln, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			return fmt.Errorf("--metrics %s: %w", cfg.Metrics, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", gh.metrics(api.MetricsHandler(sw)))
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		metricsErr = make(chan error, 1)
		go func() { metricsErr <- msrv.Serve(mln) }()
		defer msrv.Close()
		log.Info("metrics listening", "addr", mln.Addr().String())
	}

	log.Info("vxswitchd running", "version", Version, "local", local, "port", cfg.Port,
		"underlay_if", ifName, "underlay_mtu", underlayMTU, "tap_mtu", mtu, "taps", len(cfg.TAPs),
		"vnis", sw.VNIs(), "api", cfg.API, "pod_ports_readopted", readopted)

	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", context.Cause(ctx))
		return nil
	case err := <-apiErr:
		return fmt.Errorf("management API: %w", err)
	case err := <-metricsErr:
		return fmt.Errorf("metrics: %w", err)
	}
}

// interfaceMTU finds the interface that carries addr and returns its MTU.
func interfaceMTU(addr netip.Addr) (int, string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, "", fmt.Errorf("list interfaces: %w", err)
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap() == addr {
				return ifc.MTU, ifc.Name, nil
			}
		}
	}
	return 0, "", fmt.Errorf("--local %s: no interface in this network namespace has that address (check `ip addr`)", addr)
}
