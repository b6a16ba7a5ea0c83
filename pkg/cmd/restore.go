package cmd

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/podconfig"
	"github.com/kubectl-axon/kubectl-axon/pkg/podexec"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
	"github.com/kubectl-axon/kubectl-axon/pkg/restore"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
)

const restoreExample = `  # The cluster's objects first, every StatefulSet at replicas 0 (here: generated)
  kubectl axon generate -n axon-dr --name axon --nodes 3 --formed --stopped | kubectl apply -f -

  # Then the backup (and the backups it continues) into fresh volumes, and start
  kubectl axon restore --from /backups/axon-inc1 --to-namespace axon-dr

  # Which node gets which files, and the checks, without changing anything
  kubectl axon restore --from /backups/axon-inc1 --to-namespace axon-dr --dry-run -o json`

// restoreAnnotation marks the claims and loader pods a restore created, with the
// backup they are for: a rerun of the same restore takes them up again.
const restoreAnnotation = record.Prefix + "restore-of"

// RestoreOptions restores a backup into a cluster whose StatefulSets exist at
// replicas 0 and whose volumes do not exist yet.
type RestoreOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags

	From        string
	ToNamespace string
	Image       string
	DryRun      bool
	Output      string
	Timeout     time.Duration

	chain restore.Chain
	clients
}

// NewCmdRestore returns `kubectl axon restore`.
func NewCmdRestore(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	o := &RestoreOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut), Image: DefaultBackupImage, Timeout: 10 * time.Minute}
	c := &cobra.Command{
		Use:   "restore --from DIR [--to-namespace NS]",
		Short: "Restore a backup into fresh volumes of a cluster whose StatefulSets are at replicas 0, and start it",
		Long: `restore lays a backup out into the volumes of a new cluster and starts it. It never
writes over a running cluster: the cluster's StatefulSets must exist in the target
namespace (--to-namespace, default the backup's) with the backup's node names and
replicas 0, and their volume claims must not exist yet.

--from names a backup; an incremental one brings the backups it continues (--since)
along: every one must verify. Each node gets the files of its replication groups (as the
backup recorded them): the replication log of every group it is a member of, the event
and snapshot files of the contexts it keeps a store of (PRIMARY, ACTIVE_BACKUP,
PASSIVE_BACKUP), and the Control DB, unzipped into its controldb-path. In another
namespace the host names change: every node also gets recovery.json (at
axoniq.axonserver.recoveryfile, which must be on a volume) with its new names.

How: restore creates the claims of each StatefulSet's volumeClaimTemplates, starts a
loader pod per node (image --image; the StatefulSet's node selection and security
context; the claims mounted where Axon Server mounts them), streams the files in as tar
over pods/exec, deletes the loader, then scales every StatefulSet to 1 and waits until
every node is healthy.

Client applications whose token stores are ahead of the restored event store must reset
their tokens: the events after the backup are gone.

Exit codes: 0 restored and healthy; 1 error; 2 bad input (not a backup, a chain that
does not verify); 3 refused (no StatefulSets or not at replicas 0, claims that exist,
storage off the volumes, permission missing); 4 not healthy within --timeout.`,
		Example: restoreExample,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	c.Flags().StringVar(&o.From, "from", o.From, "the backup directory (an incremental one brings the backups it continues)")
	c.Flags().StringVar(&o.ToNamespace, "to-namespace", o.ToNamespace, "the namespace of the cluster restored into (default: the backup's)")
	c.Flags().StringVar(&o.Image, "image", o.Image, "the image of the loader pods; it needs tar")
	c.Flags().BoolVar(&o.DryRun, "dry-run", o.DryRun, "check the backup, the StatefulSets, the claims and the permissions, and show which node gets which files; change nothing")
	c.Flags().StringVarP(&o.Output, "output", "o", o.Output, "json: the plan (with --dry-run) or the result as JSON")
	c.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "how long to wait for each loader pod and for the restored cluster to be healthy")
	return c
}

// Complete has nothing to take in.
func (o *RestoreOptions) Complete([]string) error { return nil }

