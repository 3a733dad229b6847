package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/internal/testutil"
)

// TestMain lets the test binary stand in for vxlab when the lab re-executes
// it as `<test binary> daemon ARGS...` (DaemonCmd = {os.Executable(),
// "daemon"}), so the privileged tests run the real daemon in-process code.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == daemonArg {
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestParseArgs(t *testing.T) {
	def := options{cmd: "run", name: "vxlab", root: DefaultRoot, hosts: 3, vni: 42}
	tests := []struct {
		name    string
		args    []string
		want    options
		wantErr error
	}{
		{"defaults", nil, def, nil},
		{"flags without command", []string{"--hosts", "2", "--json"}, func() options { o := def; o.hosts, o.json = 2, true; return o }(), nil},
		{"up with everything", []string{"up", "--hosts", "4", "--kernel-peer", "--ipv6", "--vni", "7", "--name", "x", "--root", "/tmp/r"},
			options{cmd: "up", name: "x", root: "/tmp/r", hosts: 4, kernelPeer: true, ipv6: true, vni: 7}, nil},
		{"daemon args", []string{"up", "--daemon-args", "--wait=loop  --offload=false", "--daemon-args=--tap-queues=2"},
			func() options {
				o := def
				o.cmd, o.daemonArgs = "up", []string{"--wait=loop", "--offload=false", "--tap-queues=2"}
				return o
			}(), nil},
		{"down", []string{"down"}, func() options { o := def; o.cmd = "down"; return o }(), nil},
		{"status json", []string{"status", "--json"}, func() options { o := def; o.cmd, o.json = "status", true; return o }(), nil},
		{"unknown command", []string{"sideways"}, options{}, errUsage},
		{"unknown flag", []string{"run", "--nope"}, options{}, errUsage},
		{"extra argument", []string{"run", "more"}, options{}, errUsage},
		{"kernel peer needs two hosts", []string{"--hosts", "1", "--kernel-peer"}, options{}, errUsage},
		{"VNI too large", []string{"--vni", "16777216"}, options{}, errUsage},
		{"help", []string{"--help"}, options{}, flag.ErrHelp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseArgs(tt.args, io.Discard)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("unexpected error:\n- want: %v\n-  got: %v", tt.wantErr, err)
			}
			if tt.wantErr != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(options{})); diff != "" {
				t.Errorf("unexpected options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMainUsageAndHelp(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string // substring of stderr
	}{
		{"help", []string{"--help"}, 0, "vxlab up"},
		{"bad command", []string{"frobnicate"}, 2, "unknown command"},
		{"bad flag", []string{"--hosts", "x"}, 2, "Run 'vxlab --help'"},
		{"daemon usage error", []string{"daemon", "--no-such-flag"}, 2, "no-such-flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := Main(context.Background(), tt.args, io.Discard, &stderr)
			if code != tt.wantCode {
				t.Errorf("unexpected exit code:\n- want: %d\n-  got: %d", tt.wantCode, code)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("unexpected stderr:\n- want: containing %q\n-  got: %s", tt.wantErr, stderr.String())
			}
		})
	}
}

func TestParseKernelFDB(t *testing.T) {
	// Output of `bridge -j -s fdb show dev vx42` on a kernel lab host:
	// two head-end replication entries, one learned MAC, one of the
	// device's own multicast addresses (no dst).
	out := `[{"mac":"00:00:00:00:00:00","ifname":"vx42","dst":"192.0.2.10","used":5,"updated":5,"flags":["self"],"state":"permanent"},
{"mac":"8e:bb:04:eb:7a:11","ifname":"vx42","dst":"192.0.2.11","used":1,"updated":2,"flags":["self"],"state":""},
{"mac":"33:33:00:00:00:01","ifname":"vx42","used":9,"updated":9,"flags":["self"],"state":"permanent"},
{"mac":"aa:aa:aa:aa:aa:aa","ifname":"vx42","dst":"192.0.2.12","vni":7,"updated":0,"flags":["self"],"state":""}]`
	want := []fdbRow{
		{MAC: "00:00:00:00:00:00", Dst: "192.0.2.10", VNI: 42, Origin: "static", AgeSeconds: 5},
		{MAC: "8e:bb:04:eb:7a:11", Dst: "192.0.2.11", VNI: 42, Origin: "learned", AgeSeconds: 2},
		{MAC: "aa:aa:aa:aa:aa:aa", Dst: "192.0.2.12", VNI: 7, Origin: "learned"},
	}
	got, err := parseKernelFDB([]byte(out), "vx42", 42)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected rows (-want +got):\n%s", diff)
	}
	if _, err := parseKernelFDB([]byte("not json"), "vx42", 42); err == nil {
		t.Error("unexpected success parsing garbage")
	}
}

