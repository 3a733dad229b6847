package daemon

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vxswitch/vxswitch/encap"
	vswitch "github.com/vxswitch/vxswitch/switch"
)

// DefaultAPISocket is where the management API listens unless --api says
// otherwise.
const DefaultAPISocket = "/run/vxswitch/vxswitchd.sock"

// TAPSpec is one access port to create: a TAP named Name on VNI.
type TAPSpec struct {
	Name string `yaml:"name" json:"name"`
	VNI  uint32 `yaml:"vni" json:"vni"`
	// MAC is the TAP's hardware address. The zero value means StableMAC:
	// derived from the underlay address and the name, so that a restarted
	// daemon gives its port the same MAC and the neighbours' ARP caches and
	// the peers' FDBs stay right.
	MAC encap.MAC `yaml:"mac" json:"mac"`
}

// StableMAC is the default MAC of the TAP called name on the host whose
// underlay address is local: a locally administered unicast address taken
// from a SHA-256 of both (like systemd's MACAddressPolicy=persistent). It is
// the same on every start, and differs between hosts and between ports.
func StableMAC(local netip.Addr, name string) encap.MAC {
	h := sha256.New()
	h.Write([]byte("vxswitch tap mac\x00"))
	b, _ := local.MarshalBinary()
	h.Write(b)
	h.Write([]byte{0})
	h.Write([]byte(name))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var m encap.MAC
	copy(m[:], sum[:6])
	m[0] = m[0]&^0x01 | 0x02 // unicast, locally administered
	return m
}

// Config is the daemon's whole configuration. Every field is a flag and a
// key of the YAML file given with --config (the key is the flag's name);
// flags given on the command line override the file.
type Config struct {
	Local      string              `yaml:"local"`      // underlay address to bind (required)
	Port       uint16              `yaml:"port"`       // VXLAN UDP port
	TAPs       []TAPSpec           `yaml:"-"`          // access ports to create ("tap" in the file: see loadFile)
	Remotes    []string            `yaml:"remote"`     // static flood peers for every VNI
	VNIRemotes map[uint32][]string `yaml:"vni-remote"` // static flood peers per VNI (file only)
	Ageing     time.Duration       `yaml:"ageing"`     // idle time before a learned entry expires
	MaxLearned int                 `yaml:"max-learned"`
	MTU        int                 `yaml:"mtu"` // TAP MTU; 0 = underlay MTU − 50 (IPv4) / − 70 (IPv6)
	API        string              `yaml:"api"`
	Metrics    string              `yaml:"metrics"`
	LogLevel   string              `yaml:"log-level"`
	LogFormat  string              `yaml:"log-format"`
	Strict     bool                `yaml:"strict"`
	NoLearning bool                `yaml:"no-learning"`
	SrcPorts   string              `yaml:"src-ports"` // outer UDP source port range "MIN-MAX"
	// Offload turns on TAP virtio-net offloads (TSO/USO, checksum) and UDP
	// GSO/GRO on the underlay sockets, each where the kernel accepts it.
	Offload bool `yaml:"offload"`
	// TAPGRO coalesces TCP segments into super-frames when writing to an
	// offload TAP ("GRO on write"); off works around kernels with bugs there.
	TAPGRO bool `yaml:"tap-gro"`
	// Gather sends the segments of a TSO super-frame read from an offload
	// TAP as their own headers followed by slices of the super-frame (two
	// iovecs per datagram), instead of copying each into a buffer of its
	// own (vswitch.Config.Gather). Off by default: slower on the lab rig.
	Gather bool `yaml:"gather"`
	// TxQueueLen is the TAPs' transmit queue length (frames queued for the
	// daemon to read before the kernel drops); 0 keeps the kernel's 500.
	TxQueueLen int `yaml:"txqueuelen"`
	// TAPQueues is the number of queues of each --tap TAP (IFF_MULTI_QUEUE
	// when above 1): the kernel spreads flows over them and each queue has
	// its own reader.
	TAPQueues int `yaml:"tap-queues"`
	// Wait is how the daemon waits for traffic: "loop" (the default: one
	// loop for every TAP queue and socket, waiting in one epoll set and
	// forwarding whatever is ready; fewest thread switches, and on the lab
	// rig the highest throughput and lowest latency), "thread" (a loop per
	// TAP queue and socket, each parks its own OS thread in ppoll(2); can
	// use more cores) or "poller" (those loops wait in the Go runtime's
	// network poller). See WaitLoop, WaitThread, WaitPoller.
	Wait string `yaml:"wait"`
	// BusyPoll, with --wait=loop, is how long at most the loop polls
	// without sleeping after it last found traffic before it waits
	// (yielding the CPU between polls): lower latency for request/response
	// traffic, at the cost of CPU time while traffic flows. The window
	// adapts to the traffic unless BusyPollFixed. 0 (the default) is off;
	// at most vswitch.MaxBusyPoll. See vswitch.Config.BusyPoll.
	BusyPoll time.Duration `yaml:"busy-poll"`
	// BusyPollFixed polls for all of BusyPoll after every piece of work
	// instead of an adaptive window of at most BusyPoll. See
	// vswitch.Config.BusyPollFixed.
	BusyPollFixed bool `yaml:"busy-poll-fixed"`
	// RTPriority, with --wait=loop, runs the forwarding loop's thread
	// under SCHED_FIFO at this priority (1-99) while the loop is behind;
	// 0 (the default) leaves it to the normal scheduler. See
	// vswitch.Config.RTPriority.
	RTPriority int `yaml:"rt-priority"`
	// RTPriorityFixed keeps the loop's thread real-time all the time. See
	// vswitch.Config.RTPriorityFixed.
	RTPriorityFixed bool `yaml:"rt-priority-fixed"`
	// StateDir holds the Pod-port state file (StatePath); "" means the
	// directory of the API socket (/run/vxswitch by default).
	StateDir string `yaml:"state-dir"`
	// Gateways are "VNI:CIDR" host-side gateway ports (ParseGateway).
	Gateways []string `yaml:"gateway"`
	// Capture is a rotating pcapng capture (file only; see CaptureConfig).
	Capture CaptureConfig `yaml:"capture"`
	// GossipConfig holds the gossip control plane's flags (gossip.go).
	GossipConfig `yaml:",inline"`
}

