package cmd

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/report"
)

// unzip returns every entry's content, nested zips unpacked under "<entry>/".
func unzip(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		out[f.Name] = data
		if strings.HasSuffix(f.Name, ".zip") {
			for k, v := range unzip(t, data) {
				out[f.Name+"/"+k] = v
			}
		}
	}
	return out
}

func readManifest(t *testing.T, files map[string][]byte) report.Manifest {
	t.Helper()
	var m report.Manifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return m
}

func itemOf(m report.Manifest, path string) report.Item {
	for _, it := range m.Items {
		if it.Path == path {
			return it
		}
	}
	return report.Item{}
}

const planted = "planted-T0ken-4c1d9e77"

func TestReportPlantedToken(t *testing.T) {
	w := newWorld(t, threeNodes+"accessToken: "+planted+"\n")
	t.Setenv("KUBECTL_AXON_TOKEN", planted)
	ctx := t.Context()
	// the token in a ConfigMap (under an innocent key, and a secret-looking one), a
	// Secret, a StatefulSet's and a pod's environment
	_, _ = w.kube.CoreV1().ConfigMaps("axon").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "notes", Namespace: "axon"},
		Data: map[string]string{"notes.txt": "the admin token is " + planted, "axonserver.properties": "axoniq.axonserver.accesscontrol.token=" + planted + "\nother=1\n", "api-key": "k-123456"}}, metav1.CreateOptions{})
	_, _ = w.kube.CoreV1().Secrets("axon").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-token", Namespace: "axon"},
		Data: map[string][]byte{"token": []byte(planted), "other": []byte("s3cr3t-other-value")}}, metav1.CreateOptions{})
	sts, _ := w.kube.AppsV1().StatefulSets("axon").Get(ctx, "axonserver-1", metav1.GetOptions{})
	sts.Spec.Template.Spec.Containers[0].Env = append(sts.Spec.Template.Spec.Containers[0].Env,
		corev1.EnvVar{Name: "AXONIQ_AXONSERVER_ACCESSCONTROL_TOKEN", Value: planted}, corev1.EnvVar{Name: "DEBUG_NOTE", Value: "token=" + planted})
	_, _ = w.kube.AppsV1().StatefulSets("axon").Update(ctx, sts, metav1.UpdateOptions{})
	pod, _ := w.kube.CoreV1().Pods("axon").Get(ctx, "axonserver-1-0", metav1.GetOptions{})
	pod.Spec.Containers[0].Env = sts.Spec.Template.Spec.Containers[0].Env
	_, _ = w.kube.CoreV1().Pods("axon").Update(ctx, pod, metav1.UpdateOptions{})

	file := filepath.Join(t.TempDir(), "r.zip")
	code, out, errOut := w.run(t, "report", "-f", file)
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\nstderr %s", code, out, errOut)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	files := unzip(t, raw)
	for name, data := range files {
		if bytes.Contains(data, []byte(planted)) {
			t.Errorf("the token is in %s", name)
		}
	}
	if bytes.Contains(raw, []byte(planted)) || strings.Contains(out+errOut, planted) {
		t.Error("the token is in the zip's bytes or the output")
	}
	if bytes.Contains(files["kubernetes/secrets.yaml"], []byte("s3cr3t-other-value")) || !bytes.Contains(files["kubernetes/secrets.yaml"], []byte("other")) {
		t.Errorf("secrets: %s", files["kubernetes/secrets.yaml"])
	}
	// what was planted was collected, masked
	cms := string(files["kubernetes/configmaps.yaml"])
	if !strings.Contains(cms, "the admin token is ******") || !strings.Contains(cms, "accesscontrol.token= ******") || !strings.Contains(cms, "other=1") || strings.Contains(cms, "k-123456") {
		t.Errorf("configmaps:\n%s", cms)
	}
	if !bytes.Contains(files["kubernetes/statefulsets.yaml"], []byte("AXONIQ_AXONSERVER_ACCESSCONTROL_TOKEN")) {
		t.Error("the StatefulSets are not in the bundle")
	}
	m := readManifest(t, files)
	if !m.Complete || !m.Redacted || m.Cluster != "axonserver" {
		t.Errorf("manifest %+v", m)
	}
	for _, p := range []string{"README.txt", "kubernetes/pods.yaml", "kubernetes/events.yaml", "logs/axonserver-2-0/axonserver.log",
		"axon/axonserver-3/raft-status.json", "axon/axonserver-3/actuator-env.json", "axon/axonserver-1/diagnostics.zip/health.json",
		"kubectl-axon/status.json", "kubectl-axon/doctor.json", "kubectl-axon/config.json"} {
		if len(files[p]) == 0 {
			t.Errorf("no %s", p)
		}
	}
	if it := itemOf(m, "axon/axonserver-2/tasks.json"); it.Status != report.Collected || it.Size != len(files["axon/axonserver-2/tasks.json"]) {
		t.Errorf("tasks item %+v", it)
	}
	if !strings.Contains(string(files["README.txt"]), "never holds") {
		t.Errorf("README:\n%s", files["README.txt"])
	}
	// never overwrites: exit 2, the file unchanged
	code, _, errOut = w.run(t, "report", "-f", file)
	after, _ := os.ReadFile(file)
	if code != cli.ExitUsage || !bytes.Equal(after, raw) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("second run: exit %d, stderr %q", code, errOut)
	}
}

