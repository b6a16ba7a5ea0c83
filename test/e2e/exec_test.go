//go:build e2e

package e2e

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/exec"
)

// execIn runs cmd in a container of pod through the API server's pods/exec, as kubectl
// exec does (WebSocket, falling back to SPDY), and returns stdout, stderr and the error.
func execIn(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, ns, pod, container string, stdin io.Reader, cmd ...string) ([]byte, string, error) {
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdin: stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return nil, "", err
	}
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return nil, "", err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, httpstream.IsUpgradeFailure)
	if err != nil {
		return nil, "", err
	}
	var out, errOut bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: &out, Stderr: &errOut})
	return out.Bytes(), errOut.String(), err
}

// TestExecEphemeral: an ephemeral container on an Axon pod (created through the API, as
// kubectl debug does) mounts the pod's volumes; tar in it, through the API server's
// pods/exec, streams the node's real segment files, which match what the node's
// /v1/backup/eventstore lists, record for record; the Axon Server container itself has no
// shell, as on the distroless images.
func TestExecEphemeral(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/backup.yaml")
	ns, pod, ctxName := s.Namespace, "axonserver-2-0", "invoices"
	perSeg := axonsim.RecordsPerSegment(axonsim.DefaultSegmentBytes) // the sandbox's segment size
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig(false))
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	eventStore := func(after int64) axonsim.JSONBackupEventStore {
		t.Helper()
		b, err := cs.CoreV1().Pods(ns).ProxyGet("http", pod, "8024", "/v1/backup/eventstore", map[string]string{
			"targetContext": ctxName, "type": "EVENT", "lastClosedSegmentBackedUp": strconv.FormatInt(after, 10)}).DoRaw(ctx)
		if err != nil {
			t.Fatalf("eventstore: %v: %s", err, b)
		}
		var es axonsim.JSONBackupEventStore
		if err := json.Unmarshal(b, &es); err != nil {
			t.Fatalf("eventstore: %v: %s", err, b)
		}
		return es
	}

	// The Axon Server image has no shell: the runtime's error, as containerd answers it.
	_, _, err = execIn(ctx, cfg, cs, ns, pod, "axonserver", nil, "sh", "-c", "true")
	if err == nil || !strings.Contains(err.Error(), `exec: "sh": executable file not found in $PATH`) {
		t.Errorf("exec sh in the Axon Server container: %v, want executable file not found", err)
	}

	// An ephemeral container that mounts the pod's volumes read-only.
	p, err := cs.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mounts []corev1.VolumeMount
	for _, m := range p.Spec.Containers[0].VolumeMounts {
		if m.Name == "events" || m.Name == "log" || m.Name == "data" {
			mounts = append(mounts, corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath, ReadOnly: true})
		}
	}
	if len(mounts) != 3 {
		t.Fatalf("the pod's container mounts %v, want events, log and data", p.Spec.Containers[0].VolumeMounts)
	}
	const debug = "axon-backup-e2e"
	p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: debug, Image: "busybox:1.37", Command: []string{"sleep", "infinity"},
			VolumeMounts: mounts}})
	if _, err := cs.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, pod, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	lw := &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", pod).String()
			return cs.CoreV1().Pods(ns).List(ctx, o)
		},
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", pod).String()
			return cs.CoreV1().Pods(ns).Watch(ctx, o)
		},
	}
	if _, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(e watch.Event) (bool, error) {
		pp, ok := e.Object.(*corev1.Pod)
		if !ok {
			return false, nil
		}
		for _, st := range pp.Status.EphemeralContainerStatuses {
			if st.Name == debug && st.State.Running != nil {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("ephemeral container %s not running: %v", debug, err)
	}

	// Exit codes, stdin and stderr come through; the volumes are read-only as mounted.
	_, stderr, err := execIn(ctx, cfg, cs, ns, pod, debug, nil, "sh", "-c", "echo oops >&2; exit 3")
	var ce exec.CodeExitError
	if !errors.As(err, &ce) || ce.Code != 3 || stderr != "oops\n" {
		t.Errorf("exit 3: %v (%T), stderr %q", err, err, stderr)
	}
	if out, _, err := execIn(ctx, cfg, cs, ns, pod, debug, strings.NewReader("ping"), "cat"); err != nil || string(out) != "ping" {
		t.Errorf("stdin: %q %v", out, err)
	}
	if _, _, err := execIn(ctx, cfg, cs, ns, pod, debug, nil, "touch", "/axonserver/events/x"); !errors.As(err, &ce) {
		t.Errorf("touch on a read-only volume: %v, want a non-zero exit", err)
	}

	// Several closed segments, then the files: what the node lists is what tar streams.
	var es axonsim.JSONBackupEventStore
	if err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(context.Context) (bool, error) {
		es = eventStore(-1) // segments close as the group writes
		return es.LastClosedSegment >= 2*perSeg, nil
	}); err != nil {
		t.Fatalf("no three closed segments of %s: %+v", ctxName, es)
	}
	start := time.Now()
	out, stderr, err := execIn(ctx, cfg, cs, ns, pod, debug, nil, "tar", "-C", "/axonserver/events", "-cf", "-", ".")
	if err != nil {
		t.Fatalf("tar: %v: %s", err, stderr)
	}
	t.Logf("tar of /axonserver/events: %d bytes in %s", len(out), time.Since(start).Round(time.Millisecond))
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("tar stream: %v", err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[path.Join("/axonserver/events", h.Name)] = b
		}
	}
	for _, f := range es.Filenames {
		b, ok := files[f]
		if !ok {
			t.Errorf("%s listed by the node, not in the tar stream", f)
			continue
		}
		if !strings.HasSuffix(f, ".events") || f == es.Filenames[0] {
			continue // an index, or the active segment (still being written)
		}
		first, _ := strconv.ParseInt(strings.TrimSuffix(path.Base(f), ".events"), 10, 64)
		if want := 5 + perSeg*axonsim.RecordBytes; int64(len(b)) != want {
			t.Errorf("closed segment %s: %d bytes, want %d", f, len(b), want)
			continue
		}
		for i := int64(0); i < perSeg; i++ {
			rec := b[5+i*axonsim.RecordBytes : 5+(i+1)*axonsim.RecordBytes]
			if !bytes.Equal(rec, axonsim.EventRecord(ctxName, first+i)) {
				t.Errorf("%s: event %d differs", f, first+i)
				break
			}
		}
	}
	// The tar has the other context's and _admin's default context too, and every closed
	// segment the node listed.
	for _, want := range []string{"/axonserver/events/orders/00000000000000000000.events", "/axonserver/events/default/00000000000000000000.events"} {
		if _, ok := files[want]; !ok {
			t.Errorf("%s not in the tar stream", want)
		}
	}
	// The control DB backup lands where generate puts it, on the data volume, and the
	// ephemeral container reads it there; the replication log's files are on the log volume.
	zipPath, err := cs.CoreV1().RESTClient().Post().AbsPath("/api/v1/namespaces", ns, "pods", pod+":8024", "proxy/v1/backup/createControlDbBackup").DoRaw(ctx)
	if err != nil || !strings.HasPrefix(string(zipPath), "/axonserver/data/backup/controldb") {
		t.Fatalf("createControlDbBackup: %v %s", err, zipPath)
	}
	zb, stderr, err := execIn(ctx, cfg, cs, ns, pod, debug, nil, "cat", string(zipPath))
	if err != nil {
		t.Fatalf("cat %s: %v %s", zipPath, err, stderr)
	}
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil || len(zr.File) != 1 || zr.File[0].Name != axonsim.ControlDBFile {
		t.Fatalf("control DB zip: %v %v", err, zr)
	}
	var logs []string
	lb, err := cs.CoreV1().Pods(ns).ProxyGet("http", pod, "8024", "/v1/backup/log/filenames", map[string]string{"context": "orders"}).DoRaw(ctx)
	if err != nil || json.Unmarshal(lb, &logs) != nil || len(logs) == 0 {
		t.Fatalf("log filenames: %v %s", err, lb)
	}
	lt, _, err := execIn(ctx, cfg, cs, ns, pod, debug, nil, "tar", "-C", "/axonserver/log", "-cf", "-", "orders")
	if err != nil {
		t.Fatalf("tar of the log: %v", err)
	}
	inTar := map[string]bool{}
	for tr := tar.NewReader(bytes.NewReader(lt)); ; {
		h, err := tr.Next()
		if err != nil {
			break
		}
		inTar[path.Join("/axonserver/log", h.Name)] = true
	}
	for _, f := range logs {
		if !inTar[f] {
			t.Errorf("replication log file %s not on the log volume", f)
		}
	}

	closed := 0
	for _, f := range es.Filenames[1:] {
		if strings.HasSuffix(f, ".events") {
			closed++
		}
	}
	if closed < 3 {
		t.Errorf("%d closed segments listed, want 3 or more: %v", closed, es.Filenames)
	}
}