// DefaultConfig returns the defaults every flag documents.
func DefaultConfig() Config {
	return Config{
		Port:       encap.VXLANPort,   // IANA-assigned, RFC 7348 §5
		Ageing:     300 * time.Second, // the Linux vxlan driver's default ageing
		MaxLearned: 16384,             // per VNI; beyond it learning stops and a counter rises
		API:        DefaultAPISocket,
		LogLevel:   "info",
		LogFormat:  "text",
		SrcPorts:   "49152-65535", // RFC 7348 §5 recommends the dynamic range
		Offload:    true,
		TAPGRO:     true,
		TxQueueLen: 10000,
		Wait:       WaitLoop,
		TAPQueues:  1,
	}
}

// MaxTAPQueues is the largest --tap-queues (a reader thread per queue; the
// kernel allows 256).
const MaxTAPQueues = 64

// The values of Config.Wait (--wait).
const (
	WaitThread = "thread"
	WaitPoller = "poller"
	WaitLoop   = "loop"
)

// ErrHelp is returned by ParseArgs when -h/--help was given; the usage has
// been written.
var ErrHelp = flag.ErrHelp

const usageHeader = `vxswitchd: a userspace VXLAN switch (RFC 7348).

It creates TAP access ports, one VNI each, switches frames between them by
MAC, and carries frames for remote MACs as VXLAN over UDP to the VTEP behind
them: learned from traffic (flood-and-learn) or configured. Unknown and
broadcast frames are replicated to every flood peer (--remote) of the VNI.

Usage:
  vxswitchd --local ADDR --tap NAME:VNI [--tap NAME:VNI]... [--remote ADDR]... [flags]
  vxswitchd --config FILE [flags]

Example (two lab hosts, VNI 42):
  host A: vxswitchd --local 192.0.2.10 --tap vxtap0:42 --remote 192.0.2.11
  host B: vxswitchd --local 192.0.2.11 --tap vxtap0:42 --remote 192.0.2.10
  then:   ip addr add 198.18.0.1/24 dev vxtap0 (A), 198.18.0.2/24 (B), and ping.

Flags (each is also a key of the YAML --config file, e.g. "local: 192.0.2.10",
"tap: [vxtap0:42]", "remote: [192.0.2.11]", "vni-remote: {42: [192.0.2.11]}"):
`

type listFlag struct{ vals *[]string }

