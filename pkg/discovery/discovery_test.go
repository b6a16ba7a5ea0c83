package discovery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// newSTS is a singleton StatefulSet as AxonIQ's examples lay it out: labels app=<name>
// and cluster=<cluster> on the set and its template, one "axonserver" container.
func newSTS(ns, name, cluster string, opts ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	lbl := map[string]string{"app": name}
	if cluster != "" {
		lbl[ClusterLabel] = cluster
	}
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: maps.Clone(lbl), UID: types.UID("uid-" + ns + "-" + name)},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: name,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: ContainerName, Image: "axoniq/axonserver:2024.1.0-nonroot",
						Env: []corev1.EnvVar{{Name: NodeNameEnv, Value: name}}},
				}},
			},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// podOf is the StatefulSet's pod <name>-0, controlled by it, on worker.
func podOf(s *appsv1.StatefulSet, worker string, opts ...func(*corev1.Pod)) *corev1.Pod {
	yes := true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: s.Namespace, Name: s.Name + "-0", Labels: maps.Clone(s.Spec.Template.Labels),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet",
				Name: s.Name, UID: s.UID, Controller: &yes}},
		},
		Spec: corev1.PodSpec{NodeName: worker},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func worker(name, zone string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	if zone != "" {
		n.Labels[ZoneLabel] = zone
	}
	return n
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// cluster3 is namespace ns with StatefulSets axonserver-1..3 of cluster "axon", their
// pods on workers w1..w3 in zones a, b, c.
func cluster3(ns string) []runtime.Object {
	objs := []runtime.Object{namespace(ns)}
	for i := 1; i <= 3; i++ {
		s := newSTS(ns, fmt.Sprintf("axonserver-%d", i), "axon")
		w := fmt.Sprintf("w%d", i)
		objs = append(objs, s, podOf(s, w), worker(w, string(rune('a'+i-1))))
	}
	return objs
}

func discover(t *testing.T, q Query, objs ...runtime.Object) (*Found, *fake.Clientset, error) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	f, err := Discover(context.Background(), cs, q)
	return f, cs, err
}

func mustDiscover(t *testing.T, q Query, objs ...runtime.Object) *Found {
	t.Helper()
	f, _, err := discover(t, q, objs...)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return f
}

// summary renders members as "ns/cluster/sts:node:pod:container:worker:zone".
func summary(ms []Member) []string {
	var out []string
	for _, m := range ms {
		pod := "-"
		if m.Pod != nil {
			pod = m.Pod.Name
		}
		out = append(out, strings.Join([]string{m.Namespace + "/" + m.Cluster + "/" + m.StatefulSet.Name,
			m.NodeName, pod, m.Container, m.Worker, m.Zone}, ":"))
	}
	return out
}

func forbidden(resource string) k8stesting.ReactionFunc {
	return func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("RBAC: access denied"))
	}
}

