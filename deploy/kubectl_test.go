package deploy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// discovery is what a fake API server answers for the groups our
// manifests use: kubectl --dry-run=client still maps each kind to a
// resource through discovery and GETs the object to choose create or
// patch. The server knows no objects (404), so every object is "created".
var discovery = map[string]any{
	"/api": map[string]any{"kind": "APIVersions", "versions": []string{"v1"}},
	"/apis": map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": []any{
		group("apps", "v1"), group("rbac.authorization.k8s.io", "v1"),
	}},
	"/api/v1": resources("v1",
		res("namespaces", "Namespace", false), res("serviceaccounts", "ServiceAccount", true),
		res("configmaps", "ConfigMap", true), res("services", "Service", true)),
	"/apis/apps/v1": resources("apps/v1", res("daemonsets", "DaemonSet", true)),
	"/apis/rbac.authorization.k8s.io/v1": resources("rbac.authorization.k8s.io/v1",
		res("clusterroles", "ClusterRole", false), res("clusterrolebindings", "ClusterRoleBinding", false)),
}

func group(name, version string) map[string]any {
	gv := map[string]string{"groupVersion": name + "/" + version, "version": version}
	return map[string]any{"name": name, "versions": []any{gv}, "preferredVersion": gv}
}

func resources(gv string, rs ...map[string]any) map[string]any {
	return map[string]any{"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": rs}
}

func res(name, kind string, namespaced bool) map[string]any {
	return map[string]any{"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
		"verbs": []string{"create", "delete", "get", "list", "patch", "update", "watch"}}
}

// TestKubectlDryRun runs `kubectl apply --dry-run=client --validate=false`
// on deploy/kubernetes against a fake API server on loopback that serves
// only discovery. kubectl cannot apply, even with --dry-run=client,
// without an API server to map kinds to resources; schema validation
// (--validate=true) would need the server's OpenAPI documents, which
// TestManifests replaces with its own checks.
func TestKubectlDryRun(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	var (
		mu     sync.Mutex
		writes []string // requests other than GET; there must be none
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, ok := discovery[r.URL.Path]; ok {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(d)
			return
		}
		if r.Method != http.MethodGet {
			mu.Lock()
			writes = append(writes, r.Method+" "+r.URL.Path)
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
	}))
	defer srv.Close()

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	conf := `apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "` + srv.URL + `"}}]
users: [{name: fake, user: {token: fake}}]
contexts: [{name: fake, context: {cluster: fake, user: fake}}]
current-context: fake
`
	if err := os.WriteFile(kubeconfig, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(dir, "cache"),
		"apply", "--dry-run=client", "--validate=false", "-o", "name", "-f", "kubernetes/")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=client: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	slices.Sort(got)
	want := []string{
		"clusterrole.rbac.authorization.k8s.io/vxswitch",
		"clusterrolebinding.rbac.authorization.k8s.io/vxswitch",
		"configmap/vxswitch",
		"daemonset.apps/vxswitch",
		"namespace/vxswitch",
		"service/vxswitch-gossip",
		"serviceaccount/vxswitch",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected objects from kubectl apply --dry-run=client (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(writes) != 0 {
		t.Errorf("kubectl --dry-run=client wrote to the API server: %v", writes)
	}
}
