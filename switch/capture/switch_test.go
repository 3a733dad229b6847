package capture_test

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/switch/capture"
	"github.com/vxswitch/vxswitch/switch/tap/taptest"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

const testVNI = 42

var (
	macA = encap.MustParseMAC("02:00:00:00:00:0a")
	macB = encap.MustParseMAC("02:00:00:00:00:0b")
	ipA  = netip.MustParseAddr("198.18.0.1")
	ipB  = netip.MustParseAddr("198.18.0.2")
	// The underlay (RFC 5737 TEST-NET-1).
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
	addrC = netip.MustParseAddr("192.0.2.3")
)

// pair is two switches on one in-memory fabric, each with one port in
// testVNI and the other as its flood peer, and a third bind (c) that can
// inject raw VXLAN.
type pair struct {
	a, b       *vswitch.Switch
	tapA, tapB *taptest.ChannelTAP
	c          *vteptest.ChannelBind
}

func newPair(t testing.TB) *pair {
	t.Helper()
	f := vteptest.NewFabric()
	p := &pair{tapA: taptest.NewChannelTAP("tapa", 1500), tapB: taptest.NewChannelTAP("tapb", 1500), c: f.Bind(addrC)}
	mk := func(addr, peer netip.Addr, dev *taptest.ChannelTAP) *vswitch.Switch {
		sw, err := vswitch.New(vswitch.DefaultConfig(), f.Bind(addr), fdb.New(fdb.DefaultConfig()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sw.Close() })
		if _, err := sw.AddPort(dev, vswitch.PortConfig{VNI: testVNI}); err != nil {
			t.Fatal(err)
		}
		sw.FDB().AddFlood(testVNI, peer)
		if err := sw.Start(); err != nil {
			t.Fatal(err)
		}
		return sw
	}
	p.a = mk(addrA, addrB, p.tapA)
	p.b = mk(addrB, addrA, p.tapB)
	if _, _, err := p.c.Open(encap.VXLANPort); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.c.Close() })
	return p
}

