package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// The kubelet's pods/exec and the container runtime's side of it, and ephemeral containers.
//
// A container's filesystem is modelled by its image: the Axon Server images (every tag of
// axoniq/axonserver, -nonroot or not) and gcr.io/distroless images hold no shell and no tar,
// so exec answers what containerd answers for a missing executable; any other image is a
// small busybox-like image whose commands are the host's own tools. A command runs on the
// host in a mount namespace of its own (unshare), chrooted into a tmpfs that holds the host's
// /bin, /sbin, /usr, /lib*, /etc (read-only) and /dev, and each of the container's
// volumeMounts: the pod's volume directory (a PVC's PV, an emptyDir) bound at its mountPath,
// read-only where the mount says so. So `tar -C /axonserver/events -cf - .` in a container
// that mounts the pod's events volume streams the node's real files.

// distroless reports whether image has no shell and no tar: AxonIQ's Axon Server images
// (distroless Java images, -nonroot or not) and Google's distroless images.
func distroless(image string) bool {
	return axonServerImage(image) || strings.Contains(repository(image), "distroless")
}

// axonServerImage reports whether image is an Axon Server image, whose containers the
// sandbox runs as axonsim nodes: a repository named axonserver* (axoniq/axonserver, in
// any registry, -nonroot or not, axoniq/axonserver-enterprise) or holding
// axonserver-enterprise. Any other image is a plain container.
func axonServerImage(image string) bool {
	repo := repository(image)
	return strings.HasPrefix(path.Base(repo), "axonserver") || strings.Contains(repo, "axonserver-enterprise")
}

