package cmd

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/nodeconfig"
	"github.com/kubectl-axon/kubectl-axon/pkg/podexec"
	"github.com/kubectl-axon/kubectl-axon/pkg/progress"
	"github.com/kubectl-axon/kubectl-axon/pkg/snapshot"
	"github.com/kubectl-axon/kubectl-axon/pkg/table"
)

const backupExample = `  # A full backup of every context, from the node it disturbs least
  kubectl axon backup -n axon --to /backups/axon-full

  # The next night: only what is new since that backup
  kubectl axon backup -n axon --to /backups/axon-inc1 --since /backups/axon-full

  # Which node, which files and why, without copying anything
  kubectl axon backup -n axon --to /backups/x --dry-run

  # Check a backup, and list a chain of them
  kubectl axon backup verify /backups/axon-inc1
  kubectl axon backup list /backups/axon-*`

// BackupContainer is the name of the ephemeral container backups read the volumes in.
const BackupContainer = "kubectl-axon-backup"

// DefaultBackupImage has a shell and tar; the Axon Server images have neither.
const DefaultBackupImage = "busybox:1.37"

// BackupOptions takes an off-line copy of a cluster's Control DB, replication logs
// and event stores.
type BackupOptions struct {
	genericiooptions.IOStreams
	Flags *connect.Flags

	To       string
	Node     string
	Contexts []string
	Since    string
	Method   string
	Image    string
	DryRun   bool
	Output   string
	// StopNode and SnapshotClass are --method volume-snapshot's.
	StopNode      bool
	SnapshotClass string

	since *backup.Manifest
	clients
}

// NewCmdBackup returns `kubectl axon backup` with its verify and list subcommands.
func NewCmdBackup(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	o := &BackupOptions{IOStreams: streams, Flags: flags, clients: newClients(open, flags, streams.ErrOut), Method: "files", Image: DefaultBackupImage}
	c := &cobra.Command{
		Use:   "backup --to DIR [--node NODE] [--contexts C,...] [--since DIR] [--method files|volume-snapshot [--stop-node]]",
		Short: "Copy the Control DB, replication logs and event stores of a cluster into a directory, in AxonIQ's documented order",
		Long: `backup takes an off-line copy of an Axon Server cluster in the order AxonIQ documents:
the Control DB first (exported on an _admin node), then within 30 minutes the
replication-log files of every group involved, then per context the event and
snapshot files. With --since only the closed segments newer than that backup's, and the
active one, are copied.

The node copied from is the one the backup disturbs least: a backup member of every
group involved, else a PRIMARY that leads none of them (--node chooses). The files are
read in an ephemeral container (` + BackupContainer + `, image --image) that mounts the
pod's volumes read-only and streams them as tar through the API server's pods/exec: no
restart, no change to the StatefulSet. An ephemeral container cannot be removed; a later
backup reuses it. DIR gets the files in the event store's layout and manifest.json
(sizes, SHA-256, segments, the steps' times, complete or not).

--method volume-snapshot (where the cluster serves snapshot.storage.k8s.io/v1): the
Control DB is exported and copied into DIR as above, then one VolumeSnapshot is taken
of every PVC of the source node, all labelled ` + backup.LabelBackup + `=<backup id>, and
waited for until ready to use. --stop-node stops the node for the snapshots (its
StatefulSet scaled to 0, only when stopping it keeps every group's quorum) and brings it
back healthy. manifest.json names the snapshots.

Exit codes: 0 complete; 1 error or interrupted (the manifest says incomplete); 2 bad
input; 3 refused (storage off the volumes, no healthy node stores the contexts,
permission missing); 4 a step ended past the 30-minute window (incomplete).`,
		Example: backupExample,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, args []string) error {
			return runCluster(c.Context(), o, args)
		},
	}
	o.Flags.AddFlags(c.Flags())
	c.Flags().StringVar(&o.To, "to", o.To, "the directory to write; it must not exist or be empty")
	c.Flags().StringVar(&o.Node, "node", o.Node, "the node to copy from (default: the one the backup disturbs least)")
	c.Flags().StringSliceVar(&o.Contexts, "contexts", o.Contexts, "the contexts to back up (default: every context)")
	c.Flags().StringVar(&o.Since, "since", o.Since, "a previous backup of this cluster: copy only the segments closed after it, and the active ones")
	c.Flags().StringVar(&o.Method, "method", o.Method, "how the files are read: files (an ephemeral container, tar over pods/exec) or volume-snapshot (one VolumeSnapshot per PVC of the node)")
	c.Flags().BoolVar(&o.StopNode, "stop-node", o.StopNode, "volume-snapshot: stop the node for the snapshots (only when that keeps every group's quorum) and bring it back healthy")
	c.Flags().StringVar(&o.SnapshotClass, "snapshot-class", o.SnapshotClass, "volume-snapshot: the VolumeSnapshotClass (default: the cluster's default class for the volumes' driver)")
	c.Flags().StringVar(&o.Image, "image", o.Image, "the image of the ephemeral container; it needs sh-free tar (busybox, alpine)")
	c.Flags().BoolVar(&o.DryRun, "dry-run", o.DryRun, "say which node, which contexts and groups, and check the storage paths and permissions; copy nothing")
	c.Flags().StringVarP(&o.Output, "output", "o", o.Output, "json: progress as JSON lines on stdout and the manifest at the end")
	c.AddCommand(newCmdBackupVerify(streams, open), newCmdBackupList(streams))
	return c
}