// Validate checks the flags and reads the backup chain; nothing is touched.
func (o *RestoreOptions) Validate() error {
	if err := o.Flags.Validate(); err != nil {
		return err
	}
	if o.Flags.AxonOnly() {
		return cli.Usagef("restore writes into Kubernetes volumes: --axon-url cannot be used")
	}
	if o.From == "" {
		return cli.Usagef("--from DIR is required: the backup to restore")
	}
	if o.Output != "" && o.Output != "json" {
		return cli.Usagef("--output must be json, not %q", o.Output)
	}
	if o.Image == "" {
		return cli.Usagef("--image must name an image with tar")
	}
	if o.Timeout <= 0 {
		return cli.Usagef("--timeout must be positive")
	}
	c, err := restore.ReadChain(o.From)
	if err != nil {
		return cli.Usagef("--from: %v", err)
	}
	o.chain = c
	return nil
}

// restoreNode is one node of the cluster restored into.
type restoreNode struct {
	member discovery.Member
	plan   restore.NodePlan
	claims []*corev1.PersistentVolumeClaim // to create (or taken up again)
	loader *corev1.Pod
}

// Run checks everything, then fills the volumes node by node and starts the cluster.
func (o *RestoreOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := o.chain.Newest()
	ns := o.ToNamespace
	if ns == "" {
		ns = m.Namespace
	}
	id := m.Cluster + "/" + m.Namespace + "@" + m.Started.UTC().Format(time.RFC3339)
	plan, nodes, err := o.plan(ctx, ns, id)
	if err != nil {
		return err
	}
	if o.DryRun {
		return o.printPlan(plan)
	}
	start := time.Now()
	fmt.Fprintf(o.ErrOut, "restoring cluster %s (backup of %s, %s) into namespace %s: %d nodes, %d backups\n",
		m.Cluster, m.Started.UTC().Format(time.RFC3339), m.Namespace, ns, len(nodes), len(o.chain))
	for _, w := range plan.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	zipEntries, err := controlDBEntries(plan.ControlDB)
	if err != nil {
		return err
	}
	// the nodes' volumes are independent: filled side by side, a few at a time
	var files int
	var bytes int64
	errOut := o.ErrOut
	o.ErrOut = &lockedWriter{w: errOut} // the fills report side by side
	defer func() { o.ErrOut = errOut }()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(restoreConcurrency)
	for _, n := range nodes {
		files += len(n.plan.Files)
		bytes += n.plan.Bytes
		g.Go(func() error {
			if err := o.fill(gctx, ns, n, plan, zipEntries); err != nil {
				return fmt.Errorf("node %s: %w (a rerun of the same restore takes up what this one created)", n.plan.Node, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, n := range nodes {
		patch := []byte(`{"spec":{"replicas":1}}`)
		if _, err := o.session.Kube.AppsV1().StatefulSets(ns).Patch(ctx, n.member.StatefulSet.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("starting %s: %v", n.plan.Node, err)
		}
	}
	fmt.Fprintf(o.ErrOut, "volumes filled (%d files, %s); every StatefulSet scaled to 1: waiting until every node is healthy\n", files, backup.Size(bytes))
	if err := o.waitHealthy(ctx, ns, m.Cluster, len(nodes)); err != nil {
		return err
	}
	took := time.Since(start).Round(100 * time.Millisecond)
	if o.Output == "json" {
		return writeData(o.Out, map[string]any{"kind": "AxonRestore", "cluster": m.Cluster, "namespace": ns, "backups": plan.Backups,
			"nodes": len(nodes), "files": files, "bytes": bytes, "seconds": took.Seconds(), "healthy": true}, "json")
	}
	fmt.Fprintf(o.Out, "cluster %s restored into namespace %s from %s: %d nodes, %d files, %s in %s; every node healthy\n",
		m.Cluster, ns, o.chain[0].Dir, len(nodes), files, backup.Size(bytes), took)
	fmt.Fprintln(o.Out, "client applications whose token stores are ahead of the restored event store must reset their tokens")
	return nil
}

// plan reads the cluster restored into and checks it: its StatefulSets at replicas
// 0 with no pods, no claims but a previous run's of the same backup, the storage on
// volumes, the permissions.
func (o *RestoreOptions) plan(ctx context.Context, ns, id string) (restore.Plan, []*restoreNode, error) {
	kube := o.session.Kube
	m := o.chain.Newest()
	found, err := discovery.Discover(ctx, kube, discovery.Query{Namespace: ns, Cluster: m.Cluster})
	var nf *discovery.NotFoundError
	var nsf *discovery.NamespaceNotFoundError
	if errors.As(err, &nsf) {
		return restore.Plan{}, nil, cli.Refusedf("namespace %s does not exist: create it and the cluster's StatefulSets with replicas 0 first (kubectl axon generate --stopped)", ns)
	}
	if errors.As(err, &nf) {
		return restore.Plan{}, nil, cli.Refusedf("namespace %s has no StatefulSets of cluster %s: create them first with replicas 0 (kubectl axon generate --stopped)", ns, m.Cluster)
	}
	if err != nil {
		return restore.Plan{}, nil, snapshot.ExplainKube(err)
	}
	members := found.Only(ns, m.Cluster)
	cms := map[string]*corev1.ConfigMap{}
	configMap := func(name string) (*corev1.ConfigMap, error) {
		if cm, ok := cms[name]; ok {
			return cm, nil
		}
		cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		cms[name] = cm
		return cm, nil
	}
	targets := map[string]restore.Target{}
	byNode := map[string]discovery.Member{}
	var running []string
	for _, mem := range members {
		if r := mem.StatefulSet.Spec.Replicas; r == nil || *r != 0 || mem.Pod != nil {
			running = append(running, mem.StatefulSet.Name)
			continue
		}
		targets[mem.NodeName] = targetOf(mem, configMap)
		byNode[mem.NodeName] = mem
	}
	if len(running) > 0 {
		return restore.Plan{}, nil, cli.Refusedf("StatefulSet %s in namespace %s is not at replicas 0 or has a pod: restore never writes over a running cluster", strings.Join(running, ", "), ns)
	}
	plan, err := restore.NewPlan(o.chain, targets, ns)
	if err != nil {
		return restore.Plan{}, nil, cli.Refusedf("%v", err)
	}
	if missing := missingAccess(ctx, o.session, ns, restoreNeeds()); len(missing) > 0 {
		return restore.Plan{}, nil, cli.Refusedf("restore needs %s in namespace %s (Role kubectl-axon-restore in docs/rbac.yaml)", strings.Join(missing, " and "), ns)
	}
	var nodes []*restoreNode
	var taken []string
	for _, np := range plan.Nodes {
		mem := byNode[np.Node]
		n := &restoreNode{member: mem, plan: np}
		for _, t := range mem.StatefulSet.Spec.VolumeClaimTemplates {
			claim := claimFor(mem.StatefulSet, t, id)
			old, err := kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return restore.Plan{}, nil, snapshot.ExplainKube(err)
			case old.Annotations[restoreAnnotation] != id:
				taken = append(taken, "PersistentVolumeClaim "+claim.Name)
			}
			n.claims = append(n.claims, claim)
		}
		n.loader = loaderPod(mem, n.claims, o.Image, id)
		switch old, err := kube.CoreV1().Pods(ns).Get(ctx, n.loader.Name, metav1.GetOptions{}); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return restore.Plan{}, nil, snapshot.ExplainKube(err)
		case old.Annotations[restoreAnnotation] != id:
			taken = append(taken, "pod "+n.loader.Name)
		}
		nodes = append(nodes, n)
	}
	if len(taken) > 0 {
		return restore.Plan{}, nil, cli.Refusedf("%s in namespace %s exists and is not this restore's: restore fills fresh volumes only (delete what is named if its data may go)", strings.Join(taken, ", "), ns)
	}
	return plan, nodes, nil
}

// restoreNeeds are the permissions a restore needs beyond reading.
func restoreNeeds() []access {
	return []access{
		{resource: "persistentvolumeclaims", verb: "get"},
		{resource: "persistentvolumeclaims", verb: "create"},
		{resource: "pods", verb: "create"},
		{resource: "pods", verb: "delete"},
		{resource: "pods", sub: "exec", verb: "create"},
		{group: "apps", resource: "statefulsets", verb: "patch"},
	}
}

// targetOf reads where a StatefulSet's Axon Server keeps its files, and its names.
func targetOf(mem discovery.Member, configMap func(string) (*corev1.ConfigMap, error)) restore.Target {
	spec := mem.StatefulSet.Spec.Template.Spec
	t := restore.Target{Node: mem.NodeName}
	t.Mounts, t.WorkDir = containerMounts(&spec, mem.Container, mem.StatefulSet.Spec.VolumeClaimTemplates)
	var ct corev1.Container
	for _, c := range spec.Containers {
		if c.Name == mem.Container {
			ct = c
		}
	}
	get := func(prop, def string) string {
		if s, ok := podconfig.Find(ct, spec.Volumes, configMap, prop); ok && s.Value != "" {
			return s.Value
		}
		return def
	}
	k, d := restore.StorageProperties, restore.StorageDefaults
	t.Paths = restore.Storage{Events: get(k.Events, d.Events), Log: get(k.Log, d.Log), ControlDB: get(k.ControlDB, d.ControlDB), RecoveryFile: get(k.RecoveryFile, d.RecoveryFile)}
	t.Paths.Snapshots = get(k.Snapshots, t.Paths.Events)
	// Axon Server's names: hostname (default the pod's), joined with domain when set
	host := get("axoniq.axonserver.hostname", stsPodName(mem.StatefulSet))
	internal := get("axoniq.axonserver.internal-hostname", host)
	domain := get("axoniq.axonserver.domain", "")
	t.Host, t.InternalHost = joinDomain(host, domain), joinDomain(internal, get("axoniq.axonserver.internal-domain", domain))
	return t
}

func stsPodName(sts *appsv1.StatefulSet) string { return sts.Name + "-0" }

func joinDomain(host, domain string) string {
	if domain == "" || strings.Contains(host, ".") {
		return host
	}
	return host + "." + domain
}

// claimFor is the claim the StatefulSet controller would create for template t of
// the singleton's pod (<template>-<statefulset>-0, the selector's labels), marked
// as this restore's.
func claimFor(sts *appsv1.StatefulSet, t corev1.PersistentVolumeClaim, id string) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: t.Name + "-" + stsPodName(sts), Namespace: sts.Namespace,
			Labels: map[string]string{}, Annotations: map[string]string{restoreAnnotation: id}},
		Spec: *t.Spec.DeepCopy(),
	}
	for k, v := range t.Labels {
		c.Labels[k] = v
	}
	if sts.Spec.Selector != nil {
		for k, v := range sts.Spec.Selector.MatchLabels {
			c.Labels[k] = v
		}
	}
	return c
}

