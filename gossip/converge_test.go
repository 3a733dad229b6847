package gossip

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vxswitch/vxswitch/fdb"
)

// TestConvergence measures, in-process on loopback, how long a new entry
// on one node takes to be installed on the others (p50, p99, max over the
// nodes) and how long a killed node takes to be purged everywhere: N = 10
// with memberlist's LAN timing (what vxswitchd runs) and N = 10 and 50 with
// the tests' fast timing. It logs the numbers; its assertions are only that
// everything converges. Larger clusters at LAN timing are measured by
// `vxbench --gossip`, not here: on a loaded 2-core CI machine their
// membership alone has taken over a minute to settle (lost UDP gossip is
// repaired only by push/pull, which memberlist spaces out as N grows).
// Skipped with -short.
func TestConvergence(t *testing.T) {
	if testing.Short() {
		t.Skip("convergence measurement skipped in -short mode")
	}
	profiles := []struct {
		name  string
		tune  func(*memberlist.Config)
		lan   bool
		sizes []int
	}{
		{name: "lan", lan: true, tune: func(c *memberlist.Config) {}, sizes: []int{10}},
		{name: "fast", tune: fastTiming, sizes: []int{10, 50}},
	}
	for _, prof := range profiles {
		for _, n := range prof.sizes {
			t.Run(fmt.Sprintf("%s/N=%d", prof.name, n), func(t *testing.T) {
				measureConvergence(t, n, prof.lan, prof.tune)
			})
		}
	}
}

func measureConvergence(t *testing.T, n int, lan bool, tune func(*memberlist.Config)) {
	opt := func(c *Config) { c.LAN = lan; c.Memberlist = tune; c.RejoinInterval = -1 }
	nodes := make([]*testNode, n)
	for i := range nodes {
		var join []string
		if i > 0 {
			join = []string{nodes[0].Addr()}
		}
		nodes[i] = startNode(t, i, []uint32{testVNI}, join, false, opt)
	}
	waitFor(t, 60*time.Second, "membership", func() string {
		for _, tn := range nodes {
			if got := len(tn.table.Flood(testVNI)); got != n-1 {
				return fmt.Sprintf("%s: flood list of %d, want %d", tn.name, got, n-1)
			}
		}
		return ""
	})

	// Install times via OnChange: no polling error.
	key := fdb.Key{VNI: testVNI, MAC: testMAC(200, 1)}
	var mu sync.Mutex
	installed := map[int]time.Time{}
	for i, tn := range nodes[1:] {
		tn.table.OnChange(func(ev fdb.Event) {
			if ev.Entry.Key == key && ev.Entry.Origin == fdb.OriginGossip {
				mu.Lock()
				if _, ok := installed[i+1]; !ok {
					installed[i+1] = time.Now()
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	addPortMAC(t, nodes[0], key.MAC)
	waitFor(t, 60*time.Second, "install everywhere", func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(installed) != n-1 {
			return fmt.Sprintf("installed on %d of %d nodes", len(installed), n-1)
		}
		return ""
	})
	var ds []time.Duration
	for _, at := range installed {
		ds = append(ds, at.Sub(start))
	}
	p50, p99, pmax := percentiles(ds)
	t.Logf("N=%d install: p50 %s, p99 %s, max %s", n, p50, p99, pmax)

	// Kill the last node and time the purge of its entry everywhere.
	victim := nodes[n-1]
	vkey := fdb.Key{VNI: testVNI, MAC: testMAC(n-1, 0)}
	addPortMAC(t, victim, vkey.MAC)
	waitFor(t, 60*time.Second, "victim's entry everywhere", func() string {
		for _, tn := range nodes[:n-1] {
			if _, ok := tn.table.Get(vkey.VNI, vkey.MAC); !ok {
				return tn.name + " lacks it"
			}
		}
		return ""
	})
	killed := time.Now()
	victim.Shutdown()
	d := waitFor(t, 120*time.Second, "purge everywhere", func() string {
		for _, tn := range nodes[:n-1] {
			if _, ok := tn.table.Get(vkey.VNI, vkey.MAC); ok {
				return tn.name + " still has it"
			}
		}
		return ""
	})
	t.Logf("N=%d kill → purged on all %d others: %s (%s)", n, n-1, d, time.Since(killed))
	var sent uint64
	for _, tn := range nodes {
		sent += tn.Stats().Broadcasts
	}
	t.Logf("N=%d broadcasts queued (own + relayed) per node: %.1f", n, float64(sent)/float64(n))
}

// percentiles returns the p50, p99 and max of ds (nearest rank).
func percentiles(ds []time.Duration) (p50, p99, pmax time.Duration) {
	slices.Sort(ds)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(ds)) + 0.999999)
		return ds[max(0, min(len(ds)-1, i-1))]
	}
	return rank(0.50), rank(0.99), ds[len(ds)-1]
}
