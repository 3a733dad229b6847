package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/gossip"
)

// DefaultGossipSizes are the cluster sizes RunGossip measures by default.
var DefaultGossipSizes = []int{10, 50, 100, 200}

// gossipVNI is the one VNI every benchmark member serves.
const gossipVNI = 42

// GossipOptions configures RunGossip. The zero value measures
// DefaultGossipSizes at memberlist's LAN settings (what vxswitchd runs).
type GossipOptions struct {
	// Sizes are the cluster sizes N to measure, each at least 2.
	Sizes []int
	// Window is how long the gossip traffic of a converged cluster is
	// counted for BytesPerNodePerSec; 0 means 10 s.
	Window time.Duration
	// Timeout bounds each phase (membership, install, purge) of one size;
	// 0 means 3 min. A size that times out is reported with Error set and
	// the next size is still measured.
	Timeout time.Duration
	// Memberlist, if set, tunes every member's memberlist configuration
	// after the LAN defaults (the smoke test shortens the timing).
	Memberlist func(*memberlist.Config)
	// Logf, if not nil, receives progress lines.
	Logf func(format string, args ...any)
}

// GossipRow is the result for one cluster size. Times are milliseconds.
type GossipRow struct {
	N int `json:"n"`
	// JoinMS is the time from starting the members (all joining member 0)
	// until every flood list holds the N-1 others.
	JoinMS float64 `json:"join_ms"`
	// Install50MS, Install99MS and Install100MS are the times from adding
	// a local MAC on member 0 until its gossip entry is installed on 50 %,
	// 99 % and 100 % of the other members (nearest rank).
	Install50MS  float64 `json:"install_p50_ms"`
	Install99MS  float64 `json:"install_p99_ms"`
	Install100MS float64 `json:"install_p100_ms"`
	// PurgeMS is the time from killing one member (Shutdown, no Leave)
	// until every other member has purged its entry.
	PurgeMS float64 `json:"kill_to_purge_ms"`
	// BytesPerNodePerSec is what one member sends (UDP gossip and probes,
	// TCP push/pull), averaged over the members and Window, in a converged
	// cluster where every member announces one MAC.
	BytesPerNodePerSec float64 `json:"bytes_per_node_per_sec"`
	// Error is set when the size did not complete; the fields measured
	// before the failure are kept.
	Error string `json:"error,omitempty"`
}

// GossipResults is what `vxbench --gossip` writes to gossip.json.
type GossipResults struct {
	Command string    `json:"command"`
	Date    time.Time `json:"date"`
	Timing  string    `json:"timing"` // "memberlist LAN" or "tuned"
	CPUs    int       `json:"cpus"`
	// WindowS is the bytes-per-node measurement window in seconds.
	WindowS float64     `json:"window_s"`
	Rows    []GossipRow `json:"rows"`
}

// RunGossip measures gossip convergence for each size in o.Sizes with
// in-process gossip.Nodes on 127.0.0.1 (random ports; the announced VTEP
// addresses are documentation addresses nothing is sent to). It returns a
// row per size and the first error; a failed size does not stop the
// others, but a cancelled ctx does.
func RunGossip(ctx context.Context, o GossipOptions) ([]GossipRow, error) {
	if len(o.Sizes) == 0 {
		o.Sizes = DefaultGossipSizes
	}
	if o.Window <= 0 {
		o.Window = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Minute
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var rows []GossipRow
	var firstErr error
	for _, n := range o.Sizes {
		if err := ctx.Err(); err != nil {
			return rows, errors.Join(firstErr, err)
		}
		row, err := runGossipSize(ctx, n, o, logf)
		if err != nil {
			row.Error = err.Error()
			firstErr = errors.Join(firstErr, fmt.Errorf("cluster of %d: %w", n, err))
		}
		logf("gossip N=%d: %+v", n, row)
		rows = append(rows, row)
	}
	return rows, firstErr
}

// gossipMember is one in-process member.
type gossipMember struct {
	i     int // index: name b<i>, VTEP gossipVTEP(i), MAC gossipMAC(i, 0)
	node  *gossip.Node
	table *fdb.Table
	tr    *countingTransport
}

// gossipVTEP returns member i's announced VTEP: 192.0.2.1–254, then
// 198.51.100.x and 203.0.113.x (RFC 5737).
func gossipVTEP(i int) netip.Addr {
	nets := [][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}
	p := nets[(i/254)%len(nets)]
	return netip.AddrFrom4([4]byte{p[0], p[1], p[2], byte(1 + i%254)})
}

// gossipMAC returns member i's announced MAC.
func gossipMAC(i, j int) encap.MAC { return encap.MAC{0x02, 0x42, byte(j), 0, byte(i >> 8), byte(i)} }

func startMember(i int, join []string, o GossipOptions) (*gossipMember, error) {
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"}, BindPort: 0, Logger: log.New(io.Discard, "", 0),
	})
	if err != nil {
		return nil, err
	}
	m := &gossipMember{i: i, table: fdb.New(fdb.DefaultConfig()), tr: newCountingTransport(nt)}
	cfg := gossip.DefaultConfig() // memberlist LAN timing
	cfg.Name = fmt.Sprintf("b%d", i)
	cfg.VTEP = gossipVTEP(i)
	cfg.Join = join
	cfg.RejoinInterval = -1
	cfg.Transport = m.tr
	cfg.Memberlist = o.Memberlist
	n, err := gossip.New(cfg, m.table, fdb.NewNeighTable())
	if err != nil {
		nt.Shutdown()
		return nil, err
	}
	if err := n.SetVNIs([]uint32{gossipVNI}); err != nil {
		nt.Shutdown()
		return nil, err
	}
	// The member's own MAC, announced from the start.
	if err := m.table.Add(fdb.Entry{Key: fdb.Key{VNI: gossipVNI, MAC: gossipMAC(i, 0)}, Dest: fdb.Dest{Port: 1}, Origin: fdb.OriginLocal}); err != nil {
		nt.Shutdown()
		return nil, err
	}
	if err := n.Start(); err != nil {
		nt.Shutdown()
		return nil, err
	}
	m.node = n
	return m, nil
}