// lockedWriter lets goroutines write whole lines to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// restoreConcurrency is how many nodes' volumes are filled at once.
const restoreConcurrency = 4

// LoaderContainer is the container of a restore's loader pod.
const LoaderContainer = "restore"

// loaderPod mounts a node's claims where its Axon Server container does, placed
// and secured as the StatefulSet's pods are, and sleeps until deleted.
func loaderPod(mem discovery.Member, claims []*corev1.PersistentVolumeClaim, image, id string) *corev1.Pod {
	sts := mem.StatefulSet
	tpl := sts.Spec.Template.Spec
	vols := map[string]string{} // volume name -> claim
	for i, t := range sts.Spec.VolumeClaimTemplates {
		vols[t.Name] = claims[i].Name
	}
	for _, v := range tpl.Volumes {
		if v.PersistentVolumeClaim != nil {
			vols[v.Name] = v.PersistentVolumeClaim.ClaimName
		}
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: sts.Name + "-restore", Namespace: sts.Namespace,
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "kubectl-axon", "app.kubernetes.io/component": "restore"},
			Annotations: map[string]string{restoreAnnotation: id}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, NodeSelector: tpl.NodeSelector, Affinity: tpl.Affinity, Tolerations: tpl.Tolerations,
			SecurityContext: tpl.SecurityContext, AutomountServiceAccountToken: new(false), TerminationGracePeriodSeconds: new(int64(1)),
		},
	}
	c := corev1.Container{Name: LoaderContainer, Image: image, Command: []string{"sleep", "86400"}}
	for _, ct := range tpl.Containers {
		if ct.Name != mem.Container {
			continue
		}
		c.SecurityContext = ct.SecurityContext
		for _, vm := range ct.VolumeMounts {
			if claim, ok := vols[vm.Name]; ok && vm.SubPath == "" && vm.SubPathExpr == "" {
				c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: vm.Name, MountPath: vm.MountPath})
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: vm.Name,
					VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
			}
		}
	}
	p.Spec.Containers = []corev1.Container{c}
	return p
}

