package capture

import (
	"bufio"
	"fmt"
	"io"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// PcapWriter writes captured packets as a classic pcap stream
// (LINKTYPE_ETHERNET, nanosecond timestamps) with gopacket's pcapgo.Writer.
// The format has no room for comments, direction or capture points: use
// pcapng for those. It is not safe for concurrent use.
type PcapWriter struct {
	w     *bufio.Writer
	under io.Writer
	pw    *pcapgo.Writer
}

// NewPcapWriter writes the file header to w (buffered until the first
// Flush) and returns the writer. snaplen 0 means DefaultSnaplen.
func NewPcapWriter(w io.Writer, snaplen int) (*PcapWriter, error) {
	if snaplen <= 0 {
		snaplen = DefaultSnaplen
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(uint32(snaplen), layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	return &PcapWriter{w: bw, under: w, pw: pw}, nil
}

// WritePacket writes one record.
func (pw *PcapWriter) WritePacket(p *Packet) error {
	return pw.pw.WritePacket(gopacket.CaptureInfo{
		Timestamp:     p.Time,
		CaptureLength: len(p.Data),
		Length:        p.Length,
	}, p.Data)
}

// Flush writes buffered records to the underlying writer (and flushes it
// when it is an http.Flusher).
func (pw *PcapWriter) Flush() error { return flush(pw.w, pw.under) }

// Format is an output format.
type Format string

// Formats.
const (
	FormatPcapNG Format = "pcapng"
	FormatPcap   Format = "pcap"
)

// ParseFormat accepts "pcapng" (or "") and "pcap".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "pcapng":
		return FormatPcapNG, nil
	case "pcap":
		return FormatPcap, nil
	}
	return "", fmt.Errorf("capture: unknown format %q (want pcapng or pcap)", s)
}

// NewWriter returns a writer of format f on w.
func NewWriter(f Format, w io.Writer, snaplen int) (Writer, error) {
	if f == FormatPcap {
		return NewPcapWriter(w, snaplen)
	}
	return NewPcapNGWriter(w, snaplen)
}

// statsText renders st as "N packets captured, M lost".
func statsText(st Stats) string {
	return fmt.Sprintf("%d packets captured, %d lost", st.Captured, st.Lost)
}

// String renders st as "N packets captured, M lost".
func (st Stats) String() string { return statsText(st) }