// Complete has nothing to take in.
func (o *BackupOptions) Complete([]string) error { return nil }

// Validate checks the flags and the directories; nothing is created.
func (o *BackupOptions) Validate() error {
	if err := o.Flags.Validate(); err != nil {
		return err
	}
	if o.Flags.AxonOnly() {
		return cli.Usagef("backup reads the files from the pods' volumes: --axon-url cannot be used")
	}
	if o.To == "" {
		return cli.Usagef("--to DIR is required: the directory the backup is written to")
	}
	switch o.Method {
	case backup.MethodFiles:
		if o.StopNode || o.SnapshotClass != "" {
			return cli.Usagef("--stop-node and --snapshot-class belong to --method volume-snapshot")
		}
	case backup.MethodVolumeSnapshot:
		if o.Since != "" {
			return cli.Usagef("--since: a volume snapshot is a whole copy of each volume; incremental backups are --method files")
		}
	default:
		return cli.Usagef("--method must be files or volume-snapshot, not %q", o.Method)
	}
	if o.Output != "" && o.Output != "json" {
		return cli.Usagef("--output must be json, not %q", o.Output)
	}
	if o.Image == "" {
		return cli.Usagef("--image must name an image with tar")
	}
	if entries, err := os.ReadDir(o.To); err == nil && len(entries) > 0 {
		return cli.Usagef("%s exists and is not empty: backup writes into a new or empty directory only", o.To)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return cli.Usagef("--to %s: %v", o.To, err)
	}
	if o.Since != "" {
		m, err := backup.Read(o.Since)
		if err != nil {
			return cli.Usagef("--since: %v", err)
		}
		if !m.Complete {
			return cli.Usagef("--since %s is an incomplete backup (%s): continue from a complete one", o.Since, m.Incomplete)
		}
		o.since = m
	}
	return nil
}

// backupPlan is what a backup will do, as --dry-run shows it.
type backupPlan struct {
	Cluster   string         `json:"cluster"`
	Namespace string         `json:"namespace"`
	Source    backup.Source  `json:"source"`
	Contexts  []string       `json:"contexts"`
	Groups    []string       `json:"groups"`
	Storage   backup.Storage `json:"storage"`
	Since     string         `json:"since,omitempty"`
	Image     string         `json:"image"`
	Container string         `json:"container"`
	Method    string         `json:"method"`
	// Claims, StopNode and SnapshotClass: --method volume-snapshot.
	Claims        []backup.Claim `json:"claims,omitempty"`
	StopNode      bool           `json:"stopNode,omitempty"`
	SnapshotClass string         `json:"snapshotClass,omitempty"`

	source, controlDB discovery.Member
	// work and controlDBWork are the Axon Server container's working directory on
	// the source and on the Control DB's node.
	work, controlDBWork string
}

// Run plans the backup, checks it, and copies the files.
func (o *BackupOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	snap, err := snapshot.Take(ctx, o.session, snapshot.Options{Query: o.session.Query(false), Inspect: o.session.InspectOptions()})
	if err != nil {
		return err
	}
	plan, err := o.plan(ctx, snap)
	if err != nil {
		return err
	}
	if o.DryRun {
		return o.printPlan(plan)
	}
	return o.take(ctx, snap, plan)
}

