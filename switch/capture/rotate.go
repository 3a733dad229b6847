package capture

import (
	"errors"
	"fmt"
	"os"
)

// RotatingWriter writes pcapng to a file and rotates it: when the file
// reaches its size limit it is closed and renamed PATH.1 (PATH.1 becomes
// PATH.2, and so on; the oldest beyond keep is deleted), and a new PATH
// with its own section and interface blocks is started. Each file is a
// complete pcapng file. It is not safe for concurrent use.
type RotatingWriter struct {
	path    string
	size    int64
	keep    int
	snaplen int

	f   *os.File
	cw  *countWriter
	ngw *PcapNGWriter
}

// NewRotatingWriter creates (truncates) path and returns a writer that
// rotates it at size bytes (at least 64 KiB), keeping keep files in all
// (the current one included; at least 1).
func NewRotatingWriter(path string, size int64, keep, snaplen int) (*RotatingWriter, error) {
	if path == "" {
		return nil, errors.New("capture: rotating capture needs a file path")
	}
	size = max(size, 64<<10)
	keep = max(keep, 1)
	rw := &RotatingWriter{path: path, size: size, keep: keep, snaplen: snaplen}
	if err := rw.open(); err != nil {
		return nil, err
	}
	return rw, nil
}

type countWriter struct {
	f *os.File
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.f.Write(b)
	c.n += int64(n)
	return n, err
}

func (rw *RotatingWriter) open() error {
	f, err := os.OpenFile(rw.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	rw.f = f
	rw.cw = &countWriter{f: f}
	rw.ngw, err = NewPcapNGWriter(rw.cw, rw.snaplen)
	return err
}

// WritePacket writes p, rotating first if the current file is full.
func (rw *RotatingWriter) WritePacket(p *Packet) error {
	if rw.cw.n+int64(rw.ngw.w.Buffered()) >= rw.size {
		if err := rw.rotate(); err != nil {
			return err
		}
	}
	return rw.ngw.WritePacket(p)
}

func (rw *RotatingWriter) rotate() error {
	if err := rw.Close(); err != nil {
		return err
	}
	for i := rw.keep - 1; i >= 1; i-- {
		src := rw.path
		if i > 1 {
			src = fmt.Sprintf("%s.%d", rw.path, i-1)
		}
		if err := os.Rename(src, fmt.Sprintf("%s.%d", rw.path, i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("capture: rotate: %w", err)
		}
	}
	if rw.keep == 1 {
		_ = os.Remove(rw.path)
	}
	return rw.open()
}

// Flush writes buffered blocks to the file.
func (rw *RotatingWriter) Flush() error { return rw.ngw.Flush() }

// Close flushes and closes the current file.
func (rw *RotatingWriter) Close() error {
	err := rw.ngw.Flush()
	if cerr := rw.f.Close(); err == nil {
		err = cerr
	}
	return err
}
