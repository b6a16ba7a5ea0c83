package cmd

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/lock"
	"github.com/kubectl-axon/kubectl-axon/pkg/membership"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/rebuild"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/table"
)

// What add-node, remove-node, move-member and set-role share: their flags, the
// cluster in pkg/membership's terms, the plan's presentation, the permission
// preflight, and the execution of a plan's membership changes through
// pkg/rebuild's change loop (one change per group at a time, each confirmed by
// reading the group, an added member waited for until it has caught up).

// ShapeFlags are the flags of the commands that change a cluster's shape. They are
// a subset of RollingFlags (no --force: these commands never override a refusal; no
// --pause or --safety-timeout: they do not step through the nodes).
type ShapeFlags struct {
	RollingFlags
	// JoinWait: how long a new node may take to register by itself (autocluster)
	// before it is sent POST /v1/cluster.
	JoinWait time.Duration
}

// DefaultShapeFlags are the defaults of ShapeFlags.
func DefaultShapeFlags() ShapeFlags {
	r := DefaultRollingFlags()
	r.Poll = 250 * time.Millisecond
	return ShapeFlags{RollingFlags: r, JoinWait: 20 * time.Second}
}

// AddFlags registers the flags.
func (s *ShapeFlags) AddFlags(f *pflag.FlagSet) {
	s.addRunFlags(f, "print the plan (and what refuses it) only; change nothing",
		"how long a node may take to come up, register or leave, and each membership change to be confirmed and caught up",
		"how often to ask Axon Server while waiting for a change")
}

// Validate checks the flags; what names the command for the refusal of --axon-url.
func (s *ShapeFlags) Validate(flags *connect.Flags, what string) error {
	if err := s.RollingFlags.Validate(flags, what); err != nil {
		return err
	}
	if s.JoinWait < 0 {
		return cli.Usagef("--join-wait must not be negative")
	}
	return nil
}

// viewOf is the snapshot in pkg/membership's terms: the safety model's groups with
// their contexts and pending changes, and the nodes registered in the cluster.
func viewOf(snap *snapshot.Snapshot) membership.View {
	c := snap.Quorum()
	extra := map[string]struct {
		contexts []string
		pending  bool
	}{}
	var registered []string
	if snap.Obs != nil {
		for _, g := range snap.Obs.Groups {
			var ctxs []string
			for _, x := range g.Contexts {
				ctxs = append(ctxs, x.Context)
			}
			extra[g.Name] = struct {
				contexts []string
				pending  bool
			}{ctxs, g.ChangePending}
		}
		for _, n := range snap.Obs.Public {
			registered = append(registered, n.Name)
		}
	}
	v := membership.View{Nodes: registered}
	for _, g := range c.Groups {
		e := extra[g.Name]
		v.Groups = append(v.Groups, membership.Group{Group: g, Contexts: e.contexts, ChangePending: e.pending})
	}
	return v
}

// parseMemberships reads "GROUP:ROLE,..." (ROLE defaults to PRIMARY).
func parseMemberships(s []string) ([]membership.Membership, error) {
	var out []membership.Membership
	for _, item := range s {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		g, r, ok := strings.Cut(item, ":")
		role := quorum.Primary
		if ok {
			var err error
			if role, err = quorum.ParseRole(r); err != nil {
				return nil, cli.Usagef("--groups %s: %v", item, err)
			}
		}
		if g == "" {
			return nil, cli.Usagef("--groups %q: GROUP:ROLE expected", item)
		}
		out = append(out, membership.Membership{Group: g, Role: role})
	}
	return out, nil
}

