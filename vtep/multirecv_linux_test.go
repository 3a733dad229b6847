package vtep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// recvModes are the receive-side offload settings the multi-socket tests
// run under: each receive socket with and without UDP_GRO.
var recvModes = []struct {
	name string
	cfg  Config
}{
	{"GRO", Config{}},
	{"noGRO", Config{NoGRO: true}},
}

// datagram is one received VXLAN packet and its outer source.
type datagram struct {
	data []byte
	from netip.AddrPort
}

// receiveAll drives every ReceiveFunc of b in its own goroutine, as the
// switch does, until want datagrams arrived in total or 10 s passed, then
// closes b. got[i] holds what fns[i] returned, in order. A ReceiveFunc error
// other than net.ErrClosed fails the test.
func receiveAll(t testing.TB, b *StdBind, fns []ReceiveFunc, want int) (got [][]datagram) {
	t.Helper()
	got = make([][]datagram, len(fns))
	errs := make([]error, len(fns))
	var (
		total atomic.Int64
		wg    sync.WaitGroup
	)
	timer := time.AfterFunc(10*time.Second, func() { b.Close() })
	defer timer.Stop()
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bufs := make([][]byte, b.BatchSize())
			for k := range bufs {
				bufs[k] = make([]byte, 2048)
			}
			sizes, eps := make([]int, len(bufs)), make([]netip.AddrPort, len(bufs))
			for {
				n, err := fn(bufs, sizes, eps)
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						errs[i] = err
					}
					return
				}
				for k := range n {
					got[i] = append(got[i], datagram{bytes.Clone(bufs[k][:min(sizes[k], len(bufs[k]))]), eps[k]})
				}
				if total.Add(int64(n)) >= int64(want) {
					b.Close() // unblocks the other receivers
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("receive on socket %d: %v", i, err)
		}
	}
	return got
}

