package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{2, 2, 9, 2}, 2},
	}
	for _, tt := range tests {
		if got := median(append([]float64(nil), tt.in...)); got != tt.want {
			t.Errorf("median(%v):\n- want: %v\n-  got: %v", tt.in, tt.want, got)
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil):\n- want: NaN\n-  got: %v", got)
	}
}

// threeRuns is three runs of both rigs with TCP ratios 0.25, 0.5 and 0.4:
// the vxswitchd medians are 2 (TCP) and 20 (p50), the kernel's 5 and 10.
func threeRuns() *Results {
	side := func(name string, tcp, p50 float64, note string) SideResult {
		s := SideResult{Side: name, Metrics: map[string]Metric{
			MetricTCP1:   {Value: tcp, Unit: "Gbit/s", Method: "iperf3"},
			MetricLatP50: {Value: p50, Unit: "µs RTT", Method: "sockperf"},
		}, Commands: []string{name + " cmd"}}
		if note != "" {
			s.Notes = []string{note}
		}
		return s
	}
	r := &Results{CPUs: 2, Duration: "10s"}
	r.setRuns([]RunResult{
		{Sides: []SideResult{side(SideVxswitchd, 1, 30, "fallback"), side(SideKernel, 4, 10, "")}},
		{Sides: []SideResult{side(SideVxswitchd, 2, 20, "fallback"), side(SideKernel, 4, 10, "")}},
		{Sides: []SideResult{side(SideVxswitchd, 3, 10, ""), side(SideKernel, 7.5, 20, "")}},
	})
	return r
}

// TestRuns: with several runs, Sides hold each metric's median (and say
// so), every run is kept, and each ratio is the median of the runs'
// ratios with their range.
func TestRuns(t *testing.T) {
	r := threeRuns()
	if len(r.Runs) != 3 {
		t.Fatalf("unexpected runs kept:\n- want: 3\n-  got: %d", len(r.Runs))
	}
	v, k := r.Side(SideVxswitchd), r.Side(SideKernel)
	if v == nil || k == nil {
		t.Fatalf("unexpected sides: %+v", r.Sides)
	}
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"vxswitchd TCP median", v.Metrics[MetricTCP1].Value, 2},
		{"kernel TCP median", k.Metrics[MetricTCP1].Value, 4},
		{"vxswitchd p50 median", v.Metrics[MetricLatP50].Value, 20},
		{"kernel p50 median", k.Metrics[MetricLatP50].Value, 10},
	} {
		if c.got != c.want {
			t.Errorf("unexpected %s:\n- want: %v\n-  got: %v", c.what, c.want, c.got)
		}
	}
	if m := v.Metrics[MetricTCP1].Method; !strings.Contains(m, "median of 3 runs") || !strings.HasPrefix(m, "iperf3") {
		t.Errorf("unexpected method: %q", m)
	}
	if len(v.Notes) != 1 || v.Notes[0] != "fallback" {
		t.Errorf("unexpected notes (each once):\n- want: [fallback]\n-  got: %v", v.Notes)
	}
	rows := map[string]Row{}
	for _, row := range r.Rows() {
		rows[row.Metric] = row
	}
	// TCP ratios per run: 0.25, 0.5, 0.4 → median 0.4, not 2/4 = 0.5.
	if row := rows[MetricTCP1]; row.Ratio != 0.4 || row.RatioMin != 0.25 || row.RatioMax != 0.5 || row.Runs != 3 {
		t.Errorf("unexpected TCP row:\n- want: ratio 0.4 [0.25–0.5] over 3 runs\n-  got: %+v", row)
	}
	// p50 ratios: 3, 2, 0.5 → median 2.
	if row := rows[MetricLatP50]; row.Ratio != 2 || row.RatioMin != 0.5 || row.RatioMax != 3 {
		t.Errorf("unexpected p50 row:\n- want: ratio 2 [0.5–3]\n-  got: %+v", row)
	}

	var table bytes.Buffer
	if err := WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"0.4 [0.25–0.5 over 3 runs]", "3 runs: values are medians"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("unexpected table:\n- want: containing %q\n-  got:\n%s", want, table.String())
		}
	}
	js, err := MarshalResults(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Runs  []RunResult `json:"runs"`
		Table []struct {
			Metric   string   `json:"metric"`
			Ratio    *float64 `json:"ratio"`
			RatioMin *float64 `json:"ratio_min"`
			RatioMax *float64 `json:"ratio_max"`
			Runs     int      `json:"runs"`
		} `json:"table"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != 3 {
		t.Errorf("unexpected runs in JSON:\n- want: 3\n-  got: %d", len(back.Runs))
	}
	for _, row := range back.Table {
		if row.Metric == MetricTCP1 && (row.RatioMin == nil || *row.RatioMin != 0.25 || row.RatioMax == nil || *row.RatioMax != 0.5 || row.Runs != 3) {
			t.Errorf("unexpected TCP row in JSON: %+v", row)
		}
	}
}

// TestOneRun: a single run is reported as it is, without a runs list or
// ranges.
func TestOneRun(t *testing.T) {
	r := &Results{}
	r.setRuns([]RunResult{{Sides: sampleResults().Sides}})
	if r.Runs != nil || len(r.Sides) != 2 {
		t.Fatalf("unexpected one-run results: runs %v, sides %d", r.Runs, len(r.Sides))
	}
	var table bytes.Buffer
	WriteTable(&table, r)
	if strings.Contains(table.String(), "over") || strings.Contains(table.String(), "medians") {
		t.Errorf("unexpected range in a one-run table:\n%s", table.String())
	}
}

// TestRunAll: runAll measures vxswitchd then the kernel, Runs times, and
// keeps every run; after an error it keeps what was measured.
func TestRunAll(t *testing.T) {
	var order []string
	n := 0.0
	measure := func(_ context.Context, _ Options, side string) (*SideResult, error) {
		order = append(order, side)
		n++
		return &SideResult{Side: side, Metrics: map[string]Metric{MetricTCP1: {Value: n, Unit: "Gbit/s"}}}, nil
	}
	res := &Results{}
	if err := runAll(context.Background(), Options{Runs: 3}.withDefaults(), res, measure); err != nil {
		t.Fatal(err)
	}
	want := []string{SideVxswitchd, SideKernel, SideVxswitchd, SideKernel, SideVxswitchd, SideKernel}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("unexpected order:\n- want: %v\n-  got: %v", want, order)
	}
	if len(res.Runs) != 3 {
		t.Fatalf("unexpected runs kept:\n- want: 3\n-  got: %d", len(res.Runs))
	}
	// vxswitchd measured 1, 3, 5: median 3.
	if got := res.Side(SideVxswitchd).Metrics[MetricTCP1].Value; got != 3 {
		t.Errorf("unexpected vxswitchd median:\n- want: 3\n-  got: %v", got)
	}

	fail := errors.New("iperf3 failed")
	calls := 0
	res = &Results{}
	err := runAll(context.Background(), Options{Runs: 3}.withDefaults(), res, func(ctx context.Context, o Options, side string) (*SideResult, error) {
		calls++
		sr, _ := measure(ctx, o, side)
		if calls == 4 { // the kernel side of run 2
			return sr, fail
		}
		return sr, nil
	})
	if !errors.Is(err, fail) {
		t.Fatalf("unexpected error:\n- want: %v\n-  got: %v", fail, err)
	}
	if len(res.Runs) != 2 || calls != 4 {
		t.Errorf("unexpected runs after an error in run 2:\n- want: 2 runs kept, 4 calls\n-  got: %d runs, %d calls", len(res.Runs), calls)
	}
}