// writeShapePlan prints a plan: one row per group with the changes in order, the
// voters before and after, the fault tolerance now, during and after the changes,
// and the verdict; then the warnings.
func writeShapePlan(w io.Writer, title string, p membership.Plan) error {
	fmt.Fprintln(w, title)
	if len(p.Groups) > 0 {
		t := table.New(w, "GROUP", "ROLE", "LEADER", "CHANGES", "VOTERS", "TOLERANCE", "VERDICT")
		for _, g := range p.Groups {
			ch := "-"
			for i, c := range g.Changes {
				if i == 0 {
					ch = c.String()
				} else {
					ch += ", then " + c.String()
				}
			}
			t.Row(g.Group, orDash(string(g.Role)), orDash(g.Leader), ch,
				fmt.Sprintf("%d -> %d", g.VotersBefore, g.VotersAfter),
				fmt.Sprintf("%d / %d / %d", g.Tolerance, g.ToleranceDuring, g.ToleranceAfter), g.Verdict())
		}
		if err := t.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w, "(TOLERANCE: how many more voting members may fail before the group stops committing: now / during the changes / after)")
	}
	for _, g := range p.Groups {
		for _, x := range g.Warnings {
			fmt.Fprintf(w, "Warning: %s: %s\n", g.Group, x)
		}
	}
	for _, x := range p.Warnings {
		fmt.Fprintf(w, "Warning: %s\n", x)
	}
	shown := map[string]bool{}
	for _, g := range p.Groups {
		shown[g.Group] = true
	}
	for _, r := range p.Refusals {
		if !shown[r.Group] { // the table shows the others
			fmt.Fprintf(w, "REFUSED: %s\n", r)
		}
	}
	return nil
}

// shapeRun is one run of a shape command once the plan is accepted: its progress
// sink, Event recorder, lock and the change procedure's environment.
type shapeRun struct {
	op   string
	sink progress.Sink
	rec  *record.Recorder
	env  *rebuild.Env
	// release gives the Lease back.
	release func()
}

// start presents the plan (writing it and finishing with --dry-run: done), refuses
// a refused plan (exit 3, nothing changed), checks the permissions the run needs
// (exit 3 naming what is missing), and takes the cluster's Lease.
func (s *ShapeFlags) start(ctx context.Context, streams genericiooptions.IOStreams, sess *connect.Session, snap *snapshot.Snapshot,
	op, holderDetail string, p membership.Plan, doc map[string]any, title string, needs []access, stop func()) (*shapeRun, bool, error) {
	text := func(w io.Writer) error { return writeShapePlan(w, title, p) }
	missing := missingAccess(ctx, sess, snap.Namespace, needs)
	if len(missing) > 0 {
		p.Refuse("", membership.RulePermission, "missing permission: %s (docs/rbac.yaml)", strings.Join(missing, ", "))
	}
	doc["refused"] = p.Refused()
	doc["refusals"] = p.Refusals
	sink, done, err := s.presentPlan(streams, doc, title, text)
	if err != nil || done {
		return nil, done, err
	}
	if p.Refused() {
		sink.Close()
		return nil, false, cli.Refusedf("%s refused: %s; nothing was changed", op, p.RefusalText())
	}
	release, err := s.holdLock(ctx, sess.Kube, snap, lock.Identity(op+" "+holderDetail), sink, stop)
	if err != nil {
		sink.Close()
		return nil, false, err
	}
	rec := newRecorder(sess, snap.Namespace, sink)
	env := &rebuild.Env{Kube: sess.Kube, Namespace: snap.Namespace, Observe: s.observer(sess), Client: sess.Client,
		Recorder: rec, Progress: sink, Poll: s.Poll, JoinWait: s.JoinWait, UnregisterTimeout: s.NodeTimeout, ChangeTimeout: s.NodeTimeout}
	return &shapeRun{op: op, sink: sink, rec: rec, env: env, release: release}, false, nil
}

// finish reports the end (a summary event, an Event on sts when there is one),
// flushes the recorder and gives the Lease back.
func (r *shapeRun) finish(sts *appsv1.StatefulSet, began time.Time, msg string, err error) error {
	took := time.Since(began).Round(100 * time.Millisecond)
	line := fmt.Sprintf("%s finished after %s: %s", r.op, took, msg)
	if err != nil {
		line = fmt.Sprintf("%s failed after %s: %v", r.op, took, err)
	}
	level := progress.Info
	if err != nil {
		level = progress.Error
	}
	r.sink.Emit(progress.Event{Kind: "summary", Level: level, Message: line})
	if sts != nil {
		stage := "Finished"
		if err != nil {
			stage = "Failed"
		}
		r.rec.Event(sts, err != nil, record.Reason(r.op, stage), line)
	}
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = r.rec.Flush(fctx)
	cancel()
	r.release()
	r.sink.Close()
	return err
}

