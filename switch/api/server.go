package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/switch/tap"
)

// maxBodyBytes bounds request bodies; every valid request is far smaller.
const maxBodyBytes = 64 << 10

// Server serves the management API of one Switch. Its methods are safe for
// concurrent use. The Server does not own the Switch: closing the switch is
// the caller's job, after Shutdown.
type Server struct {
	sw  *vswitch.Switch
	log *slog.Logger
	now func() time.Time // clock for ages and uptime

	// info is what SetInfo last stored; mu protects it.
	mu    sync.Mutex
	info  Info
	paths []string // endpoints served, for the 404 message

	mux *http.ServeMux
	srv *http.Server
}

// NewServer returns a Server for sw that logs changes made through the API
// (and internal errors) to logger; nil discards.
func NewServer(sw *vswitch.Switch, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{sw: sw, log: logger, now: time.Now}
	s.info = Info{Version: "dev", Started: s.now()}
	s.mux = s.newMux()
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return s
}

// SetInfo sets what GET /v1/status reports about the daemon. It may be
// called at any time; a zero Info.Started keeps the previous start time.
func (s *Server) SetInfo(info Info) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if info.Started.IsZero() {
		info.Started = s.info.Started
	}
	s.info = info
}

// Handler returns the API's HTTP handler (every /v1 endpoint; not the
// metrics, see MetricsHandler). It can be mounted on any server, which is
// how the tests and an HTTP/TCP listener would use it.
func (s *Server) Handler() http.Handler { return s.recoverer(s.mux) }

// Handle adds an endpoint served by h under pattern (a http.ServeMux
// pattern, by convention under /v1/), for subsystems that live outside
// this package (gossip peers, capture streams). It is safe to call while
// the server runs; registering a pattern twice panics, as with ServeMux.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.mu.Lock()
	s.paths = append(s.paths, pattern)
	s.mu.Unlock()
}

func (s *Server) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/v1/fdb", methods{
		http.MethodGet:    s.getFDB,
		http.MethodPost:   s.postFDB,
		http.MethodDelete: s.deleteFDB,
	})
	mux.Handle("/v1/flood", methods{
		http.MethodGet:    s.getFlood,
		http.MethodPost:   s.postFlood,
		http.MethodDelete: s.deleteFlood,
	})
	mux.Handle("/v1/ports", methods{http.MethodGet: s.getPorts})
	mux.Handle("/v1/stats", methods{http.MethodGet: s.getStats})
	mux.Handle("/v1/status", methods{http.MethodGet: s.getStatus})
	mux.Handle("/v1/settings", methods{
		http.MethodGet:   s.getSettings,
		http.MethodPatch: s.patchSettings,
	})
	s.paths = []string{"/v1/fdb", "/v1/flood", "/v1/ports", "/v1/settings", "/v1/stats", "/v1/status"}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		paths := strings.Join(s.paths, ", ")
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s: the API serves %s", r.URL.Path, paths))
	})
	return mux
}

// Serve serves the API on ln until Shutdown, then returns nil. Any other
// error from accepting connections is returned. Serve takes ownership of
// ln and closes it.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits, until ctx is done, for
// requests in flight to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}

// methods dispatches a path's handlers by method and answers 405 with an
// Allow header otherwise.
type methods map[string]func(http.ResponseWriter, *http.Request) (int, any, error)

// ServeHTTP implements http.Handler.
func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, ok := m[r.Method]
	if !ok {
		allow := make([]string, 0, len(m))
		for k := range m {
			allow = append(allow, k)
		}
		slices.Sort(allow)
		w.Header()["Allow"] = allow
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %v)", r.Method, r.URL.Path, allow))
		return
	}
	code, body, err := h(w, r)
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{code: http.StatusInternalServerError, msg: err.Error()}
		}
		writeError(w, he.code, he.msg)
		return
	}
	writeJSON(w, code, body)
}

// recoverer turns a panic in a handler into a 500 instead of a dropped
// connection; the panic is logged.
func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("api: handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeError(w, http.StatusInternalServerError, "internal error; see the vxswitchd log")
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// GET /v1/fdb[?vni=N]
func (s *Server) getFDB(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	vni, all, err := optionalVNI(r)
	if err != nil {
		return 0, nil, err
	}
	now := s.now()
	entries := s.sw.FDB().Entries(vni, all)
	out := make([]FDBEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, s.fdbEntry(e, now))
	}
	return http.StatusOK, out, nil
}