// waitUntil polls cond every 10 ms until it returns "" or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, what string, cond func() string) error {
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not reached within %s: %s", what, timeout, why)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func runGossipSize(ctx context.Context, n int, o GossipOptions, logf func(string, ...any)) (row GossipRow, err error) {
	row.N = n
	if n < 2 {
		return row, fmt.Errorf("cluster size %d: want at least 2", n)
	}
	members := make([]*gossipMember, 0, n)
	defer func() {
		var wg sync.WaitGroup
		for _, m := range members {
			wg.Add(1)
			go func() { defer wg.Done(); m.node.Shutdown() }()
		}
		wg.Wait()
	}()
	start := time.Now()
	first, err := startMember(0, nil, o)
	if err != nil {
		return row, err
	}
	members = append(members, first)
	join := []string{first.node.Addr()}
	// Start the others a few at a time: a join is a TCP push/pull with
	// member 0.
	for i := 1; i < n; i += 8 {
		var mu sync.Mutex
		var wg sync.WaitGroup
		var errs error
		for j := i; j < min(i+8, n); j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, err := startMember(j, join, o)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = errors.Join(errs, err)
					return
				}
				members = append(members, m)
			}()
		}
		wg.Wait()
		if errs != nil {
			return row, errs
		}
	}
	err = waitUntil(ctx, o.Timeout, "membership", func() string {
		for _, m := range members {
			if got := len(m.table.Flood(gossipVNI)); got != n-1 {
				return fmt.Sprintf("%s: flood list of %d, want %d", m.node.Name(), got, n-1)
			}
		}
		return ""
	})
	if err != nil {
		return row, err
	}
	row.JoinMS = ms(time.Since(start))
	logf("gossip N=%d: members joined in %s", n, time.Since(start).Round(time.Millisecond))
	// Everyone's own MAC everywhere: the steady state.
	err = waitUntil(ctx, o.Timeout, "initial entries", func() string {
		for _, m := range members {
			if got := m.table.Len(); got != n {
				var missing []string
				for j := range n {
					if _, ok := m.table.Lookup(gossipVNI, gossipMAC(j, 0)); !ok {
						missing = append(missing, fmt.Sprintf("b%d's", j))
					}
				}
				return fmt.Sprintf("%s holds %d entries, want %d (missing %s)", m.node.Name(), got, n, strings.Join(missing, ", "))
			}
		}
		return ""
	})
	if err != nil {
		return row, err
	}

	// Install: one new MAC on member 0, timed by OnChange on the others.
	key := fdb.Key{VNI: gossipVNI, MAC: gossipMAC(0, 1)}
	var mu sync.Mutex
	installed := make(map[int]time.Time, n)
	for i, m := range members[1:] {
		m.table.OnChange(func(ev fdb.Event) {
			if ev.Entry.Key == key && ev.Entry.Origin == fdb.OriginGossip {
				mu.Lock()
				if _, ok := installed[i]; !ok {
					installed[i] = time.Now()
				}
				mu.Unlock()
			}
		})
	}
	t0 := time.Now()
	if err := members[0].table.Add(fdb.Entry{Key: key, Dest: fdb.Dest{Port: 1}, Origin: fdb.OriginLocal}); err != nil {
		return row, err
	}
	err = waitUntil(ctx, o.Timeout, "install everywhere", func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(installed) != n-1 {
			var missing []string
			for i, m := range members[1:] {
				if _, ok := installed[i]; !ok {
					d, held := m.table.Lookup(gossipVNI, key.MAC)
					missing = append(missing, fmt.Sprintf("%s (table: %v %v, %d members)", m.node.Name(), held, d, m.node.NumMembers()))
				}
			}
			return fmt.Sprintf("installed on %d of %d members; missing on %s", len(installed), n-1, strings.Join(missing, ", "))
		}
		return ""
	})
	if err != nil {
		return row, err
	}
	ds := make([]time.Duration, 0, n-1)
	for _, at := range installed {
		ds = append(ds, at.Sub(t0))
	}
	slices.Sort(ds)
	row.Install50MS, row.Install99MS, row.Install100MS = ms(nearestRank(ds, 0.50)), ms(nearestRank(ds, 0.99)), ms(ds[len(ds)-1])

	// Bytes: what the converged cluster sends during Window.
	var before uint64
	for _, m := range members {
		before += m.tr.sent.Load()
	}
	select {
	case <-ctx.Done():
		return row, ctx.Err()
	case <-time.After(o.Window):
	}
	var after uint64
	for _, m := range members {
		after += m.tr.sent.Load()
	}
	row.BytesPerNodePerSec = float64(after-before) / float64(n) / o.Window.Seconds()

	// Kill the last member (no Leave) and time the purge of its MAC.
	victim := members[n-1]
	vkey := fdb.Key{VNI: gossipVNI, MAC: gossipMAC(victim.i, 0)}
	t0 = time.Now()
	victim.node.Shutdown()
	err = waitUntil(ctx, o.Timeout, "purge everywhere", func() string {
		for _, m := range members[:n-1] {
			if _, ok := m.table.Get(vkey.VNI, vkey.MAC); ok {
				return m.node.Name() + " still has it"
			}
		}
		return ""
	})
	if err != nil {
		return row, err
	}
	row.PurgeMS = ms(time.Since(t0))
	return row, nil
}

