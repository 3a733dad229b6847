package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vxswitch/vxswitch/bench/lab"
)

// Side names, the columns of the results table.
const (
	SideVxswitchd = "vxswitchd"
	SideKernel    = "kernel"
	// SideCeiling is the ceiling pipe (see PipeArg), measured with
	// Options.Ceiling.
	SideCeiling = "ceiling"
)

// sideSuffix names each side's namespaces: <Name>-<suffix>-h0, ...
var sideSuffix = map[string]string{SideVxswitchd: "v", SideKernel: "k", SideCeiling: "p"}

// Metric names, the rows of the results table, in order.
const (
	MetricTCP1   = "tcp_1_stream"
	MetricTCP4   = "tcp_4_streams"
	MetricPPS64  = "udp_64B_pps_0.1pct_loss"
	MetricLatP50 = "latency_p50"
	MetricLatP99 = "latency_p99"
	// MetricLoadP50 and MetricLoadP99 are the round trips of pings sent
	// through the client's TAP (or vxlan device) while a second 1-stream
	// TCP test fills it: latency under load, queueing included. That
	// test's rate is MetricTCP1Ping; MetricTCP1 is measured alone, so the
	// probe's traffic does not change it.
	MetricLoadP50  = "latency_under_tcp_p50"
	MetricLoadP99  = "latency_under_tcp_p99"
	MetricTCP1Ping = "tcp_1_stream_beside_ping"
	MetricCPUPerGB = "cpu_seconds_per_gb"
	MetricRetrans  = "tcp_1_stream_retransmits"
	// MetricPacedP50 is the p50 round trip of request/response traffic
	// paced at Options.PacedRate round trips per second (sockperf
	// ping-pong --mps), and MetricPacedCPU the CPU the whole machine
	// spent meanwhile outside sockperf's userspace code (see
	// measurePaced), in % of one CPU: what light traffic costs a node,
	// and the price of the daemon's busy polling.
	MetricPacedP50 = "latency_p50_paced"
	MetricPacedCPU = "cpu_paced"
	frame64Payload = 18 // see measurePPS
	// DefaultPPSWindow is Options.PPSWindow's default.
	DefaultPPSWindow = "4M"
	sockperfPort     = "11111"
	loadPingInterval = 10 * time.Millisecond // ping -i 0.01
	iperf3Port       = "5201"
	clockTicksPerSe  = 100 // USER_HZ; /proc reports CPU times in these
)

// MetricNames lists every metric Run measures on each side.
var MetricNames = []string{MetricTCP1, MetricTCP4, MetricPPS64, MetricLatP50, MetricLatP99, MetricPacedP50, MetricPacedCPU, MetricLoadP50, MetricLoadP99, MetricTCP1Ping, MetricCPUPerGB, MetricRetrans}

