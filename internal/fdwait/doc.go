// Package fdwait parks an OS thread in ppoll(2) until a non-blocking
// descriptor is readable, instead of parking the goroutine in the Go
// runtime's network poller.
//
// Why: a goroutine woken by the runtime poller costs an extra hand-off
// (epoll_wait in one thread, then scheduling the goroutine), which on the
// lab machines added ~25 µs to every wake-up of a forwarding loop. A
// switch has two such wake-ups per direction per hop, so a ping-pong round
// trip through two daemons paid ~100 µs more than the kernel's vxlan
// driver. A thread blocked in ppoll is woken by the kernel directly. The
// loops that use it (TAP readers, VTEP receivers) each own a thread while
// they wait, which is what they are for.
//
// A Waiter is woken for good by Close, through an eventfd, so that the
// descriptor's owner can close the descriptor without a reader stuck in
// ppoll: call Waiter.Close, then close the descriptor (os.File.Close and
// net.Conn.Close wait for a reader inside RawConn.Read to return), then
// Waiter.Release.
package fdwait
