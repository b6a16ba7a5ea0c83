//go:build chaos

// Package chaos is a randomized, seeded reliability suite for kubectl axon on
// the sandbox (test/sandbox): random topologies, rolling operations, and
// faults injected while they run. The invariant, judged from the simulator's
// audit log and the commands' exits: no quorum-lost event the plugin caused;
// every run completes or stops with exit 3 or 4 and an explanation; a rerun
// completes it. See docs/chaos.md.
//
//	go test -tags chaos ./test/chaos -chaos.seed 1 -chaos.runs 3 -v   (make chaos N=3 SEED=1)
package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	"github.com/kubectl-axon/kubectl-axon/test/bench/harness"
)

var (
	seedFlag   = flag.Int64("chaos.seed", 1, "base seed: run i uses seed+i")
	runsFlag   = flag.Int("chaos.runs", 3, "number of runs (sandboxes)")
	opsFlag    = flag.Int("chaos.ops", 3, "most operations per run")
	budgetFlag = flag.Duration("chaos.run-limit", 15*time.Minute, "time limit of one run")
	binFlag    = flag.String("chaos.bin", "", "directory of the binaries (default REPO/bin)")
	parFlag    = flag.Int("chaos.parallel", 1, "runs (sandboxes) at once")
	seedsFlag  = flag.String("chaos.seeds", "", "comma-separated seeds to run instead of -chaos.seed/-chaos.runs; ci: the CI slice's")
	env        *harness.Env
)

func TestMain(m *testing.M) {
	flag.Parse()
	// parallel runs are parallel subtests: let go test run that many at once
	if f := flag.Lookup("test.parallel"); f != nil && *parFlag > 0 {
		_ = f.Value.Set(strconv.Itoa(*parFlag))
	}
	limit := time.Duration(0)
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, ok := f.Value.(flag.Getter).Get().(time.Duration); ok && d > time.Minute {
			limit = d - 30*time.Second
		}
	}
	harness.HandleSignals(limit)
	code := m.Run()
	harness.DownAll()
	os.Exit(code)
}

// tally counts what was tried, over all runs.
type tally struct {
	mu       sync.Mutex
	runs     int
	ops      map[string]int
	faults   map[string]int
	outcomes map[string]int
	reruns   int
}

func (t *tally) add(m map[string]int, k string) {
	t.mu.Lock()
	m[k]++
	t.mu.Unlock()
}

func (t *tally) String() string {
	f := func(m map[string]int) string {
		var ks []string
		n := 0
		for k, v := range m {
			ks = append(ks, fmt.Sprintf("%s %d", k, v))
			n += v
		}
		sort.Strings(ks)
		return fmt.Sprintf("%d (%s)", n, strings.Join(ks, ", "))
	}
	return fmt.Sprintf("runs %d; operations %s; faults %s; first-attempt outcomes %s; reruns %d",
		t.runs, f(t.ops), f(t.faults), f(t.outcomes), t.reruns)
}

// seeds are the runs' seeds: -chaos.seeds, or -chaos.runs from -chaos.seed.
func seeds() ([]int64, error) {
	var out []int64
	if *seedsFlag != "" {
		list := *seedsFlag
		if list == "ci" {
			list = ciSeeds
		}
		for _, f := range strings.Split(list, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("-chaos.seeds: %q is not a seed", f)
			}
			out = append(out, n)
		}
		return out, nil
	}
	for i := 0; i < *runsFlag; i++ {
		out = append(out, *seedFlag+int64(i))
	}
	return out, nil
}

// setup finds the binaries; the sandbox needs root.
func setup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("chaos: the sandbox needs root (network namespaces, veth); run as root") // a green run must mean the suite ran
	}
	var err error
	if env, err = harness.NewEnv(*binFlag); err != nil {
		t.Fatal("chaos: ", err)
	}
}

