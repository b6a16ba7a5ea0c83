// Package harness drives axon-sandbox and the built binaries (kubectl,
// kubectl-axon) for the sandbox benchmarks (test/bench) and the chaos suite
// (test/chaos). It imports nothing from k8s.io/kubernetes: it runs the
// binaries in bin/, as a user would.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// Env locates the repository and the binaries.
type Env struct {
	Repo string // the root module
	Bin  string // kubectl, kubectl-axon, axon-sandbox, etcd, kube-*
	Logf func(format string, args ...any)
}

// NewEnv finds the repository above the working directory; bin defaults to REPO/bin.
func NewEnv(bin string) (*Env, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	repo := wd
	for {
		if b, err := os.ReadFile(filepath.Join(repo, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/kubectl-axon/kubectl-axon\n")) {
			break
		}
		parent := filepath.Dir(repo)
		if parent == repo {
			return nil, fmt.Errorf("no kubectl-axon go.mod above %s", wd)
		}
		repo = parent
	}
	if bin == "" {
		bin = filepath.Join(repo, "bin")
	}
	bin, _ = filepath.Abs(bin)
	var missing []string
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubectl-axon", "axon-sandbox"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%v missing in %s: run `make build sandbox-bins axon-sandbox`", missing, bin)
	}
	// kubectl finds the plugin on PATH, as a user's kubectl does.
	os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return &Env{Repo: repo, Bin: bin, Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }}, nil
}

var (
	liveMu sync.Mutex
	live   = map[string]*Sandbox{}
)

// DownAll tears down every sandbox this process brought up and not yet down.
func DownAll() {
	KillChildren()
	liveMu.Lock()
	var all []*Sandbox
	for _, s := range live {
		all = append(all, s)
	}
	liveMu.Unlock()
	for _, s := range all {
		_ = s.Down()
	}
}

// HandleSignals tears the sandboxes down on SIGINT/SIGTERM and exits 130.
// It also arms a deadline: at limit (when > 0) the sandboxes are torn down
// and the process exits 2, so no run outlives its budget.
func HandleSignals(limit time.Duration) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "\n%v: tearing the sandboxes down\n", s)
		DownAll()
		os.Exit(130)
	}()
	if limit > 0 {
		time.AfterFunc(limit, func() {
			fmt.Fprintf(os.Stderr, "\ntime limit %s reached: tearing the sandboxes down\n", limit)
			DownAll()
			os.Exit(2)
		})
	}
}

// Sandbox is one running axon-sandbox.
type Sandbox struct {
	Env       *Env
	Dir       string
	Topology  string
	Topo      *axonsim.Topology
	Namespace string
	UpTime    time.Duration
	downOnce  sync.Once
	downErr   error
}

// Up brings a sandbox up for topology (a path) in a fresh temporary
// directory. An up that fails on the agent's known registration race (a 409
// Conflict on a Node, see docs/chaos.md) is retried once.
func (e *Env) Up(topology string, timeout time.Duration) (*Sandbox, error) {
	s, err := e.up(topology, timeout)
	if err != nil && strings.Contains(err.Error(), "the object has been modified") {
		e.Logf("axon-sandbox up failed on a Node update conflict (agent race); retrying once")
		s, err = e.up(topology, timeout)
	}
	return s, err
}

func (e *Env) up(topology string, timeout time.Duration) (*Sandbox, error) {
	topo, err := axonsim.LoadTopology(topology)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "axon-bench-")
	if err != nil {
		return nil, err
	}
	s := &Sandbox{Env: e, Dir: dir, Topology: topology, Topo: topo, Namespace: topo.Namespace}
	liveMu.Lock()
	live[dir] = s
	liveMu.Unlock()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.Bin, "axon-sandbox"), "up", "--topology", topology, "--dir", dir,
		"--rbac", filepath.Join(e.Repo, "docs", "rbac.yaml"), "--timeout", timeout.String())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		s.Down()
		return nil, fmt.Errorf("axon-sandbox up %s: %v\n%s", topology, err, out.String())
	}
	s.UpTime = time.Since(start)
	return s, nil
}

// Down tears the sandbox down and removes its directory (kept when
// AXON_BENCH_KEEP is set). Safe to call twice.
func (s *Sandbox) Down() error {
	s.downOnce.Do(func() {
		out, err := exec.Command(filepath.Join(s.Env.Bin, "axon-sandbox"), "down", "--dir", s.Dir).CombinedOutput()
		if err != nil {
			s.downErr = fmt.Errorf("axon-sandbox down: %v\n%s", err, out)
		}
		liveMu.Lock()
		delete(live, s.Dir)
		liveMu.Unlock()
		if os.Getenv("AXON_BENCH_KEEP") == "" {
			os.RemoveAll(s.Dir)
		}
	})
	return s.downErr
}