// Options configure Run. The zero value of each field means its default.
type Options struct {
	// DaemonCmd starts vxswitchd (lab.Config.DaemonCmd). Required.
	DaemonCmd []string
	// Ceiling adds a third rig, the ceiling pipe (see PipeArg), and
	// measures only the TCP tests, on all three rigs: how close vxswitchd
	// comes to the least work of a userspace TAP-and-UDP design, and how
	// close that design can come to the kernel's driver.
	Ceiling bool
	// PipeCmd starts the ceiling pipe, e.g. {os.Args[0], PipeArg}.
	// Required with Ceiling.
	PipeCmd []string
	// Name prefixes the rig's namespaces; default "vxbench". Each side
	// adds a suffix ("-v", "-k" or, for the ceiling, "-p").
	Name string
	// Duration is the length of each TCP test and of the latency test.
	// Default 10 s.
	Duration time.Duration
	// TrialDuration is the length of each rate-search trial. Default 2 s.
	TrialDuration time.Duration
	// Iterations is the number of rate-search trials. Default 8.
	Iterations int
	// MaxPPS is the first (highest) rate the search offers. Default
	// 1,000,000 packets/s.
	MaxPPS float64
	// Runs is how many times both rigs are measured, alternating
	// (vxswitchd, kernel, vxswitchd, ...). With more than one, Results.Sides
	// holds each metric's median and the table each ratio's median and
	// range over the runs. Default 1.
	Runs int
	// PPSWindow is the socket buffer size iperf3 asks for in the 64-byte
	// trials (`iperf3 -w`, on both ends), so that the measuring receiver's
	// own socket does not overflow before the data path under test does
	// (RFC 2544 testers are not the bottleneck). Default "4M"; "0" keeps
	// iperf3's default (the system's 208 KiB).
	PPSWindow string
	// DaemonArgs are appended to every vxswitchd command line, e.g.
	// {"--offload=false"} to measure the plain per-frame data path.
	DaemonArgs []string
	// IPv6 runs both rigs on an IPv6 underlay (2001:db8::/64).
	IPv6 bool
	// PacedRate, if positive, adds a latency test paced at this many
	// round trips per second (MetricPacedP50, MetricPacedCPU), as long as
	// the unpaced one. 0 leaves it out.
	PacedRate int
	// PinHosts gives each emulated host a CPU of its own: h0's daemon
	// (every thread) and the measuring client run on CPU 0, h1's daemon
	// and the server on CPU 1 (modulo the CPUs there are), on both rigs.
	// It separates what the data path costs from the scheduler's
	// placement of four busy processes on one small machine; the default
	// leaves placement to the scheduler.
	PinHosts bool
	// Congestion is the TCP congestion control of the TCP tests (iperf3
	// -C), e.g. "cubic"; "" keeps the system's default
	// (net.ipv4.tcp_congestion_control). Each TCP metric's Method names
	// the one used.
	Congestion string
	// Dir holds the daemons' logs; default a new temporary directory.
	Dir string
	// Logf, if not nil, receives progress lines.
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "vxbench"
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.TrialDuration <= 0 {
		o.TrialDuration = 2 * time.Second
	}
	if o.Iterations <= 0 {
		o.Iterations = 8
	}
	if o.MaxPPS <= 0 {
		o.MaxPPS = 1e6
	}
	if o.Runs <= 0 {
		o.Runs = 1
	}
	if o.PPSWindow == "" {
		o.PPSWindow = DefaultPPSWindow
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// Metric is one measured value.
type Metric struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Method says how the value was obtained (tool, fallback, scope).
	Method string `json:"method"`
}

// SideResult is everything measured on one rig.
type SideResult struct {
	Side    string            `json:"side"`
	Metrics map[string]Metric `json:"metrics"`
	// Trials are the 64-byte rate search's trials.
	Trials []Trial `json:"trials"`
	// Commands are the exact command lines run, in order, each prefixed
	// with the namespace it ran in.
	Commands []string `json:"commands"`
	// Notes are caveats (fallbacks) worth reading next to the numbers.
	Notes []string `json:"notes,omitempty"`
}

// Results is the outcome of Run.
type Results struct {
	Started  time.Time `json:"started"`
	Host     string    `json:"host"`
	CPUs     int       `json:"cpus"`
	Duration string    `json:"duration"`
	// Sides are the results of each side: of the one run, or with
	// several runs each metric's median over them.
	Sides []SideResult `json:"sides"`
	// Runs holds every run's sides when Options.Runs > 1, in order.
	Runs []RunResult `json:"runs,omitempty"`
	// Command is the vxbench command line that produced the results.
	Command string `json:"command"`
}

// RunResult is one measurement of both rigs.
type RunResult struct {
	Sides []SideResult `json:"sides"`
}

// Side returns the result of the named side, or nil.
func (r *Results) Side(name string) *SideResult { return sideOf(r.Sides, name) }

func sideOf(sides []SideResult, name string) *SideResult {
	for i := range sides {
		if sides[i].Side == name {
			return &sides[i]
		}
	}
	return nil
}

// medianSides returns, per side, each metric's median over the runs that
// measured it (unit and method of the first), the first run's trials and
// commands, and every note once.
func medianSides(runs []RunResult) []SideResult {
	var names []string // in the order the runs have them
	for _, run := range runs {
		for _, s := range run.Sides {
			if !slices.Contains(names, s.Side) {
				names = append(names, s.Side)
			}
		}
	}
	var out []SideResult
	for _, name := range names {
		var first *SideResult
		values := map[string][]float64{}
		meta := map[string]Metric{} // unit and method: first run that has the metric
		seen := map[string]bool{}
		var notes []string
		for _, run := range runs {
			s := sideOf(run.Sides, name)
			if s == nil {
				continue
			}
			if first == nil {
				first = s
			}
			for m, v := range s.Metrics {
				values[m] = append(values[m], v.Value)
				if _, ok := meta[m]; !ok {
					meta[m] = v
				}
			}
			for _, n := range s.Notes {
				if !seen[n] {
					seen[n] = true
					notes = append(notes, n)
				}
			}
		}
		if first == nil {
			continue
		}
		sr := SideResult{Side: name, Metrics: map[string]Metric{}, Trials: first.Trials, Commands: first.Commands, Notes: notes}
		for m, vs := range values {
			mt := meta[m]
			mt.Value = median(vs)
			if len(vs) > 1 {
				mt.Method += fmt.Sprintf("; median of %d runs", len(vs))
			}
			sr.Metrics[m] = mt
		}
		out = append(out, sr)
	}
	return out
}

// median returns the median of vs (the mean of the middle two for an even
// count); it sorts vs.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// Run builds the two-host rig with vxswitchd on both hosts, measures it,
// takes it down, then does the same with the kernel's vxlan driver on both
// hosts. It needs root, iperf3 and (for latency) sockperf. It returns the
// results measured so far with any error.
func Run(ctx context.Context, o Options) (*Results, error) {
	o = o.withDefaults()
	host, _ := os.Hostname()
	res := &Results{Started: time.Now().UTC(), Host: host, CPUs: numCPU(), Duration: o.Duration.String()}
	if _, err := exec.LookPath("iperf3"); err != nil {
		return res, fmt.Errorf("bench: iperf3 is needed (apt-get install iperf3): %w", err)
	}
	return res, runAll(ctx, o, res, runSide)
}

// runAll measures both sides o.Runs times with measure, alternating, and
// records the runs in res (also those done before an error).
func runAll(ctx context.Context, o Options, res *Results, measure func(context.Context, Options, string) (*SideResult, error)) error {
	var runs []RunResult
	sides := []string{SideVxswitchd, SideKernel}
	if o.Ceiling {
		sides = append(sides, SideCeiling)
	}
	for i := range o.Runs {
		var run RunResult
		for _, side := range sides {
			o.Logf("bench: run %d of %d: %s rig", i+1, o.Runs, side)
			sr, err := measure(ctx, o, side)
			run.Sides = append(run.Sides, *sr)
			if err != nil {
				res.setRuns(append(runs, run))
				return fmt.Errorf("bench: %s: %w", side, err)
			}
		}
		runs = append(runs, run)
		res.setRuns(runs)
	}
	return nil
}

// setRuns records runs: one run's sides as they are, several runs' as
// medians with every run kept.
func (r *Results) setRuns(runs []RunResult) {
	if len(runs) == 1 {
		r.Sides, r.Runs = runs[0].Sides, nil
		return
	}
	r.Runs = runs
	r.Sides = medianSides(runs)
}

// rig is one side's lab and the command log.
type rig struct {
	o      Options
	l      *lab.Lab
	client *lab.Host // h0
	server *lab.Host // h1
	sr     *SideResult
}

func runSide(ctx context.Context, o Options, side string) (sr *SideResult, err error) {
	sr = &SideResult{Side: side, Metrics: map[string]Metric{}}
	cfg := lab.Config{Name: o.Name + "-" + sideSuffix[side], Hosts: 2, DaemonCmd: o.DaemonCmd, IPv6: o.IPv6, Logf: o.Logf}
	if o.Dir != "" {
		cfg.Dir = o.Dir + "/" + side
	}
	switch side {
	case SideKernel:
		cfg.KernelHosts = []int{0, 1}
		cfg.DaemonCmd = nil
	case SideCeiling:
		// The lab starts the pipe where it would start vxswitchd, with
		// the same flags; it takes no others.
		cfg.DaemonCmd = o.PipeCmd
	default:
		// Warnings only: debug logging per event would cost CPU we measure.
		cfg.ExtraArgs = append([]string{"--log-level", "warn"}, o.DaemonArgs...)
	}
	r, stop, err := startRig(ctx, o, cfg, sr)
	defer func() { err = errors.Join(err, stop()) }()
	if err != nil {
		return sr, err
	}
	steps := []func(context.Context) error{r.measureTCP1, r.measureTCP4, r.measurePPS, r.measureLatency, r.measureLoadLatency}
	if o.Ceiling {
		// The pipe answers for bulk transfer only.
		steps = []func(context.Context) error{r.measureTCP1, r.measureTCP4, r.measureLoadLatency}
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return sr, err
		}
	}
	return sr, nil
}

