package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// PipeArg, as the first argument of vxbench (or of a test binary whose
// TestMain calls Main), runs the ceiling pipe instead of vxswitchd: the
// rig of `vxbench --ceiling` starts it on each host as {os.Executable(),
// PipeArg, ...} with the lab's vxswitchd flags.
const PipeArg = "pipe"

// The ceiling pipe is the least work any forwarder that moves frames
// between a TAP and a UDP socket in userspace must do, run on the same rig
// as vxswitchd and the kernel's driver, so that the benchmark can tell the
// cost of that design (a TAP read, a sendmsg, a recvmsg and a TAP write per
// super-frame, each copying every byte) from the cost of vxswitchd's own
// work. It is not VXLAN and not a switch: each frame read from the TAP,
// with its virtio-net header (a TSO super-frame stays whole), is sent to
// the one peer as a 4-byte length and the frame, cut into datagrams of the
// underlay's MTU by UDP_SEGMENT, arrives as one UDP_GRO train and is
// written to the peer's TAP as it was read. It does not split super-frames
// into TCP segments, add per-segment headers, compute or verify checksums,
// learn or look up anything, or coalesce. It only talks to another pipe.

// pipeConfig is what the pipe takes from the lab's vxswitchd command line.
type pipeConfig struct {
	Local, Remote netip.Addr
	Port          int
	Dev           string // TAP name
	API           string // unix socket the lab's readiness probe dials
}

// parsePipeArgs parses the subset of vxswitchd's flags that the lab passes
// (--local, --port, --tap NAME:VNI, --remote, --api, --log-level); exactly
// one --remote, of the local address's family. Other flags are errors.
func parsePipeArgs(args []string, stderr io.Writer) (pipeConfig, error) {
	var c pipeConfig
	fs := flag.NewFlagSet("vxbench pipe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	local := fs.String("local", "", "underlay `address` to bind")
	fs.IntVar(&c.Port, "port", 4789, "UDP `port`")
	tap := fs.String("tap", "", "TAP `name[:vni]` to create (the VNI is ignored)")
	var remotes []string
	fs.Func("remote", "the peer pipe's underlay `address` (exactly one)", func(s string) error {
		remotes = append(remotes, s)
		return nil
	})
	fs.StringVar(&c.API, "api", "", "unix socket `path` to listen on (accepts and closes connections: a readiness signal)")
	fs.String("log-level", "", "ignored (accepted for the lab's command line)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.Local, err = netip.ParseAddr(*local); err != nil {
		return c, fmt.Errorf("--local: %w", err)
	}
	if len(remotes) != 1 {
		return c, fmt.Errorf("--remote: want exactly one peer, got %d", len(remotes))
	}
	if c.Remote, err = netip.ParseAddr(remotes[0]); err != nil {
		return c, fmt.Errorf("--remote: %w", err)
	}
	if c.Local.Is4() != c.Remote.Is4() {
		return c, fmt.Errorf("--remote %s: not of --local %s's address family", c.Remote, c.Local)
	}
	if c.Port <= 0 || c.Port > 65535 {
		return c, fmt.Errorf("--port %d: want 1-65535", c.Port)
	}
	c.Dev, _, _ = strings.Cut(*tap, ":")
	if c.Dev == "" || len(c.Dev) >= 16 {
		return c, fmt.Errorf("--tap %q: want a device name of 1-15 bytes", *tap)
	}
	if c.API == "" {
		return c, errors.New("--api: a socket path is required")
	}
	return c, nil
}

// pipeMain runs the ceiling pipe until SIGINT or SIGTERM and returns the
// exit code.
func pipeMain(args []string, stderr io.Writer) int {
	c, err := parsePipeArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "vxbench pipe: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "vxbench pipe: "+format+"\n", a...) }
	if err := runPipe(ctx, c, logf); err != nil {
		logf("%v", err)
		return 1
	}
	return 0
}

// pipeCounts are a pipe's totals, logged when it stops. Each counter has
// one writer.
type pipeCounts struct {
	tapFrames, tapBytes, udpTrains, udpBytes atomic.Uint64
	sendErrors, writeErrors, badTrains       atomic.Uint64
}

// load returns the counts as text.
func (p *pipeCounts) load() string {
	u := func(c *atomic.Uint64) string { return strconv.FormatUint(c.Load(), 10) }
	return "tap→udp " + u(&p.tapFrames) + " frames " + u(&p.tapBytes) + " bytes; " +
		"udp→tap " + u(&p.udpTrains) + " trains " + u(&p.udpBytes) + " bytes; " +
		"send errors " + u(&p.sendErrors) + ", TAP write errors " + u(&p.writeErrors) +
		", malformed trains " + u(&p.badTrains)
}
