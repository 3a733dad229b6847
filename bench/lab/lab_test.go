package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/internal/testutil"
)

func TestConfigValidation(t *testing.T) {
	daemon := []string{"/usr/local/bin/vxswitchd"}
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "defaults with daemon", cfg: Config{DaemonCmd: daemon}},
		{name: "all kernel needs no daemon", cfg: Config{Hosts: 2, KernelHosts: []int{0, 1}}},
		{name: "ipv6 jumbo", cfg: Config{IPv6: true, UnderlayMTU: 9000, DaemonCmd: daemon}},
		{name: "largest VNI", cfg: Config{VNI: 1<<24 - 1, DaemonCmd: daemon}},
		{name: "one host", cfg: Config{Hosts: 1, DaemonCmd: daemon}},
		{name: "missing daemon", cfg: Config{Hosts: 2, KernelHosts: []int{0}}, wantErr: true},
		{name: "empty daemon argv0", cfg: Config{DaemonCmd: []string{""}}, wantErr: true},
		{name: "negative hosts", cfg: Config{Hosts: -1, DaemonCmd: daemon}, wantErr: true},
		{name: "too many hosts", cfg: Config{Hosts: 201, DaemonCmd: daemon}, wantErr: true},
		{name: "kernel index out of range", cfg: Config{Hosts: 2, KernelHosts: []int{2}, DaemonCmd: daemon}, wantErr: true},
		{name: "kernel index negative", cfg: Config{Hosts: 2, KernelHosts: []int{-1}, DaemonCmd: daemon}, wantErr: true},
		{name: "kernel index twice", cfg: Config{Hosts: 2, KernelHosts: []int{1, 1}, DaemonCmd: daemon}, wantErr: true},
		{name: "VNI 2^24", cfg: Config{VNI: 1 << 24, DaemonCmd: daemon}, wantErr: true},
		{name: "ipv6 MTU below 1280", cfg: Config{IPv6: true, UnderlayMTU: 1279, DaemonCmd: daemon}, wantErr: true},
		{name: "ipv4 MTU below 576", cfg: Config{UnderlayMTU: 575, DaemonCmd: daemon}, wantErr: true},
		{name: "MTU above 65535", cfg: Config{UnderlayMTU: 65536, DaemonCmd: daemon}, wantErr: true},
		{name: "name with slash", cfg: Config{Name: "a/b", DaemonCmd: daemon}, wantErr: true},
		{name: "name with space", cfg: Config{Name: "a b", DaemonCmd: daemon}, wantErr: true},
		{name: "name too long", cfg: Config{Name: strings.Repeat("x", 33), DaemonCmd: daemon}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if got := err != nil; got != tt.wantErr {
				t.Fatalf("unexpected error state:\n- want: error=%v\n-  got: %v", tt.wantErr, err)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("unexpected error:\n- want: %v\n-  got: %v", ErrInvalidConfig, err)
			}
		})
	}
}

// hostPlan is the part of a Host that New decides.
type hostPlan struct {
	Name, NS, Underlay, Overlay, Dev string
	Kernel                           bool
}

func planOf(l *Lab) []hostPlan {
	var got []hostPlan
	for _, h := range l.Hosts() {
		got = append(got, hostPlan{h.Name, h.NS.Name, h.Underlay.String(), h.Overlay.String(), h.Dev, h.Kernel})
	}
	return got
}

