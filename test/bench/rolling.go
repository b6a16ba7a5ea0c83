package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	"github.com/kubectl-axon/kubectl-axon/test/bench/harness"
)

// rollingResult is one rolling operation by one tool.
type rollingResult struct {
	Op      string // upgrade, replace-node --all
	Tool    string // kubectl axon, runbook
	Nodes   int
	Total   time.Duration
	OwnSum  time.Duration // the nodes' own restart-until-healthy times, from the audit log
	PerNode time.Duration // (Total - OwnSum) / Nodes
	// the plugin's own figure (summary: mean overhead per node); 0 for the runbook
	SelfReportedOverhead float64
	Restarted            int            // nodes that stopped and came back in the window
	Elections            map[string]int // leader-elected per group
	Groups               int
	QuorumLost           int
	Killed               int
	Code                 int
	// Step is what a step cost (kubectl axon only; nil for the runbook).
	Step *stepCost `json:",omitempty"`
}

func (r rollingResult) electionStats() (mean float64, maxE int, total int) {
	for _, n := range r.Elections {
		total += n
		maxE = max(maxE, n)
	}
	if r.Groups > 0 {
		mean = float64(total) / float64(r.Groups)
	}
	return
}

const (
	imageA = "axoniq/axonserver:2024.2.0-nonroot"
	imageB = "axoniq/axonserver:2024.2.1-nonroot"
)

func benchRolling(env *harness.Env, nodes int) ([]rollingResult, error) {
	logf("rolling: %d nodes: sandbox up", nodes)
	s, err := env.Up(rollingTopologyPath(env.Repo, nodes), 6*time.Minute)
	if err != nil {
		return nil, err
	}
	defer s.Down()
	if err := s.FastProbes(4 * time.Minute); err != nil {
		return nil, fmt.Errorf("shortening the probes: %w", err)
	}
	ns := s.Namespace
	runbook := filepath.Join(env.Repo, "test", "bench", "runbook.sh")
	shutdown := time.Duration(s.Topo.Timing.ShutdownSeconds * float64(time.Second))
	type step struct {
		op, tool string
		args     []string
	}
	steps := []step{
		{"upgrade", "kubectl axon", []string{"kubectl", "axon", "upgrade", "-n", ns, "--image", imageA, "-o", "json", "--node-timeout", "5m"}},
		{"upgrade", "runbook", []string{"bash", runbook, "upgrade", ns, imageB}},
		{"replace-node --all", "kubectl axon", []string{"kubectl", "axon", "replace-node", "-n", ns, "--all", "-o", "json", "--node-timeout", "5m"}},
		{"replace-node --all", "runbook", []string{"bash", runbook, "replace", ns}},
	}
	if nodes > 9 {
		steps = steps[:1] // the large cluster measures what a step costs, not the comparison
	}
	// kubectl axon runs through a counting proxy, for its requests per step.
	p, err := s.StartCountingProxy()
	if err != nil {
		return nil, err
	}
	defer p.Close()
	var out []rollingResult
	for _, st := range steps {
		if err := s.WaitHealthy(3 * time.Minute); err != nil {
			return out, fmt.Errorf("before %s by %s: %w", st.op, st.tool, err)
		}
		time.Sleep(2 * time.Second) // let the audit log settle
		mark := s.AuditLen()
		logf("rolling: %d nodes: %s by %s", nodes, st.op, st.tool)
		var r harness.Result
		if st.tool == "kubectl axon" {
			p.Reset()
			r = harness.Run(p.Kubeconfig, 30*time.Minute, st.args...)
		} else {
			r = s.Run(30*time.Minute, st.args...)
		}
		counts, trace := p.ResetTrace()
		if dir := os.Getenv("AXON_BENCH_TRACE"); dir != "" && st.tool == "kubectl axon" {
			writeTrace(dir, fmt.Sprintf("%d-%s", nodes, strings.ReplaceAll(st.op, " ", "")), r.Stdout, trace)
		}
		time.Sleep(time.Second)
		ev := s.AuditSince(mark)
		res := rollingResult{Op: st.op, Tool: st.tool, Nodes: nodes, Total: r.Wall, Code: r.Code, Groups: len(s.Topo.ReplicationGroups)}
		if r.Code != 0 {
			return out, fmt.Errorf("%s", r)
		}
		res.OwnSum, res.Restarted = ownTimes(ev, shutdown)
		res.PerNode = (res.Total - res.OwnSum) / time.Duration(nodes)
		res.Elections = map[string]int{}
		for _, e := range ev {
			switch e.Event {
			case axonsim.EvLeaderElected:
				res.Elections[e.Group]++
			case axonsim.EvQuorumLost:
				res.QuorumLost++
			case axonsim.EvNodeKilled:
				res.Killed++
			}
		}
		if st.tool == "kubectl axon" {
			res.SelfReportedOverhead = selfReported(r.Stdout)
			sc := measureSteps(r.Stdout, ev, counts)
			res.Step = &sc
			logf("rolling: %d nodes: %s: per step %.0f object requests, %.0f pod-proxy requests; phases %v; the plugin's part %s",
				nodes, st.op, sc.Objects, sc.PodProxy, sc.Phases, sc.Plugin.Round(time.Millisecond))
		}
		mean, mx, _ := res.electionStats()
		logf("rolling: %d nodes: %s by %s: %s, own %s (%d restarted), overhead %s/node (self-reported %.3fs); elections mean %.2f max %d; quorum lost %d",
			nodes, st.op, st.tool, res.Total.Round(100*time.Millisecond), res.OwnSum.Round(100*time.Millisecond), res.Restarted,
			res.PerNode.Round(10*time.Millisecond), res.SelfReportedOverhead, mean, mx, res.QuorumLost)
		if res.Restarted != nodes {
			return append(out, res), fmt.Errorf("%s by %s: %d nodes restarted, want %d; audit:\n%s", st.op, st.tool, res.Restarted, nodes, fmtEvents(ev))
		}
		out = append(out, res)
	}
	return out, nil
}

