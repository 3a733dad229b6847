package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/vxswitch/vxswitch/encap"
)

// DefaultTimeout bounds each Client request, connection included.
const DefaultTimeout = 10 * time.Second

// Error is an error response from the server. Message is the server's
// explanation, meant for people; StatusCode is the HTTP status (400, 404,
// 405, 409, 500).
type Error struct {
	StatusCode int
	Message    string
}

// Error returns the server's message.
func (e *Error) Error() string { return e.Message }

// IsNotFound reports whether err is a 404 from the server (no such entry,
// port or VNI).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// Client talks to vxswitchd's management API over its unix socket. A
// Client is safe for concurrent use and keeps connections open between
// calls; it holds no other resources.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client for the API socket at socketPath. It does not
// connect until the first call. Each call is bounded by DefaultTimeout and
// by its context.
func NewClient(socketPath string) *Client {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socketPath)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{path: socketPath, hc: &http.Client{Transport: tr, Timeout: DefaultTimeout}}
}

// SocketPath returns the socket the client connects to.
func (c *Client) SocketPath() string { return c.path }

// FDB returns the forwarding database entries of vni, or of every VNI when
// all is true, sorted by (VNI, MAC).
func (c *Client) FDB(ctx context.Context, vni uint32, all bool) ([]FDBEntry, error) {
	var out []FDBEntry
	err := c.do(ctx, http.MethodGet, "/v1/fdb"+vniQuery(vni, all), nil, &out)
	if out == nil && err == nil {
		out = []FDBEntry{}
	}
	return out, err
}

// AddFDB adds a static entry (or replaces a static or learned one) and
// returns it as stored.
func (c *Client) AddFDB(ctx context.Context, req FDBRequest) (FDBEntry, error) {
	var out FDBEntry
	err := c.do(ctx, http.MethodPost, "/v1/fdb", req, &out)
	return out, err
}

// DelFDB deletes the entry for mac in vni. Entries of local ports and of
// other cluster nodes cannot be deleted (409).
func (c *Client) DelFDB(ctx context.Context, vni uint32, mac encap.MAC) error {
	q := url.Values{"vni": {strconv.FormatUint(uint64(vni), 10)}, "mac": {mac.String()}}
	return c.do(ctx, http.MethodDelete, "/v1/fdb?"+q.Encode(), nil, nil)
}

// Flood returns the flood list of vni, or of every VNI (served or with a
// list) when all is true.
func (c *Client) Flood(ctx context.Context, vni uint32, all bool) ([]FloodList, error) {
	var out []FloodList
	err := c.do(ctx, http.MethodGet, "/v1/flood"+vniQuery(vni, all), nil, &out)
	if out == nil && err == nil {
		out = []FloodList{}
	}
	return out, err
}

// AddFlood adds remote to vni's flood list (no-op if present) and returns
// the resulting list.
func (c *Client) AddFlood(ctx context.Context, vni uint32, remote netip.Addr) (FloodList, error) {
	var out FloodList
	err := c.do(ctx, http.MethodPost, "/v1/flood", FloodRequest{VNI: vni, Remote: remote}, &out)
	return out, err
}

// DelFlood removes remote from vni's flood list.
func (c *Client) DelFlood(ctx context.Context, vni uint32, remote netip.Addr) error {
	q := url.Values{"vni": {strconv.FormatUint(uint64(vni), 10)}, "remote": {remote.String()}}
	return c.do(ctx, http.MethodDelete, "/v1/flood?"+q.Encode(), nil, nil)
}

// Ports returns the attached ports with their counters, ordered by port ID.
func (c *Client) Ports(ctx context.Context) ([]PortInfo, error) {
	var out []PortInfo
	err := c.do(ctx, http.MethodGet, "/v1/ports", nil, &out)
	if out == nil && err == nil {
		out = []PortInfo{}
	}
	return out, err
}

// Stats returns the switch's and the FDB's counters.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var out Stats
	err := c.do(ctx, http.MethodGet, "/v1/stats", nil, &out)
	return out, err
}

// Status returns the daemon's version, uptime, underlay address, port and
// served VNIs.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var out Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &out)
	return out, err
}

// Settings returns what can be changed while the daemon runs (GET
// /v1/settings).
func (c *Client) Settings(ctx context.Context) (Settings, error) {
	var st Settings
	err := c.do(ctx, http.MethodGet, "/v1/settings", nil, &st)
	return st, err
}

// UpdateSettings changes the settings u sets and returns them all (PATCH
// /v1/settings).
func (c *Client) UpdateSettings(ctx context.Context, u SettingsUpdate) (Settings, error) {
	var st Settings
	err := c.do(ctx, http.MethodPatch, "/v1/settings", u, &st)
	return st, err
}

func vniQuery(vni uint32, all bool) string {
	if all {
		return ""
	}
	return "?vni=" + strconv.FormatUint(uint64(vni), 10)
}

// do sends one request. in is marshalled as JSON unless nil (a
// json.RawMessage is sent as is); a 2xx response body is decoded into out
// unless out is nil. A non-2xx response becomes an *Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://vxswitchd"+path, body)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("cannot reach vxswitchd at %s: is it running? (%v)", c.path, op.Err)
		}
		return fmt.Errorf("vxswitchd at %s: %s %s: %w", c.path, method, path, unwrapURL(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("vxswitchd at %s: read response: %w", c.path, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		return &Error{StatusCode: resp.StatusCode, Message: eb.Error}
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("vxswitchd at %s: decode %s response: %w", c.path, path, err)
	}
	return nil
}

// unwrapURL drops the *url.Error wrapper, whose text repeats the fake URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
