package gossip

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/internal/testutil"
	"github.com/vxswitch/vxswitch/switch/api"
)

// The scenario lab tests of issue #4: real vxswitchd daemons in bench/lab
// namespaces that find each other with --join only (no --remote), as
// TestPrivilegedGossipLab starts them.

// nodeScript starts vxswitchd under a shell so that each node can be named
// after its underlay address ($2 is the --local value, see
// lab.Host.DaemonArgs) and so that a case statement can give single hosts
// other arguments: extra is shell code run before the exec, which may
// append to the arguments with `set -- "$@" ...`.
const nodeScript = `set -- "$@" --node "node-$2"; %s
exec "$0" "$@"`

// startGossipLab builds vxswitchd and brings up a lab of n daemons that
// all join h0 (192.0.2.10), with extra as in nodeScript. The lab is torn
// down when the test ends, also on failure.
func startGossipLab(t *testing.T, ctx context.Context, n int, extra string) *lab.Lab {
	t.Helper()
	testutil.RequireRoot(t)
	if testing.Short() {
		t.Skip("builds and runs vxswitchd")
	}
	bin := filepath.Join(t.TempDir(), "vxswitchd")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/vxswitch/vxswitch/cmd/vxswitchd").CombinedOutput(); err != nil {
		t.Fatalf("build vxswitchd: %v\n%s", err, out)
	}
	name := testutil.UniqueName("vxg")
	l, err := lab.New(lab.Config{
		Name: name, Hosts: n, NoRemotes: true, Dir: t.TempDir(), Logf: t.Logf,
		DaemonCmd: []string{"/bin/sh", "-c", fmt.Sprintf(nodeScript, extra), bin},
		ExtraArgs: []string{"--join", "192.0.2.10"}, // h0's underlay address
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("Down: %v", err)
		}
		if err := lab.Cleanup(name); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	})
	if err := l.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	return l
}

func nodeName(h *lab.Host) string { return "node-" + h.Underlay.String() }

// gossipOwners returns, for host h, the owner of every gossip FDB entry by
// MAC, and h's own port MACs (local entries).
func gossipOwners(ctx context.Context, h *lab.Host) (gossip map[encap.MAC]string, local []encap.MAC, err error) {
	entries, err := api.NewClient(h.APISocket).FDB(ctx, 0, true)
	if err != nil {
		return nil, nil, err
	}
	gossip = map[encap.MAC]string{}
	for _, e := range entries {
		switch e.Origin {
		case "gossip":
			gossip[e.MAC] = e.Owner
		case "local":
			local = append(local, e.MAC)
		}
	}
	return gossip, local, nil
}

// converged reports "" when every host of live holds exactly the other
// live hosts' local MACs as gossip entries owned by them, else why not.
func converged(ctx context.Context, live []*lab.Host) string {
	want := map[*lab.Host]map[encap.MAC]string{}
	locals := map[*lab.Host][]encap.MAC{}
	for _, h := range live {
		_, local, err := gossipOwners(ctx, h)
		if err != nil {
			return err.Error()
		}
		locals[h] = local
	}
	for _, h := range live {
		want[h] = map[encap.MAC]string{}
		for _, o := range live {
			if o != h {
				for _, m := range locals[o] {
					want[h][m] = nodeName(o)
				}
			}
		}
		got, _, err := gossipOwners(ctx, h)
		if err != nil {
			return err.Error()
		}
		if diff := cmp.Diff(want[h], got); diff != "" {
			return fmt.Sprintf("%s: unexpected gossip entries (-want +got):\n%s", h.Name, diff)
		}
	}
	return ""
}

// pingAll reports "" when every pair of hosts pings.
func pingAll(ctx context.Context, l *lab.Lab) string {
	res, err := l.PingAll(ctx)
	if err != nil {
		var b strings.Builder
		lab.Summary(&b, res)
		return err.Error() + "\n" + b.String()
	}
	return ""
}

// tcpdump counts the packets matching filter that arrive on h's underlay
// (ul0) between its start and stop.
type tcpdump struct {
	cmd    *exec.Cmd
	stderr *bufio.Scanner
	done   chan string // rest of stderr after "listening on"
}

func startTcpdump(t *testing.T, h *lab.Host, filter string) *tcpdump {
	t.Helper()
	cmd := h.NS.Command(context.Background(), "tcpdump", "-i", lab.UnderlayDev, "-n", "-Q", "in", "-w", os.DevNull, filter)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	td := &tcpdump{cmd: cmd, stderr: bufio.NewScanner(pipe), done: make(chan string, 1)}
	for td.stderr.Scan() {
		if strings.Contains(td.stderr.Text(), "listening on") {
			go func() {
				var rest strings.Builder
				for td.stderr.Scan() {
					rest.WriteString(td.stderr.Text() + "\n")
				}
				td.done <- rest.String()
			}()
			return td
		}
	}
	t.Fatalf("tcpdump did not start: %v", td.stderr.Err())
	return nil
}