// fill creates a node's claims and loader pod, streams its files in, and deletes
// the loader.
func (o *RestoreOptions) fill(ctx context.Context, ns string, n *restoreNode, plan restore.Plan, zipEntries map[string][]byte) error {
	kube := o.session.Kube
	for _, c := range n.claims {
		if _, err := kube.CoreV1().PersistentVolumeClaims(ns).Create(ctx, c, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating claim %s: %v", c.Name, err)
		}
	}
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, n.loader, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating loader pod %s: %v", n.loader.Name, err)
	}
	fmt.Fprintf(o.ErrOut, "%s: loader pod %s (image %s) waiting for its volumes\n", n.plan.Node, n.loader.Name, o.Image)
	// exec reaches the container once it runs (the pod is Running from when its
	// container is being started).
	var last string
	var cannot error
	err := waitPod(ctx, kube, ns, n.loader.Name, o.Timeout, func(p *corev1.Pod) bool {
		if p == nil {
			return false
		}
		ok, err := podexec.Running(p.Status.ContainerStatuses, LoaderContainer)
		cannot = err
		return ok || err != nil
	}, func(p *corev1.Pod) {
		if p != nil {
			last = string(p.Status.Phase)
		}
	})
	if err != nil {
		return fmt.Errorf("loader pod %s not running (%s): %w", n.loader.Name, last, err)
	}
	if cannot != nil {
		return fmt.Errorf("loader pod %s: container %s %w", n.loader.Name, LoaderContainer, cannot)
	}
	t0 := time.Now()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRestoreTar(pw, n.plan, plan, zipEntries)) }()
	var stderr bytes.Buffer
	if err := podexec.Exec(ctx, o.session.RESTConfig, kube, ns, n.loader.Name, LoaderContainer, pr, io.Discard, &stderr,
		"tar", "-x", "-f", "-", "-C", "/"); err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("tar into %s: %v %s", n.loader.Name, err, strings.TrimSpace(stderr.String()))
	}
	fmt.Fprintf(o.ErrOut, "%s: %d files, %s into volumes %s in %s\n", n.plan.Node, len(n.plan.Files), backup.Size(n.plan.Bytes),
		strings.Join(n.plan.Volumes, ", "), time.Since(t0).Round(10*time.Millisecond))
	if err := kube.CoreV1().Pods(ns).Delete(ctx, n.loader.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting loader pod %s: %v", n.loader.Name, err)
	}
	return waitPod(ctx, kube, ns, n.loader.Name, o.Timeout, func(p *corev1.Pod) bool { return p == nil }, func(*corev1.Pod) {})
}