// startRig brings up the two-host lab of cfg, checks the overlay with a
// ping between every pair (which also fills ARP caches and FDBs) and starts
// the iperf3 server on h1. stop takes it all down; it must be called also
// when err is not nil.
func startRig(ctx context.Context, o Options, cfg lab.Config, sr *SideResult) (r *rig, stop func() error, err error) {
	var stopServer func()
	var l *lab.Lab
	stop = func() error {
		if stopServer != nil {
			stopServer()
		}
		if l != nil {
			return l.Down()
		}
		return nil
	}
	if l, err = lab.New(cfg); err != nil {
		return nil, stop, err
	}
	if err := l.Up(ctx); err != nil {
		return nil, stop, err
	}
	hs := l.Hosts()
	r = &rig{o: o, l: l, client: hs[0], server: hs[1], sr: sr}
	if o.PinHosts {
		if err := r.pinDaemons(ctx); err != nil {
			return nil, stop, err
		}
	}
	if res, err := l.PingAll(ctx); err != nil {
		var b strings.Builder
		lab.Summary(&b, res)
		return nil, stop, fmt.Errorf("overlay does not work: %w\n%s", err, b.String())
	}
	if stopServer, _, err = r.background(ctx, r.server, "iperf3", "-s", "-p", iperf3Port); err != nil {
		return nil, stop, err
	}
	if err := r.waitTCP(ctx); err != nil {
		return nil, stop, err
	}
	return r, stop, nil
}

