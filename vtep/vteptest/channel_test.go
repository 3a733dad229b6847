package vteptest

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/vtep"
)

type received struct {
	Data string
	Size int
	Src  string // netip.AddrPort has unexported fields cmp cannot see
}

// open opens c on port and closes it at cleanup.
func open(t *testing.T, c *ChannelBind, port uint16) vtep.ReceiveFunc {
	t.Helper()
	fns, got, err := c.Open(port)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if port != 0 && got != port {
		t.Fatalf("unexpected port:\n- want: %d\n-  got: %d", port, got)
	}
	t.Cleanup(func() { c.Close() })
	return fns[0]
}

// receive reads one batch with bufSize-byte buffers, failing after a
// deadline.
func receive(t *testing.T, fn vtep.ReceiveFunc, bufSize int) []received {
	t.Helper()
	bufs := make([][]byte, BatchSize)
	for i := range bufs {
		bufs[i] = make([]byte, bufSize)
	}
	sizes, eps := make([]int, BatchSize), make([]netip.AddrPort, BatchSize)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := fn(bufs, sizes, eps)
		done <- result{n, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("receive blocked for 10s")
	}
	if r.err != nil {
		t.Fatalf("receive: %v", r.err)
	}
	var out []received
	for i := range r.n {
		out = append(out, received{string(bufs[i][:min(sizes[i], bufSize)]), sizes[i], eps[i].String()})
	}
	return out
}

