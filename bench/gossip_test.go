package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/memberlist"
)

// fastGossipTiming shortens memberlist's failure detection so that the
// smoke test's purge phase takes seconds, not tens of seconds, and its
// anti-entropy, so a UDP datagram lost on a loaded test machine is
// repaired within the test's timeout (the smoke test checks the
// measuring, not loss-free delivery; gossip's own tests do that).
func fastGossipTiming(c *memberlist.Config) {
	c.PushPullInterval = 5 * time.Second
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 2
	c.SuspicionMaxTimeoutMult = 2
	c.GossipInterval = 50 * time.Millisecond
	c.TCPTimeout = 2 * time.Second
}

// TestGossipSmoke runs RunGossip with N=5 on loopback and checks that
// every measurement is present and consistent, then that the table, the
// JSON and the SVG render it.
func TestGossipSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 5 memberlist nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := RunGossip(ctx, GossipOptions{Sizes: []int{5}, Window: time.Second, Timeout: 20 * time.Second, Memberlist: fastGossipTiming, Logf: t.Logf})
	if err != nil {
		t.Fatalf("RunGossip: %v", err)
	}
	if len(rows) != 1 {
		t.Fatalf("unexpected rows:\n- want: 1\n-  got: %d", len(rows))
	}
	r := rows[0]
	t.Logf("%+v", r)
	checks := []struct {
		what string
		ok   bool
	}{
		{"N is 5", r.N == 5},
		{"join time measured", r.JoinMS > 0},
		{"0 < install 50% <= 99% <= 100%", 0 < r.Install50MS && r.Install50MS <= r.Install99MS && r.Install99MS <= r.Install100MS},
		{"purge time measured", r.PurgeMS > 0},
		{"members send gossip", r.BytesPerNodePerSec > 0},
		{"no error", r.Error == ""},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("unexpected row: want %s, got %+v", c.what, r)
		}
	}

	var table bytes.Buffer
	if err := WriteGossipTable(&table, rows); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(table.String()), "\n"); len(lines) != 2 || !strings.Contains(lines[0], "install 99%") {
		t.Errorf("unexpected table:\n%s", table.String())
	}
	dir := t.TempDir()
	if err := WriteGossipFiles(dir, &GossipResults{Command: "test", Rows: rows}); err != nil {
		t.Fatal(err)
	}
	var back GossipResults
	b, err := os.ReadFile(filepath.Join(dir, "gossip.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rows, back.Rows); diff != "" {
		t.Errorf("unexpected gossip.json rows (-want +got):\n%s", diff)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "gossip.svg"))
	if err != nil {
		t.Fatal(err)
	}
	checkSVG(t, svg, 4) // four series, one point each
}

// checkSVG parses svg as XML and counts the data points (circles).
func checkSVG(t *testing.T, svg []byte, wantPoints int) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	points := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG is not well-formed XML: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "circle" {
			points++
		}
	}
	if points != wantPoints {
		t.Errorf("unexpected SVG data points:\n- want: %d\n-  got: %d", wantPoints, points)
	}
}

// TestWriteGossipSVGSkipsMissing: a size that failed before its purge
// draws no purge point, and values outside the axis are clamped, not
// dropped.
func TestWriteGossipSVGSkipsMissing(t *testing.T) {
	rows := []GossipRow{
		{N: 10, Install50MS: 100, Install99MS: 200, Install100MS: 300, PurgeMS: 5000},
		{N: 200, Install50MS: 1, Install99MS: 2e6, Install100MS: 3e6, Error: "purge everywhere: timeout"},
	}
	var b bytes.Buffer
	if err := WriteGossipSVG(&b, rows); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, b.Bytes(), 7)
}