func TestChaos(t *testing.T) {
	setup(t)
	tl := &tally{ops: map[string]int{}, faults: map[string]int{}, outcomes: map[string]int{}}
	all, err := seeds()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var failed []int64
	var mu sync.Mutex
	defer func() {
		sort.Slice(failed, func(i, j int) bool { return failed[i] < failed[j] })
		what := fmt.Sprintf("seeds %d..%d", all[0], all[len(all)-1])
		if *seedsFlag != "" {
			what = "seeds " + *seedsFlag
		}
		summary := fmt.Sprintf("chaos: %s, %d at once: %s in %s; failed: %d", what, max(*parFlag, 1), tl, time.Since(start).Round(time.Second), len(failed))
		for _, s := range failed {
			summary += fmt.Sprintf("\nchaos: replay seed %d: make chaos SEED=%d N=1", s, s)
		}
		t.Log(summary)
		fmt.Println(summary)
	}()
	// The group ends when its last parallel run has.
	t.Run("runs", func(t *testing.T) {
		for _, seed := range all {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				t.Parallel()
				r := &chaosRun{t: t, seed: seed, tally: tl}
				defer func() {
					tl.mu.Lock()
					tl.runs++
					tl.mu.Unlock()
					if t.Failed() {
						mu.Lock()
						failed = append(failed, seed)
						mu.Unlock()
						t.Logf("REPLAY: make chaos SEED=%d N=1   (go test -tags chaos ./test/chaos -chaos.seed %d -chaos.runs 1 -v)", seed, seed)
						fmt.Printf("chaos: run with seed %d failed; replay: make chaos SEED=%d N=1\n", seed, seed)
					}
				}()
				r.run()
			})
		}
	})
}

type chaosRun struct {
	t     *testing.T
	seed  int64
	rng   *rand.Rand
	later *rand.Rand // laterFaults' stream
	sc    *scenario
	s     *harness.Sandbox
	tally *tally
	image string // the image every node should be on
	ver   int    // next good image
	// external pod deletions: quorum lost in that node's groups while it is
	// down is not the plugin's doing
	external []externalDelete
	mu       sync.Mutex // r.s, for the deadline's goroutine
}

// killCommands kills the commands this run has running (at its deadline).
func (r *chaosRun) killCommands() {
	r.mu.Lock()
	s := r.s
	r.mu.Unlock()
	if s != nil {
		s.KillCommands()
	}
}

type externalDelete struct {
	node string
	at   time.Time
}

