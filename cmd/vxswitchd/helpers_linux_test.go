package main

// Helpers of the privileged end-to-end tests: a lab of namespaces running
// this test binary as vxswitchd, API clients, polling, packet capture and
// commands inside the hosts.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/internal/netns"
	"github.com/vxswitch/vxswitch/internal/testutil"
	"github.com/vxswitch/vxswitch/switch/api"
)

// testTimeout bounds every lab test's context.
const testTimeout = 2 * time.Minute

// daemonArgv is the argv prefix that runs this test binary as vxswitchd.
// `env` execs the binary in place, so the lab's PID is the daemon's.
func daemonArgv(t *testing.T) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("test binary path: %v", err)
	}
	return []string{"env", daemonEnv + "=1", exe}
}

// startLab builds a lab from cfg (Name, DaemonCmd, Dir and Logf are filled
// in) and tears it down when the test ends, also on failure, dumping every
// daemon's log if the test failed. It skips unless root.
func startLab(t *testing.T, cfg lab.Config) (*lab.Lab, context.Context) {
	t.Helper()
	testutil.RequireRoot(t)
	cfg.Name = testutil.UniqueName("e2e")
	cfg.DaemonCmd = daemonArgv(t)
	cfg.Dir = t.TempDir() // removed after the lab's cleanup below has run
	cfg.Logf = t.Logf
	l, err := lab.New(cfg)
	if err != nil {
		t.Fatalf("lab.New: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab.Down: %v", err)
		}
		if t.Failed() {
			dumpLogs(t, l)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	if err := l.Up(ctx); err != nil {
		t.Fatalf("lab.Up: %v", err)
	}
	// Kernel hosts get software inner checksums from the lab itself (see
	// lab's setupKernel): TCP from them would not pass otherwise.
	return l, ctx
}

// dumpLogs writes each vxswitchd host's log to the test log.
func dumpLogs(t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, h := range l.Hosts() {
		if h.Kernel || h.LogPath == "" {
			continue
		}
		b, err := os.ReadFile(h.LogPath)
		if err != nil {
			t.Logf("%s: no log: %v", h.Name, err)
			continue
		}
		t.Logf("=== log of %s (%s):\n%s", h.Name, h.LogPath, b)
	}
}

// run runs prog in ns and fails the test if it fails; it returns stdout
// and stderr combined.
func run(t *testing.T, ctx context.Context, ns *netns.NS, prog string, args ...string) string {
	t.Helper()
	out, err := ns.Run(ctx, prog, args...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// runStdout runs prog in ns and returns its stdout alone (tools such as
// tshark print warnings on stderr that would break parsing).
func runStdout(t *testing.T, ctx context.Context, ns *netns.NS, prog string, args ...string) string {
	t.Helper()
	cmd := ns.Command(ctx, prog, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("[%s] %s %s: %v\n%s", ns.Name, prog, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// requireTools skips the test when a tool it runs is not installed.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/test installs it)", tool)
		}
	}
}

// disableIPv6 turns IPv6 off on dev in each host, so that router
// solicitations and MLD reports do not add flooded frames to the counts.
func disableIPv6(t *testing.T, ctx context.Context, dev string, hosts ...*lab.Host) {
	t.Helper()
	for _, h := range hosts {
		run(t, ctx, h.NS, "sysctl", "-qw", "net.ipv6.conf."+dev+".disable_ipv6=1")
	}
}

// client returns an API client of host h's daemon.
func client(h *lab.Host) *api.Client { return api.NewClient(h.APISocket) }

// poll calls check every 50 ms until it returns nil or timeout passes; then
// it fails the test with what and check's last error.
func poll(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// linkMAC returns the hardware address of dev in ns (`ip -j link show`).
func linkMAC(t *testing.T, ctx context.Context, ns *netns.NS, dev string) encap.MAC {
	t.Helper()
	var links []struct {
		Address string `json:"address"`
	}
	out := runStdout(t, ctx, ns, "ip", "-j", "link", "show", "dev", dev)
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show dev %s: %v: %s", dev, err, out)
	}
	mac, err := encap.ParseMAC(links[0].Address)
	if err != nil {
		t.Fatalf("MAC of %s: %v", dev, err)
	}
	return mac
}

// fdbEntry returns host h's FDB entry for (vni, mac).
func fdbEntry(ctx context.Context, h *lab.Host, vni uint32, mac encap.MAC) (api.FDBEntry, error) {
	entries, err := client(h).FDB(ctx, vni, false)
	if err != nil {
		return api.FDBEntry{}, err
	}
	for _, e := range entries {
		if e.MAC == mac {
			return e, nil
		}
	}
	return api.FDBEntry{}, fmt.Errorf("%s has no FDB entry for %s in VNI %d (has %d entries)", h.Name, mac, vni, len(entries))
}

// fdbView is the part of an FDB entry the tests compare.
type fdbView struct {
	MAC    encap.MAC
	Remote string // "" for a local entry
	Port   string
	Origin string
}

func viewOf(e api.FDBEntry) fdbView {
	v := fdbView{MAC: e.MAC, Port: e.Port, Origin: e.Origin}
	if e.Remote.IsValid() {
		v.Remote = e.Remote.String()
	}
	return v
}

// stats returns host h's counters.
func stats(t *testing.T, ctx context.Context, h *lab.Host) api.Stats {
	t.Helper()
	st, err := client(h).Stats(ctx)
	if err != nil {
		t.Fatalf("%s: stats: %v", h.Name, err)
	}
	return st
}

// vniRx returns the rx_packets counter of vni in st.
func vniRx(st api.Stats, vni uint32) uint64 {
	for _, v := range st.VNIs {
		if v.VNI == vni {
			return v.RxPackets
		}
	}
	return 0
}

// mustPing pings dst from h (count echoes, 2 s timeout each), fails the
// test unless every echo came back, and logs the RTTs.
func mustPing(t *testing.T, ctx context.Context, h *lab.Host, dst netip.Addr, count int) lab.PingResult {
	t.Helper()
	res, err := h.Ping(ctx, dst, count, 2*time.Second)
	if err != nil {
		t.Fatalf("ping %s -> %s: %v", h.Name, dst, err)
	}
	if res.Received != res.Sent {
		t.Fatalf("ping %s -> %s: unexpected replies:\n- want: %d\n-  got: %d", h.Name, dst, res.Sent, res.Received)
	}
	t.Logf("ping %s -> %s: %d/%d, rtt min/avg/max %v/%v/%v", h.Name, dst, res.Received, res.Sent,
		res.MinRTT.Round(time.Microsecond), res.AvgRTT.Round(time.Microsecond), res.MaxRTT.Round(time.Microsecond))
	return res
}

// capture is a tcpdump writing a pcap file inside a namespace.
type capture struct {
	cmd    *exec.Cmd
	path   string
	stderr *syncBuffer
	done   chan struct{}
	err    error // Wait's result, set before done closes
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCapture runs tcpdump on iface inside ns with the filter words, writes
// to a pcap file in a temporary directory, and returns once tcpdump
// listens. The capture is stopped when the test ends if stop was not
// called.
func startCapture(t *testing.T, ctx context.Context, ns *netns.NS, iface string, filter ...string) *capture {
	t.Helper()
	requireTools(t, "tcpdump")
	c := &capture{path: filepath.Join(t.TempDir(), iface+".pcap"), stderr: &syncBuffer{}, done: make(chan struct{})}
	// -Z root: do not drop privileges, the pcap directory is root's.
	args := append([]string{"-i", iface, "-n", "-U", "--immediate-mode", "-Z", "root", "-w", c.path}, filter...)
	c.cmd = ns.Command(context.Background(), "tcpdump", args...)
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start tcpdump: %v", err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	poll(t, 10*time.Second, "tcpdump listening on "+iface, func() error {
		select {
		case <-c.done:
			t.Fatalf("tcpdump exited: %v\n%s", c.err, c.stderr.String())
		default:
		}
		if !strings.Contains(c.stderr.String(), "listening on") {
			return errors.New("not yet")
		}
		return nil
	})
	return c
}

// stop ends the capture (SIGINT, so tcpdump flushes the file) and returns
// the pcap path. tcpdump writes each packet as soon as it reads it (-U,
// --immediate-mode) but may lag behind the kernel on a busy machine, and
// SIGINT ends it without reading what is still queued: under a CPU hog
// one run reported "1 packet captured, 29 packets received by filter".
// So stop first waits until the file has stopped growing.
func (c *capture) stop(t *testing.T) string {
	t.Helper()
	const quiet = 300 * time.Millisecond
	size, since := int64(-1), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var n int64
		if fi, err := os.Stat(c.path); err == nil {
			n = fi.Size()
		}
		if n != size {
			size, since = n, time.Now()
		} else if time.Since(since) >= quiet {
			break
		}
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("tcpdump did not stop:\n%s", c.stderr.String())
	}
	t.Logf("tcpdump: %s", strings.TrimSpace(c.stderr.String()))
	return c.path
}

// tsharkFields reads pcap with tshark (port 4789 decoded as VXLAN) and
// returns one []string per packet matching filter, holding the fields.
// Fields with several occurrences (outer and inner ip.src) come back
// comma-separated.
func tsharkFields(t *testing.T, ctx context.Context, pcap, filter string, fields ...string) [][]string {
	t.Helper()
	requireTools(t, "tshark")
	args := []string{"-n", "-r", pcap, "-d", "udp.port==4789,vxlan", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"}
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.CommandContext(ctx, "tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		rows = append(rows, strings.Split(line, "\t"))
	}
	return rows
}
