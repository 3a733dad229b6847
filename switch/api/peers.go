package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// PeerInfo is one gossip cluster member as GET /v1/peers reports it.
type PeerInfo struct {
	Name        string    `json:"name"`
	Addr        string    `json:"addr"`  // gossip address
	State       string    `json:"state"` // alive, suspect, dead or left
	Self        bool      `json:"self,omitempty"`
	VTEP        string    `json:"vtep"`
	VXLANPort   uint16    `json:"vxlan_port"`
	VNIs        []uint32  `json:"vnis"`
	Entries     int       `json:"entries"` // FDB entries and bindings held from it (self: announced)
	Incarnation uint64    `json:"incarnation,omitempty"`
	LastContact time.Time `json:"last_contact"`
}

// PeersHandler serves GET /v1/peers: a JSON array of every member, the
// daemon itself included, as returned by peers (called once per request,
// concurrently; nil means gossip is off and the array is empty). Mount it
// with Server.Handle("/v1/peers", …).
func PeersHandler(peers func() []PeerInfo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			http.Error(w, "method not allowed: use GET", http.StatusMethodNotAllowed)
			return
		}
		out := []PeerInfo{}
		if peers != nil {
			if p := peers(); p != nil {
				out = p
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
}

// Peers returns the gossip cluster's members (empty when gossip is off).
func (c *Client) Peers(ctx context.Context) ([]PeerInfo, error) {
	var out []PeerInfo
	err := c.do(ctx, http.MethodGet, "/v1/peers", nil, &out)
	if out == nil && err == nil {
		out = []PeerInfo{}
	}
	return out, err
}
