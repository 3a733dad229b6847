package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vxswitch/vxswitch/switch/api"
)

// stateVersion is the format version of the state file; a file with
// another version is refused rather than misread.
const stateVersion = 1

// State is what the daemon persists about the Pod ports it owns, so that a
// restarted daemon re-adopts them (their TAPs are persistent and outlive
// the process).
type State struct {
	Version     int              `json:"version"`
	Attachments []api.Attachment `json:"attachments"`
}

// StatePath returns the state file of the daemon whose API socket is
// apiSocket, in dir (the directory of apiSocket when dir is empty). The
// file is named after the socket ("vxswitchd.sock" → "vxswitchd.state.json"),
// so several daemons sharing a directory (the lab) keep separate states.
func StatePath(dir, apiSocket string) string {
	if dir == "" {
		dir = filepath.Dir(apiSocket)
	}
	base := strings.TrimSuffix(filepath.Base(apiSocket), ".sock")
	return filepath.Join(dir, base+".state.json")
}

// LoadState reads the state file at path. A missing file is an empty state.
func LoadState(path string) (State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return State{Version: stateVersion}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("state %s: %w (move the file away to start without re-adopting Pod ports)", path, err)
	}
	if s.Version != stateVersion {
		return State{}, fmt.Errorf("state %s: version %d, this daemon reads version %d", path, s.Version, stateVersion)
	}
	return s, nil
}

// SaveState writes s to path atomically (a temporary file renamed over
// the old one), creating the directory if needed.
func SaveState(path string, s State) error {
	s.Version = stateVersion
	if s.Attachments == nil {
		s.Attachments = []api.Attachment{}
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("state: write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("state: %w", err)
	}
	return nil
}
