//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	"github.com/kubectl-axon/kubectl-axon/test/bench/harness"
)

// Sandbox is one running axon-sandbox. Its helpers report to s.t: a subtest
// that uses the sandbox sets s.t = t first (subtests sharing a sandbox run
// one at a time).
type Sandbox struct {
	t         *testing.T
	Dir       string
	Topology  *axonsim.Topology
	Namespace string
	UpTime    time.Duration
}

// StartSandbox brings a sandbox up for topology (a path relative to
// test/e2e) and tears it down when t ends, failed or not. On failure its
// logs are kept (keepLogs).
func StartSandbox(t *testing.T, topology string) *Sandbox {
	t.Helper()
	topo, err := axonsim.LoadTopology(topology)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "axon-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Sandbox{t: t, Dir: dir, Topology: topo, Namespace: topo.Namespace}
	liveMu.Lock()
	live[dir] = true
	liveMu.Unlock()
	t.Cleanup(func() {
		liveMu.Lock()
		delete(live, dir)
		liveMu.Unlock()
		if t.Failed() {
			s.keepLogs()
		}
		out, err := exec.Command(filepath.Join(binDir, "axon-sandbox"), "down", "--dir", dir).CombinedOutput()
		if err != nil {
			t.Errorf("axon-sandbox down: %v\n%s", err, out)
		}
		if t.Failed() && os.Getenv("AXON_E2E_KEEP") != "" {
			t.Logf("sandbox directory kept: %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	start := time.Now()
	cmd := exec.Command(filepath.Join(binDir, "axon-sandbox"), "up", "--topology", topology, "--dir", dir,
		"--rbac", filepath.Join(repoRoot, "docs", "rbac.yaml"), "--timeout", "4m")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("axon-sandbox up: %v\n%s", err, out.String())
	}
	s.UpTime = time.Since(start)
	t.Logf("sandbox up in %s (%d nodes) in %s", s.UpTime.Round(100*time.Millisecond), len(topo.Nodes), dir)
	return s
}

// keepLogs copies a failed sandbox's logs and audit log out of its directory,
// which is removed, into a directory of its own under $AXON_E2E_LOGS (default:
// the system's temporary directory), and says where in one line: the failure
// stays the last thing printed before the test's FAIL line.
func (s *Sandbox) keepLogs() {
	dst, kept, err := harness.KeepLogs(s.Dir, "axon-e2e-failed-"+s.t.Name())
	if err != nil {
		s.t.Logf("the sandbox's logs are not kept: %v", err)
		return
	}
	s.t.Logf("the sandbox's logs (%d of logs/, audit.jsonl) are in %s", kept, dst)
}

// Kubeconfig returns the admin kubeconfig, or the operator's when operator is true.
func (s *Sandbox) Kubeconfig(operator bool) string {
	if operator {
		return filepath.Join(s.Dir, "kubeconfig-operator")
	}
	return filepath.Join(s.Dir, "kubeconfig")
}

// Result is the outcome of one command.
type Result struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

func (r Result) String() string {
	return fmt.Sprintf("$ %s\nexit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// Run runs a command (kubectl, kubectl axon, ...) on the host with KUBECONFIG
// set to kubeconfig; it fails t only when the command cannot be started.
func (s *Sandbox) Run(kubeconfig string, args ...string) Result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		s.t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return r
}

// Kubectl runs the sandbox's kubectl as admin and fails t on a non-zero exit.
func (s *Sandbox) Kubectl(args ...string) string {
	s.t.Helper()
	r := s.Run(s.Kubeconfig(false), append([]string{"kubectl"}, args...)...)
	if r.Code != 0 {
		s.t.Fatalf("%s", r)
	}
	return r.Stdout
}

// Status runs `kubectl axon status -o json` as admin or operator. status
// exits 0, or 3 with --exit-code when the cluster is unhealthy; both print JSON.
func (s *Sandbox) Status(operator bool, extra ...string) (Status, Result) {
	s.t.Helper()
	args := append([]string{"kubectl", "axon", "status", "-n", s.Namespace, "-o", "json"}, extra...)
	r := s.Run(s.Kubeconfig(operator), args...)
	var st Status
	if r.Code != 0 && r.Code != 3 {
		s.t.Fatalf("%s", r)
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		s.t.Fatalf("status JSON: %v\n%s", err, r)
	}
	return st, r
}

// WaitStatus polls status until cond holds (or fails t at timeout, showing
// the last status).
func (s *Sandbox) WaitStatus(timeout time.Duration, what string, cond func(Status) bool) Status {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, r := s.Status(false)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %s waiting for %s; last status:\n%s", timeout, what, r.Stdout)
		}
		time.Sleep(time.Second)
	}
}

// Scale sets a StatefulSet's replicas and waits for its pods to follow (gone
// for 0; Ready for 1).
func (s *Sandbox) Scale(sts string, replicas int) {
	s.t.Helper()
	s.Kubectl("-n", s.Namespace, "scale", "statefulset", sts, fmt.Sprintf("--replicas=%d", replicas))
	if replicas == 0 {
		s.Kubectl("-n", s.Namespace, "wait", "--for=delete", "pod/"+sts+"-0", "--timeout=180s")
		return
	}
	s.Kubectl("-n", s.Namespace, "rollout", "status", "statefulset/"+sts, "--timeout=180s")
}

// ScaleAll scales several StatefulSets at once, then waits for each.
func (s *Sandbox) ScaleAll(replicas int, sts ...string) {
	s.t.Helper()
	for _, name := range sts {
		s.Kubectl("-n", s.Namespace, "scale", "statefulset", name, fmt.Sprintf("--replicas=%d", replicas))
	}
	for _, name := range sts {
		if replicas == 0 {
			s.Kubectl("-n", s.Namespace, "wait", "--for=delete", "pod/"+name+"-0", "--timeout=180s")
		} else {
			s.Kubectl("-n", s.Namespace, "rollout", "status", "statefulset/"+name, "--timeout=180s")
		}
	}
}

// AuditMark is a position in the audit log.
type AuditMark int

// AuditMark returns the current end of the audit log.
func (s *Sandbox) AuditMark() AuditMark { return AuditMark(len(s.Audit())) }

// Audit returns every event of DIR/audit.jsonl of the topology's cluster (an Axon
// cluster the sandbox runs in another namespace writes events with its namespace:
// AuditOf).
func (s *Sandbox) Audit() []axonsim.Event {
	s.t.Helper()
	f, err := os.Open(filepath.Join(s.Dir, "audit.jsonl"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	ev, err := axonsim.ReadAudit(f)
	if err != nil {
		s.t.Fatal(err)
	}
	return axonsim.InNamespace(ev, "")
}

// AuditSince returns the events after mark.
func (s *Sandbox) AuditSince(m AuditMark) []axonsim.Event {
	ev := s.Audit()
	if int(m) > len(ev) {
		return nil
	}
	return ev[m:]
}

// FindEvents returns the events of kind (and group and node when not empty).
func FindEvents(ev []axonsim.Event, kind, group, node string) []axonsim.Event {
	var out []axonsim.Event
	for _, e := range ev {
		if e.Event == kind && (group == "" || e.Group == group) && (node == "" || e.Node == node) {
			out = append(out, e)
		}
	}
	return out
}

// WaitAudit waits until an event of kind (group, node) appears after mark.
func (s *Sandbox) WaitAudit(m AuditMark, timeout time.Duration, kind, group, node string) axonsim.Event {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if ev := FindEvents(s.AuditSince(m), kind, group, node); len(ev) > 0 {
			return ev[0]
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no %s event (group %q, node %q) in the audit log within %s; since the mark:\n%s",
				kind, group, node, timeout, fmtEvents(s.AuditSince(m)))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func fmtEvents(ev []axonsim.Event) string {
	var b strings.Builder
	for _, e := range ev {
		fmt.Fprintf(&b, "  %s %s group=%s node=%s %s\n", e.Time.Format("15:04:05.000"), e.Event, e.Group, e.Node, e.Reason)
	}
	return b.String()
}

// Status is the part of `kubectl axon status -o json` the tests read.
type Status struct {
	Cluster   string        `json:"cluster"`
	Namespace string        `json:"namespace"`
	Healthy   bool          `json:"healthy"`
	Nodes     []StatusNode  `json:"nodes"`
	Groups    []StatusGroup `json:"groups"`
}

type StatusNode struct {
	Name        string   `json:"name"`
	StatefulSet string   `json:"statefulSet"`
	Pod         string   `json:"pod"`
	Ready       bool     `json:"ready"`
	Reachable   bool     `json:"reachable"`
	Connected   bool     `json:"connected"`
	Healthy     bool     `json:"healthy"`
	SafeToStop  bool     `json:"safeToStop"`
	Groups      []string `json:"groups"`
	Leads       []string `json:"leads"`
}

type StatusGroup struct {
	Name           string         `json:"name"`
	Leader         string         `json:"leader"`
	CanCommit      bool           `json:"canCommit"`
	FaultTolerance int            `json:"faultTolerance"`
	Members        []StatusMember `json:"members"`
}

type StatusMember struct {
	Node     string `json:"node"`
	Role     string `json:"role"`
	Up       bool   `json:"up"`
	CaughtUp bool   `json:"caughtUp"`
}

func (st Status) Node(name string) *StatusNode {
	for i := range st.Nodes {
		if st.Nodes[i].Name == name {
			return &st.Nodes[i]
		}
	}
	return nil
}

func (st Status) Group(name string) *StatusGroup {
	for i := range st.Groups {
		if st.Groups[i].Name == name {
			return &st.Groups[i]
		}
	}
	return nil
}

func (g *StatusGroup) Member(node string) *StatusMember {
	for i := range g.Members {
		if g.Members[i].Node == node {
			return &g.Members[i]
		}
	}
	return nil
}

// allHealthy: every node ready, reachable, connected, healthy; every group
// with a leader and able to commit.
func allHealthy(st Status) bool {
	if !st.Healthy {
		return false
	}
	for _, n := range st.Nodes {
		if !n.Ready || !n.Reachable || !n.Connected || !n.Healthy {
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
