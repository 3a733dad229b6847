package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/switch/api"
)

// defaultSocket is where vxswitchd listens unless told otherwise (the
// daemon's --api default).
const defaultSocket = "/run/vxswitch/vxswitchd.sock"

// envSocket names the environment variable that overrides defaultSocket.
const envSocket = "VXSWITCH_API"

const topHelp = `vxctl: control and inspect vxswitchd, the userspace VXLAN switch (RFC 7348).

Usage:
  vxctl [--api PATH] <command> [flags]

Commands:
  fdb        show the forwarding database (MAC -> port or remote VTEP)
  fdb add    add a static FDB entry
  fdb del    delete an FDB entry
  flood      show the flood lists (VTEPs that get broadcast/unknown frames)
  flood add  add a VTEP to a VNI's flood list
  flood del  remove a VTEP from a VNI's flood list
  ports      show the switch's ports and their counters
  stats      show counters: ports, VNIs, drops, FDB
  status     show the daemon's version, uptime, address and VNIs
  settings   show or change run-time settings (settings set --tap-gro off)
  peers      show the gossip cluster's members (VTEP, VNIs, entries)
  capture    record packets at the switch's capture points (pcapng/pcap)
  version    show vxctl's and vxswitchd's versions

Global flags:
  --api PATH   the daemon's API socket (default $VXSWITCH_API, else
               /run/vxswitch/vxswitchd.sock)

Run 'vxctl <command> --help' for a command's flags.

Example:
  vxctl fdb --vni 42
  vxctl --api /run/vxlab/vxlab/h0.sock stats    # host h0 of a lab from vxlab up
`

// command runs one vxctl command with its arguments (after the command
// name), talking to c and writing its output to w.
type command func(ctx context.Context, c *api.Client, w io.Writer, args []string) error

var commands = map[string]command{
	"fdb":      cmdFDB,
	"flood":    cmdFlood,
	"ports":    cmdPorts,
	"stats":    cmdStats,
	"status":   cmdStatus,
	"settings": cmdSettings,
	"version":  cmdVersion,
	"capture":  cmdCapture,
	"peers":    cmdPeers,
}

// errHelp is returned by a command that printed its help as asked.
var errHelp = errors.New("help requested")

// usageError is a mistake in the command line; cmd names the command whose
// help explains the right usage.
type usageError struct {
	cmd string
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// run is vxctl's whole main: it parses args (without the program name) and
// returns the exit code: 0 on success, 1 on an error from the daemon or
// when it cannot be reached, 2 on a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	socket := defaultSocket
	if s := getenv(envSocket); s != "" {
		socket = s
	}
	fs := flag.NewFlagSet("vxctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&socket, "api", socket, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, topHelp)
			return 0
		}
		fmt.Fprintf(stderr, "vxctl: %v\nRun 'vxctl --help' for usage.\n", err)
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintf(stderr, "vxctl: missing command\n\n%s", topHelp)
		return 2
	}
	if rest[0] == "help" {
		if len(rest) == 1 {
			fmt.Fprint(stdout, topHelp)
			return 0
		}
		rest = append(rest[1:], "--help")
	}
	cmd, ok := commands[rest[0]]
	if !ok {
		fmt.Fprintf(stderr, "vxctl: unknown command %q\nRun 'vxctl --help' for the commands.\n", rest[0])
		return 2
	}
	err := cmd(ctx, api.NewClient(socket), stdout, rest[1:])
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "vxctl %s: %s\nRun 'vxctl %s --help' for usage.\n", ue.cmd, ue.msg, ue.cmd)
		return 2
	default:
		fmt.Fprintf(stderr, "vxctl: %v\n", err)
		return 1
	}
}

// parseFlags parses args with fs. --help prints help to w and returns
// errHelp; a bad flag or a stray argument is a usageError.
func parseFlags(fs *flag.FlagSet, w io.Writer, help string, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(w, help)
			return errHelp
		}
		return usagef(fs.Name(), "%v", err)
	}
	if fs.NArg() > 0 {
		return usagef(fs.Name(), "unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// vniFlag is a --vni flag: a 24-bit VNI, remembering whether it was given.
type vniFlag struct {
	vni uint32
	set bool
}

func (f *vniFlag) String() string {
	if !f.set {
		return ""
	}
	return strconv.FormatUint(uint64(f.vni), 10)
}

func (f *vniFlag) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > encap.MaxVNI {
		return fmt.Errorf("want a VNI, a number from 0 to %d", encap.MaxVNI)
	}
	f.vni, f.set = uint32(n), true
	return nil
}

// macFlag is a --mac flag.
type macFlag struct {
	mac encap.MAC
	set bool
}

func (f *macFlag) String() string {
	if !f.set {
		return ""
	}
	return f.mac.String()
}

func (f *macFlag) Set(s string) error {
	m, err := encap.ParseMAC(s)
	if err != nil {
		return errors.New("want a MAC address like 02:00:00:00:00:01")
	}
	f.mac, f.set = m, true
	return nil
}

// addrFlag is a --remote flag: a VTEP's IP address.
type addrFlag struct{ addr netip.Addr }

func (f *addrFlag) String() string {
	if !f.addr.IsValid() {
		return ""
	}
	return f.addr.String()
}

func (f *addrFlag) Set(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return errors.New("want an IP address like 192.0.2.11 or 2001:db8::11")
	}
	f.addr = a
	return nil
}

// onOffFlag is a flag that takes on or off (or true/false, 1/0),
// remembering whether it was given.
type onOffFlag struct{ on, set bool }

func (f *onOffFlag) String() string {
	switch {
	case !f.set:
		return ""
	case f.on:
		return "on"
	}
	return "off"
}

func (f *onOffFlag) Set(s string) error {
	switch s {
	case "on", "true", "1":
		f.on, f.set = true, true
	case "off", "false", "0":
		f.on, f.set = false, true
	default:
		return errors.New("want on or off")
	}
	return nil
}

// outputFlag is -o: "table" (for people) or "json" (for programs).
type outputFlag string

func (f *outputFlag) String() string { return string(*f) }

func (f *outputFlag) Set(s string) error {
	switch s {
	case "table", "json":
		*f = outputFlag(s)
		return nil
	}
	return errors.New(`want "table" or "json"`)
}

func (f *outputFlag) json() bool { return *f == "json" }

// newFlags returns a FlagSet for the command name with -o when withOutput.
func newFlags(name string, out *outputFlag) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	if out != nil {
		*out = "table"
		fs.Var(out, "o", "")
		fs.Var(out, "output", "")
	}
	return fs
}
