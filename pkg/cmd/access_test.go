package cmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

const accessToken = "s3cret-right"

func accessWorld(t *testing.T) *world {
	t.Helper()
	return newWorld(t, strings.Replace(threeNodes, "name: axonserver\n", "name: axonserver\naccessToken: "+accessToken+"\n", 1))
}

func tokenSecret(name string, labels map[string]string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "axon", Labels: labels}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// TestCredentials: every way of giving (or not giving) a token gets its documented
// exit code and one line; the ones that cannot work are found before any request to
// Axon Server; the token never shows.
func TestCredentials(t *testing.T) {
	w := accessWorld(t)
	dir := t.TempDir()
	empty, right, wrong := filepath.Join(dir, "empty"), filepath.Join(dir, "right"), filepath.Join(dir, "wrong")
	for p, v := range map[string]string{empty: "\n", right: accessToken + "\n", wrong: "s3cret-WRONG\n"} {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, s := range []*corev1.Secret{
		tokenSecret("ops-token", nil, map[string]string{"token": accessToken, "other": "x"}),
		tokenSecret("blank-token", nil, map[string]string{"token": "  \n"}),
	} {
		if _, err := w.kube.CoreV1().Secrets("axon").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		env  *string
		args []string
		code int
		says string
	}{
		{"empty token file", nil, []string{"--token-file", empty}, cli.ExitUsage, "is empty"},
		{"unreadable token file", nil, []string{"--token-file", filepath.Join(dir, "nope")}, cli.ExitUsage, "cannot read it: no such file or directory"},
		{"empty environment variable", ptr(""), nil, cli.ExitUsage, "$KUBECTL_AXON_TOKEN is set but empty"},
		{"missing Secret", nil, []string{"--token-secret", "missing/token"}, cli.ExitUsage, "Secret missing does not exist in namespace axon"},
		{"missing key", nil, []string{"--token-secret", "ops-token/nokey"}, cli.ExitUsage, `no key "nokey"`},
		{"empty key", nil, []string{"--token-secret", "blank-token/token"}, cli.ExitUsage, `key "token" is empty`},
		{"no token", nil, nil, cli.ExitError, "this cluster requires an access token (no token was given, and namespace axon has no Secret axonserver-token labelled cluster=axonserver): give one with --token-secret axonserver-token/token"},
		{"wrong token in a file", nil, []string{"--token-file", wrong}, cli.ExitError, "Axon Server refused the access token from --token-file " + wrong},
		{"wrong token in the environment", ptr("s3cret-WRONG"), nil, cli.ExitError, "refused the access token from $KUBECTL_AXON_TOKEN"},
		{"right token in a file", nil, []string{"--token-file", right}, cli.ExitOK, ""},
		{"right token in a Secret", nil, []string{"--token-secret", "ops-token/token"}, cli.ExitOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != nil {
				t.Setenv(connect.TokenEnv, *tc.env)
			} else {
				unsetEnv(t, connect.TokenEnv)
			}
			for _, sub := range [][]string{{"status"}, {"doctor"}, {"upgrade", "--image", "axoniq/axonserver:2024.2.0-nonroot", "--dry-run"}} {
				code, out, errOut := w.run(t, sub[0], append(sub[1:], tc.args...)...)
				if strings.Contains(out+errOut, accessToken) {
					t.Errorf("%s: the token is in the output", sub[0])
				}
				if sub[0] == "doctor" && tc.code == cli.ExitOK {
					continue // doctor's own findings decide its exit code
				}
				if code != tc.code {
					t.Errorf("%s: exit %d, want %d; stderr %q", sub[0], code, tc.code, errOut)
				}
				if tc.code != cli.ExitOK && (out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.says)) {
					t.Errorf("%s: want one line with %q, got stdout %q stderr %q", sub[0], tc.says, out, errOut)
				}
			}
		})
	}
}

