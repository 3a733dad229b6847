package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/switch/daemon"
)

// TestPrivilegedIPv6Underlay: three vxswitchd hosts on an IPv6 underlay;
// every pair pings and the FDBs hold IPv6 remotes.
func TestPrivilegedIPv6Underlay(t *testing.T) {
	l, ctx := startLab(t, lab.Config{Hosts: 3, IPv6: true})
	hosts := l.Hosts()
	res, err := l.PingAll(ctx)
	var sum strings.Builder
	lab.Summary(&sum, res)
	if err != nil {
		t.Fatalf("PingAll: %v\n%s", err, sum.String())
	}
	t.Logf("PingAll over IPv6:\n%s", sum.String())
	for _, h := range hosts {
		for _, o := range hosts {
			if o == h {
				continue
			}
			mac := daemon.StableMAC(o.Underlay, lab.TAPDev)
			e, err := fdbEntry(ctx, h, 42, mac)
			if err != nil {
				t.Error(err)
				continue
			}
			if !e.Remote.Is6() {
				t.Errorf("%s: remote of %s is not IPv6: %v", h.Name, mac, e.Remote)
			}
			want := fdbView{MAC: mac, Remote: o.Underlay.String(), Origin: "learned"}
			if diff := cmp.Diff(want, viewOf(e)); diff != "" {
				t.Errorf("unexpected entry on %s (-want +got):\n%s", h.Name, diff)
			}
		}
	}
}

// TestPrivilegedWireFormatTshark: "What we send is valid VXLAN to an
// independent decoder". tshark decodes every packet of a capture on the
// underlay as VXLAN, VNI 42, flags 0x0800 (only I), none malformed; each
// inner flow keeps one outer UDP source port from the dynamic range.
func TestPrivilegedWireFormatTshark(t *testing.T) {
	l, ctx := startLab(t, lab.Config{Hosts: 2})
	hosts := l.Hosts()
	h0, h1 := hosts[0], hosts[1]
	// vxswitchd sends runs of equal-size VXLAN packets as one UDP GSO
	// send. A real NIC (or the kernel, before its driver) cuts them into
	// datagrams, and that is what crosses the wire; a veth passes the
	// super-packet on whole, so a capture here would see it uncut. Make
	// both veths refuse UDP segmentation, so the kernel segments in
	// software before the capture point and tshark sees the wire.
	requireTools(t, "ethtool")
	for _, h := range hosts {
		run(t, ctx, h.NS, "ethtool", "-K", lab.UnderlayDev, "tx-udp-segmentation", "off")
	}
	capt := startCapture(t, ctx, h0.NS, lab.UnderlayDev, "udp", "port", "4789")
	mustPing(t, ctx, h0, h1.Overlay.Addr(), 3)
	tcpExchange(t, h1, h0, 16<<10)
	pcap := capt.stop(t)

	all := tsharkFields(t, ctx, pcap, "", "frame.number")
	if len(all) < 10 {
		t.Fatalf("capture too small: %d packets", len(all))
	}
	if notVXLAN := tsharkFields(t, ctx, pcap, "!vxlan", "frame.number"); len(notVXLAN) != 0 {
		t.Errorf("unexpected packets tshark does not decode as VXLAN: frames %v", notVXLAN)
	}
	if bad := tsharkFields(t, ctx, pcap, "_ws.malformed || _ws.expert.severity >= warning", "frame.number", "_ws.expert.message"); len(bad) != 0 {
		t.Errorf("unexpected malformed or warned packets: %v", bad)
	}
	// The header fields of every packet.
	headers := map[string]int{}
	for _, r := range tsharkFields(t, ctx, pcap, "vxlan", "vxlan.flags", "vxlan.vni", "vxlan.reserved8", "vxlan.gbp") {
		headers[strings.Join(r, " ")]++
	}
	if diff := cmp.Diff(map[string]int{"0x0800 42 0 0": len(all)}, headers); diff != "" {
		t.Errorf("unexpected VXLAN headers (\"flags vni reserved8 group-policy\": count) (-want +got):\n%s", diff)
	}

	// Outer source ports: the inner flow (addresses, protocol, ports)
	// picks the port, so each flow keeps one, all within 49152-65535.
	ports := map[string]map[string]bool{} // flow -> set of source ports
	rows := tsharkFields(t, ctx, pcap, "vxlan && (icmp || tcp)",
		"ip.src", "ip.dst", "ip.proto", "tcp.srcport", "tcp.dstport", "udp.srcport")
	for _, r := range rows {
		// ip.src and ip.dst hold "outer,inner"; the outer source says
		// which VTEP sent the packet, so it is part of the flow too.
		flow, sport := strings.Join(r[:5], " "), r[5]
		p, err := strconv.Atoi(sport)
		if err != nil || p < 49152 || p > 65535 {
			t.Errorf("unexpected outer source port of flow %s:\n- want: 49152-65535\n-  got: %q", flow, sport)
		}
		if ports[flow] == nil {
			ports[flow] = map[string]bool{}
		}
		ports[flow][sport] = true
	}
	distinct := map[string]bool{}
	for flow, set := range ports {
		if len(set) != 1 {
			t.Errorf("flow %s used %d outer source ports, want 1: %v", flow, len(set), set)
		}
		for p := range set {
			distinct[p] = true
		}
	}
	// ICMP both ways and TCP both ways: at least 4 flows.
	if len(ports) < 4 {
		t.Errorf("unexpected number of inner flows:\n- want: >= 4\n-  got: %d: %v", len(ports), ports)
	}
	t.Logf("%d packets, %d flows over %d distinct outer source ports: %v", len(all), len(ports), len(distinct), ports)
}

// tcpExchange opens a TCP connection from client to server's overlay
// address and sends n bytes, which the server reads to the end.
func tcpExchange(t *testing.T, server, client *lab.Host, n int) {
	t.Helper()
	var ln net.Listener
	err := server.NS.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(server.Overlay.Addr(), 0).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		m, err := io.Copy(io.Discard, c)
		if err == nil && m != int64(n) {
			err = fmt.Errorf("server read %d bytes, want %d", m, n)
		}
		got <- err
	}()
	err = client.NS.Do(func() error {
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		_, err = c.Write(make([]byte, n))
		return err
	})
	if err != nil {
		t.Fatalf("tcp %s -> %s: %v", client.Name, server.Name, err)
	}
	if err := <-got; err != nil {
		t.Fatalf("tcp %s -> %s: %v", client.Name, server.Name, err)
	}
}
