package cmd

import (
	"encoding/json"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/generate"
)

// nodeObjects are generate's StatefulSet, headless Service and autocluster
// ConfigMap of node in an n-node cluster.
func nodeObjects(t *testing.T, n int, node string) (*appsv1.StatefulSet, *corev1.Service, *corev1.ConfigMap) {
	t.Helper()
	objs, err := generate.Manifests(generate.Options{Name: "axonserver", Namespace: "axon", Nodes: n, Image: "axoniq/axonserver:2024.1.0-nonroot"}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	var sts *appsv1.StatefulSet
	var svc *corev1.Service
	var cm *corev1.ConfigMap
	for _, o := range objs {
		switch x := o.(type) {
		case *appsv1.StatefulSet:
			if x.Name == node {
				sts = x
			}
		case *corev1.Service:
			if x.Name == node {
				svc = x
			}
		case *corev1.ConfigMap:
			if x.Name == generate.AutoclusterConfigMapName(node) {
				cm = x
			}
		}
	}
	if sts == nil || svc == nil || cm == nil {
		t.Fatalf("generate has no objects for %s", node)
	}
	return sts, svc, cm
}

// A node cloned from generate's axonserver-1 is what generate itself writes for
// axonserver-10 of a 10-node cluster (but for the add-node mark), with the
// template's autocluster.first kept: the new node registers with the founder, it
// does not found a cluster of its own.
func TestCloneNodeIsGeneratesNode(t *testing.T) {
	like, likeSvc, likeCM := nodeObjects(t, 3, "axonserver-1")
	want, wantSvc, wantCM := nodeObjects(t, 10, "axonserver-10")
	sts, svc, cms, err := cloneNode(like, likeSvc, []*corev1.ConfigMap{likeCM}, "axonserver-1", "axonserver-10", "", `{"run":"r"}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []*map[string]string{&sts.Annotations, &svc.Annotations, &cms[0].Annotations} {
		if (*o)[addAnnotation] != `{"run":"r"}` {
			t.Errorf("mark missing: %v", *o)
		}
		delete(*o, addAnnotation)
		if len(*o) == 0 {
			*o = nil
		}
	}
	same := func(what string, got, want any) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		if string(g) != string(w) {
			t.Errorf("%s differs from generate's:\n got %s\nwant %s", what, g, w)
		}
	}
	same("StatefulSet", sts, want)
	same("Service", svc, wantSvc)
	if cms[0].Name != wantCM.Name || !reflect.DeepEqual(cms[0].Labels, wantCM.Labels) {
		t.Errorf("ConfigMap %s %v, want %s %v", cms[0].Name, cms[0].Labels, wantCM.Name, wantCM.Labels)
	}
	if !reflect.DeepEqual(cms[0].Data, likeCM.Data) {
		t.Errorf("ConfigMap data %v, want the template's %v", cms[0].Data, likeCM.Data)
	}
}

func TestCloneNodeZoneAndBoundaries(t *testing.T) {
	like, svc, cm := nodeObjects(t, 12, "axonserver-1")
	like.UID, like.ResourceVersion = "u", "7"
	like.Annotations = map[string]string{"kubectl-axon.io/operation": "x", "keep": "axonserver-12 axonserver-1"}
	sts, _, _, err := cloneNode(like, svc, []*corev1.ConfigMap{cm}, "axonserver-1", "axonserver-13", "zone-c", "m")
	if err != nil {
		t.Fatal(err)
	}
	if sts.UID != "" || sts.ResourceVersion != "" || sts.Annotations["kubectl-axon.io/operation"] != "" {
		t.Errorf("server fields or kubectl axon's annotations kept: %+v", sts.ObjectMeta)
	}
	if got := sts.Annotations["keep"]; got != "axonserver-12 axonserver-13" {
		t.Errorf("whole words only: %q", got)
	}
	terms := sts.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || terms[0].MatchExpressions[0].Key != discovery.ZoneLabel || terms[0].MatchExpressions[0].Values[0] != "zone-c" {
		t.Errorf("zone affinity: %+v", terms)
	}
	if like.Spec.Template.Spec.Affinity != nil && like.Spec.Template.Spec.Affinity.NodeAffinity != nil &&
		like.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		t.Error("the template was changed")
	}
	if _, _, _, err := cloneNode(like, nil, nil, "axonserver-2", "x-1", "", "m"); err == nil {
		t.Error("a template StatefulSet not named after the node: want an error")
	}
}
