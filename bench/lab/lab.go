package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vxswitch/vxswitch/internal/netns"
)

// ErrExists is returned by Up when a namespace of the lab already exists,
// usually left over by a lab that was not taken down. Nothing is touched;
// run Cleanup(name) (`vxlab down`) and try again.
var ErrExists = errors.New("lab: namespaces of this lab already exist")

// teardownTimeout bounds the ip commands Down runs.
const teardownTimeout = 30 * time.Second

// Lab is a set of hosts in network namespaces joined by a bridged underlay.
// Up, Down and Hosts are safe for concurrent use; Down may run while Up is
// still building (it waits for Up to finish, then removes everything).
type Lab struct {
	cfg   Config
	logf  func(format string, args ...any)
	ul    *netns.NS
	hosts []*Host

	mu      sync.Mutex // serializes Up and Down; protects the fields below
	up      bool       // Up was called (a lab is built at most once)
	created []*netns.NS
}

// New validates cfg, fills in defaults and plans the lab (names and
// addresses, visible through Hosts) without creating anything. The errors
// it returns wrap ErrInvalidConfig.
func New(cfg Config) (*Lab, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Lab{cfg: c, logf: c.Logf}
	if l.logf == nil {
		l.logf = func(string, ...any) {}
	}
	l.ul = &netns.NS{Name: c.Name + "-ul"}
	kernel := make(map[int]bool)
	for _, k := range c.KernelHosts {
		kernel[k] = true
	}
	for i := 0; i < c.Hosts; i++ {
		h := &Host{
			Index:    i,
			Name:     "h" + strconv.Itoa(i),
			NS:       &netns.NS{Name: c.Name + "-h" + strconv.Itoa(i)},
			Underlay: c.underlayAddr(i).Addr(),
			Overlay:  overlayAddr(i),
			Kernel:   kernel[i],
			Dev:      TAPDev,
			lab:      l,
		}
		if h.Kernel {
			h.Dev = KernelDev
		}
		l.hosts = append(l.hosts, h)
	}
	return l, nil
}

// Config returns the lab's configuration with defaults filled in.
func (l *Lab) Config() Config { return l.cfg }

// Hosts returns the lab's hosts in index order. The slice is a copy; the
// Hosts are shared and live as long as the Lab.
func (l *Lab) Hosts() []*Host { return append([]*Host(nil), l.hosts...) }

// UnderlayNS returns the namespace that holds the underlay bridge.
func (l *Lab) UnderlayNS() *netns.NS { return l.ul }

// Dir returns the directory holding logs and sockets; it is empty until
// Up has chosen it.
func (l *Lab) Dir() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg.Dir
}

// namespaces lists every namespace the lab creates, underlay last.
func (l *Lab) namespaces() []*netns.NS {
	var all []*netns.NS
	for _, h := range l.hosts {
		all = append(all, h.NS)
	}
	return append(all, l.ul)
}

