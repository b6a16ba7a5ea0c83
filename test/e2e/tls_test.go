//go:build e2e

package e2e

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestTLS: Axon Server speaking HTTPS and requiring a token, reached through
// the pod proxy (pods/https:NAME:8024/proxy) by the restricted operator, who
// reads the token from its Secret (the documented Role grants secrets get).
func TestTLS(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/tls.yaml")
	ca := filepath.Join(s.Dir, "agent", "axon-ca.crt")
	st, r := s.Status(true, "--axon-ca-file", ca, "--token-secret", "axon-tls-token/token")
	if !allHealthy(st) || len(st.Nodes) != 3 {
		t.Errorf("status over HTTPS with the token: not healthy:\n%s", r)
	}
	// The API server's pod proxy does not verify the pod's certificate, so
	// through it status works without the CA too; a direct connection checks
	// the certificate (issued for the pod's DNS name) against --axon-ca-file.
	st, r = s.Status(false, "--transport", "direct", "--axon-ca-file", ca, "--token-secret", "axon-tls-token/token")
	if !allHealthy(st) {
		t.Errorf("--transport direct with the CA: not healthy:\n%s", r)
	}
	r = s.Run(s.Kubeconfig(false), "kubectl", "axon", "status", "-n", s.Namespace, "-o", "json",
		"--transport", "direct", "--axon-scheme", "https", "--token-secret", "axon-tls-token/token")
	if r.Code == 0 && allHealthyJSON(t, r.Stdout) {
		t.Errorf("--transport direct without the CA trusted the node's certificate:\n%s", r)
	}
}

func allHealthyJSON(t *testing.T, out string) bool {
	var st Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return false
	}
	return allHealthy(st)
}