// plan chooses the source, checks the storage paths and the permissions.
func (o *BackupOptions) plan(ctx context.Context, snap *snapshot.Snapshot) (*backupPlan, error) {
	if snap.Obs == nil || len(snap.Obs.Groups) == 0 {
		return nil, cli.Refusedf("no replication group could be read from the cluster (%v): a backup needs to know where each context is", snap.Obs.ClusterErr)
	}
	if o.since != nil && (o.since.Cluster != snap.Cluster || o.since.Namespace != snap.Namespace) {
		return nil, cli.Usagef("--since %s is a backup of cluster %s in namespace %s, not of %s in %s", o.Since, o.since.Cluster, o.since.Namespace, snap.Cluster, snap.Namespace)
	}
	sel, err := backup.Select(snap.Obs.Groups, o.Contexts)
	if err != nil {
		return nil, cli.Usagef("--contexts: %v", err)
	}
	src, err := backup.ChooseSource(snap.Quorum(), sel, o.Node)
	if err != nil {
		return nil, cli.Refusedf("%v", err)
	}
	p := &backupPlan{Cluster: snap.Cluster, Namespace: snap.Namespace, Source: src, Contexts: sel.Contexts, Groups: sel.Groups,
		Since: o.Since, Image: o.Image, Container: BackupContainer, Method: o.Method}
	var ok bool
	if p.source, ok = snap.Member(src.Node); !ok || p.source.Pod == nil {
		return nil, cli.Refusedf("node %s has no running pod to copy from", src.Node)
	}
	if p.controlDB, ok = snap.Member(src.ControlDB); !ok || p.controlDB.Pod == nil {
		return nil, cli.Refusedf("node %s (whose Control DB is exported) has no running pod", src.ControlDB)
	}
	mounts, work := podMounts(p.source)
	p.work, p.controlDBWork = work, work
	env := snap.Obs.Nodes[src.Node].Env
	if env == nil {
		return nil, cli.Refusedf("node %s does not show its configuration (/actuator/env): the storage paths cannot be checked", src.Node)
	}
	if p.Storage, err = backup.CheckStorage(storageOf(env), work, mounts); err != nil {
		return nil, cli.Refusedf("node %s: %v", src.Node, err)
	}
	if src.ControlDB != src.Node {
		env := snap.Obs.Nodes[src.ControlDB].Env
		m, w := podMounts(p.controlDB)
		p.controlDBWork = w
		if env == nil {
			return nil, cli.Refusedf("node %s does not show its configuration (/actuator/env): the Control DB backup location cannot be checked", src.ControlDB)
		}
		st, err := backup.CheckStorage(storageOf(env), w, m)
		if err != nil {
			return nil, cli.Refusedf("node %s: %v", src.ControlDB, err)
		}
		p.Storage.ControlDBBackup = st.ControlDBBackup
	}
	if o.Method == backup.MethodVolumeSnapshot {
		if err := o.planSnapshots(snap, p); err != nil {
			return nil, err
		}
	}
	if missing := o.missingAccess(ctx, snap.Namespace); len(missing) > 0 {
		return nil, cli.Refusedf("backup needs %s in namespace %s (Role kubectl-axon-backup in docs/rbac.yaml)", strings.Join(missing, " and "), snap.Namespace)
	}
	return p, nil
}

// storageOf reads the storage paths from a node's configuration, Axon Server's
// defaults where it sets none.
func storageOf(env *axonserver.Env) backup.Storage {
	get := func(key, def string) string {
		if v, _, ok := env.Property(key); ok && v != "" {
			return v
		}
		return def
	}
	k, d := backup.StorageProperties, backup.StorageDefaults
	s := backup.Storage{Events: get(k.Events, d.Events), Log: get(k.Log, d.Log), ControlDBBackup: get(k.ControlDBBackup, d.ControlDBBackup)}
	s.Snapshots = get(k.Snapshots, s.Events)
	return s
}

// podMounts are the Axon Server container's volume mounts that an ephemeral
// container can mount too (no subPath), and its working directory.
func podMounts(m discovery.Member) ([]backup.Mount, string) {
	return containerMounts(&m.Pod.Spec, m.Container, nil)
}