// record logs a command line run in ns.
func (r *rig) record(h *lab.Host, prog string, args ...string) {
	line := "ip netns exec " + h.NS.Name + " " + prog + " " + strings.Join(args, " ")
	r.sr.Commands = append(r.sr.Commands, line)
	r.o.Logf("bench: %s", line)
}

// run runs a command in host h and returns its stdout.
func (r *rig) run(ctx context.Context, h *lab.Host, prog string, args ...string) ([]byte, error) {
	out, _, err := r.runState(ctx, h, prog, args...)
	return out, err
}

// runState is run that also returns the finished process's state (its
// CPU times among them; `ip netns exec` and taskset exec the program in
// place, so they are the program's).
func (r *rig) runState(ctx context.Context, h *lab.Host, prog string, args ...string) ([]byte, *os.ProcessState, error) {
	prog, args = r.pin(h, prog, args)
	r.record(h, prog, args...)
	cmd := h.NS.Command(ctx, prog, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, cmd.ProcessState, fmt.Errorf("%s %s: %w: %s%s", prog, strings.Join(args, " "), err, stderr.String(), tail(out))
	}
	return out, cmd.ProcessState, nil
}

func tail(b []byte) string {
	if len(b) > 400 {
		b = b[len(b)-400:]
	}
	return string(b)
}

// background starts a server in host h and returns a func that stops it
// and the server's process ID.
func (r *rig) background(ctx context.Context, h *lab.Host, prog string, args ...string) (func(), int, error) {
	prog, args = r.pin(h, prog, args)
	r.record(h, prog, args...)
	cmd := h.NS.Command(context.Background(), prog, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start %s: %w", prog, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return func() {
		cmd.Process.Kill()
		<-done
	}, cmd.Process.Pid, nil
}

// hostCPU is the CPU Options.PinHosts gives host h: 0 for the client,
// 1 for the server, modulo the CPUs there are.
func (r *rig) hostCPU(h *lab.Host) int {
	if h == r.server {
		return 1 % numCPU()
	}
	return 0
}

// pin prefixes a command with taskset(1) for its host's CPU when
// Options.PinHosts is set, so the recorded command shows it.
func (r *rig) pin(h *lab.Host, prog string, args []string) (string, []string) {
	if !r.o.PinHosts {
		return prog, args
	}
	return "taskset", append([]string{"-c", strconv.Itoa(r.hostCPU(h)), prog}, args...)
}

// pinDaemons binds every thread of each host's daemon to its host's CPU
// with taskset -a (threads the Go runtime starts later inherit it); the
// command is recorded with the others.
func (r *rig) pinDaemons(ctx context.Context) error {
	for _, h := range []*lab.Host{r.client, r.server} {
		pid := h.DaemonPID()
		if pid == 0 {
			continue
		}
		args := []string{"-a", "-p", "-c", strconv.Itoa(r.hostCPU(h)), strconv.Itoa(pid)}
		r.sr.Commands = append(r.sr.Commands, fmt.Sprintf("taskset %s  # every thread of %s's daemon (pid %d) bound to CPU %d", strings.Join(args, " "), h.Name, pid, r.hostCPU(h)))
		if out, err := exec.CommandContext(ctx, "taskset", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("pin the daemon of %s: taskset: %w: %s", h.Name, err, out)
		}
	}
	return nil
}

