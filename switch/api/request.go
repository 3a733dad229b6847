package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vxswitch/vxswitch/encap"
)

// httpError is an error with the status it is answered with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(msg string) error { return &httpError{http.StatusBadRequest, msg} }
func notFound(msg string) error   { return &httpError{http.StatusNotFound, msg} }
func conflict(msg string) error   { return &httpError{http.StatusConflict, msg} }

// writeJSON writes body as JSON with code; a nil body (204) writes nothing.
func writeJSON(w http.ResponseWriter, code int, body any) {
	if body == nil || code == http.StatusNoContent {
		w.WriteHeader(code)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// writeError writes {"error": msg} with code.
func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(errorBody{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// decodeBody decodes the request body, one JSON object and nothing else,
// into v, rejecting unknown fields. Errors are 400s that say what is wrong.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return badRequest("read request body: " + err.Error())
	}
	if len(body) > maxBodyBytes {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", maxBodyBytes)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("empty request body: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest(jsonErrorMessage(err))
	}
	if dec.More() {
		return badRequest("invalid JSON: unexpected data after the object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("invalid JSON: unexpected data after the object")
	}
	return nil
}

// jsonErrorMessage rewrites encoding/json errors for people.
func jsonErrorMessage(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("invalid JSON: want an object, got %s", typ.Value)
		}
		return fmt.Sprintf("field %q: want %s, got %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: unexpected end of input"
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field") {
		return msg + " (see the API documentation for the fields of this request)"
	}
	return "invalid JSON: " + msg
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "int"):
		return "a non-negative integer"
	case k == "string":
		return "a string"
	case k == "ptr":
		return "a non-negative integer"
	case k == "bool":
		return "true or false"
	}
	return k
}

// optionalVNI reads the optional vni query parameter: all is true when it
// is absent.
func optionalVNI(r *http.Request) (vni uint32, all bool, err error) {
	q := r.URL.Query()
	if !q.Has("vni") {
		return 0, true, nil
	}
	vni, err = parseVNI(q.Get("vni"))
	return vni, false, err
}

// parseVNI parses a decimal VNI (0 to 2^24-1).
func parseVNI(s string) (uint32, error) {
	if s == "" {
		return 0, badRequest("missing vni: add ?vni=N (0-16777215)")
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, badRequest(fmt.Sprintf("invalid vni %q: want a decimal number 0-%d", s, encap.MaxVNI))
	}
	if n > encap.MaxVNI {
		return 0, badRequest(fmt.Sprintf("VNI %d out of range: a VNI is 24 bits (0-%d)", n, encap.MaxVNI))
	}
	return uint32(n), nil
}

// parseMAC parses a MAC-48 address.
func parseMAC(s string) (encap.MAC, error) {
	if s == "" {
		return encap.MAC{}, badRequest(`missing mac: want "aa:bb:cc:dd:ee:ff"`)
	}
	m, err := encap.ParseMAC(s)
	if err != nil {
		return encap.MAC{}, badRequest(fmt.Sprintf("invalid mac %q: want six hex octets like 02:00:00:00:00:01", s))
	}
	return m, nil
}

// parseUnicastMAC parses a MAC an FDB entry can hold: unicast, not zero.
func parseUnicastMAC(s string) (encap.MAC, error) {
	m, err := parseMAC(s)
	if err != nil {
		return m, err
	}
	if !m.IsUnicast() {
		return m, badRequest(fmt.Sprintf("mac %s is multicast, broadcast or zero: FDB entries are for unicast addresses (use /v1/flood for BUM peers)", m))
	}
	return m, nil
}

// parseRemote parses a VTEP address: a unicast IPv4 or IPv6 address
// without zone (IPv4-mapped IPv6 is unmapped).
func parseRemote(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, badRequest(`missing remote: want a VTEP IP address such as "192.0.2.11"`)
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, badRequest(fmt.Sprintf("invalid remote %q: want a VTEP IP address such as 192.0.2.11 or 2001:db8::11", s))
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}, badRequest(fmt.Sprintf("invalid remote %s: a VTEP address must be unicast", a))
	}
	return a, nil
}