// KeepLogs copies a sandbox's logs/ and audit.jsonl out of dir (removed when the
// sandbox goes down) into a new directory named prefix-* under $AXON_E2E_LOGS (default:
// the system's temporary directory). It returns that directory and how many of the
// two it copied.
func KeepLogs(dir, prefix string) (string, int, error) {
	root := os.Getenv("AXON_E2E_LOGS")
	if root == "" {
		root = os.TempDir()
	}
	dst, err := os.MkdirTemp(root, strings.ReplaceAll(prefix, "/", "_")+"-")
	if err != nil {
		return "", 0, err
	}
	kept := 0
	for _, src := range []string{filepath.Join(dir, "logs"), filepath.Join(dir, "audit.jsonl")} {
		if err := os.CopyFS(filepath.Join(dst, filepath.Base(src)), os.DirFS(src)); err == nil {
			kept++
		} else if b, err := os.ReadFile(src); err == nil && os.WriteFile(filepath.Join(dst, filepath.Base(src)), b, 0o644) == nil {
			kept++
		}
	}
	return dst, kept, nil
}

// Kubeconfig is the admin kubeconfig (system:masters).
func (s *Sandbox) Kubeconfig() string { return filepath.Join(s.Dir, "kubeconfig") }

// OperatorKubeconfig is the restricted operator's (docs/rbac.yaml only).
func (s *Sandbox) OperatorKubeconfig() string { return filepath.Join(s.Dir, "kubeconfig-operator") }

// Result is the outcome of one command.
type Result struct {
	Args     []string
	Stdout   string
	Stderr   string
	Code     int // -1: could not start or killed by a signal
	Wall     time.Duration
	MaxRSSKB int64
	TimedOut bool
}

func (r Result) String() string {
	return fmt.Sprintf("$ %s\nexit %d after %s\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code, r.Wall.Round(time.Millisecond), tail(r.Stdout, 60), tail(r.Stderr, 60))
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = append([]string{fmt.Sprintf("... (%d lines)", len(l)-lines)}, l[len(l)-lines:]...)
	}
	return strings.Join(l, "\n")
}

var (
	childMu  sync.Mutex
	children = map[int]string{} // process groups of running commands -> their kubeconfig
)

func track(pid int, kubeconfig string, on bool) {
	childMu.Lock()
	defer childMu.Unlock()
	if on {
		children[pid] = kubeconfig
	} else {
		delete(children, pid)
	}
}

