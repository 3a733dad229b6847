// Package testutil holds helpers shared by the privileged tests: root
// checks and throwaway network namespaces that clean up after themselves.
package testutil

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/vxswitch/vxswitch/internal/netns"
)

// RequireRoot skips the test unless it runs as root. Privileged tests are
// named TestPrivileged… so `go test -run Privileged` selects them.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping privileged test: needs root (network namespaces, TAP devices)")
	}
}

var nsSeq atomic.Uint32

// UniqueName returns a short name unique to this process and call, usable
// for namespaces and links (at most 15 bytes for link names when prefix is
// at most 5 bytes).
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s%d%03d", prefix, os.Getpid()%100000, nsSeq.Add(1)%1000)
}

// NewNS creates a network namespace that is deleted when the test ends,
// also when it fails. It calls RequireRoot first.
func NewNS(t testing.TB) *netns.NS {
	t.Helper()
	RequireRoot(t)
	ns, err := netns.Create(UniqueName("vxt"))
	if err != nil {
		t.Fatalf("create netns: %v", err)
	}
	t.Cleanup(func() {
		if err := ns.Delete(); err != nil {
			t.Errorf("delete netns: %v", err)
		}
	})
	return ns
}
