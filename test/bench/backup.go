package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/backup"
	"github.com/kubectl-axon/kubectl-axon/pkg/restore"
	"github.com/kubectl-axon/kubectl-axon/test/bench/harness"
)

// The backup section: kubectl axon backup (full and --since) against a plain
// `kubectl exec tar` of the same folders, and kubectl axon restore into a new
// namespace, on a store big enough that the per-byte cost dominates the fixed
// costs. The cluster keeps writing throughout, as a production cluster does.

func backupTopologyPath(repo string) string {
	return filepath.Join(repo, "examples", "topologies", "bench-backup.yaml")
}

// backupSizes: how big the source node's store is let grow before the first
// backup, at most how long that may take, and the repetitions.
type backupSizes struct {
	Target   int64         // bytes on the source node's volumes
	FillMax  time.Duration // give up growing after this long and measure what is there
	Reps     int           // full backups and plain tars, interleaved
	Restores int
}

var (
	backupFull  = backupSizes{Target: 80e6, FillMax: 4 * time.Minute, Reps: 5, Restores: 2}
	backupQuick = backupSizes{Target: 3e6, FillMax: time.Minute, Reps: 3, Restores: 1}
)

// backupRun is one `kubectl axon backup`.
type backupRun struct {
	Wall      time.Duration
	FirstFile time.Duration // from the command's start until the first file (the Control DB zip) was in DIR
	Files     int
	Bytes     int64         // the manifest's
	Stream    time.Duration // the log and event steps: their lists and tar streams
	StreamB   int64         // their bytes
	NewClosed int           // closed segments the backup added
}

// plainRun is one `kubectl exec ... tar -cf - FOLDERS > file`.
type plainRun struct {
	Wall  time.Duration
	Bytes int64 // the tar stream's
}

// restoreRun is one `kubectl axon restore --to-namespace`.
type restoreRun struct {
	Namespace string
	Total     time.Duration
	Files     int
	Bytes     int64         // every node's, from the plan
	Fill      time.Duration // Σ over the nodes of the tar into the loader (the per-node lines)
	FillNodes []string      // the per-node lines
	Healthy   time.Duration // from "every StatefulSet scaled to 1" to the command's end
}

