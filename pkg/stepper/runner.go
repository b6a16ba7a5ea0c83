package stepper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-axon/kubectl-axon/pkg/apiretry"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
)

// Action does a step's change to its node once the preflight has passed: upgrade
// patches the pod template (and deletes the pod under OnDelete), replace-node deletes
// the pod, drain-node evicts it. It must be idempotent, since a rerun calls it again
// for the step it was interrupted in, and it reports whether the node's pod will be
// replaced as a result (false when the pod already runs the change). One that fails
// because the API server did not answer is called again (apiretry).
type Action func(ctx context.Context, m discovery.Member) (restart bool, err error)

// Observer takes one look at the cluster (snapshot.Take with the command's options);
// given a Focus, a focused one. The steps judge by the snapshot's Model only, so
// the commands' observers leave the nodes' health out (inspect.HealthOfNone).
type Observer func(ctx context.Context, focus ...Focus) (*snapshot.Snapshot, error)

// Focus narrows a look to what a verdict on one node needs: Axon Server is asked
// about Nodes and the leaders of their groups only, and for the cluster-wide
// views, ViewFrom (see inspect.Options). The cost of such a look depends on the
// groups the nodes are in, not on the size of the cluster.
type Focus struct {
	Nodes []string
	// Leaders are the leaders of Nodes' groups as an earlier look saw them, asked
	// alongside Nodes (inspect.Options.Leaders).
	Leaders  []string
	ViewFrom string
}

// focusOn is the focus of the looks while node comes back: the node, the leaders
// of its groups and the node that gave the cluster-wide view, as snap saw them.
func focusOn(snap *snapshot.Snapshot, node string) Focus {
	f := Focus{Nodes: []string{node}}
	if snap == nil {
		return f
	}
	f.ViewFrom = snap.Obs.From
	c := snap.Quorum()
	for _, g := range c.GroupsOf(node) {
		if l := c.LeaderOf(g); l != "" && l != node && !slices.Contains(f.Leaders, l) {
			f.Leaders = append(f.Leaders, l)
		}
	}
	return f
}

// wholePoll is the interval of the looks at the whole cluster while waiting (the
// preflight, the wait for every node): five Polls, at least 500 ms. Such a look
// asks every node, so it comes less often than a focused one.
func (r *Runner) wholePoll() time.Duration { return max(5*r.Poll, 500*time.Millisecond) }

// reuseLook is how old the last look of a step may be for the next step's
// preflight to start from it instead of looking again.
const reuseLook = time.Second

// Runner takes a Plan's steps one at a time.
type Runner struct {
	Kube      kubernetes.Interface
	Namespace string
	Observe   Observer
	Act       Action
	// Op names the operation for annotations and Events (Operation, Detail, Holder);
	// Step, Steps and Started are filled in per step.
	Op record.Op
	// Recorder writes annotations and Events; nil records nothing.
	Recorder *record.Recorder
	Progress progress.Sink
	// Force proceeds when the safety check still fails after SafetyTimeout (at once
	// for a Structural step), with a warning and an Event. It never skips the wait for
	// a node to become healthy.
	Force bool
	// SafetyTimeout bounds the wait for a step's preflight (default 5 min);
	// NodeTimeout the wait for a node to come back healthy (default 15 min); Pause is
	// waited between steps; Poll is the interval of the looks at the node being
	// changed while waiting for it (default 100 ms; see wholePoll for the rest).
	SafetyTimeout, NodeTimeout, Pause, Poll time.Duration
	// Last is a look at the whole cluster the next preflight may start from when it
	// is recent (reuseLook): the command's planning look for the first step, then
	// the look that ended the previous step.
	Last *snapshot.Snapshot
	// UnschedulableGrace is how long the new pod may stay unschedulable before the
	// step stops as stuck (default 30 s): the scheduler retries by itself, and a
	// pod on fresh volumes is unschedulable until its claims are recreated.
	UnschedulableGrace time.Duration
	// Resume is the command line that resumes the operation (for messages).
	Resume string
	// RollBack returns the command line that undoes the step on node ("" if none).
	RollBack func(node string) string
	// Check replaces CanStop in the preflight when set (replace-node --fresh-volume
	// asks whether every group can lose the node's membership instead).
	Check func(c quorum.Cluster, node string) quorum.Verdict
	// AfterReady, when set, runs once the node's new pod is Ready and before the wait
	// for the node to be healthy in Axon Server's terms (replace-node --fresh-volume
	// re-registers the node and gives it back its group memberships there). It runs
	// under the --node-timeout context.
	AfterReady func(ctx context.Context, m discovery.Member) error
	// AfterStep, when set, runs once a step is done (the node and the cluster
	// healthy), before its step-finished event: the place for a command's own
	// bookkeeping (replace-node removes its mark). An error is reported as a
	// warning; the step stays done.
	AfterStep func(ctx context.Context, m discovery.Member) error
}