func TestChannelBindsPair(t *testing.T) {
	a, b := ChannelBinds()
	if want, got := netip.MustParseAddr("192.0.2.1"), a.Addr(); want != got {
		t.Fatalf("unexpected address of a:\n- want: %v\n-  got: %v", want, got)
	}
	if want, got := netip.MustParseAddr("192.0.2.2"), b.Addr(); want != got {
		t.Fatalf("unexpected address of b:\n- want: %v\n-  got: %v", want, got)
	}
	recvA := open(t, a, encap.VXLANPort)
	recvB := open(t, b, encap.VXLANPort)

	buf := []byte("hello")
	if err := a.Send([][]byte{buf, []byte("world")}, b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX") // Send copied: reusing the buffer changes nothing
	want := []received{
		{"hello", 5, a.LocalAddr().String()},
		{"world", 5, a.LocalAddr().String()},
	}
	if diff := cmp.Diff(want, receive(t, recvB, 100)); diff != "" {
		t.Fatalf("unexpected datagrams at b (-want +got):\n%s", diff)
	}
	if err := b.Send([][]byte{[]byte("back")}, a.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	want = []received{{"back", 4, b.LocalAddr().String()}}
	if diff := cmp.Diff(want, receive(t, recvA, 100)); diff != "" {
		t.Fatalf("unexpected datagrams at a (-want +got):\n%s", diff)
	}
	if a.Sent() != 2 || b.Received() != 2 {
		t.Fatalf("unexpected counters:\n- want: sent 2, received 2\n-  got: sent %d, received %d", a.Sent(), b.Received())
	}
}

func TestFabricThreeBinds(t *testing.T) {
	f := NewFabric()
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")}
	var binds []*ChannelBind
	var recvs []vtep.ReceiveFunc
	for _, addr := range addrs {
		c := f.Bind(addr)
		binds = append(binds, c)
		recvs = append(recvs, open(t, c, encap.VXLANPort))
	}
	// 1 floods to 2 and 3 (head-end replication); 3 answers 1 only.
	for _, dst := range binds[1:] {
		if err := binds[0].Send([][]byte{[]byte("flood")}, dst.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if err := binds[2].Send([][]byte{[]byte("reply")}, binds[0].LocalAddr()); err != nil {
		t.Fatal(err)
	}
	src := func(i int) string { return netip.AddrPortFrom(addrs[i], encap.VXLANPort).String() }
	tests := []struct {
		bind int
		want []received
	}{
		{0, []received{{"reply", 5, src(2)}}},
		{1, []received{{"flood", 5, src(0)}}},
		{2, []received{{"flood", 5, src(0)}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, receive(t, recvs[tt.bind], 100)); diff != "" {
			t.Errorf("unexpected datagrams at %v (-want +got):\n%s", addrs[tt.bind], diff)
		}
	}
	if got := f.Dropped(); got != 0 {
		t.Fatalf("unexpected drops:\n- want: 0\n-  got: %d", got)
	}
}

func TestChannelBindDrops(t *testing.T) {
	a, b := ChannelBinds()
	open(t, a, encap.VXLANPort)
	tests := []struct {
		name string
		dst  netip.AddrPort
	}{
		{"unknown address", netip.MustParseAddrPort("192.0.2.99:4789")},
		{"closed bind", b.LocalAddr()},
		{"wrong port", netip.MustParseAddrPort("192.0.2.1:1")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.Send([][]byte{[]byte("x")}, tt.dst); err != nil {
				t.Fatalf("unexpected Send error:\n- want: <nil>\n-  got: %v", err)
			}
			if want, got := uint64(i+1), a.fabric.Dropped(); want != got {
				t.Fatalf("unexpected drop count:\n- want: %d\n-  got: %d", want, got)
			}
		})
	}
}

func TestChannelBindOversize(t *testing.T) {
	a, b := ChannelBinds()
	open(t, a, 0)
	recv := open(t, b, 0)
	if err := a.Send([][]byte{make([]byte, 10), make([]byte, 11)}, b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	got := receive(t, recv, 10)
	if want := []int{10, 11}; len(got) != 2 || got[0].Size != want[0] || got[1].Size != want[1] {
		t.Fatalf("unexpected sizes:\n- want: %v\n-  got: %+v", want, got)
	}
	if got := b.Oversize(); got != 1 {
		t.Fatalf("unexpected oversize count:\n- want: 1\n-  got: %d", got)
	}
}

func TestChannelBindOpenClose(t *testing.T) {
	a, b := ChannelBinds()
	recv := open(t, a, 0)
	if _, _, err := a.Open(0); !errors.Is(err, vtep.ErrBindAlreadyOpen) {
		t.Fatalf("unexpected second Open error:\n- want: %v\n-  got: %v", vtep.ErrBindAlreadyOpen, err)
	}
	if err := a.SetAddr(netip.MustParseAddr("192.0.2.9")); err == nil {
		t.Fatal("unexpected success of SetAddr on an open bind")
	}
	// Another bind cannot take an address and port in use.
	if err := b.SetAddr(a.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Open(a.LocalAddr().Port()); err == nil {
		t.Fatal("unexpected success opening an address and port in use")
	}
	done := make(chan error, 1)
	go func() {
		_, err := recv(make([][]byte, 1), make([]int, 1), make([]netip.AddrPort, 1))
		done <- err
	}()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("unexpected receive error after Close:\n- want: %v\n-  got: %v", net.ErrClosed, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("receive still blocked 10s after Close")
	}
	if err := a.Close(); err != nil {
		t.Fatalf("unexpected second Close error:\n- want: <nil>\n-  got: %v", err)
	}
	if err := a.Send([][]byte{{1}}, b.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("unexpected Send error after Close:\n- want: %v\n-  got: %v", net.ErrClosed, err)
	}
	if _, err := recv(make([][]byte, 1), make([]int, 1), make([]netip.AddrPort, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("unexpected receive error after Close:\n- want: %v\n-  got: %v", net.ErrClosed, err)
	}
	// Closed binds can change address and open again.
	if err := a.SetAddr(netip.MustParseAddr("192.0.2.9")); err != nil {
		t.Fatal(err)
	}
	open(t, a, 0)
	if want, got := netip.MustParseAddr("192.0.2.9"), a.LocalAddr().Addr(); want != got {
		t.Fatalf("unexpected address after SetAddr:\n- want: %v\n-  got: %v", want, got)
	}
}