// waitTCP polls until the iperf3 server listens.
func (r *rig) waitTCP(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := r.server.NS.Run(ctx, "ss", "-Hltn", "sport = :"+iperf3Port)
		if len(strings.TrimSpace(string(out))) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("iperf3 server did not start listening")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *rig) serverAddr() string { return r.server.Overlay.Addr().String() }

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// tcpArgs is the iperf3 client command line of a TCP test: the server,
// the congestion control asked for (Options.Congestion), then args.
func (r *rig) tcpArgs(args ...string) []string {
	a := []string{"-c", r.serverAddr(), "-p", iperf3Port}
	if r.o.Congestion != "" {
		a = append(a, "-C", r.o.Congestion)
	}
	return append(a, args...)
}

// ccNote is the congestion control a TCP test ran with, for a Method.
func ccNote(res Iperf3Result) string {
	if res.Congestion == "" {
		return ""
	}
	return ", congestion control " + res.Congestion
}

// measureTCP1 measures one TCP stream and the CPU it costs.
func (r *rig) measureTCP1(ctx context.Context) error {
	before, err := r.cpuSample()
	if err != nil {
		return err
	}
	out, err := r.run(ctx, r.client, "iperf3", r.tcpArgs("-t", secs(r.o.Duration), "-J")...)
	if err != nil {
		return err
	}
	after, err := r.cpuSample()
	if err != nil {
		return err
	}
	res, err := ParseIperf3(out, false)
	if err != nil {
		return err
	}
	r.sr.Metrics[MetricTCP1] = Metric{Value: res.BitsPerSecond / 1e9, Unit: "Gbit/s", Method: "iperf3 TCP, 1 stream, receiver rate" + ccNote(res)}
	r.sr.Metrics[MetricRetrans] = Metric{Value: float64(res.Retransmits), Unit: "segments", Method: "iperf3 sum_sent.retransmits of the 1-stream TCP test"}
	gb := float64(res.Bytes) / 1e9
	if gb <= 0 {
		return errors.New("TCP test moved no data")
	}
	m := Metric{Unit: "CPU s/GB"}
	if r.sr.Side == SideKernel {
		m.Value = float64(after.machine-before.machine) / clockTicksPerSe / gb
		m.Method = "host softirq+sys, whole machine (/proc/stat), during the 1-stream TCP test"
	} else { // the processes the lab started on both hosts: vxswitchd or the pipe
		what := map[string]string{SideVxswitchd: "vxswitchd utime+stime (/proc/<pid>/stat), both daemons", SideCeiling: "ceiling pipe utime+stime (/proc/<pid>/stat), both pipes"}[r.sr.Side]
		m.Value = float64(after.daemons-before.daemons) / clockTicksPerSe / gb
		m.Method = what + ", during the 1-stream TCP test"
	}
	r.sr.Metrics[MetricCPUPerGB] = m
	return nil
}

// measureLoadLatency runs a second 1-stream TCP test with the
// latency-under-load probe beside it and records both the probe's round
// trips and the stream's rate (MetricTCP1Ping): what a little interactive
// traffic costs the bulk stream, apart from MetricTCP1.
func (r *rig) measureLoadLatency(ctx context.Context) error {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pinged := r.startLoadPing(pctx)
	res, err := r.iperf3TCP(ctx, "-t", secs(r.o.Duration))
	if err != nil {
		cancel()
		if pinged != nil {
			pinged()
		}
		return err
	}
	if pinged != nil {
		r.loadLatency(pinged())
	}
	r.sr.Metrics[MetricTCP1Ping] = Metric{Value: res.BitsPerSecond / 1e9, Unit: "Gbit/s",
		Method: fmt.Sprintf("iperf3 TCP, 1 stream, receiver rate, with a ping every %s beside it", loadPingInterval) + ccNote(res)}
	return nil
}

