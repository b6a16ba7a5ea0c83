package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
	"github.com/kubectl-axon/kubectl-axon/pkg/lock"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/stepper"
	"github.com/kubectl-axon/kubectl-axon/pkg/table"
)

// RollingFlags are the flags of the commands that step through the nodes one at
// a time on the stepper (upgrade, replace-node, drain-node).
type RollingFlags struct {
	Output           string
	DryRun           bool
	Force            bool
	StealLock        bool
	SafetyTimeout    time.Duration
	NodeTimeout      time.Duration
	Timeout          time.Duration
	Pause            time.Duration
	Poll             time.Duration
	MinActiveBackups int
	Progress         string
}

// DefaultRollingFlags are the defaults of RollingFlags.
func DefaultRollingFlags() RollingFlags {
	return RollingFlags{SafetyTimeout: 5 * time.Minute, NodeTimeout: 15 * time.Minute, Poll: 100 * time.Millisecond,
		MinActiveBackups: 0}
}

// AddFlags registers the flags.
func (r *RollingFlags) AddFlags(f *pflag.FlagSet) {
	r.addRunFlags(f, "print the plan only; change nothing",
		"how long one node may take to come back healthy",
		"how often to ask Axon Server about the node being changed while waiting for it (about the whole cluster: every 5 intervals, at least 500ms apart)")
	f.BoolVar(&r.Force, "force", r.Force, "proceed when a safety check still fails (loud warning and an Event); never skips waiting for a node to be healthy")
	f.DurationVar(&r.SafetyTimeout, "safety-timeout", r.SafetyTimeout, "how long to wait before a node for the cluster to be healthy and the node safe to stop")
	f.DurationVar(&r.Pause, "pause", r.Pause, "pause between nodes")
}

// addRunFlags registers the flags every command that changes the cluster has (the
// rolling ones and the shape ones), with the help of --dry-run, --node-timeout and
// --poll-interval, which mean a little different things to each.
func (r *RollingFlags) addRunFlags(f *pflag.FlagSet, dryRun, nodeTimeout, poll string) {
	f.StringVarP(&r.Output, "output", "o", r.Output, "json: the plan as data with --dry-run, else one JSON event per line on stdout")
	f.BoolVar(&r.DryRun, "dry-run", r.DryRun, dryRun)
	f.BoolVar(&r.StealLock, "steal-lock", r.StealLock, "take the cluster's operation Lease although another run holds it (after a crash)")
	f.DurationVar(&r.NodeTimeout, "node-timeout", r.NodeTimeout, nodeTimeout)
	f.DurationVar(&r.Timeout, "timeout", r.Timeout, "time limit of the whole run (0: none)")
	f.DurationVar(&r.Poll, "poll-interval", r.Poll, poll)
	f.IntVar(&r.MinActiveBackups, "min-active-backups", r.MinActiveBackups, "the cluster's axoniq.axonserver.replication.min-active-backups; 0: each node's own setting (/actuator/env), else 1")
	f.StringVar(&r.Progress, "progress", r.Progress, "progress display: spinner, lines or none (default: spinner on a terminal, lines otherwise)")
	_ = f.MarkHidden("progress")
}

// Validate checks the flags; what says what the command changes ("upgrade changes
// StatefulSets") for the refusal of --axon-url.
func (r *RollingFlags) Validate(flags *connect.Flags, what string) error {
	if err := flags.Validate(); err != nil {
		return err
	}
	if r.Output != "" && r.Output != "json" {
		return cli.Usagef("--output must be json, not %q", r.Output)
	}
	switch progress.Format(r.Progress) {
	case progress.FormatAuto, progress.FormatSpinner, progress.FormatLines, progress.FormatNone:
	default:
		return cli.Usagef("--progress must be spinner, lines or none, not %q", r.Progress)
	}
	if flags.AxonOnly() {
		return cli.Usagef("%s: it needs Kubernetes, not --axon-url", what)
	}
	if r.SafetyTimeout <= 0 || r.NodeTimeout <= 0 || r.Timeout < 0 || r.Pause < 0 || r.Poll < 10*time.Millisecond {
		return cli.Usagef("--safety-timeout and --node-timeout must be positive, --timeout and --pause not negative, --poll-interval at least 10ms")
	}
	if r.MinActiveBackups < 0 {
		return cli.Usagef("--min-active-backups must not be negative")
	}
	return nil
}

// runContext is the run's context: cancelled on Ctrl-C or SIGTERM (stop) and at
// --timeout. cancel releases both.
func (r *RollingFlags) runContext(ctx context.Context) (_ context.Context, stop, cancel func()) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	cancel = stop
	if r.Timeout > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeout(ctx, r.Timeout)
		cancel = func() { c(); stop() }
	}
	return ctx, stop, cancel
}

// observer takes one look at the cluster the session selects, a focused one when
// given a focus. Its StatefulSets and pods come from watches the session keeps.
func (r *RollingFlags) observer(sess *connect.Session) stepper.Observer {
	return func(ctx context.Context, focus ...stepper.Focus) (*snapshot.Snapshot, error) {
		q := sess.Query(false)
		q.Watch = true // a rolling operation looks many times: watch, do not list each time
		o := snapshot.Options{Query: q, Inspect: sess.InspectOptions(), MinActiveBackups: r.MinActiveBackups}
		o.Inspect.Health = inspect.HealthOfNone // the steps judge by the model only (Snapshot.Report is never built)
		for _, f := range focus {
			o.Inspect.Focus, o.Inspect.Leaders, o.Inspect.ViewFrom = f.Nodes, f.Leaders, f.ViewFrom
		}
		return snapshot.Take(ctx, sess, o)
	}
}

