package cni_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/internal/netns"
	"github.com/vxswitch/vxswitch/internal/testutil"
)

// Addresses of the "external" network beside node 0: a veth from the node
// to a namespace outside the overlay (TEST-NET-3, RFC 5737).
var (
	extNodeIP = net.ParseIP("203.0.113.1")
	extHostIP = net.ParseIP("203.0.113.2")
)

// newExternal connects node's namespace to a new namespace over a veth
// (node 203.0.113.1/24, external 203.0.113.2/24), turns on forwarding in
// the node and gives the external side a route back to the Pod subnet
// through the node, so that both masqueraded and unmasqueraded traffic
// could be answered. The namespace and the veth go away with the test.
func (e *env) newExternal(node int) *netns.NS {
	e.t.Helper()
	ext := testutil.NewNS(e.t)
	h := e.lab.Hosts()[node]
	link := testutil.UniqueName("vxm")
	ctx := context.Background()
	for _, c := range []struct {
		ns   *netns.NS
		args []string
	}{
		{h.NS, []string{"ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ext.Name}},
		{h.NS, []string{"ip", "addr", "add", extNodeIP.String() + "/24", "dev", link}},
		{h.NS, []string{"ip", "link", "set", link, "up"}},
		{h.NS, []string{"sysctl", "-qw", "net.ipv4.ip_forward=1"}},
		{ext, []string{"ip", "addr", "add", extHostIP.String() + "/24", "dev", "eth0"}},
		{ext, []string{"ip", "link", "set", "eth0", "up"}},
		{ext, []string{"ip", "link", "set", "lo", "up"}},
		{ext, []string{"ip", "route", "add", "198.18.100.0/24", "via", extNodeIP.String()}},
	} {
		if out, err := c.ns.Run(ctx, c.args[0], c.args[1:]...); err != nil {
			e.t.Fatalf("%v: %s", err, out)
		}
	}
	return ext
}

// natRules returns node's nat table rules that belong to vxswitch.
func (e *env) natRules(node int) []string {
	e.t.Helper()
	out, err := e.lab.Hosts()[node].NS.Run(context.Background(), "iptables", "-w", "-t", "nat", "-S")
	if err != nil {
		e.t.Fatalf("iptables -t nat -S: %v", err)
	}
	var mine []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "VXSW-") || strings.Contains(l, "vxswitch") {
			mine = append(mine, l)
		}
	}
	return mine
}

// sourceSeenBy sends a UDP datagram from p to the external namespace and
// returns the source address the external side sees.
func sourceSeenBy(t *testing.T, p *pod, ext *netns.NS, port int) net.IP {
	t.Helper()
	var conn *net.UDPConn
	if err := ext.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: extHostIP, Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Retry: the first datagram may wait for ARP on either side.
	buf := make([]byte, 16)
	for range 5 {
		if err := p.ns.Do(func() error {
			s, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: extHostIP, Port: port})
			if err != nil {
				return err
			}
			defer s.Close()
			_, err = s.Write([]byte("hello"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(time.Second))
		if _, peer, err := conn.ReadFromUDP(buf); err == nil {
			return peer.IP
		}
	}
	t.Fatalf("pod %s: no datagram reached the external host %s", p.ip, extHostIP)
	return nil
}

// TestPrivilegedCNIIPMasq shows that with ipMasq a Pod's traffic to an
// address outside the overlay leaves the node with the node's address
// (SNAT by MASQUERADE), that without ipMasq it keeps the Pod's address,
// that traffic inside the overlay is never masqueraded, and that DEL
// removes every rule the plugin added.
func TestPrivilegedCNIIPMasq(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/iptables"); err != nil {
		if _, err := os.Stat("/sbin/iptables"); err != nil {
			t.Skip("iptables not installed (.ci/test installs it)")
		}
	}
	e := newEnv(t)
	for name, masq := range map[string]bool{"masq": true, "nomasq": false} {
		lo := map[bool]int{true: 100, false: 110}[masq]
		conf := fmt.Sprintf(`{"cniVersion": "1.1.0", "name": %q, "plugins": [%s]}`, name,
			strings.Replace(e.netConf(0, name, 100, e.hostLocal(0, name, lo, lo+9)),
				`"type": "vxswitch",`, fmt.Sprintf(`"type": "vxswitch", "ipMasq": %v,`, masq), 1))
		if err := os.WriteFile(filepath.Join(e.confDir(0), "40-"+name+".conflist"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ext := e.newExternal(0)
	peer := e.newPod(1)
	e.add(peer, "pods")
	if rules := e.natRules(0); len(rules) != 0 {
		t.Fatalf("unexpected vxswitch nat rules before any ipMasq ADD:\n- want: none\n-  got: %q", rules)
	}

	tests := []struct {
		network string
		masq    bool
	}{
		{"masq", true},
		{"nomasq", false},
	}
	for i, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			p := e.newPod(0)
			e.add(p, tt.network)
			rules := e.natRules(0)
			if tt.masq != (len(rules) > 0) {
				t.Errorf("unexpected vxswitch nat rules after ADD (ipMasq %v): %q", tt.masq, rules)
			}

			want := p.ip
			if tt.masq {
				want = extNodeIP
			}
			if got := sourceSeenBy(t, p, ext, 6000+i); !got.Equal(want) {
				t.Errorf("unexpected source address at the external host:\n- want: %v\n-  got: %v", want, got)
			}
			// Inside the overlay, even with ipMasq: the Pod's own address.
			if !ping(p.ns, peer.ip, 3) {
				t.Fatalf("pod %s cannot reach pod %s", p.ip, peer.ip)
			}
			var conn *net.UDPConn
			if err := peer.ns.Do(func() (err error) {
				conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: peer.ip, Port: 6100 + i})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := p.ns.Do(func() error {
				s, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: peer.ip, Port: 6100 + i})
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
			_, from, err := conn.ReadFromUDP(make([]byte, 16))
			if err != nil {
				t.Fatalf("pod %s → pod %s: %v", p.ip, peer.ip, err)
			}
			if !from.IP.Equal(p.ip) {
				t.Errorf("unexpected source address inside the overlay:\n- want: %v\n-  got: %v", p.ip, from.IP)
			}

			for n := range 2 {
				if out, err := e.cnitool(0, "del", tt.network, p); err != nil {
					t.Fatalf("DEL #%d: %v %s", n+1, err, out)
				}
			}
			if rules := e.natRules(0); len(rules) != 0 {
				t.Errorf("unexpected vxswitch nat rules after DEL:\n- want: none\n-  got: %q", rules)
			}
		})
	}
}
