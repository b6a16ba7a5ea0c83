package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	"github.com/kubectl-axon/kubectl-axon/test/sandbox/internal/sandbox"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podRun is the simulated kubelet's work for one pod (by UID): wait for its
// volumes, give it an address, start its container (an axonsim node, or a plain
// container), run its probes, restart it, and stop it when the pod is deleted.
//
// A pod whose first container's image is not an Axon Server image (axonServerImage) is
// plain: no axonsim node, nothing runs (its command is never run: it is reported running
// until the pod is deleted, whatever the command would do), its probes count as
// successes (nothing listens on its address), exec runs in it as in any busybox-like
// image (exec.go), and on deletion it stops at once. Whether a pod is plain is decided
// once, by the image it was created with.
type podRun struct {
	a         *Agent
	uid       types.UID
	ns, name  string
	node      string
	axon      string // the Axon node it runs; "" for a plain pod
	plain     bool
	sim       *axonsim.Cluster // the cluster of its namespace (nil: plain)
	image     string
	container corev1.Container
	spec      corev1.PodSpec
	wake      chan struct{}

	ip            string
	startTime     metav1.Time
	running       bool // the container (axonsim node) was started and has not exited
	started       bool
	ready         bool
	restarts      int32
	containerAt   metav1.Time
	waitingReason string
	waitingMsg    string
	lastTerm      *corev1.ContainerStateTerminated
	terminating   bool
	condTimes     map[corev1.PodConditionType]metav1.Time
	lastPatch     string
	probes        []*prober
	restartAt     time.Time

	// what exec sees (exec.go), guarded by execMu: the run loop writes, exec reads
	execMu        sync.Mutex
	execVolumes   map[string]string // volume name -> host directory
	execMain      corev1.Container
	execRunning   bool
	execMainID    string
	execEphemeral []corev1.EphemeralContainer // started, in start order
	ephemeralAt   map[string]metav1.Time
}

type prober struct {
	kind      string // startup, readiness, liveness
	p         *corev1.Probe
	next      time.Time
	successes int32
	failures  int32
}

func newPodRun(a *Agent, pod *corev1.Pod) *podRun {
	r := &podRun{a: a, uid: pod.UID, ns: pod.Namespace, name: pod.Name, node: pod.Spec.NodeName,
		spec: *pod.Spec.DeepCopy(), wake: make(chan struct{}, 1), condTimes: map[corev1.PodConditionType]metav1.Time{}}
	if len(pod.Spec.Containers) > 0 {
		r.container = pod.Spec.Containers[0]
		r.image = r.container.Image
	}
	if r.plain = !axonServerImage(r.image); r.plain {
		return r
	}
	for _, e := range r.container.Env {
		if e.Name == "AXONIQ_AXONSERVER_NAME" && e.Value != "" {
			r.axon = e.Value
		}
	}
	if r.axon == "" {
		for _, o := range pod.OwnerReferences {
			if o.Kind == "StatefulSet" {
				r.axon = o.Name
			}
		}
	}
	if r.axon == "" {
		r.axon = pod.Name
	}
	return r
}

func (r *podRun) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *podRun) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	what := r.axon
	if r.plain {
		what = "plain"
	}
	r.a.logf("%s/%s (%s on %s): %s", r.ns, r.name, what, r.node, msg)
	r.a.logs.add(r.ns+"/"+r.name, "[axon-sandbox kubelet] "+msg)
}

// current returns the pod as the informer sees it, nil if it is gone (or
// replaced by a pod of the same name with another UID).
func (r *podRun) current() *corev1.Pod {
	p, err := r.a.pods.Pods(r.ns).Get(r.name)
	if err != nil || p.UID != r.uid {
		return nil
	}
	return p
}

func (r *podRun) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.wake:
	}
}

