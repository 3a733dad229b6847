// Package apitest runs a real vxswitch management API (RFC 9110 HTTP/JSON
// over a unix socket, see package api) around an in-memory switch, for
// tests of API clients such as vxctl and the CNI plugin. It needs no root:
// the underlay is a vteptest fabric and ports are taptest channel devices.
package apitest