// containerMounts are the volume mounts of container in spec that another container
// can mount too (no subPath), each persistent when its volume is a claim: one of
// the pod's, or of claimTemplates (a StatefulSet's, for its template); and the
// container's working directory.
func containerMounts(spec *corev1.PodSpec, container string, claimTemplates []corev1.PersistentVolumeClaim) ([]backup.Mount, string) {
	pvc := map[string]bool{}
	for _, t := range claimTemplates {
		pvc[t.Name] = true
	}
	for _, v := range spec.Volumes {
		pvc[v.Name] = pvc[v.Name] || v.PersistentVolumeClaim != nil
	}
	work := nodeconfig.WorkDir
	var out []backup.Mount
	for _, c := range spec.Containers {
		if c.Name != container {
			continue
		}
		if c.WorkingDir != "" {
			work = c.WorkingDir
		}
		for _, vm := range c.VolumeMounts {
			if vm.SubPath == "" && vm.SubPathExpr == "" {
				out = append(out, backup.Mount{Volume: vm.Name, Path: vm.MountPath, Persistent: pvc[vm.Name]})
			}
		}
	}
	return out, work
}

// backupAccess is what a backup needs beyond kubectl axon's own Role.
var backupAccess = []authv1.ResourceAttributes{
	{Resource: "pods", Subresource: "ephemeralcontainers", Verb: "update"},
	{Resource: "pods", Subresource: "exec", Verb: "create"},
}

// missingAccess names the permissions the user lacks (SelfSubjectAccessReview).
func (o *BackupOptions) missingAccess(ctx context.Context, ns string) []string {
	var out []string
	for _, a := range o.access() {
		a.Namespace = ns
		r, err := o.session.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
			&authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &a}}, metav1.CreateOptions{})
		if err == nil && !r.Status.Allowed {
			out = append(out, accessName(a))
		}
	}
	return out
}

func (o *BackupOptions) printPlan(p *backupPlan) error {
	if o.Output == "json" {
		e := json.NewEncoder(o.Out)
		e.SetIndent("", "  ")
		return e.Encode(p)
	}
	fmt.Fprintf(o.Out, "Backup of cluster %s in namespace %s (dry run: nothing copied)\n", p.Cluster, p.Namespace)
	fmt.Fprintf(o.Out, "  from node %s: %s\n", p.Source.Node, p.Source.Reason)
	fmt.Fprintf(o.Out, "  Control DB exported on %s, into %s\n", p.Source.ControlDB, p.Storage.ControlDBBackup)
	fmt.Fprintf(o.Out, "  contexts %s (groups %s)\n", strings.Join(p.Contexts, ", "), strings.Join(p.Groups, ", "))
	fmt.Fprintf(o.Out, "  events %s, snapshots %s, replication log %s\n", p.Storage.Events, p.Storage.Snapshots, p.Storage.Log)
	if p.Since != "" {
		fmt.Fprintf(o.Out, "  only what is new since %s\n", p.Since)
	}
	if p.Method == backup.MethodVolumeSnapshot {
		printSnapshotPlan(o.Out, p)
		return nil
	}
	fmt.Fprintf(o.Out, "  read in ephemeral container %s (image %s) of pod %s, over pods/exec\n", p.Container, p.Image, p.source.Pod.Name)
	return nil
}

// copier streams files out of a pod's ephemeral container into the backup directory.
type copier struct {
	o    *BackupOptions
	sink progress.Sink
	dir  string
	m    *backup.Manifest
}

// tarBatch is how many names one tar is given as arguments: the names go on the
// command line (stdin's end does not reach the container through every exec
// protocol), so a long list is split to stay far below the kernel's argument limit.
const tarBatch = 400

// copyFiles copies the files (paths as the node sees them) under root into
// dir/sub, keeping their names below root, and returns their relative paths.
func (c *copier) copyFiles(ctx context.Context, member discovery.Member, root, sub string, files []string, work string, step *backup.Step) ([]string, error) {
	var names []string
	for _, f := range files {
		if !path.IsAbs(f) {
			f = path.Join(work, f)
		}
		f = path.Clean(f)
		rel := strings.TrimPrefix(f, root+"/")
		if rel == f || strings.HasPrefix(rel, "../") {
			return nil, fmt.Errorf("node %s listed %s, which is not under %s", member.NodeName, f, root)
		}
		names = append(names, rel)
	}
	// The paths in DIR, in the order of files.
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = path.Join(sub, n)
	}
	for len(names) > 0 {
		n := min(len(names), tarBatch)
		got, err := c.tar(ctx, member, root, sub, names[:n], step)
		if err != nil {
			return nil, err
		}
		if got != n {
			return nil, fmt.Errorf("node %s: %d of %d files came through tar", member.NodeName, got, n)
		}
		names = names[n:]
	}
	return out, nil
}

