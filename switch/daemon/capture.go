package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/switch/capture"
)

// CaptureConfig is the "capture" key of the config file: a rotating
// pcapng capture the daemon writes on its own, for intermittent problems.
//
//	capture:
//	  file: /var/log/vxswitch/vx.pcapng
//	  size: 64MiB       # rotate at this size (default 64MiB)
//	  keep: 5           # files kept, the current one included (default 5)
//	  filter: "not arp" # capture.ParseFilter expression (default: all)
//
// An empty File disables it.
type CaptureConfig struct {
	File   string   `yaml:"file"`
	Size   ByteSize `yaml:"size"`
	Keep   int      `yaml:"keep"`
	Filter string   `yaml:"filter"`
}

// ByteSize is a size in bytes that YAML may write as a number or with a
// unit: 64MiB, 1GiB, 512KiB, 10MB, 1500B.
type ByteSize int64

// UnmarshalText implements encoding.TextUnmarshaler (yaml.v3 uses it for
// scalars).
func (b *ByteSize) UnmarshalText(text []byte) error {
	n, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = n
	return nil
}

// ParseByteSize parses "64MiB" and friends (binary KiB/MiB/GiB, decimal
// KB/MB/GB, B or no unit for bytes).
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a size like 64MiB", s)
	}
	return ByteSize(n * mult), nil
}

// Defaults of the rotating capture.
const (
	defaultCaptureSize = 64 << 20
	defaultCaptureKeep = 5
)

// startCapture starts the rotating capture cfg describes on sw and returns
// the function that stops it (flushing and closing the file). With no
// File it does nothing.
func startCapture(sw *vswitch.Switch, cfg CaptureConfig, log *slog.Logger) (stop func(), err error) {
	if cfg.File == "" {
		return func() {}, nil
	}
	f, err := capture.ParseFilter(cfg.Filter)
	if err != nil {
		return nil, fmt.Errorf("capture.filter: %w", err)
	}
	size, keep := int64(cfg.Size), cfg.Keep
	if size == 0 {
		size = defaultCaptureSize
	}
	if keep == 0 {
		keep = defaultCaptureKeep
	}
	rw, err := capture.NewRotatingWriter(cfg.File, size, keep, 0)
	if err != nil {
		return nil, fmt.Errorf("capture.file: %w", err)
	}
	sess, err := sw.Capture().Start(capture.Config{Filter: f})
	if err != nil {
		rw.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, err := sess.Copy(ctx, rw, 0)
		if err != nil {
			log.Error("rotating capture stopped", "file", cfg.File, "err", err)
		}
		log.Info("rotating capture finished", "file", cfg.File, "packets", n, "lost", sess.Stats().Lost)
	}()
	log.Info("rotating capture started", "file", cfg.File, "size", size, "keep", keep, "filter", cfg.Filter)
	return func() {
		sess.Close()
		wg.Wait()
		cancel()
		rw.Close()
	}, nil
}
