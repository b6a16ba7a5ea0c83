package rebuild

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/stepper"
)

// Env is what the procedure needs: Kubernetes, a way to look at the cluster, Axon
// Server clients, and where to report.
type Env struct {
	Kube      kubernetes.Interface
	Namespace string
	Observe   stepper.Observer
	Client    func(ctx context.Context, m discovery.Member) (*axonserver.Client, error)
	Recorder  *record.Recorder
	Progress  progress.Sink
	// Poll is the interval of Axon Server polls; JoinWait how long a new node may take
	// to register by itself (autocluster) before it is sent POST /v1/cluster;
	// UnregisterTimeout bounds step 3. ChangeTimeout is how long an accepted (202)
	// membership change may take to show in the group, with no change pending and no
	// task scheduled for it, before it counts as failed (exit 4); ResendAfter how long
	// such a change may show no trace before its request is sent again (Resend).
	Poll, JoinWait, UnregisterTimeout, ChangeTimeout, ResendAfter time.Duration
}

func (e *Env) defaults() {
	if e.Poll <= 0 {
		e.Poll = 250 * time.Millisecond
	}
	if e.JoinWait <= 0 {
		e.JoinWait = 20 * time.Second
	}
	if e.UnregisterTimeout <= 0 {
		e.UnregisterTimeout = 5 * time.Minute
	}
	if e.ChangeTimeout <= 0 {
		e.ChangeTimeout = 2 * time.Minute
	}
	if e.ResendAfter <= 0 {
		e.ResendAfter = Resend
	}
	if e.Progress == nil {
		e.Progress = progress.Discard
	}
}

func (e *Env) emit(node, kind, msg string, transient bool, data any) {
	e.Progress.Emit(progress.Event{Kind: kind, Node: node, Message: msg, Transient: transient, Data: data})
}

// Load reads a StatefulSet and its State ("" phase when it carries none).
func (e *Env) Load(ctx context.Context, sts string) (*appsv1.StatefulSet, State, bool, error) {
	s, err := e.Kube.AppsV1().StatefulSets(e.Namespace).Get(ctx, sts, metav1.GetOptions{})
	if err != nil {
		return nil, State{}, false, err
	}
	v, ok := s.Annotations[Annotation]
	if !ok {
		return s, State{}, false, nil
	}
	st, err := Parse(v)
	return s, st, true, err
}

// Save writes the State on the StatefulSet.
func (e *Env) Save(ctx context.Context, sts string, st State) error {
	return e.Recorder.Annotate(ctx, sts, map[string]string{Annotation: st.String()})
}

// Finish removes the State: the node's step is done.
func (e *Env) Finish(ctx context.Context, sts string) error {
	return e.Recorder.Annotate(ctx, sts, map[string]string{Annotation: ""})
}