var capturedRE = regexp.MustCompile(`(\d+) packets? captured`)

// stop interrupts tcpdump and returns how many packets it captured.
func (td *tcpdump) stop(t *testing.T) int {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // let packets in flight arrive
	td.cmd.Process.Signal(os.Interrupt)
	rest := <-td.done
	td.cmd.Wait()
	m := capturedRE.FindStringSubmatch(rest)
	if m == nil {
		t.Fatalf("tcpdump printed no count:\n%s", rest)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// vxlanARPFilter matches VXLAN (UDP 4789) whose inner Ethernet frame is
// ARP: UDP header (8) + VXLAN header (8) + MACs (12) → EtherType.
const vxlanARPFilter = "udp dst port 4789 and udp[28:2] = 0x0806"

// TestPrivilegedGossipSuppressionLab: once the bindings are known (after a
// first round of pings), h0 forgets its neighbours and pings h1 again: the
// ARP request is answered by h0's own daemon, so no ARP in VXLAN reaches
// h2 (tcpdump on h2's underlay counts 0), and the ping gets its reply. A
// positive control (an ARP for an address nobody has) shows that the
// same capture does see flooded ARP.
func TestPrivilegedGossipSuppressionLab(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := startGossipLab(t, ctx, 3, "")
	hs := l.Hosts()
	waitFor(t, 30*time.Second, "FDBs", func() string { return converged(ctx, hs) })
	waitFor(t, 30*time.Second, "all pairs ping", func() string { return pingAll(ctx, l) })

	// Control: an unknown address floods, and h2 sees it.
	td := startTcpdump(t, hs[2], vxlanARPFilter)
	hs[0].Ping(ctx, netip.MustParseAddr("198.18.0.200"), 1, time.Second)
	n := td.stop(t)
	t.Logf("control: %d flooded ARP packets seen on %s for an unknown address", n, hs[2].Name)
	if n == 0 {
		t.Fatalf("control: no flooded ARP seen on %s for an unknown address; the capture cannot see floods", hs[2].Name)
	}

	if _, err := hs[0].Run(ctx, "ip", "neigh", "flush", "dev", lab.TAPDev); err != nil {
		t.Fatal(err)
	}
	td = startTcpdump(t, hs[2], vxlanARPFilter)
	r, err := hs[0].Ping(ctx, hs[1].Overlay.Addr(), 3, 2*time.Second)
	if err != nil || r.Received == 0 {
		t.Errorf("%s → %s after the flush: %d/%d replies, %v", hs[0].Name, hs[1].Name, r.Received, r.Sent, err)
	}
	if n := td.stop(t); n != 0 {
		t.Errorf("unexpected flooded ARP on %s's underlay:\n- want: 0\n-  got: %d", hs[2].Name, n)
	}
	out, err := hs[0].Run(ctx, "ip", "neigh", "show", hs[1].Overlay.Addr().String(), "dev", lab.TAPDev)
	if err != nil || !strings.Contains(string(out), "lladdr") {
		t.Errorf("%s did not resolve %s: %q %v", hs[0].Name, hs[1].Overlay.Addr(), out, err)
	}
}

// TestPrivilegedGossipKeyLab: h0–h2 share a gossip key; h3 has another key
// and h4 none. The strangers cannot join (their peers list only
// themselves, the members list only each other), the members' FDBs are
// not touched by their join attempts, and VXLAN injected from the
// strangers' namespaces is dropped by h0 and counted as not_member, its
// inner source MAC never learned.
func TestPrivilegedGossipKeyLab(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{"good", "bad"} {
		key := make([]byte, 32)
		rand.Read(key)
		if err := os.WriteFile(filepath.Join(dir, k), []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	extra := fmt.Sprintf(`case "$2" in 192.0.2.13) set -- "$@" --gossip-key %q;; 192.0.2.14) ;; *) set -- "$@" --gossip-key %q;; esac`,
		filepath.Join(dir, "bad"), filepath.Join(dir, "good"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := startGossipLab(t, ctx, 5, extra)
	hs := l.Hosts()
	members, strangers := hs[:3], hs[3:]
	waitFor(t, 30*time.Second, "members' FDBs", func() string { return converged(ctx, members) })
	before, _, err := gossipOwners(ctx, hs[0])
	if err != nil {
		t.Fatal(err)
	}

	// Restart the strangers so that their join attempts come after the
	// snapshot, and wait until they have failed.
	for _, s := range strangers {
		if err := s.StopDaemon(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := s.StartDaemon(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range strangers {
		waitFor(t, 20*time.Second, s.Name+"'s failed join", func() string {
			b, err := os.ReadFile(s.LogPath)
			if err != nil {
				return err.Error()
			}
			last := string(b[strings.LastIndex(string(b), "=== lab: starting")+1:])
			i := strings.Index(last, "gossip join failed")
			if i < 0 {
				return "no failed join logged yet"
			}
			line, _, _ := strings.Cut(last[i:], "\n")
			t.Logf("%s: %s", s.Name, line)
			return ""
		})
		peers, err := api.NewClient(s.APISocket).Peers(ctx)
		if err != nil || len(peers) != 1 || !peers[0].Self {
			t.Errorf("unexpected peers of stranger %s:\n- want: itself only\n-  got: %+v (%v)", s.Name, peers, err)
		}
	}
	peers, err := api.NewClient(hs[0].APISocket).Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range peers {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{nodeName(hs[0]), nodeName(hs[1]), nodeName(hs[2])}, names); diff != "" {
		t.Errorf("unexpected peers of %s (-want +got):\n%s", hs[0].Name, diff)
	}

	// Inject VXLAN (VNI 42, a broadcast frame from a fresh MAC) to h0
	// from each stranger's namespace.
	stats := func() uint64 {
		st, err := api.NewClient(hs[0].APISocket).Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Drops["not_member"]
	}
	dropsBefore := stats()
	injected := encap.MustParseMAC("02:de:ad:00:00:01")
	frame := make([]byte, encap.VXLANHeaderLen+encap.EthernetHeaderLen+encap.ARPSize)
	encap.VXLAN(frame).Encode(&encap.VXLANFields{VNI: lab.DefaultVNI})
	encap.Ethernet(frame[encap.VXLANHeaderLen:]).Encode(&encap.EthernetFields{Dst: encap.BroadcastMAC, Src: injected, Type: encap.EtherTypeARP})
	encap.ARP(frame[encap.VXLANHeaderLen+encap.EthernetHeaderLen:]).Encode(&encap.ARPFields{
		Op: encap.ARPRequest, SenderMAC: injected, SenderIP: netip.MustParseAddr("198.18.0.66"), TargetIP: hs[0].Overlay.Addr()})
	for _, s := range strangers {
		err := s.NS.Do(func() error {
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(hs[0].Underlay, lab.VXLANPort)))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write(frame)
			return err
		})
		if err != nil {
			t.Fatalf("inject from %s: %v", s.Name, err)
		}
	}
	waitFor(t, 5*time.Second, "not_member drops", func() string {
		if got := stats() - dropsBefore; got != uint64(len(strangers)) {
			return fmt.Sprintf("unexpected not_member drops on %s:\n- want: %d\n-  got: %d", hs[0].Name, len(strangers), got)
		}
		return ""
	})
	after, _, err := gossipOwners(ctx, hs[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("%s's gossip FDB changed while strangers tried to join (-before +after):\n%s", hs[0].Name, diff)
	}
	entries, err := api.NewClient(hs[0].APISocket).FDB(ctx, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.MAC == injected || e.Owner == nodeName(strangers[0]) || e.Owner == nodeName(strangers[1]) {
			t.Errorf("unexpected entry on %s from a stranger: %+v", hs[0].Name, e)
		}
	}
}

// TestPrivilegedGossipPartitionLab cuts h2 off (its ul0 down) for longer
// than memberlist's dead-node memory at LAN settings — at least 60 s, and
// until GossipToTheDeadTime (30 s) plus a margin has passed since the
// others declared it dead — then heals the link: within 30 s the
// periodic re-join (every 30 s) makes one cluster again, every FDB holds
// every other host's MACs and all pairs ping.
func TestPrivilegedGossipPartitionLab(t *testing.T) {
	const (
		minPartition   = 60 * time.Second
		deadMemory     = 30 * time.Second // memberlist.DefaultLANConfig().GossipToTheDeadTime
		deadMargin     = 5 * time.Second
		healWithin     = 30 * time.Second
		rejoinInterval = 30 * time.Second // gossip.DefaultConfig().RejoinInterval
	)
	if c := DefaultConfig(); c.RejoinInterval > healWithin {
		t.Fatalf("re-join interval %s cannot heal within %s", c.RejoinInterval, healWithin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	l := startGossipLab(t, ctx, 3, "")
	hs := l.Hosts()
	cut := hs[2]
	waitFor(t, 30*time.Second, "FDBs", func() string { return converged(ctx, hs) })
	waitFor(t, 30*time.Second, "all pairs ping", func() string { return pingAll(ctx, l) })

	start := time.Now()
	if _, err := cut.Run(ctx, "ip", "link", "set", lab.UnderlayDev, "down"); err != nil {
		t.Fatal(err)
	}
	healed := false
	heal := func() {
		if !healed {
			healed = true
			if _, err := cut.Run(ctx, "ip", "link", "set", lab.UnderlayDev, "up"); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(heal)
	dead := waitFor(t, 45*time.Second, "the others purge "+cut.Name, func() string { return converged(ctx, hs[:2]) })
	t.Logf("%s's entries purged by the others %s after the cut", cut.Name, dead)
	until := max(minPartition, dead+deadMemory+deadMargin)
	time.Sleep(until - time.Since(start))
	heal()
	t.Logf("healed after a %s partition", time.Since(start).Round(time.Second))

	d := waitFor(t, healWithin, "one cluster again", func() string {
		for _, h := range hs {
			peers, err := api.NewClient(h.APISocket).Peers(ctx)
			if err != nil {
				return err.Error()
			}
			alive := 0
			for _, p := range peers {
				if p.State == "alive" {
					alive++
				}
			}
			if alive != len(hs) {
				return fmt.Sprintf("%s sees %d alive members: %+v", h.Name, alive, peers)
			}
		}
		if why := converged(ctx, hs); why != "" {
			return why
		}
		return pingAll(ctx, l)
	})
	t.Logf("one cluster, FDBs converged and all pairs ping %s after the heal", d)
}

// TestPrivilegedGossipMACMoveLab attaches a Pod port with a fixed MAC on
// h1 (as the CNI plugin does), then deletes it and attaches the same MAC
// on h2: within 5 s every FDB points to h2 (gossip entries owned by h2's
// node with h2's VTEP, a local entry on h2), and h0 pings the Pod at its
// new place.
func TestPrivilegedGossipMACMoveLab(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := startGossipLab(t, ctx, 3, "")
	hs := l.Hosts()
	waitFor(t, 30*time.Second, "FDBs", func() string { return converged(ctx, hs) })
	pod := testutil.NewNS(t)
	podMAC := encap.MustParseMAC("02:00:5e:10:00:01")
	podIP := netip.MustParseAddr("198.18.0.100")
	attach := func(h *lab.Host) {
		t.Helper()
		_, err := api.NewClient(h.APISocket).Attach(ctx, api.AttachRequest{ContainerID: "move", IfName: "eth0", Netns: pod.Path(), VNI: lab.DefaultVNI, MAC: podMAC})
		if err != nil {
			t.Fatalf("attach on %s: %v", h.Name, err)
		}
		for _, args := range [][]string{{"addr", "replace", podIP.String() + "/24", "dev", "eth0"}, {"link", "set", "eth0", "up"}} {
			if _, err := pod.Run(ctx, "ip", args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	// where reports "" when every host's FDB puts podMAC behind owner.
	where := func(owner *lab.Host) string {
		for _, h := range hs {
			entries, err := api.NewClient(h.APISocket).FDB(ctx, lab.DefaultVNI, true)
			if err != nil {
				return err.Error()
			}
			var got *api.FDBEntry
			for i := range entries {
				if entries[i].MAC == podMAC {
					got = &entries[i]
				}
			}
			switch {
			case got == nil:
				return fmt.Sprintf("%s: no entry for %s", h.Name, podMAC)
			case h == owner && got.Origin != "local":
				return fmt.Sprintf("%s: unexpected entry %+v, want a local one", h.Name, *got)
			case h != owner && (got.Origin != "gossip" || got.Owner != nodeName(owner) || got.Remote != owner.Underlay):
				return fmt.Sprintf("%s: unexpected entry %+v, want gossip from %s at %s", h.Name, *got, nodeName(owner), owner.Underlay)
			}
		}
		return ""
	}
	attach(hs[1])
	waitFor(t, 10*time.Second, "Pod MAC on h1 everywhere", func() string { return where(hs[1]) })
	if r, err := hs[0].Ping(ctx, podIP, 2, 2*time.Second); err != nil || r.Received == 0 {
		t.Fatalf("%s → Pod on %s: %d/%d, %v", hs[0].Name, hs[1].Name, r.Received, r.Sent, err)
	}

	if err := api.NewClient(hs[1].APISocket).Detach(ctx, "move", "eth0"); err != nil {
		t.Fatal(err)
	}
	attach(hs[2])
	d := waitFor(t, 5*time.Second, "Pod MAC on h2 everywhere", func() string { return where(hs[2]) })
	t.Logf("every FDB points to %s %s after the attach", hs[2].Name, d)
	waitFor(t, 10*time.Second, "ping to the moved Pod", func() string {
		if r, err := hs[0].Ping(ctx, podIP, 1, time.Second); err != nil || r.Received == 0 {
			return fmt.Sprintf("%d/%d, %v", r.Received, r.Sent, err)
		}
		return ""
	})
}
