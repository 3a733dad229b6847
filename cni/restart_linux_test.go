package cni_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/internal/netns"
)

// probeInterval is the spacing of the UDP probes that measure the gap.
const probeInterval = 10 * time.Millisecond

// prober sends a numbered UDP datagram from one Pod to another every
// probeInterval and records which numbers arrived.
type prober struct {
	tx, rx *net.UDPConn
	stop   chan struct{}
	wg     sync.WaitGroup

	mu   sync.Mutex // protects sent and got
	sent uint32
	got  map[uint32]bool
}

// startProber binds a receiver on to:port inside toNS and a sender inside
// fromNS, and starts probing.
func startProber(t *testing.T, fromNS, toNS *netns.NS, to net.IP, port int) *prober {
	t.Helper()
	p := &prober{stop: make(chan struct{}), got: map[uint32]bool{}}
	if err := toNS.Do(func() (err error) {
		p.rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: to, Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := fromNS.Do(func() (err error) {
		p.tx, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: to, Port: port})
		return err
	}); err != nil {
		p.rx.Close()
		t.Fatal(err)
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 64)
		for {
			n, err := p.rx.Read(buf)
			if err != nil {
				return
			}
			if n >= 4 {
				p.mu.Lock()
				p.got[binary.BigEndian.Uint32(buf)] = true
				p.mu.Unlock()
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(probeInterval)
		defer tick.Stop()
		var b [4]byte
		for seq := uint32(0); ; seq++ {
			binary.BigEndian.PutUint32(b[:], seq)
			p.tx.Write(b[:]) // ENETUNREACH or ECONNREFUSED during the gap is a lost probe
			p.mu.Lock()
			p.sent = seq + 1
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(p.close)
	return p
}

// finish stops sending, waits a second for stragglers and returns the
// number sent, the number received and the longest run of lost probes.
func (p *prober) finish() (sent, recv, longest int) {
	close(p.stop)
	time.Sleep(time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	run := 0
	for seq := uint32(0); seq < p.sent; seq++ {
		if p.got[seq] {
			recv++
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	return int(p.sent), recv, longest
}

func (p *prober) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.tx.Close()
	p.rx.Close()
	p.wg.Wait()
}

// iperfReport is the part of iperf3 -J output the test reads.
type iperfReport struct {
	Intervals []struct {
		Sum struct {
			Start   float64 `json:"start"`
			Seconds float64 `json:"seconds"`
			Bytes   int64   `json:"bytes"`
		} `json:"sum"`
	} `json:"intervals"`
	End struct {
		SumSent struct {
			Bytes       int64 `json:"bytes"`
			Retransmits int   `json:"retransmits"`
		} `json:"sum_sent"`
		SumReceived struct {
			Bytes   int64   `json:"bytes"`
			Seconds float64 `json:"seconds"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// stallTime sums the iperf3 intervals that moved less than 1% of the
// busiest interval's bytes, and returns that time and the longest run of
// such intervals.
func (r *iperfReport) stallTime() (total, longest time.Duration) {
	var peak int64
	for _, iv := range r.Intervals {
		peak = max(peak, iv.Sum.Bytes)
	}
	var run time.Duration
	for _, iv := range r.Intervals {
		d := time.Duration(iv.Sum.Seconds * float64(time.Second))
		if iv.Sum.Bytes*100 < peak {
			total += d
			run += d
			longest = max(longest, run)
			continue
		}
		run = 0
	}
	return total, longest
}

// echoConn is one TCP connection from a Pod to an echo server in another
// Pod; exchange writes a line and reads it back on that same connection.
type echoConn struct {
	c  *net.TCPConn
	rd *bufio.Reader
}

func startEcho(t *testing.T, serverNS, clientNS *netns.NS, server net.IP, port int) *echoConn {
	t.Helper()
	var ln *net.TCPListener
	if err := serverNS.Do(func() (err error) {
		ln, err = net.ListenTCP("tcp4", &net.TCPAddr{IP: server, Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	var c *net.TCPConn
	if err := clientNS.Do(func() error {
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err := d.Dial("tcp4", net.JoinHostPort(server.String(), strconv.Itoa(port)))
		if err != nil {
			return err
		}
		c = conn.(*net.TCPConn)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &echoConn{c: c, rd: bufio.NewReader(c)}
}

// exchange sends msg and returns how long the echo took.
func (e *echoConn) exchange(msg string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	e.c.SetDeadline(start.Add(timeout))
	if _, err := e.c.Write([]byte(msg + "\n")); err != nil {
		return 0, err
	}
	line, err := e.rd.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if line != msg+"\n" {
		return 0, fmt.Errorf("echo of %q came back as %q", msg, line)
	}
	return time.Since(start), nil
}

// TestPrivilegedCNIRestartUnderLoad restarts node 1's vxswitchd gracefully
// (SIGTERM, then start) while Pod A on node 0 runs iperf3 to Pod B on
// node 1, a UDP probe every 10 ms runs from A to B and one TCP connection
// from A to an echo server in B is open. It checks that the transfer
// completes with bytes received, that the same TCP connection carries
// data before and after the restart, and that the probes resume; it
// reports the gap: the longest run of lost probes, the iperf3 intervals
// without progress and the restart time.
func TestPrivilegedCNIRestartUnderLoad(t *testing.T) {
	e := newEnv(t)
	a, b := e.newPod(0), e.newPod(1)
	e.add(a, "pods")
	e.add(b, "pods")
	if !ping(a.ns, b.ip, 5) {
		t.Fatalf("pod %s cannot reach pod %s before the restart", a.ip, b.ip)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := b.ns.Command(ctx, "iperf3", "-s", "-1", "-B", b.ip.String(), "-p", "5201")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); srv.Wait() })

	echo := startEcho(t, b.ns, a.ns, b.ip, 5300)
	if _, err := echo.exchange("before", 10*time.Second); err != nil {
		t.Fatalf("TCP echo before the restart: %v", err)
	}
	probe := startProber(t, a.ns, b.ns, b.ip, 5400)

	// Start the client once the server listens (iperf3 -c -J exits 0 on
	// "connection refused").
	waitListen(t, b.ns, 5201)
	var cli []byte
	var cliErr error
	cliDone := make(chan struct{})
	go func() {
		defer close(cliDone)
		cli, cliErr = a.ns.Command(ctx, "iperf3", "-c", b.ip.String(), "-p", "5201", "-t", "8", "-i", "0.1", "-J").Output()
	}()

	time.Sleep(2 * time.Second)
	h := e.lab.Hosts()[1]
	start := time.Now()
	if err := h.StopDaemon(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := time.Since(start)
	if err := h.StartDaemon(context.Background()); err != nil {
		t.Fatal(err)
	}
	restart := time.Since(start)

	select {
	case <-cliDone:
	case <-time.After(60 * time.Second):
		t.Fatal("iperf3 client did not finish within 60 s")
	}
	var r iperfReport
	if err := json.Unmarshal(cli, &r); err != nil {
		t.Fatalf("iperf3 -J output: %v (exit: %v)\n%s", err, cliErr, cli)
	}
	if cliErr != nil || r.Error != "" {
		t.Errorf("iperf3 client across the restart failed: %v: %s", cliErr, r.Error)
	}
	if r.End.SumReceived.Bytes <= 0 {
		t.Errorf("unexpected iperf3 bytes received:\n- want: > 0\n-  got: %d", r.End.SumReceived.Bytes)
	}
	stall, stallRun := r.stallTime()

	// Same TCP connection after the restart; allow for TCP's backed-off
	// retransmission timer.
	rtt, err := echo.exchange("after", 30*time.Second)
	if err != nil {
		t.Errorf("the TCP connection opened before the restart failed after it: %v", err)
	}

	sent, recv, longest := probe.finish()
	if recv == 0 {
		t.Errorf("no UDP probe arrived (%d sent)", sent)
	}
	// The probes after the restart must arrive again: the last second's
	// worth is not all lost.
	if tail := int(time.Second / probeInterval); longest >= sent-tail {
		t.Errorf("UDP probes did not resume after the restart: longest loss run %d of %d sent", longest, sent)
	}
	t.Logf("daemon stop %v, stop+start %v", stopped.Round(time.Millisecond), restart.Round(time.Millisecond))
	t.Logf("UDP probes every %v: %d sent, %d received, longest run lost %d ⇒ datapath gap ≈ %v",
		probeInterval, sent, recv, longest, time.Duration(longest)*probeInterval)
	t.Logf("iperf3 TCP: %d bytes sent, %d received, %d retransmits; intervals without progress: %v in total, longest %v",
		r.End.SumSent.Bytes, r.End.SumReceived.Bytes, r.End.SumSent.Retransmits, stall.Round(time.Millisecond), stallRun.Round(time.Millisecond))
	t.Logf("long-lived TCP echo connection %v → %v: same connection after the restart, echo took %v", echo.c.LocalAddr(), echo.c.RemoteAddr(), rtt.Round(time.Microsecond))
}