// A node down: its REST items fail and are recorded, the rest is collected, exit 3.
func TestReportNodeDown(t *testing.T) {
	w := newWorld(t, threeNodes)
	if err := w.sim.KillNode("axonserver-3"); err != nil {
		t.Fatal(err)
	}
	pod, _ := w.kube.CoreV1().Pods("axon").Get(t.Context(), "axonserver-3-0", metav1.GetOptions{})
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "axonserver", RestartCount: 2}}
	_, _ = w.kube.CoreV1().Pods("axon").UpdateStatus(t.Context(), pod, metav1.UpdateOptions{})
	file := filepath.Join(t.TempDir(), "down.zip")
	code, out, errOut := w.run(t, "report", "-f", file, "--axon-timeout", "2s")
	if code != cli.ExitRefused || strings.Count(errOut, "error:") != 1 || !strings.Contains(errOut, "incomplete") {
		t.Fatalf("exit %d\n%s\nstderr %s", code, out, errOut)
	}
	raw, _ := os.ReadFile(file)
	files := unzip(t, raw)
	m := readManifest(t, files)
	if m.Complete {
		t.Error("complete with a node down")
	}
	failed := 0
	for _, it := range m.Items {
		if strings.HasPrefix(it.Path, "axon/axonserver-3/") {
			if it.Status != report.Failed || it.Reason == "" {
				t.Errorf("%+v", it)
			}
			failed++
		} else if it.Status == report.Failed {
			t.Errorf("another item failed: %+v", it)
		}
	}
	if failed != len(report.Endpoints)+1 || !strings.Contains(string(files["errors.txt"]), "axon/axonserver-3/raft-status.json") {
		t.Errorf("%d failed items; errors.txt:\n%s", failed, files["errors.txt"])
	}
	if it := itemOf(m, "logs/axonserver-3-0/axonserver.previous.log"); it.Status != report.Collected {
		t.Errorf("previous log %+v", it)
	}
	if len(files["axon/axonserver-1/raft-status.json"]) == 0 || len(files["kubectl-axon/status.json"]) == 0 {
		t.Error("the others were not collected")
	}
}

func TestReportUsageAndDryRun(t *testing.T) {
	w := newWorld(t, threeNodes)
	dir := t.TempDir()
	existing := filepath.Join(dir, "x.zip")
	_ = os.WriteFile(existing, []byte("keep"), 0o644)
	for _, args := range [][]string{{"-f", existing}, {"--logs-limit", "lots"}, {"--logs-since", "-1h"}, {"extra"}} {
		code, out, errOut := w.run(t, "report", args...)
		if code != cli.ExitUsage || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, out %q, stderr %q", args, code, out, errOut)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep" {
		t.Error("the existing file changed")
	}
	w.kube.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = r.Spec.ResourceAttributes.Resource != "secrets"
		return true, r, nil
	})
	cwd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(cwd)
	code, out, errOut := w.run(t, "report", "--dry-run")
	entries, _ := os.ReadDir(dir)
	if code != cli.ExitOK || !strings.Contains(out, "list secrets") || !strings.Contains(out, "no (skipped)") || !strings.Contains(out, "get pods/log") || len(entries) != 1 {
		t.Errorf("dry-run: exit %d\n%s\nstderr %s; files %v", code, out, errOut, entries)
	}
}
