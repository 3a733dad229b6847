package gossip

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
)

// testVTEP returns the documentation-range VTEP address of test node i.
// Nothing is ever sent to it: gossip runs on 127.0.0.1.
func testVTEP(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}) }

// testMAC returns a locally administered unicast MAC for node i, entry j.
func testMAC(i, j int) encap.MAC { return encap.MAC{0x02, 0x42, 0, 0, byte(i), byte(j)} }

// fastTiming shortens memberlist's failure detection and anti-entropy for
// tests: a dead node is detected within a few seconds, push/pull every 2 s.
func fastTiming(c *memberlist.Config) {
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 2
	c.SuspicionMaxTimeoutMult = 2
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = 2 * time.Second
	c.GossipToTheDeadTime = 2 * time.Second
	c.TCPTimeout = 2 * time.Second
}

type testNode struct {
	*Node
	table *fdb.Table
	neigh *fdb.NeighTable
	tr    *blockTransport // nil unless requested
}

type nodeOpt func(*Config)

func withKeys(keys ...[]byte) nodeOpt { return func(c *Config) { c.Keys = keys } }
func withIncarnation(inc uint64) nodeOpt {
	return func(c *Config) { c.Incarnation = inc }
}

// startNode starts a node named "n<i>" on 127.0.0.1 with a random port,
// serving vnis and joining join. The node is shut down at cleanup.
func startNode(t testing.TB, i int, vnis []uint32, join []string, block bool, opts ...nodeOpt) *testNode {
	t.Helper()
	tn := &testNode{table: fdb.New(fdb.DefaultConfig()), neigh: fdb.NewNeighTable()}
	cfg := DefaultLocalConfig()
	cfg.Name = fmt.Sprintf("n%d", i)
	cfg.VTEP = testVTEP(i)
	cfg.BindAddr = netip.MustParseAddrPort("127.0.0.1:0")
	cfg.Join = join
	cfg.RejoinInterval = time.Second
	cfg.Memberlist = fastTiming
	if testing.Verbose() && os.Getenv("GOSSIP_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, o := range opts {
		o(&cfg)
	}
	if block {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{"127.0.0.1"}, BindPort: 0, Logger: log.New(io.Discard, "", 0),
		})
		if err != nil {
			t.Fatal(err)
		}
		tn.tr = newBlockTransport(nt)
		cfg.Transport = tn.tr
	}
	n, err := New(cfg, tn.table, tn.neigh)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.SetVNIs(vnis); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	tn.Node = n
	t.Cleanup(func() { n.Shutdown() })
	return tn
}

// waitFor polls cond every 20 ms until it returns "" or the deadline
// passes; then it fails with cond's last explanation. It returns the time
// it took.
func waitFor(t testing.TB, within time.Duration, what string, cond func() string) time.Duration {
	t.Helper()
	start := time.Now()
	var why string
	for time.Since(start) < within {
		if why = cond(); why == "" {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s: %s", what, within, why)
	return 0
}

var errBlocked = errors.New("blocked by test partition")

// blockTransport wraps memberlist's NetTransport and, while blocked,
// drops everything the node sends or receives: a network partition of
// one node.
type blockTransport struct {
	*memberlist.NetTransport
	blocked  atomic.Bool
	closing  atomic.Bool // Shutdown began: drop, but keep draining
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	once     sync.Once
}

var _ memberlist.NodeAwareTransport = (*blockTransport)(nil)

func newBlockTransport(nt *memberlist.NetTransport) *blockTransport {
	b := &blockTransport{NetTransport: nt, packetCh: make(chan *memberlist.Packet), streamCh: make(chan net.Conn), done: make(chan struct{})}
	go func() {
		for {
			select {
			case p := <-nt.PacketCh():
				if b.blocked.Load() || b.closing.Load() {
					continue
				}
				select {
				case b.packetCh <- p:
				case <-b.done:
					return
				}
			case <-b.done:
				return
			}
		}
	}()
	go func() {
		for {
			select {
			case c := <-nt.StreamCh():
				if b.blocked.Load() || b.closing.Load() {
					c.Close()
					continue
				}
				select {
				case b.streamCh <- c:
				case <-b.done:
					c.Close()
					return
				}
			case <-b.done:
				return
			}
		}
	}()
	return b
}

func (b *blockTransport) PacketCh() <-chan *memberlist.Packet { return b.packetCh }
func (b *blockTransport) StreamCh() <-chan net.Conn           { return b.streamCh }

func (b *blockTransport) WriteTo(p []byte, addr string) (time.Time, error) {
	if b.blocked.Load() {
		return time.Now(), nil // silently lost, like a partitioned link
	}
	return b.NetTransport.WriteTo(p, addr)
}

func (b *blockTransport) WriteToAddress(p []byte, a memberlist.Address) (time.Time, error) {
	return b.WriteTo(p, a.Addr)
}

func (b *blockTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if b.blocked.Load() {
		return nil, errBlocked
	}
	return b.NetTransport.DialTimeout(addr, timeout)
}

func (b *blockTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return b.DialTimeout(a.Addr, timeout)
}

// Shutdown shuts the NetTransport down while the forwarders keep draining
// its channels (dropping): NetTransport.Shutdown waits for its listener,
// which may be blocked handing over a packet that nobody would read if the
// forwarders stopped first (a test hung 20 minutes that way).
func (b *blockTransport) Shutdown() error {
	b.closing.Store(true)
	err := b.NetTransport.Shutdown()
	b.once.Do(func() { close(b.done) })
	return err
}