// NodeResult is what one step did and how long it took.
type NodeResult struct {
	Node   string `json:"node"`
	Step   int    `json:"step,omitempty"`
	Result string `json:"result"` // done, skipped, failed, interrupted, pending
	// ShutdownSeconds: the old pod's deletion until it was gone (its clean shutdown).
	ShutdownSeconds float64 `json:"shutdownSeconds"`
	GraceSeconds    int64   `json:"gracePeriodSeconds,omitempty"`
	// DownSeconds: the old pod's deletion until the new pod was Ready.
	DownSeconds float64 `json:"downSeconds"`
	// ToHealthySeconds: the old pod's deletion until the node was healthy in Axon
	// Server's terms (connected, caught up, every group with a leader): the node's own
	// restart-until-healthy time.
	ToHealthySeconds float64 `json:"toHealthySeconds"`
	// StepSeconds: the whole step, preflight to every node healthy.
	StepSeconds float64 `json:"stepSeconds"`
	// OverheadSeconds: what the step added beyond the node's own restart-until-healthy
	// time (preflight, acting, detection, the final all-healthy check, recording).
	OverheadSeconds float64 `json:"overheadSeconds"`
	// Elections: groups whose leader changed during the step.
	Elections int  `json:"elections"`
	Forced    bool `json:"forced,omitempty"`
	Restarted bool `json:"restarted"`
}

// Summary is the outcome of a run.
type Summary struct {
	Operation string       `json:"operation"`
	Nodes     []NodeResult `json:"nodes"`
	// Elections counts, per group, the leader changes observed over the run.
	Elections      map[string]int `json:"elections"`
	ElapsedSeconds float64        `json:"elapsedSeconds"`
	// MeanOverheadSeconds and MaxOverheadSeconds over the steps that restarted a node.
	MeanOverheadSeconds float64 `json:"meanOverheadSeconds"`
	MaxOverheadSeconds  float64 `json:"maxOverheadSeconds"`
	// StoppedAt names the node the run stopped at, "" when it finished.
	StoppedAt string `json:"stoppedAt,omitempty"`
}

// ErrInterrupted is returned (wrapped) when the context was cancelled (Ctrl-C).
var ErrInterrupted = errors.New("interrupted")

// NodeError says a node did not come back healthy.
type NodeError struct {
	Node string
	// Stuck: Kubernetes reports it cannot make progress (crash loop, image pull
	// error, unschedulable); otherwise it was still starting when the time ran out.
	Stuck     bool
	Why       string
	Diagnosis []string
}

func (e *NodeError) Error() string {
	state := "did not become healthy in time"
	if e.Stuck {
		state = "is stuck"
	}
	return fmt.Sprintf("%s %s (%s)", e.Node, state, e.Why)
}

func (r *Runner) defaults() {
	if r.SafetyTimeout <= 0 {
		r.SafetyTimeout = 5 * time.Minute
	}
	if r.NodeTimeout <= 0 {
		r.NodeTimeout = 15 * time.Minute
	}
	if r.Poll <= 0 {
		r.Poll = 100 * time.Millisecond
	}
	if r.UnschedulableGrace <= 0 {
		r.UnschedulableGrace = 30 * time.Second
	}
	if r.Progress == nil {
		r.Progress = progress.Discard
	}
}

