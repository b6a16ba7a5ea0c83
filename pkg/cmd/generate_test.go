package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestGenerateWithoutNamespace: without -n the objects name no namespace (kubectl's
// convention, so `generate | kubectl apply -n NS -f -` is not refused), and the DNS
// names are for the kubeconfig's namespace, which the header says.
func TestGenerateWithoutNamespace(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: team-a}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runWith(t, nil, "generate", "--kubeconfig", kc, "--nodes", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "apply them in team-a") {
		t.Errorf("header does not say where to apply:\n%s", out[:min(len(out), 600)])
	}
	if !strings.Contains(out, ".team-a.svc.") {
		t.Error("DNS names are not for the kubeconfig's namespace")
	}
	objects := 0
	for _, doc := range strings.Split(out, "\n---\n") {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj.Kind == "" {
			continue
		}
		objects++
		if obj.Metadata.Namespace != "" {
			t.Errorf("%s %s names namespace %q", obj.Kind, obj.Metadata.Name, obj.Metadata.Namespace)
		}
	}
	if objects < 10 {
		t.Fatalf("only %d objects parsed:\n%s", objects, out)
	}
	// With -n, every object names it.
	_, out, _ = runWith(t, nil, "generate", "--kubeconfig", kc, "-n", "axon", "--nodes", "3")
	if strings.Count(out, "namespace: axon") < 10 {
		t.Errorf("with -n the objects do not name the namespace:\n%s", out[:min(len(out), 600)])
	}
}