func TestDiscoverSelection(t *testing.T) {
	// Two clusters in ns "axon", one in ns "other", and an unrelated StatefulSet.
	objs := cluster3("axon")
	b := newSTS("axon", "blue-1", "blue")
	o := newSTS("other", "axonserver-1", "axon")
	unrelated := newSTS("axon", "postgres", "")
	custom := newSTS("axon", "custom-1", "", func(s *appsv1.StatefulSet) {
		s.Labels["app.kubernetes.io/name"] = "axon" // on the set only: its pod lacks it
	})
	objs = append(objs, b, podOf(b, "w1"), namespace("other"), o, podOf(o, "w2"), unrelated, podOf(unrelated, "w1"),
		custom, podOf(custom, "w3"))

	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"default selector matches every cluster label", Query{Namespace: "axon"}, []string{
			"axon/axon/axonserver-1:axonserver-1:axonserver-1-0:axonserver:w1:a",
			"axon/axon/axonserver-2:axonserver-2:axonserver-2-0:axonserver:w2:b",
			"axon/axon/axonserver-3:axonserver-3:axonserver-3-0:axonserver:w3:c",
			"axon/blue/blue-1:blue-1:blue-1-0:axonserver:w1:a",
		}},
		{"--cluster narrows", Query{Namespace: "axon", Cluster: "blue"}, []string{
			"axon/blue/blue-1:blue-1:blue-1-0:axonserver:w1:a",
		}},
		{"custom selector on StatefulSet labels only still finds the pod", Query{Namespace: "axon", Selector: "app.kubernetes.io/name=axon"}, []string{
			"axon//custom-1:custom-1:custom-1-0:axonserver:w3:c",
		}},
		{"custom selector wins over --cluster", Query{Namespace: "axon", Selector: "app=postgres", Cluster: "axon"}, []string{
			"axon//postgres:postgres:postgres-0:axonserver:w1:a",
		}},
		{"all namespaces, sorted by namespace then node", Query{AllNamespaces: true, Cluster: "axon"}, []string{
			"axon/axon/axonserver-1:axonserver-1:axonserver-1-0:axonserver:w1:a",
			"axon/axon/axonserver-2:axonserver-2:axonserver-2-0:axonserver:w2:b",
			"axon/axon/axonserver-3:axonserver-3:axonserver-3-0:axonserver:w3:c",
			"other/axon/axonserver-1:axonserver-1:axonserver-1-0:axonserver:w2:b",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustDiscover(t, tc.q, objs...)
			if got := summary(f.Members); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("members:\n got %q\nwant %q", got, tc.want)
			}
			if len(f.Warnings) != 0 {
				t.Errorf("warnings: %q", f.Warnings)
			}
		})
	}
}

func TestDiscoverPodMapping(t *testing.T) {
	s1 := newSTS("axon", "axonserver-1", "axon")
	s2 := newSTS("axon", "axonserver-2", "axon")
	s3 := newSTS("axon", "axonserver-3", "axon")
	// axonserver-2-0 is left over from an earlier StatefulSet of the same name (other UID);
	// axonserver-3-0 has a non-controller owner reference only.
	stale := podOf(s2, "w1", func(p *corev1.Pod) { p.OwnerReferences[0].UID = "old-uid" })
	orphan := podOf(s3, "w1", func(p *corev1.Pod) { p.OwnerReferences[0].Controller = nil })
	f := mustDiscover(t, Query{Namespace: "axon"}, namespace("axon"), s1, s2, s3,
		podOf(s1, "w9"), stale, orphan, worker("w1", "z1"))
	want := []string{
		"axon/axon/axonserver-1:axonserver-1:axonserver-1-0:axonserver:w9:", // worker without a Node: no zone
		"axon/axon/axonserver-2:axonserver-2:-:axonserver::",
		"axon/axon/axonserver-3:axonserver-3:-:axonserver::",
	}
	if got := summary(f.Members); !reflect.DeepEqual(got, want) {
		t.Errorf("members:\n got %q\nwant %q", got, want)
	}
}

func TestDiscoverNodeNameAndContainer(t *testing.T) {
	withContainers := func(cs ...corev1.Container) func(*appsv1.StatefulSet) {
		return func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers = cs }
	}
	env := func(name, value string) []corev1.EnvVar { return []corev1.EnvVar{{Name: name, Value: value}} }
	sidecar := corev1.Container{Name: "sidecar", Image: "busybox", Env: env(NodeNameEnv, "from-sidecar")}
	tests := []struct {
		name                   string
		opt                    func(*appsv1.StatefulSet)
		node, container, image string
	}{
		{"env names the node", withContainers(corev1.Container{Name: "axonserver", Image: "axoniq/axonserver:2024.1", Env: env(NodeNameEnv, "as-one")}),
			"as-one", "axonserver", "axoniq/axonserver:2024.1"},
		{"no env: the StatefulSet name", withContainers(corev1.Container{Name: "axonserver", Image: "i"}),
			"sts-x", "axonserver", "i"},
		{"empty env value: the StatefulSet name", withContainers(corev1.Container{Name: "axonserver", Image: "i", Env: env(NodeNameEnv, "")}),
			"sts-x", "axonserver", "i"},
		{"env from a field ref is not a literal", withContainers(corev1.Container{Name: "axonserver", Image: "i",
			Env: []corev1.EnvVar{{Name: NodeNameEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}),
			"sts-x", "axonserver", "i"},
		{"container named axonserver wins over order and image", withContainers(sidecar,
			corev1.Container{Name: "other", Image: "axoniq/axonserver-enterprise:4.6"},
			corev1.Container{Name: "axonserver", Image: "registry/custom:1", Env: env(NodeNameEnv, "named")}),
			"named", "axonserver", "registry/custom:1"},
		{"else an image containing axonserver", withContainers(sidecar,
			corev1.Container{Name: "main", Image: "axoniq/axonserver-enterprise:4.6-dev-nonroot", Env: env(NodeNameEnv, "by-image")}),
			"by-image", "main", "axoniq/axonserver-enterprise:4.6-dev-nonroot"},
		{"else the first container (and its env)", withContainers(sidecar, corev1.Container{Name: "second", Image: "x"}),
			"from-sidecar", "sidecar", "busybox"},
		{"no containers", withContainers(), "sts-x", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustDiscover(t, Query{Namespace: "axon"}, namespace("axon"), newSTS("axon", "sts-x", "axon", tc.opt))
			m := f.Members[0]
			if m.NodeName != tc.node || m.Container != tc.container || m.Image != tc.image {
				t.Errorf("got node %q container %q image %q, want %q %q %q", m.NodeName, m.Container, m.Image, tc.node, tc.container, tc.image)
			}
		})
	}
}