// udpSenders opens n plain UDP sockets on local, each with its own
// ephemeral source port, closed at cleanup.
func udpSenders(t testing.TB, local netip.Addr, n int) []*net.UDPConn {
	t.Helper()
	conns := make([]*net.UDPConn, n)
	for i := range conns {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns
}

// seqOf is the sequence number seqFrame put in pkt.
func seqOf(pkt []byte) uint32 { return binary.BigEndian.Uint32(pkt[len(pkt)-4:]) }

// TestStdBindRecvSocketsSpread: with RecvSockets=4, datagrams from 64
// source ports (64 outer flows) each arrive exactly once over all the
// ReceiveFuncs, every flow on one ReceiveFunc and in order, and the kernel
// spreads the flows over at least two of them.
func TestStdBindRecvSocketsSpread(t *testing.T) {
	const (
		recvSockets = 4
		senders     = 64
		perSender   = 4
		minUsed     = 2 // all 64 flows on one of 4 sockets has probability 4^-63
	)
	for _, fam := range families {
		for _, mode := range recvModes {
			t.Run(fam.name+"/"+mode.name, func(t *testing.T) {
				skipNoFamily(t, fam.local)
				goroutineLeakCheck(t)
				cfg := mode.cfg
				cfg.RecvSockets = recvSockets
				b, fns := openBindN(t, fam.local, cfg)
				dst := b.LocalAddr()
				conns := udpSenders(t, fam.local, senders)
				senderOf := make(map[uint16]int) // source port -> sender
				for i, c := range conns {
					senderOf[c.LocalAddr().(*net.UDPAddr).AddrPort().Port()] = i
				}
				done := make(chan [][]datagram)
				go func() { done <- receiveAll(t, b, fns, senders*perSender) }()
				for seq := range perSender {
					for i, c := range conns {
						if _, err := c.WriteToUDPAddrPort(seqFrame(i, seq, 64), dst); err != nil {
							t.Errorf("send from sender %d: %v", i, err)
						}
					}
				}
				got := <-done

				seen := make(map[string]int)
				socketOf := make(map[int]int) // sender -> receive socket
				next := make(map[int]uint32)  // sender -> next sequence number
				used := 0
				for sock, dgs := range got {
					if len(dgs) > 0 {
						used++
					}
					for _, d := range dgs {
						seen[string(d.data)]++
						s, ok := senderOf[d.from.Port()]
						if !ok || d.from.Addr() != fam.local {
							t.Errorf("unexpected source on socket %d: %v", sock, d.from)
							continue
						}
						if prev, ok := socketOf[s]; ok && prev != sock {
							t.Errorf("unexpected receive socket for sender %d:\n- want: %d (its earlier datagrams)\n-  got: %d", s, prev, sock)
						}
						socketOf[s] = sock
						if want, got := next[s], seqOf(d.data); got != want {
							t.Errorf("unexpected sequence number from sender %d:\n- want: %d\n-  got: %d", s, want, got)
						}
						next[s] = seqOf(d.data) + 1
					}
				}
				for i := range senders {
					for seq := range perSender {
						if n := seen[string(seqFrame(i, seq, 64))]; n != 1 {
							t.Errorf("unexpected copies of datagram %d from sender %d:\n- want: 1\n-  got: %d", seq, i, n)
						}
					}
				}
				if len(seen) != senders*perSender {
					t.Errorf("unexpected number of distinct datagrams:\n- want: %d\n-  got: %d", senders*perSender, len(seen))
				}
				counts := make([]int, len(got))
				for i := range got {
					counts[i] = len(got[i])
				}
				t.Logf("datagrams per receive socket: %v", counts)
				if used < minUsed {
					t.Errorf("unexpected number of receive sockets used:\n- want: >= %d\n-  got: %d (%v)", minUsed, used, counts)
				}
			})
		}
	}
}

// TestStdBindRecvSocketsPort: the reuseport group is the Bind's own. A
// second Bind or a plain socket cannot bind its port, port 0 never yields
// a port another group uses, and a closed Bind reopens on its port.
func TestStdBindRecvSocketsPort(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			skipNoFamily(t, fam.local)
			a, _ := openBindN(t, fam.local, Config{RecvSockets: 4})
			port := a.LocalAddr().Port()
			for _, n := range []int{1, 4} {
				b, err := NewStdBind(Config{Local: fam.local, RecvSockets: n})
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := b.Open(port); !errors.Is(err, syscall.EADDRINUSE) {
					b.Close()
					t.Errorf("unexpected error opening a second Bind (RecvSockets=%d) on port %d:\n- want: %v\n-  got: %v", n, port, syscall.EADDRINUSE, err)
				}
			}
			if c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(a.LocalAddr())); !errors.Is(err, syscall.EADDRINUSE) {
				if err == nil {
					c.Close()
				}
				t.Errorf("unexpected error binding a plain socket to %v:\n- want: %v\n-  got: %v", a.LocalAddr(), syscall.EADDRINUSE, err)
			}
			for range 8 {
				b, _ := openBindN(t, fam.local, Config{RecvSockets: 4})
				if got := b.LocalAddr().Port(); got == port {
					t.Errorf("unexpected ephemeral port shared with another Bind: %d", got)
				}
				b.Close()
			}
			if err := a.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			fns, got, err := a.Open(port)
			if err != nil {
				t.Fatalf("reopen on port %d: %v", port, err)
			}
			if got != port || len(fns) != 4 {
				t.Errorf("unexpected reopen:\n- want: port %d, 4 ReceiveFuncs\n-  got: port %d, %d ReceiveFuncs", port, got, len(fns))
			}
		})
	}
}

// TestStdBindCloseUnblocksAll: Close makes every blocked ReceiveFunc return
// net.ErrClosed, and every later call too, and leaves no goroutine behind.
func TestStdBindCloseUnblocksAll(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, mode := range recvModes {
		t.Run(mode.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			cfg := mode.cfg
			cfg.RecvSockets = 4
			b, fns := openBindN(t, lo, cfg)
			errc := make(chan error, len(fns))
			call := func(fn ReceiveFunc) error {
				bufs, sizes, eps := [][]byte{make([]byte, 1500)}, make([]int, 1), make([]netip.AddrPort, 1)
				_, err := fn(bufs, sizes, eps)
				return err
			}
			for _, fn := range fns {
				go func() { errc <- call(fn) }()
			}
			time.Sleep(20 * time.Millisecond) // let the receivers block (not required for correctness)
			if err := b.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			timeout := time.After(10 * time.Second)
			for i := range fns {
				select {
				case err := <-errc:
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("unexpected receive error after Close:\n- want: %v\n-  got: %v", net.ErrClosed, err)
					}
				case <-timeout:
					t.Fatalf("%d of %d ReceiveFuncs still blocked 10s after Close", len(fns)-i, len(fns))
				}
			}
			for i, fn := range fns {
				if err := call(fn); !errors.Is(err, net.ErrClosed) {
					t.Errorf("unexpected error from ReceiveFunc %d called after Close:\n- want: %v\n-  got: %v", i, net.ErrClosed, err)
				}
			}
		})
	}
}

