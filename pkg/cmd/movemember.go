package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/membership"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
)

const moveMemberExample = `  # Move orders' membership from axonserver-3 to axonserver-6 (another zone), same role
  kubectl axon move-member orders --from axonserver-3 --to axonserver-6 -n axon

  # The plan only
  kubectl axon move-member orders --from axonserver-3 --to axonserver-6 -n axon --dry-run -o json`

const setRoleExample = `  # Make axonserver-5 an ACTIVE_BACKUP of payments (removed and added back)
  kubectl axon set-role payments axonserver-5 ACTIVE_BACKUP -n axon`

// roleChangeAnnotation records, on the node's StatefulSet, the membership a
// move-member or set-role run is giving it ("GROUP:ROLE"), so that a rerun after the
// removal of a set-role knows to add the member back.
const roleChangeAnnotation = record.Prefix + "membership-change"

// MoveMemberOptions moves a group membership from one node to another, or (set-role)
// changes a member's role.
type MoveMemberOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags
	ShapeFlags
	// SetRole: the set-role command (Group, From, Role from its arguments).
	SetRole bool
	Group   string
	From    string
	To      string
	Role    string

	clients
}

// NewCmdMoveMember returns `kubectl axon move-member`.
func NewCmdMoveMember(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	o := newMoveMember(streams, open, false)
	c := &cobra.Command{
		Use:   "move-member GROUP --from NODE --to NODE [--role ROLE]",
		Short: "Move a replication-group membership to another node: add it there, wait until caught up, remove the old one",
		Long: `Move a replication group's membership from one node to another (e.g. to a node in
another zone, as doctor's zone and worker findings advise): the membership is added on
--to with --role (default: the role it has on --from), waited for until the new member
has caught up (Raft indices), and only then removed from --from (a leader hands
leadership over first). Each change is confirmed by reading the group. Refused (exit 3,
nothing changed) when the group would lose its commit availability, its only store of
a context or its min-active-backups, or while a change is pending. A rerun continues:
a membership already added is not added again.`,
		Example: moveMemberExample,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	f := c.Flags()
	f.StringVar(&o.From, "from", o.From, "the node that has the membership now")
	f.StringVar(&o.To, "to", o.To, "the node that takes it over")
	f.StringVar(&o.Role, "role", o.Role, "the role on --to (default: the role on --from)")
	o.ShapeFlags.AddFlags(f)
	return c
}

// NewCmdSetRole returns `kubectl axon set-role`.
func NewCmdSetRole(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	o := newMoveMember(streams, open, true)
	c := &cobra.Command{
		Use:   "set-role GROUP NODE ROLE",
		Short: "Change a member's role: remove it and add it back with the role, where the group keeps committing in between",
		Long: `Change a node's role in a replication group. Axon Server changes a role no other way
than by removing the member and adding it back (a POST for a member changes nothing),
so the group is without the member for a while: set-role is refused (exit 3, nothing
changed) unless the group keeps its commit availability, a store of its contexts and
its min-active-backups without it (the arithmetic of CanStop). The member added back
is waited for until it has caught up. The change is recorded on the node's
StatefulSet: a rerun after the removal adds the member back.`,
		Example: setRoleExample,
		Args:    cobra.MaximumNArgs(3),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	o.ShapeFlags.AddFlags(c.Flags())
	return c
}

func newMoveMember(streams genericiooptions.IOStreams, open connect.Opener, setRole bool) *MoveMemberOptions {
	flags := connect.NewFlags()
	return &MoveMemberOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut), ShapeFlags: DefaultShapeFlags(), SetRole: setRole}
}

func (o *MoveMemberOptions) op() string {
	if o.SetRole {
		return "set-role"
	}
	return "move-member"
}

// Complete takes GROUP (and for set-role NODE ROLE).
func (o *MoveMemberOptions) Complete(args []string) error {
	if len(args) > 0 {
		o.Group = args[0]
	}
	if o.SetRole {
		if len(args) != 3 {
			return cli.Usagef("set-role takes GROUP NODE ROLE")
		}
		o.From, o.Role = args[1], args[2]
	}
	return nil
}