// repository is image without its tag and digest.
func repository(image string) string {
	repo := image
	if i := strings.IndexAny(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo
}

// notFound is containerd's error for an executable the image does not have (kubectl shows
// it as "Internal error occurred: error executing command in container: ...").
func notFound(cmd string) error {
	return fmt.Errorf("failed to exec in container: failed to start exec %q: OCI runtime exec failed: exec failed: unable to start container process: exec: %q: executable file not found in $PATH: unknown",
		execID(), cmd)
}

// execID is a new exec session's ID, as containerd names them.
func execID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// hostPath is where a busybox-like image finds cmd: a path, or a name looked up in the
// image's PATH (the host's tools); "" when the image does not have it.
func hostPath(cmd string, mounts []execMount) string {
	if strings.Contains(cmd, "/") {
		for _, m := range mounts { // a program on a volume
			if rel, ok := strings.CutPrefix(path.Clean(cmd), m.path+"/"); ok {
				if fi, err := os.Stat(filepath.Join(m.host, rel)); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
					return cmd
				}
				return ""
			}
		}
		if fi, err := os.Stat(cmd); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 && imageDir(cmd) {
			return cmd
		}
		return ""
	}
	for _, dir := range strings.Split(execPATH, ":") {
		p := filepath.Join(dir, cmd)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// execPATH is the PATH of a command run in a container.
const execPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// imageDirs are the host directories a busybox-like image's filesystem shows.
var imageDirs = []string{"bin", "sbin", "usr", "lib", "lib32", "lib64", "etc"}

func imageDir(p string) bool {
	for _, d := range imageDirs {
		if strings.HasPrefix(path.Clean(p), "/"+d+"/") {
			return true
		}
	}
	return false
}

// execMount is one volume of a container as exec shows it.
type execMount struct {
	path     string // mountPath
	host     string // the pod's volume directory
	readOnly bool
}

// execTarget is what exec needs of a pod's container: its image, its mounts, its ID.
type execTarget struct {
	image, id string
	mounts    []execMount
}

// target finds container in the pod run by uid: the pod's container while it runs, or an
// ephemeral container the kubelet started.
func (a *Agent) target(uid, container string) (execTarget, error) {
	a.mu.Lock()
	r := a.podRuns[uid]
	a.mu.Unlock()
	if r == nil {
		return execTarget{}, fmt.Errorf("pod %s not found", uid)
	}
	r.execMu.Lock()
	defer r.execMu.Unlock()
	var ct *corev1.Container
	id := ""
	if container == r.execMain.Name && r.execRunning {
		ct, id = &r.execMain, r.execMainID
	}
	for i := range r.execEphemeral {
		if e := &r.execEphemeral[i]; e.Name == container {
			ct, id = (*corev1.Container)(&e.EphemeralContainerCommon), r.ephemeralID(e.Name)
		}
	}
	if ct == nil {
		return execTarget{}, fmt.Errorf("container %q not found or not running in pod %s/%s", container, r.ns, r.name)
	}
	t := execTarget{image: ct.Image, id: id}
	for _, m := range ct.VolumeMounts {
		if dir := r.execVolumes[m.Name]; dir != "" && m.SubPath == "" {
			t.mounts = append(t.mounts, execMount{path: path.Clean(m.MountPath), host: dir, readOnly: m.ReadOnly})
		}
	}
	sort.Slice(t.mounts, func(i, j int) bool { return len(t.mounts[i].path) < len(t.mounts[j].path) })
	return t, nil
}

// executor is the container runtime's exec.
type executor struct{ a *Agent }

func (e executor) ExecInContainer(ctx context.Context, _ string, uid string, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	t, err := e.a.target(uid, container)
	if err != nil {
		return err
	}
	if len(cmd) == 0 {
		return errors.New("no command")
	}
	if distroless(t.image) || hostPath(cmd[0], t.mounts) == "" {
		return notFound(cmd[0])
	}
	code, err := e.a.runInContainer(ctx, t, cmd, in, out, errw, tty)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

// execScript runs in the new mount namespace (as the host's /bin/sh): it builds the
// container's filesystem in a tmpfs at $1 and execs the command chrooted there.
// Arguments: root, the number of volumes, then (source, mountPath, ro|rw) per volume, then
// the command.
const execScript = `set -e
R="$1"; shift
mount -t tmpfs -o mode=755 container-root "$R"
for d in ` + "bin sbin usr lib lib32 lib64 etc" + `; do
  if [ -d "/$d" ]; then mkdir -p "$R/$d"; mount --rbind "/$d" "$R/$d"; mount -o remount,bind,ro "$R/$d"; fi
done
mkdir -p "$R/dev" "$R/tmp" "$R/proc"; mount --rbind /dev "$R/dev"
n="$1"; shift
while [ "$n" -gt 0 ]; do
  mkdir -p "$R$2"; mount --bind "$1" "$R$2"
  if [ "$3" = ro ]; then mount -o remount,bind,ro "$R$2"; fi
  shift 3; n=$((n-1))
done
exec chroot "$R" "$@"
`

// runInContainer runs cmd as the container would and returns its exit code.
func (a *Agent) runInContainer(ctx context.Context, t execTarget, cmd []string, in io.Reader, out, errw io.Writer, tty bool) (int, error) {
	root, err := os.MkdirTemp(a.st.Path("agent"), "exec-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(root) // the tmpfs on it lived in the command's namespace only
	args := []string{"-c", execScript, "exec-in-container", root, fmt.Sprint(len(t.mounts))}
	for _, m := range t.mounts {
		ro := "rw"
		if m.readOnly {
			ro = "ro"
		}
		args = append(args, m.host, m.path, ro)
	}
	args = append(args, cmd...)
	c := exec.CommandContext(ctx, "/bin/sh", args...)
	c.Env = []string{"PATH=" + execPATH, "HOME=/root", "HOSTNAME=" + t.id}
	if tty {
		c.Env = append(c.Env, "TERM=xterm")
	}
	c.Stdin, c.Stdout, c.Stderr = in, out, errw
	if errw == nil || tty {
		c.Stderr = out // a TTY has one stream
	}
	c.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 5 * time.Second
	err = c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}

// serveExec is the kubelet's /exec/{namespace}/{pod}[/{uid}]/{container}?command=...
func (a *Agent) serveExec(worker string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/exec/"), "/")
		if len(parts) < 3 || len(parts) > 4 {
			http.Error(w, "want /exec/NAMESPACE/POD[/UID]/CONTAINER", http.StatusBadRequest)
			return
		}
		key := parts[0] + "/" + parts[1]
		uid, ok := a.podOnWorker(key, worker)
		if !ok {
			http.Error(w, "pod does not exist", http.StatusNotFound)
			return
		}
		if len(parts) == 4 && parts[2] != uid {
			http.Error(w, "pod not found", http.StatusNotFound)
			return
		}
		opts, err := remotecommand.NewOptions(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		remotecommand.ServeExec(w, req, executor{a}, key, uid, parts[len(parts)-1], req.URL.Query()["command"], opts,
			4*time.Hour, 30*time.Second, remotecommand.SupportedStreamingProtocols)
	}
}

// ---- the pod's side: volumes, the main container, ephemeral containers ----

// setExecVolumes records the host directories of the pod's volumes (PVCs: their PV; emptyDir:
// a directory of the agent's for this pod) for exec.
func (r *podRun) setExecVolumes(dirs map[string]string) {
	r.execMu.Lock()
	defer r.execMu.Unlock()
	r.execVolumes = dirs
}

// setExecMain records the pod's container as exec sees it.
func (r *podRun) setExecMain(ct corev1.Container, running bool, id string) {
	r.execMu.Lock()
	defer r.execMu.Unlock()
	r.execMain, r.execRunning, r.execMainID = ct, running, id
}

func (r *podRun) ephemeralID(name string) string {
	return fmt.Sprintf("axonsim://%s-%s-%s", r.idStem(), string(r.uid)[:8], name)
}

// startEphemeral starts the ephemeral containers the pod's spec has and the kubelet has not
// started yet (they run until the pod ends; they are never restarted or removed).
func (r *podRun) startEphemeral(p *corev1.Pod) {
	r.execMu.Lock()
	defer r.execMu.Unlock()
	for _, ec := range p.Spec.EphemeralContainers {
		if _, ok := r.ephemeralAt[ec.Name]; ok {
			continue
		}
		if r.ephemeralAt == nil {
			r.ephemeralAt = map[string]metav1.Time{}
		}
		r.ephemeralAt[ec.Name] = metav1.Now()
		r.execEphemeral = append(r.execEphemeral, ec)
		r.a.logs.add(r.ns+"/"+r.name, fmt.Sprintf("[axon-sandbox kubelet] started ephemeral container %s (image %s)", ec.Name, ec.Image))
		r.a.logf("%s/%s: started ephemeral container %s (image %s)", r.ns, r.name, ec.Name, ec.Image)
	}
}

// ephemeralStatuses are the pod's ephemeralContainerStatuses: every started one Running.
func (r *podRun) ephemeralStatuses() []corev1.ContainerStatus {
	r.execMu.Lock()
	defer r.execMu.Unlock()
	var out []corev1.ContainerStatus
	for _, ec := range r.execEphemeral {
		started := true
		out = append(out, corev1.ContainerStatus{Name: ec.Name, Image: ec.Image, ImageID: "axonsim://" + ec.Image,
			ContainerID: r.ephemeralID(ec.Name), Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: r.ephemeralAt[ec.Name]}}})
	}
	return out
}
