package vtep

import "testing"

func TestSegmentsPerSend(t *testing.T) {
	tests := []struct {
		mtu, want int
	}{
		{1450, 44}, // 44 × 1476 = 64 944 ≤ 65 507 < 45 × 1476
		{1500, 42},
		{0, 42}, // 1500
		{9000, 7},
		{65521, 1}, // one frame is already beyond the limit: still 1
		{100, DefaultMaxSegments},
	}
	for _, tt := range tests {
		if got := SegmentsPerSend(tt.mtu); got != tt.want {
			t.Errorf("SegmentsPerSend(%d) = %d, want %d", tt.mtu, got, tt.want)
		}
	}
	// Over the whole MTU range: n full frames fit, n+1 do not (or n is
	// capped by the segment limit).
	for mtu := 68; mtu <= 65521; mtu++ {
		n := SegmentsPerSend(mtu)
		per := 8 + 14 + 4 + mtu
		if n < 1 || n > DefaultMaxSegments || (n > 1 && n*per > maxPayload4) ||
			(n < DefaultMaxSegments && (n+1)*per <= maxPayload4) {
			t.Fatalf("SegmentsPerSend(%d) = %d: %d datagrams of %d bytes do not fill %d", mtu, n, n, per, maxPayload4)
		}
	}
}