func (r *podRun) run() {
	defer r.a.forget(string(r.uid))
	ctx := context.Background()

	// 1. volumes: every PVC bound to a PV (kubelet waits for attach/mount).
	var dataDir string
	var volDirs map[string]string
	for {
		p := r.current()
		if p == nil {
			return
		}
		if p.DeletionTimestamp != nil {
			r.forceDelete(ctx)
			return
		}
		dir, dirs, ok, why := r.volumes(p)
		if ok {
			dataDir, volDirs = dir, dirs
			break
		}
		r.setWaiting("ContainerCreating", why)
		r.patch(ctx)
		r.sleep(500 * time.Millisecond)
	}

	// 2. an Axon pod: the cluster of its namespace, and at most one running pod per
	// Axon node of it.
	if !r.plain {
		for {
			var err error
			if r.sim, err = r.a.simFor(r.ns); err == nil {
				break
			}
			r.logf("axonsim cluster of namespace %s: %v", r.ns, err)
			r.setWaiting("CreateContainerError", err.Error())
			r.patch(ctx)
			r.sleep(5 * time.Second)
			if p := r.current(); p == nil || p.DeletionTimestamp != nil {
				if p != nil {
					r.forceDelete(ctx)
				}
				return
			}
		}
		for !r.lockAxonWhileAlive() {
			if p := r.current(); p == nil || p.DeletionTimestamp != nil {
				if p != nil {
					r.forceDelete(ctx)
				}
				return
			}
		}
		defer r.a.unlockAxon(r.lockKey())
	}

	// 3. sandbox: an address of its own on the namespace's lo (the one it
	// has if the agent restarted under a running pod).
	ip, kept := r.a.keptAddress(string(r.uid))
	if !kept {
		var err error
		if ip, err = r.a.ips.take(); err != nil {
			r.logf("%v", err)
			return
		}
	}
	if err := r.a.assignAddr(ip); err != nil {
		r.logf("%v", err)
		r.a.ips.release(ip)
		return
	}
	r.ip = ip
	key := r.ns + "/" + r.name
	r.a.mu.Lock()
	r.a.podIPs[key] = podAddr{ip: ip, uid: string(r.uid), worker: r.node}
	r.a.mu.Unlock()
	defer func() {
		r.a.mu.Lock()
		if r.a.podIPs[key].uid == string(r.uid) {
			delete(r.a.podIPs, key)
		}
		r.a.mu.Unlock()
		r.a.logs.drop(key)
		r.a.releaseAddr(ip)
		r.a.ips.release(ip)
	}()
	r.startTime = metav1.Now()
	for name, dir := range volDirs { // emptyDir volumes: this pod's, gone with it
		if dir == "" {
			volDirs[name] = r.a.st.Path("agent", "emptydir", string(r.uid), name)
			_ = os.MkdirAll(volDirs[name], 0o755)
		}
	}
	defer os.RemoveAll(r.a.st.Path("agent", "emptydir", string(r.uid)))
	r.setExecVolumes(volDirs)
	ephemeral := ""
	if !r.plain {
		r.a.setReport(r.ns, r.axon, sandbox.NodeReport{Pod: r.name, PodIP: ip, Worker: r.node})
	}
	if dataDir == "" && !r.plain {
		ephemeral = r.a.st.Path("agent", "ephemeral", string(r.uid))
		dataDir = ephemeral
	}
	r.startContainer(dataDir)
	r.patch(ctx)

	// 4. the kubelet's sync loop for this pod.
	for {
		p := r.current()
		if p == nil {
			r.logf("pod gone (force deleted): killing")
			r.kill()
			break
		}
		if p.DeletionTimestamp != nil {
			grace := int64(30)
			if p.DeletionGracePeriodSeconds != nil {
				grace = *p.DeletionGracePeriodSeconds
			} else if r.spec.TerminationGracePeriodSeconds != nil {
				grace = *r.spec.TerminationGracePeriodSeconds
			}
			r.terminating = true
			r.ready = false
			r.patch(ctx)
			r.logf("deleted: stopping with grace period %ds", grace)
			r.stopContainer(time.Duration(grace)*time.Second, "Completed", 0)
			r.patch(ctx)
			r.forceDelete(ctx)
			break
		}
		now := time.Now()
		if len(p.Spec.Containers) > 0 && p.Spec.Containers[0].Image != r.image {
			// an in-place image change: the kubelet restarts the container
			r.logf("image changed from %s to %s: restarting the container", r.image, p.Spec.Containers[0].Image)
			r.ready = false
			r.patch(ctx)
			grace := int64(30)
			if r.spec.TerminationGracePeriodSeconds != nil {
				grace = *r.spec.TerminationGracePeriodSeconds
			}
			r.stopContainer(time.Duration(grace)*time.Second, "Completed", 0)
			r.container = p.Spec.Containers[0]
			r.image = r.container.Image
			r.restartAt = time.Now()
			continue
		}
		if r.running && !r.plain {
			if st := r.state(); st == axonsim.Stopped {
				r.logf("container exited (process stopped)")
				r.exited("Error", 137)
			}
		}
		if !r.running && !r.restartAt.IsZero() && !now.Before(r.restartAt) {
			r.restartAt = time.Time{}
			r.startContainer(dataDir)
		}
		if r.running {
			r.runProbes(ctx, dataDir)
		}
		r.startEphemeral(p)
		r.patch(ctx)
		r.sleep(200 * time.Millisecond)
	}
	if ephemeral != "" {
		_ = os.RemoveAll(ephemeral)
	}
}

