package lab

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestPrivilegedLabVxswitchd runs the real daemon: two vxswitchd hosts and
// one kernel vxlan host must all reach each other, also after one daemon
// is killed with SIGKILL and restarted. It builds cmd/vxswitchd first and
// skips if that does not build.
func TestPrivilegedLabVxswitchd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs vxswitchd")
	}
	bin := filepath.Join(t.TempDir(), "vxswitchd")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/vxswitch/vxswitch/cmd/vxswitchd").CombinedOutput(); err != nil {
		t.Skipf("cmd/vxswitchd does not build: %v\n%s", err, out)
	}
	for _, ipv6 := range []bool{false, true} {
		name := "ipv4"
		if ipv6 {
			name = "ipv6"
		}
		t.Run(name, func(t *testing.T) {
			l := newTestLab(t, Config{Hosts: 3, KernelHosts: []int{2}, IPv6: ipv6, DaemonCmd: []string{bin}})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := l.Up(ctx); err != nil {
				t.Fatalf("Up: %v", err)
			}
			pingAll := func(when string) {
				t.Helper()
				res, err := l.PingAll(ctx)
				var sum bytes.Buffer
				Summary(&sum, res)
				if err != nil {
					t.Fatalf("PingAll %s: %v\n%s", when, err, sum.String())
				}
				t.Logf("PingAll %s:\n%s", when, sum.String())
			}
			pingAll("after Up")

			h := l.Hosts()[0]
			if err := h.StopDaemon(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if err := h.StartDaemon(ctx); err != nil {
				t.Fatal(err)
			}
			pingAll("after a restart of h0")
		})
	}
}