func (l listFlag) String() string {
	if l.vals == nil {
		return ""
	}
	return strings.Join(*l.vals, ",")
}
func (l listFlag) Set(s string) error { *l.vals = append(*l.vals, s); return nil }

// ParseArgs parses command-line args (without the program name) on top of
// the YAML file named by --config, if any, on top of DefaultConfig. It
// validates the result.
func ParseArgs(args []string, stderr io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("vxswitchd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHeader)
		fs.PrintDefaults()
	}
	var (
		configPath string
		taps       []string
		remotes    []string
		gateways   []string
		port       uint
		showVer    bool
	)
	fs.StringVar(&configPath, "config", "", "YAML `file` with any of these flags as keys; flags override it")
	fs.StringVar(&cfg.Local, "local", "", "underlay `address` (IPv4 or IPv6) to send and receive VXLAN on; must be configured on an interface (required)")
	fs.UintVar(&port, "port", uint(cfg.Port), "UDP `port` to listen on and send VXLAN to")
	fs.Var(listFlag{&taps}, "tap", "create TAP `NAME:VNI` and attach it as an access port of VNI (repeatable)")
	fs.Var(listFlag{&remotes}, "remote", "static flood peer `ADDR` for every configured VNI, e.g. a kernel vxlan host (repeatable)")
	fs.DurationVar(&cfg.Ageing, "ageing", cfg.Ageing, "idle `time` after which a learned FDB entry expires")
	fs.IntVar(&cfg.MaxLearned, "max-learned", cfg.MaxLearned, "cap on learned FDB entries per VNI (`N`; beyond it learning stops and drops.learn_cap counts)")
	fs.IntVar(&cfg.MTU, "mtu", 0, "TAP `MTU`; default: the underlay interface's MTU minus 50 (IPv4) or 70 (IPv6)")
	fs.StringVar(&cfg.API, "api", cfg.API, "unix socket `path` of the management API (vxctl)")
	fs.StringVar(&cfg.Metrics, "metrics", "", "serve Prometheus metrics over HTTP on `ADDR` (host:port; off when empty)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log `level`: debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log `format`: text or json")
	fs.BoolVar(&cfg.Strict, "strict", false, "drop VXLAN with reserved bits set (default: accept and count them, per RFC 7348)")
	fs.BoolVar(&cfg.NoLearning, "no-learning", false, "turn data-plane MAC learning off (static entries only)")
	fs.StringVar(&cfg.SrcPorts, "src-ports", cfg.SrcPorts, "outer UDP source port `MIN-MAX`, chosen per inner flow")
	fs.BoolVar(&cfg.Offload, "offload", cfg.Offload, "TAP offloads (TSO/USO, checksum) and UDP GSO/GRO on the underlay, where the kernel accepts them; --offload=false forces plain frames")
	fs.BoolVar(&cfg.TAPGRO, "tap-gro", cfg.TAPGRO, "coalesce received TCP segments into super-frames written to offload TAPs; --tap-gro=false if a kernel misbehaves (also at run time, without a restart: vxctl settings set --tap-gro off)")
	fs.BoolVar(&cfg.Gather, "gather", cfg.Gather, "send the segments of a TSO super-frame read from an offload TAP without copying their payload in userspace: the kernel gathers each UDP datagram from its headers and a slice of the super-frame. Off by default: on the lab rig the kernel's send path spent more than the copy saved (README, Gathered sends)")
	fs.IntVar(&cfg.TxQueueLen, "txqueuelen", cfg.TxQueueLen, "transmit queue length (`frames`) of the TAPs the daemon creates; 0 keeps the kernel default (500)")
	fs.IntVar(&cfg.TAPQueues, "tap-queues", cfg.TAPQueues, "`queues` per --tap TAP (IFF_MULTI_QUEUE above 1): the kernel spreads flows over them, so a bulk flow delays only the flows on its own queue; the one loop of --wait=loop serves them all in turn, --wait=thread or poller a loop each")
	fs.StringVar(&cfg.Wait, "wait", cfg.Wait, "how the daemon waits for traffic: `loop` (one loop waits for every TAP queue and socket in one epoll set and forwards what is ready: fewest thread switches, best throughput and latency on small hosts), thread (a loop per TAP queue and socket, each parks its own thread in ppoll; can use more cores) or poller (those loops wait in Go's network poller)")
	fs.DurationVar(&cfg.BusyPoll, "busy-poll", cfg.BusyPoll, "with --wait=loop: after traffic, poll without sleeping for up to `duration` (e.g. 200us, at most 1ms) before waiting, yielding the CPU between polls, so replies are forwarded without a thread wake-up: lower latency for request/response traffic, paid in CPU time. The window adapts (unless --busy-poll-fixed): it opens while traffic comes back within duration and shuts when it does not, so sparse traffic costs nothing; pick a duration longer than the time a reply takes to come back (README, Busy polling); 0 is off")
	fs.BoolVar(&cfg.BusyPollFixed, "busy-poll-fixed", cfg.BusyPollFixed, "poll for all of --busy-poll after every piece of work, instead of a window that adapts to the traffic (grows to --busy-poll while replies come back within it, shrinks to nothing when they do not)")
	fs.IntVar(&cfg.RTPriority, "rt-priority", cfg.RTPriority, "with --wait=loop: while the forwarding loop is behind (a full batch waited for it), run its thread under the SCHED_FIFO real-time policy at `priority` 1-99, so it forwards as soon as traffic arrives instead of waiting for a time slice behind busy applications (as the kernel's own data path runs in softirq); it falls back 1ms after it has caught up, so floods of small packets are still batched. On a loaded host much lower latency under load (README, Latency under load). Needs CAP_SYS_NICE; not with --busy-poll; 0 (the default) is the normal scheduler")
	fs.BoolVar(&cfg.RTPriorityFixed, "rt-priority-fixed", cfg.RTPriorityFixed, "keep the loop's thread real-time all the time, not only while it is behind: a little lower latency under load, but the loop then preempts a sender of small packets at every packet (on the lab rig 64-byte floods at 0.70 times the kernel's rate, against 1.45 while behind)")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "`dir`ectory of the Pod-port state file, re-read on start to re-adopt the CNI plugin's ports (default: the --api socket's directory)")
	fs.Var(listFlag{&gateways}, "gateway", "host-side gateway port `VNI:CIDR` (e.g. 100:198.18.100.1/24; repeatable): the node's address on the Pods' VNI, the same on every node")
	fs.BoolVar(&showVer, "version", false, "print the version and exit")
	registerGossipFlags(fs, &cfg.GossipConfig)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (flags start with --; see --help)", fs.Arg(0))
	}
	if showVer {
		return cfg, errVersion
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if configPath != "" {
		fileCfg, err := loadFile(configPath)
		if err != nil {
			return cfg, err
		}
		// Flags given on the command line win over the file.
		merged := fileCfg
		over := func(name string, apply func()) {
			if set[name] {
				apply()
			}
		}
		over("local", func() { merged.Local = cfg.Local })
		over("ageing", func() { merged.Ageing = cfg.Ageing })
		over("max-learned", func() { merged.MaxLearned = cfg.MaxLearned })
		over("mtu", func() { merged.MTU = cfg.MTU })
		over("api", func() { merged.API = cfg.API })
		over("metrics", func() { merged.Metrics = cfg.Metrics })
		over("log-level", func() { merged.LogLevel = cfg.LogLevel })
		over("log-format", func() { merged.LogFormat = cfg.LogFormat })
		over("strict", func() { merged.Strict = cfg.Strict })
		over("no-learning", func() { merged.NoLearning = cfg.NoLearning })
		over("src-ports", func() { merged.SrcPorts = cfg.SrcPorts })
		over("offload", func() { merged.Offload = cfg.Offload })
		over("tap-gro", func() { merged.TAPGRO = cfg.TAPGRO })
		over("gather", func() { merged.Gather = cfg.Gather })
		over("txqueuelen", func() { merged.TxQueueLen = cfg.TxQueueLen })
		over("wait", func() { merged.Wait = cfg.Wait })
		over("busy-poll", func() { merged.BusyPoll = cfg.BusyPoll })
		over("busy-poll-fixed", func() { merged.BusyPollFixed = cfg.BusyPollFixed })
		over("rt-priority", func() { merged.RTPriority = cfg.RTPriority })
		over("rt-priority-fixed", func() { merged.RTPriorityFixed = cfg.RTPriorityFixed })
		over("tap-queues", func() { merged.TAPQueues = cfg.TAPQueues })
		over("state-dir", func() { merged.StateDir = cfg.StateDir })
		mergeGossipFlags(set, &merged.GossipConfig, cfg.GossipConfig)
		cfg = merged
	}
	if set["port"] {
		if port == 0 || port > 65535 {
			return cfg, fmt.Errorf("--port %d: must be 1-65535", port)
		}
		cfg.Port = uint16(port)
	}
	if set["tap"] {
		cfg.TAPs = nil
		for _, s := range taps {
			t, err := parseTAPSpec(s)
			if err != nil {
				return cfg, err
			}
			cfg.TAPs = append(cfg.TAPs, t)
		}
	}
	if set["remote"] {
		cfg.Remotes = remotes
	}
	if set["gateway"] {
		cfg.Gateways = gateways
	}
	return cfg, cfg.Validate()
}

