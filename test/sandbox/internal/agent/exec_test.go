package agent

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	"github.com/kubectl-axon/kubectl-axon/test/sandbox/internal/sandbox"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	utilexec "k8s.io/utils/exec"
)

func TestDistroless(t *testing.T) {
	for image, want := range map[string]bool{
		"axoniq/axonserver:2024.1.0-nonroot":                  true,
		"axoniq/axonserver:2025.2.0":                          true,
		"docker.io/axoniq/axonserver@sha256:abc":              true,
		"reg.example.com:5000/axoniq/axonserver:2023.2.1-dev": true,
		"gcr.io/distroless/static:nonroot":                    true,
		"busybox:1.37":                                        false,
		"reg.example.com:5000/busybox":                        false,
		"alpine":                                              false,
	} {
		if got := distroless(image); got != want {
			t.Errorf("distroless(%q) = %v, want %v", image, got, want)
		}
	}
}

// TestStorageProperties: the environment (Spring's variable names) before the mounted
// axonserver.properties; properties the container does not set are left to axonsim's
// defaults.
func TestStorageProperties(t *testing.T) {
	if got := envName("axoniq.axonserver.controldb-backup-location"); got != "AXONIQ_AXONSERVER_CONTROLDBBACKUPLOCATION" {
		t.Errorf("envName: %s", got)
	}
	get := func(string) (*corev1.ConfigMap, error) {
		return &corev1.ConfigMap{Data: map[string]string{"axonserver.properties": "axoniq.axonserver.event.storage=/axonserver/events\n" +
			"axoniq.axonserver.controldb-backup-location=/axonserver/data/backup\n"}}, nil
	}
	ct := corev1.Container{
		VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/axonserver/config"}},
		Env:          []corev1.EnvVar{{Name: "AXONIQ_AXONSERVER_REPLICATION_LOGSTORAGEFOLDER", Value: "/axonserver/log"}, {Name: "AXONIQ_AXONSERVER_EVENT_STORAGE", Value: "/elsewhere"}},
	}
	spec := corev1.PodSpec{Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}}}
	got := storagePropertiesFor(ct, spec, get)
	want := map[string]string{
		axonsim.PropEventStorage:    "/elsewhere",
		axonsim.PropLogStorage:      "/axonserver/log",
		axonsim.PropControlDBBackup: "/axonserver/data/backup",
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestExecInContainer runs commands as the runtime does (a private mount namespace, the
// container's volumes at their mount paths): needs root.
func TestExecInContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount namespaces)")
	}
	dir := t.TempDir()
	a := &Agent{st: &sandbox.State{Dir: dir}, podRuns: map[string]*podRun{}, logger: log.New(io.Discard, "", 0)}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "agent"), 0o755))
	events := filepath.Join(dir, "pv-events")
	must(os.MkdirAll(filepath.Join(events, "default"), 0o755))
	must(os.WriteFile(filepath.Join(events, "default", "00000000000000000000.events"), []byte("segment"), 0o644))
	r := &podRun{a: a, uid: types.UID("0123456789abcdef"), ns: "axon", name: "axonserver-1-0", axon: "axonserver-1"}
	a.podRuns[string(r.uid)] = r
	r.setExecVolumes(map[string]string{"events": events})
	main := corev1.Container{Name: "axonserver", Image: "axoniq/axonserver:2024.1.0-nonroot",
		VolumeMounts: []corev1.VolumeMount{{Name: "events", MountPath: "/axonserver/events"}}}
	r.setExecMain(main, true, "axonsim://x")
	r.startEphemeral(&corev1.Pod{Spec: corev1.PodSpec{EphemeralContainers: []corev1.EphemeralContainer{{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox:1.37",
			VolumeMounts: []corev1.VolumeMount{{Name: "events", MountPath: "/axonserver/events", ReadOnly: true}}}}}}})
	if st := r.ephemeralStatuses(); len(st) != 1 || st[0].State.Running == nil {
		t.Fatalf("ephemeral statuses: %+v", st)
	}

	run := func(container string, stdin io.Reader, cmd ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := executor{a}.ExecInContainer(context.Background(), "axon/axonserver-1-0", string(r.uid), container, cmd,
			stdin, nopCloser{&out}, nopCloser{&errOut}, false, nil, 0)
		return out.String(), errOut.String(), err
	}
	// The Axon Server image: nothing to run.
	if _, _, err := run("axonserver", nil, "tar", "-cf", "-", "/axonserver"); err == nil || !strings.Contains(err.Error(), `exec: "tar": executable file not found in $PATH`) {
		t.Errorf("tar in the distroless container: %v", err)
	}
	// The busybox-like image: tar streams the volume's files.
	out, stderr, err := run("debug", nil, "tar", "-C", "/axonserver/events", "-cf", "-", ".")
	if err != nil {
		t.Fatalf("tar: %v %s", err, stderr)
	}
	var names []string
	tr := tar.NewReader(strings.NewReader(out))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			names = append(names, h.Name+"="+string(b))
		}
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "./default/00000000000000000000.events=segment" {
		t.Errorf("tar entries %v", names)
	}
	// Exit codes, stdin, stderr; a read-only mount; a command the image lacks; no mount leaks.
	_, stderr, err = run("debug", nil, "sh", "-c", "echo no >&2; exit 3")
	var ce utilexec.CodeExitError
	if !errors.As(err, &ce) || ce.Code != 3 || stderr != "no\n" {
		t.Errorf("exit 3: %v, stderr %q", err, stderr)
	}
	if out, _, err := run("debug", strings.NewReader("ping"), "cat"); err != nil || out != "ping" {
		t.Errorf("cat: %q %v", out, err)
	}
	if _, _, err := run("debug", nil, "touch", "/axonserver/events/x"); !errors.As(err, &ce) || ce.Code == 0 {
		t.Errorf("touch on a read-only mount: %v", err)
	}
	if _, _, err := run("debug", nil, "no-such-command"); err == nil || !strings.Contains(err.Error(), "executable file not found") {
		t.Errorf("a command the image lacks: %v", err)
	}
	if _, _, err := run("nope", nil, "true"); err == nil {
		t.Errorf("exec in an unknown container succeeded")
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "agent")); len(entries) != 0 {
		t.Errorf("left behind in the agent's directory: %v", entries)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), dir) {
		t.Errorf("a mount leaked into the agent's namespace")
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// TestExecFromStart: exec reaches a container from the moment the agent starts it,
// before the pod's status says it runs (a client that waits for the status then
// execs, as restore's loader does, must not find it missing), and no longer once it
// has exited.
func TestExecFromStart(t *testing.T) {
	a := &Agent{st: &sandbox.State{Dir: t.TempDir()}, podRuns: map[string]*podRun{}, logger: log.New(io.Discard, "", 0)}
	r := &podRun{a: a, uid: types.UID("0123456789abcdef"), ns: "axon", name: "axonserver-1-restore", plain: true,
		container: corev1.Container{Name: "restore", Image: "busybox:1.37"}}
	a.podRuns[string(r.uid)] = r
	if _, err := a.target(string(r.uid), "restore"); err == nil {
		t.Fatal("exec reached a container not yet started")
	}
	r.startContainer("")
	if tg, err := a.target(string(r.uid), "restore"); err != nil || tg.id != r.containerID() {
		t.Fatalf("exec after start: %+v, %v", tg, err)
	}
	r.exited("Error", 1)
	if _, err := a.target(string(r.uid), "restore"); err == nil || !strings.Contains(err.Error(), "not found or not running") {
		t.Fatalf("exec after exit: %v", err)
	}
}