func (r *podRun) lockAxonWhileAlive() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return r.a.lockAxon(ctx, r.lockKey())
}

// lockKey is the Axon node's key among every namespace's: NAMESPACE/NODE.
func (r *podRun) lockKey() string { return r.ns + "/" + r.axon }

// state is the container's process state: the axonsim node's, or a plain container's
// (running from its start to its stop).
func (r *podRun) state() axonsim.NodeState {
	if r.plain {
		if r.running {
			return axonsim.Running
		}
		return axonsim.Stopped
	}
	if n := r.sim.Node(r.axon); n != nil {
		return n.State()
	}
	return axonsim.Stopped
}

// kill ends the container at once (the pod was force deleted).
func (r *podRun) kill() {
	if !r.plain {
		_ = r.sim.KillNode(r.axon)
	}
}

// volumes checks that each PVC of the pod is bound and returns the directory
// of the PV behind the volume named "data", and per volume its host directory (a PV's;
// "" for an emptyDir, which the pod gets when it starts).
func (r *podRun) volumes(p *corev1.Pod) (dataDir string, dirs map[string]string, ok bool, why string) {
	dirs = map[string]string{}
	for _, v := range p.Spec.Volumes {
		if v.EmptyDir != nil {
			dirs[v.Name] = ""
		}
		if v.PersistentVolumeClaim == nil {
			continue
		}
		claim := v.PersistentVolumeClaim.ClaimName
		pvc, err := r.a.pvcs.PersistentVolumeClaims(p.Namespace).Get(claim)
		if err != nil {
			return "", nil, false, fmt.Sprintf("persistentvolumeclaim %q not found", claim)
		}
		if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
			return "", nil, false, fmt.Sprintf("persistentvolumeclaim %q not bound", claim)
		}
		pv, err := r.a.pvs.Get(pvc.Spec.VolumeName)
		if err != nil {
			return "", nil, false, fmt.Sprintf("persistentvolume %q not found", pvc.Spec.VolumeName)
		}
		dir := ""
		if pv.Spec.Local != nil {
			dir = pv.Spec.Local.Path
		} else if pv.Spec.HostPath != nil {
			dir = pv.Spec.HostPath.Path
		}
		dirs[v.Name] = dir
		if v.Name == "data" {
			dataDir = dir
		}
	}
	return dataDir, dirs, true, ""
}

