package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/vxswitch/vxswitch/bench/lab"
	"github.com/vxswitch/vxswitch/switch/api"
)

// report is what run, up and status print, as tables or (--json) as JSON.
type report struct {
	Lab   string       `json:"lab"`
	VNI   uint32       `json:"vni"`
	Dir   string       `json:"dir"`
	Hosts []hostReport `json:"hosts"`
	Pairs []pairReport `json:"pairs,omitempty"`
	// OK is true when every pair answered every echo.
	OK bool `json:"ok"`
}

// hostReport is one host and its forwarding database.
type hostReport struct {
	Name      string   `json:"name"`
	Namespace string   `json:"namespace"`
	Kind      string   `json:"kind"` // "vxswitchd" or "kernel"
	Underlay  string   `json:"underlay"`
	Overlay   string   `json:"overlay"`
	Dev       string   `json:"dev"`
	API       string   `json:"api,omitempty"`
	PID       int      `json:"pid,omitempty"`
	FDB       []fdbRow `json:"fdb"`
	FDBError  string   `json:"fdb_error,omitempty"`
}

// fdbRow is one FDB entry, the columns of `vxctl fdb`.
type fdbRow struct {
	MAC        string  `json:"mac"`
	Dev        string  `json:"dev,omitempty"` // local port
	Dst        string  `json:"dst,omitempty"` // remote VTEP
	VNI        uint32  `json:"vni"`
	Origin     string  `json:"origin"`
	AgeSeconds float64 `json:"age_seconds"`
}

// pairReport is the ping from one host to another.
type pairReport struct {
	From     string  `json:"from"`
	To       string  `json:"to"`
	Dst      string  `json:"dst"`
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	Loss     float64 `json:"loss"` // 0 to 1
	AvgRTTus float64 `json:"avg_rtt_us"`
	MaxRTTus float64 `json:"max_rtt_us"`
	OK       bool    `json:"ok"`
	Error    string  `json:"error,omitempty"`
}

func kind(kernel bool) string {
	if kernel {
		return "kernel"
	}
	return "vxswitchd"
}

// pairReports converts PingAll results; ok is true when every pair
// received every echo.
func pairReports(res []lab.PairResult) (out []pairReport, ok bool) {
	ok = len(res) > 0
	for _, r := range res {
		p := pairReport{
			From: r.From.Name, To: r.To.Name, Dst: r.To.Overlay.Addr().String(),
			Sent: r.Sent, Received: r.Received, Loss: r.Loss(),
			AvgRTTus: float64(r.AvgRTT) / float64(time.Microsecond),
			MaxRTTus: float64(r.MaxRTT) / float64(time.Microsecond),
		}
		if r.Err != nil {
			p.Error = r.Err.Error()
		}
		p.OK = r.Err == nil && r.Sent > 0 && r.Received == r.Sent
		ok = ok && p.OK
		out = append(out, p)
	}
	return out, ok
}

// fdbRows converts API entries.
func fdbRows(entries []api.FDBEntry) []fdbRow {
	rows := make([]fdbRow, 0, len(entries))
	for _, e := range entries {
		r := fdbRow{MAC: e.MAC.String(), Dev: e.Port, VNI: e.VNI, Origin: e.Origin, AgeSeconds: e.AgeSeconds}
		if e.Remote.IsValid() {
			r.Dst = e.Remote.String()
		}
		rows = append(rows, r)
	}
	return rows
}

// kernelFDBEntry is one entry of `bridge -j -s fdb show`.
type kernelFDBEntry struct {
	MAC     string `json:"mac"`
	Dst     string `json:"dst"`
	VNI     uint32 `json:"vni"`
	State   string `json:"state"`
	Updated int    `json:"updated"` // seconds since the last update (with -s)
}