func TestDiscoverWarnings(t *testing.T) {
	three := int32(3)
	one := int32(1)
	tests := []struct {
		name    string
		objs    []runtime.Object
		react   map[string]k8stesting.ReactionFunc // "verb resource" → reactor
		want    []string                           // substrings, one per warning, in order
		noZones bool
	}{
		{name: "healthy layout", objs: cluster3("axon")},
		{name: "replicas 1 explicitly", objs: []runtime.Object{namespace("axon"),
			newSTS("axon", "a", "axon", func(s *appsv1.StatefulSet) { s.Spec.Replicas = &one })}},
		{name: "non-singleton StatefulSet", objs: []runtime.Object{namespace("axon"),
			newSTS("axon", "axonserver", "axon", func(s *appsv1.StatefulSet) { s.Spec.Replicas = &three })},
			want: []string{"StatefulSet axon/axonserver has replicas=3"}},
		{name: "Nodes forbidden", objs: cluster3("axon"),
			react:   map[string]k8stesting.ReactionFunc{"get nodes": forbidden("nodes")},
			want:    []string{"zones unknown: not allowed to get nodes"},
			noZones: true},
		{name: "Nodes get fails otherwise", objs: cluster3("axon"),
			react: map[string]k8stesting.ReactionFunc{"get nodes": func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, errors.New("etcd on fire")
			}},
			want:    []string{"zones unknown: etcd on fire"},
			noZones: true},
		{name: "namespace get forbidden is not fatal", objs: cluster3("axon"),
			react: map[string]k8stesting.ReactionFunc{"get namespaces": forbidden("namespaces")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(tc.objs...)
			for k, r := range tc.react {
				verb, res, _ := strings.Cut(k, " ")
				cs.PrependReactor(verb, res, r)
			}
			f, err := Discover(context.Background(), cs, Query{Namespace: "axon"})
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if len(f.Warnings) != len(tc.want) {
				t.Fatalf("warnings %q, want %d like %q", f.Warnings, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(f.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, f.Warnings[i], w)
				}
			}
			for _, m := range f.Members {
				if (m.Zone == "") != (tc.noZones || m.Pod == nil) {
					t.Errorf("%s: zone %q (pod %v), zones expected unknown: %v", m.NodeName, m.Zone, m.Pod != nil, tc.noZones)
				}
			}
		})
	}
}

