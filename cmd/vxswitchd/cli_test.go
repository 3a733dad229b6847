package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/vxswitch/vxswitch/switch/daemon"
)

// runDaemon runs this test binary as vxswitchd with args (in the caller's
// namespace: only for invocations that exit before touching the network)
// and returns its exit code, stdout and stderr.
func runDaemon(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	default:
		t.Fatalf("run daemon: %v", err)
		return 0, "", ""
	}
}

// TestDaemonCLIUsageErrors: bad command lines exit 2 with a message that
// names the problem, before any network or file is touched (no root
// needed).
func TestDaemonCLIUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{name: "no --local", args: []string{"--tap", "vxtap0:42"}, wantMsg: "--local is required"},
		{name: "bad --tap", args: []string{"--local", "192.0.2.10", "--tap", "vxtap0"}, wantMsg: `--tap "vxtap0": want NAME:VNI`},
		{name: "VNI too large", args: []string{"--local", "192.0.2.10", "--tap", "vxtap0:16777216"}, wantMsg: "VNI must be a number"},
		{name: "bad --local", args: []string{"--local", "192.0.2.300"}, wantMsg: `--local "192.0.2.300": not an IP address`},
		{name: "bad --remote", args: []string{"--local", "192.0.2.10", "--remote", "nonsense"}, wantMsg: `--remote "nonsense": not an IP address`},
		{name: "mixed families", args: []string{"--local", "192.0.2.10", "--remote", "2001:db8::1"}, wantMsg: "address family differs"},
		{name: "unknown flag", args: []string{"--local", "192.0.2.10", "--bogus"}, wantMsg: "flag provided but not defined: -bogus"},
		{name: "stray argument", args: []string{"--local", "192.0.2.10", "extra"}, wantMsg: `unexpected argument "extra"`},
		{name: "unknown config key", args: []string{"--config", "../../testdata/e2e/unknown-key.yaml"}, wantMsg: "field remotes not found"},
		{name: "missing config file", args: []string{"--config", "../../testdata/e2e/nonexistent.yaml"}, wantMsg: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runDaemon(t, tt.args...)
			if code != 2 {
				t.Errorf("unexpected exit code:\n- want: 2\n-  got: %d\n%s", code, stderr)
			}
			if !strings.Contains(stderr, tt.wantMsg) {
				t.Errorf("unexpected message:\n- want: ...%s...\n-  got: %s", tt.wantMsg, stderr)
			}
		})
	}
}

// TestDaemonCLIHelp: --help exits 0 and documents every flag, which is
// every key of daemon.Config except the file-only ones.
func TestDaemonCLIHelp(t *testing.T) {
	code, _, stderr := runDaemon(t, "--help")
	if code != 0 {
		t.Fatalf("unexpected exit code of --help:\n- want: 0\n-  got: %d\n%s", code, stderr)
	}
	fileOnly := map[string]bool{"vni-remote": true, "capture": true}
	flags := []string{"config", "version", "tap"} // not Config fields with a yaml key of their own
	ct := reflect.TypeFor[daemon.Config]()
	for i := 0; i < ct.NumField(); i++ {
		key, _, _ := strings.Cut(ct.Field(i).Tag.Get("yaml"), ",")
		if key != "" && key != "-" && !fileOnly[key] {
			flags = append(flags, key)
		}
	}
	for _, f := range flags {
		if !strings.Contains(stderr, "  -"+f+" ") && !strings.Contains(stderr, "  -"+f+"\n") {
			t.Errorf("--help does not list -%s", f)
		}
	}
	if t.Failed() {
		t.Logf("--help output:\n%s", stderr)
	}
	code, stdout, _ := runDaemon(t, "--version")
	if code != 0 || !strings.HasPrefix(stdout, "vxswitchd ") {
		t.Errorf("unexpected --version: exit %d, %q", code, stdout)
	}
}