// Run takes the plan's steps in order and stops at the first that fails. The
// summary lists every step, done or not.
func (r *Runner) Run(ctx context.Context, p Plan) (*Summary, error) {
	r.defaults()
	defer r.flush()
	start := time.Now()
	sum := &Summary{Operation: r.Op.Operation, Elections: map[string]int{}}
	for _, s := range p.Skipped {
		sum.Nodes = append(sum.Nodes, NodeResult{Node: s.Node, Result: "skipped"})
	}
	first := len(sum.Nodes)
	for i, s := range p.Steps {
		sum.Nodes = append(sum.Nodes, NodeResult{Node: s.Node, Step: i + 1, Result: "pending"})
	}
	// pending holds the indices of the steps still to take, in order. A step whose
	// preflight is blocked while a later target is out of service gives that one
	// its turn first (yield).
	pending := make([]int, len(p.Steps))
	for i := range pending {
		pending[i] = i
	}
	var err error
	for pos := 0; len(pending) > 0; {
		k := pending[0]
		s := p.Steps[k]
		res := &sum.Nodes[first+k]
		if pos > 0 && r.Pause > 0 {
			r.emit(progress.Event{Kind: "pause", Step: pos + 1, Steps: len(p.Steps), Message: fmt.Sprintf("pausing %s before the next node", r.Pause)})
			if err = sleep(ctx, r.Pause); err != nil {
				err = r.ctxErr(ctx, s.Node)
				sum.StoppedAt = s.Node
				res.Result = "interrupted"
				break
			}
		}
		var later []string
		for _, j := range pending[1:] {
			later = append(later, p.Steps[j].Node)
		}
		res.Step = pos + 1
		err = r.step(ctx, pos, len(p.Steps), s, later, res, sum)
		var y *yieldTo
		if errors.As(err, &y) {
			for i, j := range pending {
				if p.Steps[j].Node == y.node {
					pending = append([]int{j}, append(pending[:i:i], pending[i+1:]...)...)
					break
				}
			}
			res.Step = 0
			err = nil
			continue
		}
		if err != nil {
			sum.StoppedAt = s.Node
			break
		}
		pending = pending[1:]
		pos++
	}
	sum.ElapsedSeconds = secs(time.Since(start))
	var n int
	for _, nr := range sum.Nodes {
		if nr.Result == "done" && nr.Restarted {
			n++
			sum.MeanOverheadSeconds += nr.OverheadSeconds
			sum.MaxOverheadSeconds = max(sum.MaxOverheadSeconds, nr.OverheadSeconds)
		}
	}
	if n > 0 {
		sum.MeanOverheadSeconds /= float64(n)
	}
	return sum, err
}

func secs(d time.Duration) float64 { return float64(d.Round(time.Millisecond)) / float64(time.Second) }

func (r *Runner) emit(e progress.Event) { r.Progress.Emit(e) }

// ctxErr turns the end of ctx into the run's error: --timeout (exit 4) or an
// interruption.
func (r *Runner) ctxErr(ctx context.Context, node string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return cli.Timeoutf("the time limit of the whole run (--timeout) was reached at %s; %s", node, r.resumeHint())
	}
	return fmt.Errorf("%w at %s; %s", ErrInterrupted, node, r.resumeHint())
}

func (r *Runner) resumeHint() string {
	if r.Resume == "" {
		return "rerun the same command to resume"
	}
	return "rerun to resume: " + r.Resume
}

