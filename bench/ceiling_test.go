package bench

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/internal/testutil"
)

func TestParsePipeArgs(t *testing.T) {
	lab := []string{"--local", "192.0.2.10", "--port", "4789", "--tap", "vxtap0:42", "--remote", "192.0.2.11", "--api", "/run/x.sock", "--log-level", "debug"}
	got, err := parsePipeArgs(lab, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := pipeConfig{Local: netip.MustParseAddr("192.0.2.10"), Remote: netip.MustParseAddr("192.0.2.11"), Port: 4789, Dev: "vxtap0", API: "/run/x.sock"}
	if got != want {
		t.Fatalf("lab command line:\n- want: %+v\n-  got: %+v", want, got)
	}
	if got, err := parsePipeArgs([]string{"--local", "2001:db8::1", "--remote", "2001:db8::2", "--tap", "t", "--api", "a"}, io.Discard); err != nil || got.Port != 4789 {
		t.Errorf("IPv6 with the default port: %+v, %v", got, err)
	}
	bad := []struct {
		name string
		args []string
		want string
	}{
		{"no remote", []string{"--local", "192.0.2.10", "--tap", "t", "--api", "a"}, "exactly one peer, got 0"},
		{"two remotes", []string{"--local", "192.0.2.10", "--remote", "192.0.2.11", "--remote", "192.0.2.12", "--tap", "t", "--api", "a"}, "exactly one peer, got 2"},
		{"families", []string{"--local", "192.0.2.10", "--remote", "2001:db8::2", "--tap", "t", "--api", "a"}, "address family"},
		{"bad local", []string{"--local", "host", "--remote", "192.0.2.11", "--tap", "t", "--api", "a"}, "--local"},
		{"no local", []string{"--remote", "192.0.2.11", "--tap", "t", "--api", "a"}, "--local"},
		{"bad remote", []string{"--local", "192.0.2.10", "--remote", "x", "--tap", "t", "--api", "a"}, "--remote"},
		{"no tap", []string{"--local", "192.0.2.10", "--remote", "192.0.2.11", "--api", "a"}, "--tap"},
		{"long tap", []string{"--local", "192.0.2.10", "--remote", "192.0.2.11", "--tap", "sixteen-bytes-xx:1", "--api", "a"}, "1-15 bytes"},
		{"no api", []string{"--local", "192.0.2.10", "--remote", "192.0.2.11", "--tap", "t"}, "--api"},
		{"port", []string{"--local", "192.0.2.10", "--remote", "192.0.2.11", "--tap", "t", "--api", "a", "--port", "70000"}, "1-65535"},
		{"vxswitchd flag", []string{"--local", "192.0.2.10", "--remote", "192.0.2.11", "--tap", "t", "--api", "a", "--offload=false"}, "not defined"},
		{"argument", []string{"--local", "192.0.2.10", "--remote", "192.0.2.11", "--tap", "t", "--api", "a", "extra"}, "unexpected argument"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePipeArgs(tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("unexpected error:\n- want: …%s…\n-  got: %v", tt.want, err)
			}
		})
	}
	if code := pipeMain([]string{"--local", "192.0.2.10"}, io.Discard); code != 2 {
		t.Errorf("pipeMain with a bad command line:\n- want: exit 2\n-  got: %d", code)
	}
}

