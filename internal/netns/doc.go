// Package netns creates, enters and deletes Linux network namespaces the
// way iproute2 does (named, bind-mounted under /run/netns), for the lab, the
// benchmarks and privileged tests.
//
// Entering a namespace changes the calling OS thread only, so Do locks the
// goroutine to its thread for the duration of the call and restores the
// original namespace before unlocking. Sockets and devices created inside
// Do stay in the namespace after Do returns.
package netns
