package daemon

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGossipFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("local: 192.0.2.10\njoin: [192.0.2.11, \"192.0.2.12:7000\"]\nnode: file-node\ngossip-key: /k\ncluster-label: lab\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		want    GossipConfig
		wantErr bool
	}{
		{name: "defaults", args: []string{"--local", "192.0.2.10"}, want: GossipConfig{}},
		{
			name: "flags",
			args: []string{"--local", "192.0.2.10", "--join", "192.0.2.11", "--join", "192.0.2.12:7000", "--gossip-bind", "192.0.2.10:7947", "--node", "a", "--gossip-key", "/etc/k", "--cluster-label", "lab"},
			want: GossipConfig{Join: []string{"192.0.2.11", "192.0.2.12:7000"}, GossipBind: "192.0.2.10:7947", Node: "a", GossipKey: "/etc/k", ClusterLabel: "lab"},
		},
		{name: "no gossip", args: []string{"--local", "192.0.2.10", "--no-gossip"}, want: GossipConfig{NoGossip: true}},
		{name: "file", args: []string{"--config", file}, want: GossipConfig{Join: []string{"192.0.2.11", "192.0.2.12:7000"}, Node: "file-node", GossipKey: "/k", ClusterLabel: "lab"}},
		{name: "flag over file", args: []string{"--config", file, "--node", "b", "--join", "192.0.2.13"}, want: GossipConfig{Join: []string{"192.0.2.13"}, Node: "b", GossipKey: "/k", ClusterLabel: "lab"}},
		{name: "bad bind", args: []string{"--local", "192.0.2.10", "--gossip-bind", "192.0.2.10"}, wantErr: true},
		{name: "bad join", args: []string{"--local", "192.0.2.10", "--join", "a b"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseArgs(tt.args, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("unexpected error:\n- want: error %v\n-  got: %v", tt.wantErr, err)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, cfg.GossipConfig); diff != "" {
				t.Errorf("unexpected gossip config (-want +got):\n%s", diff)
			}
		})
	}
}