func (r *podRun) advertiseHost() string {
	if r.spec.Subdomain != "" {
		host := r.spec.Hostname
		if host == "" {
			host = r.name
		}
		return fmt.Sprintf("%s.%s.%s.svc.cluster.local", host, r.spec.Subdomain, r.ns)
	}
	return r.name
}

func (r *podRun) startContainer(dataDir string) {
	if r.a.stopping.Load() {
		return
	}
	var err error
	if !r.plain {
		_, err = r.sim.StartNode(r.axon, axonsim.NodeConfig{
			Listen: net.JoinHostPort(r.ip, "8024"), AdvertiseHost: r.advertiseHost(),
			Image: r.image, DataDir: dataDir, Autocluster: r.autocluster(), PathRoot: "/axonserver",
			Mounts: r.axonMounts(), Properties: r.storageProperties(),
		})
	}
	if err != nil {
		r.logf("start: %v", err)
		r.setWaiting("CreateContainerError", err.Error())
		r.restartAt = time.Now().Add(10 * time.Second)
		return
	}
	if r.plain {
		r.logf("started container %s (restart %d, image %s) at %s: a plain container, nothing runs", r.container.Name, r.restarts, r.image, r.ip)
	} else {
		r.logf("started container (restart %d) at %s, data in %s", r.restarts, r.ip, dataDir)
	}
	r.running, r.started, r.ready = true, false, false
	r.waitingReason, r.waitingMsg = "", ""
	r.containerAt = metav1.Now()
	t0 := time.Now()
	r.probes = nil
	for _, x := range []struct {
		kind string
		p    *corev1.Probe
	}{{"startup", r.container.StartupProbe}, {"readiness", r.container.ReadinessProbe}, {"liveness", r.container.LivenessProbe}} {
		if x.p != nil {
			r.probes = append(r.probes, &prober{kind: x.kind, p: x.p, next: t0.Add(time.Duration(x.p.InitialDelaySeconds) * time.Second)})
		}
	}
	if r.container.StartupProbe == nil {
		r.started = true
	}
	if r.container.ReadinessProbe == nil {
		r.ready = r.started
	}
	r.setExecMain(r.container, true, r.containerID()) // before the status says it runs
}

// stopContainer stops the node cleanly with grace (the axonsim node is killed
// if it has not stopped by then); a force delete meanwhile kills it at once.
// A plain container stops at once (as a process that exits on SIGTERM).
func (r *podRun) stopContainer(grace time.Duration, reason string, code int32) {
	if !r.running {
		return
	}
	if r.plain {
		r.exited(reason, code)
		return
	}
	done := make(chan struct{})
	go func() {
		_ = r.sim.StopNode(r.axon, grace)
		close(done)
	}()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-r.wake:
			if r.current() == nil {
				r.kill()
			}
		case <-time.After(time.Second):
			if r.current() == nil {
				r.kill()
			}
		}
	}
	r.exited(reason, code)
}

func (r *podRun) exited(reason string, code int32) {
	r.lastTerm = &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason,
		StartedAt: r.containerAt, FinishedAt: metav1.Now(), ContainerID: r.containerID()}
	r.running, r.started, r.ready = false, false, false
	r.setExecMain(r.container, false, "")
	if !r.terminating {
		r.a.logs.restarted(r.ns + "/" + r.name)
		r.restarts++
		backoff := time.Duration(0)
		if r.restarts > 1 {
			backoff = 10 * time.Second << min(r.restarts-2, 5)
			if backoff > 5*time.Minute {
				backoff = 5 * time.Minute
			}
		}
		r.restartAt = time.Now().Add(backoff)
		r.setWaiting("CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container", backoff))
	}
}

func (r *podRun) setWaiting(reason, msg string) { r.waitingReason, r.waitingMsg = reason, msg }