// writeRestoreTar writes a node's files as tar, absolute paths without the leading
// slash (extracted in /): the Control DB's entries, the backup files, recovery.json.
func writeRestoreTar(w io.Writer, np restore.NodePlan, plan restore.Plan, zipEntries map[string][]byte) error {
	tw := tar.NewWriter(w)
	now := time.Now()
	dirs := map[string]bool{}
	dir := func(p string) error {
		var todo []string
		for d := path.Dir(p); d != "/" && d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			todo = append(todo, d)
		}
		slices.Reverse(todo)
		for _, d := range todo {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: now}); err != nil {
				return err
			}
		}
		return nil
	}
	add := func(dst string, size int64, body io.Reader) error {
		if err := dir(dst); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(dst, "/"), Mode: 0o644, Size: size, ModTime: now}); err != nil {
			return err
		}
		_, err := io.Copy(tw, body)
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(zipEntries)) {
		b := zipEntries[name]
		if err := add(path.Join(np.Storage.ControlDB, name), int64(len(b)), bytes.NewReader(b)); err != nil {
			return err
		}
	}
	for _, f := range np.Files {
		fh, err := os.Open(filepath.Join(f.Dir, filepath.FromSlash(f.Src)))
		if err != nil {
			return err
		}
		err = add(f.Dst, f.Size, io.LimitReader(fh, f.Size))
		fh.Close()
		if err != nil {
			return err
		}
	}
	if plan.Recovery != nil {
		b := plan.RecoveryJSON()
		if err := add(np.Storage.RecoveryFile, int64(len(b)), bytes.NewReader(b)); err != nil {
			return err
		}
	}
	return tw.Close()
}

