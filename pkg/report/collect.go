package report

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
)

// Getter is the part of an Axon Server client the report uses: a GET whose body is
// kept as it came. *axonserver.Client has it.
type Getter interface {
	Get(ctx context.Context, path string) ([]byte, error)
}

// Endpoint is one REST answer collected of each node.
type Endpoint struct {
	File, Path, What string
}

// Endpoints are the REST answers collected of each node, in this order.
var Endpoints = []Endpoint{
	{"actuator-info.json", "/actuator/info", "build and version"},
	{"actuator-health.json", "/actuator/health", "health, every component"},
	{"actuator-env.json", "/actuator/env", "effective configuration (masked)"},
	{"public-me.json", "/v1/public/me", "the node's own view"},
	{"public.json", "/v1/public", "the nodes it knows"},
	{"cluster.json", "/v1/cluster", "the cluster's nodes"},
	{"replicationgroups.json", "/v1/public/replicationgroups", "replication groups and members"},
	{"contexts.json", "/v1/public/context", "contexts"},
	{"raft-status.json", "/internal/raft/status", "Raft status per group"},
	{"tasks.json", "/v1/tasks", "scheduled tasks"},
	{"license.json", "/v1/public/license", "license details (4.5+; never the license)"},
}

// DiagnosticsPath is Axon Server's own diagnostics download.
const DiagnosticsPath = "/internal/diagnose/download"

// Source is what the collector reads.
type Source struct {
	Kube      kubernetes.Interface // nil in --axon-url mode
	Namespace string
	Cluster   string
	Members   []discovery.Member
	// Client returns the REST client of a node (member); an error is recorded as the
	// failure of each of that node's items.
	Client func(ctx context.Context, m discovery.Member) (Getter, error)
	// Nodes are the nodes to ask when there are no Members (--axon-url mode).
	Nodes map[string]Getter
	// Timeout bounds each request (0: 10 s).
	Timeout time.Duration
	// LogsSince, LogsLimit bound each container's log (0: all; 0: no limit).
	LogsSince time.Duration
	LogsLimit int64
	// DiagnosticsLimit caps the diagnostics zip; a longer one is recorded as failed.
	DiagnosticsLimit int64
}

func (s *Source) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 10 * time.Second
}