// Up builds the lab: namespaces, the underlay bridge and veths, the kernel
// vxlan devices, and the vxswitchd daemons, waiting until every daemon's
// TAP exists and its API socket answers. ctx bounds the setup only; the
// daemons run until Down or StopDaemon. If any step fails, Up removes what
// it built and returns the error. Up fails with ErrExists, touching
// nothing, if any of the lab's namespaces already exists. A Lab is built
// at most once.
func (l *Lab) Up(ctx context.Context) (err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.up {
		return errors.New("lab: Up called twice")
	}
	l.up = true

	var existing []string
	for _, ns := range l.namespaces() {
		if _, err := os.Stat(ns.Path()); err == nil {
			existing = append(existing, ns.Name)
		}
	}
	if len(existing) > 0 {
		return fmt.Errorf("%w: %s; remove them with lab.Cleanup(%q) (`vxlab down --name %s`)",
			ErrExists, strings.Join(existing, ", "), l.cfg.Name, l.cfg.Name)
	}

	defer func() {
		if err != nil {
			l.logf("lab %s: setup failed, tearing down: %v", l.cfg.Name, err)
			if derr := l.down(); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()

	if l.cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "vxlab-"+l.cfg.Name+"-")
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		l.cfg.Dir = dir
	} else if err := os.MkdirAll(l.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	for _, h := range l.hosts {
		h.APISocket = filepath.Join(l.cfg.Dir, h.Name+".sock")
		h.LogPath = filepath.Join(l.cfg.Dir, h.Name+".log")
		if !h.Kernel && len(h.APISocket) >= 108 {
			return fmt.Errorf("lab: API socket path %s is too long for a unix socket; use a shorter Dir", h.APISocket)
		}
	}

	if err := l.create(l.ul); err != nil {
		return err
	}
	mtu := strconv.Itoa(l.cfg.UnderlayMTU)
	if err := l.run(ctx, l.ul, "ip", "link", "add", BridgeDev, "mtu", mtu, "type", "bridge", "mcast_snooping", "0"); err != nil {
		return err
	}
	if err := l.run(ctx, l.ul, "ip", "link", "set", BridgeDev, "up"); err != nil {
		return err
	}
	if err := l.ul.Do(bridgeNetfilterOff); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	for _, h := range l.hosts {
		if err := l.create(h.NS); err != nil {
			return err
		}
		if err := l.setupUnderlay(ctx, h); err != nil {
			return err
		}
	}
	for _, h := range l.hosts {
		if h.Kernel {
			if err := l.setupKernel(ctx, h); err != nil {
				return err
			}
		}
	}
	for _, h := range l.hosts {
		if !h.Kernel {
			if err := h.StartDaemon(ctx); err != nil {
				return err
			}
		}
	}
	l.logf("lab %s: up: %d hosts, VNI %d, logs in %s", l.cfg.Name, len(l.hosts), l.cfg.VNI, l.cfg.Dir)
	return nil
}

func (l *Lab) create(ns *netns.NS) error {
	l.logf("lab: create netns %s", ns.Name)
	if _, err := netns.Create(ns.Name); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	l.created = append(l.created, ns)
	return nil
}

// run runs an ip/bridge command inside ns.
func (l *Lab) run(ctx context.Context, ns *netns.NS, prog string, args ...string) error {
	l.logf("lab: [%s] %s %s", ns.Name, prog, strings.Join(args, " "))
	_, err := ns.Run(ctx, prog, args...)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// setupUnderlay links host h to the bridge and gives it its underlay
// address. The veth is created in the host namespace with its peer
// directly in the underlay namespace, so no device ever appears in the
// caller's namespace.
func (l *Lab) setupUnderlay(ctx context.Context, h *Host) error {
	mtu := strconv.Itoa(l.cfg.UnderlayMTU)
	peer := h.Name
	steps := []struct {
		ns   *netns.NS
		args []string
	}{
		{h.NS, []string{"link", "add", UnderlayDev, "mtu", mtu, "type", "veth", "peer", "name", peer, "mtu", mtu, "netns", l.ul.Name}},
		{l.ul, []string{"link", "set", peer, "master", BridgeDev}},
		{l.ul, []string{"link", "set", peer, "up"}},
		{h.NS, l.addrAddArgs(UnderlayDev, l.cfg.underlayAddr(h.Index).String())},
		{h.NS, []string{"link", "set", UnderlayDev, "up"}},
	}
	for _, s := range steps {
		if err := l.run(ctx, s.ns, "ip", s.args...); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) addrAddArgs(dev, prefix string) []string {
	args := []string{"addr", "add", prefix, "dev", dev}
	if l.cfg.IPv6 {
		args = append(args, "nodad") // no duplicate address detection delay
	}
	return args
}

// setupKernel creates the kernel vxlan device of host h, with head-end
// replication (an all-zeros FDB entry) to every other host and learning on.
func (l *Lab) setupKernel(ctx context.Context, h *Host) error {
	vni := strconv.FormatUint(uint64(l.cfg.VNI), 10)
	err := l.run(ctx, h.NS, "ip", "link", "add", KernelDev, "type", "vxlan", "id", vni,
		"dstport", strconv.Itoa(VXLANPort), "local", h.Underlay.String(), "dev", UnderlayDev)
	if err != nil {
		return fmt.Errorf("%w (is the vxlan kernel module available?)", err)
	}
	if err := l.run(ctx, h.NS, "ip", "link", "set", KernelDev, "mtu", strconv.Itoa(l.cfg.kernelMTU())); err != nil {
		return err
	}
	for _, o := range l.hosts {
		if o == h {
			continue
		}
		if err := l.run(ctx, h.NS, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", KernelDev, "dst", o.Underlay.String()); err != nil {
			return err
		}
	}
	if err := l.run(ctx, h.NS, "ip", "addr", "add", h.Overlay.String(), "dev", KernelDev); err != nil {
		return err
	}
	if err := l.run(ctx, h.NS, "ip", "link", "set", KernelDev, "up"); err != nil {
		return err
	}
	if l.hasDaemons() {
		// With transmit checksum offload on, the kernel's vxlan driver
		// leaves the inner TCP/UDP checksum for the NIC to fill in. A veth
		// never does: the packet reaches vxswitchd's UDP socket in the
		// next namespace with the inner checksum still partial and the
		// overlay host drops every TCP segment the kernel host sends. A
		// real NIC computes it; here the kernel host must do it in
		// software. Kernel-to-kernel hosts keep offloads (the benchmark).
		if err := h.NS.Do(func() error { return setTxChecksum(UnderlayDev, false) }); err != nil {
			return err
		}
		l.logf("[%s] ethtool -K %s tx off (inner checksums in software for the vxswitchd peers)", h.NS.Name, UnderlayDev)
	}
	return nil
}

// hasDaemons reports whether any host runs vxswitchd.
func (l *Lab) hasDaemons() bool {
	for _, h := range l.hosts {
		if !h.Kernel {
			return true
		}
	}
	return false
}

// Down stops the daemons (SIGTERM, then SIGKILL after a timeout), kills
// anything else still running in the lab's namespaces, deletes the
// namespaces Up created and removes the API sockets. It keeps the logs.
// Down is idempotent and safe to call on a lab that was never brought up.
func (l *Lab) Down() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down()
}

func (l *Lab) down() error {
	var errs []error
	for _, h := range l.hosts {
		if err := h.StopDaemon(syscall.SIGTERM); err != nil {
			errs = append(errs, err)
		}
		if h.APISocket != "" {
			if err := os.Remove(h.APISocket); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	// Hosts first: deleting a host namespace deletes its veth pair.
	var failed []*netns.NS
	for i := len(l.created) - 1; i >= 0; i-- {
		ns := l.created[i]
		if err := removeNS(ns, l.logf); err != nil {
			errs = append(errs, err)
			failed = append(failed, ns)
		}
	}
	l.created = failed
	return errors.Join(errs...)
}

// removeNS kills every process left in ns and deletes it.
func removeNS(ns *netns.NS, logf func(string, ...any)) error {
	if _, err := os.Stat(ns.Path()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
	defer cancel()
	if err := killAll(ctx, ns, logf); err != nil {
		return err
	}
	logf("lab: delete netns %s", ns.Name)
	if err := ns.Delete(); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// killAll sends SIGKILL to every process in ns (`ip netns pids`) and waits
// for them to go, so that deleting the namespace leaves nothing behind.
func killAll(ctx context.Context, ns *netns.NS, logf func(string, ...any)) error {
	for {
		out, err := exec0(ctx, "ip", "netns", "pids", ns.Name)
		if err != nil {
			return fmt.Errorf("lab: list processes in %s: %w", ns.Name, err)
		}
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			return nil
		}
		for _, p := range pids {
			pid, err := strconv.Atoi(p)
			if err != nil || pid <= 1 || pid == os.Getpid() {
				continue
			}
			logf("lab: kill -9 %d in %s", pid, ns.Name)
			killPID(pid)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: processes %v in %s did not exit: %w", pids, ns.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// exec0 runs a command in the caller's namespace and returns its stdout.
func exec0(ctx context.Context, prog string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, prog, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out, fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return out, fmt.Errorf("%s %s: %w", prog, strings.Join(args, " "), err)
	}
	return out, nil
}

// nsPattern matches the namespaces a lab called name creates.
func nsPattern(name string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `-(ul|h[0-9]+)$`)
}

// Cleanup removes the leftovers of a lab called name: it kills every
// process in, and deletes, each namespace <name>-ul and <name>-h<i>. It
// does not touch namespaces of other labs or the lab's log directory.
// Cleaning up a lab that does not exist is not an error.
func Cleanup(name string) error {
	if !validName(name) {
		return fmt.Errorf("%w: name %q", ErrInvalidConfig, name)
	}
	ents, err := os.ReadDir(netns.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lab: cleanup %s: %w", name, err)
	}
	re := nsPattern(name)
	var hosts []*netns.NS
	var ul *netns.NS
	for _, e := range ents {
		if !re.MatchString(e.Name()) {
			continue
		}
		if e.Name() == name+"-ul" {
			ul = &netns.NS{Name: e.Name()}
		} else {
			hosts = append(hosts, &netns.NS{Name: e.Name()})
		}
	}
	if ul != nil {
		hosts = append(hosts, ul)
	}
	var errs []error
	for _, ns := range hosts {
		errs = append(errs, removeNS(ns, func(string, ...any) {}))
	}
	return errors.Join(errs...)
}

// bridgeNetfilterOff stops the underlay bridge from passing frames through
// iptables, ip6tables and arptables. With br_netfilter loaded (container
// hosts load it) every bridged datagram otherwise pays a netfilter walk
// that is part of neither data path under test: on the lab machines it was
// 4 % of all CPU in a TCP benchmark. The sysctls are per network namespace
// (Linux 5.3), so this touches only the lab's underlay namespace; without
// br_netfilter the files do not exist and there is nothing to do. It must
// run inside that namespace.
func bridgeNetfilterOff() error {
	for _, f := range []string{"bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables"} {
		p := "/proc/sys/net/bridge/" + f
		if err := os.WriteFile(p, []byte("0\n"), 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("turn off %s: %w", f, err)
		}
	}
	return nil
}