// startLoadPing starts the latency-under-load probe of measureLoadLatency's
// 1-stream TCP test: iputils ping from the client to the server every 10 ms, through the
// same TAP (or vxlan device) as the stream, from a quarter of the test's
// duration (at most 1 s) in to as long before its end. It returns a func
// that waits for the ping to finish and returns its output, or nil when
// ping(8) is not installed (noted; the metrics are then missing).
func (r *rig) startLoadPing(ctx context.Context) func() (PingOutput, error) {
	if _, err := exec.LookPath("ping"); err != nil {
		r.sr.Notes = append(r.sr.Notes, "ping not found: no latency under load (apt-get install iputils-ping)")
		return nil
	}
	delay := min(time.Second, r.o.Duration/4)
	count := max(1, int((r.o.Duration-2*delay)/loadPingInterval))
	prog, args := r.pin(r.client, "ping", []string{"-n", "-i", strconv.FormatFloat(loadPingInterval.Seconds(), 'f', -1, 64), "-c", strconv.Itoa(count), "-W", "1", r.serverAddr()})
	r.record(r.client, prog, args...)
	r.sr.Commands[len(r.sr.Commands)-1] += fmt.Sprintf("  # started %s after the iperf3 client below, while it runs", delay)
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			done <- result{err: ctx.Err()}
			return
		}
		cmd := r.client.NS.Command(ctx, prog, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			err = fmt.Errorf("%s %s: %w: %s%s", prog, strings.Join(args, " "), err, stderr.String(), tail(out))
		}
		done <- result{out, err}
	}()
	return func() (PingOutput, error) {
		res := <-done
		if res.err != nil {
			return PingOutput{}, res.err
		}
		return ParsePing(res.out)
	}
}

// loadLatency records the latency-under-load metrics from the probe's
// result. A probe that failed or got no reply leaves them out with a note
// rather than failing the benchmark: they are reported, not targets.
func (r *rig) loadLatency(p PingOutput, err error) {
	if err == nil && len(p.RTTs) == 0 {
		err = fmt.Errorf("no reply to %d echoes", p.Transmitted)
	}
	if err != nil {
		r.sr.Notes = append(r.sr.Notes, "latency under load not measured: "+err.Error())
		return
	}
	dev := "TAP"
	if r.sr.Side == SideKernel {
		dev = "vxlan device"
	}
	method := fmt.Sprintf("ping every %s through the client's %s during a second 1-stream TCP test, %d of %d replies", loadPingInterval, dev, len(p.RTTs), p.Transmitted)
	r.sr.Metrics[MetricLoadP50] = Metric{Value: percentile(p.RTTs, 50), Unit: "µs RTT", Method: method}
	r.sr.Metrics[MetricLoadP99] = Metric{Value: percentile(p.RTTs, 99), Unit: "µs RTT", Method: method}
}

// cpuSample holds CPU times in clock ticks.
type cpuSample struct {
	daemons uint64 // utime+stime of the rig's daemons
	machine uint64 // system+softirq of the whole machine
	busy    uint64 // all but idle and iowait, whole machine
}

func (r *rig) cpuSample() (cpuSample, error) {
	var s cpuSample
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	t, err := ParseProcStat(b)
	if err != nil {
		return s, err
	}
	s.machine = t.System + t.SoftIRQ
	s.busy = t.Busy()
	for _, h := range []*lab.Host{r.client, r.server} {
		pid := h.DaemonPID()
		if pid == 0 {
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return s, fmt.Errorf("daemon of %s: %w", h.Name, err)
		}
		ticks, err := ParseProcPIDStat(b)
		if err != nil {
			return s, err
		}
		s.daemons += ticks
	}
	return s, nil
}

// measureTCP4 measures four parallel TCP streams.
func (r *rig) measureTCP4(ctx context.Context) error {
	out, err := r.run(ctx, r.client, "iperf3", r.tcpArgs("-t", secs(r.o.Duration), "-P", "4", "-J")...)
	if err != nil {
		return err
	}
	res, err := ParseIperf3(out, false)
	if err != nil {
		return err
	}
	r.sr.Metrics[MetricTCP4] = Metric{Value: res.BitsPerSecond / 1e9, Unit: "Gbit/s", Method: "iperf3 TCP, 4 streams (-P 4), receiver rate" + ccNote(res)}
	return nil
}