// TestStdBindRecvByCPU: with RecvByCPU, a datagram is received by socket
// (CPU % RecvSockets) of the CPU that processed it. On loopback without RPS
// that is the sending CPU, so the test pins the senders of each CPU to it.
// Each CPU sends from 8 source ports, which the default 4-tuple hash would
// spread over both sockets.
func TestStdBindRecvByCPU(t *testing.T) {
	const (
		portsPerCPU = 8
		perPort     = 4
	)
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Skipf("sched_getaffinity: %v", err)
	}
	var cpus []int
	for c := 0; c < len(allowed)*64 && len(cpus) < 4; c++ {
		if allowed.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		t.Skipf("need 2 CPUs, have %v", cpus)
	}
	if rps, err := os.ReadFile("/sys/class/net/lo/queues/rx-0/rps_cpus"); err == nil && strings.Trim(string(rps), "0,\n") != "" {
		t.Skipf("RPS on lo (%s) moves receive processing off the sending CPU", strings.TrimSpace(string(rps)))
	}
	lo := netip.MustParseAddr("127.0.0.1")
	recvSockets := 2
	b, fns := openBindN(t, lo, Config{RecvSockets: recvSockets, RecvByCPU: true})
	dst := b.LocalAddr()
	conns := udpSenders(t, lo, len(cpus)*portsPerCPU)
	cpuOf := make(map[uint16]int)
	for i, c := range conns {
		cpuOf[c.LocalAddr().(*net.UDPAddr).AddrPort().Port()] = cpus[i/portsPerCPU]
	}
	done := make(chan [][]datagram)
	go func() { done <- receiveAll(t, b, fns, len(conns)*perPort) }()
	for i, cpu := range cpus {
		errc := make(chan error)
		go func() {
			// Never unlocked: the thread exits with this goroutine, so the
			// pinned affinity is not handed to other goroutines.
			runtime.LockOSThread()
			var one unix.CPUSet
			one.Set(cpu)
			if err := unix.SchedSetaffinity(0, &one); err != nil {
				errc <- fmt.Errorf("sched_setaffinity CPU %d: %w", cpu, err)
				return
			}
			for seq := range perPort {
				for _, c := range conns[i*portsPerCPU : (i+1)*portsPerCPU] {
					if _, err := c.WriteToUDPAddrPort(seqFrame(cpu, seq, 64), dst); err != nil {
						errc <- err
						return
					}
				}
			}
			errc <- nil
		}()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	got := <-done
	total := 0
	for sock, dgs := range got {
		total += len(dgs)
		for _, d := range dgs {
			cpu := cpuOf[d.from.Port()]
			if want := cpu % recvSockets; sock != want {
				t.Errorf("unexpected receive socket for a datagram sent on CPU %d:\n- want: %d\n-  got: %d", cpu, want, sock)
			}
		}
	}
	if want := len(conns) * perPort; total != want {
		t.Errorf("unexpected number of datagrams:\n- want: %d\n-  got: %d", want, total)
	}
}

// pendingSocket returns the index of a receive socket of b with a datagram
// queued (SIOCINQ > 0), polling for up to 5 s, or -1.
func pendingSocket(t testing.TB, b *StdBind) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for i, c := range b.recv {
			rc, err := c.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var n int
			rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
			if n > 0 {
				return i
			}
		}
	}
	return -1
}

