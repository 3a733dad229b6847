package api_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/switch/api"
	"github.com/vxswitch/vxswitch/switch/api/apitest"
)

func TestSocketMode(t *testing.T) {
	env := apitest.New(t, fdb.Config{})
	fi, err := os.Lstat(env.Socket)
	if err != nil {
		t.Fatalf("stat socket: %v", err)
	}
	if got := fi.Mode().Type(); got != os.ModeSocket {
		t.Errorf("unexpected file type:\n- want: %v\n-  got: %v", os.ModeSocket, got)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("unexpected socket mode:\n- want: %v\n-  got: %v", os.FileMode(0o600), got)
	}
	di, err := os.Stat(filepath.Dir(env.Socket))
	if err != nil {
		t.Fatalf("stat socket dir: %v", err)
	}
	if got := di.Mode().Perm(); got != 0o755 {
		t.Errorf("unexpected directory mode:\n- want: %v\n-  got: %v", os.FileMode(0o755), got)
	}
}

func TestListenRefusesLiveServer(t *testing.T) {
	env := apitest.New(t, fdb.Config{})
	ln, err := api.Listen(env.Socket)
	if err == nil {
		ln.Close()
		t.Fatal("Listen on a live server's socket succeeded")
	}
	if !errors.Is(err, api.ErrAlreadyRunning) || !strings.Contains(err.Error(), "another vxswitchd is running on "+env.Socket) {
		t.Errorf("unexpected error:\n- want: another vxswitchd is running on %s\n-  got: %v", env.Socket, err)
	}
	// The live server still answers.
	if _, err := env.Client.Status(ctx(t)); err != nil {
		t.Errorf("server broken by the refused Listen: %v", err)
	}
}

func TestListenStale(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr string // "" means Listen must succeed
	}{
		{name: "nothing there", prepare: func(*testing.T, string) {}},
		{name: "stale socket", prepare: func(t *testing.T, path string) {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
			ln.Close() // the file stays, nothing answers: a crashed daemon
			if _, err := os.Lstat(path); err != nil {
				t.Fatalf("stale socket not left behind: %v", err)
			}
		}},
		{name: "regular file", prepare: func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "exists and is not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vx.sock")
			tt.prepare(t, path)
			ln, err := api.Listen(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("unexpected error:\n- want: …%s…\n-  got: %v", tt.wantErr, err)
				}
				if ln != nil {
					ln.Close()
				}
				if b, _ := os.ReadFile(path); string(b) != "keep me" {
					t.Errorf("Listen touched a file that is not a socket: %q", b)
				}
				return
			}
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Errorf("dial the new socket: %v", err)
			} else {
				c.Close()
			}
			ln.Close()
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("unexpected socket file after Close:\n- want: removed\n-  got: %v", err)
			}
		})
	}
}

func TestClientUnreachable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.sock")
	_, err := api.NewClient(path).Status(ctx(t))
	want := "cannot reach vxswitchd at " + path + ": is it running? ("
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("unexpected error:\n- want: %s…\n-  got: %v", want, err)
	}
}