func (r *podRun) runProbes(ctx context.Context, dataDir string) {
	now := time.Now()
	for _, pr := range r.probes {
		switch {
		case pr.kind == "startup" && r.started, pr.kind != "startup" && !r.started:
			if now.After(pr.next) {
				pr.next = now // due as soon as it becomes active
			}
			continue
		}
		if now.Before(pr.next) {
			continue
		}
		period := time.Duration(max(pr.p.PeriodSeconds, 1)) * time.Second
		pr.next = now.Add(period)
		err := r.probe(pr.p)
		if err == nil {
			pr.failures = 0
			pr.successes++
		} else {
			pr.successes = 0
			pr.failures++
		}
		threshold := max(pr.p.FailureThreshold, 1)
		switch pr.kind {
		case "startup":
			if err == nil {
				r.started = true
				r.logf("startup probe succeeded")
			} else if pr.failures >= threshold {
				r.logf("startup probe failed %d times (%v): restarting", pr.failures, err)
				r.restartForProbe(pr)
				return
			}
		case "readiness":
			if err == nil && pr.successes >= max(pr.p.SuccessThreshold, 1) {
				if !r.ready {
					r.logf("ready")
				}
				r.ready = true
			} else if err != nil && pr.failures >= threshold {
				if r.ready {
					r.logf("readiness probe failed %d times (%v): not ready", pr.failures, err)
				}
				r.ready = false
			}
		case "liveness":
			if err != nil && pr.failures >= threshold {
				r.logf("liveness probe failed %d times (%v): restarting", pr.failures, err)
				r.restartForProbe(pr)
				return
			}
		}
	}
}

func (r *podRun) restartForProbe(pr *prober) {
	grace := int64(30)
	if pr.p.TerminationGracePeriodSeconds != nil {
		grace = *pr.p.TerminationGracePeriodSeconds
	} else if r.spec.TerminationGracePeriodSeconds != nil {
		grace = *r.spec.TerminationGracePeriodSeconds
	}
	r.ready = false
	r.patch(context.Background())
	r.stopContainer(time.Duration(grace)*time.Second, "Error", 143)
}

var probeClient = &http.Client{
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // as the kubelet's HTTPS probes
		DisableKeepAlives: true,
		Proxy:             nil,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// probe runs one HTTP GET probe against the pod's address as the kubelet does
// (2xx and 3xx succeed). Only httpGet and tcpSocket handlers are simulated. A plain
// container's probes succeed: nothing runs in it that could answer.
func (r *podRun) probe(p *corev1.Probe) error {
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	switch {
	case r.plain:
		return nil
	case p.HTTPGet != nil:
		g := p.HTTPGet
		port, err := r.port(g.Port)
		if err != nil {
			return err
		}
		scheme := "http"
		if g.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(r.ip, strconv.Itoa(port)), g.Path), nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "kube-probe/1.37")
		for _, h := range g.HTTPHeaders {
			req.Header.Set(h.Name, h.Value)
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case p.TCPSocket != nil:
		port, err := r.port(p.TCPSocket.Port)
		if err != nil {
			return err
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(r.ip, strconv.Itoa(port)), timeout)
		if err != nil {
			return err
		}
		return c.Close()
	default:
		return nil // exec and grpc probes: no process to exec in; count as success
	}
}

func (r *podRun) port(p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range r.container.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q not found", p.StrVal)
}

func (r *podRun) containerID() string {
	return fmt.Sprintf("axonsim://%s-%s-%d", r.idStem(), string(r.uid)[:8], r.restarts)
}

// idStem names the pod's containers: the Axon node, or a plain pod's name.
func (r *podRun) idStem() string {
	if r.plain {
		return r.name
	}
	return r.axon
}

func (r *podRun) cond(t corev1.PodConditionType, ok bool) corev1.PodCondition {
	s := corev1.ConditionFalse
	if ok {
		s = corev1.ConditionTrue
	}
	key := corev1.PodConditionType(string(t) + "/" + string(s))
	ts, seen := r.condTimes[key]
	if !seen {
		ts = metav1.Now()
		r.condTimes[key] = ts
		delete(r.condTimes, corev1.PodConditionType(string(t)+"/"+string(map[bool]corev1.ConditionStatus{true: corev1.ConditionFalse, false: corev1.ConditionTrue}[ok])))
	}
	c := corev1.PodCondition{Type: t, Status: s, LastTransitionTime: ts}
	if !ok && (t == corev1.PodReady || t == corev1.ContainersReady) {
		c.Reason = "ContainersNotReady"
		c.Message = "containers with unready status: [" + r.container.Name + "]"
	}
	return c
}