// Validate checks the arguments.
func (o *MoveMemberOptions) Validate() error {
	if err := o.ShapeFlags.Validate(o.Flags, o.op()+" changes replication groups through Kubernetes"); err != nil {
		return err
	}
	switch {
	case o.Group == "":
		return cli.Usagef("name the replication group")
	case !o.SetRole && (o.From == "" || o.To == ""):
		return cli.Usagef("--from and --to are required")
	case !o.SetRole && o.From == o.To:
		return cli.Usagef("--from and --to are the same node")
	}
	if o.Role != "" {
		if _, err := quorum.ParseRole(o.Role); err != nil {
			return cli.Usagef("role %s: %v", o.Role, err)
		}
	}
	return nil
}

// Run plans, and unless --dry-run makes the changes.
func (o *MoveMemberOptions) Run(ctx context.Context) error {
	ctx, stop, cancel := o.runContext(ctx)
	defer cancel()
	snap, err := o.observer(o.session)(ctx)
	if err != nil {
		return err
	}
	from, ok := snap.Member(o.From)
	if !ok {
		return cli.Usagef("no node %q in cluster %s", o.From, snap.Cluster)
	}
	role := quorum.Role("")
	if o.Role != "" {
		role, _ = quorum.ParseRole(o.Role)
	}
	v := viewOf(snap)
	if _, ok := v.Group(o.Group); !ok {
		return cli.Usagef("no replication group %q in cluster %s", o.Group, snap.Cluster)
	}
	// The membership this command gives, recorded on the receiving node's
	// StatefulSet: a rerun finds it there.
	target := from
	if !o.SetRole {
		if target, ok = snap.Member(o.To); !ok {
			return cli.Usagef("no node %q in cluster %s", o.To, snap.Cluster)
		}
	}
	recorded := target.StatefulSet.Annotations[roleChangeAnnotation]
	var plan membership.Plan
	var title string
	if o.SetRole {
		resuming := recorded == o.Group+":"+string(role)
		plan = membership.SetRole(v, o.Group, from.NodeName, role, resuming)
		title = fmt.Sprintf("Set the role of %s in %s to %s (cluster %s, namespace %s): remove the member, add it back, wait until caught up",
			from.NodeName, o.Group, role, snap.Cluster, snap.Namespace)
	} else {
		g, _ := v.Group(o.Group)
		want := role
		if m, ok := g.Member(from.NodeName); ok && want == "" {
			want = m.Role
		}
		resuming := want != "" && recorded == o.Group+":"+string(want)
		plan = membership.MoveMember(v, o.Group, from.NodeName, target.NodeName, role, resuming)
		role = want
		title = fmt.Sprintf("Move the membership of %s in %s to %s as %s (cluster %s, namespace %s): add, wait until caught up, then remove",
			from.NodeName, o.Group, target.NodeName, orDash(string(role)), snap.Cluster, snap.Namespace)
	}
	doc := planDoc("AxonMembershipPlan", snap, plan)
	run, done, err := o.start(ctx, o.IOStreams, o.session, snap, o.op(), o.Group+" "+from.NodeName, plan, doc, title, shapeNeeds(), stop)
	if err != nil || done {
		return err
	}
	began := time.Now()
	if len(plan.Changes()) == 0 {
		return run.finish(nil, began, "nothing to do: the group has the membership wanted", nil)
	}
	if err := run.rec.Annotate(ctx, target.StatefulSet.Name, map[string]string{roleChangeAnnotation: o.Group + ":" + string(role)}); err != nil {
		return run.finish(nil, began, "", err)
	}
	run.started(from.StatefulSet, fmt.Sprintf("%s %s: %s", o.op(), o.Group, changeList(plan)))
	err = run.apply(ctx, plan)
	if err == nil {
		err = run.rec.Annotate(ctx, target.StatefulSet.Name, map[string]string{roleChangeAnnotation: ""})
	}
	return run.finish(from.StatefulSet, began, changeList(plan)+" done in "+o.Group, err)
}

func changeList(p membership.Plan) string {
	s := ""
	for i, c := range p.Changes() {
		if i > 0 {
			s += ", then "
		}
		s += c.String()
	}
	return orDash(s)
}