// step runs one step: preflight, act, wait, record.
func (r *Runner) step(ctx context.Context, i, n int, s Step, later []string, res *NodeResult, sum *Summary) error {
	start := time.Now()
	ev := func(kind, msg string, data any) progress.Event {
		return progress.Event{Kind: kind, Node: s.Node, Step: i + 1, Steps: n, Message: msg, Data: data}
	}
	r.emit(ev("step-started", fmt.Sprintf("%s (%s; groups %s)", r.describe(), s.Kind, listOr(s.Groups, "none")), s))

	snap, forced, recovering, err := r.preflight(ctx, s, later, ev)
	var y *yieldTo
	if errors.As(err, &y) {
		r.emit(ev("yield", fmt.Sprintf("%s waits (%s); %s is out of service now, so it goes first: restarting it costs no group anything",
			s.Node, y.blocked, y.node), nil))
		return err
	}
	if err != nil {
		res.Result = "failed"
		if ctx.Err() != nil {
			res.Result = "interrupted"
			return r.ctxErr(ctx, s.Node)
		}
		return err
	}
	res.Forced = forced
	m, ok := snap.Member(s.Node)
	if !ok || m.StatefulSet == nil {
		res.Result = "failed"
		return fmt.Errorf("%s: no StatefulSet found for the node", s.Node)
	}
	before := leaders(snap.Quorum())
	op := r.Op
	op.Step, op.Steps, op.Started = i+1, n, time.Now().UTC()
	// The record of the step, the pod's watch and the act are independent: the
	// record's write goes on beside the other two (the act does not read it, and a
	// rerun recognises an act by its effect), and it is done before the step goes on.
	begun := make(chan struct{})
	go func() {
		defer close(begun)
		r.begin(ctx, m.StatefulSet, op, s)
	}()
	pw, err := r.watchPod(ctx, m)
	if err != nil {
		<-begun
		res.Result = "failed"
		r.end(m.StatefulSet, op, "failed: "+err.Error(), nil)
		return err
	}
	defer pw.stop()
	// An act is made to be taken again (a rerun resumes it), so one the API server
	// did not answer is taken again once it does.
	var restart bool
	err = apiretry.Do(ctx, 0, r.describe()+" on "+s.Node, func(ctx context.Context) (err error) {
		restart, err = r.Act(ctx, m)
		return err
	})
	<-begun
	if err != nil {
		res.Result = "failed"
		if ctx.Err() != nil {
			res.Result = "interrupted"
			r.end(m.StatefulSet, op, "interrupted", nil)
			return r.ctxErr(ctx, s.Node)
		}
		r.end(m.StatefulSet, op, "failed: "+err.Error(), nil)
		return fmt.Errorf("%s: %w", s.Node, err)
	}
	res.Restarted = restart
	r.emit(ev("acted", r.describe()+" applied", nil))

	nctx, cancel := context.WithTimeout(ctx, r.NodeTimeout)
	defer cancel()
	t, err := r.waitPod(nctx, pw, m, restart, ev)
	res.ShutdownSeconds, res.GraceSeconds = secs(t.shutdown()), t.grace
	var last *snapshot.Snapshot
	if err == nil && r.AfterReady != nil {
		err = r.AfterReady(nctx, m)
	}
	if err == nil {
		last, err = r.waitAxon(nctx, s.Node, recovering, later, focusOn(snap, s.Node), &t, ev)
	}
	if err == nil && restart {
		err = r.settle(nctx, m, ev)
	}
	if err != nil {
		return r.fail(ctx, nctx, m, op, s, res, err)
	}
	after := leaders(last.Quorum())
	for g, l := range before {
		if after[g] != l {
			res.Elections++
			sum.Elections[g]++
		}
	}
	extra := map[string]string{}
	if restart && !t.gone.IsZero() {
		for k, v := range record.Shutdown(t.shutdown(), t.grace) {
			extra[k] = v
		}
	}
	if r.AfterStep != nil {
		actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := r.AfterStep(actx, m); err != nil {
			r.emit(progress.Event{Kind: "warning", Level: progress.Warn, Node: s.Node, Message: err.Error()})
		}
		cancel()
	}
	r.end(m.StatefulSet, op, "done", extra)
	r.event(m.StatefulSet, false, record.Reason(r.Op.Operation, "Finished"),
		fmt.Sprintf("%s: %s finished (step %d/%d)", s.Node, r.describe(), i+1, n))

	res.Result = "done"
	if !t.down.IsZero() {
		res.DownSeconds = secs(t.ready.Sub(t.down))
		res.ToHealthySeconds = secs(t.healthy.Sub(t.down))
	}
	res.StepSeconds = secs(time.Since(start))
	res.OverheadSeconds = secs(time.Since(start) - t.healthy.Sub(t.down))
	r.emit(ev("step-finished", fmt.Sprintf("done in %.1fs (down %.1fs, healthy after %.1fs, shutdown %.1fs, overhead %.2fs, elections %d)",
		res.StepSeconds, res.DownSeconds, res.ToHealthySeconds, res.ShutdownSeconds, res.OverheadSeconds, res.Elections), *res))
	return nil
}

func (r *Runner) describe() string {
	if r.Op.Detail == "" {
		return r.Op.Operation
	}
	return r.Op.Operation + " " + r.Op.Detail
}