// send puts frame on in and waits for it (byte for byte) on out.
func send(t testing.TB, in, out *taptest.ChannelTAP, frame []byte) {
	t.Helper()
	in.Inbound <- frame
	select {
	case got := <-out.Outbound:
		if !bytes.Equal(got, frame) {
			t.Fatalf("unexpected frame delivered:\n- want: %x\n-  got: %x", frame, got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("frame not delivered within 10s")
	}
}

// waitCaptured polls until s has captured want packets.
func waitCaptured(t testing.TB, s *capture.Session, want uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Captured < want {
		if time.Now().After(deadline) {
			t.Fatalf("unexpected captured count:\n- want: %d\n-  got: %d", want, s.Stats().Captured)
		}
		time.Sleep(time.Millisecond)
	}
}

func icmpEcho(typ byte, src, dst encap.MAC, sip, dip netip.Addr) []byte {
	b := make([]byte, encap.EthernetHeaderLen+20+16)
	encap.Ethernet(b).Encode(&encap.EthernetFields{Dst: dst, Src: src, Type: encap.EtherTypeIPv4})
	ip := encap.IPv4(b[encap.EthernetHeaderLen:])
	ip.Encode(&encap.IPv4Fields{TotalLength: 36, TTL: 64, Protocol: encap.ProtocolICMP, Src: sip, Dst: dip})
	ip.SetChecksum(ip.CalculateChecksum())
	icmp := b[encap.EthernetHeaderLen+20:]
	icmp[0] = typ
	copy(icmp[8:], "vxswitch")
	c := ^encap.Checksum(icmp, 0)
	icmp[2], icmp[3] = byte(c>>8), byte(c)
	return b
}

func arpFrame(op uint16, src, dst encap.MAC, sip, tip netip.Addr) []byte {
	b := make([]byte, encap.EthernetHeaderLen+encap.ARPSize)
	encap.Ethernet(b).Encode(&encap.EthernetFields{Dst: dst, Src: src, Type: encap.EtherTypeARP})
	f := encap.ARPFields{Op: op, SenderMAC: src, SenderIP: sip, TargetIP: tip}
	if op == encap.ARPReply {
		f.TargetMAC = dst
	}
	encap.ARP(b[encap.EthernetHeaderLen:]).Encode(&f)
	return b
}

// exchange runs ARP request/reply and ICMP echo request/reply between the
// two ports, then injects VXLAN for an unserved VNI at B from c.
func (p *pair) exchange(t testing.TB) {
	send(t, p.tapA, p.tapB, arpFrame(encap.ARPRequest, macA, encap.BroadcastMAC, ipA, ipB))
	send(t, p.tapB, p.tapA, arpFrame(encap.ARPReply, macB, macA, ipB, ipA))
	send(t, p.tapA, p.tapB, icmpEcho(8, macA, macB, ipA, ipB))
	send(t, p.tapB, p.tapA, icmpEcho(0, macB, macA, ipB, ipA))
	vx := make([]byte, encap.VXLANHeaderLen)
	encap.VXLAN(vx).Encode(&encap.VXLANFields{VNI: 99})
	vx = append(vx, icmpEcho(8, macA, macB, ipA, ipB)...)
	if err := p.c.Send([][]byte{vx}, netip.AddrPortFrom(addrB, encap.VXLANPort)); err != nil {
		t.Fatal(err)
	}
}

func tshark(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	cmd := exec.Command("tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// capturePair runs the exchange with one session on each switch and
// writes each session to a file in format.
func capturePair(t *testing.T, format capture.Format) (fileA, fileB string) {
	p := newPair(t)
	sa, err := p.a.Capture().Start(capture.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := p.b.Capture().Start(capture.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p.exchange(t)
	// A: 4 frames x (port-in + underlay-out, or underlay-in + port-out).
	// B: the same 8, plus the unknown-VNI packet at underlay-in and drop.
	waitCaptured(t, sa, 8)
	waitCaptured(t, sb, 10)
	dir := t.TempDir()
	write := func(s *capture.Session, name string) string {
		s.Close()
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w, err := capture.NewWriter(format, f, s.Snaplen())
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.Copy(context.Background(), w, 0)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(n) != s.Stats().Captured || s.Stats().Lost != 0 {
			t.Fatalf("unexpected copy count: wrote %d, stats %v", n, s.Stats())
		}
		return path
	}
	return write(sa, "a."+string(format)), write(sb, "b."+string(format))
}

func TestTsharkPcapNG(t *testing.T) {
	fa, fb := capturePair(t, capture.FormatPcapNG)
	for _, tc := range []struct {
		file  string
		count int
	}{{fa, 8}, {fb, 10}} {
		if got := tshark(t, "-r", tc.file, "-Y", "_ws.malformed || _ws.expert.severity >= error"); got != "" {
			t.Errorf("%s: unexpected malformed packets:\n%s", tc.file, got)
		}
		all := lines(tshark(t, "-r", tc.file, "-T", "fields", "-E", "separator=|", "-e", "frame.number",
			"-e", "frame.interface_name", "-e", "frame.packet_flags_direction", "-e", "frame.comment"))
		if len(all) != tc.count {
			t.Fatalf("%s: unexpected packet count:\n- want: %d\n-  got: %d\n%s", tc.file, tc.count, len(all), strings.Join(all, "\n"))
		}
		for _, l := range all {
			f := strings.Split(l, "|")
			if len(f) != 4 || f[1] == "" || (f[2] != "1" && f[2] != "2" && f[2] != "0x00000001" && f[2] != "0x00000002") || !strings.Contains(f[3], "vni=") || !strings.Contains(f[3], "id=") {
				t.Errorf("%s: unexpected interface/direction/comment fields: %q", tc.file, l)
			}
		}
		// Underlay packets decode as VXLAN with the right VNI.
		vnis := lines(tshark(t, "-r", tc.file, "-Y", "vxlan", "-T", "fields", "-e", "vxlan.vni"))
		wantVX := 4
		if tc.file == fb {
			wantVX = 6 // plus the unknown-VNI packet, at underlay-in and drop
		}
		if len(vnis) != wantVX {
			t.Errorf("%s: unexpected VXLAN packet count:\n- want: %d\n-  got: %d", tc.file, wantVX, len(vnis))
		}
		n42 := 0
		for _, v := range vnis {
			if v == "42" {
				n42++
			}
		}
		if n42 != 4 {
			t.Errorf("%s: unexpected VNI 42 packets:\n- want: 4\n-  got: %d (%v)", tc.file, n42, vnis)
		}
		// Inner frames decode as the ARP and ICMP sent, inner and outer.
		if got := len(lines(tshark(t, "-r", tc.file, "-Y", "arp"))); got != 4 {
			t.Errorf("%s: unexpected ARP count:\n- want: 4\n-  got: %d", tc.file, got)
		}
		wantICMP := 4
		if tc.file == fb {
			wantICMP = 6
		}
		if got := len(lines(tshark(t, "-r", tc.file, "-Y", "icmp.type == 8 || icmp.type == 0"))); got != wantICMP {
			t.Errorf("%s: unexpected ICMP count:\n- want: %d\n-  got: %d", tc.file, wantICMP, got)
		}
	}
	// The decision and the linking ID: A's ARP request was flooded to 1
	// VTEP, and the underlay-out packet carries the ingress frame's ID.
	comments := lines(tshark(t, "-r", fa, "-T", "fields", "-e", "frame.comment"))
	t.Logf("A's comments:\n%s", strings.Join(comments, "\n"))
	ids := map[string][]string{}
	var floods int
	for _, c := range comments {
		if strings.Contains(c, "point=port-in port=tapa") && strings.Contains(c, "decision=flood to 1") {
			floods++
		}
		for _, f := range strings.Fields(c) {
			if strings.HasPrefix(f, "id=") {
				ids[f] = append(ids[f], strings.SplitN(c, " ", 2)[0])
			}
		}
	}
	if floods != 1 {
		t.Errorf("unexpected flood decisions on A:\n- want: 1\n-  got: %d\n%s", floods, strings.Join(comments, "\n"))
	}
	if len(ids) != 4 {
		t.Errorf("unexpected distinct IDs on A:\n- want: 4 (one per frame)\n-  got: %d: %v", len(ids), ids)
	}
	for id, pts := range ids {
		if len(pts) != 2 {
			t.Errorf("unexpected records for %s:\n- want: 2 (ingress and egress)\n-  got: %v", id, pts)
		}
	}
	// B's drop: the unknown VNI with its reason, at the drop interface.
	drops := lines(tshark(t, "-r", fb, "-Y", `frame.interface_name == "drop"`, "-T", "fields", "-e", "vxlan.vni", "-e", "frame.comment"))
	if len(drops) != 1 || !strings.HasPrefix(drops[0], "99\t") || !strings.Contains(drops[0], "decision=drop: unknown_vni") || !strings.Contains(drops[0], "remote=192.0.2.3:4789") {
		t.Errorf("unexpected drop records:\n- want: 1 with VNI 99 and reason unknown_vni\n-  got: %q", drops)
	}
	// Direction: underlay-out is outbound, underlay-in inbound.
	dirs := tshark(t, "-r", fa, "-Y", `frame.interface_name == "underlay-out"`, "-T", "fields", "-e", "frame.packet_flags_direction")
	for _, d := range lines(dirs) {
		if d != "2" && d != "0x00000002" {
			t.Errorf("unexpected direction for underlay-out:\n- want: 2 (outbound)\n-  got: %q", d)
		}
	}
}

func TestTsharkPcap(t *testing.T) {
	fa, fb := capturePair(t, capture.FormatPcap)
	for _, tc := range []struct {
		file  string
		count int
	}{{fa, 8}, {fb, 10}} {
		if got := tshark(t, "-r", tc.file, "-Y", "_ws.malformed"); got != "" {
			t.Errorf("%s: unexpected malformed packets:\n%s", tc.file, got)
		}
		if got := len(lines(tshark(t, "-r", tc.file))); got != tc.count {
			t.Errorf("%s: unexpected packet count:\n- want: %d\n-  got: %d", tc.file, tc.count, got)
		}
		if got := len(lines(tshark(t, "-r", tc.file, "-Y", "vxlan.vni == 42"))); got != 4 {
			t.Errorf("%s: unexpected VXLAN VNI 42 count:\n- want: 4\n-  got: %d", tc.file, got)
		}
	}
}

// TestTsharkStream reads a pcapng stream from stdin while it is written,
// as 'vxctl capture -w - | tshark -r -' does.
func TestTsharkStream(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	p := newPair(t)
	s, err := p.a.Capture().Start(capture.Config{Points: capture.Points(capture.PortIn)})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tshark", "-l", "-r", "-", "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w, err := capture.NewPcapNGWriter(stdin, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Copy(context.Background(), w, 2)
		stdin.Close()
		done <- err
	}()
	p.exchange(t)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	got := lines(strings.TrimSpace(out.String()))
	if len(got) != 2 || !strings.HasPrefix(got[0], "port-in:tapa\t") {
		t.Fatalf("unexpected streamed packets:\n- want: 2 from port-in:tapa\n-  got: %q", got)
	}
}

// TestCaptureSuppressedRequest: an ARP request answered by suppression is
// recorded at port-in as it arrived (a request), and the reply the switch
// wrote back at port-out, under the same ID.
func TestCaptureSuppressedRequest(t *testing.T) {
	neigh := fdb.NewNeighTable()
	cfg := vswitch.DefaultConfig()
	cfg.Suppress = &vswitch.Suppressor{Neigh: neigh}
	f := vteptest.NewFabric()
	sw, err := vswitch.New(cfg, f.Bind(addrA), fdb.New(fdb.DefaultConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	dev := taptest.NewChannelTAP("tapa", 1500)
	if _, err := sw.AddPort(dev, vswitch.PortConfig{VNI: testVNI}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Start(); err != nil {
		t.Fatal(err)
	}
	// B's binding is known (as gossip would install it).
	if err := neigh.Add(fdb.Neighbor{NeighKey: fdb.NeighKey{VNI: testVNI, IP: ipB}, MAC: macB, Origin: fdb.OriginStatic}); err != nil {
		t.Fatal(err)
	}
	s, err := sw.Capture().Start(capture.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	req := arpFrame(encap.ARPRequest, macA, encap.BroadcastMAC, ipA, ipB)
	dev.Inbound <- req
	select {
	case got := <-dev.Outbound:
		if encap.ARP(got[encap.EthernetHeaderLen:]).Op() != encap.ARPReply {
			t.Fatalf("unexpected frame written back: %x", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no suppression reply within 10s")
	}
	waitCaptured(t, s, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := map[capture.Point][]byte{}
	var ids []uint64
	for range 2 {
		pk, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got[pk.Point] = append([]byte(nil), pk.Data...)
		ids = append(ids, pk.ID)
	}
	if !bytes.Equal(got[capture.PortIn], req) {
		t.Errorf("unexpected port-in record:\n- want: the request %x\n-  got: %x", req, got[capture.PortIn])
	}
	if out := got[capture.PortOut]; len(out) < encap.EthernetHeaderLen+encap.ARPSize || encap.ARP(out[encap.EthernetHeaderLen:]).Op() != encap.ARPReply {
		t.Errorf("unexpected port-out record:\n- want: the reply\n-  got: %x", out)
	}
	if ids[0] != ids[1] {
		t.Errorf("unexpected IDs:\n- want: one ID for request and reply\n-  got: %v", ids)
	}
}