// tar streams names (relative to root) out of the member's backup container and
// writes each under dir/sub, hashing it on the way; it returns how many came.
func (c *copier) tar(ctx context.Context, member discovery.Member, root, sub string, names []string, step *backup.Step) (int, error) {
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan error, 1)
	go func() {
		cmd := append([]string{"tar", "-c", "-f", "-", "-C", root, "--"}, names...)
		err := podexec.Exec(ctx, c.o.session.RESTConfig, c.o.session.Kube, member.Namespace, member.Pod.Name, BackupContainer,
			nil, pw, &stderr, cmd...)
		if grewWhileRead(err, stderr.String()) {
			err = nil
		}
		pw.CloseWithError(err)
		done <- err
	}()
	fail := func(err error) (int, error) {
		pr.CloseWithError(err)
		<-done
		return 0, err
	}
	n := 0
	tr := tar.NewReader(pr)
	last := time.Now()
	for {
		h, err := tr.Next()
		if err == io.EOF {
			// tar pads its output to whole records after the end marker: read it all,
			// or the exec's writer blocks on the pipe.
			_, _ = io.Copy(io.Discard, pr)
			break
		}
		if err != nil {
			_, _ = fail(err)
			return n, c.execErr(member, err, stderr.String())
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		rel := path.Join(sub, path.Clean("/" + h.Name)[1:])
		dst := filepath.Join(c.dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fail(err)
		}
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fail(err)
		}
		hs := backup.NewHasher()
		_, err = io.Copy(io.MultiWriter(f, hs), tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_, _ = fail(err)
			return n, c.execErr(member, err, stderr.String())
		}
		file := hs.File(rel)
		c.m.Files = append(c.m.Files, file)
		n++
		step.Files++
		step.Bytes += file.Size
		if time.Since(last) > 500*time.Millisecond {
			last = time.Now()
			c.progress(step, true)
		}
	}
	if err := <-done; err != nil {
		return n, c.execErr(member, err, stderr.String())
	}
	return n, nil
}

// grewWhileRead: GNU tar's exit 1 when files grew while it read them (the active
// segment of a store being written), and nothing else went wrong. Its archive is
// whole: each file as long as its header says, the size when tar reached it, and a
// restore drops a torn record at the end of an active segment. BusyBox's tar does
// not check; GNU tar (Debian or Ubuntu images as --image) does.
func grewWhileRead(err error, stderr string) bool {
	if code, ok := podexec.ExitCode(err); !ok || code != 1 {
		return false
	}
	grew := false
	for _, l := range strings.Split(stderr, "\n") {
		switch l = strings.TrimSpace(l); {
		case l == "":
		case strings.HasSuffix(l, "file changed as we read it"):
			grew = true
		case strings.HasSuffix(l, "Exiting with failure status due to previous errors"):
		default:
			return false
		}
	}
	return grew
}

func (c *copier) execErr(m discovery.Member, err error, stderr string) error {
	if s := strings.TrimSpace(stderr); s != "" {
		return fmt.Errorf("copying from %s (container %s): %v: %s", m.Pod.Name, BackupContainer, err, firstLine(s))
	}
	return fmt.Errorf("copying from %s (container %s): %w", m.Pod.Name, BackupContainer, err)
}

// progress reports a step's files, bytes and rate.
func (c *copier) progress(s *backup.Step, transient bool) {
	secs := time.Since(s.Started).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(s.Bytes) / secs / (1 << 20)
	}
	kind := "copied"
	if transient {
		kind = "copying"
	}
	c.sink.Emit(progress.Event{Kind: kind, Transient: transient, Node: c.m.Node,
		Message: fmt.Sprintf("%s: %d files, %s, %.1f MiB/s", s.Name, s.Files, backup.Size(s.Bytes), rate),
		Data:    map[string]any{"step": s.Name, "files": s.Files, "bytes": s.Bytes, "mibPerSecond": rate}})
}