// fail records a failed wait and builds the error.
func (r *Runner) fail(ctx, nctx context.Context, m discovery.Member, op record.Op, s Step, res *NodeResult, err error) error {
	res.Result = "failed"
	if ctx.Err() != nil {
		res.Result = "interrupted"
		r.end(m.StatefulSet, op, "interrupted", nil)
		return r.ctxErr(ctx, s.Node)
	}
	var ne *NodeError
	if !errors.As(err, &ne) {
		if nctx.Err() == nil {
			r.end(m.StatefulSet, op, "failed: "+err.Error(), nil)
			return err
		}
		ne = &NodeError{Node: s.Node, Why: fmt.Sprintf("not healthy within --node-timeout %s: %v", r.NodeTimeout, err)}
	}
	dctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ne.Diagnosis = append(ne.Diagnosis, Diagnose(dctx, r.Kube, m, r.Observe)...)
	r.end(m.StatefulSet, op, "failed: "+ne.Error(), nil)
	r.event(m.StatefulSet, true, record.Reason(r.Op.Operation, "Failed"), ne.Error())
	for _, d := range ne.Diagnosis {
		r.emit(progress.Event{Kind: "diagnosis", Level: progress.Error, Node: s.Node, Message: d})
	}
	ways := "fix it and rerun to resume (" + r.resumeHint() + ")"
	if r.RollBack != nil {
		if rb := r.RollBack(s.Node); rb != "" {
			ways += ", or roll it back: " + rb
		}
	}
	r.emit(progress.Event{Kind: "stopped", Level: progress.Error, Node: s.Node,
		Message: "stopped here; no other node was touched. Two ways on: " + ways})
	return cli.WithCode(cli.ExitTimeout, fmt.Errorf("%w; stopped, no other node touched; %s", ne, ways))
}

// yieldTo is the preflight's answer when its step is blocked while a later target
// is out of service: that target goes first.
type yieldTo struct {
	node    string
	blocked string // why the step waits
}

func (y *yieldTo) Error() string { return "blocked (" + y.blocked + "); " + y.node + " goes first" }

// preflight waits until the cluster is healthy apart from the node and the node may
// be stopped; with Force it proceeds anyway (at once for a structural block, after
// SafetyTimeout otherwise).
//
// A node that is out of service (quorum.Cluster.OutOfService: down in Axon Server's
// view, and not running or not Ready in Kubernetes') goes whatever the state of the
// others: it serves nothing, so restarting it costs no group anything, and it is how
// a cluster comes back from an image that crashes or never becomes ready on several
// nodes at once. Such a step is recovering: its wait asks the node to come back as
// far as the cluster lets it (see waitAxon). A blocked step yields to a later target
// that is out of service now (a *yieldTo error). Neither applies when Check is set
// (replace-node --fresh-volume needs the groups healthy to rebuild the node).
func (r *Runner) preflight(ctx context.Context, s Step, later []string, ev func(kind, msg string, data any) progress.Event) (*snapshot.Snapshot, bool, bool, error) {
	deadline := time.Now().Add(r.SafetyTimeout)
	for {
		snap, err := r.Last, error(nil)
		r.Last = nil
		if snap == nil || time.Since(snap.Taken) > reuseLook {
			snap, err = r.Observe(ctx)
		}
		var reasons []string
		if err == nil {
			c := snap.Quorum()
			ok, hs := c.Healthy(s.Node)
			v := c.CanStop(s.Node)
			if r.Check != nil {
				v = r.Check(c, s.Node)
			}
			if ok && v.Safe {
				return snap, false, false, nil
			}
			reasons = blockers(hs, v)
			if r.Check == nil && v.Safe && c.OutOfService(s.Node) {
				r.emit(ev("out-of-service", fmt.Sprintf("%s is out of service (%s): restarting it costs no group anything; going on although the cluster is not healthy: %s",
					s.Node, v.Evidence, strings.Join(reasons, "; ")), nil))
				return snap, false, true, nil
			}
			if r.Check == nil {
				for _, n := range later {
					if c.OutOfService(n) {
						return nil, false, false, &yieldTo{node: n, blocked: strings.Join(reasons, "; ")}
					}
				}
			}
			over := !time.Now().Before(deadline)
			if r.Force && (s.Structural && !v.Safe && ok || over) {
				msg := fmt.Sprintf("--force: stopping %s although it is not safe: %s", s.Node, strings.Join(reasons, "; "))
				e := ev("forced", msg, v)
				e.Level = progress.Warn
				r.emit(e)
				if m, ok := snap.Member(s.Node); ok && m.StatefulSet != nil {
					r.event(m.StatefulSet, true, record.Reason(r.Op.Operation, "Forced"), msg)
				}
				return snap, true, false, nil
			}
			if over {
				return nil, false, false, cli.Refusedf("%s: not safe to stop after waiting %s (--safety-timeout): %s; nothing was changed on this node",
					s.Node, r.SafetyTimeout, strings.Join(reasons, "; "))
			}
		} else {
			if ctx.Err() != nil {
				return nil, false, false, ctx.Err()
			}
			reasons = []string{err.Error()}
			if !time.Now().Before(deadline) {
				return nil, false, false, err
			}
		}
		e := ev("preflight", "waiting until safe to stop: "+strings.Join(reasons, "; "), nil)
		e.Transient = true
		r.emit(e)
		if err := sleep(ctx, r.wholePoll()); err != nil {
			return nil, false, false, err
		}
	}
}

