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
	"syscall"
	"testing"
	"time"
)

const (
	imageOld  = "axoniq/axonserver:2024.1.0-nonroot"
	imageNew  = "axoniq/axonserver:2024.2.0-nonroot"
	imageNext = "axoniq/axonserver:2024.2.1-nonroot"
	imageBad  = "axoniq/axonserver:2024.3.0-nonroot" // never ready (topology fault)
)

// upgradeEvent is one line of `kubectl axon upgrade -o json`.
type upgradeEvent struct {
	Time    time.Time       `json:"time"`
	Event   string          `json:"event"`
	Level   string          `json:"level"`
	Node    string          `json:"node"`
	Step    int             `json:"step"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

type upgradeSummary struct {
	Nodes []struct {
		Node             string  `json:"node"`
		Result           string  `json:"result"`
		ShutdownSeconds  float64 `json:"shutdownSeconds"`
		DownSeconds      float64 `json:"downSeconds"`
		ToHealthySeconds float64 `json:"toHealthySeconds"`
		OverheadSeconds  float64 `json:"overheadSeconds"`
		Elections        int     `json:"elections"`
	} `json:"nodes"`
	Elections           map[string]int `json:"elections"`
	ElapsedSeconds      float64        `json:"elapsedSeconds"`
	MeanOverheadSeconds float64        `json:"meanOverheadSeconds"`
	MaxOverheadSeconds  float64        `json:"maxOverheadSeconds"`
}

type upgradePlan struct {
	Steps []struct {
		Node string `json:"node"`
		Kind string `json:"kind"`
	} `json:"steps"`
	Elections map[string]int `json:"elections"`
	Safe      bool           `json:"safe"`
}

// runLong runs a command like Sandbox.Run but with a longer limit (an upgrade
// restarts every node; the sandbox's startup probe waits 30 s).
func runLong(s *Sandbox, kubeconfig string, timeout time.Duration, args ...string) Result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
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

func decodeEvents(t *testing.T, out string) []upgradeEvent {
	t.Helper()
	var evs []upgradeEvent
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var e upgradeEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not a JSON event: %v\n%s", err, l)
		}
		evs = append(evs, e)
	}
	return evs
}

func summaryOf(t *testing.T, evs []upgradeEvent) (upgradeSummary, upgradePlan) {
	t.Helper()
	var sum upgradeSummary
	var plan upgradePlan
	for _, e := range evs {
		switch e.Event {
		case "summary":
			if err := json.Unmarshal(e.Data, &sum); err != nil {
				t.Fatalf("summary: %v", err)
			}
		case "plan":
			if err := json.Unmarshal(e.Data, &plan); err != nil {
				t.Fatalf("plan: %v", err)
			}
		}
	}
	return sum, plan
}

// checkAudit: no quorum lost (except in the groups allowed), and per group at most
// the plan's worst-case elections. It logs the figures.
func checkAudit(t *testing.T, s *Sandbox, mark AuditMark, plan upgradePlan, allowLost ...string) map[string]int {
	t.Helper()
	ev := s.AuditSince(mark)
	allowed := map[string]bool{}
	for _, g := range allowLost {
		allowed[g] = true
	}
	lost := 0
	for _, e := range FindEvents(ev, "quorum-lost", "", "") {
		if !allowed[e.Group] {
			lost++
			t.Errorf("quorum lost in %s during the upgrade at %s", e.Group, e.Time)
		}
	}
	elections := map[string]int{}
	for _, e := range FindEvents(ev, "leader-elected", "", "") {
		elections[e.Group]++
	}
	for g, n := range elections {
		if want, ok := plan.Elections[g]; ok && n > want {
			t.Errorf("group %s: %d elections, the plan allowed at most %d", g, n, want)
		}
	}
	if k := FindEvents(ev, "node-killed", "", ""); len(k) > 0 {
		t.Errorf("nodes killed (unclean shutdown):\n%s", fmtEvents(k))
	}
	t.Logf("audit: quorum-lost %d (outside %v); leader elections per group %v (plan's worst case %v)", lost, allowLost, elections, plan.Elections)
	return elections
}

func logSummary(t *testing.T, what string, sum upgradeSummary) {
	t.Helper()
	logFigures(t, what, sum)
}

// logFigures logs a run's figures. The overhead is a measurement, not an
// assertion: a test never fails because the machine was slow (the figure is
// bounded in the benchmarks, docs/benchmarks.md). What is asserted is that it
// was measured: every finished node reports a non-negative overhead.
func logFigures(t *testing.T, what string, sum upgradeSummary) {
	t.Helper()
	for _, n := range sum.Nodes {
		t.Logf("%s: %s %s: shutdown %.1fs, down %.1fs, to healthy %.1fs, overhead %.3fs, elections %d",
			what, n.Node, n.Result, n.ShutdownSeconds, n.DownSeconds, n.ToHealthySeconds, n.OverheadSeconds, n.Elections)
	}
	t.Logf("%s: %d nodes in %.1fs; overhead per node mean %.3fs, max %.3fs", what, len(sum.Nodes), sum.ElapsedSeconds, sum.MeanOverheadSeconds, sum.MaxOverheadSeconds)
	for _, n := range sum.Nodes {
		if n.Result == "done" && n.OverheadSeconds < 0 {
			t.Errorf("%s: %s: negative overhead %.3fs", what, n.Node, n.OverheadSeconds)
		}
	}
}

func images(t *testing.T, s *Sandbox) map[string]string {
	t.Helper()
	out := s.Kubectl("-n", s.Namespace, "get", "statefulsets", "-o",
		`jsonpath={range .items[*]}{.metadata.name}={.spec.template.spec.containers[0].image}{"\n"}{end}`)
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

// TestUpgrade walks a five-node sandbox with mixed roles through a full upgrade as
// the restricted operator, a concurrent second run, a run killed mid-way and
// resumed, and a bad image that halts the upgrade at its first node.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/upgrade-five.yaml")
	ns := s.Namespace
	op := s.Kubeconfig(true)
	s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)

	t.Run("Healthy", func(t *testing.T) {
		s.t = t
		r := s.Run(op, "kubectl", "axon", "upgrade", "-n", ns, "--image", imageNew, "--dry-run")
		if r.Code != 0 || !strings.Contains(r.Stdout, "STEP") {
			t.Fatalf("dry run:\n%s", r)
		}
		t.Logf("plan:\n%s", r.Stdout)
		mark := s.AuditMark()
		r = runLong(s, op, 15*time.Minute, "kubectl", "axon", "upgrade", "-n", ns, "--image", imageNew, "-o", "json", "--node-timeout", "5m")
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		checkUpgraded(t, s, mark, r.Stdout, "5 nodes", imageNew)
		// Each template change is followed by the wait for the StatefulSet controller,
		// announced with its own data, so that the time is seen as Kubernetes'.
		waitedFor := map[string]bool{}
		for _, l := range strings.Split(r.Stdout, "\n") {
			var e struct {
				Event string         `json:"event"`
				Node  string         `json:"node"`
				Data  map[string]any `json:"data"`
			}
			if json.Unmarshal([]byte(l), &e) == nil && e.Event == "waiting" && e.Data["waitingFor"] == "statefulset-controller" {
				waitedFor[e.Node] = true
			}
		}
		if len(waitedFor) != 5 {
			t.Errorf("the wait for the StatefulSet controller announced for %v, want 5 nodes", waitedFor)
		}
		ann := s.Kubectl("-n", ns, "get", "statefulset", "axonserver-1", "-o", `jsonpath={.metadata.annotations.kubectl-axon\.io/shutdown-seconds}`)
		if ann == "" {
			t.Error("no kubectl-axon.io/shutdown-seconds annotation")
		}
		evs := s.Kubectl("-n", ns, "get", "events", "--field-selector", "reason=AxonUpgradeFinished", "-o", "name")
		if n := len(strings.Fields(evs)); n != 5 {
			t.Errorf("%d AxonUpgradeFinished events, want 5", n)
		}
	})

	t.Run("KilledAndResumed", func(t *testing.T) {
		s.t = t
		s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
		mark := s.AuditMark()
		finished := 0
		killedIn := ""
		_, stderr, _ := streamRun(t, op, func(cmd *exec.Cmd, e upgradeEvent) bool {
			if e.Event == "step-started" && finished == 0 && e.Step == 1 {
				// A second run while this one holds the Lease is refused, naming the holder.
				r := s.Run(op, "kubectl", "axon", "upgrade", "-n", ns, "--image", imageNext)
				if r.Code != 3 || !strings.Contains(r.Stderr, "holds Lease kubectl-axon-axonserver") || !strings.Contains(r.Stderr, "pid ") {
					t.Errorf("concurrent run not refused:\n%s", r)
				}
			}
			if e.Event == "step-finished" {
				finished++
			}
			if finished == 2 && e.Event == "acted" {
				killedIn = e.Node
				cmd.Process.Signal(syscall.SIGKILL)
				return true
			}
			return false
		}, "axon", "upgrade", "-n", ns, "--image", imageNext, "-o", "json", "--node-timeout", "5m")
		if killedIn == "" {
			t.Fatalf("never reached step 3; stderr:\n%s", stderr)
		}
		t.Logf("killed during the step of %s after 2 finished steps", killedIn)
		// The Lease of the killed run is still valid: the rerun is refused, then steals it.
		r := s.Run(op, "kubectl", "axon", "upgrade", "-n", ns, "--image", imageNext)
		if r.Code != 3 || !strings.Contains(r.Stderr, "--steal-lock") {
			t.Errorf("rerun without --steal-lock:\n%s", r)
		}
		r = runLong(s, op, 15*time.Minute, "kubectl", "axon", "upgrade", "-n", ns, "--image", imageNext, "-o", "json", "--steal-lock", "--node-timeout", "5m")
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		sum, plan := summaryOf(t, decodeEvents(t, r.Stdout))
		skipped := 0
		for _, n := range sum.Nodes {
			if n.Result == "skipped" {
				skipped++
			}
		}
		if skipped != 2 {
			t.Errorf("rerun skipped %d nodes, want the 2 finished before the kill", skipped)
		}
		logSummary(t, "resumed", sum)
		// The rerun's plan starts after the killed run's elections: no bound from it.
		t.Logf("rerun plan: %+v", plan)
		checkAudit(t, s, mark, upgradePlan{})
		for _, n := range s.Topology.Nodes {
			if c := len(FindEvents(s.AuditSince(mark), "node-started", "", n.Name)); c != 1 {
				t.Errorf("%s started %d times over the killed run and the rerun, want 1", n.Name, c)
			}
		}
		for n, img := range images(t, s) {
			if img != imageNext {
				t.Errorf("%s on %s", n, img)
			}
		}
	})

	t.Run("NeverReadyHalts", func(t *testing.T) {
		s.t = t
		s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
		mark := s.AuditMark()
		r := runLong(s, op, 10*time.Minute, "kubectl", "axon", "upgrade", "-n", ns, "--image", imageBad, "--node-timeout", "75s", "--progress", "lines")
		if r.Code != 4 {
			t.Fatalf("want exit 4:\n%s", r)
		}
		var bad []string
		for n, img := range images(t, s) {
			if img == imageBad {
				bad = append(bad, n)
			}
		}
		if len(bad) != 1 {
			t.Fatalf("nodes on the bad image: %v, want exactly the first", bad)
		}
		for _, want := range []string{bad[0] + " did not become healthy", "no other node touched", "--image " + imageNext + " " + bad[0], "pod " + bad[0] + "-0", "Axon Server: "} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
			}
		}
		for _, n := range s.Topology.Nodes {
			if n.Name != bad[0] && len(FindEvents(s.AuditSince(mark), "node-started", "", n.Name)) > 0 {
				t.Errorf("%s restarted after %s failed", n.Name, bad[0])
			}
		}
		if q := FindEvents(s.AuditSince(mark), "quorum-lost", "", ""); len(q) > 0 {
			t.Errorf("quorum lost:\n%s", fmtEvents(q))
		}
		// The way back: roll that node back (its pod never became Ready, so the plugin
		// replaces it itself; the controller would not).
		r = runLong(s, op, 10*time.Minute, "kubectl", "axon", "upgrade", "-n", ns, "--image", imageNext, bad[0], "--node-timeout", "5m", "--progress", "lines")
		if r.Code != 0 {
			t.Fatalf("roll back:\n%s", r)
		}
		s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
	})

	t.Run("APIServerRestartDuringWait", func(t *testing.T) {
		s.t = t
		// The control plane blinks while the plugin waits for a new pod: its watches
		// end and its reads are refused for a while. The step must go on, not fail.
		s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)
		mark := s.AuditMark()
		restarted := make(chan error, 1)
		started := false
		out, stderr, werr := streamRun(t, op, func(_ *exec.Cmd, e upgradeEvent) bool {
			if e.Event == "pod-gone" && !started {
				started = true
				go func() {
					b, err := exec.Command(filepath.Join(binDir, "axon-sandbox"), "restart", "--dir", s.Dir, "--down", "3s", "kube-apiserver").CombinedOutput()
					if err != nil {
						err = fmt.Errorf("%v: %s", err, b)
					}
					restarted <- err
				}()
			}
			return false
		}, "axon", "upgrade", "-n", ns, "--image", imageNew, "-o", "json", "--node-timeout", "5m")
		if !started {
			t.Fatalf("no pod-gone event; stderr:\n%s", stderr)
		}
		if err := <-restarted; err != nil {
			t.Fatalf("restarting kube-apiserver: %v", err)
		}
		if werr != nil {
			t.Fatalf("the upgrade did not survive the API server restart: %v\nstderr:\n%s\nstdout:\n%s", werr, stderr, out)
		}
		checkUpgraded(t, s, mark, out, "across an API server restart", imageNew)
	})
}

// checkUpgraded checks a finished upgrade to image from its JSON events (stdout) and
// the audit since mark: no quorum lost, elections within the plan's bound, every node
// on image and started exactly once.
func checkUpgraded(t *testing.T, s *Sandbox, mark AuditMark, stdout, label, image string) {
	t.Helper()
	sum, plan := summaryOf(t, decodeEvents(t, stdout))
	logSummary(t, label, sum)
	checkAudit(t, s, mark, plan)
	for n, img := range images(t, s) {
		if img != image {
			t.Errorf("%s on %s", n, img)
		}
	}
	for _, n := range s.Topology.Nodes {
		if c := len(FindEvents(s.AuditSince(mark), "node-started", "", n.Name)); c != 1 {
			t.Errorf("%s started %d times, want 1", n.Name, c)
		}
	}
}

// TestUpgradeThree: a three-node sandbox with a group of one member: refused
// without --force (nothing changed), then forced; quorum is lost only in that group.
func TestUpgradeThree(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/upgrade-three.yaml")
	ns := s.Namespace
	op := s.Kubeconfig(true)
	s.WaitStatus(90*time.Second, "a healthy cluster", allHealthy)

	r := s.Run(op, "kubectl", "axon", "upgrade", "-n", ns, "--image", imageNew)
	if r.Code != 3 || !strings.Contains(r.Stderr, "no safe order") || !strings.Contains(r.Stderr, "solo") {
		t.Fatalf("want a refusal naming solo:\n%s", r)
	}
	for n, img := range images(t, s) {
		if img != imageOld {
			t.Errorf("%s changed to %s by a refused run", n, img)
		}
	}
	// Safe subset first: the two nodes outside solo.
	mark := s.AuditMark()
	r = runLong(s, op, 10*time.Minute, "kubectl", "axon", "upgrade", "-n", ns, "--image", imageNew, "axonserver-1", "axonserver-2", "-o", "json", "--node-timeout", "5m")
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	sum, plan := summaryOf(t, decodeEvents(t, r.Stdout))
	logSummary(t, "3-node cluster, 2 safe nodes", sum)
	checkAudit(t, s, mark, plan)

	mark = s.AuditMark()
	r = runLong(s, op, 10*time.Minute, "kubectl", "axon", "upgrade", "-n", ns, "--image", imageNew, "--force", "-o", "json", "--node-timeout", "5m")
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	evs := decodeEvents(t, r.Stdout)
	forced := false
	for _, e := range evs {
		forced = forced || (e.Event == "forced" && e.Level == "warning")
	}
	if !forced {
		t.Error("no forced warning event")
	}
	sum, plan = summaryOf(t, evs)
	logSummary(t, "3-node cluster, forced node", sum)
	checkAudit(t, s, mark, plan, "solo")
	if out := s.Kubectl("-n", ns, "get", "events", "--field-selector", "reason=AxonUpgradeForced", "-o", "name"); strings.TrimSpace(out) == "" {
		t.Error("no AxonUpgradeForced Event")
	}
}
