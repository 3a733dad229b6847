package bench

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
)

func numCPU() int { return runtime.NumCPU() }

// percentile returns the p-th percentile (nearest rank) of vs; it sorts vs.
func percentile(vs []float64, p float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	rank := int(math.Ceil(p / 100 * float64(len(vs))))
	return vs[min(max(rank, 1), len(vs))-1]
}

// Row is one line of the comparison table.
type Row struct {
	Metric    string  `json:"metric"`
	Unit      string  `json:"unit"`
	Vxswitchd float64 `json:"vxswitchd"`
	Kernel    float64 `json:"kernel"`
	// Ratio is Vxswitchd/Kernel; NaN (JSON null) when either is missing
	// or the kernel's value is 0. With several runs it is the median of
	// the runs' ratios (each run pairs the two rigs measured one after
	// the other), and RatioMin and RatioMax their range.
	Ratio              float64 `json:"-"`
	RatioMin, RatioMax float64 `json:"-"`
	// Runs is the number of runs the ratio is taken over.
	Runs int `json:"runs"`
	// HigherIsBetter says how to read the ratio.
	HigherIsBetter bool `json:"higher_is_better"`
}

// Rows returns the comparison table in MetricNames order, with the rows
// that are missing on either side left out.
func (r *Results) Rows() []Row {
	v, k := r.Side(SideVxswitchd), r.Side(SideKernel)
	if v == nil || k == nil {
		return nil
	}
	var rows []Row
	for _, name := range MetricNames {
		mv, ok1 := v.Metrics[name]
		mk, ok2 := k.Metrics[name]
		if !ok1 || !ok2 {
			continue
		}
		row := Row{Metric: name, Unit: mv.Unit, Vxswitchd: mv.Value, Kernel: mk.Value,
			HigherIsBetter: name == MetricTCP1 || name == MetricTCP4 || name == MetricPPS64 || name == MetricTCP1Ping}
		row.Ratio, row.RatioMin, row.RatioMax, row.Runs = r.ratio(name, SideVxswitchd, SideKernel)
		rows = append(rows, row)
	}
	return rows
}

// ratio returns metric name of side a over side b: of the one result, or
// with several runs the median of the runs' ratios (each run pairs rigs
// measured one after the other) and their range; n is the number of
// ratios. Undefined ratios are NaN.
func (r *Results) ratio(name, a, b string) (ratio, lo, hi float64, n int) {
	ratio, lo, hi = math.NaN(), math.NaN(), math.NaN()
	if len(r.Runs) <= 1 {
		sa, sb := r.Side(a), r.Side(b)
		if sa == nil || sb == nil {
			return ratio, lo, hi, 0
		}
		ma, ok1 := sa.Metrics[name]
		mb, ok2 := sb.Metrics[name]
		if ok1 && ok2 && mb.Value != 0 {
			ratio = ma.Value / mb.Value
			return ratio, ratio, ratio, 1
		}
		return ratio, lo, hi, 1
	}
	var ratios []float64
	for _, run := range r.Runs {
		sa, sb := sideOf(run.Sides, a), sideOf(run.Sides, b)
		if sa == nil || sb == nil {
			continue
		}
		ma, ok1 := sa.Metrics[name]
		mb, ok2 := sb.Metrics[name]
		if ok1 && ok2 && mb.Value != 0 {
			ratios = append(ratios, ma.Value/mb.Value)
		}
	}
	if len(ratios) == 0 {
		return ratio, lo, hi, 0
	}
	ratio = median(ratios) // sorts
	return ratio, ratios[0], ratios[len(ratios)-1], len(ratios)
}

// CeilingRow is one metric of the ceiling comparison (Options.Ceiling).
type CeilingRow struct {
	Metric    string  `json:"metric"`
	Unit      string  `json:"unit"`
	Vxswitchd float64 `json:"vxswitchd"`
	Kernel    float64 `json:"kernel"`
	Ceiling   float64 `json:"ceiling"`
	// CeilingToKernel is how close the design can come to the kernel's
	// driver; VxswitchdToCeiling how close vxswitchd comes to the design's
	// least work. Each is a median over the runs with its range, NaN when
	// undefined.
	CeilingToKernel, CeilingToKernelMin, CeilingToKernelMax          float64 `json:"-"`
	VxswitchdToCeiling, VxswitchdToCeilingMin, VxswitchdToCeilingMax float64 `json:"-"`
	Runs                                                             int     `json:"runs"`
}

