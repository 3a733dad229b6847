package api_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/api/apitest"
)

// The text exposition format, version 0.0.4: a sample line is a metric
// name, optional {label="value",...} with \\, \" and \n escapes, a space
// and a value; comments are "# HELP name text" and "# TYPE name type".
var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? [0-9]+$`)
	helpRE   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$`)
	typeRE   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$`)
)

func scrape(t *testing.T, sw *vswitch.Switch) string {
	t.Helper()
	rec := httptest.NewRecorder()
	api.MetricsHandler(sw).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("unexpected status:\n- want: 200\n-  got: %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("unexpected content type: %q", ct)
	}
	return rec.Body.String()
}

// parseMetrics checks every line and returns the samples by their
// name{labels} text, and the declared type of each family.
func parseMetrics(t *testing.T, text string) (samples map[string]string, types map[string]string) {
	t.Helper()
	samples, types = map[string]string{}, map[string]string{}
	helped := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case helpRE.MatchString(line):
			helped[helpRE.FindStringSubmatch(line)[1]] = true
		case typeRE.MatchString(line):
			m := typeRE.FindStringSubmatch(line)
			if _, dup := types[m[1]]; dup {
				t.Errorf("line %d: second TYPE for %s", n, m[1])
			}
			types[m[1]] = m[2]
		case sampleRE.MatchString(line):
			m := sampleRE.FindStringSubmatch(line)
			if types[m[1]] == "" || !helped[m[1]] {
				t.Errorf("line %d: sample of %s before its HELP and TYPE", n, m[1])
			}
			if types[m[1]] == "counter" && !strings.HasSuffix(m[1], "_total") {
				t.Errorf("line %d: counter %s does not end in _total", n, m[1])
			}
			key, val, _ := strings.Cut(line, " ")
			samples[key] = val
		default:
			t.Errorf("line %d does not parse as a comment or a sample: %q", n, line)
		}
	}
	return samples, types
}

func TestMetrics(t *testing.T) {
	env := apitest.New(t, fdb.Config{})
	p0 := env.AddPort(t, "vxtap0", 42, encap.MustParseMAC("02:00:00:00:00:01"))
	env.AddPort(t, `we"ird\name`, 43, encap.MAC{}) // label escaping
	if _, err := env.Client.AddFDB(ctx(t), api.FDBRequest{VNI: 42, MAC: macS, Remote: remote}); err != nil {
		t.Fatalf("AddFDB: %v", err)
	}
	if err := env.Peer.Send([][]byte{vxlanFrame(99, macR)}, env.LocalAddr); err != nil {
		t.Fatalf("peer send: %v", err)
	}
	p0.Inbound <- ethFrame(mac0) // nowhere to go: no_route, and one rx frame
	waitFor(t, "counters", func() bool {
		return env.Switch.Drops(vswitch.DropUnknownVNI) == 1 && env.Switch.Drops(vswitch.DropNoRoute) == 1
	})

	samples, types := parseMetrics(t, scrape(t, env.Switch))

	want := map[string]string{
		`vxswitch_port_rx_packets_total{port="vxtap0",vni="42"}`:      "1",
		`vxswitch_port_rx_bytes_total{port="vxtap0",vni="42"}`:        "60",
		`vxswitch_port_tx_packets_total{port="vxtap0",vni="42"}`:      "0",
		`vxswitch_port_tx_bytes_total{port="we\"ird\\name",vni="43"}`: "0",
		`vxswitch_vni_rx_packets_total{vni="42"}`:                     "0",
		`vxswitch_vni_tx_bytes_total{vni="43"}`:                       "0",
		`vxswitch_drops_total{reason="unknown_vni"}`:                  "1",
		`vxswitch_drops_total{reason="no_route"}`:                     "1",
		`vxswitch_reserved_bits_accepted_total`:                       "0",
		`vxswitch_busy_polls_total{result="hit"}`:                     "0",
		`vxswitch_busy_polls_total{result="miss"}`:                    "0",
		`vxswitch_gathered_segments_total`:                            "0",
		`vxswitch_rt_engaged_total`:                                   "0",
		`vxswitch_fdb_entries{vni="42",origin="local"}`:               "1",
		`vxswitch_fdb_entries{vni="42",origin="static"}`:              "1",
	}
	for k, v := range want {
		if got, ok := samples[k]; !ok || got != v {
			t.Errorf("unexpected sample %s:\n- want: %s\n-  got: %q (present: %v)", k, v, got, ok)
		}
	}
	for _, r := range vswitch.DropReasons() {
		if _, ok := samples[`vxswitch_drops_total{reason="`+r.String()+`"}`]; !ok {
			t.Errorf("missing drop reason %s", r)
		}
	}
	wantTypes := map[string]string{
		"vxswitch_port_rx_packets_total": "counter", "vxswitch_port_rx_bytes_total": "counter",
		"vxswitch_port_tx_packets_total": "counter", "vxswitch_port_tx_bytes_total": "counter",
		"vxswitch_vni_rx_packets_total": "counter", "vxswitch_vni_rx_bytes_total": "counter",
		"vxswitch_vni_tx_packets_total": "counter", "vxswitch_vni_tx_bytes_total": "counter",
		"vxswitch_drops_total": "counter", "vxswitch_reserved_bits_accepted_total": "counter",
		"vxswitch_busy_polls_total": "counter", "vxswitch_gathered_segments_total": "counter", "vxswitch_rt_engaged_total": "counter",
		"vxswitch_fdb_entries": "gauge",
	}
	for name, typ := range wantTypes {
		if types[name] != typ {
			t.Errorf("unexpected TYPE of %s:\n- want: %s\n-  got: %q", name, typ, types[name])
		}
	}
}

func TestMetricsMethod(t *testing.T) {
	env := apitest.New(t, fdb.Config{})
	tests := []struct {
		method   string
		wantCode int
	}{
		{http.MethodGet, http.StatusOK},
		{http.MethodHead, http.StatusOK},
		{http.MethodPost, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			api.MetricsHandler(env.Switch).ServeHTTP(rec, httptest.NewRequest(tt.method, "/metrics", nil))
			if rec.Code != tt.wantCode {
				t.Errorf("unexpected status:\n- want: %d\n-  got: %d", tt.wantCode, rec.Code)
			}
		})
	}
}