// parseKernelFDB parses `bridge -j -s fdb show dev vx42` of a kernel host
// into rows; entries without dst (the device's own multicast addresses)
// are skipped. Entries without a vni use defVNI (the device's).
func parseKernelFDB(out []byte, dev string, defVNI uint32) ([]fdbRow, error) {
	var entries []kernelFDBEntry
	if err := json.Unmarshal(out, &entries); err != nil {
		return nil, fmt.Errorf("parse bridge fdb output: %w", err)
	}
	rows := []fdbRow{}
	for _, e := range entries {
		if e.Dst == "" {
			continue
		}
		r := fdbRow{MAC: e.MAC, Dst: e.Dst, VNI: e.VNI, Origin: "learned", AgeSeconds: float64(e.Updated)}
		if r.VNI == 0 {
			r.VNI = defVNI
		}
		if e.State == "permanent" {
			r.Origin = "static"
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// hostFDB reads the FDB of host h: through the API on a vxswitchd host,
// with `bridge fdb show` on a kernel host.
func hostFDB(ctx context.Context, hr *hostReport, vni uint32) {
	var err error
	if hr.Kind == "kernel" {
		var out []byte
		ns := hr.Namespace
		out, err = runIn(ctx, ns, "bridge", "-j", "-s", "fdb", "show", "dev", hr.Dev)
		if err == nil {
			hr.FDB, err = parseKernelFDB(out, hr.Dev, vni)
		}
	} else {
		var entries []api.FDBEntry
		entries, err = api.NewClient(hr.API).FDB(ctx, 0, true)
		hr.FDB = fdbRows(entries)
	}
	if err != nil {
		hr.FDBError = err.Error()
	}
	if hr.FDB == nil {
		hr.FDB = []fdbRow{}
	}
}

// printPairs writes the pair table.
func printPairs(w io.Writer, pairs []pairReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM\tTO\tRESULT\tRECV/SENT\tAVG RTT\tMAX RTT")
	for _, p := range pairs {
		res := "ok"
		if !p.OK {
			res = fmt.Sprintf("LOSS %.0f%%", 100*p.Loss)
			if p.Error != "" {
				res = "ERROR " + p.Error
			}
		}
		fmt.Fprintf(tw, "%s\t%s (%s)\t%s\t%d/%d\t%s\t%s\n", p.From, p.To, p.Dst, res, p.Received, p.Sent,
			usString(p.AvgRTTus), usString(p.MaxRTTus))
	}
	tw.Flush()
}

func usString(us float64) string {
	if us == 0 {
		return "-"
	}
	return time.Duration(us * float64(time.Microsecond)).Round(time.Microsecond).String()
}

// printHosts writes each host's header line and FDB, like `vxctl fdb`.
func printHosts(w io.Writer, hosts []hostReport) {
	for _, h := range hosts {
		fmt.Fprintf(w, "\n%s  %s  underlay %s  overlay %s on %s", h.Name, h.Kind, h.Underlay, h.Overlay, h.Dev)
		if h.PID != 0 {
			fmt.Fprintf(w, "  pid %d", h.PID)
		}
		fmt.Fprintln(w)
		if h.FDBError != "" {
			fmt.Fprintf(w, "  fdb: error: %s\n", h.FDBError)
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  MAC\tDEV/DST\tVNI\tORIGIN\tAGE")
		for _, r := range h.FDB {
			where := "dev " + r.Dev
			if r.Dst != "" {
				where = "dst " + r.Dst
			}
			age := "-"
			if r.Origin == "learned" {
				age = (time.Duration(r.AgeSeconds * float64(time.Second))).Round(time.Second).String()
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", r.MAC, where, r.VNI, r.Origin, age)
		}
		tw.Flush()
	}
}

// printReport writes rep as JSON or as tables.
func printReport(w io.Writer, rep *report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if len(rep.Pairs) > 0 {
		fmt.Fprintf(w, "Overlay reachability, lab %s, VNI %d (ICMP echo, 3 per pair):\n", rep.Lab, rep.VNI)
		printPairs(w, rep.Pairs)
	}
	printHosts(w, rep.Hosts)
	if len(rep.Pairs) > 0 {
		if rep.OK {
			fmt.Fprintf(w, "\nAll %d pairs OK.\n", len(rep.Pairs))
		} else {
			fmt.Fprintf(w, "\nSome pairs FAILED; daemon logs are in %s.\n", rep.Dir)
		}
	}
	return nil
}