// measurePPS searches the highest rate of 64-byte frames with at most
// 0.1 % loss. The frame size is counted as RFC 2544 counts it on Ethernet,
// including the 4-byte FCS that a TAP never carries: 18 bytes of UDP
// payload (`iperf3 -l 18`) + 8 UDP + 20 IPv4 + 14 Ethernet + 4 FCS = 64.
func (r *rig) measurePPS(ctx context.Context) error {
	const maxLoss = 0.001
	trial := func(ctx context.Context, pps float64) (float64, float64, error) {
		bps := strconv.FormatFloat(pps*frame64Payload*8, 'f', 0, 64)
		var res Iperf3Result
		var err error
		// iperf3's control connection sometimes resets after a trial
		// that flooded the server; a trial gets three attempts.
		for attempt := 0; attempt < 3; attempt++ {
			args := []string{"-c", r.serverAddr(), "-p", iperf3Port, "-u",
				"-l", strconv.Itoa(frame64Payload), "-b", bps, "-t", secs(r.o.TrialDuration), "-J"}
			if r.o.PPSWindow != "0" {
				args = append(args, "-w", r.o.PPSWindow)
			}
			var out []byte
			out, err = r.run(ctx, r.client, "iperf3", args...)
			if err == nil {
				res, err = ParseIperf3(out, true)
			}
			if err == nil || ctx.Err() != nil {
				break
			}
			r.o.Logf("bench: trial at %.0f pps failed (attempt %d): %v", pps, attempt+1, err)
			time.Sleep(time.Second)
		}
		if err != nil {
			return 0, 0, err
		}
		sent := 0.0
		if res.Seconds > 0 {
			sent = float64(res.Packets) / res.Seconds
		}
		return sent, res.LossFraction(), nil
	}
	window := r.o.PPSWindow
	if capped := windowCap(window); capped != "" {
		r.o.Logf("bench: %s", capped)
		window += " (" + capped + ")"
	}
	best, trials, err := SearchRate(ctx, 0, r.o.MaxPPS, r.o.Iterations, maxLoss, trial)
	r.sr.Trials = trials
	if err != nil {
		return err
	}
	r.sr.Metrics[MetricPPS64] = Metric{Value: best, Unit: "packets/s",
		Method: fmt.Sprintf("iperf3 UDP -l 18 -w %s (64-byte frames incl. FCS; socket buffers of both iperf3 ends), RFC 2544 binary search, %d trials of %v, highest sent rate with loss <= 0.1%%", window, r.o.Iterations, r.o.TrialDuration)}
	return nil
}