// blockers lists why a step may not start: unhealthy nodes, then the verdict.
func blockers(hs []quorum.Health, v quorum.Verdict) []string {
	var out []string
	for _, h := range hs {
		if !h.Healthy {
			out = append(out, h.Node+" unhealthy: "+strings.Join(h.Problems, ", "))
		}
	}
	for _, b := range v.Blocked {
		out = append(out, b.String())
	}
	for _, u := range v.Unseen {
		out = append(out, "not seen: "+u.String())
	}
	return out
}

// waitAxon polls Axon Server until the node is healthy, then until every node is
// (only the node itself with Force: the next preflight checks the rest). While the
// node is not healthy the looks are focused on it (focus: the node and its groups'
// leaders), so their cost does not grow with the cluster; once it is, a look at the
// whole cluster confirms it and judges the others. That look ends the step and
// starts the next step's preflight. A recovering step (its node was out of service
// while others were unhealthy) waits for the node to come back as far as the
// cluster lets it (HealthWhereLed) and leaves the rest to the next preflight:
// groups that lack a quorum while other nodes are down cannot elect a leader, and
// the node cannot be caught up in them, until those nodes are back too. Nor does a
// healthy node wait for the others while every unhealthy one is still to be done and
// one of them is out of service (an image that crashes in a loop, taken back one
// node at a time): that one goes next (the next preflight yields to it), as nothing
// else brings it back.
func (r *Runner) waitAxon(ctx context.Context, node string, recovering bool, later []string, focus Focus, t *timings, ev func(kind, msg string, data any) progress.Event) (*snapshot.Snapshot, error) {
	var lastErr error
	whole := false // the next look is at the whole cluster
	for {
		var snap *snapshot.Snapshot
		var err error
		if whole {
			snap, err = r.Observe(ctx)
		} else {
			snap, err = r.Observe(ctx, focus)
		}
		if err == nil {
			c := snap.Quorum()
			h := c.NodeHealth(node)
			if recovering {
				h = c.HealthWhereLed(node)
			}
			msg := ""
			switch {
			case !h.Healthy:
				msg = "waiting for Axon Server: " + strings.Join(h.Problems, ", ")
				whole = false
				focus = focusOn(snap, node) // a new leader, an admin node elsewhere
			case t.healthy.IsZero():
				t.healthy = time.Now()
				what := "healthy in Axon Server (connected, caught up, every group led)"
				if recovering {
					what = "back in Axon Server (connected, caught up in every group that has a leader)"
				}
				r.emit(ev("node-healthy", fmt.Sprintf("%s %.1fs after the shutdown began", what, secs(t.healthy.Sub(t.down))), nil))
				fallthrough
			case !whole:
				whole = true
				continue // confirm with a look at the whole cluster, at once
			default:
				ok, hs := c.Healthy()
				if ok || r.Force || recovering {
					if ok {
						r.emit(ev("cluster-healthy", "every node healthy", nil))
					}
					r.Last = snap
					return snap, nil
				}
				msg = "waiting for every node: " + strings.Join(blockers(hs, quorum.Verdict{}), "; ")
				if next := r.outOfServiceAhead(c, hs, later); next != "" {
					r.emit(ev("next-out-of-service", fmt.Sprintf("%s is out of service and still to be done: it goes next rather than being waited for (%s)", next, strings.TrimPrefix(msg, "waiting for ")), nil))
					r.Last = snap
					return snap, nil
				}
			}
			e := ev("waiting", msg, nil)
			e.Transient = true
			r.emit(e)
			lastErr = errors.New(msg)
		} else {
			lastErr = err
		}
		pause := r.Poll
		if whole {
			pause = r.wholePoll()
		}
		if err := sleep(ctx, pause); err != nil {
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, err
		}
	}
}