func TestDiscoverErrors(t *testing.T) {
	tests := []struct {
		name     string
		q        Query
		objs     []runtime.Object
		react    k8stesting.ReactionFunc // on "list statefulsets"
		want     string
		notFound *NotFoundError
	}{
		{name: "no StatefulSets in namespace", q: Query{Namespace: "axon"}, objs: []runtime.Object{namespace("axon")},
			want:     `no Axon Server StatefulSets with labels "cluster" in namespace axon (use -n, `,
			notFound: &NotFoundError{Namespace: "axon", Selector: "cluster"}},
		{name: "no StatefulSets of that cluster", q: Query{Namespace: "axon", Cluster: "green"}, objs: cluster3("axon"),
			want:     `no Axon Server StatefulSets with labels "cluster=green" in namespace axon`,
			notFound: &NotFoundError{Namespace: "axon", Selector: "cluster=green"}},
		{name: "none anywhere", q: Query{AllNamespaces: true, Selector: "x=y"}, objs: cluster3("axon"),
			want:     `no Axon Server StatefulSets with labels "x=y" in any namespace`,
			notFound: &NotFoundError{Namespace: "", Selector: "x=y"}},
		{name: "missing namespace", q: Query{Namespace: "nope"}, objs: cluster3("axon"), want: `namespace "nope" not found`},
		{name: "bad selector", q: Query{Namespace: "axon", Selector: "a in (b"}, objs: cluster3("axon"), want: `bad label selector "a in (b"`},
		{name: "listing StatefulSets forbidden", q: Query{Namespace: "axon"}, objs: cluster3("axon"),
			react: forbidden("statefulsets"), want: "listing StatefulSets: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(tc.objs...)
			if tc.react != nil {
				cs.PrependReactor("list", "statefulsets", tc.react)
			}
			f, err := Discover(context.Background(), cs, tc.q)
			if err == nil {
				t.Fatalf("Discover found %v, want an error", summary(f.Members))
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line containing %q", err, tc.want)
			}
			var nf *NotFoundError
			if errors.As(err, &nf) != (tc.notFound != nil) {
				t.Fatalf("NotFoundError: %v, want %v", errors.As(err, &nf), tc.notFound != nil)
			}
			if tc.notFound != nil && *nf != *tc.notFound {
				t.Errorf("NotFoundError %+v, want %+v", *nf, *tc.notFound)
			}
		})
	}
}

// TestDiscoverConstantCalls: a look costs a list of StatefulSets and one of pods,
// whatever the size of the cluster; the namespace and each worker's zone are read
// once per command (Cache), one GET per worker, never a list of every node of the
// Kubernetes cluster.
func TestDiscoverConstantCalls(t *testing.T) {
	calls := func(n int, q Query) (first, again []string) {
		objs := []runtime.Object{namespace("axon")}
		for i := 0; i < n; i++ {
			s := newSTS("axon", fmt.Sprintf("axonserver-%d", i), "axon")
			w := fmt.Sprintf("w%d", i%3)
			objs = append(objs, s, podOf(s, w))
			if i < 3 {
				objs = append(objs, worker(w, "z"))
			}
		}
		for i := 0; i < 5; i++ { // workers that run none of the cluster's pods
			objs = append(objs, worker(fmt.Sprintf("other-%d", i), "z"))
		}
		q.Cache = &Cache{}
		f, cs, err := discover(t, q, objs...)
		if err != nil || len(f.Members) != n {
			t.Fatalf("Discover(%d): %v members, err %v", n, len(f.Members), err)
		}
		verbs := func() []string {
			var out []string
			for _, a := range cs.Actions() {
				out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
			}
			cs.ClearActions()
			sort.Strings(out) // the namespace and the two lists are asked at once
			return out
		}
		first = verbs()
		if f, err = Discover(context.Background(), cs, q); err != nil || f.Members[0].Zone != "z" {
			t.Fatalf("second look: %v", err)
		}
		return first, verbs()
	}
	for _, q := range []Query{{Namespace: "axon"}, {AllNamespaces: true}, {Namespace: "axon", Selector: "app"}} {
		first3, again3 := calls(3, q)
		first9, again9 := calls(9, q)
		if !reflect.DeepEqual(first3, first9) {
			t.Errorf("%+v: the first look at 3 nodes made %q, at 9 nodes (on the same 3 workers) %q", q, first3, first9)
		}
		if n := strings.Count(strings.Join(first3, ","), "get nodes"); n != 3 || strings.Contains(strings.Join(first3, ","), "list nodes") {
			t.Errorf("%+v: first look %q: want one GET per worker of the cluster (3), no list of nodes", q, first3)
		}
		want := []string{"list pods", "list statefulsets"}
		if !reflect.DeepEqual(again3, want) || !reflect.DeepEqual(again9, want) {
			t.Errorf("%+v: later looks made %q and %q, want %q", q, again3, again9, want)
		}
	}
}