func (s *Server) fdbEntry(e fdb.Entry, now time.Time) FDBEntry {
	fe := FDBEntry{VNI: e.VNI, MAC: e.MAC, Origin: e.Origin.String(), Owner: e.Owner}
	if e.Dest.IsLocal() {
		fe.Port = s.sw.PortName(e.Dest.Port)
	} else {
		fe.Remote = e.Dest.Remote
	}
	if !e.Updated.IsZero() {
		age := now.Sub(e.Updated).Seconds()
		fe.AgeSeconds = math.Max(0, math.Round(age*1000)/1000)
	}
	return fe
}

// fdbBody is FDBRequest as decoded: presence and raw text kept so errors
// can name the field.
type fdbBody struct {
	VNI    *uint32 `json:"vni"`
	MAC    string  `json:"mac"`
	Remote string  `json:"remote"`
	Port   string  `json:"port"`
}

// POST /v1/fdb
func (s *Server) postFDB(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	var b fdbBody
	if err := decodeBody(r, &b); err != nil {
		return 0, nil, err
	}
	if b.VNI == nil {
		return 0, nil, badRequest(`missing "vni": want {"vni": N, "mac": "aa:bb:cc:dd:ee:ff", "remote": "IP"} or with "port": "NAME"`)
	}
	vni := *b.VNI
	if err := s.servedVNI(vni); err != nil {
		return 0, nil, err
	}
	mac, err := parseUnicastMAC(b.MAC)
	if err != nil {
		return 0, nil, err
	}
	var dest fdb.Dest
	switch {
	case b.Remote != "" && b.Port != "":
		return 0, nil, badRequest(`give either "remote" or "port", not both`)
	case b.Remote != "":
		a, err := parseRemote(b.Remote)
		if err != nil {
			return 0, nil, err
		}
		dest.Remote = a
	case b.Port != "":
		p, ok := s.sw.Port(b.Port)
		if !ok {
			return 0, nil, notFound(fmt.Sprintf("no port %q attached (see GET /v1/ports)", b.Port))
		}
		if p.VNI() != vni {
			return 0, nil, badRequest(fmt.Sprintf("port %s is in VNI %d, not VNI %d", p.Name(), p.VNI(), vni))
		}
		dest.Port = p.ID()
	default:
		return 0, nil, badRequest(`missing destination: give "remote" (a VTEP address) or "port" (a local port name)`)
	}
	table := s.sw.FDB()
	if old, ok := table.Get(vni, mac); ok {
		if err := s.ownedElsewhere(old, "replace"); err != nil {
			return 0, nil, err
		}
	}
	e := fdb.Entry{Key: fdb.Key{VNI: vni, MAC: mac}, Dest: dest, Origin: fdb.OriginStatic, Updated: s.now()}
	if err := table.Add(e); err != nil {
		return 0, nil, badRequest(err.Error())
	}
	s.log.Info("api: static FDB entry added", "vni", vni, "mac", mac, "dest", s.destString(dest))
	return http.StatusCreated, s.fdbEntry(e, e.Updated), nil
}

// ownedElsewhere refuses to touch entries other parts of the system own:
// a port's own addresses and entries gossiped by another node.
func (s *Server) ownedElsewhere(e fdb.Entry, verb string) error {
	switch e.Origin {
	case fdb.OriginLocal:
		return conflict(fmt.Sprintf("cannot %s %s in VNI %d: it is the address of local port %s; detach the port instead",
			verb, e.MAC, e.VNI, s.destString(e.Dest)))
	case fdb.OriginGossip:
		return conflict(fmt.Sprintf("cannot %s %s in VNI %d: it is announced by cluster node %q; change it on that node",
			verb, e.MAC, e.VNI, e.Owner))
	}
	return nil
}

func (s *Server) destString(d fdb.Dest) string {
	if d.IsLocal() {
		if name := s.sw.PortName(d.Port); name != "" {
			return name
		}
		return fmt.Sprintf("port#%d", d.Port)
	}
	return d.Remote.String()
}

