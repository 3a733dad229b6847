package main

import (
	"os"
	"testing"

	"github.com/vxswitch/vxswitch/switch/daemon"
)

// daemonEnv makes the test binary run as vxswitchd: the end-to-end tests
// start it again (in a lab namespace) with this variable set to "1", so
// they exercise exactly the code they were built with and need no separate
// `go build`.
const daemonEnv = "VXSWITCHD_TEST_DAEMON"

func TestMain(m *testing.M) {
	if os.Getenv(daemonEnv) == "1" {
		os.Exit(daemon.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
