package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/internal/netns"
	"github.com/vxswitch/vxswitch/internal/testutil"
	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/daemon"
)

// daemonProc is a vxswitchd started by a test inside a namespace.
type daemonProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan error // receives Wait's result once; re-sent by readers
}

// startDaemonIn starts this test binary as vxswitchd with args in ns. It is
// killed when the test ends if still running.
func startDaemonIn(t *testing.T, ns *netns.NS, args ...string) *daemonProc {
	t.Helper()
	return startArgvIn(t, ns, append(daemonArgv(t), args...))
}

// startArgvIn starts argv in ns as startDaemonIn does: argv runs the
// daemon (daemonArgv), perhaps through a wrapper such as setpriv.
func startArgvIn(t *testing.T, ns *netns.NS, argv []string) *daemonProc {
	t.Helper()
	d := &daemonProc{cmd: ns.Command(context.Background(), argv[0], argv[1:]...), out: &syncBuffer{}, exited: make(chan error, 1)}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		err := <-d.exited
		d.exited <- err
	})
	return d
}

// wait waits up to timeout for the daemon to exit and returns its exit code.
func (d *daemonProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case err := <-d.exited:
		d.exited <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("daemon: %v", err)
		}
		return 0
	case <-time.After(timeout):
		t.Fatalf("daemon still running after %v:\n%s", timeout, d.out.String())
		return -1
	}
}

// waitAPI polls until the daemon's API at sock answers.
func (d *daemonProc) waitAPI(t *testing.T, ctx context.Context, sock string) *api.Client {
	t.Helper()
	c := api.NewClient(sock)
	poll(t, 15*time.Second, "API at "+sock, func() error {
		select {
		case err := <-d.exited:
			d.exited <- err
			t.Fatalf("daemon exited: %v\n%s", err, d.out.String())
		default:
		}
		_, err := c.Status(ctx)
		return err
	})
	return c
}

// cliNS is a namespace whose underlay interface (one end of a veth pair
// that stays inside it) holds 192.0.2.1/24.
func cliNS(t *testing.T, ctx context.Context) *netns.NS {
	t.Helper()
	ns := testutil.NewNS(t)
	run(t, ctx, ns, "ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul1")
	run(t, ctx, ns, "ip", "addr", "add", "192.0.2.1/24", "dev", "ul0")
	run(t, ctx, ns, "ip", "link", "set", "ul0", "up")
	run(t, ctx, ns, "ip", "link", "set", "ul1", "up")
	return ns
}

func linkExists(ns *netns.NS, ctx context.Context, dev string) bool {
	_, err := ns.Run(ctx, "ip", "link", "show", "dev", dev)
	return err == nil
}