// DELETE /v1/fdb?vni=N&mac=M
func (s *Server) deleteFDB(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	vni, err := parseVNI(q.Get("vni"))
	if err != nil {
		return 0, nil, err
	}
	mac, err := parseMAC(q.Get("mac"))
	if err != nil {
		return 0, nil, err
	}
	table := s.sw.FDB()
	old, ok := table.Get(vni, mac)
	if !ok {
		return 0, nil, notFound(fmt.Sprintf("no FDB entry for %s in VNI %d", mac, vni))
	}
	if err := s.ownedElsewhere(old, "delete"); err != nil {
		return 0, nil, err
	}
	if !table.Delete(vni, mac) {
		return 0, nil, notFound(fmt.Sprintf("no FDB entry for %s in VNI %d", mac, vni))
	}
	s.log.Info("api: FDB entry deleted", "vni", vni, "mac", mac, "origin", old.Origin.String())
	return http.StatusNoContent, nil, nil
}

// GET /v1/flood[?vni=N]
func (s *Server) getFlood(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	vni, all, err := optionalVNI(r)
	if err != nil {
		return 0, nil, err
	}
	table := s.sw.FDB()
	if !all {
		return http.StatusOK, []FloodList{floodList(vni, table.Flood(vni))}, nil
	}
	lists := table.FloodLists()
	vnis := s.sw.VNIs()
	for v := range lists {
		if !slices.Contains(vnis, v) {
			vnis = append(vnis, v)
		}
	}
	slices.Sort(vnis)
	out := make([]FloodList, 0, len(vnis))
	for _, v := range vnis {
		out = append(out, floodList(v, lists[v]))
	}
	return http.StatusOK, out, nil
}

func floodList(vni uint32, remotes []netip.Addr) FloodList {
	rs := append([]netip.Addr{}, remotes...)
	slices.SortFunc(rs, netip.Addr.Compare)
	return FloodList{VNI: vni, Remotes: rs}
}

type floodBody struct {
	VNI    *uint32 `json:"vni"`
	Remote string  `json:"remote"`
}

// POST /v1/flood
func (s *Server) postFlood(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	var b floodBody
	if err := decodeBody(r, &b); err != nil {
		return 0, nil, err
	}
	if b.VNI == nil {
		return 0, nil, badRequest(`missing "vni": want {"vni": N, "remote": "IP"}`)
	}
	if err := s.servedVNI(*b.VNI); err != nil {
		return 0, nil, err
	}
	if b.Remote == "" {
		return 0, nil, badRequest(`missing "remote": want {"vni": N, "remote": "IP"}`)
	}
	a, err := parseRemote(b.Remote)
	if err != nil {
		return 0, nil, err
	}
	table := s.sw.FDB()
	if table.AddFlood(*b.VNI, a) {
		s.log.Info("api: flood peer added", "vni", *b.VNI, "remote", a)
	}
	return http.StatusOK, floodList(*b.VNI, table.Flood(*b.VNI)), nil
}

// DELETE /v1/flood?vni=N&remote=IP
func (s *Server) deleteFlood(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	vni, err := parseVNI(q.Get("vni"))
	if err != nil {
		return 0, nil, err
	}
	a, err := parseRemote(q.Get("remote"))
	if err != nil {
		return 0, nil, err
	}
	if !s.sw.FDB().DelFlood(vni, a) {
		return 0, nil, notFound(fmt.Sprintf("%s is not in the flood list of VNI %d", a, vni))
	}
	s.log.Info("api: flood peer deleted", "vni", vni, "remote", a)
	return http.StatusNoContent, nil, nil
}

// hardwareAddresser is implemented by devices that know their own MAC
// (tap.Device implementations for TAPs).
type hardwareAddresser interface{ HardwareAddr() encap.MAC }

// unwrapper is implemented by devices that wrap another device (capture,
// filters): the MAC is the wrapped device's.
type unwrapper interface{ Unwrap() tap.Device }

// deviceMAC returns dev's own address, looking through wrappers, or the
// zero MAC.
func deviceMAC(dev tap.Device) encap.MAC {
	if h, ok := findDevice[hardwareAddresser](dev); ok {
		return h.HardwareAddr()
	}
	return encap.MAC{}
}