// take runs the backup: ephemeral containers, then the Control DB, the logs and
// the event stores, each step timed; the manifest is written whatever happens.
func (o *BackupOptions) take(ctx context.Context, snap *snapshot.Snapshot, p *backupPlan) (err error) {
	if err := os.MkdirAll(o.To, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %v", o.To, err)
	}
	format := progress.FormatAuto
	if o.Output == "json" {
		format = progress.FormatJSON
	}
	sink := progress.New(format, o.Out, o.ErrOut)
	defer sink.Close()
	m := &backup.Manifest{Format: backup.Format, Cluster: p.Cluster, Namespace: p.Namespace, Node: p.Source.Node, Reason: p.Source.Reason,
		ControlDBNode: p.Source.ControlDB, Method: o.Method, Started: time.Now().UTC(),
		Groups: map[string][]string{}, Contexts: map[string]map[string]*backup.Segments{}}
	if v := snap.Obs.Nodes[p.Source.Node]; v != nil && v.Info != nil {
		m.AxonServerVersion = v.Info.App.Version
	}
	m.Members, m.ContextGroups = backup.MembersOf(snap.Obs.Groups, p.Contexts)
	if o.since != nil {
		abs, _ := filepath.Abs(o.Since)
		m.Since = &backup.SinceRef{Dir: abs, Started: o.since.Started}
	}
	c := &copier{o: o, sink: sink, dir: o.To, m: m}
	defer func() {
		m.Finished = time.Now().UTC()
		if err != nil {
			m.Complete = false
			if m.Incomplete == "" {
				m.Incomplete = firstLine(err.Error())
			}
			if ctx.Err() != nil {
				during := "the preparation"
				if len(m.Steps) > 0 {
					during = "step " + m.Steps[len(m.Steps)-1].Name
				}
				m.Incomplete = "interrupted (Ctrl-C or SIGTERM) during " + during
			}
		}
		if werr := m.Write(o.To); werr != nil && err == nil {
			err = fmt.Errorf("writing the manifest: %v", werr)
		}
		if err != nil {
			err = fmt.Errorf("the backup in %s is incomplete (its manifest says so): %w", o.To, err)
		}
	}()
	sink.Emit(progress.Event{Kind: "plan", Node: p.Source.Node, Message: fmt.Sprintf("backup of %s from %s: %s", p.Cluster, p.Source.Node, p.Source.Reason)})

	mounts := func(mem discovery.Member) []corev1.VolumeMount {
		var out []corev1.VolumeMount
		ms, _ := podMounts(mem)
		for _, x := range ms {
			out = append(out, corev1.VolumeMount{Name: x.Volume, MountPath: x.Path, ReadOnly: true})
		}
		return out
	}
	members := uniqueMembers(p.source, p.controlDB)
	if o.Method == backup.MethodVolumeSnapshot {
		members = []discovery.Member{p.controlDB} // only the Control DB zip is read over exec
	}
	for _, mem := range members {
		e := podexec.Ephemeral{Name: BackupContainer, Image: o.Image, Mounts: mounts(mem), Target: mem.Container}
		added, err := podexec.Ensure(ctx, o.session.Kube, mem.Namespace, mem.Pod.Name, e)
		if err != nil {
			return err
		}
		verb := "reusing"
		if added {
			verb = "added"
		}
		sink.Emit(progress.Event{Kind: "container", Node: mem.NodeName, Message: fmt.Sprintf("%s ephemeral container %s on pod %s (it stays until the pod is replaced)", verb, BackupContainer, mem.Pod.Name)})
	}
	srcAPI, err := o.session.Client(ctx, p.source)
	if err != nil {
		return err
	}
	step := func(name string) *backup.Step {
		m.Steps = append(m.Steps, backup.Step{Name: name, Started: time.Now().UTC()})
		return &m.Steps[len(m.Steps)-1]
	}
	var exported time.Time
	end := func(s *backup.Step) error {
		s.Finished = time.Now().UTC()
		c.progress(s, false)
		if d, past := s.PastWindow(exported); past {
			m.Incomplete = fmt.Sprintf("step %s ended %s after the Control DB export, past AxonIQ's %s window", s.Name, d.Round(time.Second), backup.Window)
			return cli.Timeoutf("%s", m.Incomplete)
		}
		return nil
	}

	// 1. The Control DB, exported on an _admin node.
	s := step("controldb")
	api := srcAPI
	if p.controlDB.NodeName != p.source.NodeName {
		if api, err = o.session.Client(ctx, p.controlDB); err != nil {
			return err
		}
	}
	zipPath, err := api.CreateControlDBBackup(ctx)
	if err != nil {
		return fmt.Errorf("exporting the Control DB on %s: %w", p.controlDB.NodeName, err)
	}
	exported = time.Now()
	work := p.controlDBWork
	if !path.IsAbs(zipPath) {
		zipPath = path.Join(work, zipPath)
	}
	got, err := c.copyFiles(ctx, p.controlDB, path.Dir(path.Clean(zipPath)), backup.DirControlDB, []string{zipPath}, work, s)
	if err != nil {
		return err
	}
	m.ControlDB = got[0]
	if err := end(s); err != nil {
		return err
	}
	if o.Method == backup.MethodVolumeSnapshot {
		return o.takeSnapshots(ctx, snap, p, m, sink, step, exported)
	}

	// 2. The replication log of every group involved, a full set each time: the
	// lists first, then one copy (each exec costs a round trip or two).
	s = step("log")
	var logFiles []string
	logSpan := map[string][2]int{}
	for _, g := range p.Groups {
		files, err := srcAPI.BackupLogFilenames(ctx, g)
		if err != nil {
			return fmt.Errorf("listing the replication log of %s on %s: %w", g, p.Source.Node, err)
		}
		logSpan[g] = [2]int{len(logFiles), len(logFiles) + len(files)}
		logFiles = append(logFiles, files...)
	}
	copied, err := c.copyFiles(ctx, p.source, p.Storage.Log, backup.DirLog, logFiles, p.work, s)
	if err != nil {
		return err
	}
	for g, sp := range logSpan {
		m.Groups[g] = copied[sp[0]:sp[1]]
	}
	if err := end(s); err != nil {
		return err
	}

	// 3. Per context, the event and snapshot segments after the previous backup's:
	// every list first, then one copy per storage folder.
	s = step("events")
	type listed struct {
		ctx, typ string
		seg      *backup.Segments
		span     [2]int
	}
	var lists []*listed
	byRoot := map[string][]string{} // storage folder -> files
	subOf := map[string]string{}    // storage folder -> directory in DIR
	for _, ctxName := range p.Contexts {
		m.Contexts[ctxName] = map[string]*backup.Segments{}
		for _, typ := range []string{"EVENT", "SNAPSHOT"} {
			after := int64(-1)
			if o.since != nil {
				if prev := o.since.Contexts[ctxName][typ]; prev != nil {
					after = prev.LastClosed
				}
			}
			es, err := srcAPI.BackupEventStore(ctx, axonserver.EventStoreBackupQuery{Context: ctxName, Type: typ, LastClosedSegmentBackedUp: after})
			if err != nil {
				return fmt.Errorf("listing the %s files of %s on %s: %w", strings.ToLower(typ), ctxName, p.Source.Node, err)
			}
			root, sub := p.Storage.Events, backup.DirEvents
			if typ == "SNAPSHOT" && p.Storage.Snapshots != p.Storage.Events {
				root, sub = p.Storage.Snapshots, backup.DirSnapshots
			}
			subOf[root] = sub
			l := &listed{ctx: ctxName, typ: typ, seg: &backup.Segments{After: after, LastClosed: es.LastClosedSegment}}
			l.span = [2]int{len(byRoot[root]), len(byRoot[root]) + len(es.Filenames)}
			byRoot[root] = append(byRoot[root], es.Filenames...)
			m.Contexts[ctxName][typ] = l.seg
			lists = append(lists, l)
		}
	}
	copiedBy := map[string][]string{}
	for root, files := range byRoot {
		if copiedBy[root], err = c.copyFiles(ctx, p.source, root, subOf[root], files, p.work, s); err != nil {
			return err
		}
	}
	for _, l := range lists {
		root := p.Storage.Events
		if l.typ == "SNAPSHOT" && p.Storage.Snapshots != p.Storage.Events {
			root = p.Storage.Snapshots
		}
		l.seg.Files = copiedBy[root][l.span[0]:l.span[1]]
	}
	if err := end(s); err != nil {
		return err
	}
	m.Complete = true
	m.Finished = time.Now().UTC()
	sink.Emit(progress.Event{Kind: "summary", Node: p.Source.Node, Data: m,
		Message: fmt.Sprintf("backup complete in %s: %d files, %s, %d new closed segments, in %s", m.Finished.Sub(m.Started).Round(100*time.Millisecond),
			len(m.Files), backup.Size(m.Bytes()), m.NewClosedSegments(), o.To)})
	return nil
}

