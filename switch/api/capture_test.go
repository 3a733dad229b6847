package api

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/switch/capture"
)

// captureServer serves CaptureHandler(hub) on a unix socket and returns a
// client for it.
func captureServer(t *testing.T, hub *capture.Hub) *Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: CaptureHandler(hub, nil)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return NewClient(path)
}

func TestCaptureStream(t *testing.T) {
	var hub capture.Hub
	c := captureServer(t, &hub)
	tests := []struct {
		name   string
		q      CaptureQuery
		magic  uint32
		wantN  uint64
		points []capture.Point
	}{
		{"pcapng count", CaptureQuery{Count: 3}, 0x0A0D0D0A, 3, []capture.Point{capture.PortIn}},
		{"pcap drops only", CaptureQuery{Count: 2, Format: "pcap", Points: []string{"drop"}}, 0xa1b23c4d, 2, []capture.Point{capture.PortIn, capture.Drop}},
		{"duration", CaptureQuery{Duration: 300 * time.Millisecond, Filter: "vni 9"}, 0x0A0D0D0A, 0, []capture.Point{capture.PortIn}},
	}
	frame := make([]byte, 60)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			done := make(chan struct{})
			var res CaptureResult
			var err error
			go func() {
				res, err = c.Capture(context.Background(), tt.q, &out)
				close(done)
			}()
			for i := 0; ; i++ {
				select {
				case <-done:
				case <-time.After(time.Millisecond):
					for _, p := range tt.points {
						hub.Capture(&capture.Meta{Point: p, Port: "tap0", VNI: 42}, frame)
					}
					continue
				}
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Captured != tt.wantN {
				t.Fatalf("unexpected captured:\n- want: %d\n-  got: %d", tt.wantN, res.Captured)
			}
			if out.Len() < 4 || binary.LittleEndian.Uint32(out.Bytes()) != tt.magic {
				t.Fatalf("unexpected stream start:\n- want: %#x\n-  got: %x", tt.magic, out.Bytes()[:min(8, out.Len())])
			}
		})
	}
	if hub.Active() {
		t.Fatal("unexpected session left running on the hub")
	}
}

func TestCaptureBadRequest(t *testing.T) {
	var hub capture.Hub
	c := captureServer(t, &hub)
	for _, tt := range []struct {
		q    CaptureQuery
		want string
	}{
		{CaptureQuery{Filter: "vni 42 and bogus"}, "at position 11"},
		{CaptureQuery{Points: []string{"sideways"}}, "unknown point"},
		{CaptureQuery{Format: "json"}, "unknown format"},
		{CaptureQuery{Snaplen: 1 << 30}, "snaplen"},
	} {
		_, err := c.Capture(context.Background(), tt.q, &bytes.Buffer{})
		var e *Error
		if err == nil || !strings.Contains(err.Error(), tt.want) || !asError(err, &e) || e.StatusCode != http.StatusBadRequest {
			t.Errorf("unexpected error for %+v:\n- want: 400 containing %q\n-  got: %v", tt.q, tt.want, err)
		}
	}
}

func asError(err error, e **Error) bool {
	x, ok := err.(*Error)
	*e = x
	return ok
}
