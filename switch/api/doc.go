// Package api is vxswitchd's management API: HTTP/1.1 with JSON bodies
// (RFC 9110, RFC 8259) over a unix domain socket, versioned under /v1, plus
// a Prometheus text exposition endpoint for metrics.
//
// The daemon calls Listen and serves a Server on the listener; vxctl, the
// CNI plugin and tests talk to it with a Client. Endpoints:
//
//	GET    /v1/fdb[?vni=N]              []FDBEntry, sorted by (VNI, MAC)
//	POST   /v1/fdb                      FDBRequest → 201 FDBEntry (a static entry)
//	DELETE /v1/fdb?vni=N&mac=M          204
//	GET    /v1/flood[?vni=N]            []FloodList
//	POST   /v1/flood                    FloodRequest → 200 FloodList
//	DELETE /v1/flood?vni=N&remote=IP    204
//	GET    /v1/ports                    []PortInfo
//	GET    /v1/settings                 Settings (what can change at run time)
//	PATCH  /v1/settings                 SettingsUpdate → 200 Settings
//	GET    /v1/stats                    Stats
//	GET    /v1/status                   Status
//
// Every error is a JSON object {"error": "..."} whose message says what was
// wrong and what to do, with status 400 (bad input), 404 (no such entry,
// port or VNI), 405 (wrong method), 409 (the entry belongs to someone else)
// or 500.
package api