func TestNewPlan(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []hostPlan
	}{
		{
			name: "defaults",
			cfg:  Config{DaemonCmd: []string{"vxswitchd"}, KernelHosts: []int{2}},
			want: []hostPlan{
				{"h0", "vxlab-h0", "192.0.2.10", "198.18.0.1/24", "vxtap0", false},
				{"h1", "vxlab-h1", "192.0.2.11", "198.18.0.2/24", "vxtap0", false},
				{"h2", "vxlab-h2", "192.0.2.12", "198.18.0.3/24", "vx42", true},
			},
		},
		{
			name: "ipv6",
			cfg:  Config{Name: "v6", Hosts: 2, IPv6: true, KernelHosts: []int{0, 1}},
			want: []hostPlan{
				{"h0", "v6-h0", "2001:db8::a", "198.18.0.1/24", "vx42", true},
				{"h1", "v6-h1", "2001:db8::b", "198.18.0.2/24", "vx42", true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, planOf(l)); diff != "" {
				t.Fatalf("unexpected hosts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDaemonArgs(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{
			name: "remotes",
			cfg:  Config{DaemonCmd: []string{"/bin/vx", "daemon"}, ExtraArgs: []string{"--strict"}},
			want: "/bin/vx daemon --local 192.0.2.11 --port 4789 --tap vxtap0:42 --remote 192.0.2.10 --remote 192.0.2.12 --api /d/h1.sock --log-level debug --strict",
		},
		{
			name: "no remotes, ipv6, vni",
			cfg:  Config{DaemonCmd: []string{"/bin/vx"}, NoRemotes: true, IPv6: true, VNI: 7},
			want: "/bin/vx --local 2001:db8::b --port 4789 --tap vxtap0:7 --api /d/h1.sock --log-level debug",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			h := l.Hosts()[1]
			h.APISocket = "/d/h1.sock"
			if got := strings.Join(h.DaemonArgs(), " "); got != tt.want {
				t.Fatalf("unexpected argv:\n- want: %v\n-  got: %v", tt.want, got)
			}
		})
	}
}

func TestPingBadArguments(t *testing.T) {
	l, err := New(Config{Hosts: 2, KernelHosts: []int{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	h := l.Hosts()[0]
	tests := []struct {
		name    string
		dst     netip.Addr
		count   int
		timeout time.Duration
	}{
		{"ipv6 destination", netip.MustParseAddr("2001:db8::1"), 1, time.Second},
		{"invalid destination", netip.Addr{}, 1, time.Second},
		{"zero count", netip.MustParseAddr("198.18.0.2"), 0, time.Second},
		{"zero timeout", netip.MustParseAddr("198.18.0.2"), 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := h.Ping(context.Background(), tt.dst, tt.count, tt.timeout)
			if err == nil {
				t.Fatalf("unexpected success: %+v", res)
			}
			if res.Sent != 0 {
				t.Fatalf("unexpected sent count:\n- want: 0\n-  got: %d", res.Sent)
			}
		})
	}
}

func TestARPFrames(t *testing.T) {
	mac := encap.MustParseMAC("02:00:00:00:00:01")
	peerMAC := encap.MustParseMAC("02:00:00:00:00:02")
	ip, peer := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")

	req := arpRequestFrame(mac, ip, peer)
	wantReq := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, // Ethernet
		0, 1, 0x08, 0x00, 6, 4, 0, 1, // Ethernet/IPv4, request
		2, 0, 0, 0, 0, 1, 198, 18, 0, 1, // sender
		0, 0, 0, 0, 0, 0, 198, 18, 0, 2, // target
	}
	if diff := cmp.Diff(wantReq, req); diff != "" {
		t.Fatalf("unexpected request (-want +got):\n%s", diff)
	}

	reply := func(edit func(b []byte)) []byte {
		b := []byte{
			2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x06,
			0, 1, 0x08, 0x00, 6, 4, 0, 2,
			2, 0, 0, 0, 0, 2, 198, 18, 0, 2,
			2, 0, 0, 0, 0, 1, 198, 18, 0, 1,
			0, 0, 0, 0, // trailer padding is allowed
		}
		if edit != nil {
			edit(b)
		}
		return b
	}
	tests := []struct {
		name   string
		frame  []byte
		wantOK bool
	}{
		{"reply", reply(nil), true},
		{"our own request", req, false},
		{"truncated", reply(nil)[:arpFrameLen-1], false},
		{"not ARP", reply(func(b []byte) { b[13] = 0x00 }), false},
		{"from someone else", reply(func(b []byte) { b[31] = 9 }), false},
		{"to someone else", reply(func(b []byte) { b[41] = 9 }), false},
		{"not Ethernet", reply(func(b []byte) { b[15] = 6 }), false},
		{"bad lengths", reply(func(b []byte) { b[18] = 8 }), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseARPReply(tt.frame, ip, peer)
			if ok != tt.wantOK {
				t.Fatalf("unexpected ok:\n- want: %v\n-  got: %v", tt.wantOK, ok)
			}
			if ok && got != peerMAC {
				t.Fatalf("unexpected MAC:\n- want: %v\n-  got: %v", peerMAC, got)
			}
		})
	}
}

// FuzzParseARPReply checks that parseARPReply never panics and only
// accepts frames that carry an ARP reply to our address from the target.
func FuzzParseARPReply(f *testing.F) {
	ip, peer := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	// a valid reply from 198.18.0.2 to 198.18.0.1
	f.Add([]byte{
		2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x06,
		0, 1, 0x08, 0x00, 6, 4, 0, 2,
		2, 0, 0, 0, 0, 2, 198, 18, 0, 2,
		2, 0, 0, 0, 0, 1, 198, 18, 0, 1,
	})
	// our own broadcast request
	f.Add(arpRequestFrame(encap.MustParseMAC("02:00:00:00:00:01"), ip, peer))
	// an Ethernet header alone
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06})
	// nothing
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		mac, ok := parseARPReply(frame, ip, peer)
		if !ok {
			return
		}
		if len(frame) < arpFrameLen || frame[21] != arpReply || !bytes.Equal(frame[22:28], mac[:]) ||
			!bytes.Equal(frame[28:32], []byte{198, 18, 0, 2}) || !bytes.Equal(frame[38:42], []byte{198, 18, 0, 1}) {
			t.Fatalf("accepted a frame that is not our reply: % x", frame)
		}
	})
}

