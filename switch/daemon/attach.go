package daemon

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/internal/netns"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/tap"
	"github.com/vxswitch/vxswitch/vtep"
)

// AttacherConfig configures an Attacher.
type AttacherConfig struct {
	// StatePath is the JSON file the attachments are recorded in (see
	// StatePath); required.
	StatePath string
	// MTU is the MTU of a Pod port whose request leaves it 0.
	MTU int
	// AddVNI makes the switch serve a VNI and installs its flood peers. It
	// is called before a port joins a VNI; nil means Switch.AddVNI only.
	AddVNI func(vni uint32) error
	// Logger receives one line per attach, detach and re-adoption; nil
	// discards.
	Logger *slog.Logger
	// Ports are the device options of every Pod port (offloads, transmit
	// queue length), the same as the daemon's own TAPs. Coalescing on
	// write is the switch's (vswitch.Config.NoTAPGRO), applied as a port
	// is attached.
	Ports PortOptions
}

// PortOptions are the TAP device options the daemon gives every port it
// creates: --tap TAPs, Pod ports and gateway ports alike.
type PortOptions struct {
	// Offload opens the TAP with a virtio-net header and TSO/USO/checksum
	// offloads (--offload).
	Offload bool
	// TxQueueLen, if positive, is set as the TAP's transmit queue length
	// (--txqueuelen).
	TxQueueLen int
	// PollerWait makes the port's reader wait in the runtime poller
	// (--wait=poller; tap.Config.PollerWait).
	PollerWait bool
	// NoWait opens the TAP for the switch's single loop (--wait=loop;
	// tap.Config.NoWait): its Read never waits, the loop polls it.
	NoWait bool
}

// tapConfig returns c with these options' offload settings and a Logf
// that logs the offload fallback for the port.
func (o PortOptions) tapConfig(c tap.Config, log *slog.Logger) tap.Config {
	c.Offload, c.PollerWait, c.NoWait = o.Offload, o.PollerWait, o.NoWait
	name := c.Name
	c.Logf = func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...), "tap", name) }
	return c
}

// tuneLink sets the link options of a TAP the daemon created or
// re-opened, in the calling thread's network namespace (the TAP's): the
// transmit queue length (TxQueueLen) and, on a TAP with TCP or UDP
// segmentation offload, its gso_max_segs to vtep.SegmentsPerSend of its
// MTU, so that each super-frame the kernel hands over leaves in one
// UDP_SEGMENT send. Either failure only costs burst tolerance or
// throughput, so it is logged, not returned.
func (o PortOptions) tuneLink(t *tap.TAP, log *slog.Logger) {
	name := t.Name()
	if o.TxQueueLen > 0 {
		if err := tap.LinkSetTxQueueLen(name, o.TxQueueLen); err != nil {
			log.Warn("cannot set the TAP's transmit queue length", "tap", name, "err", err)
		}
	}
	if off := t.Offloads(); off.TSO4 || off.TSO6 || off.USO {
		if err := tap.LinkSetGSOMaxSegments(name, vtep.SegmentsPerSend(t.MTU())); err != nil {
			log.Warn("cannot cap the TAP's super-frames at one UDP send (throughput only)", "tap", name, "err", err)
		}
	}
}

// Attacher owns the Pod ports of the CNI plugin: persistent TAP devices
// that live in the Pods' network namespaces and are attached to the switch.
// It implements api.AttachmentService. Its methods are safe for concurrent
// use; one mutex serializes every change and the state file.
//
// A Pod port is created directly inside the Pod's namespace under its
// final name (CNI_IFNAME): the daemon enters the namespace on a locked OS
// thread, opens /dev/net/tun there and creates the TAP with TUNSETIFF, so
// there is no move or rename step to undo. The descriptor keeps working
// from any thread. The switch knows the port by a node-unique name
// (PortName), since every Pod has an "eth0".
type Attacher struct {
	sw  *vswitch.Switch
	cfg AttacherConfig
	log *slog.Logger

	mu    sync.Mutex                 // protects atts and the state file
	atts  map[attKey]*api.Attachment // by (container ID, ifname)
	clock func() time.Time
}