func (r *chaosRun) logf(format string, args ...any) {
	r.t.Helper()
	r.t.Logf("%s "+format, append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (r *chaosRun) run() {
	t := r.t
	r.sc = newScenario(r.seed)
	r.rng = rand.New(rand.NewSource(r.seed * 7919))
	r.later = rand.New(rand.NewSource(r.seed * 104729))
	r.image = imageBase
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, []byte(r.sc.yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	r.logf("seed %d: %d nodes, %d workers, %d groups, autocluster %v, slow shutdown %q, quiet _admin %v", r.seed, r.sc.nodes, len(r.sc.workers), len(r.sc.groups), r.sc.autocluster, r.sc.slowNode, r.sc.quietAdmin)
	deadline := time.AfterFunc(*budgetFlag, func() {
		fmt.Printf("chaos: seed %d exceeded its %s limit: tearing down\n", r.seed, *budgetFlag)
		r.killCommands()
	})
	defer deadline.Stop()
	s, err := env.Up(topo, 6*time.Minute)
	if err != nil {
		t.Fatalf("seed %d: %v\ntopology:\n%s", r.seed, err, r.sc.yaml)
	}
	r.mu.Lock()
	r.s = s
	r.mu.Unlock()
	defer func() {
		if t.Failed() {
			t.Logf("topology (seed %d):\n%s", r.seed, r.sc.yaml)
			if b, err := os.ReadFile(filepath.Join(s.Dir, "logs", "agent.log")); err == nil {
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				if len(lines) > 30 {
					lines = lines[len(lines)-30:]
				}
				t.Logf("agent.log (tail):\n%s", strings.Join(lines, "\n"))
			}
			if dst, kept, err := harness.KeepLogs(s.Dir, fmt.Sprintf("axon-chaos-failed-%d", r.seed)); err == nil {
				t.Logf("the sandbox's logs (%d of logs/, audit.jsonl) are in %s", kept, dst)
			}
		}
		if err := s.Down(); err != nil {
			t.Error(err)
		}
	}()
	if err := s.FastProbes(4 * time.Minute); err != nil {
		t.Fatalf("shortening the probes: %v", err)
	}
	nops := 1 + r.rng.Intn(*opsFlag)
	for i := 0; i < nops && !t.Failed(); i++ {
		r.operation(i)
	}
	if *shapeFlag && !t.Failed() {
		r.shapeOperation(nops) // after every earlier draw, from a stream of its own
	}
}

// op is one operation: the command and how to finish it after a stop.
type op struct {
	kind   string
	args   []string // after "kubectl axon"
	worker string   // drain-node: the worker, uncordoned afterwards
}

// pickOp draws an operation. on: the workers that hold a pod of the cluster
// now (drain-node picks among them). Every branch draws the same number of
// values from rng whatever on holds, so the sequence of operations and faults
// of a seed does not depend on where pods are (scan relies on it).
func pickOp(rng *rand.Rand, sc *scenario, ns string, ver *int, on map[string]bool) op {
	common := []string{"-n", ns, "-o", "json", "--node-timeout", "3m", "--safety-timeout", "3m", "--timeout", "10m"}
	switch rng.Intn(4) {
	case 0:
		*ver++
		img := fmt.Sprintf("axoniq/axonserver:2024.%d.0-nonroot", 1+*ver)
		return op{kind: "upgrade", args: append([]string{"upgrade", "--image", img}, common...)}
	case 1:
		if rng.Intn(2) == 0 {
			return op{kind: "replace-node --all", args: append([]string{"replace-node", "--all"}, common...)}
		}
		return op{kind: "replace-node", args: append([]string{"replace-node", nodeName(1 + rng.Intn(sc.nodes))}, common...)}
	case 2:
		return op{kind: "replace-node --fresh-volume", args: append([]string{"replace-node", "--fresh-volume", "--yes", nodeName(1 + rng.Intn(sc.nodes))}, common...)}
	default:
		var cand []string
		for _, w := range sc.drainable() {
			if on[w] {
				cand = append(cand, w)
			}
		}
		if len(cand) == 0 {
			return op{kind: "replace-node", args: append([]string{"replace-node", nodeName(1 + rng.Intn(sc.nodes))}, common...)}
		}
		w := cand[rng.Intn(len(cand))]
		return op{kind: "drain-node", worker: w, args: append([]string{"drain-node", w}, common...)}
	}
}

// plan is what an operation's fault draws: which, and when or whom.
type plan struct {
	fault     string
	killAfter int           // kill-plugin: events seen before the kill
	injectAt  time.Duration // apiserver-restart, pod-deleted: time into the operation
	victim    string        // pod-deleted: the node whose pod someone else deletes
	slowFor   time.Duration // apiserver-slow: how long every request of the plugin waits delay
	delay     time.Duration
	partFor   time.Duration // partition: how long victim is cut off from the other Axon nodes
}

// drawFault draws the fault of operation o (and may turn o into the upgrade
// its fault rides on).
func drawFault(rng, later *rand.Rand, sc *scenario, ns string, o *op) plan {
	p := plan{fault: faultKinds[rng.Intn(len(faultKinds))]}
	if p.fault == "none" {
		p.fault = laterFaults[later.Intn(len(laterFaults))]
	}
	switch p.fault {
	case "never-ready", "rest-503", "crash-loop", "crash-then-recover":
		if o.kind != "upgrade" { // these ride on an image: turn the operation into an upgrade to it
			*o = op{kind: "upgrade", args: []string{"upgrade", "-n", ns, "-o", "json", "--node-timeout", "3m", "--safety-timeout", "3m", "--timeout", "10m"}}
		}
		img := badImage
		switch p.fault {
		case "rest-503":
			img = flakyImage
		case "crash-loop":
			img = crashImage
		case "crash-then-recover":
			img = recoverImage
		}
		o.args = append(o.args, "--image", img)
		if p.fault == "never-ready" {
			o.args = append(o.args, "--node-timeout", "30s")
		}
	case "slow-shutdown":
		if sc.slowNode == "" {
			p.fault = "none"
		}
	case "kill-plugin":
		p.killAfter = 1 + rng.Intn(12)
	case "apiserver-slow":
		p.injectAt = time.Duration(2000+later.Intn(15000)) * time.Millisecond
		p.slowFor = time.Duration(20+later.Intn(40)) * time.Second
		p.delay = time.Duration(200+later.Intn(1800)) * time.Millisecond
	case "partition": // drawn from the second stream only, as every fault of laterFaults
		p.injectAt = time.Duration(2000+later.Intn(15000)) * time.Millisecond
		p.victim = nodeName(1 + later.Intn(sc.nodes))
		p.partFor = time.Duration(20+later.Intn(40)) * time.Second
	case "apiserver-restart", "pod-deleted":
		p.injectAt = time.Duration(2000+rng.Intn(15000)) * time.Millisecond
		if p.fault == "pod-deleted" {
			p.victim = nodeName(1 + rng.Intn(sc.nodes))
		}
	}
	return p
}

// faultKinds are drawn first; when "none" comes up, a second stream draws
// among laterFaults (so adding faults there changes no seed's earlier draws).
var (
	faultKinds  = []string{"none", "kill-plugin", "never-ready", "rest-503", "apiserver-restart", "pod-deleted", "slow-shutdown"}
	laterFaults = []string{"none", "crash-loop", "apiserver-slow", "partition", "crash-then-recover"}
)

// allFaults: every fault a run can draw.
func allFaults() []string { return append(append([]string{}, faultKinds...), laterFaults[1:]...) }

func (r *chaosRun) operation(i int) {
	t := r.t
	s := r.s
	if err := s.WaitHealthy(4 * time.Minute); err != nil {
		t.Fatalf("before operation %d: %v", i, err)
	}
	st, _ := s.Status()
	on, onRecover := map[string]bool{}, map[string]bool{}
	for _, n := range st.Nodes {
		on[n.Worker] = true
		onRecover[n.Name] = n.Image == recoverImage
	}
	o := pickOp(r.rng, r.sc, s.Namespace, &r.ver, on)
	p := drawFault(r.rng, r.later, r.sc, s.Namespace, &o)
	fault := p.fault
	r.tally.add(r.tally.ops, o.kind)
	r.tally.add(r.tally.faults, fault)
	mark := s.AuditLen()
	r.logf("operation %d: kubectl axon %s; fault %s", i, strings.Join(o.args, " "), fault)

	res, killed := r.attempt(o, p)
	outcome := fmt.Sprintf("exit %d", res.Code)
	if killed {
		outcome = "killed"
	}
	r.tally.add(r.tally.outcomes, outcome)
	r.logf("operation %d: %s after %s; stderr tail:\n%s", i, outcome, res.Wall.Round(100*time.Millisecond), lastLines(res.Stderr, 6))
	switch {
	case killed:
	case res.Code == 0:
	case res.Code == 3 || res.Code == 4:
		if strings.TrimSpace(res.Stderr) == "" {
			t.Errorf("operation %d exited %d without an explanation on stderr", i, res.Code)
		}
	default:
		t.Errorf("operation %d: exit %d (want 0, 3 or 4):\n%s", i, res.Code, res)
	}
	// a crash-looping node recovers only on another image: the rerun moves
	// every node to a good one whatever the first attempt's exit
	if killed || res.Code != 0 || fault == "crash-loop" {
		if fault == "partition" {
			r.waitHealed(mark, p.victim, p.partFor+time.Minute)
		}
		r.rerun(i, o, fault)
	}
	if fault == "crash-then-recover" {
		r.waitCrashesOver(mark, onRecover, 4*time.Minute)
	}
	if o.worker != "" {
		if _, err := s.Kubectl("uncordon", o.worker); err != nil {
			t.Errorf("uncordon %s: %v", o.worker, err)
		}
		r.waitUntainted(o.worker, 2*time.Minute)
	}
	if err := s.WaitHealthy(4 * time.Minute); err != nil {
		t.Errorf("after operation %d: %v", i, err)
	}
	r.checkAudit(i, s.AuditSince(mark))
}

// attempt runs the operation once with its fault; killed when the fault
// killed the plugin.
func (r *chaosRun) attempt(o op, p plan) (harness.Result, bool) {
	args := append([]string{"kubectl", "axon"}, o.args...)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	kubeconfig := r.s.Kubeconfig()
	var px *harness.CountingProxy
	if p.fault == "apiserver-slow" {
		var err error
		if px, err = r.s.StartCountingProxy(); err != nil {
			r.t.Fatalf("proxy for the slow API server: %v", err)
		}
		defer px.Close()
		kubeconfig = px.Kubeconfig
	}
	cmd := harness.Command(ctx, kubeconfig, args...)
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	harness.TrackFor(cmd.Process.Pid, r.s.Kubeconfig(), true)
	defer harness.TrackFor(cmd.Process.Pid, r.s.Kubeconfig(), false)
	killAfter := -1
	if p.fault == "kill-plugin" {
		killAfter = p.killAfter
	}
	injectAt := p.injectAt
	var wg sync.WaitGroup
	done := make(chan struct{})
	if injectAt > 0 { // (the slow API server's window may outlast the command: harmless)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-done:
				return
			case <-time.After(injectAt):
			}
			r.inject(p, px)
		}()
	}
	killed := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var out strings.Builder
	seen := 0
	for sc.Scan() {
		out.Write(sc.Bytes())
		out.WriteByte('\n')
		var e struct {
			Event string `json:"event"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Event != "" {
			seen++
			if seen == killAfter {
				r.logf("killing the plugin (SIGKILL) after %d events, at %q", seen, e.Event)
				_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
				killed = true
				break
			}
		}
	}
	go func() { // drain the rest so Wait does not block on a full pipe
		for sc.Scan() {
		}
	}()
	err := cmd.Wait()
	close(done)
	wg.Wait()
	res := harness.Result{Args: args, Stdout: out.String(), Stderr: stderr.String(), Wall: time.Since(start)}
	if cmd.ProcessState != nil {
		res.Code = cmd.ProcessState.ExitCode()
	}
	if err != nil && cmd.ProcessState == nil {
		res.Code = -1
	}
	res.TimedOut = ctx.Err() != nil
	if res.TimedOut {
		r.t.Errorf("kubectl axon %s did not end within 12 minutes (its --timeout is 10m)", strings.Join(o.args, " "))
	}
	return res, killed
}

func (r *chaosRun) inject(p plan, px *harness.CountingProxy) {
	s := r.s
	switch p.fault {
	case "apiserver-slow":
		r.logf("fault: every request of the plugin waits %s, for %s", p.delay, p.slowFor)
		px.SetDelay(p.delay)
		time.AfterFunc(p.slowFor, func() { px.SetDelay(0) })
	case "apiserver-restart":
		r.logf("fault: restarting kube-apiserver")
		if err := s.RestartAPIServer(2 * time.Second); err != nil {
			r.t.Errorf("restarting the API server: %v", err)
		}
	case "partition":
		r.logf("fault: Axon node %s cut off from the others for %s (axon-sandbox partition)", p.victim, p.partFor)
		res := harness.Run("", time.Minute, filepath.Join(env.Bin, "axon-sandbox"), "partition", "--dir", s.Dir, "--for", p.partFor.String(), p.victim)
		if res.Code != 0 {
			r.t.Errorf("axon-sandbox partition %s: exit %d: %s", p.victim, res.Code, strings.TrimSpace(res.Stderr))
		}
	case "pod-deleted":
		n := p.victim
		r.logf("fault: someone else deletes pod %s-0", n)
		r.external = append(r.external, externalDelete{node: n, at: time.Now()})
		if _, err := s.Kubectl("delete", "pod", n+"-0", "--wait=false", "--ignore-not-found"); err != nil {
			r.t.Logf("deleting %s-0: %v", n, err)
		}
	}
}

// recoverCrashes is the crashCount of recoverImage's fault (topology.go).
const recoverCrashes = 2

// waitCrashesOver waits (up to limit) until the audit log since mark shows the last crash on
// recoverImage of every node the operation moved to it: a node that crashes 10 s after it is
// ready may do so after the plugin has finished, and the operation is judged only once its
// crashes are over. A node that ran recoverImage before the operation (onRecover) has had its
// crashes (axonsim counts them per image), and one that did not start since mark was not moved:
// neither will crash.
func (r *chaosRun) waitCrashesOver(mark int, onRecover map[string]bool, limit time.Duration) {
	last := fmt.Sprintf("crash %d of %d", recoverCrashes, recoverCrashes)
	r.waitFor(time.Second, limit, func() (bool, string) {
		var pending []string
		ev := r.s.AuditSince(mark)
		for i := 1; i <= r.sc.nodes; i++ {
			if onRecover[nodeName(i)] || len(axonsim.Filter(ev, axonsim.EvNodeStarted, "", nodeName(i))) == 0 {
				continue
			}
			done := false
			for _, e := range axonsim.Filter(ev, axonsim.EvNodeKilled, "", nodeName(i)) {
				done = done || strings.Contains(e.Reason, last)
			}
			if !done {
				pending = append(pending, nodeName(i))
			}
		}
		return len(pending) == 0, fmt.Sprintf("on %s, %v did not crash %d times within %s", recoverImage, pending, recoverCrashes, limit)
	})
}

// waitUntainted waits (up to limit) until worker no longer carries the taint
// node.kubernetes.io/unschedulable. The node lifecycle controller removes it some time
// after the uncordon (longer after an API-server restart, while its informers
// resync), and until then the scheduler, and drain-node with it, still treat the
// worker as closed: the next operation starts once the uncordon has taken effect.
func (r *chaosRun) waitUntainted(worker string, limit time.Duration) {
	r.waitFor(500*time.Millisecond, limit, func() (bool, string) {
		out, err := r.s.Kubectl("get", "node", worker, "-o", "jsonpath={.spec.taints[*].key}")
		return err == nil && !strings.Contains(out, "node.kubernetes.io/unschedulable"),
			fmt.Sprintf("%s still carries node.kubernetes.io/unschedulable %s after its uncordon (%v)", worker, limit, err)
	})
}

// waitHealed waits (up to limit) until the audit log since mark shows node's partition healed,
// or shows no partition at all (the command ended before the fault's time): a run a partition
// stopped must complete on a rerun once the network is whole again.
func (r *chaosRun) waitHealed(mark int, node string, limit time.Duration) {
	r.waitFor(500*time.Millisecond, limit, func() (bool, string) {
		ev := r.s.AuditSince(mark)
		cut := len(axonsim.Filter(ev, axonsim.EvPartitioned, "", node))
		return cut == 0 || len(axonsim.Filter(ev, axonsim.EvPartitionHealed, "", node)) >= cut,
			fmt.Sprintf("the partition of %s did not heal within %s", node, limit)
	})
}

// waitFor checks cond every interval, at once first, until it holds, for at most
// limit; if it never does, the run fails with cond's last word on why.
func (r *chaosRun) waitFor(interval, limit time.Duration, cond func() (done bool, why string)) {
	var why string
	err := wait.PollUntilContextTimeout(context.Background(), interval, limit, true, func(context.Context) (bool, error) {
		var done bool
		done, why = cond()
		return done, nil
	})
	if err != nil {
		r.t.Error(why)
	}
}

// rerun finishes an operation that stopped: after a never-ready image, roll
// the stuck node back (the documented way back), then the same command
// again with --steal-lock (a killed run leaves its Lease). It must exit 0.
func (r *chaosRun) rerun(i int, o op, fault string) {
	r.tally.mu.Lock()
	r.tally.reruns++
	r.tally.mu.Unlock()
	args := append([]string{}, o.args...)
	if fault == "never-ready" || fault == "rest-503" || fault == "crash-loop" {
		// finish on a good image instead: moving every node off the bad one
		r.ver++
		img := fmt.Sprintf("axoniq/axonserver:2024.%d.0-nonroot", 1+r.ver)
		args = []string{"upgrade", "-n", r.s.Namespace, "--image", img, "-o", "json", "--node-timeout", "3m", "--safety-timeout", "3m", "--timeout", "10m"}
	}
	args = append(args, "--steal-lock")
	r.logf("operation %d: rerun: kubectl axon %s", i, strings.Join(args, " "))
	res := r.s.Run(12*time.Minute, append([]string{"kubectl", "axon"}, args...)...)
	if res.Code != 0 {
		r.t.Errorf("operation %d: the rerun did not complete:\n%s", i, res)
	}
}

// checkAudit: no quorum-lost event the plugin caused. A quorum loss in a
// group of a node someone else deleted, while that node was down, is not
// the plugin's doing.
func (r *chaosRun) checkAudit(i int, ev []axonsim.Event) {
	ready := map[string][]time.Time{}
	for _, e := range ev {
		if e.Event == axonsim.EvNodeReady {
			ready[e.Node] = append(ready[e.Node], e.Time)
		}
	}
	// A node that crashes (the crash-loop fault) is down by no one's choice:
	// quorum lost in its groups while it is down is excused as for a pod
	// someone else deleted.
	down := append([]externalDelete{}, r.external...)
	for _, e := range ev {
		if e.Event == axonsim.EvNodeKilled && strings.Contains(e.Reason, "crashAfterSeconds") {
			down = append(down, externalDelete{node: e.Node, at: e.Time})
		}
	}
	excused := func(e axonsim.Event) bool {
		for _, x := range down {
			if !r.sc.groupsOf(x.node)[e.Group] || e.Time.Before(x.at) {
				continue
			}
			back := time.Time{}
			for _, t := range ready[x.node] {
				if t.After(x.at) {
					back = t
					break
				}
			}
			if back.IsZero() || e.Time.Before(back.Add(5*time.Second)) {
				return true
			}
		}
		return false
	}
	for _, e := range ev {
		if e.Event != axonsim.EvQuorumLost {
			continue
		}
		if why := partitionExcuse(ev, e, r.sc.groupsOf); why != "" {
			r.logf("operation %d: quorum lost in %s at %s %s (not the plugin's doing)", i, e.Group, e.Time.Format("15:04:05.000"), why)
			continue
		}
		if excused(e) {
			r.logf("operation %d: quorum lost in %s at %s while a pod deleted by someone else or a crashed node was down (not the plugin's doing)", i, e.Group, e.Time.Format("15:04:05.000"))
			continue
		}
		r.t.Errorf("operation %d: quorum lost in group %s at %s, caused by the plugin", i, e.Group, e.Time.Format("15:04:05.000"))
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return "  " + strings.Join(l, "\n  ")
}
