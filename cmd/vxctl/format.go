package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vxswitch/vxswitch/switch/api"
)

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// fdbLine renders one entry the way `bridge fdb show` does:
// "MAC dev PORT|dst IP vni N ORIGIN [age D] [owner NODE]".
func fdbLine(e api.FDBEntry) string {
	var b strings.Builder
	b.WriteString(e.MAC.String())
	switch {
	case e.Port != "":
		b.WriteString(" dev " + e.Port)
	case e.Remote.IsValid():
		b.WriteString(" dst " + e.Remote.String())
	default:
		b.WriteString(" dev -") // a local entry whose port just went away
	}
	b.WriteString(" vni " + strconv.FormatUint(uint64(e.VNI), 10))
	b.WriteString(" " + e.Origin)
	if e.Origin == "learned" {
		b.WriteString(" age " + e.Age().Round(time.Second).String())
	}
	if e.Owner != "" {
		b.WriteString(" owner " + e.Owner)
	}
	return b.String()
}

func printFDB(w io.Writer, entries []api.FDBEntry) error {
	for _, e := range entries {
		if _, err := fmt.Fprintln(w, fdbLine(e)); err != nil {
			return err
		}
	}
	return nil
}

func printFlood(w io.Writer, lists []api.FloodList) error {
	for _, l := range lists {
		for _, r := range l.Remotes {
			if _, err := fmt.Fprintf(w, "00:00:00:00:00:00 dst %s vni %d\n", r, l.VNI); err != nil {
				return err
			}
		}
	}
	return nil
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func printPorts(w io.Writer, ports []api.PortInfo) error {
	if len(ports) == 0 {
		return nil
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tVNI\tMTU\tMAC\tRX_PACKETS\tRX_BYTES\tTX_PACKETS\tTX_BYTES\tQUEUES\tOFFLOADS\tGRO")
	for _, p := range ports {
		mac := "-"
		if !p.MAC.IsZero() {
			mac = p.MAC.String()
		}
		off := p.Offloads
		if off == "" {
			off = "-"
		}
		gro := "-"
		if p.TAPGRO != nil {
			gro = onOff(*p.TAPGRO)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", p.Name, p.VNI, p.MTU, mac, p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes, p.Queues, off, gro)
	}
	return tw.Flush()
}

func printStats(w io.Writer, st api.Stats) error {
	tw := newTable(w)
	if len(st.Ports) > 0 {
		fmt.Fprintln(tw, "PORT\tVNI\tRX_PACKETS\tRX_BYTES\tTX_PACKETS\tTX_BYTES")
		for _, p := range st.Ports {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", p.Name, p.VNI, p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes)
		}
		fmt.Fprintln(tw)
	}
	if len(st.VNIs) > 0 {
		fmt.Fprintln(tw, "VNI\tPORTS\tRX_PACKETS\tRX_BYTES\tTX_PACKETS\tTX_BYTES")
		for _, v := range st.VNIs {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\n", v.VNI, v.Ports, v.RxPackets, v.RxBytes, v.TxPackets, v.TxBytes)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = newTable(w)
	fmt.Fprintln(tw, "drops:")
	nonzero := false
	for _, r := range dropOrder(st.Drops) {
		if n := st.Drops[r]; n > 0 {
			fmt.Fprintf(tw, "  %s\t%d\n", r, n)
			nonzero = true
		}
	}
	if !nonzero {
		fmt.Fprintln(tw, "  none")
	}
	fmt.Fprintf(tw, "reserved_bits_accepted\t%d\n", st.ReservedBitsAccepted)
	if b := st.BusyPoll; b.Hits+b.Misses > 0 {
		fmt.Fprintf(tw, "busy_poll:\t%d hits, %d misses\n", b.Hits, b.Misses)
	}
	if n := st.RTEngaged; n > 0 {
		fmt.Fprintf(tw, "rt_engaged\t%d\n", n)
	}
	if n := st.GatheredSegments; n > 0 {
		fmt.Fprintf(tw, "gathered_segments\t%d\n", n)
	}
	f := st.FDB
	fmt.Fprintf(tw, "fdb:\t%d entries (%d learned), %d moves, %d aged, learning refused: %d cap, %d bad MAC, %d invalid\n",
		f.Entries, f.Learned, f.Moves, f.Aged, f.LearnRejectedCap, f.LearnRejectedMAC, f.LearnRejectedInvalid)
	return tw.Flush()
}

// dropOrder returns the drop reasons sorted by name, for stable output.
func dropOrder(drops map[string]uint64) []string {
	out := make([]string, 0, len(drops))
	for r := range drops {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

func printStatus(w io.Writer, st api.Status) error {
	tw := newTable(w)
	vnis := make([]string, len(st.VNIs))
	for i, v := range st.VNIs {
		vnis[i] = strconv.FormatUint(uint64(v), 10)
	}
	local := st.Local
	if local == "" {
		local = "-"
	}
	fmt.Fprintf(tw, "version\t%s\n", st.Version)
	fmt.Fprintf(tw, "uptime\t%s\n", st.Uptime().Round(time.Second))
	fmt.Fprintf(tw, "local\t%s\n", local)
	fmt.Fprintf(tw, "port\t%d\n", st.Port)
	fmt.Fprintf(tw, "vnis\t%s\n", strings.Join(vnis, " "))
	return tw.Flush()
}

func printSettings(w io.Writer, st api.Settings) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "tap-gro\t%s\n", onOff(st.TAPGRO))
	return tw.Flush()
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