type backupResult struct {
	Quick          bool
	Started        time.Time
	Elapsed        time.Duration
	Commit         string
	LoadStart      string // /proc/loadavg
	LoadEnd        string
	OtherSandboxes string
	Nodes, Groups  int
	Contexts       int
	Writes         float64 // entries per second per group
	SegmentBytes   int
	Up             time.Duration
	Source         string
	SourceReason   string
	Folders        []string
	Target         int64
	Fill           time.Duration // until the source's volumes held Target bytes
	FillBytes      int64
	First          backupRun // adds the ephemeral container
	Full           []backupRun
	Plain          []plainRun
	Incremental    backupRun
	Restores       []restoreRun
	// Retried: backups taken again after tar failed on a growing file (of 1 + Reps + 1);
	// PlainChanged: plain tars whose tar said so (exit 1, output complete).
	Retried, PlainChanged int
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func benchBackup(env *harness.Env, sz backupSizes, quick bool) (*backupResult, error) {
	start := time.Now()
	res := &backupResult{Quick: quick, Started: start, LoadStart: loadavg(), Target: sz.Target}
	res.Commit = strings.TrimSpace(harness.Run("", 20*time.Second, "git", "-C", env.Repo, "rev-parse", "--short", "HEAD").Stdout)
	if r := harness.Run("", 5*time.Second, "sh", "-c", "ls -d /run/netns/axsb-* 2>/dev/null | wc -l"); r.Code == 0 {
		res.OtherSandboxes = strings.TrimSpace(r.Stdout)
	}
	logf("backup: sandbox up")
	s, err := env.Up(backupTopologyPath(env.Repo), 6*time.Minute)
	if err != nil {
		return res, err
	}
	defer s.Down()
	res.Up = s.UpTime
	if err := s.WaitHealthy(3 * time.Minute); err != nil {
		return res, err
	}
	ns := s.Namespace
	res.Nodes, res.Groups, res.Writes, res.SegmentBytes = len(s.Topo.Nodes), len(s.Topo.ReplicationGroups), s.Topo.WritesPerSecond, s.Topo.Storage.SegmentBytes
	for _, g := range s.Topo.ReplicationGroups {
		for _, c := range g.Contexts {
			if c != "_admin" {
				res.Contexts++
			}
		}
	}
	tmp, err := os.MkdirTemp("", "axon-bench-backup-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)

	// The plan: which node, which folders.
	r := s.Run(time.Minute, "kubectl", "axon", "backup", "-n", ns, "--to", filepath.Join(tmp, "plan"), "--dry-run", "-o", "json")
	var plan struct {
		Source  backup.Source
		Storage backup.Storage
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &plan) != nil {
		return res, fmt.Errorf("backup --dry-run: %s", r)
	}
	res.Source, res.SourceReason = plan.Source.Node, plan.Source.Reason
	res.Folders = []string{plan.Storage.Events, plan.Storage.Log}
	if plan.Storage.Snapshots != plan.Storage.Events {
		res.Folders = append(res.Folders, plan.Storage.Snapshots)
	}
	pod := res.Source + "-0"

	// Let the store grow: the size of the source pod's volumes on the host, every 2 s.
	logf("backup: the store of %s grows to %d MB (at most %s)", res.Source, sz.Target/1e6, sz.FillMax)
	dirs, err := volumeDirs(s, pod)
	if err != nil {
		return res, err
	}
	fillStart := time.Now()
	for {
		res.FillBytes = dirsSize(dirs)
		res.Fill = time.Since(fillStart)
		if res.FillBytes >= sz.Target || res.Fill >= sz.FillMax {
			break
		}
		time.Sleep(2 * time.Second) // the store grows at the topology's write rate: nothing to watch
	}
	logf("backup: %s holds %.1f MB after %s", res.Source, float64(res.FillBytes)/1e6, res.Fill.Round(time.Second))

	n := 0
	full := func() (backupRun, string, error) {
		n++
		dir := filepath.Join(tmp, fmt.Sprintf("full-%d", n))
		b, err := runBackup(s, dir)
		return b, dir, err
	}
	// The first backup adds the ephemeral container; the others reuse it.
	var last string
	if res.First, last, err = full(); err != nil {
		return res, err
	}
	logf("backup: first (adds the container): %s", fmtRun(res.First))
	tarArgs := []string{"kubectl", "-n", ns, "exec", pod, "-c", "kubectl-axon-backup", "--", "tar", "-c", "-f", "-", "-C", "/"}
	for _, f := range res.Folders {
		tarArgs = append(tarArgs, strings.TrimPrefix(f, "/"))
	}
	for i := 0; i < sz.Reps; i++ { // interleaved, so the growing store and the load hit both alike
		b, dir, err := full()
		if err != nil {
			return res, err
		}
		res.Full = append(res.Full, b)
		last = dir
		p, err := plainTar(s, filepath.Join(tmp, "plain.tar"), tarArgs)
		if err != nil {
			return res, err
		}
		res.Plain = append(res.Plain, p)
		logf("backup: full %s; plain tar %.1f MB in %s (%.1f MB/s)", fmtRun(b), float64(p.Bytes)/1e6, p.Wall.Round(time.Millisecond), mbps(p.Bytes, p.Wall))
	}
	// An incremental backup right after the last full one.
	inc := filepath.Join(tmp, "inc")
	if res.Incremental, err = runBackup(s, inc, "--since", last); err != nil {
		return res, err
	}
	logf("backup: incremental: %s", fmtRun(res.Incremental))

	// Restores of the chain (the last full backup and the incremental one) into new namespaces.
	objs, err := stoppedCopy(s)
	if err != nil {
		return res, err
	}
	for i := 1; i <= sz.Restores; i++ {
		rr, err := runRestore(s, inc, fmt.Sprintf("%s-restored-%d", ns, i), objs, tmp)
		if err != nil {
			return res, err
		}
		res.Restores = append(res.Restores, rr)
		logf("backup: restore into %s: %s in all; %d files, %.1f MB filled in %s (%.1f MB/s); healthy %s after the scale to 1",
			rr.Namespace, rr.Total.Round(100*time.Millisecond), rr.Files, float64(rr.Bytes)/1e6, rr.Fill.Round(10*time.Millisecond),
			mbps(rr.Bytes, rr.Fill), rr.Healthy.Round(100*time.Millisecond))
		// The restored cluster writes as the original does: gone before the next measurement.
		if r := s.Run(3*time.Minute, "kubectl", "delete", "namespace", rr.Namespace, "--wait", "--timeout=150s"); r.Code != 0 {
			logf("backup: deleting namespace %s: %s", rr.Namespace, strings.TrimSpace(r.Stderr))
		}
	}
	res.Retried, res.PlainChanged = backupRetries, plainChanged
	res.LoadEnd = loadavg()
	res.Elapsed = time.Since(start)
	return res, nil
}

func mbps(b int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(b) / 1e6 / d.Seconds()
}

func fmtRun(b backupRun) string {
	return fmt.Sprintf("%d files, %.1f MB in %s (%.1f MB/s; first file after %s, then %.1f MB/s); %d new closed segments",
		b.Files, float64(b.Bytes)/1e6, b.Wall.Round(time.Millisecond), mbps(b.Bytes, b.Wall), b.FirstFile.Round(time.Millisecond),
		mbps(b.StreamB, b.Stream), b.NewClosed)
}

// changedAsRead is GNU tar's complaint (exit 1) about a file that grew while it
// was read: the active segments grow all the time on a cluster that writes.
const changedAsRead = "file changed as we read it"

// backupRetries counts the backups and plain tars that a growing file made tar
// fail, each retried once (a backup) or accepted as complete (a plain tar).
var backupRetries, plainChanged int

// runBackup runs kubectl axon backup --to dir (and args) and reads its manifest.
// A backup that fails on a file that grew while tar read it is taken again, once.
func runBackup(s *harness.Sandbox, dir string, args ...string) (backupRun, error) {
	start := time.Now()
	cmd := append([]string{"kubectl", "axon", "backup", "-n", s.Namespace, "--to", dir, "-o", "json"}, args...)
	r := s.Run(10*time.Minute, cmd...)
	if r.Code != 0 && strings.Contains(r.Stderr, changedAsRead) {
		backupRetries++
		logf("backup: taken again: %s", strings.TrimSpace(r.Stderr[strings.LastIndex(r.Stderr, "error:"):]))
		if err := os.RemoveAll(dir); err != nil {
			return backupRun{}, err
		}
		start = time.Now()
		r = s.Run(10*time.Minute, cmd...)
	}
	b := backupRun{Wall: r.Wall}
	if r.Code != 0 {
		return b, fmt.Errorf("backup: %s", r)
	}
	m, err := backup.Read(dir)
	if err != nil {
		return b, err
	}
	if !m.Complete {
		return b, fmt.Errorf("backup %s incomplete: %s", dir, m.Incomplete)
	}
	b.Files, b.Bytes, b.NewClosed = len(m.Files), m.Bytes(), m.NewClosedSegments()
	var from, to time.Time
	for _, st := range m.Steps {
		switch st.Name {
		case "controldb":
			b.FirstFile = st.Finished.Sub(start)
		case "log", "events":
			if from.IsZero() || st.Started.Before(from) {
				from = st.Started
			}
			if st.Finished.After(to) {
				to = st.Finished
			}
			b.StreamB += st.Bytes
		}
	}
	b.Stream = to.Sub(from)
	return b, nil
}

// plainTar runs kubectl exec ... tar with its stdout into a file, as an operator's
// `kubectl exec ... > backup.tar` does, and returns the time and the tar's size.
func plainTar(s *harness.Sandbox, file string, args []string) (plainRun, error) {
	f, err := os.Create(file)
	if err != nil {
		return plainRun{}, err
	}
	defer os.Remove(file)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := harness.Command(ctx, s.Kubeconfig(), args...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = f, &stderr
	start := time.Now()
	if err = cmd.Start(); err == nil {
		harness.TrackFor(cmd.Process.Pid, s.Kubeconfig(), true)
		err = cmd.Wait()
		harness.TrackFor(cmd.Process.Pid, s.Kubeconfig(), false)
	}
	p := plainRun{Wall: time.Since(start)}
	if err != nil && strings.Contains(stderr.String(), changedAsRead) {
		plainChanged++ // GNU tar wrote everything and said a file grew meanwhile
		err = nil
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return p, fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	fi, err := os.Stat(file)
	if err != nil {
		return p, err
	}
	p.Bytes = fi.Size()
	return p, nil
}

// volumeDirs are the host directories of the pod's persistent volumes (the
// sandbox's provisioner keeps each PV in a directory of its own).
func volumeDirs(s *harness.Sandbox, pod string) ([]string, error) {
	out, err := s.Kubectl("get", "pod", pod, "-o", "json")
	if err != nil {
		return nil, err
	}
	var p corev1.Pod
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		return nil, err
	}
	claims := map[string]bool{}
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.PersistentVolumeClaim.ClaimName] = true
		}
	}
	out, err = s.Kubectl("get", "pv", "-o", "json")
	if err != nil {
		return nil, err
	}
	var pvs corev1.PersistentVolumeList
	if err := json.Unmarshal([]byte(out), &pvs); err != nil {
		return nil, err
	}
	var dirs []string
	for _, pv := range pvs.Items {
		ref := pv.Spec.ClaimRef
		if ref == nil || ref.Namespace != s.Namespace || !claims[ref.Name] {
			continue
		}
		switch {
		case pv.Spec.Local != nil:
			dirs = append(dirs, pv.Spec.Local.Path)
		case pv.Spec.HostPath != nil:
			dirs = append(dirs, pv.Spec.HostPath.Path)
		}
	}
	if len(dirs) != len(claims) || len(dirs) == 0 {
		return nil, fmt.Errorf("pod %s: %d claims, %d volume directories found", pod, len(claims), len(dirs))
	}
	return dirs, nil
}

