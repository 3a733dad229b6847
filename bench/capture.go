package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/switch/api"
)

// Capture modes measured by RunCapture, in order.
const (
	CaptureNone     = "no capture"
	CaptureFiltered = "capture filtered to nothing"
	CaptureFull     = "full capture to a file"
)

// CaptureRow is the TCP throughput of one capture mode.
type CaptureRow struct {
	Mode    string  `json:"mode"`
	Gbps    float64 `json:"gbit_per_s"`
	Packets uint64  `json:"captured_packets"`
	Lost    uint64  `json:"lost_packets"`
	// Ratio is Gbps over the no-capture Gbps of the same run.
	Ratio float64 `json:"ratio_to_no_capture"`
}

// RunCapture measures what packet capture costs the data path: on one
// two-host vxswitchd rig, a 1-stream iperf3 TCP test (o.Duration) with no
// capture, with a capture whose filter matches nothing (every hop pays the
// hook and the filter), and with a full capture of every point written to a
// pcapng file (in o.Dir or a temporary directory). The capture runs on the
// sending host h0.
func RunCapture(ctx context.Context, o Options) (rows []CaptureRow, err error) {
	o = o.withDefaults()
	if _, err := exec.LookPath("iperf3"); err != nil {
		return nil, fmt.Errorf("bench: iperf3 is needed (apt-get install iperf3): %w", err)
	}
	sr := &SideResult{Side: SideVxswitchd, Metrics: map[string]Metric{}}
	cfg := lab.Config{Name: o.Name + "-c", Hosts: 2, DaemonCmd: o.DaemonCmd, IPv6: o.IPv6, Logf: o.Logf,
		ExtraArgs: append([]string{"--log-level", "warn"}, o.DaemonArgs...)}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "vxbench-capture"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	cfg.Dir = filepath.Join(dir, "capture")
	r, stop, err := startRig(ctx, o, cfg, sr)
	defer func() { err = errors.Join(err, stop()) }()
	if err != nil {
		return nil, err
	}
	client := api.NewClient(r.client.APISocket)
	for _, mode := range []string{CaptureNone, CaptureFiltered, CaptureFull} {
		row := CaptureRow{Mode: mode}
		var (
			done   = make(chan struct{})
			capRes api.CaptureResult
			capErr error
		)
		cctx, cancel := context.WithCancel(ctx)
		if mode != CaptureNone {
			// The session ends by itself just after the TCP test (which
			// starts once the session runs), so its counts arrive in
			// the stream's trailer.
			q := api.CaptureQuery{Duration: o.Duration + 2*time.Second}
			var out io.Writer = io.Discard
			if mode == CaptureFiltered {
				q.Filter = "vni 16777215" // a VNI nobody serves: matches nothing
			} else {
				f, err := os.Create(filepath.Join(dir, "full.pcapng"))
				if err != nil {
					cancel()
					return rows, err
				}
				defer f.Close()
				out = f
			}
			go func() {
				defer close(done)
				capRes, capErr = client.Capture(cctx, q, out)
			}()
			time.Sleep(200 * time.Millisecond) // let the session start
		} else {
			close(done)
		}
		res, err := r.iperf3TCP(ctx, "-t", secs(o.Duration))
		if err != nil {
			cancel()
		}
		<-done
		cancel()
		if err != nil {
			return rows, fmt.Errorf("%s: %w", mode, err)
		}
		if capErr != nil && !errors.Is(capErr, context.Canceled) {
			o.Logf("bench: capture (%s) ended with %v", mode, capErr)
		}
		row.Gbps = res.BitsPerSecond / 1e9
		row.Packets, row.Lost = capRes.Captured, capRes.Lost
		rows = append(rows, row)
	}
	for i := range rows {
		if rows[0].Gbps > 0 {
			rows[i].Ratio = rows[i].Gbps / rows[0].Gbps
		}
	}
	return rows, nil
}

// iperf3TCP runs one iperf3 TCP client test from the rig's client to its
// server with extra arguments.
func (r *rig) iperf3TCP(ctx context.Context, args ...string) (Iperf3Result, error) {
	out, err := r.run(ctx, r.client, "iperf3", r.tcpArgs(append([]string{"-J"}, args...)...)...)
	if err != nil {
		return Iperf3Result{}, err
	}
	return ParseIperf3(out, false)
}

// WriteCaptureTable prints the capture-cost rows as an aligned table.
func WriteCaptureTable(w io.Writer, rows []CaptureRow) {
	fmt.Fprintf(w, "%-30s %12s %12s %10s %8s\n", "capture (sender h0)", "TCP Gbit/s", "captured", "lost", "ratio")
	for _, r := range rows {
		fmt.Fprintf(w, "%-30s %12.3f %12d %10d %8.3f\n", r.Mode, r.Gbps, r.Packets, r.Lost, r.Ratio)
	}
}