// Kubernetes collects the cluster's objects.
func (b *Bundle) Kubernetes(ctx context.Context, s *Source) {
	if s.Kube == nil {
		b.Record("kubernetes/", "Kubernetes objects", Skipped, "--axon-url: no Kubernetes")
		return
	}
	kube, ns := s.Kube, s.Namespace
	lo := metav1.ListOptions{}
	pods := map[string]bool{}
	claims := map[string]bool{}
	workers := map[string]bool{}
	var sts, podList []any
	for _, m := range s.Members {
		st := clean(m.StatefulSet.DeepCopy())
		b.maskPodSpec(&st.Spec.Template.Spec)
		b.maskAnnotations(&st.ObjectMeta)
		sts = append(sts, st)
		if m.Pod != nil {
			p := clean(m.Pod.DeepCopy())
			b.maskPodSpec(&p.Spec)
			b.maskAnnotations(&p.ObjectMeta)
			podList = append(podList, p)
			pods[m.Pod.Name] = true
			if m.Pod.Spec.NodeName != "" {
				workers[m.Pod.Spec.NodeName] = true
			}
			for _, v := range m.Pod.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					claims[v.PersistentVolumeClaim.ClaimName] = true
				}
			}
			for _, t := range m.StatefulSet.Spec.VolumeClaimTemplates {
				claims[t.Name+"-"+m.Pod.Name] = true
			}
		} else {
			for _, t := range m.StatefulSet.Spec.VolumeClaimTemplates {
				claims[t.Name+"-"+m.StatefulSet.Name+"-0"] = true
			}
		}
	}
	b.Add("kubernetes/statefulsets.yaml", "the cluster's StatefulSets", func() ([]byte, error) { return toYAML(sts) })
	b.Add("kubernetes/pods.yaml", "the cluster's pods", func() ([]byte, error) { return toYAML(podList) })
	volumes := map[string]bool{}
	b.Add("kubernetes/persistentvolumeclaims.yaml", "the pods' PersistentVolumeClaims", func() ([]byte, error) {
		l, err := kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, lo)
		if err != nil {
			return nil, kubeErr("list persistentvolumeclaims", err)
		}
		var out []any
		for i := range l.Items {
			if c := &l.Items[i]; claims[c.Name] {
				out = append(out, clean(c))
				if c.Spec.VolumeName != "" {
					volumes[c.Spec.VolumeName] = true
				}
			}
		}
		return toYAML(out)
	})
	b.Add("kubernetes/persistentvolumes.yaml", "the claims' PersistentVolumes", func() ([]byte, error) {
		var out []any
		for _, name := range sortedSet(volumes) {
			pv, err := kube.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, kubeErr("get persistentvolume "+name, err)
			}
			out = append(out, clean(pv))
		}
		return toYAML(out)
	})
	b.Add("kubernetes/services.yaml", "the namespace's Services", func() ([]byte, error) {
		l, err := kube.CoreV1().Services(ns).List(ctx, lo)
		if err != nil {
			return nil, kubeErr("list services", err)
		}
		return toYAML(items(l.Items))
	})
	b.Add("kubernetes/poddisruptionbudgets.yaml", "the namespace's PodDisruptionBudgets", func() ([]byte, error) {
		l, err := kube.PolicyV1().PodDisruptionBudgets(ns).List(ctx, lo)
		if err != nil {
			return nil, kubeErr("list poddisruptionbudgets", err)
		}
		return toYAML(items(l.Items))
	})
	b.Add("kubernetes/events.yaml", "the namespace's Events", func() ([]byte, error) {
		l, err := kube.CoreV1().Events(ns).List(ctx, lo)
		if err != nil {
			return nil, kubeErr("list events", err)
		}
		sort.SliceStable(l.Items, func(i, j int) bool { return eventTime(l.Items[i]).Before(eventTime(l.Items[j])) })
		for i := range l.Items {
			l.Items[i].Message = b.redact.String(l.Items[i].Message)
		}
		return toYAML(items(l.Items))
	})
	b.Add("kubernetes/nodes.yaml", "the workers the pods run on", func() ([]byte, error) {
		var out []any
		for _, w := range sortedSet(workers) {
			n, err := kube.CoreV1().Nodes().Get(ctx, w, metav1.GetOptions{})
			if err != nil {
				return nil, kubeErr("get node "+w, err)
			}
			out = append(out, clean(n))
		}
		return toYAML(out)
	})
	b.Add("kubernetes/configmaps.yaml", "the namespace's ConfigMaps (secret-looking keys masked)", func() ([]byte, error) {
		l, err := kube.CoreV1().ConfigMaps(ns).List(ctx, lo)
		if err != nil {
			return nil, kubeErr("list configmaps", err)
		}
		var out []any
		for i := range l.Items {
			cm := l.Items[i].DeepCopy()
			b.maskAnnotations(&cm.ObjectMeta)
			for k, v := range cm.Data {
				if b.redact.Off || !SecretKey(k) {
					cm.Data[k] = b.redact.Properties(v)
				} else {
					cm.Data[k] = Mask
				}
			}
			for k := range cm.BinaryData {
				cm.BinaryData[k] = []byte(Mask) // binary values are not inspected
			}
			out = append(out, clean(cm))
		}
		return toYAML(out)
	})
	b.Add("kubernetes/secrets.yaml", "the namespace's Secrets: names, types and keys, never values", func() ([]byte, error) {
		l, err := kube.CoreV1().Secrets(ns).List(ctx, lo)
		if apierrors.IsForbidden(err) {
			return nil, Skip("forbidden to list secrets (optional: see docs/report.md)")
		}
		if err != nil {
			return nil, kubeErr("list secrets", err)
		}
		type secret struct {
			Name   string            `json:"name"`
			Type   string            `json:"type"`
			Labels map[string]string `json:"labels,omitempty"`
			Keys   []string          `json:"keys"`
		}
		out := []secret{}
		for _, sec := range l.Items {
			keys := []string{}
			for k := range sec.Data {
				keys = append(keys, k)
			}
			for k := range sec.StringData {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out = append(out, secret{Name: sec.Name, Type: string(sec.Type), Labels: sec.Labels, Keys: keys})
			sec.Data, sec.StringData = nil, nil // never kept
		}
		return yaml.Marshal(out)
	})
}

// maskPodSpec masks the literal values of environment variables whose names look
// secret (references to Secrets are kept: they hold no value).
func (b *Bundle) maskPodSpec(spec *corev1.PodSpec) {
	if b.redact.Off {
		return
	}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			for j := range cs[i].Env {
				if e := &cs[i].Env[j]; e.Value != "" && SecretKey(e.Name) {
					e.Value = Mask
				}
			}
		}
	}
}

// maskAnnotations masks kubectl's last-applied-configuration, a copy of the object
// as applied, literal environment values included.
func (b *Bundle) maskAnnotations(m *metav1.ObjectMeta) {
	if _, ok := m.Annotations[corev1.LastAppliedConfigAnnotation]; ok && !b.redact.Off {
		m.Annotations[corev1.LastAppliedConfigAnnotation] = Mask
	}
}

