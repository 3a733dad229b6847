package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vxswitch/vxswitch/switch/daemon"
)

// DaemonArg, as the first argument of vxbench (or of a test binary whose
// TestMain calls Main), runs vxswitchd instead: the rig starts its daemons
// as {os.Executable(), DaemonArg, ...}.
const DaemonArg = "daemon"

const usage = `vxbench — vxswitchd versus the kernel's vxlan driver, on the same rig.

Usage: vxbench [flags]    (as root; needs iperf3, sockperf for latency and
                           ping for latency under load)

Builds a two-host network-namespace lab (bench/lab) with vxswitchd on both
hosts, measures it, tears it down, then does the same with the kernel's
vxlan driver on both hosts, and prints metric | vxswitchd | kernel | ratio.
Measured from h0 (198.18.0.1) to h1 (198.18.0.2) over VXLAN:
  tcp_1_stream, tcp_4_streams   iperf3 -c ... [-C ALGO] -t DURATION [-P 4] -J
  udp_64B_pps_0.1pct_loss       RFC 2544 binary search with iperf3 -u -l 18 -w 4M
  latency_p50, latency_p99      sockperf ping-pong --full-rtt (ICMP fallback)
  latency_p50_paced             sockperf ping-pong --mps PACED --full-rtt
  cpu_paced                     the whole machine's busy CPU meanwhile, less
                                sockperf's own user time (% of one CPU)
  latency_under_tcp_p50/_p99    ping -i 0.01 through the same TAP (or vxlan
                                device) while a second 1-stream TCP test runs
  tcp_1_stream_beside_ping      that second test's rate (tcp_1_stream runs
                                alone)
  cpu_seconds_per_gb            vxswitchd: the daemons' utime+stime;
                                kernel: softirq+sys of the whole machine
Writes DIR/results.json (with every command run) and DIR/results.svg.

--ceiling adds a third rig on which each host runs a null pipe instead:
every frame the TAP hands over (a TSO super-frame stays whole) goes to
the peer as one UDP_SEGMENT send and arrives as one UDP_GRO train that is
written to the peer's TAP as it came: the system calls and copies any
userspace TAP-and-UDP forwarder must make, and nothing else (no VXLAN, no
segmentation, checksums, switching or coalescing). Only the TCP tests run,
on all three rigs; the table adds ceiling/kernel (how close this design
can come to the kernel's driver on this machine) and vxswitchd/ceiling.

Flags:
`

// Main runs vxbench with args (without the program name) and returns the
// exit code: 0 on success, 1 on failure, 2 on a usage error. Cancelling
// ctx (Ctrl-C) stops the run and tears the rig down.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == DaemonArg {
		return daemon.Main(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == PipeArg {
		return pipeMain(args[1:], stderr)
	}
	fs := flag.NewFlagSet("vxbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var o Options
	out := fs.String("out", "bench/out", "`dir`ectory for results.json and results.svg")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each TCP test; latency runs half as long")
	fs.DurationVar(&o.TrialDuration, "trial", 2*time.Second, "length of each 64-byte rate-search trial")
	fs.IntVar(&o.Iterations, "iterations", 8, "number of rate-search trials")
	fs.IntVar(&o.Runs, "runs", 1, "measure both rigs this many times, alternating; report medians and each ratio's range (noisy machines)")
	fs.Float64Var(&o.MaxPPS, "max-pps", 1e6, "first (highest) rate the search offers, packets/s")
	fs.StringVar(&o.PPSWindow, "pps-window", DefaultPPSWindow, "socket buffer `size` of both iperf3 ends in the 64-byte trials (iperf3 -w), so the measuring receiver is not what overflows; 0 for iperf3's default")
	fs.StringVar(&o.Name, "name", "vxbench", "namespace prefix of the rigs")
	daemonArgs := fs.String("daemon-args", "", "extra vxswitchd `flags`, space-separated, e.g. \"--offload=false\" for the plain per-frame data path")
	fs.BoolVar(&o.IPv6, "ipv6", false, "run both rigs on an IPv6 underlay")
	fs.IntVar(&o.PacedRate, "paced", 1000, "also measure latency and the machine's CPU at this many request/response round `trips/s` (sockperf --mps): light traffic's cost and what busy polling spends on it; 0 leaves it out")
	fs.BoolVar(&o.PinHosts, "pin-hosts", false, "give each emulated host a CPU of its own on both rigs: h0's daemon and the client on CPU 0, h1's daemon and the server on CPU 1 (taskset); default: the scheduler places them")
	fs.StringVar(&o.Congestion, "congestion", "", "TCP congestion control of the TCP tests (iperf3 -C `algo`, e.g. cubic or bbr); default: the system's (net.ipv4.tcp_congestion_control). The results name the one used")
	captureCost := fs.Bool("capture", false, "instead: measure what packet capture costs (TCP with no capture, a capture filtered to nothing, a full capture to a file)")
	gossipBench := fs.Bool("gossip", false, "instead: measure gossip convergence with in-process members on loopback (no root needed); writes DIR/gossip.json and DIR/gossip.svg")
	gossipSizes := fs.String("gossip-n", "10,50,100,200", "comma-separated cluster `sizes` for --gossip")
	fs.BoolVar(&o.Ceiling, "ceiling", false, "also measure the ceiling pipe (see above) on a third rig; TCP tests only")
	verbose := fs.Bool("v", false, "log every step and command to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vxbench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if o.PacedRate < 0 {
		fmt.Fprintf(stderr, "vxbench: --paced %d: want round trips per second, or 0 to leave the paced test out\n", o.PacedRate)
		return 2
	}
	if *gossipBench {
		return mainGossip(ctx, args, *out, *gossipSizes, *verbose, stdout, stderr)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "vxbench: must run as root (it creates network namespaces and TAP devices)")
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "vxbench: %v\n", err)
		return 1
	}
	o.DaemonCmd = []string{exe, DaemonArg}
	o.PipeCmd = []string{exe, PipeArg}
	o.DaemonArgs = strings.Fields(*daemonArgs)
	if *verbose {
		o.Logf = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	}
	if *captureCost {
		rows, err := RunCapture(ctx, o)
		WriteCaptureTable(stdout, rows)
		if err != nil {
			fmt.Fprintf(stderr, "vxbench: %v\n", err)
			return 1
		}
		if err := os.MkdirAll(*out, 0o755); err == nil {
			b, _ := json.MarshalIndent(struct {
				Command string       `json:"command"`
				Rows    []CaptureRow `json:"rows"`
			}{"vxbench " + strings.Join(args, " "), rows}, "", "  ")
			if err := os.WriteFile(filepath.Join(*out, "capture.json"), append(b, '\n'), 0o644); err != nil {
				fmt.Fprintf(stderr, "vxbench: %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "wrote %s/capture.json\n", *out)
		}
		return 0
	}
	res, err := Run(ctx, o)
	res.Command = "vxbench " + strings.Join(args, " ")
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		// The daemons inherit it, and it changes what they can do.
		res.Command = "GOMAXPROCS=" + v + " " + res.Command
	}
	if err != nil {
		fmt.Fprintf(stderr, "vxbench: %v\n", err)
	}
	WriteTable(stdout, res)
	if werr := WriteFiles(*out, res); werr != nil {
		fmt.Fprintf(stderr, "vxbench: %v\n", werr)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s/results.json and %s/results.svg\n", *out, *out)
	if err != nil {
		return 1
	}
	return 0
}
