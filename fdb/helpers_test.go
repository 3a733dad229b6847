package fdb

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vxswitch/vxswitch/encap"
)

// fakeClock is a concurrency-safe clock the tests advance by hand.
type fakeClock struct{ ns atomic.Int64 }

var epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func newFakeClock() *fakeClock {
	c := new(fakeClock)
	c.ns.Store(epoch.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// newTestTable returns a table on a fake clock with the given ageing and
// cap (0 means the defaults).
func newTestTable(ageing time.Duration, maxLearned int) (*Table, *fakeClock) {
	c := newFakeClock()
	return New(Config{Ageing: ageing, MaxLearnedPerVNI: maxLearned, Now: c.Now}), c
}

// Underlay addresses come from the documentation ranges only.
var (
	remoteA = netip.MustParseAddr("192.0.2.1")
	remoteB = netip.MustParseAddr("198.51.100.2")
	remoteC = netip.MustParseAddr("2001:db8::3")
)

func mac(s string) encap.MAC { return encap.MustParseMAC(s) }

// macN returns the locally administered unicast MAC 02:00:00:00:hi:lo.
func macN(n int) encap.MAC { return encap.MAC{0x02, 0, 0, 0, byte(n >> 8), byte(n)} }

// cmpOpts lets cmp compare netip.Addr (unexported fields) with ==. Times
// are compared by cmp with their Equal method, so the location the table
// rebuilds them in does not matter.
var cmpOpts = []cmp.Option{cmp.Comparer(func(a, b netip.Addr) bool { return a == b })}

func mustAdd(t *testing.T, tb *Table, e Entry) {
	t.Helper()
	if err := tb.Add(e); err != nil {
		t.Fatalf("Add(%v): %v", e, err)
	}
}