func TestProcStart(t *testing.T) {
	got, err := procStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	again, err := procStart(os.Getpid())
	if err != nil || again != got || got == 0 {
		t.Errorf("unexpected start time:\n- want: %d, stable and non-zero\n-  got: %d, %v", got, again, err)
	}
	if _, err := procStart(1 << 30); err == nil {
		t.Error("unexpected start time for a PID that cannot exist")
	}
}

// labNamespaces returns the namespaces of lab name that exist.
func labNamespaces(t *testing.T, name string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], name+"-") {
			found = append(found, f[0])
		}
	}
	return found
}

// newLabOptions returns options for a uniquely named lab under a test
// directory, and registers a cleanup that removes it whatever happens.
func newLabOptions(t *testing.T, cmd string) options {
	t.Helper()
	testutil.RequireRoot(t)
	o := options{cmd: cmd, name: testutil.UniqueName("vxl"), root: t.TempDir(), hosts: 3, kernelPeer: true, vni: 42, json: true}
	t.Cleanup(func() { down(o) })
	return o
}

// TestPrivilegedVxlabRun runs `vxlab run --hosts 3 --kernel-peer --json`
// in-process: every pair must ping and the lab must be gone afterwards.
func TestPrivilegedVxlabRun(t *testing.T) {
	o := newLabOptions(t, "run")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := cmdRun(ctx, o, t.Logf, &stdout, &stderr)
	if code != 0 {
		t.Errorf("unexpected exit code:\n- want: 0\n-  got: %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if want, got := 6, len(rep.Pairs); got != want {
		t.Errorf("unexpected number of pairs:\n- want: %d\n-  got: %d", want, got)
	}
	for _, p := range rep.Pairs {
		if !p.OK {
			t.Errorf("pair %s -> %s failed: %+v", p.From, p.To, p)
		}
	}
	kinds := map[string]int{}
	for _, h := range rep.Hosts {
		kinds[h.Kind]++
		// Every host has heard from the other two, so knows 2 remote MACs.
		remote := 0
		for _, r := range h.FDB {
			if r.Dst != "" && r.MAC != "00:00:00:00:00:00" {
				remote++
			}
		}
		if remote != 2 || h.FDBError != "" {
			t.Errorf("host %s: unexpected FDB (want 2 remote MACs): %+v %s", h.Name, h.FDB, h.FDBError)
		}
	}
	if diff := cmp.Diff(map[string]int{"vxswitchd": 2, "kernel": 1}, kinds); diff != "" {
		t.Errorf("unexpected host kinds (-want +got):\n%s", diff)
	}
	if left := labNamespaces(t, o.name); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
}

// TestPrivilegedVxlabUpStatusDown leaves a lab running with `up`, checks
// that its daemons are detached and recorded, that `status` sees it, and
// that `down` (twice) removes everything.
func TestPrivilegedVxlabUpStatusDown(t *testing.T) {
	o := newLabOptions(t, "up")
	o.hosts, o.kernelPeer = 2, false
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if code := cmdUp(ctx, o, t.Logf, &stdout, &stderr); code != 0 {
		t.Fatalf("unexpected up exit code:\n- want: 0\n-  got: %d\n%s%s", code, stdout.String(), stderr.String())
	}
	st, err := readState(o)
	if err != nil {
		t.Fatal(err)
	}
	if want, got := 2, len(st.Started); got != want {
		t.Fatalf("unexpected recorded daemons:\n- want: %d\n-  got: %d (%+v)", want, got, st)
	}
	for pid := range st.Started {
		// Detached: the daemon leads its own session.
		if sid, err := getsid(pid); err != nil || sid != pid {
			t.Errorf("daemon %d: unexpected session:\n- want: %d\n-  got: %d (%v)", pid, pid, sid, err)
		}
	}
	stdout.Reset()
	if code := cmdStatus(ctx, o, &stdout, &stderr); code != 0 {
		t.Errorf("unexpected status exit code:\n- want: 0\n-  got: %d\n%s%s", code, stdout.String(), stderr.String())
	}
	for i := 0; i < 2; i++ {
		if code := cmdDown(o, io.Discard, &stderr); code != 0 {
			t.Errorf("down #%d: unexpected exit code:\n- want: 0\n-  got: %d\n%s", i+1, code, stderr.String())
		}
	}
	for pid, started := range st.Started {
		if s, err := procStart(pid); err == nil && s == started {
			t.Errorf("daemon %d still runs after down", pid)
		}
	}
	if left := labNamespaces(t, o.name); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
	if code := cmdStatus(ctx, o, io.Discard, io.Discard); code != 1 {
		t.Errorf("unexpected status exit code after down:\n- want: 1\n-  got: %d", code)
	}
}
