package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/capture"
)

func TestCaptureCommand(t *testing.T) {
	var hub capture.Hub
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.CaptureHandler(&hub, nil)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	var stderr bytes.Buffer
	captureStderr = &stderr
	t.Cleanup(func() { captureStderr = os.Stderr })
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"file", []string{"capture", "--drops", "-c", "2", "-w", filepath.Join(dir, "x.pcapng")}, 0, "2 packets captured, 0 lost"},
		{"stdout pcap", []string{"capture", "--port", "tap0", "--vni", "42", "-c", "1", "--format", "pcap", "-w", "-"}, 0, "1 packets captured, 0 lost"},
		{"no -w", []string{"capture", "-c", "1"}, 2, ""},
		{"bad filter", []string{"capture", "--filter", "icmp or", "-w", "-"}, 2, ""},
		{"bad format", []string{"capture", "--format", "json", "-w", "-"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr.Reset()
			var stdout, errOut bytes.Buffer
			done := make(chan int)
			go func() {
				done <- run(context.Background(), append([]string{"--api", sock}, tt.args...), &stdout, &errOut, func(string) string { return "" })
			}()
			var code int
		feed:
			for {
				select {
				case code = <-done:
					break feed
				case <-time.After(time.Millisecond):
					hub.Capture(&capture.Meta{Point: capture.Drop, VNI: 42}, make([]byte, 60))
					hub.Capture(&capture.Meta{Point: capture.PortIn, Port: "tap0", VNI: 42}, make([]byte, 60))
				}
			}
			if code != tt.wantCode {
				t.Fatalf("unexpected exit code:\n- want: %d\n-  got: %d (%s)", tt.wantCode, code, errOut.String())
			}
			if got := strings.TrimSpace(stderr.String()); got != tt.wantErr {
				t.Fatalf("unexpected summary:\n- want: %q\n-  got: %q", tt.wantErr, got)
			}
			if tt.name == "stdout pcap" && (stdout.Len() < 24 || stdout.Bytes()[0] != 0x4d) {
				t.Fatalf("unexpected stdout: %x", stdout.Bytes()[:min(24, stdout.Len())])
			}
		})
	}
}
