package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// ErrLoss is wrapped by PingAll's error when some pair lost echoes.
var ErrLoss = errors.New("lab: packet loss")

// PingResult is the outcome of one Ping.
type PingResult struct {
	Src, Dst netip.Addr
	Sent     int // echo requests sent
	Received int // matching echo replies received
	// MinRTT, AvgRTT and MaxRTT are over the replies received; zero when
	// none was.
	MinRTT, AvgRTT, MaxRTT time.Duration
}

// Loss returns the fraction of echoes lost, from 0 to 1 (0 when none was
// sent).
func (r PingResult) Loss() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Sent-r.Received) / float64(r.Sent)
}

// pingID gives every Ping its own ICMP identifier, so concurrent Pings in
// the same namespace (which all see every ICMP reply on their raw sockets)
// only count their own replies.
var pingID atomic.Uint32

func init() { pingID.Store(uint32(os.Getpid())) }

// Ping sends count ICMP echo requests, one at a time, from the host's
// overlay address to dst (an IPv4 overlay address) and waits up to timeout
// for each reply. The socket is opened inside the host's namespace and
// bound to the overlay address; the kernel resolves ARP. Lost echoes are
// not an error: read Sent and Received. Ping returns an error when the
// probe cannot run, or when ctx ends (with the partial result).
func (h *Host) Ping(ctx context.Context, dst netip.Addr, count int, timeout time.Duration) (PingResult, error) {
	res := PingResult{Src: h.Overlay.Addr(), Dst: dst}
	if !dst.Is4() {
		return res, fmt.Errorf("lab: ping %s: only IPv4 overlay addresses are supported", dst)
	}
	if count < 1 || timeout <= 0 {
		return res, fmt.Errorf("lab: ping %s: want count >= 1 and timeout > 0, got %d and %v", dst, count, timeout)
	}
	var conn *icmp.PacketConn
	err := h.NS.Do(func() error {
		var err error
		conn, err = icmp.ListenPacket("ip4:icmp", h.Overlay.Addr().String())
		return err
	})
	if err != nil {
		return res, fmt.Errorf("lab: %s: ping socket: %w", h.Name, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	id := int(pingID.Add(1) & 0xffff)
	var total time.Duration
	buf := make([]byte, 1500)
	peer := &net.IPAddr{IP: dst.AsSlice()}
	for seq := 1; seq <= count; seq++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		msg := icmp.Message{
			Type: ipv4.ICMPTypeEcho,
			Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("vxswitch lab probe")},
		}
		wb, err := msg.Marshal(nil)
		if err != nil {
			return res, err
		}
		sent := time.Now()
		if _, err := conn.WriteTo(wb, peer); err != nil {
			return res, fmt.Errorf("lab: %s: ping %s: %w", h.Name, dst, err)
		}
		res.Sent++
		deadline := sent.Add(timeout)
		if err := conn.SetReadDeadline(deadline); err != nil {
			return res, err
		}
		if ctx.Err() != nil { // AfterFunc may have run before SetReadDeadline
			return res, ctx.Err()
		}
		rtt, ok, err := readEcho(conn, buf, dst, id, seq, sent)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, fmt.Errorf("lab: %s: ping %s: %w", h.Name, dst, err)
		}
		if !ok {
			continue
		}
		res.Received++
		total += rtt
		if res.MinRTT == 0 || rtt < res.MinRTT {
			res.MinRTT = rtt
		}
		res.MaxRTT = max(res.MaxRTT, rtt)
	}
	if res.Received > 0 {
		res.AvgRTT = total / time.Duration(res.Received)
	}
	return res, nil
}

// readEcho reads until the reply to (id, seq) from dst arrives (ok) or the
// read deadline passes (not ok, no error).
func readEcho(conn *icmp.PacketConn, buf []byte, dst netip.Addr, id, seq int, sent time.Time) (time.Duration, bool, error) {
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, false, nil
			}
			return 0, false, err
		}
		rtt := time.Since(sent)
		ipa, ok := from.(*net.IPAddr)
		if !ok {
			continue
		}
		if src, ok := netip.AddrFromSlice(ipa.IP); !ok || src.Unmap() != dst {
			continue
		}
		m, err := icmp.ParseMessage(1, buf[:n]) // 1: ICMPv4
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq {
			return rtt, true, nil
		}
	}
}

// PairResult is the Ping from one host to another.
type PairResult struct {
	From, To *Host
	PingResult
	// Err is the error Ping returned, if any.
	Err error
}

// PingAll pings, from every host, the overlay address of every other host
// (every ordered pair, in order of From then To), with 3 echoes and a 2 s
// timeout each. The pairs run concurrently. The error wraps ErrLoss if any
// pair lost an echo and joins the probe errors; the results are complete
// either way.
func (l *Lab) PingAll(ctx context.Context) ([]PairResult, error) {
	const (
		count   = 3
		timeout = 2 * time.Second
	)
	var res []PairResult
	for _, a := range l.hosts {
		for _, b := range l.hosts {
			if a != b {
				res = append(res, PairResult{From: a, To: b})
			}
		}
	}
	var wg sync.WaitGroup
	for i := range res {
		r := &res[i]
		wg.Go(func() {
			r.PingResult, r.Err = r.From.Ping(ctx, r.To.Overlay.Addr(), count, timeout)
		})
	}
	wg.Wait()
	var errs []error
	lossy := 0
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s -> %s: %w", r.From.Name, r.To.Name, r.Err))
		} else if r.Received < r.Sent {
			lossy++
		}
	}
	if lossy > 0 {
		errs = append(errs, fmt.Errorf("%w: %d of %d pairs lost echoes", ErrLoss, lossy, len(res)))
	}
	return res, errors.Join(errs...)
}

// Summary writes results as an aligned table, one line per pair.
func Summary(w io.Writer, results []PairResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM\tTO\tSENT\tRECV\tLOSS\tMIN\tAVG\tMAX\tERROR")
	for _, r := range results {
		errText := ""
		if r.Err != nil {
			errText = r.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f%%\t%v\t%v\t%v\t%s\n",
			hostLabel(r.From), hostLabel(r.To), r.Sent, r.Received, 100*r.Loss(),
			r.MinRTT.Round(time.Microsecond), r.AvgRTT.Round(time.Microsecond), r.MaxRTT.Round(time.Microsecond), errText)
	}
	return tw.Flush()
}

func hostLabel(h *Host) string {
	if h == nil {
		return "?"
	}
	kind := "vxswitchd"
	if h.Kernel {
		kind = "kernel"
	}
	return fmt.Sprintf("%s(%s,%s)", h.Name, h.Overlay.Addr(), kind)
}