// ownTimes: per node that stopped in ev, from the start of its clean stop
// (node-stopped minus the topology's shutdown time; a kill is instant) to its
// last node-ready or caught-up event: the time Axon Server itself needs to go
// down and come back healthy. Returns their sum and how many nodes.
func ownTimes(ev []axonsim.Event, shutdown time.Duration) (time.Duration, int) {
	type span struct{ start, end time.Time }
	spans := map[string]*span{}
	for _, e := range ev {
		switch e.Event {
		case axonsim.EvNodeStopped, axonsim.EvNodeKilled:
			if _, ok := spans[e.Node]; !ok {
				st := e.Time
				if e.Event == axonsim.EvNodeStopped {
					st = st.Add(-shutdown)
				}
				spans[e.Node] = &span{start: st}
			}
		case axonsim.EvNodeReady, axonsim.EvCaughtUp:
			if sp, ok := spans[e.Node]; ok && e.Time.After(sp.end) {
				sp.end = e.Time
			}
		}
	}
	var sum time.Duration
	n := 0
	for _, sp := range spans {
		if sp.end.IsZero() {
			continue
		}
		sum += sp.end.Sub(sp.start)
		n++
	}
	return sum, n
}

func selfReported(stdout string) float64 {
	for _, l := range strings.Split(stdout, "\n") {
		var e struct {
			Event string `json:"event"`
			Data  struct {
				MeanOverheadSeconds float64 `json:"meanOverheadSeconds"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(l), &e) == nil && e.Event == "summary" {
			return e.Data.MeanOverheadSeconds
		}
	}
	return 0
}

func fmtEvents(ev []axonsim.Event) string {
	var b strings.Builder
	for _, e := range ev {
		fmt.Fprintf(&b, "  %s %s group=%s node=%s %s\n", e.Time.Format("15:04:05.000"), e.Event, e.Group, e.Node, e.Reason)
	}
	return b.String()
}

func sortedKeys(m map[string]int) []string {
	k := make([]string, 0, len(m))
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// writeTrace keeps a run's JSON events and the requests it made (AXON_BENCH_TRACE=DIR),
// to see which requests a step's phases are made of: NAME.events.jsonl and
// NAME.requests.tsv (start, took, request).
func writeTrace(dir, name, stdout string, trace []harness.Traced) {
	sort.Slice(trace, func(i, j int) bool { return trace[i].Start.Before(trace[j].Start) })
	var b strings.Builder
	for _, t := range trace {
		fmt.Fprintf(&b, "%s\t%d\t%s\t%s\n", t.Start.UTC().Format(time.RFC3339Nano), t.Took.Microseconds(), t.Key, t.URL)
	}
	_ = os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name+".events.jsonl"), []byte(stdout), 0o644); err != nil {
		logf("trace: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".requests.tsv"), []byte(b.String()), 0o644); err != nil {
		logf("trace: %v", err)
	}
}