// nearestRank returns the p-quantile of sorted ds by the nearest-rank
// method.
func nearestRank(ds []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(ds)) + 0.999999)
	return ds[max(0, min(len(ds)-1, i-1))]
}

// countingTransport wraps memberlist's NetTransport and counts the bytes
// the member sends: UDP packets and both directions' writes on TCP
// streams it dials or accepts. It keeps the Transport (and
// NodeAwareTransport) interface.
type countingTransport struct {
	*memberlist.NetTransport
	sent     atomic.Uint64
	streamCh chan net.Conn
	done     chan struct{}
	once     sync.Once
}

var _ memberlist.NodeAwareTransport = (*countingTransport)(nil)

func newCountingTransport(nt *memberlist.NetTransport) *countingTransport {
	t := &countingTransport{NetTransport: nt, streamCh: make(chan net.Conn), done: make(chan struct{})}
	go func() {
		for {
			select {
			case c := <-nt.StreamCh():
				select {
				case t.streamCh <- &countingConn{Conn: c, n: &t.sent}:
				case <-t.done:
					c.Close()
					return
				}
			case <-t.done:
				return
			}
		}
	}()
	return t
}

func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.sent.Add(uint64(len(b)))
	return t.NetTransport.WriteTo(b, addr)
}

func (t *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	t.sent.Add(uint64(len(b)))
	return t.NetTransport.WriteToAddress(b, a)
}

func (t *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := t.NetTransport.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &t.sent}, nil
}

func (t *countingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	c, err := t.NetTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &t.sent}, nil
}

func (t *countingTransport) StreamCh() <-chan net.Conn { return t.streamCh }

func (t *countingTransport) Shutdown() error {
	t.once.Do(func() { close(t.done) })
	return t.NetTransport.Shutdown()
}

// countingConn adds what is written to n.
type countingConn struct {
	net.Conn
	n *atomic.Uint64
}

func (c *countingConn) Write(b []byte) (int, error) {
	k, err := c.Conn.Write(b)
	c.n.Add(uint64(k))
	return k, err
}

