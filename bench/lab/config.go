package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vxswitch/vxswitch/encap"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultName        = "vxlab"
	DefaultHosts       = 3
	DefaultVNI         = 42
	DefaultUnderlayMTU = 1500
)

// Names of the devices the lab creates.
const (
	// UnderlayDev is the host side of each host's veth pair.
	UnderlayDev = "ul0"
	// BridgeDev is the bridge in the underlay namespace.
	BridgeDev = "br0"
	// TAPDev is the TAP device vxswitchd creates on a vxswitchd host.
	TAPDev = "vxtap0"
	// KernelDev is the kernel vxlan device on a kernel host.
	KernelDev = "vx42"
	// VXLANPort is the UDP port every host uses (IANA, RFC 7348 §5).
	VXLANPort = 4789
)

// maxHosts keeps 10+i and 1+i inside one octet and the lab small.
const maxHosts = 200

// ErrInvalidConfig is wrapped by every error New returns for a bad Config.
var ErrInvalidConfig = errors.New("lab: invalid config")

// Config describes a lab. The zero value of each field means its default;
// New copies the Config, so the caller may reuse it.
type Config struct {
	// Name is the lab name and namespace prefix: the namespaces are
	// <Name>-h<i> and <Name>-ul. Letters, digits, '_' and '-' only, at
	// most 32 bytes. Default "vxlab".
	Name string
	// Hosts is the number of hosts, 1 to 200. Default 3.
	Hosts int
	// KernelHosts lists the indexes of hosts that run the kernel's vxlan
	// driver instead of vxswitchd.
	KernelHosts []int
	// IPv6 puts the underlay on 2001:db8::/64 instead of 192.0.2.0/24.
	IPv6 bool
	// VNI is the one VXLAN network every host joins, below 2^24.
	// Default 42.
	VNI uint32
	// UnderlayMTU is the MTU of the veths and the bridge. Default 1500;
	// at least 1280 with IPv6 and 576 with IPv4, at most 65535.
	UnderlayMTU int
	// DaemonCmd is the argv prefix that starts vxswitchd, e.g.
	// {"/tmp/x/vxswitchd"} or {os.Args[0], "daemon"}. Required unless
	// every host is a kernel host.
	DaemonCmd []string
	// ExtraArgs are appended to every vxswitchd command line.
	ExtraArgs []string
	// NoRemotes omits the --remote flags, for control planes that find
	// the other hosts themselves (gossip).
	NoRemotes bool
	// Dir receives the daemons' logs and API sockets. Empty means a new
	// directory from os.MkdirTemp, created by Up. Down removes the sockets
	// but keeps Dir and the logs.
	Dir string
	// Detach starts the daemons in their own session (setsid) and without
	// a parent-death signal, so they outlive the process that called Up
	// (`vxlab up`). Down, StopDaemon and Cleanup still stop them. By
	// default a daemon is killed when the process that started it dies.
	Detach bool
	// Logf, if not nil, receives a line per setup and teardown step. It
	// may be called from several goroutines at once.
	Logf func(format string, args ...any)
}

// withDefaults returns a copy of c with defaults filled in and validated.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Hosts == 0 {
		c.Hosts = DefaultHosts
	}
	if c.VNI == 0 {
		c.VNI = DefaultVNI
	}
	if c.UnderlayMTU == 0 {
		c.UnderlayMTU = DefaultUnderlayMTU
	}
	c.KernelHosts = append([]int(nil), c.KernelHosts...)
	c.DaemonCmd = append([]string(nil), c.DaemonCmd...)
	c.ExtraArgs = append([]string(nil), c.ExtraArgs...)
	return c, c.validate()
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if !validName(c.Name) {
		return bad("name %q: want 1 to 32 letters, digits, '_' or '-'", c.Name)
	}
	if c.Hosts < 1 || c.Hosts > maxHosts {
		return bad("hosts %d: want 1 to %d", c.Hosts, maxHosts)
	}
	seen := make(map[int]bool)
	for _, k := range c.KernelHosts {
		if k < 0 || k >= c.Hosts {
			return bad("kernel host %d: want an index from 0 to %d", k, c.Hosts-1)
		}
		if seen[k] {
			return bad("kernel host %d listed twice", k)
		}
		seen[k] = true
	}
	if c.VNI >= 1<<24 {
		return bad("VNI %d: want below 2^24 (RFC 7348 §5)", c.VNI)
	}
	minMTU := 576
	if c.IPv6 {
		minMTU = 1280 // RFC 8200 §5
	}
	if c.UnderlayMTU < minMTU || c.UnderlayMTU > 65535 {
		return bad("underlay MTU %d: want %d to 65535", c.UnderlayMTU, minMTU)
	}
	if len(seen) < c.Hosts && (len(c.DaemonCmd) == 0 || c.DaemonCmd[0] == "") {
		return bad("DaemonCmd is empty but %d host(s) run vxswitchd", c.Hosts-len(seen))
	}
	if c.Dir != "" && strings.ContainsRune(c.Dir, 0) {
		return bad("dir %q", c.Dir)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// underlayAddr is host i's underlay address, with its prefix length.
func (c *Config) underlayAddr(i int) netip.Prefix {
	if c.IPv6 {
		a := netip.MustParseAddr("2001:db8::").As16()
		a[15] = byte(10 + i)
		return netip.PrefixFrom(netip.AddrFrom16(a), 64)
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), 24)
}

// overlayAddr is host i's overlay address on the shared /24.
func overlayAddr(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(1 + i)}), 24)
}

// kernelMTU is the MTU of a kernel host's vxlan device: the underlay MTU
// less the outer headers (the Architecture's 50 or 70 bytes).
func (c *Config) kernelMTU() int {
	if c.IPv6 {
		return c.UnderlayMTU - encap.OverheadIPv6
	}
	return c.UnderlayMTU - encap.OverheadIPv4
}
