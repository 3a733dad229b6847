package vtep

import "testing"

func TestOffloadStatusString(t *testing.T) {
	tests := []struct {
		name string
		in   OffloadStatus
		want string
	}{
		{"all on", OffloadStatus{GSO: true, GSOSockets: 8, MaxSegments: 64, GRO: true, RecvSockets: 4, RecvBuffer: 1, SendBuffer: 2}, "gso=on (8 sockets, 64 segments) gro=on recv=4 rcvbuf=1 sndbuf=2"},
		{"partial GSO", OffloadStatus{GSOSockets: 3, MaxSegments: 128, RecvSockets: 1}, "gso=partial (3 sockets, 128 segments) gro=off recv=1 rcvbuf=0 sndbuf=0"},
		{"off, by CPU", OffloadStatus{RecvSockets: 2, RecvByCPU: true, RecvBuffer: 8, SendBuffer: 8}, "gso=off gro=off recv=2/cpu rcvbuf=8 sndbuf=8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Fatalf("unexpected String:\n- want: %q\n-  got: %q", tt.want, got)
			}
		})
	}
}