var errVersion = errors.New("version requested")

// loadFile reads a YAML config file over DefaultConfig. Unknown keys are
// errors, so a typo does not silently fall back to a default.
func loadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	var raw struct {
		Config `yaml:",inline"`
		TAPs   []yaml.Node `yaml:"tap"`
	}
	raw.Config = DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	cfg := raw.Config
	cfg.TAPs = nil
	for _, n := range raw.TAPs {
		var t TAPSpec
		switch n.Kind {
		case yaml.ScalarNode:
			var err error
			if t, err = parseTAPSpec(n.Value); err != nil {
				return Config{}, fmt.Errorf("config %s: line %d: %w", path, n.Line, err)
			}
		case yaml.MappingNode:
			// Node.Decode does not inherit KnownFields: reject typos here.
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Value != "name" && k.Value != "vni" && k.Value != "mac" {
					return Config{}, fmt.Errorf("config %s: line %d: tap: unknown key %q (want name, vni, mac)", path, k.Line, k.Value)
				}
			}
			if err := n.Decode(&t); err != nil {
				return Config{}, fmt.Errorf("config %s: line %d: %w", path, n.Line, err)
			}
		default:
			return Config{}, fmt.Errorf("config %s: line %d: tap entries are \"NAME:VNI\" or {name: NAME, vni: N}", path, n.Line)
		}
		cfg.TAPs = append(cfg.TAPs, t)
	}
	return cfg, nil
}

