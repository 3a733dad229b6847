package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vxswitch/vxswitch/cni"
)

// TestManifests decodes every document of every manifest and checks the
// kinds we ship, their apiVersions, and that the embedded conflist is one
// the plugin accepts.
func TestManifests(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	want := map[string]string{
		"Namespace": "v1", "ServiceAccount": "v1", "ClusterRole": "rbac.authorization.k8s.io/v1",
		"ClusterRoleBinding": "rbac.authorization.k8s.io/v1", "ConfigMap": "v1", "Service": "v1",
		"DaemonSet": "apps/v1",
	}
	got := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc == nil {
				continue
			}
			kind, _ := doc["kind"].(string)
			api, _ := doc["apiVersion"].(string)
			md, _ := doc["metadata"].(map[string]any)
			if kind == "" || api == "" || md["name"] == nil {
				t.Errorf("%s: document without kind, apiVersion or metadata.name: %v", f, doc)
			}
			got[kind] = api
			if kind == "ConfigMap" {
				checkConfigMap(t, doc)
			}
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("unexpected apiVersion of %s:\n- want: %q\n-  got: %q", k, v, got[k])
		}
	}
}

func checkConfigMap(t *testing.T, doc map[string]any) {
	t.Helper()
	data, _ := doc["data"].(map[string]any)
	list, _ := data["10-vxswitch.conflist"].(string)
	var cl struct {
		CNIVersion string            `json:"cniVersion"`
		Name       string            `json:"name"`
		Plugins    []json.RawMessage `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(list), &cl); err != nil || len(cl.Plugins) == 0 {
		t.Fatalf("conflist in the ConfigMap: %v\n%s", err, list)
	}
	var first map[string]any
	json.Unmarshal(cl.Plugins[0], &first)
	first["cniVersion"], first["name"] = cl.CNIVersion, cl.Name
	b, _ := json.Marshal(first)
	if _, err := cni.LoadConf(b, ""); err != nil {
		t.Errorf("the plugin rejects the shipped conflist: %v", err)
	}
	if y, _ := data["vxswitchd.yaml"].(string); !strings.Contains(y, "gateway") {
		t.Errorf("vxswitchd.yaml lacks a gateway:\n%s", y)
	}
}

// TestSystemdUnit checks the unit's sections and ExecStart.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/vxswitchd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"[Unit]", "[Service]", "[Install]", "ExecStart=/usr/local/bin/vxswitchd", "RuntimeDirectory=vxswitch"} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("unit lacks %q", s)
		}
	}
}