// KillChildren kills the process groups of the commands still running.
func KillChildren() {
	childMu.Lock()
	defer childMu.Unlock()
	for pid := range children {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// KillCommands kills the process groups of the commands still running
// against this sandbox (others' keep running: sandboxes run in parallel).
func (s *Sandbox) KillCommands() {
	childMu.Lock()
	defer childMu.Unlock()
	for pid, kc := range children {
		if kc == s.Kubeconfig() {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
}

// Command prepares a command with KUBECONFIG set, in a process group of its
// own that is killed as a whole when ctx ends (a script's children too).
// Callers that Start it themselves should Track it.
func Command(ctx context.Context, kubeconfig string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if kubeconfig != "" {
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Track records (on) or forgets a started command's process group for KillChildren.
func Track(pid int, on bool) { track(pid, "", on) }

// TrackFor is Track for a command run against the sandbox of kubeconfig
// (KillCommands kills it).
func TrackFor(pid int, kubeconfig string, on bool) { track(pid, kubeconfig, on) }

// Run runs a command on the host with KUBECONFIG set to kubeconfig, bounded by timeout.
func Run(kubeconfig string, timeout time.Duration, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := Command(ctx, kubeconfig, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Start()
	if err == nil {
		track(cmd.Process.Pid, kubeconfig, true)
		err = cmd.Wait()
		track(cmd.Process.Pid, kubeconfig, false)
	}
	r := Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Wall: time.Since(start)}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.MaxRSSKB = ru.Maxrss // KiB on Linux
		}
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		r.Code = -1
		r.Stderr += "\n" + err.Error()
	}
	r.TimedOut = ctx.Err() != nil
	return r
}

// Run runs a command against the sandbox as admin.
func (s *Sandbox) Run(timeout time.Duration, args ...string) Result {
	return Run(s.Kubeconfig(), timeout, args...)
}

// Kubectl runs kubectl as admin in the sandbox's namespace; an error on a non-zero exit.
func (s *Sandbox) Kubectl(args ...string) (string, error) {
	r := s.Run(2*time.Minute, append([]string{"kubectl", "-n", s.Namespace}, args...)...)
	if r.Code != 0 {
		return r.Stdout, fmt.Errorf("%s", r)
	}
	return r.Stdout, nil
}

// Audit reads DIR/audit.jsonl: the events of the topology's cluster (not those of an
// Axon cluster the sandbox runs in another namespace, which carry that namespace).
func (s *Sandbox) Audit() ([]axonsim.Event, error) {
	f, err := os.Open(filepath.Join(s.Dir, "audit.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ev, err := axonsim.ReadAudit(f)
	return axonsim.InNamespace(ev, ""), err
}

// AuditLen is the number of events so far (a mark).
func (s *Sandbox) AuditLen() int {
	ev, _ := s.Audit()
	return len(ev)
}

// AuditSince returns the events after mark.
func (s *Sandbox) AuditSince(mark int) []axonsim.Event {
	ev, _ := s.Audit()
	if mark > len(ev) {
		return nil
	}
	return ev[mark:]
}

// Status is the part of `kubectl axon status -o json` the harness reads.
type Status struct {
	Healthy bool `json:"healthy"`
	Nodes   []struct {
		Name     string   `json:"name"`
		Pod      string   `json:"pod"`
		Ready    bool     `json:"ready"`
		Healthy  bool     `json:"healthy"`
		Worker   string   `json:"worker"`
		Image    string   `json:"image"`
		Problems []string `json:"problems"`
	} `json:"nodes"`
	Groups []struct {
		Name      string `json:"name"`
		Leader    string `json:"leader"`
		CanCommit bool   `json:"canCommit"`
		Members   []struct {
			Node string `json:"node"`
			Role string `json:"role"`
		} `json:"members"`
	} `json:"groups"`
}

// Status runs `kubectl axon status -o json` as admin.
func (s *Sandbox) Status() (Status, Result) {
	r := s.Run(time.Minute, "kubectl", "axon", "status", "-n", s.Namespace, "-o", "json")
	var st Status
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		st.Healthy = false
	}
	return st, r
}

// AllHealthy: status says healthy, every node ready and healthy, every group led and committing.
func AllHealthy(st Status) bool {
	if !st.Healthy || len(st.Nodes) == 0 {
		return false
	}
	for _, n := range st.Nodes {
		if !n.Ready || !n.Healthy {
			return false
		}
	}
	for _, g := range st.Groups {
		if g.Leader == "" || !g.CanCommit {
			return false
		}
	}
	return true
}

// WaitHealthy polls status (bounded by timeout) until the cluster is all healthy.
func (s *Sandbox) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last Result
	for time.Now().Before(deadline) {
		st, r := s.Status()
		if AllHealthy(st) {
			return nil
		}
		last = r
		time.Sleep(time.Second)
	}
	return fmt.Errorf("not healthy after %s; last status:\n%s", timeout, last)
}

// FastProbes shortens the StatefulSets' probes (startup 30 s initial delay in
// AxonIQ's examples, which the sandbox follows) to a 1 s period so a node
// restart costs its simulated startup, not the probe's delay. The patch rolls
// every pod at once (setup only, before any measurement), then waits for health.
func (s *Sandbox) FastProbes(timeout time.Duration) error {
	out, err := s.Kubectl("get", "statefulsets", "-l", "cluster", "-o", "name")
	if err != nil {
		return err
	}
	probe := func(initial, failures int) map[string]any {
		return map[string]any{"initialDelaySeconds": initial, "periodSeconds": 1, "failureThreshold": failures, "timeoutSeconds": 1}
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []any{map[string]any{"name": "axonserver",
			"startupProbe":   probe(1, 600),
			"readinessProbe": probe(0, 30),
			"livenessProbe":  probe(0, 10),
		}}}}}})
	names := strings.Fields(out)
	for _, n := range names {
		if _, err := s.Kubectl("patch", n, "--type=strategic", "-p", string(patch)); err != nil {
			return err
		}
	}
	for _, n := range names {
		if _, err := s.Kubectl("rollout", "status", n, "--timeout="+timeout.String()); err != nil {
			return err
		}
	}
	return s.WaitHealthy(timeout)
}

// RestartAPIServer stops the sandbox's kube-apiserver (SIGTERM, as a rolling
// control-plane upgrade does), keeps it down for the given time and starts it
// again with the same flags (axon-sandbox restart --down), which waits until
// /readyz answers.
func (s *Sandbox) RestartAPIServer(down time.Duration) error {
	r := Run("", 3*time.Minute, filepath.Join(s.Env.Bin, "axon-sandbox"), "restart", "--dir", s.Dir, "--down", down.String(), "kube-apiserver")
	if r.Code != 0 {
		return fmt.Errorf("axon-sandbox restart kube-apiserver: exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
	}
	return nil
}
