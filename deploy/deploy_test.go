package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
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

	// What install-conflist writes on a node with block 198.18.7.0/24.
	out, err := cni.RenderConflist([]byte(list), netip.MustParsePrefix("198.18.7.0/24"))
	if err != nil {
		t.Fatalf("render the conflist template: %v", err)
	}
	var rendered struct {
		Plugins []struct {
			IPAM struct {
				Ranges [][]struct {
					Subnet     string `json:"subnet"`
					RangeStart string `json:"rangeStart"`
					RangeEnd   string `json:"rangeEnd"`
					Gateway    string `json:"gateway"`
				} `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(out, &rendered); err != nil || len(rendered.Plugins[0].IPAM.Ranges) == 0 {
		t.Fatalf("rendered conflist: %v\n%s", err, out)
	}
	r := rendered.Plugins[0].IPAM.Ranges[0][0]
	subnet, err := netip.ParsePrefix(r.Subnet)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{r.RangeStart, r.RangeEnd, r.Gateway} {
		if ip, err := netip.ParseAddr(a); err != nil || !subnet.Contains(ip) {
			t.Errorf("rendered range address %q is not in subnet %s: %v", a, subnet, err)
		}
	}
	if want, got := "198.18.7.1-198.18.7.254", r.RangeStart+"-"+r.RangeEnd; want != got {
		t.Errorf("unexpected per-node range:\n- want: %s\n-  got: %s", want, got)
	}
}

// TestDaemonSet checks what a node needs from the DaemonSet: host network,
// a privileged daemon, the host paths the daemon and the plugin share, the
// per-node conflist installer and the gossip join through the headless
// Service.
func TestDaemonSet(t *testing.T) {
	data, err := os.ReadFile("kubernetes/vxswitch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type container struct {
		Name            string   `yaml:"name"`
		Command         []string `yaml:"command"`
		SecurityContext struct {
			Privileged bool `yaml:"privileged"`
		} `yaml:"securityContext"`
		Env []struct {
			Name      string `yaml:"name"`
			ValueFrom struct {
				FieldRef struct {
					FieldPath string `yaml:"fieldPath"`
				} `yaml:"fieldRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	var ds struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Template struct {
				Spec struct {
					HostNetwork    bool        `yaml:"hostNetwork"`
					InitContainers []container `yaml:"initContainers"`
					Containers     []container `yaml:"containers"`
					Volumes        []struct {
						Name     string `yaml:"name"`
						HostPath struct {
							Path string `yaml:"path"`
						} `yaml:"hostPath"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	var svc struct {
		Metadata struct{ Name, Namespace string } `yaml:"metadata"`
		Spec     struct {
			ClusterIP string `yaml:"clusterIP"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		var head struct{ Kind string }
		node.Decode(&head)
		switch head.Kind {
		case "DaemonSet":
			err = node.Decode(&ds)
		case "ConfigMap":
			err = node.Decode(&cm)
		case "Service":
			err = node.Decode(&svc)
		}
		if err != nil {
			t.Fatalf("%s: %v", head.Kind, err)
		}
	}
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork {
		t.Error("the DaemonSet does not use the host network")
	}
	hostPaths := map[string]string{} // volume name → host path
	for _, v := range spec.Volumes {
		hostPaths[v.Name] = v.HostPath.Path
	}
	mounted := func(c container) map[string]bool {
		m := map[string]bool{}
		for _, vm := range c.VolumeMounts {
			if p := hostPaths[vm.Name]; p != "" {
				m[p] = true
			}
		}
		return m
	}
	envFrom := func(c container, name string) string {
		for _, e := range c.Env {
			if e.Name == name {
				return e.ValueFrom.FieldRef.FieldPath
			}
		}
		return ""
	}
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 1 {
		t.Fatalf("unexpected containers:\n- want: 1 init, 1 daemon\n-  got: %d init, %d", len(spec.InitContainers), len(spec.Containers))
	}
	d, ini := spec.Containers[0], spec.InitContainers[0]
	if !d.SecurityContext.Privileged {
		t.Error("vxswitchd is not privileged")
	}
	for _, p := range []string{"/run/vxswitch", "/var/run/netns", "/dev/net/tun"} {
		if !mounted(d)[p] {
			t.Errorf("vxswitchd lacks the host path %s", p)
		}
	}
	for _, p := range []string{"/opt/cni/bin", "/etc/cni/net.d"} {
		if !mounted(ini)[p] {
			t.Errorf("the installer lacks the host path %s", p)
		}
	}
	if got := envFrom(ini, "NODE_NAME"); got != "spec.nodeName" {
		t.Errorf("unexpected NODE_NAME source of the installer:\n- want: spec.nodeName\n-  got: %q", got)
	}
	if !strings.Contains(strings.Join(ini.Command, " "), "vxswitch install-conflist") {
		t.Errorf("the installer does not render the per-node conflist: %q", ini.Command)
	}
	if got := envFrom(d, "NODE_IP"); got != "status.hostIP" {
		t.Errorf("unexpected NODE_IP source of vxswitchd:\n- want: status.hostIP\n-  got: %q", got)
	}
	var conf struct {
		Join []string `yaml:"join"`
		API  string   `yaml:"api"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["vxswitchd.yaml"]), &conf); err != nil {
		t.Fatal(err)
	}
	want := svc.Metadata.Name + "." + svc.Metadata.Namespace + ".svc."
	if svc.Spec.ClusterIP != "None" || len(conf.Join) != 1 || !strings.HasPrefix(conf.Join[0], want) {
		t.Errorf("unexpected gossip join:\n- want: the headless Service %s…\n-  got: %q (clusterIP %q)", want, conf.Join, svc.Spec.ClusterIP)
	}
	if !strings.Contains(cm.Data["10-vxswitch.conflist"], conf.API) {
		t.Errorf("the conflist's socket is not the daemon's API socket %s", conf.API)
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