// TestCeilingRows: with a ceiling side, the table adds each metric's
// ceiling/kernel and vxswitchd/ceiling ratios (medians of the runs' ratios
// with their ranges), the text and JSON reports show them, and results
// without a ceiling have none.
func TestCeilingRows(t *testing.T) {
	side := func(name string, tcp float64) SideResult {
		return SideResult{Side: name, Metrics: map[string]Metric{MetricTCP1: {Value: tcp, Unit: "Gbit/s"}}}
	}
	r := &Results{CPUs: 2, Duration: "10s"}
	r.setRuns([]RunResult{
		{Sides: []SideResult{side(SideVxswitchd, 4), side(SideKernel, 10), side(SideCeiling, 5)}},
		{Sides: []SideResult{side(SideVxswitchd, 6), side(SideKernel, 10), side(SideCeiling, 8)}},
		{Sides: []SideResult{side(SideVxswitchd, 3), side(SideKernel, 12), side(SideCeiling, 6)}},
	})
	if r.Side(SideCeiling) == nil {
		t.Fatalf("medians dropped the ceiling side: %+v", r.Sides)
	}
	rows := r.CeilingRows()
	if len(rows) != 1 {
		t.Fatalf("unexpected rows: %+v", rows)
	}
	got := rows[0]
	// ceiling/kernel per run 0.5, 0.8, 0.5; vxswitchd/ceiling 0.8, 0.75, 0.5.
	want := CeilingRow{Metric: MetricTCP1, Unit: "Gbit/s", Vxswitchd: 4, Kernel: 10, Ceiling: 6,
		CeilingToKernel: 0.5, CeilingToKernelMin: 0.5, CeilingToKernelMax: 0.8,
		VxswitchdToCeiling: 0.75, VxswitchdToCeilingMin: 0.5, VxswitchdToCeilingMax: 0.8, Runs: 3}
	if got != want {
		t.Fatalf("ceiling row:\n- want: %+v\n-  got: %+v", want, got)
	}
	if vk := r.Rows(); len(vk) != 1 || vk[0].Ratio != 0.4 || vk[0].RatioMin != 0.25 || vk[0].RatioMax != 0.6 {
		t.Errorf("vxswitchd/kernel row changed by the third side: %+v", vk)
	}

	var b strings.Builder
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "ceiling/kernel") || !strings.Contains(b.String(), "0.5 [0.5–0.8]") || !strings.Contains(b.String(), "0.75 [0.5–0.8]") {
		t.Errorf("table without the ceiling ratios:\n%s", b.String())
	}
	js, err := MarshalResults(r)
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		CeilingTable []struct {
			Metric             string
			CeilingToKernel    struct{ Median, Min, Max *float64 } `json:"ceiling_to_kernel"`
			VxswitchdToCeiling struct{ Median, Min, Max *float64 } `json:"vxswitchd_to_ceiling"`
		} `json:"ceiling_table"`
	}
	if err := json.Unmarshal(js, &parsed); err != nil {
		t.Fatal(err)
	}
	if len(parsed.CeilingTable) != 1 || parsed.CeilingTable[0].CeilingToKernel.Max == nil || *parsed.CeilingTable[0].CeilingToKernel.Max != 0.8 ||
		parsed.CeilingTable[0].VxswitchdToCeiling.Median == nil || *parsed.CeilingTable[0].VxswitchdToCeiling.Median != 0.75 {
		t.Errorf("results.json ceiling_table:\n%s", js)
	}

	// A kernel value of 0 leaves ceiling/kernel undefined: null in JSON.
	one := &Results{Sides: []SideResult{side(SideVxswitchd, 4), side(SideKernel, 0), side(SideCeiling, 5)}}
	if rows := one.CeilingRows(); len(rows) != 1 || !math.IsNaN(rows[0].CeilingToKernel) || rows[0].VxswitchdToCeiling != 0.8 {
		t.Errorf("single run with a zero kernel value: %+v", rows)
	}
	if js, _ := MarshalResults(one); !strings.Contains(string(js), `"median": null`) {
		t.Errorf("undefined ratio is not null in JSON:\n%s", js)
	}
	if rows := threeRuns().CeilingRows(); rows != nil {
		t.Errorf("results without a ceiling side have ceiling rows: %+v", rows)
	}
	if js, _ := MarshalResults(threeRuns()); strings.Contains(string(js), "ceiling_table") {
		t.Errorf("results without a ceiling side have a ceiling_table")
	}
}

// TestPrivilegedCeilingSmoke runs `vxbench --ceiling` with 1 s tests on
// an IPv4 and an IPv6 underlay: all three rigs carry the TCP tests (the
// pipe really forwards: iperf3 fails otherwise), only the TCP tests run,
// the pipes' CPU is counted, the report has the ceiling table and no rig
// namespace is left.
func TestPrivilegedCeilingSmoke(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("iperf3 not installed")
	}
	if testing.Short() {
		t.Skip("runs iperf3 for about 20 s")
	}
	for _, ipv6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "IPv4", true: "IPv6"}[ipv6], func(t *testing.T) { ceilingSmoke(t, ipv6) })
	}
}

func ceilingSmoke(t *testing.T, ipv6 bool) {
	name := testutil.UniqueName("vxp")
	out := t.TempDir()
	cleanupRigs(t, name, "v", "k", "p")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	args := []string{"--ceiling", "--duration", "1s", "--name", name, "--out", out}
	if ipv6 {
		args = append(args, "--ipv6")
	}
	var stdout strings.Builder
	res, b := mainResults(t, ctx, args, out, &stdout)
	for _, side := range []string{SideVxswitchd, SideKernel, SideCeiling} {
		s := res.Side(side)
		if s == nil {
			t.Fatalf("results.json has no %s side", side)
		}
		for _, m := range []string{MetricTCP1, MetricTCP4} {
			if s.Metrics[m].Value <= 0 {
				t.Errorf("side %s: unexpected %s %v", side, m, s.Metrics[m].Value)
			}
		}
		for _, m := range []string{MetricPPS64, MetricLatP50} {
			if _, ok := s.Metrics[m]; ok {
				t.Errorf("side %s: %s measured with --ceiling (TCP tests only)", side, m)
			}
		}
	}
	if m := res.Side(SideCeiling).Metrics[MetricCPUPerGB]; m.Value <= 0 || !strings.Contains(m.Method, "ceiling pipe") {
		t.Errorf("the pipes' CPU is not counted: %+v", m)
	}
	if !strings.Contains(stdout.String(), "vxswitchd/ceiling") || !strings.Contains(string(b), `"ceiling_table"`) {
		t.Errorf("no ceiling table in the report:\n%s", stdout.String())
	}
	list, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(list), name+"-") {
		t.Errorf("rig namespaces left behind:\n%s", list)
	}
}
