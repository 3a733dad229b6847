package cni_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/internal/netns"
	"github.com/vxswitch/vxswitch/internal/testutil"
	"github.com/vxswitch/vxswitch/switch/api"
)

// pluginDirs are searched for cnitool and the reference plugins, which
// .ci/test installs by module version.
func pluginDirs() []string {
	dirs := filepath.SplitList(os.Getenv("CNI_PATH"))
	return append(dirs, "../.ci/cni-bin", "/opt/cni/bin")
}

func findTool(name string) string {
	for _, d := range pluginDirs() {
		if d == "" {
			continue
		}
		p, _ := filepath.Abs(filepath.Join(d, name))
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

// env is a two-node lab whose daemons serve Pod ports on VNI 100 with the
// distributed gateway 198.18.100.1/24, plus a bin dir with vxswitch,
// vxswitchd, host-local, tuning, bandwidth and cnitool.
type env struct {
	t      *testing.T
	lab    *lab.Lab
	bin    string
	dir    string
	cnitoo string
}

func newEnv(t *testing.T) *env {
	testutil.RequireRoot(t)
	e := &env{t: t, dir: t.TempDir()}
	e.bin = filepath.Join(e.dir, "bin")
	os.MkdirAll(e.bin, 0o755)
	for _, p := range []string{"host-local", "tuning", "bandwidth"} {
		src := findTool(p)
		if src == "" {
			t.Skipf("CNI plugin %s not found in CNI_PATH, .ci/cni-bin or /opt/cni/bin (.ci/test installs it)", p)
		}
		if err := os.Symlink(src, filepath.Join(e.bin, p)); err != nil {
			t.Fatal(err)
		}
	}
	if e.cnitoo = findTool("cnitool"); e.cnitoo == "" {
		t.Skip("cnitool not found (.ci/test installs it)")
	}
	for _, b := range [][2]string{{"vxswitch", "../cmd/vxswitch"}, {"vxswitchd", "../cmd/vxswitchd"}} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(e.bin, b[0]), b[1]).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	name := testutil.UniqueName("vxc")
	l, err := lab.New(lab.Config{
		Name: name, Hosts: 2, DaemonCmd: []string{filepath.Join(e.bin, "vxswitchd")}, Dir: filepath.Join(e.dir, "lab"),
		ExtraArgs: []string{"--gateway", "100:198.18.100.1/24"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := l.Up(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range l.Hosts() {
				b, _ := os.ReadFile(h.LogPath)
				t.Logf("%s:\n%s", h.LogPath, b)
			}
		}
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	e.lab = l
	for i := range l.Hosts() {
		e.writeConf(i)
	}
	return e
}

// confDir holds node i's network configurations: "pods" (VNI 100,
// chained with tuning), "bw" (VNI 100, chained with bandwidth), "iso" (VNI 200, same subnet, for the
// isolation test) and "badipam".
func (e *env) confDir(i int) string { return filepath.Join(e.dir, "net.d", strconv.Itoa(i)) }

func (e *env) netConf(i int, name string, vni int, ipam string) string {
	h := e.lab.Hosts()[i]
	return fmt.Sprintf(`{"type": "vxswitch", "vni": %d, "socket": %q, "ipam": %s}`, vni, h.APISocket, ipam)
}

func (e *env) hostLocal(i int, name string, lo, hi int) string {
	return fmt.Sprintf(`{"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": "198.18.100.0/24", "rangeStart": "198.18.100.%d", "rangeEnd": "198.18.100.%d", "gateway": "198.18.100.1"}]]}`,
		filepath.Join(e.dir, "ipam", strconv.Itoa(i), name), lo, hi)
}

func (e *env) writeConf(i int) {
	d := e.confDir(i)
	os.MkdirAll(d, 0o755)
	files := map[string]string{
		"10-pods.conflist": fmt.Sprintf(`{"cniVersion": "1.1.0", "name": "pods", "plugins": [%s,
			{"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.arp_ignore": "1"}}]}`,
			e.netConf(i, "pods", 100, e.hostLocal(i, "pods", 10+40*i, 39+40*i))),
		// bandwidth without limits passes prevResult through; with limits
		// it needs a host-side veth peer, which a TAP port does not have
		// (cni/doc.go, "Rate limits").
		"15-bw.conflist": fmt.Sprintf(`{"cniVersion": "1.1.0", "name": "bw", "plugins": [%s,
			{"type": "bandwidth", "capabilities": {"bandwidth": true}}]}`,
			e.netConf(i, "bw", 100, e.hostLocal(i, "bw", 40+40*i, 49+40*i))),
		"16-bwlimit.conflist": fmt.Sprintf(`{"cniVersion": "1.1.0", "name": "bwlimit", "plugins": [%s,
			{"type": "bandwidth", "ingressRate": 8000000, "ingressBurst": 80000, "egressRate": 8000000, "egressBurst": 80000}]}`,
			e.netConf(i, "bwlimit", 100, e.hostLocal(i, "bwlimit", 90+40*i, 99+40*i))),
		"20-iso.conflist": fmt.Sprintf(`{"cniVersion": "1.1.0", "name": "iso", "plugins": [%s]}`,
			e.netConf(i, "iso", 200, e.hostLocal(i, "iso", 200+20*i, 219+20*i))),
		"30-badipam.conflist": fmt.Sprintf(`{"cniVersion": "1.1.0", "name": "badipam", "plugins": [%s]}`,
			e.netConf(i, "badipam", 100, `{"type": "host-local", "ranges": [[{"subnet": "not-a-subnet"}]]}`)),
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(d, n), []byte(c), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
}

// pod is a Pod: a network namespace deleted when the test ends.
type pod struct {
	ns   *netns.NS
	node int
	ip   net.IP
}

func (e *env) newPod(node int) *pod {
	e.t.Helper()
	ns := testutil.NewNS(e.t)
	return &pod{ns: ns, node: node}
}

// cnitool runs cnitool verb on network in node's namespace.
func (e *env) cnitool(node int, verb, network string, p *pod) ([]byte, error) {
	args := []string{"netns", "exec", e.lab.Hosts()[node].NS.Name, e.cnitoo, verb, network}
	if p != nil {
		args = append(args, p.ns.Path())
	}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), "CNI_PATH="+e.bin, "NETCONFPATH="+e.confDir(node), "CNI_IFNAME=eth0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("cnitool %s %s: %v: %s %s", verb, network, err, out, stderr.String())
	}
	return out, nil
}

func (e *env) add(p *pod, network string) {
	e.t.Helper()
	out, err := e.cnitool(p.node, "add", network, p)
	if err != nil {
		e.t.Fatal(err)
	}
	var r current.Result
	if err := json.Unmarshal(out, &r); err != nil {
		e.t.Fatalf("cnitool add result %s: %v", out, err)
	}
	if len(r.IPs) != 1 || len(r.Interfaces) != 1 || r.Interfaces[0].Sandbox != p.ns.Path() || r.Interfaces[0].Name != "eth0" {
		e.t.Fatalf("unexpected ADD result: %s", out)
	}
	p.ip = r.IPs[0].Address.IP
	e.t.Cleanup(func() { e.cnitool(p.node, "del", network, p) })
}

func (e *env) attachments(node int) []api.Attachment {
	e.t.Helper()
	atts, err := api.NewClient(e.lab.Hosts()[node].APISocket).Attachments(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return atts
}

// ping reports whether from reaches dst, trying a few times (the first
// echo may be lost to ARP).
func ping(ns *netns.NS, dst net.IP, tries int) bool {
	for range tries {
		if _, err := ns.Run(context.Background(), "ping", "-c", "1", "-W", "1", dst.String()); err == nil {
			return true
		}
	}
	return false
}

var gatewayIP = net.ParseIP("198.18.100.1")

func TestPrivilegedCNITwoNodes(t *testing.T) {
	e := newEnv(t)
	pods := []*pod{e.newPod(0), e.newPod(0), e.newPod(1), e.newPod(1)}
	for _, p := range pods {
		e.add(p, "pods")
	}

	t.Run("PingEveryPodAndGateway", func(t *testing.T) {
		for i, a := range pods {
			for j, b := range pods {
				if i != j && !ping(a.ns, b.ip, 3) {
					t.Errorf("pod %d (%s, node %d) cannot ping pod %d (%s, node %d)", i, a.ip, a.node, j, b.ip, b.node)
				}
			}
			if !ping(a.ns, gatewayIP, 3) {
				t.Errorf("pod %d (%s) cannot ping its node's gateway %s", i, a.ip, gatewayIP)
			}
			if !ping(e.lab.Hosts()[a.node].NS, a.ip, 3) {
				t.Errorf("node %d cannot ping its pod %d (%s)", a.node, i, a.ip)
			}
		}
	})

	t.Run("NoNAT", func(t *testing.T) {
		// pod 0 (node 0) → pod 2 (node 1) and node 0 → pod 0: the
		// receiver sees the sender's own address.
		for _, c := range []struct {
			name   string
			from   *netns.NS
			fromIP net.IP
			to     *pod
		}{
			{"pod across nodes", pods[0].ns, pods[0].ip, pods[2]},
			{"node to its pod", e.lab.Hosts()[0].NS, gatewayIP, pods[0]},
		} {
			var conn *net.UDPConn
			if err := c.to.ns.Do(func() (err error) {
				conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: c.to.ip, Port: 5555})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := c.from.Do(func() error {
				s, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: c.to.ip, Port: 5555})
				if err != nil {
					return err
				}
				defer s.Close()
				_, err = s.Write([]byte("hello"))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 16)
			_, peer, err := conn.ReadFromUDP(buf)
			conn.Close()
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !peer.IP.Equal(c.fromIP) {
				t.Errorf("%s: unexpected peer address:\n- want: %v\n-  got: %v", c.name, c.fromIP, peer.IP)
			}
		}
	})

	t.Run("PodPortsUseOffloads", func(t *testing.T) {
		// A Pod's TAP is opened with the same offloads as the daemon's
		// own: the Pod's kernel hands over TSO super-frames (ethtool in
		// the Pod), the API lists them for the port, and TCP between Pods
		// on two nodes runs on them.
		out, err := pods[0].ns.Run(context.Background(), "ethtool", "-k", "eth0")
		if err != nil {
			t.Skipf("ethtool: %v (.ci/test installs it)", err)
		}
		if !strings.Contains(string(out), "tcp-segmentation-offload: on") {
			t.Errorf("unexpected offloads of the Pod's eth0:\n- want: tcp-segmentation-offload: on\n-  got:\n%s", out)
		}
		ports, err := api.NewClient(e.lab.Hosts()[0].APISocket).Ports(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"vxgw100": true} // the gateway port too
		for _, a := range e.attachments(0) {
			want[a.Port] = true
		}
		checked := 0
		for _, p := range ports {
			if !want[p.Name] {
				continue
			}
			checked++
			if !strings.Contains(p.Offloads, "tso4") {
				t.Errorf("unexpected offloads of port %s:\n- want: tso4 among them\n-  got: %q", p.Name, p.Offloads)
			}
		}
		if checked < 3 { // two Pods and the gateway
			t.Errorf("unexpected ports on node 0:\n- want: the gateway and the Pod ports %v\n-  got: %+v", want, ports)
		}
		if _, err := exec.LookPath("iperf3"); err != nil {
			t.Skip("iperf3 not installed (.ci/test installs it)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv := pods[2].ns.Command(ctx, "iperf3", "-s", "-1", "-B", pods[2].ip.String(), "-p", "5202")
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer srv.Wait()
		waitListen(t, pods[2].ns, 5202)
		cli, err := pods[0].ns.Command(ctx, "iperf3", "-c", pods[2].ip.String(), "-p", "5202", "-t", "2", "-J").Output()
		var r iperfReport
		if jerr := json.Unmarshal(cli, &r); err != nil || jerr != nil || r.Error != "" {
			srv.Process.Kill()
			t.Fatalf("iperf3 Pod to Pod across nodes: exit %v, JSON %v, error %q\n%s", err, jerr, r.Error, cli)
		}
		if r.End.SumReceived.Bytes == 0 {
			t.Errorf("unexpected iperf3 bytes received Pod to Pod:\n- want: > 0\n-  got: 0")
		}
		t.Logf("iperf3 TCP Pod %s (node 0) -> Pod %s (node 1): %.2f Gbit/s, %d retransmits",
			pods[0].ip, pods[2].ip, float64(r.End.SumReceived.Bytes)*8/r.End.SumReceived.Seconds/1e9, r.End.SumSent.Retransmits)
	})

	t.Run("VNIIsolation", func(t *testing.T) {
		iso := e.newPod(1)
		e.add(iso, "iso") // VNI 200, same subnet as VNI 100
		for _, p := range pods {
			if ping(iso.ns, p.ip, 1) {
				t.Errorf("pod on VNI 200 (%s) reached pod %s on VNI 100", iso.ip, p.ip)
			}
		}
	})

	t.Run("TuningSysctl", func(t *testing.T) {
		out, err := pods[0].ns.Run(context.Background(), "cat", "/proc/sys/net/ipv4/conf/eth0/arp_ignore")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != "1" {
			t.Errorf("unexpected arp_ignore in the pod:\n- want: 1\n-  got: %s", got)
		}
	})

	t.Run("ChainBandwidth", func(t *testing.T) {
		p := e.newPod(0)
		e.add(p, "bw")
		if !ping(p.ns, pods[2].ip, 3) {
			t.Errorf("pod %s (bw chain) cannot reach pod %s", p.ip, pods[2].ip)
		}
		if out, err := e.cnitool(0, "del", "bw", p); err != nil {
			t.Errorf("DEL through the bandwidth chain: %v %s", err, out)
		}
	})

	t.Run("ChainBandwidthLimitsUnsupported", func(t *testing.T) {
		// Rate limits need the host-side veth a TAP port lacks: the
		// chain's ADD fails in bandwidth, and the runtime's DEL then
		// removes everything vxswitch set up.
		p := e.newPod(0)
		before := e.attachments(0)
		out, err := e.cnitool(0, "add", "bwlimit", p)
		if err == nil {
			t.Fatalf("ADD with bandwidth limits on a TAP port succeeded (cni/doc.go says it cannot): %s", out)
		}
		if !strings.Contains(err.Error(), "no veth peer") {
			t.Errorf("unexpected error of the bandwidth chain:\n- want: mentioning %q\n-  got: %v", "no veth peer", err)
		}
		leaseDir := filepath.Join(e.dir, "ipam", "0", "bwlimit", "bwlimit")
		if got := leases(t, leaseDir); len(got) != 1 {
			t.Errorf("unexpected leases after the failed chain ADD (before the runtime's DEL):\n- want: 1\n-  got: %v", got)
		}
		if out, err := e.cnitool(0, "del", "bwlimit", p); err != nil {
			t.Fatalf("DEL after the failed chain: %v %s", err, out)
		}
		if got := e.attachments(0); len(got) != len(before) {
			t.Errorf("unexpected attachment count after DEL:\n- want: %d\n-  got: %d", len(before), len(got))
		}
		if ifs := links(t, p.ns); len(ifs) != 1 {
			t.Errorf("unexpected links in the pod after DEL:\n- want: [lo]\n-  got: %v", ifs)
		}
		if got := leases(t, leaseDir); len(got) != 0 {
			t.Errorf("unexpected leases after DEL:\n- want: []\n-  got: %v", got)
		}
	})

	t.Run("CheckThenAddrDel", func(t *testing.T) {
		p := pods[1]
		if out, err := e.cnitool(0, "check", "pods", p); err != nil {
			t.Fatalf("CHECK of a healthy pod failed: %v %s", err, out)
		}
		ones, _ := net.IPMask(net.CIDRMask(24, 32)).Size()
		if _, err := p.ns.Run(context.Background(), "ip", "addr", "del", fmt.Sprintf("%s/%d", p.ip, ones), "dev", "eth0"); err != nil {
			t.Fatal(err)
		}
		_, err := e.cnitool(0, "check", "pods", p)
		if err == nil || !strings.Contains(err.Error(), "lacks address") {
			t.Errorf("unexpected CHECK result after ip addr del:\n- want: error mentioning %q\n-  got: %v", "lacks address", err)
		}
	})

	t.Run("DelTwice", func(t *testing.T) {
		p := pods[1]
		for i := range 2 {
			if out, err := e.cnitool(0, "del", "pods", p); err != nil {
				t.Fatalf("DEL #%d: %v %s", i+1, err, out)
			}
		}
		for _, a := range e.attachments(0) {
			if a.Netns == p.ns.Path() {
				t.Errorf("attachment left after DEL: %+v", a)
			}
		}
		if ifs := links(t, p.ns); len(ifs) != 1 {
			t.Errorf("unexpected links in the pod after DEL:\n- want: [lo]\n-  got: %v", ifs)
		}
	})

	t.Run("FailedAddLeavesNothing", func(t *testing.T) {
		p := e.newPod(0)
		before := e.attachments(0)
		fdbBefore := fdbLen(t, e, 0)
		if _, err := e.cnitool(0, "add", "badipam", p); err == nil {
			t.Fatal("ADD with a broken IPAM config succeeded")
		}
		if got := e.attachments(0); len(got) != len(before) {
			t.Errorf("unexpected attachment count after failed ADD:\n- want: %d\n-  got: %d", len(before), len(got))
		}
		if got := fdbLen(t, e, 0); got != fdbBefore {
			t.Errorf("unexpected FDB size after failed ADD:\n- want: %d\n-  got: %d", fdbBefore, got)
		}
		if ifs := links(t, p.ns); len(ifs) != 1 {
			t.Errorf("unexpected links in the pod after failed ADD:\n- want: [lo]\n-  got: %v", ifs)
		}
	})

	t.Run("GC", func(t *testing.T) {
		// Node 1 has pods 2 and 3 on "pods": keep 2, collect 3.
		keep, stale := pods[2], pods[3]
		var valid []types.GCAttachment
		var staleID string
		for _, a := range e.attachments(1) {
			switch a.Netns {
			case keep.ns.Path():
				valid = append(valid, types.GCAttachment{ContainerID: a.ContainerID, IfName: a.IfName})
			case stale.ns.Path():
				staleID = a.ContainerID
			}
		}
		lease := filepath.Join(e.dir, "ipam", "1", "pods", "pods", stale.ip.String())
		if _, err := os.Stat(lease); err != nil {
			t.Fatalf("no lease file for the stale pod: %v", err)
		}
		list := loadList(t, e, 1, "10-pods.conflist")
		cn := libcni.NewCNIConfig([]string{e.bin}, nil)
		if err := cn.GCNetworkList(context.Background(), list, &libcni.GCArgs{ValidAttachments: valid}); err != nil {
			t.Fatalf("GC: %v", err)
		}
		var left []string
		for _, a := range e.attachments(1) {
			if a.Network == "pods" {
				left = append(left, a.ContainerID)
			}
		}
		if len(left) != 1 || left[0] != valid[0].ContainerID || left[0] == staleID {
			t.Errorf("unexpected attachments after GC:\n- want: [%s]\n-  got: %v", valid[0].ContainerID, left)
		}
		if _, err := os.Stat(lease); !os.IsNotExist(err) {
			t.Errorf("stale lease %s survived GC: %v", lease, err)
		}
		if !ping(pods[0].ns, keep.ip, 3) {
			t.Errorf("kept pod %s unreachable after GC", keep.ip)
		}
	})

	t.Run("RestartKeepsTraffic", func(t *testing.T) {
		// pod 0 (node 0) pings pod 2 (node 1) every 20 ms while node 1's
		// daemon restarts.
		a, b := pods[0], pods[2]
		cmd := a.ns.Command(context.Background(), "ping", "-i", "0.02", "-c", "300", "-W", "1", b.ip.String())
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		h := e.lab.Hosts()[1]
		start := time.Now()
		if err := h.StopDaemon(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// cnitool prints only the message; libcni returns the code.
		cn := libcni.NewCNIConfig([]string{e.bin}, nil)
		list := loadList(t, e, 1, "10-pods.conflist")
		var te *types.Error
		if err := cn.GetStatusNetworkList(context.Background(), list); !errors.As(err, &te) || te.Code != types.ErrPluginNotAvailable {
			t.Errorf("unexpected STATUS with the daemon stopped:\n- want: error code %d\n-  got: %v", types.ErrPluginNotAvailable, err)
		}
		if err := h.StartDaemon(context.Background()); err != nil {
			t.Fatal(err)
		}
		restart := time.Since(start)
		cmd.Wait()
		m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("ping output: %s", out.String())
		}
		sent, _ := strconv.Atoi(m[1])
		recv, _ := strconv.Atoi(m[2])
		t.Logf("daemon restart took %v; ping every 20 ms: %d sent, %d received, gap ≈ %v", restart, sent, recv, time.Duration(sent-recv)*20*time.Millisecond)
		if !ping(a.ns, b.ip, 3) {
			t.Errorf("pod %s unreachable after the restart", b.ip)
		}
		if err := cn.GetStatusNetworkList(context.Background(), list); err != nil {
			t.Errorf("STATUS after restart: %v", err)
		}
		if out, err := e.cnitool(1, "check", "pods", b); err != nil {
			t.Errorf("CHECK after restart: %v %s", err, out)
		}
		// The re-adopted Pod ports are re-opened with offloads.
		ports, err := api.NewClient(h.APISocket).Ports(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		readopted := 0
		for _, a := range e.attachments(1) {
			for _, p := range ports {
				if p.Name == a.Port {
					readopted++
					if !strings.Contains(p.Offloads, "tso4") {
						t.Errorf("unexpected offloads of re-adopted port %s:\n- want: tso4 among them\n-  got: %q", p.Name, p.Offloads)
					}
				}
			}
		}
		if readopted == 0 {
			t.Errorf("no re-adopted Pod port among node 1's ports: %+v", ports)
		}
	})
}

func links(t *testing.T, ns *netns.NS) []string {
	t.Helper()
	var names []string
	err := ns.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// leases lists the addresses host-local has leased in dir.
func leases(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var ips []string
	for _, e := range ents {
		if net.ParseIP(e.Name()) != nil {
			ips = append(ips, e.Name())
		}
	}
	return ips
}

func fdbLen(t *testing.T, e *env, node int) int {
	t.Helper()
	es, err := api.NewClient(e.lab.Hosts()[node].APISocket).FDB(context.Background(), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, x := range es {
		if x.Origin != "learned" {
			n++
		}
	}
	return n
}

func loadList(t *testing.T, e *env, node int, file string) *libcni.NetworkConfigList {
	t.Helper()
	list, err := libcni.ConfListFromFile(filepath.Join(e.confDir(node), file))
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestPrivilegedCNISpecVersions runs ADD, CHECK (0.4.0 and later) and DEL
// through libcni for every supported spec version, and the plugin binary
// with bad configurations and an unreachable daemon: a CNI error with the
// right code and nothing changed on the node.
func TestPrivilegedCNISpecVersions(t *testing.T) {
	e := newEnv(t)
	cn := libcni.NewCNIConfig([]string{e.bin}, nil)
	for i, ver := range []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(ver, func(t *testing.T) {
			p := e.newPod(0)
			conf := fmt.Sprintf(`{"cniVersion": %q, "name": "v", "plugins": [%s]}`, ver,
				e.netConf(0, "v", 100, e.hostLocal(0, "v"+strconv.Itoa(i), 60+i, 60+i)))
			list, err := libcni.ConfListFromBytes([]byte(conf))
			if err != nil {
				t.Fatal(err)
			}
			rt := &libcni.RuntimeConf{ContainerID: "ver" + strconv.Itoa(i), NetNS: p.ns.Path(), IfName: "eth0"}
			r, err := cn.AddNetworkList(context.Background(), list, rt)
			if err != nil {
				t.Fatalf("ADD: %v", err)
			}
			if r.Version() != ver {
				t.Errorf("unexpected result version:\n- want: %s\n-  got: %s", ver, r.Version())
			}
			if !ping(p.ns, gatewayIP, 3) {
				t.Errorf("pod cannot ping the gateway")
			}
			if ver != "0.3.0" && ver != "0.3.1" {
				if err := cn.CheckNetworkList(context.Background(), list, rt); err != nil {
					t.Errorf("CHECK: %v", err)
				}
			}
			for range 2 {
				if err := cn.DelNetworkList(context.Background(), list, rt); err != nil {
					t.Errorf("DEL: %v", err)
				}
			}
		})
	}

	t.Run("BadConfig", func(t *testing.T) {
		p := e.newPod(0)
		before := e.attachments(0)
		tests := []struct {
			name string
			conf string
			code uint
		}{
			{"bad JSON", `{"cniVersion": "1.1.0", "name": "x", "vni": `, types.ErrDecodingFailure},
			{"wrong type", `{"cniVersion": "1.1.0", "name": "x", "type": "vxswitch", "vni": "100", "ipam": {}}`, types.ErrInvalidNetworkConfig},
			{"VNI out of range", `{"cniVersion": "1.1.0", "name": "x", "type": "vxswitch", "vni": 16777216, "ipam": {}}`, types.ErrInvalidNetworkConfig},
			{"unsupported version", `{"cniVersion": "9.9.9", "name": "x", "type": "vxswitch", "vni": 1, "ipam": {}}`, types.ErrIncompatibleCNIVersion},
			{"unreachable daemon", `{"cniVersion": "1.1.0", "name": "x", "type": "vxswitch", "vni": 1, "socket": "/nonexistent/vxswitchd.sock", "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.100.0/24"}]]}}`, types.ErrTryAgainLater},
		}
		for _, tt := range tests {
			cmd := exec.Command(filepath.Join(e.bin, "vxswitch"))
			cmd.Env = []string{"CNI_COMMAND=ADD", "CNI_CONTAINERID=bad", "CNI_NETNS=" + p.ns.Path(), "CNI_IFNAME=eth0", "CNI_PATH=" + e.bin}
			cmd.Stdin = strings.NewReader(tt.conf)
			out, err := cmd.Output()
			if err == nil {
				t.Errorf("%s: ADD succeeded: %s", tt.name, out)
				continue
			}
			var te types.Error
			if jerr := json.Unmarshal(out, &te); jerr != nil {
				t.Errorf("%s: output is not a CNI error: %v: %s", tt.name, jerr, out)
				continue
			}
			if te.Code != tt.code {
				t.Errorf("%s: unexpected code:\n- want: %d\n-  got: %d (%s: %s)", tt.name, tt.code, te.Code, te.Msg, te.Details)
			}
		}
		if got := e.attachments(0); len(got) != len(before) {
			t.Errorf("unexpected attachments after failed ADDs:\n- want: %d\n-  got: %d", len(before), len(got))
		}
		if ifs := links(t, p.ns); len(ifs) != 1 {
			t.Errorf("unexpected links in the pod:\n- want: [lo]\n-  got: %v", ifs)
		}
	})
}

// waitListen waits until a TCP socket listens on port in ns (iperf3 -s
// started in the background): iperf3 -c -J exits 0 on "connection
// refused", so a client started too early looks like a test that moved
// nothing.
func waitListen(t *testing.T, ns *netns.NS, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := ns.Run(context.Background(), "ss", "-Hltn", fmt.Sprintf("sport = :%d", port))
		if err == nil && len(strings.TrimSpace(string(out))) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on TCP port %d in %s after 10 s (ss: %v %s)", port, ns.Name, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