func TestFound(t *testing.T) {
	objs := cluster3("axon")
	b := newSTS("axon", "blue-1", "blue", func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers[0].Env[0].Value = "blue-node"
	})
	o := newSTS("aaa", "x-1", "axon")
	objs = append(objs, b, namespace("aaa"), o)
	f := mustDiscover(t, Query{AllNamespaces: true}, objs...)

	if got, want := f.Clusters(), [][2]string{{"aaa", "axon"}, {"axon", "axon"}, {"axon", "blue"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Clusters() = %v, want %v", got, want)
	}
	if got := summary(f.Only("axon", "blue")); len(got) != 1 || !strings.HasPrefix(got[0], "axon/blue/blue-1:blue-node:") {
		t.Errorf("Only(axon, blue) = %q", got)
	}
	if got := f.Only("axon", "axon"); len(got) != 3 {
		t.Errorf("Only(axon, axon) has %d members, want 3", len(got))
	}
	if got := f.Only("axon", "green"); len(got) != 0 {
		t.Errorf("Only(axon, green) = %v, want none", summary(got))
	}
	for _, tc := range []struct{ name, sts string }{
		{"blue-node", "blue-1"}, {"blue-1", "blue-1"}, {"axonserver-2", "axonserver-2"},
	} {
		m, ok := Find(f.Members, tc.name)
		if !ok || m.StatefulSet.Name != tc.sts {
			t.Errorf("Find(%q) = %v, %v; want StatefulSet %s", tc.name, summary([]Member{m}), ok, tc.sts)
		}
	}
	if _, ok := Find(f.Members, "axonserver-9"); ok {
		t.Error("Find(axonserver-9) found a member")
	}
}

func TestPodHelpers(t *testing.T) {
	sts := func(rev string) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{Status: appsv1.StatefulSetStatus{UpdateRevision: rev}}
	}
	pod := func(rev string, ready corev1.ConditionStatus, restarts ...int32) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{}}}
		if rev != "" {
			p.Labels[appsv1.StatefulSetRevisionLabel] = rev
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
		if ready != "" {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: ready})
		}
		for _, r := range restarts {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{RestartCount: r})
		}
		return p
	}
	tests := []struct {
		name     string
		sts      *appsv1.StatefulSet
		pod      *corev1.Pod
		ready    bool
		current  bool
		restarts int32
	}{
		{"no pod", sts("r1"), nil, false, false, 0},
		{"ready on current revision", sts("r2"), pod("r2", corev1.ConditionTrue, 1), true, true, 1},
		{"ready on old revision", sts("r2"), pod("r1", corev1.ConditionTrue), true, false, 0},
		{"not ready", sts("r2"), pod("r2", corev1.ConditionFalse, 2, 3), false, true, 5},
		{"no Ready condition", sts("r2"), pod("r2", ""), false, true, 0},
		{"no revision label", sts("r2"), pod("", corev1.ConditionTrue), true, false, 0},
		{"StatefulSet without update revision", sts(""), pod("r1", corev1.ConditionUnknown), false, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PodReady(tc.pod); got != tc.ready {
				t.Errorf("PodReady = %v, want %v", got, tc.ready)
			}
			if got := OnCurrentRevision(tc.sts, tc.pod); got != tc.current {
				t.Errorf("OnCurrentRevision = %v, want %v", got, tc.current)
			}
			if got := Restarts(tc.pod); got != tc.restarts {
				t.Errorf("Restarts = %d, want %d", got, tc.restarts)
			}
		})
	}
}

func TestDefaultSelector(t *testing.T) {
	if got := DefaultSelector(""); got != "cluster" {
		t.Errorf("DefaultSelector(\"\") = %q", got)
	}
	if got := DefaultSelector("axon"); got != "cluster=axon" {
		t.Errorf("DefaultSelector(axon) = %q", got)
	}
}

