package api

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	vswitch "github.com/vxswitch/vxswitch/switch"
)

// metricsContentType is the Prometheus text exposition format, version
// 0.0.4.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// MetricsHandler returns a handler that writes sw's counters in the
// Prometheus text exposition format (version 0.0.4), written by hand:
//
//	vxswitch_port_{rx,tx}_{packets,bytes}_total{port,vni}
//	vxswitch_vni_{rx,tx}_{packets,bytes}_total{vni}
//	vxswitch_drops_total{reason}            (every reason, zeros included)
//	vxswitch_reserved_bits_accepted_total
//	vxswitch_fdb_entries{vni,origin}        (gauge)
//	vxswitch_tap_gro                        (gauge: 1 if coalescing on write)
//
// Each scrape takes a fresh snapshot; the handler is safe for concurrent
// use and answers GET and HEAD.
func MetricsHandler(sw *vswitch.Switch) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed: use GET", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", metricsContentType)
		if r.Method == http.MethodHead {
			return
		}
		bw := bufio.NewWriter(w)
		writeMetrics(bw, sw)
		bw.Flush()
	})
}

// metricFamily is one metric name with its help and samples.
type metricFamily struct {
	name, help, typ string
	samples         []sample
}

type sample struct {
	labels []string // name, value, name, value, ...
	value  uint64
}

func writeMetrics(w io.Writer, sw *vswitch.Switch) {
	st := sw.Stats()
	var fams []metricFamily
	port := func(name, help string, get func(vswitch.PortStats) uint64) {
		f := metricFamily{name: name, help: help, typ: "counter"}
		for _, p := range st.Ports {
			f.samples = append(f.samples, sample{[]string{"port", p.Name, "vni", strconv.FormatUint(uint64(p.VNI), 10)}, get(p)})
		}
		fams = append(fams, f)
	}
	port("vxswitch_port_rx_packets_total", "Frames the switch read from the port.", func(p vswitch.PortStats) uint64 { return p.RxPackets })
	port("vxswitch_port_rx_bytes_total", "Bytes of frames the switch read from the port.", func(p vswitch.PortStats) uint64 { return p.RxBytes })
	port("vxswitch_port_tx_packets_total", "Frames the switch wrote to the port.", func(p vswitch.PortStats) uint64 { return p.TxPackets })
	port("vxswitch_port_tx_bytes_total", "Bytes of frames the switch wrote to the port.", func(p vswitch.PortStats) uint64 { return p.TxBytes })

	vni := func(name, help string, get func(vswitch.VNIStats) uint64) {
		f := metricFamily{name: name, help: help, typ: "counter"}
		for _, v := range st.VNIs {
			f.samples = append(f.samples, sample{[]string{"vni", strconv.FormatUint(uint64(v.VNI), 10)}, get(v)})
		}
		fams = append(fams, f)
	}
	vni("vxswitch_vni_rx_packets_total", "VXLAN packets received from the underlay for the VNI.", func(v vswitch.VNIStats) uint64 { return v.RxPackets })
	vni("vxswitch_vni_rx_bytes_total", "UDP payload bytes (VXLAN header and inner frame) received for the VNI.", func(v vswitch.VNIStats) uint64 { return v.RxBytes })
	vni("vxswitch_vni_tx_packets_total", "VXLAN packets sent to the underlay for the VNI, each replicated copy counted.", func(v vswitch.VNIStats) uint64 { return v.TxPackets })
	vni("vxswitch_vni_tx_bytes_total", "UDP payload bytes (VXLAN header and inner frame) sent for the VNI.", func(v vswitch.VNIStats) uint64 { return v.TxBytes })

	drops := metricFamily{name: "vxswitch_drops_total", help: "Frames the switch did not deliver, by reason.", typ: "counter"}
	for _, r := range vswitch.DropReasons() {
		drops.samples = append(drops.samples, sample{[]string{"reason", r.String()}, st.Drops[r.String()]})
	}
	fams = append(fams, drops)
	fams = append(fams, metricFamily{
		name: "vxswitch_reserved_bits_accepted_total", typ: "counter",
		help:    "VXLAN packets with reserved bits set that were accepted (non-strict mode).",
		samples: []sample{{nil, st.ReservedBitsAccepted}},
	})
	var gro uint64
	if sw.TAPGRO() {
		gro = 1
	}
	fams = append(fams, metricFamily{
		name: "vxswitch_tap_gro", typ: "gauge",
		help:    "1 if the switch coalesces received TCP segments into super-frames written to offload TAPs (--tap-gro, PATCH /v1/settings), else 0.",
		samples: []sample{{nil, gro}},
	})
	fams = append(fams, metricFamily{
		name: "vxswitch_busy_polls_total", typ: "counter",
		help:    "Busy polls of the single loop (--busy-poll), by result: hit (traffic found without a wait) or miss (the loop waited).",
		samples: []sample{{[]string{"result", "hit"}, st.BusyPoll.Hits}, {[]string{"result", "miss"}, st.BusyPoll.Misses}},
	})
	fams = append(fams, metricFamily{
		name: "vxswitch_rt_engaged_total", typ: "counter",
		help:    "Turns of the single loop's thread to real-time scheduling (--rt-priority): each time it fell behind at normal priority; once with --rt-priority-fixed.",
		samples: []sample{{nil, st.RTEngaged}},
	})
	fams = append(fams, metricFamily{
		name: "vxswitch_gathered_segments_total", typ: "counter",
		help:    "Segments of TSO super-frames from offload TAPs sent gathered, without copying their payload (--gather; the first segment of each is copied and not counted).",
		samples: []sample{{nil, st.GatheredSegments}},
	})

	type vo struct {
		vni    uint32
		origin string
	}
	counts := map[vo]uint64{}
	for _, e := range sw.FDB().Entries(0, true) {
		counts[vo{e.VNI, e.Origin.String()}]++
	}
	keys := make([]vo, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b vo) int {
		return cmp.Or(cmp.Compare(a.vni, b.vni), strings.Compare(a.origin, b.origin))
	})
	entries := metricFamily{name: "vxswitch_fdb_entries", help: "Forwarding database entries, by VNI and origin.", typ: "gauge"}
	for _, k := range keys {
		entries.samples = append(entries.samples, sample{[]string{"vni", strconv.FormatUint(uint64(k.vni), 10), "origin", k.origin}, counts[k]})
	}
	fams = append(fams, entries)

	for _, f := range fams {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
		for _, s := range f.samples {
			io.WriteString(w, f.name)
			if len(s.labels) > 0 {
				io.WriteString(w, "{")
				for i := 0; i+1 < len(s.labels); i += 2 {
					if i > 0 {
						io.WriteString(w, ",")
					}
					fmt.Fprintf(w, "%s=\"%s\"", s.labels[i], escapeLabel(s.labels[i+1]))
				}
				io.WriteString(w, "}")
			}
			fmt.Fprintf(w, " %d\n", s.value)
		}
	}
}

// labelEscaper escapes a label value: backslash, double quote and line feed.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// helpEscaper escapes HELP text: backslash and line feed.
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func escapeHelp(s string) string { return helpEscaper.Replace(s) }