// WriteGossipTable prints rows as an aligned table.
func WriteGossipTable(w io.Writer, rows []GossipRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tjoin\tinstall 50%\tinstall 99%\tinstall 100%\tkill→purge\tbytes/node/s\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%.0f\t", r.N, fmtMS(r.JoinMS), fmtMS(r.Install50MS), fmtMS(r.Install99MS),
			fmtMS(r.Install100MS), fmtMS(r.PurgeMS), r.BytesPerNodePerSec)
		if r.Error != "" {
			fmt.Fprintf(tw, " error: %s", r.Error)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func fmtMS(v float64) string {
	if v == 0 {
		return "-"
	}
	if v >= 1000 {
		return fmt.Sprintf("%.2f s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// WriteGossipSVG draws install time (50 %, 99 %, 100 % of members) and
// kill-to-purge time against N as a hand-written SVG line chart with a
// logarithmic time axis.
func WriteGossipSVG(w io.Writer, rows []GossipRow) error {
	const (
		width, height          = 640.0, 400.0
		left, right, top, bot  = 70.0, 150.0, 40.0, 50.0
		minMS, maxMS           = 10.0, 100000.0
		plotW, plotH           = width - left - right, height - top - bot
		decades                = 4 // 10 ms … 100 s
		logMin                 = 1 // log10(minMS)
		markerR                = 3.5
		titleY, axisLabelY     = 22.0, height - 12
		legendX, legendY, step = width - right + 15, top + 10, 20.0
	)
	maxN := 1
	for _, r := range rows {
		maxN = max(maxN, r.N)
	}
	x := func(n int) float64 { return left + plotW*float64(n)/float64(maxN) }
	y := func(v float64) float64 {
		v = min(max(v, minMS), maxMS)
		return top + plotH*(1-(math.Log10(v)-logMin)/decades)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="14">Gossip convergence vs cluster size (memberlist LAN settings)</text>`+"\n", left, titleY)
	for d := 0; d <= decades; d++ {
		v := minMS * math.Pow10(d)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(v), left+plotW, y(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, fmtMS(v))
	}
	for _, r := range rows {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(r.N), top, x(r.N), top+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`+"\n", x(r.N), top+plotH+16, r.N)
	}
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="black"/>`+"\n", left, top, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">members N</text>`+"\n", left+plotW/2, axisLabelY)
	series := []struct {
		name  string
		color string
		v     func(GossipRow) float64
	}{
		{"install 50%", "#1b9e77", func(r GossipRow) float64 { return r.Install50MS }},
		{"install 99%", "#d95f02", func(r GossipRow) float64 { return r.Install99MS }},
		{"install 100%", "#7570b3", func(r GossipRow) float64 { return r.Install100MS }},
		{"kill → purge", "#e7298a", func(r GossipRow) float64 { return r.PurgeMS }},
	}
	for i, s := range series {
		var pts []string
		for _, r := range rows {
			if v := s.v(r); v > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(r.N), y(v)))
			}
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), s.color)
			for _, p := range pts {
				xy := strings.SplitN(p, ",", 2)
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="%.1f" fill="%s"/>`+"\n", xy[0], xy[1], markerR, s.color)
			}
		}
		ly := legendY + float64(i)*step
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="2"/>`+"\n", legendX, ly, legendX+20, ly, s.color)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", legendX+26, ly+4, s.name)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteGossipFiles writes gossip.json and gossip.svg into dir, creating it.
func WriteGossipFiles(dir string, res *GossipResults) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gossip.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	var svg strings.Builder
	WriteGossipSVG(&svg, res.Rows)
	if err := os.WriteFile(filepath.Join(dir, "gossip.svg"), []byte(svg.String()), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// mainGossip is `vxbench --gossip`: it runs RunGossip for sizes (a
// comma-separated list), prints the table and writes dir/gossip.json and
// dir/gossip.svg. It returns the exit code.
func mainGossip(ctx context.Context, args []string, dir, sizes string, verbose bool, stdout, stderr io.Writer) int {
	o := GossipOptions{Window: 10 * time.Second}
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			fmt.Fprintf(stderr, "vxbench: --gossip-n %q: want comma-separated sizes of at least 2\n", sizes)
			return 2
		}
		o.Sizes = append(o.Sizes, n)
	}
	if verbose {
		o.Logf = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	}
	rows, err := RunGossip(ctx, o)
	WriteGossipTable(stdout, rows)
	res := &GossipResults{Command: "vxbench " + strings.Join(args, " "), Date: time.Now().UTC(), Timing: "memberlist LAN", CPUs: runtime.NumCPU(), WindowS: o.Window.Seconds(), Rows: rows}
	if werr := WriteGossipFiles(dir, res); werr != nil {
		fmt.Fprintf(stderr, "vxbench: %v\n", werr)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s/gossip.json and %s/gossip.svg\n", dir, dir)
	if err != nil {
		fmt.Fprintf(stderr, "vxbench: %v\n", err)
		return 1
	}
	return 0
}