type attKey struct{ cid, ifname string }

var _ api.AttachmentService = (*Attacher)(nil)

// NewAttacher returns an Attacher for sw. It reads no state: call Readopt.
func NewAttacher(sw *vswitch.Switch, cfg AttacherConfig) *Attacher {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.AddVNI == nil {
		cfg.AddVNI = sw.AddVNI
	}
	return &Attacher{sw: sw, cfg: cfg, log: log, atts: map[attKey]*api.Attachment{}, clock: time.Now}
}

// Register mounts the attachment endpoints on srv.
func (a *Attacher) Register(srv *api.Server) {
	h := api.AttachmentsHandler(a)
	srv.Handle("/v1/attachments", h)
	srv.Handle("/v1/attachments/", h)
}

// PortName is the switch's name for the Pod port of (containerID, ifname):
// "vx" and 13 hex digits of a SHA-256 of both, 15 bytes like a Linux
// interface name.
func PortName(containerID, ifname string) string {
	sum := sha256.Sum256([]byte(containerID + "\x00" + ifname))
	return "vx" + hex.EncodeToString(sum[:])[:13]
}

// PodMAC is the default MAC of the Pod port of (containerID, ifname): a
// locally administered unicast address from a SHA-256 of both, so a CNI
// ADD retried for the same Pod gets the same address.
func PodMAC(containerID, ifname string) encap.MAC {
	sum := sha256.Sum256([]byte("vxswitch pod mac\x00" + containerID + "\x00" + ifname))
	var m encap.MAC
	copy(m[:], sum[:6])
	m[0] = m[0]&^0x01 | 0x02
	return m
}

// podDevice is a Pod's TAP as the switch sees it: named by PortName, not
// by the interface name inside the Pod.
type podDevice struct {
	*tap.TAP
	port string
}

func (d *podDevice) Name() string       { return d.port }
func (d *podDevice) Unwrap() tap.Device { return d.TAP }

// inNetns runs fn on a locked OS thread inside the network namespace whose
// file is path (e.g. /var/run/netns/cni-…, /proc/PID/ns/net).
func inNetns(path string, fn func() error) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNetns, path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("%w: %s: %v", api.ErrNetnsNotFound, path, err)
	}
	// netns.NS names a namespace relative to netns.Dir; a relative path
	// reaches any namespace file.
	rel, err := filepath.Rel(netns.Dir, abs)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNetns, path, err)
	}
	return (&netns.NS{Name: rel}).Do(fn)
}

// ErrNetns wraps failures to enter a Pod's network namespace.
var ErrNetns = errors.New("enter network namespace")

func validIfName(s string) bool {
	return s != "" && len(s) <= tap.MaxNameLen && s != "." && s != ".." &&
		!strings.ContainsAny(s, "/: \t\n\r\v\f\x00")
}

func (a *Attacher) validate(req *api.AttachRequest) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", api.ErrInvalidAttachment, fmt.Sprintf(format, args...))
	}
	switch {
	case req.ContainerID == "" || len(req.ContainerID) > 512 || strings.ContainsAny(req.ContainerID, "/\x00"):
		return bad("container_id %q: want 1-512 characters without '/'", req.ContainerID)
	case !validIfName(req.IfName):
		return bad("ifname %q: interface names are 1-15 characters without '/', ':' or spaces", req.IfName)
	case !filepath.IsAbs(req.Netns):
		return bad("netns %q: want an absolute path to a network namespace file", req.Netns)
	case req.VNI > encap.MaxVNI:
		return bad("vni %d: a VNI is 24 bits (0-%d)", req.VNI, encap.MaxVNI)
	case !req.MAC.IsZero() && !req.MAC.IsUnicast():
		return bad("mac %s: a port needs a unicast MAC", req.MAC)
	case req.MTU != 0 && (req.MTU < 68 || req.MTU > 65521):
		return bad("mtu %d: want 68-65521", req.MTU)
	}
	return nil
}