// Logs collects each Axon Server pod's containers' logs, and the previous
// container's where one restarted.
func (b *Bundle) Logs(ctx context.Context, s *Source) {
	if s.Kube == nil {
		return
	}
	for _, m := range s.Members {
		if m.Pod == nil {
			b.Record("logs/"+m.StatefulSet.Name+"-0/", "logs of "+m.NodeName, Failed, "no pod")
			continue
		}
		restarts := map[string]int32{}
		for _, cs := range m.Pod.Status.ContainerStatuses {
			restarts[cs.Name] = cs.RestartCount
		}
		for _, c := range m.Pod.Spec.Containers {
			for _, previous := range []bool{false, true} {
				if previous && restarts[c.Name] == 0 {
					continue
				}
				file := "logs/" + m.Pod.Name + "/" + c.Name + ".log"
				what := fmt.Sprintf("log of container %s of pod %s", c.Name, m.Pod.Name)
				if previous {
					file = "logs/" + m.Pod.Name + "/" + c.Name + ".previous.log"
					what = fmt.Sprintf("log of the previous container %s of pod %s (%d restarts)", c.Name, m.Pod.Name, restarts[c.Name])
				}
				opts := &corev1.PodLogOptions{Container: c.Name, Previous: previous}
				if s.LogsSince > 0 {
					sec := int64(s.LogsSince.Seconds())
					opts.SinceSeconds = &sec
				}
				pod := m.Pod.Name
				b.AddItem(file, what, func() ([]byte, bool, error) {
					lctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
					defer cancel()
					rc, err := s.Kube.CoreV1().Pods(m.Namespace).GetLogs(pod, opts).Stream(lctx)
					if err != nil {
						return nil, false, kubeErr("get log", err)
					}
					defer rc.Close()
					return Tail(rc, s.LogsLimit)
				})
			}
		}
	}
}

// Axon collects every node's REST answers and diagnostics.
func (b *Bundle) Axon(ctx context.Context, s *Source) {
	type node struct {
		name string
		get  Getter
		err  error
	}
	var nodes []node
	if len(s.Members) > 0 {
		for _, m := range s.Members {
			n := node{name: m.NodeName}
			switch {
			case m.Pod == nil:
				n.err = errors.New("no pod")
			case m.Pod.Status.Phase != corev1.PodRunning:
				n.err = fmt.Errorf("pod %s", m.Pod.Status.Phase)
			default:
				n.get, n.err = s.Client(ctx, m)
			}
			nodes = append(nodes, n)
		}
	} else {
		for _, name := range slices.Sorted(maps.Keys(s.Nodes)) {
			nodes = append(nodes, node{name: name, get: s.Nodes[name]})
		}
	}
	for _, n := range nodes {
		dir := "axon/" + n.name + "/"
		down := n.err
		for _, e := range Endpoints {
			if down != nil {
				b.Record(dir+e.File, fmt.Sprintf("GET %s of %s: %s", e.Path, n.name, e.What), Failed, down.Error())
				continue
			}
			e := e
			var callErr error
			b.Add(dir+e.File, fmt.Sprintf("GET %s of %s: %s", e.Path, n.name, e.What), func() ([]byte, error) {
				cctx, cancel := context.WithTimeout(ctx, s.timeout())
				defer cancel()
				body, err := n.get.Get(cctx, e.Path)
				callErr = err
				if err != nil {
					return nil, err
				}
				if e.Path == "/actuator/env" {
					return b.redact.Env(body), nil
				}
				return body, nil
			})
			if unreachable(callErr) {
				down = fmt.Errorf("not asked: the node did not answer GET %s (%s)", e.Path, oneLine(callErr.Error()))
			}
		}
		what := "Axon Server's own diagnostics of " + n.name + " (GET " + DiagnosticsPath + ", nested zip)"
		if down != nil {
			b.Record(dir+"diagnostics.zip", what, Failed, down.Error())
			continue
		}
		b.Add(dir+"diagnostics.zip", what, func() ([]byte, error) {
			cctx, cancel := context.WithTimeout(ctx, 4*s.timeout())
			defer cancel()
			body, err := n.get.Get(cctx, DiagnosticsPath)
			if err != nil {
				return nil, err
			}
			if s.DiagnosticsLimit > 0 && int64(len(body)) >= s.DiagnosticsLimit {
				return nil, fmt.Errorf("larger than its limit of %d bytes: not kept", s.DiagnosticsLimit)
			}
			return RedactZip(b.redact, body), nil
		})
	}
}

// unreachable: the node could not be reached at all (not an answer from it), so its
// other calls would fail the same way after as long a wait.
func unreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"connection refused", "no route to host", "i/o timeout", "deadline exceeded", "error trying to reach service", "no such host", "connection reset"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// View adds one of kubectl axon's own views (status, doctor, config) as data.
func (b *Bundle) View(name, what string, render func() ([]byte, error)) {
	b.Add("kubectl-axon/"+name+".json", what, render)
}

func kubeErr(what string, err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%s: forbidden (RBAC: see docs/rbac.yaml)", what)
	}
	return fmt.Errorf("%s: %s", what, oneLine(err.Error()))
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// clean drops managedFields, which say nothing support needs and double the size.
func clean[T interface {
	SetManagedFields([]metav1.ManagedFieldsEntry)
}](o T) T {
	o.SetManagedFields(nil)
	return o
}

func items[T any](xs []T) []any {
	out := make([]any, 0, len(xs))
	for i := range xs {
		out = append(out, &xs[i])
	}
	for _, o := range out {
		if m, ok := o.(interface {
			SetManagedFields([]metav1.ManagedFieldsEntry)
		}); ok {
			m.SetManagedFields(nil)
		}
	}
	return out
}

func toYAML(xs []any) ([]byte, error) {
	if xs == nil {
		xs = []any{}
	}
	return yaml.Marshal(xs)
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