// TestClusterTokenSecret: without a token given, the Secret `kubectl axon generate`
// names, labelled with the cluster, is used, and said once; unlabelled, it is not.
func TestClusterTokenSecret(t *testing.T) {
	w := accessWorld(t)
	unsetEnv(t, connect.TokenEnv)
	ctx := context.Background()
	sec := tokenSecret("axonserver-token", nil, map[string]string{"token": accessToken, "internal-token": "x"})
	if _, err := w.kube.CoreV1().Secrets("axon").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := w.run(t, "status")
	if code != cli.ExitError || !strings.Contains(errOut, "this cluster requires an access token") {
		t.Errorf("unlabelled Secret: exit %d, stderr %q", code, errOut)
	}
	sec.Labels = map[string]string{"cluster": "axonserver"}
	if _, err := w.kube.CoreV1().Secrets("axon").Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, sub := range [][]string{{"status", "-o", "json"}, {"upgrade", "--image", "axoniq/axonserver:2024.2.0-nonroot", "--dry-run"}, {"doctor"}} {
		code, out, errOut := w.run(t, sub[0], sub[1:]...)
		if sub[0] != "doctor" && code != cli.ExitOK {
			t.Errorf("%s: exit %d, stderr %q", sub[0], code, errOut)
		}
		if n := strings.Count(errOut, "using the access token in Secret axon/axonserver-token, key token (labelled cluster=axonserver)"); n != 1 {
			t.Errorf("%s: said %d times, want once: %q", sub[0], n, errOut)
		}
		if strings.Contains(out+errOut, accessToken) {
			t.Errorf("%s: the token is in the output", sub[0])
		}
	}
	// A token given wins, and nothing is said.
	t.Setenv(connect.TokenEnv, accessToken)
	if code, _, errOut := w.run(t, "status"); code != cli.ExitOK || strings.Contains(errOut, "using the access token") {
		t.Errorf("explicit token: exit %d, stderr %q", code, errOut)
	}
}

// TestUnseenNodeIsNotSafe: a node whose pod runs but whose Axon Server does not
// answer is "unknown" in the table, in JSON (safeToStop false) and in the plan, and
// status --exit-code exits 3.
func TestUnseenNodeIsNotSafe(t *testing.T) {
	w := newWorld(t, threeNodes)
	if err := w.sim.KillNode("axonserver-3"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := w.run(t, "status", "-o", "json")
	if code != cli.ExitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	r := decodeReport(t, out)
	var raw struct {
		Nodes []map[string]any `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	for i, n := range r.Nodes {
		if n.Name != "axonserver-3" {
			continue
		}
		if n.SafeToStopVerdict != quorum.Unknown || n.SafeToStop || raw.Nodes[i]["safeToStop"] != false || n.Healthy {
			t.Errorf("axonserver-3: verdict %q safeToStop %v healthy %v: %s", n.SafeToStopVerdict, n.SafeToStop, n.Healthy, n.SafeToStopEvidence)
		}
		if !strings.Contains(n.SafeToStopEvidence, "axonserver-3 did not answer") {
			t.Errorf("evidence %q", n.SafeToStopEvidence)
		}
	}
	code, out, _ = w.run(t, "status", "--exit-code")
	if code != cli.ExitRefused || !strings.Contains(out, "unknown (did not answer)") {
		t.Errorf("status --exit-code: exit %d\n%s", code, out)
	}
	code, out, errOut = w.run(t, "upgrade", "--image", "axoniq/axonserver:2024.2.0-nonroot", "--dry-run")
	if code != cli.ExitOK {
		t.Fatalf("upgrade --dry-run: exit %d, stderr %q", code, errOut)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "axonserver-3") && strings.Contains(l, "unhealthy") && !strings.Contains(l, "unknown: axonserver-3 did not answer") {
			t.Errorf("plan row of axonserver-3: %q", l)
		}
	}
	if !strings.Contains(out, "unknown: axonserver-3 did not answer") {
		t.Errorf("the plan does not say unknown:\n%s", out)
	}
}

func ptr[T any](v T) *T { return &v }

// unsetEnv removes name for the test and restores it after.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // registers the restore
	os.Unsetenv(name)
}

// TestBlindStatusIsUnknown: when no node answers in time, every node is running and
// none is seen: status shows each as unknown (exit 3 with --exit-code), and the
// upgrade plan says unknown for every step.
func TestBlindStatusIsUnknown(t *testing.T) {
	w := newWorld(t, threeNodes)
	blind := []string{"--axon-timeout", "1ns"}
	code, out, errOut := w.run(t, "status", append([]string{"-o", "json", "--exit-code"}, blind...)...)
	if code != cli.ExitRefused {
		t.Errorf("status --exit-code: exit %d, stderr %q", code, errOut)
	}
	r := decodeReport(t, out)
	if len(r.Nodes) != 3 {
		t.Fatalf("%d nodes", len(r.Nodes))
	}
	for _, n := range r.Nodes {
		if n.SafeToStop || n.SafeToStopVerdict != quorum.Unknown || n.Healthy {
			t.Errorf("%s: safe %v verdict %q healthy %v", n.Name, n.SafeToStop, n.SafeToStopVerdict, n.Healthy)
		}
	}
	code, out, errOut = w.run(t, "upgrade", append([]string{"--image", "axoniq/axonserver:2024.2.0-nonroot", "--dry-run"}, blind...)...)
	if code != cli.ExitOK || strings.Count(out, "unknown: the replication groups could not be read") != 3 {
		t.Errorf("upgrade --dry-run: exit %d, stderr %q\n%s", code, errOut, out)
	}
}