func TestSummary(t *testing.T) {
	l, err := New(Config{Hosts: 2, KernelHosts: []int{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	hs := l.Hosts()
	results := []PairResult{
		{From: hs[0], To: hs[1], PingResult: PingResult{Sent: 4, Received: 3, MinRTT: time.Millisecond, AvgRTT: 2 * time.Millisecond, MaxRTT: 3 * time.Millisecond}},
		{From: hs[1], To: hs[0], Err: errors.New("boom")},
	}
	var buf bytes.Buffer
	if err := Summary(&buf, results); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := [][]string{
		{"FROM", "TO", "SENT", "RECV", "LOSS", "MIN", "AVG", "MAX", "ERROR"},
		{"h0(198.18.0.1,kernel)", "h1(198.18.0.2,kernel)", "4", "3", "25%", "1ms", "2ms", "3ms"},
		{"h1(198.18.0.2,kernel)", "h0(198.18.0.1,kernel)", "0", "0", "0%", "0s", "0s", "0s", "boom"},
	}
	var got [][]string
	for _, line := range lines {
		got = append(got, strings.Fields(line))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("unexpected summary (-want +got):\n%s\n%s", diff, buf.String())
	}
}

func TestCleanupRejectsBadName(t *testing.T) {
	for _, name := range []string{"", "a/b", "../x", "a*"} {
		if err := Cleanup(name); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Cleanup(%q): unexpected error:\n- want: %v\n-  got: %v", name, ErrInvalidConfig, err)
		}
	}
}

// newTestLab returns an unbuilt lab with a unique name whose namespaces
// are removed when the test ends, and checked to be gone.
func newTestLab(t *testing.T, cfg Config) *Lab {
	t.Helper()
	testutil.RequireRoot(t)
	cfg.Name = testutil.UniqueName("vxl")
	cfg.Dir = t.TempDir()
	cfg.Logf = t.Logf
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("Down: %v", err)
		}
		if err := Cleanup(cfg.Name); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		assertNoNamespaces(t, cfg.Name)
	})
	return l
}

// assertNoNamespaces fails the test if any namespace of lab name exists.
func assertNoNamespaces(t *testing.T, name string) {
	t.Helper()
	ents, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name+"-") {
			left = append(left, e.Name())
		}
	}
	if len(left) > 0 {
		t.Errorf("unexpected namespaces left behind:\n- want: none\n-  got: %v", left)
	}
}