// Act is the stepper's action: a plain replacement deletes the pod; --fresh-volume
// takes steps 3 and 4. Each part checks the State (and the cluster) first, so a rerun
// redoes nothing that was done.
func (e *Env) Act(ctx context.Context, m discovery.Member) (bool, error) {
	e.defaults()
	sts, st, ok, err := e.Load(ctx, m.StatefulSet.Name)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, nil // done by an earlier run (its mark removed): only wait for it
	}
	pods := e.Kube.CoreV1().Pods(e.Namespace)
	if !st.Fresh {
		pod, err := currentPod(ctx, pods, stepper.PodName(sts))
		if err != nil {
			return false, err
		}
		if st.OldPod != "" && (pod == nil || string(pod.UID) != st.OldPod) {
			return pod == nil, nil // replaced already (an earlier run deleted it)
		}
		if pod == nil {
			return true, nil
		}
		st.OldPod = string(pod.UID)
		if err := e.Save(ctx, sts.Name, st); err != nil {
			return false, err
		}
		return true, deletePod(ctx, e.Kube, pod)
	}
	if !st.Phase.AtLeast(Deleting) {
		// Before anything else: a node that is its own autocluster.first must not
		// found a second cluster on its empty volume.
		if err := e.repointFirst(ctx, m, &st); err != nil {
			return false, err
		}
	}
	if !st.Phase.AtLeast(Unregistered) {
		st.Phase = Unregistering
		if err := e.Save(ctx, sts.Name, st); err != nil {
			return false, err
		}
		if err := e.unregister(ctx, m.NodeName, st.Groups); err != nil {
			return false, err
		}
		st.Phase = Unregistered
		if err := e.Save(ctx, sts.Name, st); err != nil {
			return false, err
		}
	}
	// Read only now: leaving the groups takes a while, and someone else may have
	// deleted the pod meanwhile; the pod to delete with the volumes is the one there now.
	pod, err := currentPod(ctx, pods, stepper.PodName(sts))
	if err != nil {
		return false, err
	}
	if !st.Phase.AtLeast(Deleting) {
		claims, skipped, err := OwnedClaims(sts, pod)
		if err != nil {
			return false, err
		}
		ord, _ := Ordinal(sts, pod)
		st.Claims = nil
		for _, name := range claims {
			pvc, err := e.Kube.CoreV1().PersistentVolumeClaims(e.Namespace).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return false, err
			}
			if err := ClaimBelongs(sts, ord, pvc); err != nil {
				return false, err
			}
			st.Claims = append(st.Claims, Claim{Name: name, UID: string(pvc.UID)})
		}
		if len(skipped) > 0 {
			e.emit(m.NodeName, "warning", "not deleting volumes that are not the StatefulSet's own: "+strings.Join(skipped, ", "), false, nil)
		}
		st.OldPod, st.Phase = string(pod.UID), Deleting
		if err := e.Save(ctx, sts.Name, st); err != nil {
			return false, err
		}
	}
	if pod != nil && pod.DeletionTimestamp == nil && string(pod.UID) != st.OldPod && e.onOldClaims(ctx, st.Claims) {
		// A pod created before the old claims went (someone else deleted the pod we
		// meant to): it runs on volumes being deleted. It goes too, so that the
		// StatefulSet creates its successor on fresh ones.
		st.OldPod = string(pod.UID)
		if err := e.Save(ctx, sts.Name, st); err != nil {
			return false, err
		}
		if st.Phase.AtLeast(VolumesDeleted) {
			if err := deletePod(ctx, e.Kube, pod); err != nil {
				return false, err
			}
			e.emit(m.NodeName, "pod-deleted", fmt.Sprintf("deleted pod %s: it ran on the old volumes (%s); the StatefulSet recreates it on fresh ones",
				pod.Name, claimNames(st.Claims)), false, nil)
			return true, nil
		}
	}
	restart := pod == nil || string(pod.UID) == st.OldPod
	if !st.Phase.AtLeast(VolumesDeleted) {
		for _, c := range st.Claims {
			uid := types.UID(c.UID)
			err := e.Kube.CoreV1().PersistentVolumeClaims(e.Namespace).Delete(ctx, c.Name,
				metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if apierrors.IsConflict(err) {
				// The UID precondition failed (a new claim already), or something else
				// did: only the first is fine.
				cur, gerr := e.Kube.CoreV1().PersistentVolumeClaims(e.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
				if gerr == nil && string(cur.UID) == c.UID && cur.DeletionTimestamp == nil {
					return false, fmt.Errorf("deleting PVC %s: %w", c.Name, err)
				}
				err = nil
			}
			if err != nil && !apierrors.IsNotFound(err) {
				return false, fmt.Errorf("deleting PVC %s: %w", c.Name, err)
			}
		}
		if pod != nil && string(pod.UID) == st.OldPod {
			if err := deletePod(ctx, e.Kube, pod); err != nil {
				return false, err
			}
		}
		e.emit(m.NodeName, "volumes-deleted", fmt.Sprintf("deleted PVCs %s and pod %s; the StatefulSet recreates them on fresh volumes",
			claimNames(st.Claims), stepper.PodName(sts)), false, st.Claims)
		st.Phase = VolumesDeleted
		if err := e.Save(ctx, sts.Name, st); err != nil {
			return false, err
		}
	}
	return restart, nil
}

// currentPod reads the pod called name (nil when there is none).
func currentPod(ctx context.Context, pods typedcorev1.PodInterface, name string) (*corev1.Pod, error) {
	pod, err := pods.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return pod, nil
}

// onOldClaims says whether any of the claims recorded for deletion still exists
// with the UID recorded (deleted but held by a pod that uses it, or not deleted
// yet): a pod of the StatefulSet that exists now runs on it.
func (e *Env) onOldClaims(ctx context.Context, claims []Claim) bool {
	for _, c := range claims {
		pvc, err := e.Kube.CoreV1().PersistentVolumeClaims(e.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
		if err == nil && string(pvc.UID) == c.UID {
			return true
		}
	}
	return false
}

func claimNames(cs []Claim) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	if len(out) == 0 {
		return "(none left)"
	}
	return strings.Join(out, ", ")
}

func deletePod(ctx context.Context, kube kubernetes.Interface, pod *corev1.Pod) error {
	if pod.DeletionTimestamp != nil {
		return nil
	}
	uid := pod.UID
	err := kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod %s: %w", pod.Name, err)
	}
	return nil
}

