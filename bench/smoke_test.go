package bench

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/internal/testutil"
)

// TestMain lets the test binary stand in for vxswitchd and the ceiling
// pipe when the rig re-executes it as `<test binary> daemon|pipe ARGS...`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == DaemonArg || os.Args[1] == PipeArg) {
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestPrivilegedBenchSmoke runs the whole benchmark with 1 s tests and a
// 2-trial search (for CI, well under 60 s) and checks that results.json
// has every metric for both sides and that no rig namespace is left.
func TestPrivilegedBenchSmoke(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("iperf3 not installed")
	}
	if testing.Short() {
		t.Skip("runs iperf3 for about 20 s")
	}
	name := testutil.UniqueName("vxb")
	out := t.TempDir()
	cleanupRigs(t, name, "v", "k")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// reno is built into every kernel, so --congestion can always ask for
	// it. --pin-hosts: the measuring commands run under taskset and the
	// daemons' threads are bound (the capture smoke test below runs
	// unpinned).
	args := []string{"--duration", "1s", "--trial", "1s", "--iterations", "2", "--name", name, "--out", out, "--congestion", "reno", "--pin-hosts"}
	res, _ := mainResults(t, ctx, args, out, io.Discard)
	for _, side := range []string{SideVxswitchd, SideKernel} {
		s := res.Side(side)
		if s == nil {
			t.Fatalf("results.json has no %s side", side)
		}
		_, noSockperf := exec.LookPath("sockperf")
		for _, m := range MetricNames {
			if (m == MetricPacedP50 || m == MetricPacedCPU) && noSockperf != nil {
				continue // the paced test needs sockperf (a note says so)
			}
			if _, ok := s.Metrics[m]; !ok {
				t.Errorf("side %s: missing metric %s", side, m)
			}
		}
		if noSockperf == nil {
			// The default --paced: 1 000 round trips per second; the
			// CPU figure is a share of the machine's CPUs.
			if m := s.Metrics[MetricPacedP50]; !strings.Contains(m.Method, "--mps 1000 ") || m.Value <= 0 {
				t.Errorf("side %s: unexpected paced latency %+v (want > 0 µs at --mps 1000)", side, m)
			}
			if m := s.Metrics[MetricPacedCPU]; m.Value < 0 || m.Value > 100*float64(runtime.NumCPU()) || !strings.Contains(m.Method, "less sockperf's user time") {
				t.Errorf("side %s: unexpected machine CPU during the paced test: %+v (want 0 <= %% <= %d)", side, m, 100*runtime.NumCPU())
			}
		}
		if len(s.Commands) == 0 || len(s.Trials) != 2 {
			t.Errorf("side %s: unexpected commands/trials: %d commands, %d trials (want 2)", side, len(s.Commands), len(s.Trials))
		}
		if m := s.Metrics[MetricTCP1]; m.Value <= 0 {
			t.Errorf("side %s: unexpected TCP throughput %v", side, m.Value)
		}
		pinned, daemonsPinned := 0, 0
		for _, c := range s.Commands {
			if strings.Contains(c, " taskset -c ") {
				pinned++
			}
			if strings.Contains(c, "daemon (pid") && strings.Contains(c, "bound to CPU") {
				daemonsPinned++
			}
		}
		wantDaemons := 2
		if side == SideKernel {
			wantDaemons = 0
		}
		if pinned == 0 || pinned != len(s.Commands)-daemonsPinned || daemonsPinned != wantDaemons {
			t.Errorf("side %s: --pin-hosts: %d of %d commands under taskset, %d daemons bound (want all commands, %d daemons):\n%s",
				side, pinned, len(s.Commands), daemonsPinned, wantDaemons, strings.Join(s.Commands, "\n"))
		}
		for _, m := range []string{MetricTCP1, MetricTCP4} {
			if got := s.Metrics[m].Method; !strings.HasSuffix(got, "congestion control reno") {
				t.Errorf("side %s: %s method %q does not name the congestion control asked for (reno)", side, m, got)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(out, "results.svg")); err != nil {
		t.Error(err)
	}
	list, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(list), name+"-") {
		t.Errorf("rig namespaces left behind:\n%s", list)
	}
}

// TestPrivilegedCaptureCostSmoke runs `vxbench --capture` with 1 s tests:
// three rows in order, every mode moved data, the full capture recorded
// packets and the filtered one recorded none, and capture.json parses.
func TestPrivilegedCaptureCostSmoke(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("iperf3 not installed")
	}
	if testing.Short() {
		t.Skip("runs iperf3 for about 10 s")
	}
	name := testutil.UniqueName("vxc")
	out := t.TempDir()
	cleanupRigs(t, name, "c")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--capture", "--duration", "1s", "--name", name, "--out", out}
	var stderr strings.Builder
	if code := Main(ctx, args, io.Discard, &stderr); code != 0 {
		t.Fatalf("unexpected exit code:\n- want: 0\n-  got: %d\n%s", code, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "capture.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Rows []CaptureRow }
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var modes []string
	for _, r := range got.Rows {
		modes = append(modes, r.Mode)
		if r.Gbps <= 0 {
			t.Errorf("%s: no TCP throughput", r.Mode)
		}
	}
	if want := []string{CaptureNone, CaptureFiltered, CaptureFull}; strings.Join(modes, "|") != strings.Join(want, "|") {
		t.Fatalf("unexpected modes:\n- want: %v\n-  got: %v", want, modes)
	}
	if got.Rows[1].Packets != 0 {
		t.Errorf("filtered capture recorded packets:\n- want: 0\n-  got: %d", got.Rows[1].Packets)
	}
	if got.Rows[2].Packets == 0 {
		t.Errorf("full capture recorded nothing")
	}
}

// cleanupRigs deletes, when the test ends, the namespaces of the rigs
// named <name>-<suffix> that a failed run may have left.
func cleanupRigs(t *testing.T, name string, suffixes ...string) {
	t.Cleanup(func() {
		for _, side := range suffixes {
			for _, h := range []string{"h0", "h1", "ul"} {
				exec.Command("ip", "netns", "del", name+"-"+side+"-"+h).Run()
			}
		}
	})
}

// mainResults runs vxbench with args, fails the test unless it exits 0,
// and returns results.json from out, parsed and as written.
func mainResults(t *testing.T, ctx context.Context, args []string, out string, stdout io.Writer) (Results, []byte) {
	t.Helper()
	var stderr strings.Builder
	if code := Main(ctx, args, stdout, &stderr); code != 0 {
		t.Fatalf("unexpected exit code:\n- want: 0\n-  got: %d\n%s", code, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res, b
}