// started posts the Started Event on sts and a progress line.
func (r *shapeRun) started(sts *appsv1.StatefulSet, msg string) {
	r.sink.Emit(progress.Event{Kind: "started", Message: msg})
	if sts != nil {
		r.rec.Event(sts, false, record.Reason(r.op, "Started"), msg)
	}
}

// apply makes a plan's changes, group by group and in order: an addition (or a
// role change: a removal followed by the addition of the same node) waits until the
// member has caught up; a removal is sent only while the group can commit without
// the member (a leader hands leadership over first).
func (r *shapeRun) apply(ctx context.Context, p membership.Plan) error {
	for _, g := range p.Groups {
		for i := 0; i < len(g.Changes); i++ {
			c := g.Changes[i]
			if c.Op == membership.Remove && i+1 < len(g.Changes) && g.Changes[i+1].Op == membership.Add && g.Changes[i+1].Node == c.Node {
				c = g.Changes[i+1] // a role change: the change loop removes and adds back
				i++
			}
			var err error
			if c.Op == membership.Add {
				err = r.env.Join(ctx, c.Node, []membership.Membership{{Group: c.Group, Role: c.Role}})
			} else {
				err = r.env.SetMembership(ctx, c.Group, c.Node, "")
			}
			if err != nil {
				return fmt.Errorf("%s: %s: %w", c.Group, c, err)
			}
		}
	}
	return nil
}

// missingAccess checks the permissions a run needs (SelfSubjectAccessReview) and
// names the ones denied, as "verb resource" (an unanswered review counts as allowed:
// the request itself will say).
func missingAccess(ctx context.Context, sess *connect.Session, ns string, needs []access) []string {
	var out []string
	for _, c := range needs {
		allowed, why := reviewAccess(ctx, sess.Kube, ns, c)
		if allowed || strings.HasPrefix(why, "unknown") {
			continue
		}
		name := c.verb + " " + c.resource
		if c.sub != "" {
			name += "/" + c.sub
		}
		if c.group != "" {
			name += "." + c.group
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// shapeNeeds are the permissions every shape command needs beyond reading: the
// Lease, Events, and annotating StatefulSets.
func shapeNeeds() []access {
	return []access{
		{group: "coordination.k8s.io", resource: "leases", verb: "create"},
		{group: "coordination.k8s.io", resource: "leases", verb: "update"},
		{resource: "events", verb: "create"},
		{group: "apps", resource: "statefulsets", verb: "patch"},
	}
}

// planDoc is the data of a plan (--dry-run -o json, and the "plan" event).
func planDoc(kind string, snap *snapshot.Snapshot, p membership.Plan) map[string]any {
	groups := p.Groups
	if groups == nil {
		groups = []membership.GroupPlan{}
	}
	warnings := p.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	return map[string]any{"kind": kind, "cluster": snap.Cluster, "namespace": snap.Namespace,
		"operation": p.Operation, "node": p.Node, "groups": groups, "warnings": warnings}
}

// waitPod waits, on a watch of the one pod (list, then watch from its version,
// re-watching as the library sees fit), until done says so of it (nil: no such
// pod), telling seen each state it passes through; within timeout (exit 4 after).
func waitPod(ctx context.Context, kube kubernetes.Interface, ns, name string, timeout time.Duration, done func(*corev1.Pod) bool, seen func(*corev1.Pod)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pods := kube.CoreV1().Pods(ns)
	lw := discovery.ListWatchOne(name, pods.List, pods.Watch)
	judge := func(p *corev1.Pod) bool {
		seen(p)
		return done(p)
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, func(store cache.Store) (bool, error) {
		var p *corev1.Pod
		if items := store.List(); len(items) > 0 {
			p, _ = items[0].(*corev1.Pod)
		}
		return judge(p), nil
	}, func(e watch.Event) (bool, error) {
		p, _ := e.Object.(*corev1.Pod)
		if e.Type == watch.Deleted {
			p = nil
		}
		return judge(p), nil
	})
	if err != nil && ctx.Err() != nil {
		return cli.Timeoutf("pod %s: not there after %s", name, timeout)
	}
	return err
}