// TestDiscoverWatch: with Watch, the first look lists and watches the StatefulSets
// and pods once; later looks ask the API server nothing and still see the changes
// (a pod replaced), as the watch delivers them. Close stops the watches.
func TestDiscoverWatch(t *testing.T) {
	objs := cluster3("axon")
	for _, q := range []Query{{Namespace: "axon"}, {Namespace: "axon", Selector: "app"}} {
		q.Watch, q.Cache = true, &Cache{}
		cs := fake.NewClientset(objs...)
		ctx := context.Background()
		f, err := Discover(ctx, cs, q)
		if err != nil || len(f.Members) != 3 {
			t.Fatalf("%+v: first look: %v members, err %v", q, len(f.Members), err)
		}
		var first []string
		for _, a := range cs.Actions() {
			first = append(first, a.GetVerb()+" "+a.GetResource().Resource)
		}
		for _, kind := range []string{"statefulsets", "pods"} {
			if strings.Count(strings.Join(first, ","), "list "+kind) != 1 || strings.Count(strings.Join(first, ","), "watch "+kind) != 1 {
				t.Errorf("%+v: first look made %q: want one list and one watch of %s", q, first, kind)
			}
		}
		cs.ClearActions()
		old := f.Members[0].Pod
		if err := cs.CoreV1().Pods("axon").Delete(ctx, old.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		succ := old.DeepCopy()
		succ.UID, succ.ResourceVersion = "successor", ""
		if _, err := cs.CoreV1().Pods("axon").Create(ctx, succ, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cs.ClearActions()
		err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			f, err := Discover(ctx, cs, q)
			if err != nil {
				return false, err
			}
			m, _ := Find(f.Members, f.Members[0].NodeName)
			return m.Pod != nil && m.Pod.UID == "successor", nil
		})
		if err != nil {
			t.Errorf("%+v: the later looks did not see the new pod: %v", q, err)
		}
		if acts := cs.Actions(); len(acts) != 0 {
			t.Errorf("%+v: later looks asked the API server %d times (first: %s %s)", q, len(acts), acts[0].GetVerb(), acts[0].GetResource().Resource)
		}
		q.Cache.Close()
	}
}

// TestWaitStatefulSet: a wait on the watch the looks keep sees the StatefulSet
// controller's status update without asking the API server; a namespace with no
// watch is ErrNotWatched, a StatefulSet deleted meanwhile an error.
func TestWaitStatefulSet(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(cluster3("axon")...)
	q := Query{Namespace: "axon", Watch: true, Cache: &Cache{}}
	defer q.Cache.Close()
	f, err := Discover(ctx, cs, q)
	if err != nil {
		t.Fatal(err)
	}
	name := f.Members[0].StatefulSet.Name
	if _, err := q.Cache.WaitStatefulSet(ctx, "elsewhere", name, nil); !errors.Is(err, ErrNotWatched) {
		t.Fatalf("another namespace: %v", err)
	}
	cs.ClearActions()
	go func() {
		sts, _ := cs.AppsV1().StatefulSets("axon").Get(ctx, name, metav1.GetOptions{})
		sts.Status.ObservedGeneration = 42
		_, _ = cs.AppsV1().StatefulSets("axon").UpdateStatus(ctx, sts, metav1.UpdateOptions{})
	}()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	got, err := q.Cache.WaitStatefulSet(wctx, "axon", name, func(s *appsv1.StatefulSet) bool { return s.Status.ObservedGeneration == 42 })
	if err != nil || got.Status.ObservedGeneration != 42 {
		t.Fatalf("wait: %v", err)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "update" {
			t.Errorf("the wait asked the API server: %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	go func() { _ = cs.AppsV1().StatefulSets("axon").Delete(ctx, name, metav1.DeleteOptions{}) }()
	if _, err := q.Cache.WaitStatefulSet(wctx, "axon", name, func(*appsv1.StatefulSet) bool { return false }); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("deleted: %v", err)
	}
}

// TestDiscoverTellsClusters: Query.Clusters hears of each cluster once per look.
func TestDiscoverTellsClusters(t *testing.T) {
	var mu sync.Mutex
	var got []string
	q := Query{Namespace: "axon", Clusters: func(ns, c string) {
		mu.Lock()
		got = append(got, ns+"/"+c)
		mu.Unlock()
	}}
	if _, _, err := discover(t, q, cluster3("axon")...); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "axon/axon" { // cluster3 labels its StatefulSets cluster=axon
		t.Errorf("told %v", got)
	}
}
