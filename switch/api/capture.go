package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vxswitch/vxswitch/switch/capture"
)

// Trailers of a GET /v1/capture response: how many packets the stream
// holds and how many the capture lost because the reader was too slow.
const (
	TrailerCaptured = "Vxswitch-Captured"
	TrailerLost     = "Vxswitch-Lost"
)

// CaptureHandler serves GET /v1/capture on hub: it starts a capture
// session and streams it (chunked) as pcapng or pcap until count packets,
// the duration, or the client going away, then reports the packets
// written and lost in the trailers TrailerCaptured and TrailerLost (and in
// a final log line). Query parameters, all optional:
//
//	point=port-in,port-out,underlay-in,underlay-out,drop  (repeatable; default all)
//	port=NAME        (repeatable) only these ports' port-in/port-out
//	vni=N            only VNI N
//	filter=EXPR      a capture.ParseFilter expression
//	snaplen=N count=N duration=10s format=pcapng|pcap buffer=N
//
// Mount it with Server.Handle("/v1/capture", ...). It is safe for
// concurrent requests; each runs its own session.
func CaptureHandler(hub *capture.Hub, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s /v1/capture: only GET is allowed", r.Method))
			return
		}
		q, err := parseCaptureQuery(r.URL.Query())
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		sess, err := hub.Start(q.cfg)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		defer sess.Close()
		// A capture outlives the server's read timeout: lift the deadlines
		// so the stream is not cut (errors mean "not supported": ignore).
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})

		ctype := "application/x-pcapng"
		if q.format == capture.FormatPcap {
			ctype = "application/vnd.tcpdump.pcap"
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Trailer", TrailerCaptured+", "+TrailerLost)
		w.WriteHeader(http.StatusOK)
		cw, err := capture.NewWriter(q.format, w, sess.Snaplen())
		if err == nil {
			err = cw.Flush()
		}
		ctx := r.Context()
		if q.duration > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, q.duration)
			defer cancel()
		}
		n := 0
		if err == nil {
			n, err = sess.Copy(ctx, cw, q.count)
		}
		sess.Close()
		st := capture.Stats{Captured: uint64(n), Lost: sess.Stats().Lost}
		if ng, ok := cw.(*capture.PcapNGWriter); ok && err == nil {
			if err = ng.WriteStats(st); err == nil {
				err = ng.Flush()
			}
		}
		w.Header().Set(TrailerCaptured, strconv.FormatUint(st.Captured, 10))
		w.Header().Set(TrailerLost, strconv.FormatUint(st.Lost, 10))
		logger.Info("capture finished", "packets", st.Captured, "lost", st.Lost, "filter", q.cfg.Filter.String(), "err", err)
	})
}

type captureQuery struct {
	cfg      capture.Config
	format   capture.Format
	count    int
	duration time.Duration
}

// splitList returns the comma-separated values of every occurrence of key.
func splitList(v url.Values, key string) []string {
	var out []string
	for _, s := range v[key] {
		for _, f := range strings.Split(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

func parseCaptureQuery(v url.Values) (captureQuery, error) {
	var q captureQuery
	for _, s := range splitList(v, "point") {
		p, err := capture.ParsePoint(s)
		if err != nil {
			return q, err
		}
		q.cfg.Points |= capture.Points(p)
	}
	q.cfg.Ports = splitList(v, "port")
	if s := v.Get("vni"); s != "" {
		vni, err := parseVNI(s)
		if err != nil {
			return q, err
		}
		q.cfg.VNI, q.cfg.MatchVNI = vni, true
	}
	f, err := capture.ParseFilter(v.Get("filter"))
	if err != nil {
		return q, err
	}
	q.cfg.Filter = f
	ints := []struct {
		key string
		dst *int
	}{{"snaplen", &q.cfg.Snaplen}, {"count", &q.count}, {"buffer", &q.cfg.Buffer}}
	for _, it := range ints {
		if s := v.Get(it.key); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return q, fmt.Errorf("%s %q: want a number >= 0", it.key, s)
			}
			*it.dst = n
		}
	}
	if s := v.Get("duration"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return q, fmt.Errorf("duration %q: want a duration like 10s", s)
		}
		q.duration = d
	}
	q.format, err = capture.ParseFormat(v.Get("format"))
	return q, err
}

// CaptureQuery is what Client.Capture asks for; see CaptureHandler for the
// meaning of each field. Zero fields are left out of the request.
type CaptureQuery struct {
	Points   []string // capture point names; empty: all
	Ports    []string
	VNI      uint32
	MatchVNI bool
	Filter   string
	Snaplen  int
	Count    int
	Duration time.Duration
	Format   string // "pcapng" (default) or "pcap"
	Buffer   int
}

// Values encodes q as the request's query parameters.
func (q CaptureQuery) Values() url.Values {
	v := url.Values{}
	if len(q.Points) > 0 {
		v.Set("point", strings.Join(q.Points, ","))
	}
	for _, p := range q.Ports {
		v.Add("port", p)
	}
	if q.MatchVNI {
		v.Set("vni", strconv.FormatUint(uint64(q.VNI), 10))
	}
	if q.Filter != "" {
		v.Set("filter", q.Filter)
	}
	for k, n := range map[string]int{"snaplen": q.Snaplen, "count": q.Count, "buffer": q.Buffer} {
		if n > 0 {
			v.Set(k, strconv.Itoa(n))
		}
	}
	if q.Duration > 0 {
		v.Set("duration", q.Duration.String())
	}
	if q.Format != "" {
		v.Set("format", q.Format)
	}
	return v
}

// CaptureResult is what a finished capture reports.
type CaptureResult struct {
	Captured uint64 // packets in the stream
	Lost     uint64 // packets the capture lost (slow reader)
}

// Capture runs a capture on the daemon and copies the stream to out until
// the daemon ends it (count, duration) or ctx is done; the end of ctx is
// not an error. It is not bounded by DefaultTimeout. The result comes from
// the response trailers; if the stream was cut before them, Captured is
// unknown and Lost is 0.
func (c *Client) Capture(ctx context.Context, q CaptureQuery, out io.Writer) (CaptureResult, error) {
	var res CaptureResult
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://vxswitchd/v1/capture?"+q.Values().Encode(), nil)
	if err != nil {
		return res, fmt.Errorf("api: %w", err)
	}
	hc := &http.Client{Transport: c.hc.Transport} // no overall timeout: a capture streams
	resp, err := hc.Do(req)
	if err != nil {
		return res, fmt.Errorf("cannot reach vxswitchd at %s: %w", c.path, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return res, responseError(resp, data, "GET /v1/capture")
	}
	_, err = io.Copy(out, resp.Body)
	if err != nil && ctx.Err() == nil {
		return res, fmt.Errorf("capture stream: %w", err)
	}
	res.Captured, _ = strconv.ParseUint(resp.Trailer.Get(TrailerCaptured), 10, 64)
	res.Lost, _ = strconv.ParseUint(resp.Trailer.Get(TrailerLost), 10, 64)
	return res, nil
}

// responseError turns a non-200 response into an *Error.
func responseError(resp *http.Response, data []byte, what string) error {
	var eb errorBody
	if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
		eb.Error = fmt.Sprintf("%s: %s", what, resp.Status)
	}
	return &Error{StatusCode: resp.StatusCode, Message: eb.Error}
}
