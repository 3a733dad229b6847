package bench

import (
	"errors"
	"strings"
	"testing"
)

func TestLoadLatency(t *testing.T) {
	tests := []struct {
		name     string
		side     string
		in       PingOutput
		err      error
		p50, p99 float64 // 0: no metrics
		note     string  // substring of the note expected, "" for none
		method   string  // substring of the metric's method
	}{
		{name: "replies", side: SideVxswitchd, in: PingOutput{RTTs: []float64{300, 100, 200, 5000}, Transmitted: 5},
			p50: 200, p99: 5000, method: "client's TAP during a second 1-stream TCP test, 4 of 5 replies"},
		{name: "kernel side", side: SideKernel, in: PingOutput{RTTs: []float64{30}, Transmitted: 1},
			p50: 30, p99: 30, method: "client's vxlan device"},
		{name: "no reply", side: SideVxswitchd, in: PingOutput{Transmitted: 5}, note: "no reply to 5 echoes"},
		{name: "ping failed", side: SideKernel, err: errors.New("ping: exit status 2"), note: "exit status 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &rig{sr: &SideResult{Side: tt.side, Metrics: map[string]Metric{}}}
			r.loadLatency(tt.in, tt.err)
			p50, ok50 := r.sr.Metrics[MetricLoadP50]
			p99, ok99 := r.sr.Metrics[MetricLoadP99]
			if tt.p50 == 0 {
				if ok50 || ok99 {
					t.Errorf("unexpected metrics %+v %+v", p50, p99)
				}
			} else {
				if p50.Value != tt.p50 || p99.Value != tt.p99 {
					t.Errorf("unexpected p50/p99:\n- want: %v/%v\n-  got: %v/%v", tt.p50, tt.p99, p50.Value, p99.Value)
				}
				if !strings.Contains(p50.Method, tt.method) || p50.Unit != "µs RTT" {
					t.Errorf("unexpected method or unit: %q %q (want %q)", p50.Method, p50.Unit, tt.method)
				}
			}
			notes := strings.Join(r.sr.Notes, "\n")
			if (tt.note == "") != (notes == "") || !strings.Contains(notes, tt.note) {
				t.Errorf("unexpected notes:\n- want: %q\n-  got: %q", tt.note, notes)
			}
		})
	}
}