func devMAC(t *testing.T, h *Host) encap.MAC {
	t.Helper()
	var mac encap.MAC
	err := h.NS.Do(func() error {
		ifi, err := net.InterfaceByName(h.Dev)
		if err != nil {
			return err
		}
		mac = encap.MAC(ifi.HardwareAddr)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

func TestPrivilegedLabKernelOnly(t *testing.T) {
	for _, ipv6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("ipv6=%v", ipv6), func(t *testing.T) {
			l := newTestLab(t, Config{Hosts: 2, KernelHosts: []int{0, 1}, IPv6: ipv6})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := l.Up(ctx); err != nil {
				t.Fatalf("Up: %v", err)
			}

			// A second lab of the same name must refuse to start and
			// must not disturb the first.
			twin, err := New(l.Config())
			if err != nil {
				t.Fatal(err)
			}
			if err := twin.Up(ctx); !errors.Is(err, ErrExists) {
				t.Fatalf("unexpected error from a second lab of the same name:\n- want: %v\n-  got: %v", ErrExists, err)
			}

			results, err := l.PingAll(ctx)
			var sum bytes.Buffer
			Summary(&sum, results)
			t.Logf("ping summary:\n%s", sum.String())
			if err != nil {
				t.Fatalf("PingAll: %v", err)
			}
			if len(results) != 2 {
				t.Fatalf("unexpected number of pairs:\n- want: 2\n-  got: %d", len(results))
			}
			for _, r := range results {
				if r.Sent != 3 || r.Received != 3 {
					t.Errorf("%s -> %s: unexpected echoes:\n- want: 3 sent, 3 received\n-  got: %d sent, %d received", r.From.Name, r.To.Name, r.Sent, r.Received)
				}
				if r.MinRTT <= 0 || r.MinRTT > r.AvgRTT || r.AvgRTT > r.MaxRTT {
					t.Errorf("%s -> %s: inconsistent RTTs min %v avg %v max %v", r.From.Name, r.To.Name, r.MinRTT, r.AvgRTT, r.MaxRTT)
				}
			}

			hs := l.Hosts()
			for _, pair := range [][2]*Host{{hs[0], hs[1]}, {hs[1], hs[0]}} {
				h, other := pair[0], pair[1]
				otherMAC := devMAC(t, other)
				out, err := h.Run(ctx, "bridge", "fdb", "show", "dev", KernelDev)
				if err != nil {
					t.Fatal(err)
				}
				want := otherMAC.String() + " dst " + other.Underlay.String()
				if !strings.Contains(string(out), want) {
					t.Errorf("%s: unexpected fdb:\n- want: a line with %q\n-  got:\n%s", h.Name, want, out)
				}
				got, err := h.ARPProbe(ctx, other.Overlay.Addr())
				if err != nil {
					t.Fatalf("ARPProbe: %v", err)
				}
				if got != otherMAC {
					t.Errorf("%s: unexpected ARP answer for %s:\n- want: %v\n-  got: %v", h.Name, other.Overlay.Addr(), otherMAC, got)
				}
			}

			if err := l.Down(); err != nil {
				t.Fatalf("Down: %v", err)
			}
			assertNoNamespaces(t, l.Config().Name)
			if err := l.Down(); err != nil {
				t.Fatalf("second Down: %v", err)
			}
		})
	}
}

func TestPrivilegedLabMissingDaemon(t *testing.T) {
	l := newTestLab(t, Config{
		Hosts:       2,
		KernelHosts: []int{0},
		DaemonCmd:   []string{"/nonexistent/vxswitchd"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := l.Up(ctx)
	if err == nil {
		t.Fatal("Up succeeded with a nonexistent daemon binary")
	}
	t.Logf("Up: %v", err)
	assertNoNamespaces(t, l.Config().Name)
	if pid := l.Hosts()[1].DaemonPID(); pid != 0 {
		t.Errorf("unexpected daemon PID after failed Up:\n- want: 0\n-  got: %d", pid)
	}
}

func TestPrivilegedCleanup(t *testing.T) {
	l := newTestLab(t, Config{Hosts: 2, KernelHosts: []int{0, 1}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	// A process left in a namespace must not stop Cleanup.
	ns := l.Hosts()[0].NS
	cmd := ns.Command(context.Background(), "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Only once it is in the namespace: `ip netns exec` opens the
	// namespace before it enters it, and a process that enters after
	// Cleanup listed the namespace's processes lives on in the deleted
	// namespace, which nothing can find by name (seen under load).
	for deadline := time.Now().Add(10 * time.Second); ; {
		out, _ := exec.Command("ip", "netns", "identify", strconv.Itoa(cmd.Process.Pid)).Output()
		if slices.Contains(strings.Fields(string(out)), ns.Name) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not in namespace %s after 10s", cmd.Process.Pid, ns.Name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := Cleanup(l.Config().Name); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	assertNoNamespaces(t, l.Config().Name)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("process in the lab survived Cleanup")
	}
}
