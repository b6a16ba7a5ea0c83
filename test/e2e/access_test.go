//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccess: a cluster with access control on, as a new user meets it, run as the
// operator bound to exactly docs/rbac.yaml. Every way of giving the token wrong is
// one line and its documented exit code (2 before any request to Axon Server, 1
// when Axon Server refuses), the same for status, doctor and a rolling command's
// plan; with no token the cluster's own labelled Secret is used and said once; and
// no command ever reports a running node it cannot see as safe to stop.
func TestAccess(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/access.yaml")
	const token = "sandbox-acl-token"
	secret := s.Topology.Name + "-token" // what generate names and the sandbox creates
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty, wrong := file("empty", ""), file("wrong", "not-the-token\n")
	// The sandbox creates the labelled token Secret; make sure of it (an older
	// sandbox did not label it).
	s.Kubectl("-n", s.Namespace, "label", "--overwrite", "secret", secret, "cluster="+s.Topology.Name)

	commands := [][]string{
		{"status"},
		{"doctor"},
		{"upgrade", "--image", "axoniq/axonserver:2024.2.0-nonroot", "--dry-run"},
	}
	axon := func(env []string, sub []string, extra ...string) Result {
		args := append([]string{"env"}, env...)
		args = append(args, "kubectl", "axon")
		args = append(args, sub...)
		args = append(args, "-n", s.Namespace)
		return s.Run(s.Kubeconfig(true), append(args, extra...)...)
	}
	oneLine := func(r Result, code int, says string) {
		t.Helper()
		if r.Code != code || r.Stdout != "" || strings.Count(r.Stderr, "\n") != 1 || !strings.HasPrefix(r.Stderr, "error: ") || !strings.Contains(r.Stderr, says) {
			t.Errorf("want exit %d and one line with %q:\n%s", code, says, r)
		}
		if strings.Contains(r.Stdout+r.Stderr, token) {
			t.Errorf("the token is in the output:\n%s", r)
		}
	}
	for _, tc := range []struct {
		name  string
		env   []string
		extra []string
		code  int
		says  string
	}{
		{"empty token file", nil, []string{"--token-file", empty}, 2, "is empty"},
		{"empty $KUBECTL_AXON_TOKEN", []string{"KUBECTL_AXON_TOKEN="}, nil, 2, "$KUBECTL_AXON_TOKEN is set but empty"},
		{"missing Secret", nil, []string{"--token-secret", "no-such-secret/token"}, 2, "Secret no-such-secret does not exist"},
		{"missing key", nil, []string{"--token-secret", secret + "/no-such-key"}, 2, `no key "no-such-key"`},
		{"wrong token", nil, []string{"--token-file", wrong}, 1, "Axon Server refused the access token from --token-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.t = t
			for _, sub := range commands {
				oneLine(axon(tc.env, sub, tc.extra...), tc.code, tc.says)
			}
		})
	}

	t.Run("no token, the labelled Secret", func(t *testing.T) {
		s.t = t
		for _, sub := range commands {
			r := axon(nil, sub)
			if sub[0] != "doctor" && r.Code != 0 {
				t.Errorf("exit %d:\n%s", r.Code, r)
			}
			want := "using the access token in Secret " + s.Namespace + "/" + secret + ", key token (labelled cluster=" + s.Topology.Name + ")"
			if n := strings.Count(r.Stderr, want); n != 1 {
				t.Errorf("said %d times, want once:\n%s", n, r)
			}
			if strings.Contains(r.Stdout+r.Stderr, token) {
				t.Errorf("the token is in the output:\n%s", r)
			}
		}
		st, r := s.Status(true)
		if !allHealthy(st) {
			t.Errorf("not healthy with the cluster's own token:\n%s", r)
		}
	})

	t.Run("no token, no labelled Secret", func(t *testing.T) {
		s.t = t
		s.Kubectl("-n", s.Namespace, "label", "secret", secret, "cluster-")
		defer s.Kubectl("-n", s.Namespace, "label", "--overwrite", "secret", secret, "cluster="+s.Topology.Name)
		for _, sub := range commands {
			oneLine(axon(nil, sub), 1, "this cluster requires an access token")
		}
	})

	// Axon Server that answers nothing in time: every node is running and none is
	// seen. Not one is safe to stop, in the table, in JSON or in the plan.
	t.Run("nodes it cannot see are never safe", func(t *testing.T) {
		s.t = t
		blind := []string{"--axon-timeout", "1ns"}
		r := axon(nil, []string{"status", "-o", "json", "--exit-code"}, blind...)
		if r.Code != 3 {
			t.Errorf("status --exit-code: exit %d, want 3:\n%s", r.Code, r)
		}
		var doc struct {
			Nodes []map[string]any `json:"nodes"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
			t.Fatalf("%v\n%s", err, r)
		}
		if len(doc.Nodes) != 3 {
			t.Errorf("%d nodes, want 3:\n%s", len(doc.Nodes), r.Stdout)
		}
		for _, n := range doc.Nodes {
			if n["safeToStop"] != false || n["safeToStopVerdict"] != "unknown" || n["healthy"] != false {
				t.Errorf("%v: safeToStop %v, verdict %v, healthy %v", n["name"], n["safeToStop"], n["safeToStopVerdict"], n["healthy"])
			}
		}
		r = axon(nil, []string{"status"}, blind...)
		for _, l := range strings.Split(r.Stdout, "\n") {
			if strings.HasPrefix(l, "axonserver-") && !strings.HasSuffix(strings.TrimSpace(l), "unknown (groups not read)") {
				t.Errorf("table row: %q\n%s", l, r)
			}
		}
		r = axon(nil, []string{"upgrade", "--image", "axoniq/axonserver:2024.2.0-nonroot", "--dry-run"}, blind...)
		rows := 0
		for _, l := range strings.Split(r.Stdout, "\n") {
			if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], "axonserver-") {
				rows++
				if !strings.Contains(l, "unknown: ") || strings.HasSuffix(strings.TrimSpace(l), " yes") {
					t.Errorf("plan row: %q", l)
				}
			}
		}
		if r.Code != 0 || rows != 3 {
			t.Errorf("upgrade --dry-run: exit %d, %d rows:\n%s", r.Code, rows, r)
		}
	})
}