// peer returns a client for an admin node other than node that answers: the
// replication groups are read and changed there (a node outside _admin lists none,
// so its answer would make every group look gone). An admin node is one that says
// so in /v1/public/me, or a member of _admin in the observed groups. None answering
// is an error the callers wait out.
func (e *Env) peer(ctx context.Context, node string) (*axonserver.Client, *snapshot.Snapshot, error) {
	snap, err := e.Observe(ctx)
	if err != nil {
		return nil, nil, err
	}
	admin, _ := snap.Quorum().Group("_admin")
	var best *discovery.Member
	for i := range snap.Members {
		m := snap.Members[i]
		v := snap.Obs.Nodes[m.NodeName]
		if m.NodeName == node || m.Pod == nil || v == nil || v.Me == nil {
			continue
		}
		if _, member := admin.Member(m.NodeName); v.Me.AdminNode || member {
			best = &snap.Members[i]
			break
		}
	}
	if best == nil {
		return nil, snap, fmt.Errorf("no admin node other than %s answers (replication groups are read and changed on an admin node)", node)
	}
	c, err := e.Client(ctx, *best)
	return c, snap, err
}

// unregister is step 3. First the node leaves each recorded group, one group at a
// time (DELETE /v1/replicationgroups/{group}/{node}: a leader hands leadership over
// first), each removal judged by reading the group and /v1/tasks (change), and each
// sent only while the group can commit without the node (canLose: the preflight's
// verdict may no longer hold when another member went away since); then
// DELETE /v1/cluster/{node} unregisters it (re-sent now and then: it is idempotent)
// until the cluster forgets it. A node still running with autocluster may register
// again at once (the simulator does); it is then in none of its former groups, which
// is what step 4 needs.
func (e *Env) unregister(ctx context.Context, node string, recorded []Membership) error {
	ctx, cancel := context.WithTimeout(ctx, e.UnregisterTimeout)
	defer cancel()
	for _, m := range recorded {
		if err := e.change(ctx, e.groupsAPI(node), m.Group, node, "", e.canLose(ctx, node)); err != nil {
			return fmt.Errorf("unregistering %s: %w", node, err)
		}
	}
	var sent time.Time
	for {
		c, _, err := e.peer(ctx, node)
		var groups []axonserver.ReplicationGroup
		if err == nil {
			groups, err = c.ReplicationGroups(ctx)
		}
		msg := ""
		if err == nil {
			var in []string
			for _, g := range groups {
				if _, member := roleIn(g, node); member && recordedIn(recorded, g.Name) {
					in = append(in, g.Name)
				}
			}
			if len(in) > 0 {
				// Something added it back meanwhile: leave those groups again.
				for _, g := range in {
					if err := e.change(ctx, e.groupsAPI(node), g, node, "", e.canLose(ctx, node)); err != nil {
						return fmt.Errorf("unregistering %s: %w", node, err)
					}
				}
				continue
			}
			if time.Since(sent) > 10*time.Second {
				if err = c.RemoveNode(ctx, node); err == nil {
					if sent.IsZero() {
						e.emit(node, "unregistering", fmt.Sprintf("%s left its groups; DELETE /v1/cluster/%s sent to %s", node, node, c.Node()), false, nil)
					}
					sent = time.Now()
				}
			}
			if err == nil {
				_, err = c.ClusterNode(ctx, node)
				switch {
				case axonserver.IsNotFound(err), err == nil && time.Since(sent) > 5*time.Second:
					e.emit(node, "unregistered", node+" is in none of its groups and unregistered from the cluster", false, nil)
					return nil
				case err == nil:
					msg = "waiting until the cluster forgets " + node
				}
			}
		}
		if err != nil {
			msg = err.Error()
		}
		e.emit(node, "waiting", msg, true, nil)
		if err := sleep(ctx, e.Poll); err != nil {
			return fmt.Errorf("unregistering %s: %s (%w)", node, msg, err)
		}
	}
}

