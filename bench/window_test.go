package bench

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestWindowCap: a window above net.core.rmem_max is reported as capped,
// one at or below it (or none, or one that cannot be parsed) is not.
func TestWindowCap(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skipf("no rmem_max to compare with: %v", err)
	}
	max, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		window string
		capped bool
	}{
		{"0", false},
		{"", false},
		{strconv.FormatInt(max, 10), false},
		{strconv.FormatInt(max+1, 10), true},
		{strconv.FormatInt(max/1024, 10) + "K", false},
		{strconv.FormatInt(max/1024+1, 10) + "K", true},
		{"64G", true},
		{"bogus", false},
	}
	for _, tt := range tests {
		got := windowCap(tt.window)
		if (got != "") != tt.capped {
			t.Errorf("windowCap(%q) with rmem_max %d:\n- want: capped %v\n-  got: %q", tt.window, max, tt.capped, got)
		}
		if tt.capped && !strings.Contains(got, strconv.FormatInt(max, 10)) {
			t.Errorf("windowCap(%q) = %q, which does not name rmem_max %d", tt.window, got, max)
		}
	}
}

// TestOptionsDefaultWindow: the 64-byte trials ask for the default window
// unless told otherwise.
func TestOptionsDefaultWindow(t *testing.T) {
	if got := (Options{}).withDefaults().PPSWindow; got != DefaultPPSWindow {
		t.Errorf("unexpected default PPSWindow:\n- want: %q\n-  got: %q", DefaultPPSWindow, got)
	}
	if got := (Options{PPSWindow: "0"}).withDefaults().PPSWindow; got != "0" {
		t.Errorf("unexpected PPSWindow for \"0\":\n- want: \"0\"\n-  got: %q", got)
	}
}