// patch posts the pod's status when it changed (strategic merge on the
// status subresource, as the kubelet's status manager does).
func (r *podRun) patch(ctx context.Context) {
	cs := corev1.ContainerStatus{
		Name: r.container.Name, Image: r.image, ImageID: "axonsim://" + r.image,
		Ready: r.ready, Started: &r.started, RestartCount: r.restarts,
	}
	switch {
	case r.running:
		cs.ContainerID = r.containerID()
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: r.containerAt}
	case r.terminating && r.lastTerm != nil:
		cs.State.Terminated = r.lastTerm
	default:
		reason := r.waitingReason
		if reason == "" {
			reason = "ContainerCreating"
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: r.waitingMsg}
	}
	if r.lastTerm != nil && !(r.terminating && !r.running) {
		cs.LastTerminationState.Terminated = r.lastTerm
	}
	st := corev1.PodStatus{
		Phase: corev1.PodPending,
		Conditions: []corev1.PodCondition{
			r.cond(corev1.PodReadyToStartContainers, r.ip != ""),
			r.cond(corev1.PodInitialized, true),
			r.cond(corev1.ContainersReady, r.ready),
			r.cond(corev1.PodReady, r.ready),
		},
		ContainerStatuses:          []corev1.ContainerStatus{cs},
		EphemeralContainerStatuses: r.ephemeralStatuses(),
	}
	if ip := r.a.workerIP[r.node]; ip != "" {
		st.HostIP = ip
		st.HostIPs = []corev1.HostIP{{IP: ip}}
	}
	if r.ip != "" {
		st.Phase = corev1.PodRunning
		st.PodIP = r.ip
		st.PodIPs = []corev1.PodIP{{IP: r.ip}}
		st.StartTime = &r.startTime
	}
	// A JSON merge patch replaces lists (a strategic merge would merge podIPs with
	// whatever is there), and the UID, which the API server does not let a patch
	// change, keeps this runner from ever writing into a successor pod of the same
	// name (after a force delete).
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": r.uid}, "status": st})
	if err != nil {
		return
	}
	if string(body) == r.lastPatch {
		return
	}
	_, err = r.a.cs.CoreV1().Pods(r.ns).Patch(ctx, r.name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil {
		if !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) && !apierrors.IsConflict(err) {
			r.logf("status: %v", err)
		}
		return
	}
	r.lastPatch = string(body)
}

// forceDelete removes the pod once its containers have stopped (grace 0, the
// UID as precondition so that a successor of the same name is never hit),
// retried until the API server has it: a pod left Terminating would keep its
// StatefulSet from ever creating the successor.
func (r *podRun) forceDelete(context.Context) {
	r.a.finalDelete(r.a.context(), r.ns, r.name, r.uid)
}

// forceDelete finishes the deletion of a pod that never ran here.
func (a *Agent) forceDelete(pod *corev1.Pod) {
	a.finalDelete(a.context(), pod.Namespace, pod.Name, pod.UID)
}

func (a *Agent) finalDelete(ctx context.Context, ns, name string, uid types.UID) {
	_ = a.persist(ctx, fmt.Sprintf("%s/%s: final delete", ns, name), func(ctx context.Context) error {
		err := a.cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr(int64(0)), Preconditions: &metav1.Preconditions{UID: &uid},
		})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil // gone, or the name now belongs to a successor
		}
		return err
	})
}

// context is the agent's life (a background context before Run set it).
func (a *Agent) context() context.Context {
	if a.ctx == nil {
		return context.Background()
	}
	return a.ctx
}