func parseTAPSpec(s string) (TAPSpec, error) {
	name, vniStr, ok := strings.Cut(s, ":")
	if !ok || name == "" || vniStr == "" {
		return TAPSpec{}, fmt.Errorf("--tap %q: want NAME:VNI, e.g. vxtap0:42", s)
	}
	vni, err := strconv.ParseUint(vniStr, 10, 32)
	if err != nil || vni > encap.MaxVNI {
		return TAPSpec{}, fmt.Errorf("--tap %q: VNI must be a number 0-%d", s, encap.MaxVNI)
	}
	return TAPSpec{Name: name, VNI: uint32(vni)}, nil
}

// Validate checks the configuration and explains the first problem found.
func (c *Config) Validate() error {
	if c.Local == "" {
		return errors.New("--local is required: the underlay address this host sends and receives VXLAN on (e.g. --local 192.0.2.10)")
	}
	local, err := netip.ParseAddr(c.Local)
	if err != nil {
		return fmt.Errorf("--local %q: not an IP address", c.Local)
	}
	if local.IsUnspecified() || local.IsMulticast() {
		return fmt.Errorf("--local %s: must be a unicast address configured on an interface", c.Local)
	}
	if c.Port == 0 {
		return errors.New("--port: must be 1-65535")
	}
	if err := c.GossipConfig.validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, t := range c.TAPs {
		if len(t.Name) == 0 || len(t.Name) > 15 || strings.ContainsAny(t.Name, "/ \t:") {
			return fmt.Errorf("--tap %s:%d: interface names are 1-15 characters without '/', ':' or spaces", t.Name, t.VNI)
		}
		if t.VNI > encap.MaxVNI {
			return fmt.Errorf("--tap %s:%d: VNI must be 0-%d", t.Name, t.VNI, encap.MaxVNI)
		}
		if !t.MAC.IsZero() && !t.MAC.IsUnicast() {
			return fmt.Errorf("tap %s: mac %s is a multicast address; a port needs a unicast MAC", t.Name, t.MAC)
		}
		if seen[t.Name] {
			return fmt.Errorf("--tap %s: given twice", t.Name)
		}
		seen[t.Name] = true
	}
	check := func(flagName, s string) error {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("%s %q: not an IP address", flagName, s)
		}
		a = a.Unmap()
		if a == local.Unmap() {
			return fmt.Errorf("%s %s: is this host's own --local address; a VTEP never floods to itself", flagName, s)
		}
		if a.Is4() != local.Unmap().Is4() {
			return fmt.Errorf("%s %s: address family differs from --local %s", flagName, s, c.Local)
		}
		if a.IsUnspecified() || a.IsMulticast() {
			return fmt.Errorf("%s %s: must be a unicast VTEP address", flagName, s)
		}
		return nil
	}
	for _, r := range c.Remotes {
		if err := check("--remote", r); err != nil {
			return err
		}
	}
	for vni, rs := range c.VNIRemotes {
		if vni > encap.MaxVNI {
			return fmt.Errorf("vni-remote: VNI %d out of range", vni)
		}
		for _, r := range rs {
			if err := check(fmt.Sprintf("vni-remote[%d]", vni), r); err != nil {
				return err
			}
		}
	}
	if c.Ageing <= 0 {
		return fmt.Errorf("--ageing %s: must be positive", c.Ageing)
	}
	if c.TxQueueLen < 0 {
		return fmt.Errorf("--txqueuelen %d: must be 0 (kernel default) or more", c.TxQueueLen)
	}
	if c.TAPQueues < 1 || c.TAPQueues > MaxTAPQueues {
		return fmt.Errorf("--tap-queues %d: must be 1-%d", c.TAPQueues, MaxTAPQueues)
	}
	if c.Wait != WaitThread && c.Wait != WaitPoller && c.Wait != WaitLoop {
		return fmt.Errorf("--wait %q: want %s, %s or %s", c.Wait, WaitThread, WaitPoller, WaitLoop)
	}
	if c.BusyPoll < 0 || c.BusyPoll > vswitch.MaxBusyPoll {
		return fmt.Errorf("--busy-poll %s: must be 0 (off) to %s", c.BusyPoll, vswitch.MaxBusyPoll)
	}
	if c.BusyPollFixed && c.BusyPoll == 0 {
		return errors.New("--busy-poll-fixed: needs --busy-poll (the window to poll for)")
	}
	if c.BusyPoll > 0 && c.Wait != WaitLoop {
		return fmt.Errorf("--busy-poll %s: needs --wait=%s (it is the single loop's; --wait is %s)", c.BusyPoll, WaitLoop, c.Wait)
	}
	if c.RTPriority < 0 || c.RTPriority > vswitch.MaxRTPriority {
		return fmt.Errorf("--rt-priority %d: must be 0 (off) or 1-%d", c.RTPriority, vswitch.MaxRTPriority)
	}
	if c.RTPriorityFixed && c.RTPriority == 0 {
		return errors.New("--rt-priority-fixed: needs --rt-priority (the priority)")
	}
	if c.RTPriority > 0 && c.Wait != WaitLoop {
		return fmt.Errorf("--rt-priority %d: needs --wait=%s (it is the single loop's thread; --wait is %s)", c.RTPriority, WaitLoop, c.Wait)
	}
	if c.RTPriority > 0 && c.BusyPoll > 0 {
		return errors.New("--rt-priority and --busy-poll exclude each other: a real-time loop that polls keeps normal threads, among them the applications whose replies it waits for, off its CPU")
	}
	if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65521) {
		return fmt.Errorf("--mtu %d: must be 68-65521", c.MTU)
	}
	if c.API == "" {
		return errors.New("--api: a unix socket path is required")
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	if _, _, err := parsePortRange(c.SrcPorts); err != nil {
		return err
	}
	gws := map[uint32]bool{}
	for _, s := range c.Gateways {
		g, err := ParseGateway(s)
		if err != nil {
			return err
		}
		if gws[g.VNI] {
			return fmt.Errorf("--gateway %s: VNI %d has a gateway already (one per VNI)", s, g.VNI)
		}
		gws[g.VNI] = true
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func parsePortRange(s string) (lo, hi uint16, err error) {
	a, b, ok := strings.Cut(s, "-")
	x, err1 := strconv.ParseUint(a, 10, 16)
	y, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil || x == 0 || x > y {
		return 0, 0, fmt.Errorf("--src-ports %q: want MIN-MAX with 1 <= MIN <= MAX <= 65535", s)
	}
	return uint16(x), uint16(y), nil
}