// CeilingRows returns the ceiling comparison for the metrics every side
// has, in MetricNames order; nil without a ceiling side.
func (r *Results) CeilingRows() []CeilingRow {
	v, k, c := r.Side(SideVxswitchd), r.Side(SideKernel), r.Side(SideCeiling)
	if v == nil || k == nil || c == nil {
		return nil
	}
	var rows []CeilingRow
	for _, name := range MetricNames {
		mv, ok1 := v.Metrics[name]
		mk, ok2 := k.Metrics[name]
		mc, ok3 := c.Metrics[name]
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		row := CeilingRow{Metric: name, Unit: mv.Unit, Vxswitchd: mv.Value, Kernel: mk.Value, Ceiling: mc.Value}
		row.CeilingToKernel, row.CeilingToKernelMin, row.CeilingToKernelMax, row.Runs = r.ratio(name, SideCeiling, SideKernel)
		row.VxswitchdToCeiling, row.VxswitchdToCeilingMin, row.VxswitchdToCeilingMax, _ = r.ratio(name, SideVxswitchd, SideCeiling)
		rows = append(rows, row)
	}
	return rows
}

// WriteTable writes "metric | vxswitchd | kernel | ratio" as an aligned
// table, followed by how each side's CPU figure was measured and any notes.
func WriteTable(w io.Writer, r *Results) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tunit\tvxswitchd\tkernel\tratio (vxswitchd/kernel)")
	for _, row := range r.Rows() {
		better := "lower is better"
		if row.HigherIsBetter {
			better = "higher is better"
		}
		spread := ""
		if row.Runs > 1 {
			spread = fmt.Sprintf(" [%s–%s over %d runs]", num(row.RatioMin), num(row.RatioMax), row.Runs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s  (%s)\n", row.Metric, row.Unit, num(row.Vxswitchd), num(row.Kernel), num(row.Ratio), spread, better)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.Sides {
		if m, ok := s.Metrics[MetricCPUPerGB]; ok {
			fmt.Fprintf(w, "cpu (%s): %s\n", s.Side, m.Method)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(w, "note (%s): %s\n", s.Side, n)
		}
	}
	if rows := r.CeilingRows(); rows != nil {
		fmt.Fprintln(w, "\nceiling: a null TAP<->UDP pipe on the same rig, the least work of a userspace TAP-and-UDP design (see vxbench --help)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "metric\tunit\tceiling\tceiling/kernel\tvxswitchd/ceiling")
		for _, row := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.Metric, row.Unit, num(row.Ceiling),
				withRange(row.CeilingToKernel, row.CeilingToKernelMin, row.CeilingToKernelMax, row.Runs),
				withRange(row.VxswitchdToCeiling, row.VxswitchdToCeilingMin, row.VxswitchdToCeilingMax, row.Runs))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Runs) > 1 {
		fmt.Fprintf(w, "%d runs: values are medians; ratio is the median of the runs' ratios, [range]\n", len(r.Runs))
	}
	_, err := fmt.Fprintf(w, "%d CPUs; %s per TCP test; measured while other work may run on the machine.\n", r.CPUs, r.Duration)
	return err
}

// withRange formats a ratio with its range over n runs.
func withRange(v, lo, hi float64, n int) string {
	if n > 1 {
		return fmt.Sprintf("%s [%s–%s]", num(v), num(lo), num(hi))
	}
	return num(v)
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v == 0:
		return "0"
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// jsonResults is Results plus the table, for results.json.
type jsonResults struct {
	*Results
	Table        []jsonRow        `json:"table"`
	CeilingTable []jsonCeilingRow `json:"ceiling_table,omitempty"`
}

type jsonCeilingRow struct {
	CeilingRow
	CeilingToKernel    jsonRatio `json:"ceiling_to_kernel"`
	VxswitchdToCeiling jsonRatio `json:"vxswitchd_to_ceiling"`
}

// jsonRatio is a median ratio and its range; null fields when undefined.
type jsonRatio struct {
	Median *float64 `json:"median"`
	Min    *float64 `json:"min"`
	Max    *float64 `json:"max"`
}

func newJSONRatio(v, lo, hi float64) jsonRatio {
	p := func(x float64) *float64 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return &x
	}
	return jsonRatio{p(v), p(lo), p(hi)}
}

type jsonRow struct {
	Row
	Ratio    *float64 `json:"ratio"` // null when undefined
	RatioMin *float64 `json:"ratio_min,omitempty"`
	RatioMax *float64 `json:"ratio_max,omitempty"`
}

// MarshalResults renders r and its table as indented JSON.
func MarshalResults(r *Results) ([]byte, error) {
	jr := jsonResults{Results: r, Table: []jsonRow{}}
	for _, row := range r.Rows() {
		j := jsonRow{Row: row}
		if !math.IsNaN(row.Ratio) && !math.IsInf(row.Ratio, 0) {
			j.Ratio = &row.Ratio
			if row.Runs > 1 {
				j.RatioMin, j.RatioMax = &row.RatioMin, &row.RatioMax
			}
		}
		jr.Table = append(jr.Table, j)
	}
	for _, row := range r.CeilingRows() {
		jr.CeilingTable = append(jr.CeilingTable, jsonCeilingRow{CeilingRow: row,
			CeilingToKernel:    newJSONRatio(row.CeilingToKernel, row.CeilingToKernelMin, row.CeilingToKernelMax),
			VxswitchdToCeiling: newJSONRatio(row.VxswitchdToCeiling, row.VxswitchdToCeilingMin, row.VxswitchdToCeilingMax)})
	}
	b, err := json.MarshalIndent(jr, "", "  ")
	return append(b, '\n'), err
}

// WriteSVG draws the ratios (vxswitchd/kernel) as a horizontal bar chart
// with a line at 1.0 (parity). The SVG is written by hand; bars are capped
// at 2.0 and labelled with the exact ratio.
func WriteSVG(w io.Writer, r *Results) error {
	rows := r.Rows()
	const (
		left, barMax, rowH, top = 230.0, 400.0, 34.0, 50.0
		capRatio                = 2.0
	)
	width := left + barMax + 90
	height := top + rowH*float64(len(rows)) + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="13">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="15" font-weight="bold">vxswitchd / kernel vxlan (1.0 = parity)</text>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="40" fill="#555">%s, %d CPUs, %s tests</text>`+"\n", html.EscapeString(r.Started.Format("2006-01-02 15:04 MST")), r.CPUs, html.EscapeString(r.Duration))
	for i, row := range rows {
		y := top + rowH*float64(i)
		label := row.Metric + " (" + map[bool]string{true: "higher", false: "lower"}[row.HigherIsBetter] + " is better)"
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-8, y+18, html.EscapeString(label))
		ratio := row.Ratio
		text := num(ratio)
		if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
			ratio = 0
		}
		wBar := barMax * min(ratio, capRatio) / capRatio
		color := "#4c78a8"
		if (row.HigherIsBetter && ratio < 1) || (!row.HigherIsBetter && ratio > 1) {
			color = "#e45756"
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.1f" width="%.1f" height="22" fill="%s"/>`+"\n", left, y+4, wBar, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", left+wBar+6, y+20, html.EscapeString(text))
	}
	x1 := left + barMax/capRatio
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black" stroke-dasharray="4 3"/>`+"\n", x1, top, x1, top+rowH*float64(len(rows)))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle" fill="#555">1.0</text>`+"\n", x1, top+rowH*float64(len(rows))+16)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteFiles writes results.json and results.svg into dir, creating it.
func WriteFiles(dir string, r *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	js, err := MarshalResults(r)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	var svg strings.Builder
	WriteSVG(&svg, r)
	if err := os.WriteFile(filepath.Join(dir, "results.svg"), []byte(svg.String()), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
