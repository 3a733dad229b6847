package capture_test

import (
	"context"
	"io"
	"testing"

	"github.com/vxswitch/vxswitch/encap"
	"github.com/vxswitch/vxswitch/switch/capture"
)

// BenchmarkForwardCapture forwards ICMP frames port A -> VTEP -> port B on
// a two-switch pair with no capture, with a capture on both switches whose
// filter matches nothing, and with a full capture of every point written
// as pcapng (to io.Discard). allocs/op includes the in-memory fakes'
// copies (vteptest and taptest copy every frame), the same in all three.
func BenchmarkForwardCapture(b *testing.B) {
	for _, bc := range []struct {
		name   string
		filter string
		on     bool
	}{{"none", "", false}, {"filtered-out", "vni 7 and tcp port 1", true}, {"full-pcapng", "", true}} {
		b.Run(bc.name, func(b *testing.B) {
			p := newPair(b)
			send(b, p.tapA, p.tapB, arpFrame(encap.ARPRequest, macA, encap.BroadcastMAC, ipA, ipB))
			send(b, p.tapB, p.tapA, arpFrame(encap.ARPReply, macB, macA, ipB, ipA))
			if bc.on {
				f, err := capture.ParseFilter(bc.filter)
				if err != nil {
					b.Fatal(err)
				}
				for _, sw := range []*capture.Hub{p.a.Capture(), p.b.Capture()} {
					s, err := sw.Start(capture.Config{Filter: f})
					if err != nil {
						b.Fatal(err)
					}
					w, _ := capture.NewPcapNGWriter(io.Discard, 0)
					done := make(chan struct{})
					go func() { s.Copy(context.Background(), w, 0); close(done) }()
					b.Cleanup(func() { s.Close(); <-done })
				}
			}
			frame := icmpEcho(8, macA, macB, ipA, ipB)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p.tapA.Inbound <- frame
				<-p.tapB.Outbound
			}
		})
	}
}
