package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

func sampleResults() *Results {
	m := func(v float64) Metric { return Metric{Value: v, Unit: "u"} }
	return &Results{
		Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), CPUs: 2, Duration: "10s",
		Sides: []SideResult{
			{Side: SideVxswitchd, Metrics: map[string]Metric{MetricTCP1: m(1), MetricTCP4: m(2), MetricPPS64: m(100), MetricLatP50: m(40), MetricLatP99: m(90), MetricPacedP50: m(150), MetricPacedCPU: m(30), MetricLoadP50: m(900), MetricLoadP99: m(4000), MetricTCP1Ping: m(0.9), MetricCPUPerGB: m(10), MetricRetrans: m(6)}},
			{Side: SideKernel, Metrics: map[string]Metric{MetricTCP1: m(4), MetricTCP4: m(8), MetricPPS64: m(0), MetricLatP50: m(20), MetricLatP99: m(30), MetricPacedP50: m(60), MetricPacedCPU: m(12), MetricLoadP50: m(30), MetricLoadP99: m(100), MetricTCP1Ping: m(3.6), MetricCPUPerGB: m(1), MetricRetrans: m(3)}},
		},
	}
}

func TestRows(t *testing.T) {
	rows := sampleResults().Rows()
	want := map[string]float64{MetricTCP1: 0.25, MetricTCP4: 0.25, MetricLatP50: 2, MetricLatP99: 3, MetricPacedP50: 2.5, MetricPacedCPU: 2.5, MetricLoadP50: 30, MetricLoadP99: 40, MetricTCP1Ping: 0.25, MetricCPUPerGB: 10, MetricRetrans: 2}
	if len(rows) != len(MetricNames) {
		t.Fatalf("unexpected row count:\n- want: %d\n-  got: %d", len(MetricNames), len(rows))
	}
	for _, r := range rows {
		if r.Metric == MetricPPS64 {
			if !math.IsNaN(r.Ratio) {
				t.Errorf("unexpected ratio with a zero kernel value:\n- want: NaN\n-  got: %v", r.Ratio)
			}
			continue
		}
		if r.Ratio != want[r.Metric] {
			t.Errorf("unexpected ratio of %s:\n- want: %v\n-  got: %v", r.Metric, want[r.Metric], r.Ratio)
		}
	}
}

func TestWriteTableJSONSVG(t *testing.T) {
	r := sampleResults()
	var table bytes.Buffer
	if err := WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ratio (vxswitchd/kernel)", MetricTCP1, "0.25", MetricCPUPerGB} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("unexpected table:\n- want: containing %q\n-  got:\n%s", want, table.String())
		}
	}

	js, err := MarshalResults(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Table []struct {
			Metric string   `json:"metric"`
			Ratio  *float64 `json:"ratio"`
		} `json:"table"`
		Sides []SideResult `json:"sides"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatalf("results JSON does not parse: %v\n%s", err, js)
	}
	if len(back.Table) != len(MetricNames) || len(back.Sides) != 2 {
		t.Fatalf("unexpected JSON: %s", js)
	}
	for _, row := range back.Table {
		if (row.Ratio == nil) != (row.Metric == MetricPPS64) {
			t.Errorf("unexpected ratio of %s: %v (want null only for the zero kernel value)", row.Metric, row.Ratio)
		}
	}

	var svg bytes.Buffer
	if err := WriteSVG(&svg, r); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&svg)
	rects := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	if want := 1 + len(MetricNames); rects != want { // background + one bar per metric
		t.Errorf("unexpected number of rects:\n- want: %d\n-  got: %d", want, rects)
	}
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		in   []float64
		p    float64
		want float64
	}{
		{[]float64{5, 1, 3, 2, 4}, 50, 3},
		{[]float64{5, 1, 3, 2, 4}, 99, 5},
		{[]float64{7}, 1, 7},
		{nil, 50, 0},
	}
	for _, tt := range tests {
		if got := percentile(append([]float64(nil), tt.in...), tt.p); got != tt.want {
			t.Errorf("unexpected p%v of %v:\n- want: %v\n-  got: %v", tt.p, tt.in, tt.want, got)
		}
	}
}
