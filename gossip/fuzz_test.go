package gossip

import (
	"testing"
)

// Malformed gossip must never panic and must change nothing: each target
// feeds the bytes through the same entry point memberlist uses and checks
// that a decoding error left the node's queue and tables untouched.

func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		f.Add(appendRecord(nil, &r)) // valid MAC entry, tombstone with IPv6 VTEP, neighbour binding
	}
	f.Add([]byte{})                        // empty
	f.Add([]byte{wireVersion, kindMAC, 0}) // header only
	f.Fuzz(func(t *testing.T, b []byte) {
		n, table, neigh := newIdleNode(t)
		before := table.Len()
		(*delegate)(n).NotifyMsg(b)
		r, err := decodeRecord(b)
		if err != nil {
			if len(n.work.q) != 0 || table.Len() != before || neigh.Len() != 0 {
				t.Fatalf("malformed record changed state: %v", err)
			}
			return
		}
		if len(n.work.q) != 1 {
			t.Fatalf("valid record not queued")
		}
		if got := appendRecord(nil, &r); string(got) != string(b) {
			t.Fatalf("unexpected re-encoding:\n- want: %x\n-  got: %x", b, got)
		}
		n.applyRecord(&r) // must not panic
	})
}

func FuzzDecodeState(f *testing.F) {
	recs := sampleRecords()
	f.Add(encodeState("a", 1, 9, nil, nil, 1<<20))            // empty state
	f.Add(encodeState("n1", 3, 9, recs[:1], recs[1:], 1<<20)) // own and others
	f.Add(encodeState("n1", 3, 9, recs[:1], recs[1:], 80))    // truncated
	f.Add([]byte{wireVersion, kindState, 0, 1, 'a'})          // truncated header
	f.Fuzz(func(t *testing.T, b []byte) {
		n, table, neigh := newIdleNode(t)
		before := table.Len()
		(*delegate)(n).MergeRemoteState(b, false)
		s, err := decodeState(b)
		if err != nil {
			if len(n.work.q) != 0 || table.Len() != before || neigh.Len() != 0 {
				t.Fatalf("malformed state changed state: %v", err)
			}
			return
		}
		n.applyState(&s, true) // must not panic
	})
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(Meta{VTEP: testVTEP(1), VXLANPort: 4789, VNIs: []uint32{42}})) // one VNI
	f.Add(encodeMeta(Meta{VTEP: testVTEP(1), VXLANPort: 4789}))                     // no VNIs
	f.Add([]byte{metaVersion, 0x12, 0xb5, 16})                                      // truncated IPv6
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		if got := encodeMeta(m); string(got) != string(b) {
			t.Fatalf("unexpected re-encoding:\n- want: %x\n-  got: %x", b, got)
		}
	})
}