// TestAllocsStdBindRecvSockets: every ReceiveFunc of a multi-socket Bind
// receives without allocating, with and without GRO.
func TestAllocsStdBindRecvSockets(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	const (
		flows = 16
		train = 8 // datagrams of one flow per round trip
	)
	lo := netip.MustParseAddr("127.0.0.1")
	for _, mode := range recvModes {
		t.Run(mode.name, func(t *testing.T) {
			tx, _ := openBind(t, lo, Config{})
			cfg := mode.cfg
			cfg.RecvSockets = 4
			rx, fns := openBindN(t, lo, cfg)
			dst := rx.LocalAddr()
			bufs := make([][]byte, rx.BatchSize())
			for i := range bufs {
				bufs[i] = make([]byte, 2048)
			}
			sizes, eps := make([]int, len(bufs)), make([]netip.AddrPort, len(bufs))
			// Learn which socket each flow lands on: one flow, one outer
			// 4-tuple, one socket.
			flowOf := make(map[int]int) // socket -> a flow received there
			for f := range flows {
				if err := tx.Send([][]byte{testFrame(f, 100)}, dst); err != nil {
					t.Fatal(err)
				}
				sock := pendingSocket(t, rx)
				if sock < 0 {
					t.Fatalf("flow %d: no datagram on any receive socket", f)
				}
				if n, err := fns[sock](bufs, sizes, eps); n != 1 || err != nil {
					t.Fatalf("flow %d on socket %d: received %d, %v", f, sock, n, err)
				}
				flowOf[sock] = f
			}
			t.Logf("receive sockets reached by %d flows: %d", flows, len(flowOf))
			for sock, f := range flowOf {
				send := make([][]byte, train)
				for i := range send {
					send[i] = testFrame(f, 1400)
				}
				roundTrip := func() {
					if err := tx.Send(send, dst); err != nil {
						t.Fatalf("Send: %v", err)
					}
					for got := 0; got < train; {
						n, err := fns[sock](bufs, sizes, eps)
						if err != nil {
							t.Fatalf("receive on socket %d: %v", sock, err)
						}
						got += n
					}
				}
				roundTrip() // warm the pools
				if got := testing.AllocsPerRun(200, roundTrip); got != 0 {
					t.Errorf("unexpected allocations per Send+receive on socket %d:\n- want: 0\n-  got: %v", sock, got)
				}
			}
		})
	}
}

// BenchmarkStdBindRecvSockets sends 64-byte VXLAN packets of 64 inner flows
// (over 16 outer source ports) through StdBind on loopback, received by
// RecvSockets=1 or 4 goroutines, one per ReceiveFunc as the switch runs
// them. The sender keeps at most window packets in flight, so the socket
// buffers never overflow while receivers keep up; packets still missing
// after 200 ms without progress count as lost. It reports received packets
// per second (pps), the lost fraction (loss), and allocations per packet.
func BenchmarkStdBindRecvSockets(b *testing.B) {
	const (
		size   = 64 // VXLAN header + inner frame
		flows  = 64
		window = 1024
		stall  = 200 * time.Millisecond
	)
	for _, fam := range families {
		for _, recv := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/recv=%d", fam.name, recv), func(b *testing.B) {
				skipNoFamily(b, fam.local)
				tx, _ := openBind(b, fam.local, Config{SrcSockets: 16})
				rx, fns := openBindN(b, fam.local, Config{RecvSockets: recv})
				dst := rx.LocalAddr()
				batch := make([][]byte, tx.BatchSize())
				for i := range batch {
					batch[i] = testFrame(i%flows, size)
				}
				var received atomic.Int64
				var wg sync.WaitGroup
				for _, fn := range fns {
					wg.Add(1)
					go func() {
						defer wg.Done()
						bufs := make([][]byte, rx.BatchSize())
						for i := range bufs {
							bufs[i] = make([]byte, 2048)
						}
						sizes, eps := make([]int, len(bufs)), make([]netip.AddrPort, len(bufs))
						for {
							n, err := fn(bufs, sizes, eps)
							if errors.Is(err, net.ErrClosed) {
								return
							}
							received.Add(int64(n))
						}
					}()
				}
				// waitBelow waits until at most limit packets are in flight,
				// writing off the rest as lost after a stall.
				var lost int64
				waitBelow := func(sent, limit int64) {
					last, since := received.Load(), time.Now()
					for {
						got := received.Load()
						if sent-got-lost <= limit {
							return
						}
						if got != last {
							last, since = got, time.Now()
						} else if time.Since(since) > stall {
							lost = sent - got
							return
						}
						runtime.Gosched()
					}
				}
				b.SetBytes(size)
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				var sent int64
				for sent < int64(b.N) {
					k := min(int64(len(batch)), int64(b.N)-sent)
					if err := tx.Send(batch[:k], dst); err != nil {
						b.Fatal(err)
					}
					sent += k
					waitBelow(sent, window)
				}
				waitBelow(sent, 0)
				elapsed := time.Since(start)
				b.StopTimer()
				rx.Close()
				wg.Wait()
				b.ReportMetric(float64(received.Load())/elapsed.Seconds(), "pps")
				b.ReportMetric(float64(lost)/float64(sent), "loss")
			})
		}
	}
}