func recordedIn(ms []Membership, group string) bool {
	for _, m := range ms {
		if m.Group == group {
			return true
		}
	}
	return false
}

// groupsAPI returns the membership API of a node other than node (an admin node
// preferred), looked up afresh on every call.
func (e *Env) groupsAPI(node string) func(context.Context) (groupsAPI, error) {
	return func(ctx context.Context) (groupsAPI, error) {
		c, _, err := e.peer(ctx, node)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// canLose says whether group may lose node's membership now ("" when it may): the
// group without it must still commit (a role change of a voting member takes it out
// of the group for a while).
func (e *Env) canLose(ctx context.Context, node string) func(axonserver.ReplicationGroup) string {
	return func(g axonserver.ReplicationGroup) string {
		snap, err := e.Observe(ctx)
		if err != nil {
			return err.Error()
		}
		qg, ok := snap.Quorum().Group(g.Name)
		if !ok {
			return ""
		}
		if ok, why := qg.Without(node).CanCommit(); !ok {
			return "without it the group cannot commit now: " + why
		}
		return ""
	}
}

// AfterReady is steps 5 and 6 for --fresh-volume (nothing for a plain replacement):
// the new pod is Ready; wait for the node to register, give it back its recorded
// memberships, and wait until it has caught up in every group.
func (e *Env) AfterReady(ctx context.Context, m discovery.Member) error {
	e.defaults()
	sts, st, ok, err := e.Load(ctx, m.StatefulSet.Name)
	if err != nil || !ok || !st.Fresh || st.Phase.AtLeast(Rejoined) {
		return err
	}
	node := m.NodeName
	for _, c := range st.Claims {
		pvc, err := e.Kube.CoreV1().PersistentVolumeClaims(e.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
		if err == nil && string(pvc.UID) == c.UID {
			return fmt.Errorf("the new pod of %s runs on the old PVC %s (it was not deleted)", node, c.Name)
		}
	}
	if err := e.register(ctx, node); err != nil {
		return err
	}
	if err := e.restoreGroups(ctx, node, st.Groups, true); err != nil {
		return err
	}
	if err := e.restoreFirst(ctx, node, &st); err != nil {
		return err
	}
	st.Phase = Rejoined
	return e.Save(ctx, sts.Name, st)
}

// register is step 5a: wait until the cluster lists node as connected; after
// JoinWait without autocluster doing it, send POST /v1/cluster to the node.
func (e *Env) register(ctx context.Context, node string) error {
	start := time.Now()
	var posted time.Time
	for {
		c, snap, err := e.peer(ctx, node)
		msg := ""
		if err == nil {
			var cn *axonserver.ClusterNode
			cn, err = c.ClusterNode(ctx, node)
			switch {
			case err == nil && cn.Connected:
				e.emit(node, "registered", node+" is registered in the cluster", false, nil)
				return nil
			case err == nil:
				msg = "waiting for " + node + " to connect to the cluster"
			case axonserver.IsNotFound(err):
				err = nil
				msg = "waiting for " + node + " to register (autocluster)"
				if why := e.splitOff(ctx, snap, node); why != "" {
					return cli.Refusedf("%s", why) // stop: the node must not be given memberships in a cluster it is not in
				}
				if time.Since(start) > e.JoinWait && time.Since(posted) > 30*time.Second {
					if perr := e.join(ctx, c, snap, node); perr != nil {
						msg += "; POST /v1/cluster: " + perr.Error()
					} else {
						posted = time.Now()
					}
				}
			}
		}
		if err != nil {
			msg = err.Error()
		}
		e.emit(node, "waiting", msg, true, nil)
		if err := sleep(ctx, e.Poll); err != nil {
			return fmt.Errorf("%s did not register: %s", node, msg)
		}
	}
}

// splitOff says why the new node runs a cluster of its own ("" when it does not, or
// cannot be asked).
func (e *Env) splitOff(ctx context.Context, snap *snapshot.Snapshot, node string) string {
	m, ok := snap.Member(node)
	if !ok || m.Pod == nil {
		return ""
	}
	nc, err := e.Client(ctx, m)
	if err != nil {
		return ""
	}
	var others []string
	for _, x := range snap.Members {
		if x.NodeName != node {
			others = append(others, x.NodeName)
		}
	}
	return ownCluster(ctx, nc, node, others)
}

// join sends POST /v1/cluster to node, naming the peer's internal address.
func (e *Env) join(ctx context.Context, peer *axonserver.Client, snap *snapshot.Snapshot, node string) error {
	m, ok := snap.Member(node)
	if !ok || m.Pod == nil {
		return fmt.Errorf("no pod for %s", node)
	}
	self, err := peer.ClusterNode(ctx, peer.Node())
	if err != nil {
		return err
	}
	nc, err := e.Client(ctx, m)
	if err != nil {
		return err
	}
	noContexts := true // the recorded memberships are restored next, each with its role
	_, err = nc.JoinCluster(ctx, axonserver.JoinRequest{InternalHostName: self.InternalHostName, InternalGrpcPort: self.InternalGrpcPort, NoContexts: &noContexts})
	if err == nil {
		e.emit(node, "joining", fmt.Sprintf("POST /v1/cluster sent to %s (join %s:%d)", node, self.InternalHostName, self.InternalGrpcPort), false, nil)
	}
	return err
}

// GroupProgress is one group's state in step 5b/6.
type GroupProgress struct {
	Group string      `json:"group"`
	Role  quorum.Role `json:"role"`
	// State: "adding", "copying the log", "catching up", "done".
	State string `json:"state"`
	// Index and Of: the node's last log index and the leader's commit index, when known.
	Index int64 `json:"index,omitempty"`
	Of    int64 `json:"of,omitempty"`
}

func (p GroupProgress) String() string {
	s := p.Group + " " + p.State
	if p.Of > 0 && p.State != "done" {
		s += fmt.Sprintf(" %d/%d (%d%%)", p.Index, p.Of, min(100, p.Index*100/p.Of))
	}
	return s
}

// restoreGroups is steps 5b and 6: give node every recorded membership with its
// recorded role, one group change at a time, each confirmed by reading the group (a
// member with another role, e.g. what autocluster gave it, is removed and added back:
// a POST to a member changes nothing); remove memberships autocluster gave it that it
// did not have (only when exclusive: the rebuilt node gets back exactly what it had);
// then wait until it has caught up in every group, reporting progress per group.
func (e *Env) restoreGroups(ctx context.Context, node string, want []Membership, exclusive bool) error {
	wantRole := map[string]quorum.Role{}
	for _, w := range want {
		wantRole[w.Group] = w.Role
	}
	api := e.groupsAPI(node)
	for _, w := range want {
		if err := e.change(ctx, api, w.Group, node, w.Role, e.canLose(ctx, node)); err != nil {
			return fmt.Errorf("restoring %s in %s as %s: %w", node, w.Group, w.Role, err)
		}
	}
	reported := map[string]bool{}
	for {
		c, snap, err := e.peer(ctx, node)
		var groups []axonserver.ReplicationGroup
		if err == nil {
			groups, err = c.ReplicationGroups(ctx)
		}
		if err != nil {
			e.emit(node, "waiting", err.Error(), true, nil)
			if err := sleep(ctx, e.Poll); err != nil {
				return fmt.Errorf("restoring the groups of %s: %w", node, err)
			}
			continue
		}
		byName := map[string]axonserver.ReplicationGroup{}
		for _, g := range groups {
			byName[g.Name] = g
		}
		var prog []GroupProgress
		done, again := true, false
		for _, w := range want {
			g, ok := byName[w.Group]
			if !ok {
				return fmt.Errorf("replication group %s (recorded for %s) no longer exists", w.Group, node)
			}
			p := GroupProgress{Group: w.Group, Role: w.Role, State: "catching up"}
			if NextStep(g, node, w.Role) != StepDone {
				// Changed under us (or pending): bring it back, one change at a time.
				if err := e.change(ctx, api, w.Group, node, w.Role, e.canLose(ctx, node)); err != nil {
					return fmt.Errorf("restoring %s in %s as %s: %w", node, w.Group, w.Role, err)
				}
				again = true
				break
			}
			if caughtUp(snap, w.Group, node) {
				p.State = "done"
			}
			p.Index, p.Of = inspect.Position(snap.Obs, w.Group, node)
			if p.State == "done" && !reported[w.Group] {
				reported[w.Group] = true
				e.emit(node, "group-restored", fmt.Sprintf("%s: %s, caught up", w.Group, w.Role), false, p)
			}
			done = done && p.State == "done"
			prog = append(prog, p)
		}
		if again {
			continue
		}
		for _, g := range groups {
			if _, ok := wantRole[g.Name]; ok || !exclusive {
				continue
			}
			if _, member := roleIn(g, node); member || g.ChangePending {
				// autocluster gave it a membership it did not have (or may be doing so).
				done = false
				if member {
					if err := e.change(ctx, api, g.Name, node, "", e.canLose(ctx, node)); err != nil {
						return err
					}
					e.emit(node, "group-removed", fmt.Sprintf("%s: removed the membership autocluster gave %s (it had none before)", g.Name, node), false, nil)
				}
			}
		}
		if done {
			return nil
		}
		var parts []string
		for _, p := range prog {
			parts = append(parts, p.String())
		}
		e.emit(node, "catching-up", strings.Join(parts, "; "), true, prog)
		if err := sleep(ctx, e.Poll); err != nil {
			return fmt.Errorf("%s has not caught up: %s", node, strings.Join(parts, "; "))
		}
	}
}

func roleIn(g axonserver.ReplicationGroup, node string) (string, bool) {
	for _, r := range g.Roles {
		if r.Node == node {
			return r.Role, true
		}
	}
	return "", false
}

// caughtUp is the safety model's verdict (inspect.FollowerLag: the Raft indices after
// the election settled), the one every command uses.
func caughtUp(snap *snapshot.Snapshot, group, node string) bool {
	g, ok := snap.Quorum().Group(group)
	if !ok {
		return false
	}
	m, ok := g.Member(node)
	return ok && m.Up && (m.CaughtUp || m.Role == quorum.MessagingOnly)
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

// SortMemberships orders memberships by group name.
func SortMemberships(ms []Membership) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Group < ms[j].Group })
}