func dirsSize(dirs []string) int64 {
	var n int64
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(_ string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				if fi, err := e.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
	}
	return n
}

// stoppedCopy is the cluster's objects as an operator lays them out in a new
// namespace before a restore (harness.StoppedCopy); NAMESPACE stands for the target
// namespace.
func stoppedCopy(s *harness.Sandbox) ([]byte, error) {
	sel := "cluster=" + s.Topo.Name
	items, _, err := harness.StoppedCopy(s.Namespace, "NAMESPACE", func(res string) (string, error) {
		return s.Kubectl("get", res, "-l", sel, "-o", "json")
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
}

var restoreNodeLine = regexp.MustCompile(`^(\S+): (\d+) files, .* into volumes .* in (\S+)$`)

// runRestore lays the stopped copy out in namespace ns and restores from into it,
// timing the command's stderr lines as they come.
func runRestore(s *harness.Sandbox, from, ns string, objs []byte, tmp string) (restoreRun, error) {
	rr := restoreRun{Namespace: ns}
	if _, err := s.Kubectl("create", "namespace", ns); err != nil {
		return rr, err
	}
	file := filepath.Join(tmp, ns+".json")
	body := strings.NewReplacer(".NAMESPACE.svc", "."+ns+".svc", `"NAMESPACE"`, `"`+ns+`"`).Replace(string(objs))
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		return rr, err
	}
	if r := s.Run(2*time.Minute, "kubectl", "-n", ns, "create", "-f", file); r.Code != 0 {
		return rr, fmt.Errorf("%s", r)
	}
	r := s.Run(2*time.Minute, "kubectl", "axon", "restore", "--from", from, "--to-namespace", ns, "--dry-run", "-o", "json")
	var plan restore.Plan
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &plan) != nil {
		return rr, fmt.Errorf("restore --dry-run: %s", r)
	}
	for _, n := range plan.Nodes {
		rr.Files += len(n.Files)
		rr.Bytes += n.Bytes
	}

	args := []string{"kubectl", "axon", "restore", "--from", from, "--to-namespace", ns, "--timeout", "5m"}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := harness.Command(ctx, s.Kubeconfig(), args...)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return rr, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return rr, err
	}
	harness.TrackFor(cmd.Process.Pid, s.Kubeconfig(), true)
	var lines []string
	var scaled time.Time
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		l := sc.Text()
		lines = append(lines, l)
		if strings.Contains(l, "every StatefulSet scaled to 1") {
			scaled = time.Now()
		}
		if m := restoreNodeLine.FindStringSubmatch(l); m != nil {
			if d, err := time.ParseDuration(m[3]); err == nil {
				rr.Fill += d
				rr.FillNodes = append(rr.FillNodes, l)
			}
		}
	}
	err = cmd.Wait()
	harness.TrackFor(cmd.Process.Pid, s.Kubeconfig(), false)
	rr.Total = time.Since(start)
	if err != nil || !strings.Contains(stdout.String(), "every node healthy") {
		return rr, fmt.Errorf("restore into %s: %v\nstdout:\n%s\nstderr:\n%s", ns, err, stdout.String(), strings.Join(lines, "\n"))
	}
	if !scaled.IsZero() {
		rr.Healthy = time.Since(scaled)
	}
	if len(rr.FillNodes) != len(plan.Nodes) {
		return rr, fmt.Errorf("restore into %s: %d per-node lines for %d nodes:\n%s", ns, len(rr.FillNodes), len(plan.Nodes), strings.Join(lines, "\n"))
	}
	return rr, nil
}

