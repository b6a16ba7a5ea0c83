//go:build chaos

package chaos

import (
	"flag"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

var shapeFlag = flag.Bool("chaos.shape", true, "end each run with a move-member, set-role or remove-node (drawn from a stream of its own: the earlier draws of every seed stay as they were)")

// shapeStream is the seed of a run's shape operation's stream: independent of the
// streams of the operations and faults (seed*7919, seed*104729), so adding it
// changed none of their draws, and a seed still means the same operations and
// faults before it.
func shapeStream(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed*15485863 + 1)) }

// shapeOperation draws and runs one shape change on the cluster as it is after
// the run's operations: move-member (a random member of a random group to a node
// that is no member), set-role (a random member to PRIMARY, ACTIVE_BACKUP or
// PASSIVE_BACKUP) or remove-node (a random node, --move-to another). Its fault is
// none or the plugin killed after 1 to 8 events, then rerun with --steal-lock. A
// refusal (exit 3) is a valid answer when nothing changed; otherwise it must
// complete (exit 0), with no quorum lost (checkAudit) and the cluster healthy.
// Every draw is made whatever the cluster looks like, so the stream's sequence
// depends on the seed only.
func (r *chaosRun) shapeOperation(i int) {
	t, s := r.t, r.s
	rng := shapeStream(r.seed)
	kind, gi, mi, ti, ri := rng.Intn(3), rng.Int(), rng.Int(), rng.Int(), rng.Intn(3)
	kill, killAfter := rng.Intn(2) == 0, 1+rng.Intn(8)
	if err := s.WaitHealthy(4 * time.Minute); err != nil {
		t.Fatalf("before the shape operation: %v", err)
	}
	st, _ := s.Status()
	var nodes []string
	for _, n := range st.Nodes {
		nodes = append(nodes, n.Name)
	}
	sort.Strings(nodes)
	groups := st.Groups
	sort.Slice(groups, func(a, b int) bool { return groups[a].Name < groups[b].Name })
	if len(nodes) < 2 || len(groups) == 0 {
		return
	}
	common := []string{"-n", s.Namespace, "-o", "json", "--node-timeout", "3m", "--timeout", "10m"}
	g := groups[gi%len(groups)]
	member := g.Members[mi%len(g.Members)].Node
	var outside []string
	for _, n := range nodes {
		in := false
		for _, m := range g.Members {
			in = in || m.Node == n
		}
		if !in {
			outside = append(outside, n)
		}
	}
	var o op
	switch {
	case kind == 0 && len(outside) > 0:
		o = op{kind: "move-member", args: append([]string{"move-member", g.Name, "--from", member, "--to", outside[ti%len(outside)]}, common...)}
	case kind == 2:
		node := nodes[ti%len(nodes)]
		other := nodes[(ti+1)%len(nodes)]
		o = op{kind: "remove-node", args: append([]string{"remove-node", node, "--move-to", other}, common...)}
	default:
		role := []string{"PRIMARY", "ACTIVE_BACKUP", "PASSIVE_BACKUP"}[ri]
		o = op{kind: "set-role", args: append([]string{"set-role", g.Name, member, role}, common...)}
	}
	p := plan{fault: "none"}
	if kill {
		p = plan{fault: "kill-plugin", killAfter: killAfter}
	}
	r.tally.add(r.tally.ops, o.kind)
	r.tally.add(r.tally.faults, p.fault)
	mark := s.AuditLen()
	r.logf("operation %d (shape): kubectl axon %s; fault %s", i, strings.Join(o.args, " "), p.fault)
	res, killed := r.attempt(o, p)
	outcome := fmt.Sprintf("exit %d", res.Code)
	if killed {
		outcome = "killed"
	}
	r.tally.add(r.tally.outcomes, outcome)
	r.logf("operation %d (shape): %s after %s; stderr tail:\n%s", i, outcome, res.Wall.Round(100*time.Millisecond), lastLines(res.Stderr, 6))
	changed := func() bool {
		for _, e := range s.AuditSince(mark) {
			if e.Event == axonsim.EvMemberAdded || e.Event == axonsim.EvMemberRemoved || e.Event == axonsim.EvNodeUnregistered {
				return true
			}
		}
		return false
	}
	if killed {
		r.tally.mu.Lock()
		r.tally.reruns++
		r.tally.mu.Unlock()
		args := append(append([]string{"kubectl", "axon"}, o.args...), "--steal-lock")
		r.logf("operation %d (shape): rerun: %s", i, strings.Join(args[1:], " "))
		res = s.Run(12*time.Minute, args...)
		r.logf("operation %d (shape): rerun: exit %d after %s", i, res.Code, res.Wall.Round(100*time.Millisecond))
	}
	switch {
	case res.Code == 0:
	case res.Code == 3 && !changed() && strings.Contains(res.Stderr, "refused"):
		r.logf("operation %d (shape): refused, nothing changed: %s", i, lastLines(res.Stderr, 1))
	default:
		t.Errorf("operation %d (shape): exit %d (want 0, or 3 with nothing changed):\n%s", i, res.Code, res)
	}
	if err := s.WaitHealthy(4 * time.Minute); err != nil {
		t.Errorf("after the shape operation: %v", err)
	}
	r.checkAudit(i, s.AuditSince(mark))
}