// offloader is implemented by devices that report their offloads (TAPs).
type offloader interface{ Offloads() tap.Offloads }

// deviceOffloads describes dev's offloads (tap.Offloads.String), looking
// through wrappers, or "" for a device that does not report them.
func deviceOffloads(dev tap.Device) string {
	if o, ok := findDevice[offloader](dev); ok {
		return o.Offloads().String()
	}
	return ""
}

// findDevice returns the first device in dev's wrapper chain (dev, then
// what Unwrap returns, and so on) that implements T.
func findDevice[T any](dev tap.Device) (T, bool) {
	for range 16 { // bounded: a wrapper cycle must not hang the API
		if d, ok := dev.(T); ok {
			return d, true
		}
		u, ok := dev.(unwrapper)
		if !ok {
			break
		}
		dev = u.Unwrap()
		if dev == nil {
			break
		}
	}
	var zero T
	return zero, false
}

// GET /v1/ports
func (s *Server) getPorts(_ http.ResponseWriter, _ *http.Request) (int, any, error) {
	st := s.sw.Stats()
	out := make([]PortInfo, 0, len(st.Ports))
	for _, ps := range st.Ports {
		pi := PortInfo{
			Name: ps.Name, VNI: ps.VNI, MTU: ps.MTU,
			RxPackets: ps.RxPackets, RxBytes: ps.RxBytes, TxPackets: ps.TxPackets, TxBytes: ps.TxBytes,
		}
		if p, ok := s.sw.Port(ps.Name); ok {
			pi.MAC = deviceMAC(p.Device())
			pi.Offloads = deviceOffloads(p.Device())
			pi.Queues = p.Queues()
			if on, ok := p.GRO(); ok {
				pi.TAPGRO = &on
			}
		}
		out = append(out, pi)
	}
	return http.StatusOK, out, nil
}

// GET /v1/settings
func (s *Server) getSettings(_ http.ResponseWriter, _ *http.Request) (int, any, error) {
	return http.StatusOK, Settings{TAPGRO: s.sw.TAPGRO()}, nil
}

// PATCH /v1/settings {"tap_gro": BOOL}
func (s *Server) patchSettings(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	var u SettingsUpdate
	if err := decodeBody(r, &u); err != nil {
		return 0, nil, err
	}
	if u.TAPGRO == nil {
		return 0, nil, badRequest(`nothing to change: want {"tap_gro": true|false}`)
	}
	old := s.sw.TAPGRO()
	if n := s.sw.SetTAPGRO(*u.TAPGRO); old != *u.TAPGRO {
		s.log.Info("api: setting changed", "tap_gro", *u.TAPGRO, "was", old, "ports", n)
	}
	return http.StatusOK, Settings{TAPGRO: s.sw.TAPGRO()}, nil
}

// GET /v1/stats
func (s *Server) getStats(_ http.ResponseWriter, _ *http.Request) (int, any, error) {
	return http.StatusOK, Stats{Stats: s.sw.Stats(), FDB: fdbStats(s.sw.FDB().Stats())}, nil
}

// GET /v1/status
func (s *Server) getStatus(_ http.ResponseWriter, _ *http.Request) (int, any, error) {
	s.mu.Lock()
	info := s.info
	s.mu.Unlock()
	port := info.Port
	if port == 0 {
		port = s.sw.Config().Port
	}
	up := s.now().Sub(info.Started).Seconds()
	return http.StatusOK, Status{
		Version:       info.Version,
		UptimeSeconds: math.Max(0, math.Round(up*1000)/1000),
		Local:         info.Local,
		Port:          port,
		VNIs:          s.sw.VNIs(),
	}, nil
}

// servedVNI checks that vni is in range and served by the switch.
func (s *Server) servedVNI(vni uint32) error {
	if vni > encap.MaxVNI {
		return badRequest(fmt.Sprintf("VNI %d out of range: a VNI is 24 bits (0-%d)", vni, encap.MaxVNI))
	}
	if !s.sw.Serves(vni) {
		return notFound(fmt.Sprintf("VNI %d is not served by this switch (served: %v); attach a port or configure the VNI first", vni, s.sw.VNIs()))
	}
	return nil
}