// Attach creates the Pod port req asks for: the TAP inside req.Netns with
// MAC, MTU and IFF_UP, attached to the switch on req.VNI, recorded in the
// state file. Each step is undone if a later one fails. Asking again for
// an attachment that exists with the same netns and VNI returns it.
func (a *Attacher) Attach(_ context.Context, req api.AttachRequest) (api.Attachment, error) {
	if err := a.validate(&req); err != nil {
		return api.Attachment{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k := attKey{req.ContainerID, req.IfName}
	if old, ok := a.atts[k]; ok {
		if old.Netns == req.Netns && old.VNI == req.VNI && (req.MAC.IsZero() || req.MAC == old.MAC) && old.Attached {
			return *old, nil
		}
		return api.Attachment{}, fmt.Errorf("%w: %s/%s is attached to VNI %d in %s; DEL it first",
			api.ErrAttachmentExists, req.ContainerID, req.IfName, old.VNI, old.Netns)
	}
	att := api.Attachment{
		ContainerID: req.ContainerID, IfName: req.IfName, Netns: req.Netns, Network: req.Network,
		VNI: req.VNI, Port: PortName(req.ContainerID, req.IfName), MAC: req.MAC, MTU: req.MTU,
		Created: a.clock().UTC().Truncate(time.Second),
	}
	if att.MAC.IsZero() {
		att.MAC = PodMAC(req.ContainerID, req.IfName)
	}
	if att.MTU == 0 {
		att.MTU = a.cfg.MTU
	}
	if err := a.cfg.AddVNI(att.VNI); err != nil {
		return api.Attachment{}, err
	}
	var t *tap.TAP
	err := inNetns(att.Netns, func() error {
		if _, err := net.InterfaceByName(att.IfName); err == nil {
			return fmt.Errorf("%w: interface %s already exists in %s", api.ErrAttachmentExists, att.IfName, att.Netns)
		}
		var err error
		t, err = tap.Create(a.cfg.Ports.tapConfig(tap.Config{Name: att.IfName, MTU: att.MTU, MAC: att.MAC, Up: true, Persist: true}, a.log))
		if err == nil {
			a.cfg.Ports.tuneLink(t, a.log)
		}
		return err
	})
	if err != nil {
		return api.Attachment{}, err
	}
	att.MTU = t.MTU()
	if _, err := a.sw.AddPort(&podDevice{TAP: t, port: att.Port}, vswitch.PortConfig{VNI: att.VNI, LocalMACs: []encap.MAC{att.MAC}}); err != nil {
		t.Close()
		a.deleteTAP(&att)
		return api.Attachment{}, err
	}
	att.Attached = true
	a.atts[k] = &att
	if err := a.saveLocked(); err != nil {
		delete(a.atts, k)
		a.sw.RemovePort(att.Port)
		a.deleteTAP(&att)
		return api.Attachment{}, err
	}
	a.log.Info("pod port attached", "container", att.ContainerID, "ifname", att.IfName, "netns", att.Netns,
		"vni", att.VNI, "port", att.Port, "mac", att.MAC, "mtu", att.MTU, "offloads", t.Offloads().String())
	return att, nil
}

// deleteTAP removes the persistent TAP of att from its netns, if the link
// there still is ours (same MAC). A vanished netns took the TAP with it.
func (a *Attacher) deleteTAP(att *api.Attachment) error {
	err := inNetns(att.Netns, func() error {
		ifc, err := net.InterfaceByName(att.IfName)
		if err != nil {
			return nil // gone already
		}
		if !slices.Equal(ifc.HardwareAddr, att.MAC[:]) {
			a.log.Warn("not deleting pod interface: its MAC changed, it is not ours", "netns", att.Netns, "ifname", att.IfName,
				"mac", ifc.HardwareAddr.String(), "want", att.MAC)
			return nil
		}
		return tap.Delete(att.IfName)
	})
	if errors.Is(err, api.ErrNetnsNotFound) {
		return nil
	}
	return err
}

// Detach removes the Pod port of (containerID, ifname): detaches it from
// the switch (which drops its FDB entries), deletes the TAP from the
// Pod's netns and forgets it. An unknown attachment is not an error.
func (a *Attacher) Detach(_ context.Context, containerID, ifname string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := attKey{containerID, ifname}
	att, ok := a.atts[k]
	if !ok {
		return nil
	}
	if err := a.sw.RemovePort(att.Port); err != nil && !errors.Is(err, vswitch.ErrNoPort) {
		a.log.Warn("detach: closing the port", "port", att.Port, "err", err)
	}
	if err := a.deleteTAP(att); err != nil {
		return fmt.Errorf("detach %s/%s: delete %s in %s: %w", containerID, ifname, att.IfName, att.Netns, err)
	}
	delete(a.atts, k)
	if err := a.saveLocked(); err != nil {
		return err
	}
	a.log.Info("pod port detached", "container", containerID, "ifname", ifname, "port", att.Port)
	return nil
}

// Attachments lists the Pod ports ordered by container ID and ifname.
func (a *Attacher) Attachments() []api.Attachment {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.listLocked()
}

func (a *Attacher) listLocked() []api.Attachment {
	out := make([]api.Attachment, 0, len(a.atts))
	for _, att := range a.atts {
		out = append(out, *att)
	}
	slices.SortFunc(out, func(x, y api.Attachment) int {
		return cmp.Or(cmp.Compare(x.ContainerID, y.ContainerID), cmp.Compare(x.IfName, y.IfName))
	})
	return out
}

func (a *Attacher) saveLocked() error {
	return SaveState(a.cfg.StatePath, State{Attachments: a.listLocked()})
}

// Readopt loads the state file and re-attaches every recorded Pod port:
// it enters the Pod's netns, opens the persistent TAP by name and attaches
// it to the switch, so traffic resumes without the Pods noticing more than
// a gap. Attachments whose netns is gone are dropped; those that cannot be
// re-attached are kept as Attached=false for DEL or GC to remove. It
// returns how many ports were re-adopted; only an unreadable state file is
// an error.
func (a *Attacher) Readopt() (int, error) {
	st, err := LoadState(a.cfg.StatePath)
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, rec := range st.Attachments {
		att := rec
		att.Attached = false
		k := attKey{att.ContainerID, att.IfName}
		err := a.readoptOne(&att)
		switch {
		case errors.Is(err, api.ErrNetnsNotFound):
			a.log.Info("pod port dropped: its netns is gone", "container", att.ContainerID, "ifname", att.IfName, "netns", att.Netns)
			continue
		case err != nil:
			a.log.Warn("pod port not re-adopted; DEL or GC will remove it", "container", att.ContainerID,
				"ifname", att.IfName, "netns", att.Netns, "err", err)
		default:
			att.Attached = true
			n++
			a.log.Info("pod port re-adopted", "container", att.ContainerID, "ifname", att.IfName, "port", att.Port, "vni", att.VNI)
		}
		a.atts[k] = &att
	}
	return n, a.saveLocked()
}

func (a *Attacher) readoptOne(att *api.Attachment) error {
	if err := a.cfg.AddVNI(att.VNI); err != nil {
		return err
	}
	var t *tap.TAP
	err := inNetns(att.Netns, func() error {
		ifc, err := net.InterfaceByName(att.IfName)
		if err != nil {
			return fmt.Errorf("interface %s: %w", att.IfName, err)
		}
		if !slices.Equal(ifc.HardwareAddr, att.MAC[:]) {
			return fmt.Errorf("interface %s has MAC %s, recorded %s: not ours", att.IfName, ifc.HardwareAddr, att.MAC)
		}
		// Re-opening a persistent TAP sets its flags (the virtio-net
		// header) and offloads afresh; MTU, MAC and state stay as they are.
		t, err = tap.Create(a.cfg.Ports.tapConfig(tap.Config{Name: att.IfName, Persist: true}, a.log))
		if err == nil {
			a.cfg.Ports.tuneLink(t, a.log)
		}
		return err
	})
	if err != nil {
		return err
	}
	if _, err := a.sw.AddPort(&podDevice{TAP: t, port: att.Port}, vswitch.PortConfig{VNI: att.VNI, LocalMACs: []encap.MAC{att.MAC}}); err != nil {
		t.Close()
		return err
	}
	return nil
}

// Gateway is a node's host-side port on a VNI carrying the Pods' gateway
// address (--gateway VNI:CIDR). Every node may use the same address: the
// MAC is derived from VNI and address (GatewayMAC), so it is the same on
// every node too, and the switch holds it as a local port address, so
// frames to it are answered on the node and never cross the underlay (a
// distributed gateway).
type Gateway struct {
	VNI    uint32
	Prefix netip.Prefix // the gateway address and the Pod subnet, e.g. 198.18.0.1/24
}

// ParseGateway parses "VNI:CIDR", e.g. "100:198.18.100.1/24".
func ParseGateway(s string) (Gateway, error) {
	v, p, ok := strings.Cut(s, ":")
	vni, err := strconv.ParseUint(v, 10, 32)
	if !ok || err != nil || vni > encap.MaxVNI {
		return Gateway{}, fmt.Errorf("--gateway %q: want VNI:CIDR with VNI 0-%d, e.g. 100:198.18.100.1/24", s, encap.MaxVNI)
	}
	prefix, err := netip.ParsePrefix(p)
	if err != nil {
		return Gateway{}, fmt.Errorf("--gateway %q: %q is not an address with prefix length (e.g. 198.18.100.1/24)", s, p)
	}
	if prefix.Addr() == prefix.Masked().Addr() {
		return Gateway{}, fmt.Errorf("--gateway %q: %s is the network address; give the gateway's own address, e.g. %s",
			s, prefix.Addr(), prefix.Addr().Next())
	}
	return Gateway{VNI: uint32(vni), Prefix: prefix}, nil
}

// Name is the gateway TAP's name: "vxgw" and the VNI.
func (g Gateway) Name() string { return "vxgw" + strconv.FormatUint(uint64(g.VNI), 10) }

// GatewayMAC is the gateway's MAC on every node: a locally administered
// unicast address from a SHA-256 of the VNI and the address.
func GatewayMAC(g Gateway) encap.MAC {
	sum := sha256.Sum256([]byte("vxswitch gateway mac\x00" + strconv.FormatUint(uint64(g.VNI), 10) + "\x00" + g.Prefix.String()))
	var m encap.MAC
	copy(m[:], sum[:6])
	m[0] = m[0]&^0x01 | 0x02
	return m
}

// setupGateway creates (or, after a restart, re-opens) the persistent
// gateway TAP, gives it its address and attaches it to the switch.
func setupGateway(sw *vswitch.Switch, g Gateway, mtu int, addVNI func(uint32) error, opts PortOptions, log *slog.Logger) error {
	if err := addVNI(g.VNI); err != nil {
		return err
	}
	mac := GatewayMAC(g)
	t, err := tap.Create(opts.tapConfig(tap.Config{Name: g.Name(), MTU: mtu, MAC: mac, Up: true, Persist: true}, log))
	if err != nil {
		return fmt.Errorf("gateway %d:%s: %w", g.VNI, g.Prefix, err)
	}
	opts.tuneLink(t, log)
	if out, err := exec.Command("ip", "addr", "replace", g.Prefix.String(), "dev", g.Name()).CombinedOutput(); err != nil {
		t.Close()
		tap.Delete(g.Name())
		return fmt.Errorf("gateway %d:%s: ip addr replace: %v: %s", g.VNI, g.Prefix, err, strings.TrimSpace(string(out)))
	}
	if _, err := sw.AddPort(t, vswitch.PortConfig{VNI: g.VNI, LocalMACs: []encap.MAC{mac}}); err != nil {
		t.Close()
		tap.Delete(g.Name())
		return err
	}
	return nil
}