// outOfServiceAhead names a target still to be done that is out of service now,
// when every unhealthy node among hs is still to be done (later); "" otherwise, and
// always with Check set (as in preflight: replace-node --fresh-volume needs healthy
// groups). A node already done, or not a target, that is unhealthy is waited for.
func (r *Runner) outOfServiceAhead(c quorum.Cluster, hs []quorum.Health, later []string) string {
	if r.Check != nil {
		return ""
	}
	next := ""
	for _, h := range hs {
		switch {
		case h.Healthy:
		case !slices.Contains(later, h.Node):
			return ""
		case next == "" && c.OutOfService(h.Node):
			next = h.Node
		}
	}
	return next
}

// settle honours the StatefulSet's minReadySeconds as its own rolling update does:
// the new pod must stay Ready, with no container restart, for that long before the
// next node is touched. An image that starts, passes its probes and crashes a little
// later is then stopped at its first node. Without minReadySeconds it returns at
// once.
func (r *Runner) settle(ctx context.Context, m discovery.Member, ev func(kind, msg string, data any) progress.Event) error {
	hold := time.Duration(m.StatefulSet.Spec.MinReadySeconds) * time.Second
	if hold <= 0 {
		return nil
	}
	pods := r.Kube.CoreV1().Pods(m.StatefulSet.Namespace)
	name := PodName(m.StatefulSet)
	first, err := pods.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	r.emit(ev("settling", fmt.Sprintf("waiting %s (minReadySeconds) for the pod to stay Ready before the next node", hold), nil))
	deadline := time.Now().Add(hold)
	for p := first; ; {
		if p.UID != first.UID || discovery.Restarts(p) != discovery.Restarts(first) || !discovery.PodReady(p) {
			return &NodeError{Node: m.NodeName, Stuck: true,
				Why: fmt.Sprintf("it did not stay Ready for minReadySeconds (%s): %s", hold, PodState(p))}
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		if err := sleep(ctx, min(r.Poll*4, time.Until(deadline))); err != nil {
			return err
		}
		if cur, err := pods.Get(ctx, name, metav1.GetOptions{}); err == nil {
			p = cur // a failed read is judged again at the next poll
		}
	}
}

func (r *Runner) begin(ctx context.Context, sts *appsv1.StatefulSet, op record.Op, s Step) {
	if r.Recorder == nil {
		return
	}
	if err := r.Recorder.Begin(ctx, sts.Name, op); err != nil {
		r.emit(progress.Event{Kind: "warning", Level: progress.Warn, Node: s.Node, Message: err.Error()})
	}
	r.event(sts, false, record.Reason(r.Op.Operation, "Started"),
		fmt.Sprintf("%s: %s (step %d/%d) by %s", s.Node, r.describe(), op.Step, op.Steps, op.Holder))
}

// end records the end of a step, in the background (the Recorder's writes are made
// in order, each within its own time limit, so an interrupted run still records
// where it stopped; Run waits for them before it returns).
func (r *Runner) end(sts *appsv1.StatefulSet, op record.Op, result string, extra map[string]string) {
	if r.Recorder != nil {
		r.Recorder.End(sts.Name, op, result, extra)
	}
}

func (r *Runner) event(sts *appsv1.StatefulSet, warning bool, reason, msg string) {
	if r.Recorder != nil {
		r.Recorder.Event(sts, warning, reason, msg)
	}
}

// flush waits (a bounded time) for the record's writes made in the background.
func (r *Runner) flush() {
	if r.Recorder == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := r.Recorder.Flush(ctx); err != nil {
		r.emit(progress.Event{Kind: "warning", Level: progress.Warn, Message: "the record of the run (annotations, Events) was not all written: " + err.Error()})
	}
}

// leaders maps each group to its usable leader ("" when none).
func leaders(c quorum.Cluster) map[string]string {
	out := map[string]string{}
	for _, g := range c.Groups {
		if g.HasLeader() {
			out[g.Name] = g.Leader
		} else {
			out[g.Name] = ""
		}
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func listOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}