// controlDBEntries reads the Control DB zip (what Axon Server's H2 backup holds:
// the database file); an entry must stay inside the directory it is unzipped into.
func controlDBEntries(p string) (map[string][]byte, error) {
	entries, err := backup.ZipEntries(p)
	if err != nil {
		return nil, fmt.Errorf("the Control DB backup %s: %v", p, err)
	}
	for name := range entries {
		if strings.Contains(name, "..") || path.IsAbs(name) {
			return nil, fmt.Errorf("the Control DB backup %s: entry %q leaves the directory", p, name)
		}
	}
	return entries, nil
}

// waitHealthy looks at the restored cluster until every node is healthy.
func (o *RestoreOptions) waitHealthy(ctx context.Context, ns, cluster string, nodes int) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, o.Timeout, true, func(ctx context.Context) (bool, error) {
		snap, err := snapshot.Take(ctx, o.session, snapshot.Options{Query: discovery.Query{Namespace: ns, Cluster: cluster}})
		if err != nil {
			last = firstLine(err.Error())
			return false, nil
		}
		ok, hs := snap.Quorum().Healthy()
		if ok && len(snap.Quorum().Nodes) >= nodes {
			return true, nil
		}
		var bad []string
		for _, h := range hs {
			if !h.Healthy {
				bad = append(bad, h.Node+": "+strings.Join(h.Problems, ", "))
			}
		}
		if s := strings.Join(bad, "; "); s != last && s != "" {
			last = s
			fmt.Fprintf(o.ErrOut, "waiting: %s\n", s)
		}
		return false, nil
	})
	if err != nil && ctx.Err() == nil {
		return cli.Timeoutf("the restored cluster is not healthy after %s: %s", o.Timeout, last)
	}
	return err
}

func (o *RestoreOptions) printPlan(p restore.Plan) error {
	if o.Output == "json" {
		return writeData(o.Out, p, "json")
	}
	fmt.Fprintf(o.Out, "Restore of cluster %s (from namespace %s) into namespace %s (dry run: nothing changed)\n", p.Cluster, p.FromNamespace, p.Namespace)
	fmt.Fprintf(o.Out, "  backups %s\n", strings.Join(p.Backups, " <- "))
	fmt.Fprintf(o.Out, "  Control DB %s, unzipped on every node\n", p.ControlDB)
	for _, n := range p.Nodes {
		fmt.Fprintf(o.Out, "  %s: groups %s; stores %s; %d files, %s onto volumes %s\n", n.Node, strings.Join(n.Groups, ","),
			dash(strings.Join(n.Contexts, ",")), len(n.Files), backup.Size(n.Bytes), strings.Join(n.Volumes, ", "))
	}
	if p.Recovery != nil {
		fmt.Fprintf(o.Out, "  recovery.json with the new host names (%s, ...)\n", p.Recovery[0].HostName)
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(o.Out, "  warning: %s\n", w)
	}
	return nil
}