func uniqueMembers(ms ...discovery.Member) []discovery.Member {
	var out []discovery.Member
	seen := map[string]bool{}
	for _, m := range ms {
		if !seen[m.NodeName] {
			seen[m.NodeName] = true
			out = append(out, m)
		}
	}
	return out
}

func newCmdBackupVerify(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	flags := connect.NewFlags()
	c := &cobra.Command{
		Use:   "verify DIR",
		Short: "Re-check a backup: every checksum, segment continuity, and that the Control DB zip reads",
		Long: `verify re-reads every file of a backup against its manifest (size and SHA-256),
checks that per context the segments are continuous as their names say (each closed
segment with its index, none missing up to the last closed one, after the previous
backup's), that an incremental backup continues the one it names, and that the
Control DB zip reads. For a --method volume-snapshot backup it asks the cluster
(the kubeconfig's, or --kubeconfig/--context) whether each VolumeSnapshot still exists,
is ready to use and bound to the content the backup recorded. Exit codes: 0 sound;
2 DIR is not a backup; 3 problems found.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			m, problems, err := backup.Verify(args[0])
			if err != nil {
				return cli.Usagef("%v", err)
			}
			if m.Method == backup.MethodVolumeSnapshot {
				problems = append(problems, verifySnapshots(c.Context(), open, flags, m)...)
			}
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintln(streams.Out, "PROBLEM:", p)
				}
				return cli.Refusedf("%s: %d problem(s)", args[0], len(problems))
			}
			if m.Method == backup.MethodVolumeSnapshot {
				fmt.Fprintf(streams.Out, "%s: sound: Control DB %s, %d VolumeSnapshots ready in namespace %s (%s=%s)\n",
					args[0], m.ControlDB, len(m.Snapshots), m.Namespace, backup.LabelBackup, m.BackupID)
				return nil
			}
			fmt.Fprintf(streams.Out, "%s: sound: %d files, %s, Control DB %s, %d contexts, %d new closed segments\n",
				args[0], len(m.Files), backup.Size(m.Bytes()), m.ControlDB, len(m.Contexts), m.NewClosedSegments())
			return nil
		},
	}
	flags.AddFlags(c.Flags())
	return c
}

func newCmdBackupList(streams genericiooptions.IOStreams) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "list DIR...",
		Short: "Show backups and what each adds",
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			if output != "" && output != "json" {
				return cli.Usagef("--output must be json, not %q", output)
			}
			type row struct {
				Dir      string           `json:"dir"`
				Manifest *backup.Manifest `json:"manifest,omitempty"`
				Error    string           `json:"error,omitempty"`
			}
			var rows []row
			for _, d := range args {
				m, err := backup.Read(d)
				r := row{Dir: d, Manifest: m}
				if err != nil {
					r.Error = err.Error()
				}
				rows = append(rows, r)
			}
			if output == "json" {
				e := json.NewEncoder(streams.Out)
				e.SetIndent("", "  ")
				return e.Encode(rows)
			}
			t := table.New(streams.Out, "DIR", "CLUSTER", "NODE", "METHOD", "STARTED", "COMPLETE", "SINCE", "FILES", "SIZE", "NEW CLOSED SEGMENTS")
			for _, r := range rows {
				if r.Manifest == nil {
					t.Row(r.Dir, "-", "-", "-", "-", "-", "-", "-", "-", r.Error)
					continue
				}
				m := r.Manifest
				since, complete := "full", "yes"
				if m.Since != nil {
					since = m.Since.Started.Format(time.RFC3339)
				}
				if !m.Complete {
					complete = "NO: " + m.Incomplete
				}
				method := m.Method
				if m.Method == backup.MethodVolumeSnapshot {
					method = fmt.Sprintf("%s (%d snapshots)", m.Method, len(m.Snapshots))
				}
				t.Row(r.Dir, m.Namespace+"/"+m.Cluster, m.Node, method, m.Started.Format(time.RFC3339), complete, since,
					fmt.Sprint(len(m.Files)), backup.Size(m.Bytes()), fmt.Sprint(m.NewClosedSegments()))
			}
			return t.Flush()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "json: the manifests")
	return c
}
