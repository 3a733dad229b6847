package cni

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Placeholders of a conflist template that RenderConflist replaces with
// the node's Pod range, so that host-local on each node hands out
// addresses from the node's own block of the cluster subnet.
const (
	PlaceholderPodCIDR    = "__NODE_POD_CIDR__"    // the node's block, e.g. 198.18.5.0/24
	PlaceholderRangeStart = "__NODE_RANGE_START__" // its first usable address, 198.18.5.1
	PlaceholderRangeEnd   = "__NODE_RANGE_END__"   // its last usable address, 198.18.5.254
)

// PodCIDRAnnotation on a Node overrides spec.podCIDR as the node's Pod
// block, for clusters whose controller manager does not allocate node
// CIDRs (--allocate-node-cidrs=false).
const PodCIDRAnnotation = "vxswitch.dev/pod-cidr"

// NodeRange returns the first and last address host-local may lease in
// block: for IPv4 the block without its first and last address (which
// some hosts treat as network and broadcast addresses even inside a
// larger subnet), for IPv6 without its first. It fails for blocks too
// small to hold an address.
func NodeRange(block netip.Prefix) (first, last netip.Addr, err error) {
	block = block.Masked()
	bits := block.Addr().BitLen()
	if !block.IsValid() || bits-block.Bits() < 2 {
		return first, last, fmt.Errorf("vxswitch: node Pod block %s is too small for host-local (want /%d or larger)", block, bits-2)
	}
	b := block.Addr().AsSlice()
	for i := block.Bits(); i < bits; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ = netip.AddrFromSlice(b)
	if block.Addr().Is4() {
		last = last.Prev()
	}
	return block.Addr().Next(), last, nil
}

// RenderConflist replaces the placeholders in tmpl with block and its
// range and checks that the result is JSON.
func RenderConflist(tmpl []byte, block netip.Prefix) ([]byte, error) {
	first, last, err := NodeRange(block)
	if err != nil {
		return nil, err
	}
	out := bytes.ReplaceAll(tmpl, []byte(PlaceholderPodCIDR), []byte(block.Masked().String()))
	out = bytes.ReplaceAll(out, []byte(PlaceholderRangeStart), []byte(first.String()))
	out = bytes.ReplaceAll(out, []byte(PlaceholderRangeEnd), []byte(last.String()))
	if !json.Valid(out) {
		return nil, errors.New("vxswitch: the rendered conflist is not JSON")
	}
	return out, nil
}

// NodeSource says where NodePodCIDR finds the API server and its
// credentials. The zero value plus Node means "in cluster": the
// KUBERNETES_SERVICE_HOST/PORT environment and the service account files.
type NodeSource struct {
	Node      string       // the Node's name (the downward API's spec.nodeName)
	Server    string       // API server URL; "" means https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
	TokenFile string       // bearer token; "" means the service account's
	CAFile    string       // CA bundle; "" means the service account's
	Client    *http.Client // nil means a client that trusts CAFile only
}

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// NodePodCIDR reads the Node and returns its Pod block: the
// PodCIDRAnnotation if set, else spec.podCIDRs' first entry of family
// (4 or 6; 0 takes the first), else spec.podCIDR.
func NodePodCIDR(ctx context.Context, src NodeSource, family int) (netip.Prefix, error) {
	if src.Node == "" {
		return netip.Prefix{}, errors.New("vxswitch: no node name (set NODE_NAME from spec.nodeName)")
	}
	if src.Server == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return netip.Prefix{}, errors.New("vxswitch: not in a cluster: KUBERNETES_SERVICE_HOST/PORT unset")
		}
		src.Server = "https://" + net.JoinHostPort(host, port)
	}
	if src.TokenFile == "" {
		src.TokenFile = filepath.Join(saDir, "token")
	}
	if src.CAFile == "" {
		src.CAFile = filepath.Join(saDir, "ca.crt")
	}
	token, err := os.ReadFile(src.TokenFile)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("vxswitch: service account token: %w", err)
	}
	client := src.Client
	if client == nil {
		pem, err := os.ReadFile(src.CAFile)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("vxswitch: API server CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return netip.Prefix{}, fmt.Errorf("vxswitch: API server CA %s holds no certificate", src.CAFile)
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	u := strings.TrimRight(src.Server, "/") + "/api/v1/nodes/" + url.PathEscape(src.Node)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return netip.Prefix{}, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("vxswitch: get node %s: %w", src.Node, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("vxswitch: get node %s: %w", src.Node, err)
	}
	if resp.StatusCode != http.StatusOK {
		return netip.Prefix{}, fmt.Errorf("vxswitch: get node %s: %s (does the service account may get nodes?)", src.Node, resp.Status)
	}
	var node struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			PodCIDR  string   `json:"podCIDR"`
			PodCIDRs []string `json:"podCIDRs"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(body, &node); err != nil {
		return netip.Prefix{}, fmt.Errorf("vxswitch: node %s: %w", src.Node, err)
	}
	cands := node.Spec.PodCIDRs
	if node.Spec.PodCIDR != "" {
		cands = append(cands, node.Spec.PodCIDR)
	}
	if a := node.Metadata.Annotations[PodCIDRAnnotation]; a != "" {
		cands = []string{a}
	}
	for _, c := range cands {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("vxswitch: node %s: Pod CIDR %q: %w", src.Node, c, err)
		}
		if family == 0 || (family == 4) == p.Addr().Is4() {
			return p.Masked(), nil
		}
	}
	what := "Pod CIDR"
	if family != 0 {
		what = fmt.Sprintf("IPv%d Pod CIDR", family)
	}
	return netip.Prefix{}, fmt.Errorf("vxswitch: node %s has no %s: set spec.podCIDR (kube-controller-manager --allocate-node-cidrs) or the %s annotation", src.Node, what, PodCIDRAnnotation)
}

// InstallConflist renders the conflist template at tmplPath for this node
// and writes it to out atomically (a temporary file in out's directory,
// then rename), so the runtime never reads half a file. A template
// without placeholders is copied as is and the API server is not asked.
func InstallConflist(ctx context.Context, src NodeSource, family int, tmplPath, out string) error {
	tmpl, err := os.ReadFile(tmplPath)
	if err != nil {
		return fmt.Errorf("vxswitch: conflist template: %w", err)
	}
	data := tmpl
	if bytes.Contains(tmpl, []byte("__NODE_")) {
		block, err := NodePodCIDR(ctx, src, family)
		if err != nil {
			return err
		}
		if data, err = RenderConflist(tmpl, block); err != nil {
			return err
		}
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("vxswitch: install conflist: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vxswitch: install conflist: %w", err)
	}
	return nil
}