// measureLatency measures round-trip percentiles with sockperf, or with
// the lab's ICMP probe when sockperf is not installed.
func (r *rig) measureLatency(ctx context.Context) error {
	if _, err := exec.LookPath("sockperf"); err != nil {
		return r.measureLatencyICMP(ctx)
	}
	stop, serverPID, err := r.background(ctx, r.server, "sockperf", "sr", "-i", r.serverAddr(), "-p", sockperfPort)
	if err != nil {
		return err
	}
	defer stop()
	secs := max(1, int(r.o.Duration/(2*time.Second)))
	var out []byte
	// The server needs a moment to bind; retry a few times.
	for attempt := 0; ; attempt++ {
		out, err = r.run(ctx, r.client, "sockperf", "pp", "-i", r.serverAddr(), "-p", sockperfPort, "-t", strconv.Itoa(secs), "--full-rtt")
		if err == nil || attempt == 4 || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	lat, err := ParseSockperf(out)
	if err != nil {
		return err
	}
	method := fmt.Sprintf("sockperf ping-pong --full-rtt (UDP), %d round trips", lat.Observations)
	r.sr.Metrics[MetricLatP50] = Metric{Value: lat.P50, Unit: "µs RTT", Method: method}
	r.sr.Metrics[MetricLatP99] = Metric{Value: lat.P99, Unit: "µs RTT", Method: method}
	if r.o.PacedRate > 0 {
		return r.measurePaced(ctx, secs, serverPID)
	}
	return nil
}

// measurePaced runs sockperf ping-pong paced at Options.PacedRate round
// trips per second for secs seconds against the running server (process
// serverPID) and records its p50 and the CPU the machine spent meanwhile
// outside sockperf's own userspace code: the whole machine's busy time
// less the user time of sockperf's client and server. sockperf paces by
// polling the clock in userspace (its client used about a third of a CPU
// at 1 000 round trips/s here), which would otherwise swamp the figure;
// its system time stays in, since on the kernel's rig the sender's system
// call carries the packet through the vxlan driver.
func (r *rig) measurePaced(ctx context.Context, secs, serverPID int) error {
	// sample returns the machine's busy ticks and the server's user ticks.
	sample := func() (machine, server uint64, err error) {
		c, err := r.cpuSample()
		if err != nil {
			return 0, 0, err
		}
		server, err = procUserTicks(serverPID)
		return c.busy, server, err
	}
	busy0, srv0, err := sample()
	if err != nil {
		return err
	}
	start := time.Now()
	out, st, err := r.runState(ctx, r.client, "sockperf", "pp", "-i", r.serverAddr(), "-p", sockperfPort, "-t", strconv.Itoa(secs), "--mps", strconv.Itoa(r.o.PacedRate), "--full-rtt")
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	busy1, srv1, err := sample()
	if err != nil {
		return err
	}
	lat, err := ParseSockperf(out)
	if err != nil {
		return err
	}
	tool := (srv1 - srv0) + uint64(st.UserTime().Seconds()*clockTicksPerSe+0.5)
	busy := busy1 - busy0
	busy -= min(busy, tool)
	r.sr.Metrics[MetricPacedP50] = Metric{Value: lat.P50, Unit: "µs RTT",
		Method: fmt.Sprintf("sockperf ping-pong --mps %d --full-rtt (UDP), %d round trips", r.o.PacedRate, lat.Observations)}
	r.sr.Metrics[MetricPacedCPU] = Metric{Value: cpuPercent(busy, elapsed), Unit: "% of a CPU",
		Method: fmt.Sprintf("whole machine user+nice+system+irq+softirq (/proc/stat) less sockperf's user time (client and server), during the paced run at %d round trips/s", r.o.PacedRate)}
	return nil
}

// procUserTicks returns process pid's user time in clock ticks.
func procUserTicks(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	ut, _, err := ParseProcPIDTimes(b)
	return ut, err
}

// cpuPercent is busy clock ticks over elapsed wall time, in % of one CPU.
func cpuPercent(busy uint64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(busy) / clockTicksPerSe / elapsed.Seconds() * 100
}

// measureLatencyICMP is the fallback: 200 ICMP echoes from the lab's probe.
func (r *rig) measureLatencyICMP(ctx context.Context) error {
	const n = 200
	r.sr.Notes = append(r.sr.Notes, "sockperf not found: latency from the lab's ICMP probe instead (apt-get install sockperf)")
	if r.o.PacedRate > 0 {
		r.sr.Notes = append(r.sr.Notes, "sockperf not found: the paced latency test (--paced) left out")
	}
	r.sr.Commands = append(r.sr.Commands, fmt.Sprintf("lab ICMP probe: %d echoes %s -> %s, one at a time", n, r.client.Name, r.serverAddr()))
	rtts := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		res, err := r.client.Ping(ctx, r.server.Overlay.Addr(), 1, time.Second)
		if err != nil {
			return err
		}
		if res.Received == 1 {
			rtts = append(rtts, float64(res.AvgRTT)/float64(time.Microsecond))
		}
	}
	if len(rtts) == 0 {
		return errors.New("ICMP latency probe: no replies")
	}
	method := fmt.Sprintf("lab ICMP echo probe (sockperf missing), %d round trips", len(rtts))
	r.sr.Metrics[MetricLatP50] = Metric{Value: percentile(rtts, 50), Unit: "µs RTT", Method: method}
	r.sr.Metrics[MetricLatP99] = Metric{Value: percentile(rtts, 99), Unit: "µs RTT", Method: method}
	return nil
}

// windowCap says when the kernel will give iperf3 less than the socket
// buffer size w asks for: SO_RCVBUF is capped at net.core.rmem_max. It
// returns "" when the size fits (or cannot be judged).
func windowCap(w string) string {
	if w == "" || w == "0" {
		return ""
	}
	mult := int64(1)
	switch w[len(w)-1] {
	case 'K', 'k':
		mult, w = 1<<10, w[:len(w)-1]
	case 'M', 'm':
		mult, w = 1<<20, w[:len(w)-1]
	case 'G', 'g':
		mult, w = 1<<30, w[:len(w)-1]
	}
	n, err := strconv.ParseInt(w, 10, 64)
	if err != nil {
		return ""
	}
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		return ""
	}
	max, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n*mult <= max {
		return ""
	}
	return fmt.Sprintf("capped by net.core.rmem_max = %d", max)
}