// TestPrivilegedDaemonCLI: SIGTERM removes the TAP and the API socket; a
// second daemon on the same --api socket fails clearly and touches
// nothing; --rt-priority without the privilege for it fails clearly and
// leaves no TAP; a YAML --config file with the flags' keys works.
func TestPrivilegedDaemonCLI(t *testing.T) {
	testutil.RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ns := cliNS(t, ctx)
	dir := t.TempDir()

	t.Run("SIGTERM cleans up", func(t *testing.T) {
		sock := filepath.Join(dir, "term.sock")
		d := startDaemonIn(t, ns, "--local", "192.0.2.1", "--tap", "vxcli0:42", "--api", sock)
		d.waitAPI(t, ctx, sock)
		if !linkExists(ns, ctx, "vxcli0") {
			t.Fatalf("TAP vxcli0 missing while the daemon runs:\n%s", d.out.String())
		}

		t.Run("second daemon on the same socket", func(t *testing.T) {
			d2 := startDaemonIn(t, ns, "--local", "192.0.2.1", "--port", "4790", "--tap", "vxcli1:42", "--api", sock)
			if code := d2.wait(t, 10*time.Second); code != 1 {
				t.Errorf("unexpected exit code of the second daemon:\n- want: 1\n-  got: %d", code)
			}
			if want := "another vxswitchd is running"; !strings.Contains(d2.out.String(), want) {
				t.Errorf("unexpected message:\n- want: ...%s...\n-  got: %s", want, d2.out.String())
			}
			if linkExists(ns, ctx, "vxcli1") {
				t.Errorf("the failed second daemon left TAP vxcli1 behind")
			}
			if _, err := api.NewClient(sock).Status(ctx); err != nil {
				t.Errorf("first daemon's API broken by the second: %v", err)
			}
		})

		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := d.wait(t, 10*time.Second); code != 0 {
			t.Errorf("unexpected exit code after SIGTERM:\n- want: 0\n-  got: %d\n%s", code, d.out.String())
		}
		if linkExists(ns, ctx, "vxcli0") {
			t.Errorf("TAP vxcli0 still exists after SIGTERM")
		}
		if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("API socket %s still there after SIGTERM: %v", sock, err)
		}
	})

	t.Run("--rt-priority without CAP_SYS_NICE", func(t *testing.T) {
		requireTools(t, "setpriv")
		// Dropped from the bounding set, the capability is gone after
		// exec even for root; RLIMIT_RTPRIO is 0 unless raised.
		argv := append([]string{"setpriv", "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice"}, daemonArgv(t)...)
		argv = append(argv, "--local", "192.0.2.1", "--port", "4791", "--tap", "vxcli4:42", "--api", filepath.Join(dir, "rt.sock"), "--rt-priority", "10")
		d := startArgvIn(t, ns, argv)
		if code := d.wait(t, 10*time.Second); code != 1 {
			t.Errorf("unexpected exit code:\n- want: 1\n-  got: %d\n%s", code, d.out.String())
		}
		if want := "SCHED_FIFO priority 10 for the forwarding loop: operation not permitted (needs CAP_SYS_NICE or RLIMIT_RTPRIO >= 10"; !strings.Contains(d.out.String(), want) {
			t.Errorf("unexpected message:\n- want: ...%s...\n-  got: %s", want, d.out.String())
		}
		if linkExists(ns, ctx, "vxcli4") {
			t.Errorf("the daemon that could not go real-time left TAP vxcli4 behind")
		}
	})

	t.Run("the VTEP opens before the TAPs", func(t *testing.T) {
		// A TAP comes up sending (IPv6 neighbour and multicast listener
		// messages) and the loop floods that to --remote at once, which
		// fails (and is logged) if the VTEP is not open yet.
		sock := filepath.Join(dir, "order.sock")
		d := startDaemonIn(t, ns, "--local", "192.0.2.1", "--port", "4792", "--tap", "vxcli5:42", "--remote", "192.0.2.2", "--api", sock, "--no-gossip")
		d.waitAPI(t, ctx, sock)
		out := d.out.String()
		vtep, port := strings.Index(out, `msg="VTEP open"`), strings.Index(out, `msg="TAP port up"`)
		if vtep < 0 || port < 0 || vtep > port {
			t.Errorf("want \"VTEP open\" logged before \"TAP port up\":\n%s", out)
		}
		if strings.Contains(out, "VXLAN send failed") {
			t.Errorf("a send failed while the daemon started:\n%s", out)
		}
	})

	t.Run("YAML config", func(t *testing.T) {
		sock := filepath.Join(dir, "yaml.sock")
		cfgPath := filepath.Join(dir, "vxswitchd.yaml")
		yaml := fmt.Sprintf("local: 192.0.2.1\ntap: [vxcli2:42, {name: vxcli3, vni: 43}]\nremote: [192.0.2.2, 192.0.2.3]\nageing: 90s\napi: %s\n", sock)
		if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		// ageing has no API view: check how the file parses.
		cfg, err := daemon.ParseArgs([]string{"--config", cfgPath}, &strings.Builder{})
		if err != nil {
			t.Fatalf("ParseArgs: %v", err)
		}
		if cfg.Ageing != 90*time.Second {
			t.Errorf("unexpected ageing from the file:\n- want: 90s\n-  got: %v", cfg.Ageing)
		}

		d := startDaemonIn(t, ns, "--config", cfgPath)
		c := d.waitAPI(t, ctx, sock)
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(struct {
			Local string
			VNIs  []uint32
		}{"192.0.2.1", []uint32{42, 43}}, struct {
			Local string
			VNIs  []uint32
		}{st.Local, st.VNIs}); diff != "" {
			t.Errorf("unexpected status (-want +got):\n%s", diff)
		}
		ports, err := c.Ports(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]uint32{}
		for _, p := range ports {
			got[p.Name] = p.VNI
		}
		if diff := cmp.Diff(map[string]uint32{"vxcli2": 42, "vxcli3": 43}, got); diff != "" {
			t.Errorf("unexpected ports (-want +got):\n%s", diff)
		}
		flood, err := c.Flood(ctx, 42, false)
		if err != nil {
			t.Fatal(err)
		}
		var remotes []string
		for _, f := range flood {
			for _, r := range f.Remotes {
				remotes = append(remotes, r.String())
			}
		}
		if diff := cmp.Diff([]string{"192.0.2.2", "192.0.2.3"}, remotes); diff != "" {
			t.Errorf("unexpected flood list of VNI 42 (-want +got):\n%s", diff)
		}
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := d.wait(t, 10*time.Second); code != 0 {
			t.Errorf("unexpected exit code after SIGTERM: %d\n%s", code, d.out.String())
		}
	})
}
