package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/switch/daemon"
)

// DefaultRoot is where vxlab keeps each lab's directory (<root>/<name>:
// daemon logs, API sockets and state.json).
const DefaultRoot = "/run/vxlab"

// daemonArg, as the first argument, makes vxlab run vxswitchd instead
// (the lab's DaemonCmd is {os.Executable(), "daemon"}).
const daemonArg = "daemon"

const usage = `vxlab — a vxswitch lab in network namespaces, in one command.

Usage:
  vxlab [run] [flags]   build the lab, ping every pair, print the results and
                        each host's FDB, tear the lab down (the default)
  vxlab up [flags]      build the lab, ping once and leave it running; the
                        daemons outlive vxlab (their PIDs are in <root>/<name>)
  vxlab down [flags]    stop the daemons and delete the lab's namespaces
                        (idempotent: a lab that is not there is fine)
  vxlab status [flags]  show the hosts of a running lab and their FDBs
  vxlab daemon ARGS...  run vxswitchd with ARGS (what the lab starts)

Each host is a network namespace <name>-h<i> with underlay address
192.0.2.(10+i) (2001:db8::(10+i) with --ipv6) on a bridge in <name>-ul, and
overlay address 198.18.0.(1+i)/24 on its TAP vxtap0 (vx42 on a kernel host).
Every host pings every other with the lab's own ICMP probe (no ping binary).
vxlab exits 0 only when every pair answers. It needs root and iproute2.
Ctrl-C during run still tears the lab down.

Flags:
`

// options is a parsed command line.
type options struct {
	cmd        string // run, up, down or status
	name       string
	root       string
	hosts      int
	kernelPeer bool
	ipv6       bool
	vni        uint
	json       bool
	verbose    bool
	daemonArgs []string // extra vxswitchd flags
}

// errUsage marks a command-line mistake (exit code 2).
var errUsage = errors.New("usage")

// parseArgs parses vxlab's command line (without the program name). It
// returns flag.ErrHelp for --help, after printing the help to stderr.
func parseArgs(args []string, stderr io.Writer) (options, error) {
	o := options{cmd: "run"}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		o.cmd, args = args[0], args[1:]
	}
	switch o.cmd {
	case "run", "up", "down", "status":
	default:
		return o, fmt.Errorf("%w: unknown command %q (want run, up, down, status or daemon)", errUsage, o.cmd)
	}
	fs := flag.NewFlagSet("vxlab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.name, "name", lab.DefaultName, "lab `name`: namespace prefix and directory name under --root")
	fs.StringVar(&o.root, "root", DefaultRoot, "`dir`ectory holding each lab's logs, API sockets and state")
	fs.IntVar(&o.hosts, "hosts", lab.DefaultHosts, "number of hosts (`N`, 1 to 200; run/up)")
	fs.BoolVar(&o.kernelPeer, "kernel-peer", false, "the last host runs the kernel's vxlan driver instead of vxswitchd (run/up)")
	fs.BoolVar(&o.ipv6, "ipv6", false, "IPv6 underlay (2001:db8::/64) instead of IPv4 (run/up)")
	fs.UintVar(&o.vni, "vni", lab.DefaultVNI, "VXLAN network identifier (`VNI`) every host joins (run/up)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON")
	fs.Func("daemon-args", "extra vxswitchd `flags`, space-separated, for every vxswitchd host, e.g. \"--wait=loop\" (run/up)", func(v string) error {
		o.daemonArgs = append(o.daemonArgs, strings.Fields(v)...)
		return nil
	})
	fs.BoolVar(&o.verbose, "v", false, "log every setup and teardown step to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if o.kernelPeer && o.hosts < 2 {
		return o, fmt.Errorf("%w: --kernel-peer needs --hosts 2 or more", errUsage)
	}
	if o.vni >= 1<<24 {
		return o, fmt.Errorf("%w: --vni %d: want below 2^24 (RFC 7348 §5)", errUsage, o.vni)
	}
	return o, nil
}

// Main runs vxlab with args (without the program name) and returns the
// exit code: 0 on success (for run and up: every pair pinged), 1 on a
// failure, 2 on a usage error. Cancelling ctx (Ctrl-C) stops run and up,
// which then tear down what they built.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == daemonArg {
		return daemon.Main(args[1:], stdout, stderr)
	}
	o, err := parseArgs(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "vxlab: %v\nRun 'vxlab --help' for usage.\n", err)
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintf(stderr, "vxlab: must run as root: it creates network namespaces, TAP devices and a bridge.\n"+
			"Try: sudo \"$(command -v go)\" run ./cmd/vxlab %s\n", strings.Join(args, " "))
		return 1
	}
	var logf func(string, ...any)
	if o.verbose {
		logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	}
	switch o.cmd {
	case "run":
		return cmdRun(ctx, o, logf, stdout, stderr)
	case "up":
		return cmdUp(ctx, o, logf, stdout, stderr)
	case "down":
		return cmdDown(o, stdout, stderr)
	default:
		return cmdStatus(ctx, o, stdout, stderr)
	}
}

// labDir is the directory of lab o.name.
func (o options) labDir() string { return filepath.Join(o.root, o.name) }

// labConfig turns the options into a lab configuration.
func (o options) labConfig(logf func(string, ...any)) (lab.Config, error) {
	exe, err := os.Executable()
	if err != nil {
		return lab.Config{}, fmt.Errorf("find own executable to start the daemons: %w", err)
	}
	cfg := lab.Config{
		Name:      o.name,
		Hosts:     o.hosts,
		IPv6:      o.ipv6,
		VNI:       uint32(o.vni),
		DaemonCmd: []string{exe, daemonArg},
		ExtraArgs: o.daemonArgs,
		Dir:       o.labDir(),
		Logf:      logf,
	}
	if o.kernelPeer {
		cfg.KernelHosts = []int{o.hosts - 1}
	}
	return cfg, nil
}