// medians of the backup runs' figures.
func medianDur(xs []time.Duration) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	return median(xs)
}

func medianF(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// writeBackup writes the section of docs/benchmarks.md.
func writeBackup(b *strings.Builder, r *backupResult) {
	b.WriteString("\n## Backup and restore\n\n")
	fmt.Fprintf(b, "Measured %s, commit %s, %s in all", r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Commit, r.Elapsed.Round(time.Second))
	if r.Quick {
		b.WriteString(" (**quick run**: a small store, fewer repetitions)")
	}
	fmt.Fprintf(b, "; load average (1, 5, 15 min) %s at the start, %s at the end; other sandboxes at the start: %s.\n",
		r.LoadStart, r.LoadEnd, r.OtherSandboxes)
	if l := strings.Fields(r.LoadStart); len(l) > 0 && parseFloat(l[0]) >= 2 {
		b.WriteString("**The machine was busy** (other sandboxes and builds on the same 2 cores): the absolute MB/s include that contention;\n")
		b.WriteString("the ratio to the plain tar, measured side by side, is the figure to compare.\n")
	}
	fmt.Fprintf(b, "\n[bench-backup.yaml](../examples/topologies/bench-backup.yaml): %d nodes, %d replication groups, %d contexts with an event store,\n", r.Nodes, r.Groups, r.Contexts)
	fmt.Fprintf(b, "every group writing %.0f entries a second throughout (the backups are taken while the cluster writes, as in\n", r.Writes)
	fmt.Fprintf(b, "production), segments of %s. The source node, %s (%s), held %.1f MB on its volumes after %s of writing;\n",
		backup.Size(int64(r.SegmentBytes)), r.Source, r.SourceReason, float64(r.FillBytes)/1e6, r.Fill.Round(time.Second))
	b.WriteString("the store grows on during the measurements, so each run's MB/s is its own bytes over its own time. MB = 10^6 bytes.\n\n")

	var wall, first, stream []time.Duration
	var rate, srate, prate, ratio, size, psize []float64
	for i, x := range r.Full {
		wall, first, stream = append(wall, x.Wall), append(first, x.FirstFile), append(stream, x.Stream)
		rate, srate, size = append(rate, mbps(x.Bytes, x.Wall)), append(srate, mbps(x.StreamB, x.Stream)), append(size, float64(x.Bytes)/1e6)
		if i < len(r.Plain) {
			p := r.Plain[i]
			prate, psize = append(prate, mbps(p.Bytes, p.Wall)), append(psize, float64(p.Bytes)/1e6)
			ratio = append(ratio, mbps(x.Bytes, x.Wall)/mbps(p.Bytes, p.Wall))
		}
	}
	var pwall []time.Duration
	for _, p := range r.Plain {
		pwall = append(pwall, p.Wall)
	}
	span := func(xs []float64) string {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		if len(s) == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f–%.1f", s[0], s[len(s)-1])
	}
	dspan := func(xs []time.Duration) string {
		s := append([]time.Duration(nil), xs...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		if len(s) == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f–%.2f s", s[0].Seconds(), s[len(s)-1].Seconds())
	}
	fmt.Fprintf(b, "%d full backups, each followed by the baseline, medians (min–max):\n\n", len(r.Full))
	b.WriteString("- **kubectl axon backup**: `kubectl axon backup -n NS --to DIR` from the command's start to its end; bytes from the manifest.\n")
	b.WriteString("  *To the first file*: until the Control DB zip (the first file copied) is in DIR: the look at the cluster, the plan and\n")
	b.WriteString("  its checks, the ephemeral container (reused), the Control DB export. *Streaming*: the replication-log and event steps\n")
	b.WriteString("  (their listings, then one `tar` over `pods/exec` per storage folder, hashed and written on the way).\n")
	fmt.Fprintf(b, "- **plain tar**: `kubectl exec POD -c kubectl-axon-backup -- tar -c -f - -C / %s > file`, in the ephemeral container\n", strings.Join(trimSlash(r.Folders), " "))
	b.WriteString("  the backup leaves on the pod: the same folders, no manifest, no checksums, no order.\n\n")
	b.WriteString("| | MB | wall time | MB/s | to the first file | streaming | streaming MB/s |\n|---|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(b, "| kubectl axon backup, full | %.1f (%s) | %.2f s (%s) | **%.1f** (%s) | %.2f s | %.2f s | %.1f (%s) |\n",
		medianF(size), span(size), medianDur(wall).Seconds(), dspan(wall), medianF(rate), span(rate), medianDur(first).Seconds(), medianDur(stream).Seconds(), medianF(srate), span(srate))
	fmt.Fprintf(b, "| plain `kubectl exec tar` | %.1f (%s) | %.2f s (%s) | **%.1f** (%s) | – | – | – |\n",
		medianF(psize), span(psize), medianDur(pwall).Seconds(), dspan(pwall), medianF(prate), span(prate))
	f := r.First
	fmt.Fprintf(b, "| the first backup (adds the ephemeral container) | %.1f | %.2f s | %.1f | %.2f s | %.2f s | %.1f |\n",
		float64(f.Bytes)/1e6, f.Wall.Seconds(), mbps(f.Bytes, f.Wall), f.FirstFile.Seconds(), f.Stream.Seconds(), mbps(f.StreamB, f.Stream))
	in := r.Incremental
	fmt.Fprintf(b, "| incremental `--since` the last full one, right after it | %.1f | %.2f s | %.1f | %.2f s | %.2f s | %.1f |\n\n",
		float64(in.Bytes)/1e6, in.Wall.Seconds(), mbps(in.Bytes, in.Wall), in.FirstFile.Seconds(), in.Stream.Seconds(), mbps(in.StreamB, in.Stream))
	fmt.Fprintf(b, "kubectl axon backup against the plain tar, run by run: %.2f× the MB/s (median; %s). The full backups copied %d files\n",
		medianF(ratio), span(ratio), r.Full[len(r.Full)-1].Files)
	fmt.Fprintf(b, "each (the last one); the incremental one %d files, %.1f MB: the closed segments since (%d) and the active ones, and the\n",
		in.Files, float64(in.Bytes)/1e6, in.NewClosed)
	b.WriteString("whole replication log, which every backup copies in full (axonsim keeps every log file: it models no log compaction, so\n")
	b.WriteString("here the log is as big as the events and an incremental backup more than half a full one).")
	if r.Retried > 0 {
		fmt.Fprintf(b, "\n\n**%d of the %d backups failed** with tar's `%s` (the sandbox's tar is GNU tar, which exits 1\n", r.Retried, len(r.Full)+2, changedAsRead)
		b.WriteString("when a file grows while it is read: the active segments and the replication log do, every second); each was taken\n")
		b.WriteString("again and the figures are the second attempt's.")
	}
	if r.PlainChanged > 0 {
		fmt.Fprintf(b, "\n\n%d of the %d plain tars exited 1 with GNU tar's `%s` (a segment grew while it was read); they are\n", r.PlainChanged, len(r.Plain), changedAsRead)
		b.WriteString("counted: their output is complete, as an operator's would be.")
	}
	b.WriteString("\n\n")

	if len(r.Restores) > 0 {
		b.WriteString("`kubectl axon restore --from INC --to-namespace NS` of that chain (the last full backup and the incremental one) into a\n")
		b.WriteString("new namespace holding the cluster's objects with every StatefulSet at replicas 0 (as `generate --stopped` lays it out);\n")
		b.WriteString("every node gets the files of its groups. *Fill*: the per-node tar into the loader pod over `pods/exec`, as the command\n")
		b.WriteString("reports it, summed over the nodes; *healthy*: from the scale to 1 to every node healthy. The namespace is deleted after\n")
		b.WriteString("each run.\n\n")
		b.WriteString("| run | files | MB (all nodes) | total | fill | fill MB/s | healthy after the scale |\n|---:|---:|---:|---:|---:|---:|---:|\n")
		for i, x := range r.Restores {
			fmt.Fprintf(b, "| %d | %d | %.1f | %.1f s | %.2f s | **%.1f** | %.1f s |\n", i+1, x.Files, float64(x.Bytes)/1e6, x.Total.Seconds(),
				x.Fill.Seconds(), mbps(x.Bytes, x.Fill), x.Healthy.Seconds())
		}
		b.WriteString("\nPer node (the last run): ")
		var per []string
		for _, l := range r.Restores[len(r.Restores)-1].FillNodes {
			per = append(per, "`"+l+"`")
		}
		b.WriteString(strings.Join(per, "; ") + ".\n")
	}
}

func trimSlash(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strings.TrimPrefix(x, "/")
	}
	return out
}

func parseFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
