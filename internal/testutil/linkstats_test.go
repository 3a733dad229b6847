package testutil

import "testing"

func TestParseLinkStats(t *testing.T) {
	for _, tt := range []struct {
		name    string
		in      string
		want    LinkStats
		wantErr bool
	}{
		{name: "tap", in: `[{"ifindex":5,"ifname":"vxtap0","stats64":{"rx":{"bytes":1200,"packets":12,"errors":0,"dropped":1},"tx":{"bytes":980,"packets":10,"errors":0,"dropped":3}}}]`,
			want: LinkStats{RX: LinkCounters{Packets: 12, Bytes: 1200, Dropped: 1}, TX: LinkCounters{Packets: 10, Bytes: 980, Dropped: 3}}},
		{name: "no stats", in: `[{"ifindex":5,"ifname":"vxtap0"}]`, wantErr: true},
		{name: "two links", in: `[{"stats64":{}},{"stats64":{}}]`, wantErr: true},
		{name: "none", in: `[]`, wantErr: true},
		{name: "not json", in: `Device "x" does not exist.`, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLinkStats([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseLinkStats(%s) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