// sink is the progress display: JSON lines on stdout with -o json, else --progress
// on stderr.
func (r *RollingFlags) sink(streams genericiooptions.IOStreams) progress.Sink {
	if r.Output == "json" {
		return progress.New(progress.FormatJSON, streams.Out, streams.ErrOut)
	}
	return progress.New(progress.Format(r.Progress), streams.Out, streams.ErrOut)
}

// holdLock takes the cluster's operation Lease for holder; losing it calls stop.
// The returned release gives it back (and reports a failure to the sink).
func (r *RollingFlags) holdLock(ctx context.Context, kube kubernetes.Interface, snap *snapshot.Snapshot, holder string, sink progress.Sink, stop func()) (release func(), err error) {
	lk, err := lock.Acquire(ctx, kube, lock.Options{Namespace: snap.Namespace, Cluster: snap.Cluster,
		Holder: holder, Steal: r.StealLock, OnLost: func(err error) {
			sink.Emit(progress.Event{Kind: "warning", Level: progress.Warn, Message: "lost the operation Lease: " + err.Error()})
			stop()
		}})
	if err != nil {
		return nil, err
	}
	if lk.Stolen != "" {
		sink.Emit(progress.Event{Kind: "warning", Level: progress.Warn, Message: fmt.Sprintf("took over Lease %s from %s", lk.Name(), lk.Stolen)})
	}
	if r.Force {
		sink.Emit(progress.Event{Kind: "warning", Level: progress.Warn, Message: "--force: safety checks that still fail will be overridden; writes to a replication group may stop"})
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := lk.Release(rctx); err != nil {
			sink.Emit(progress.Event{Kind: "warning", Level: progress.Warn, Message: err.Error()})
		}
	}, nil
}

// newRecorder records the run in the namespace; what it fails to write in the
// background is a warning on the sink.
func newRecorder(sess *connect.Session, ns string, sink progress.Sink) *record.Recorder {
	return &record.Recorder{Kube: sess.Kube, Namespace: ns, Warn: func(err error) {
		sink.Emit(progress.Event{Kind: "warning", Level: progress.Warn, Message: err.Error()})
	}}
}

// runner is a stepper.Runner with the flags' timeouts and policy.
func (r *RollingFlags) runner(sess *connect.Session, snap *snapshot.Snapshot, sink progress.Sink) *stepper.Runner {
	return &stepper.Runner{Kube: sess.Kube, Namespace: snap.Namespace, Observe: r.observer(sess), Last: snap,
		Recorder: newRecorder(sess, snap.Namespace, sink),
		Progress: sink, Force: r.Force,
		SafetyTimeout: r.SafetyTimeout, NodeTimeout: r.NodeTimeout, Pause: r.Pause, Poll: r.Poll}
}

// presentPlan shows the plan. With --dry-run it writes it (one JSON document with
// -o json, else text) and reports done. Otherwise it opens the run's progress sink
// and shows the plan first (a "plan" event with -o json, else text on stdout).
func (r *RollingFlags) presentPlan(streams genericiooptions.IOStreams, doc any, msg string, text func(io.Writer) error) (sink progress.Sink, done bool, err error) {
	if r.DryRun {
		if r.Output == "json" {
			return nil, true, writeData(streams.Out, doc, "json")
		}
		return nil, true, text(streams.Out)
	}
	sink = r.sink(streams)
	if r.Output == "json" {
		sink.Emit(progress.Event{Kind: "plan", Message: msg, Data: doc})
	} else if err := text(streams.Out); err != nil {
		sink.Close()
		return nil, false, err
	}
	return sink, false, nil
}

// refuseUnsafe refuses a plan with steps no order makes safe (exit 3), unless
// --force.
func (r *RollingFlags) refuseUnsafe(blocked []stepper.Step) error {
	if len(blocked) == 0 || r.Force {
		return nil
	}
	var why []string
	for _, s := range blocked {
		for _, i := range s.Verdict.Blocked {
			why = append(why, s.Node+": "+i.String())
		}
	}
	return cli.Refusedf("no safe order exists: even with every node healthy, %s; nothing was changed (--force overrides)", strings.Join(why, "; "))
}

// completeWith is a ValidArgsFunction: it opens a session with the flags (5s at
// most), asks list for the candidates and keeps those starting with what was typed.
func completeWith(flags *connect.Flags, open connect.Opener, list func(ctx context.Context, s *connect.Session, args []string) ([]string, error)) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		s, err := open(flags)
		if err != nil || s.Kube == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		all, err := list(ctx, s, args)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, a := range all {
			if strings.HasPrefix(a, toComplete) {
				out = append(out, a)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// writeSteps prints a plan's steps as a table (the verdict under safeHeader), the
// nodes skipped and why, and "Nothing to do." when no step is left.
func writeSteps(w io.Writer, p stepper.Plan, safeHeader, skippedWhy string) error {
	if len(p.Steps) > 0 {
		t := table.New(w, "STEP", "NODE", "KIND", "GROUPS", "LEADS", safeHeader)
		for i, s := range p.Steps {
			t.Row(fmt.Sprint(i+1), s.Node, string(s.Kind), listOr(s.Groups), listOr(s.Leads), stepper.VerdictText(s))
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	if len(p.Skipped) > 0 {
		names := make([]string, len(p.Skipped))
		for i, s := range p.Skipped {
			names[i] = s.Node
		}
		fmt.Fprintf(w, "Skipped (%s): %s\n", skippedWhy, strings.Join(names, ", "))
	}
	if len(p.Steps) == 0 {
		fmt.Fprintln(w, "Nothing to do.")
	}
	return nil
}
