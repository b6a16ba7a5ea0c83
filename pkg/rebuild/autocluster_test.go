package rebuild

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFindFirst(t *testing.T) {
	cms := map[string]*corev1.ConfigMap{
		"axonserver-1-autocluster": {ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1-autocluster"}, Data: map[string]string{"first": " axonserver-1.axon.svc.cluster.local:8224 "}},
		"axonserver-config": {ObjectMeta: metav1.ObjectMeta{Name: "axonserver-config"}, Data: map[string]string{
			"axonserver.properties": "# cluster\naxoniq.axonserver.autocluster.first = axonserver-1.axon.svc.cluster.local\naxoniq.axonserver.autocluster.contexts=_admin,default\n"}},
	}
	get := func(n string) (*corev1.ConfigMap, error) {
		if cm, ok := cms[n]; ok {
			return cm, nil
		}
		return nil, errors.New("not found")
	}
	ref := func(name, key string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}}
	}
	vols := []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "axonserver-config"}}}}}
	mount := []corev1.VolumeMount{{Name: "config", MountPath: "/axonserver/config"}}
	tests := []struct {
		name  string
		ct    corev1.Container
		found bool
		want  FirstSetting
	}{
		{"env from a ConfigMap key (generate's layout)", corev1.Container{Env: []corev1.EnvVar{{Name: AutoclusterFirstEnv, ValueFrom: ref("axonserver-1-autocluster", "first")}}, VolumeMounts: mount},
			true, FirstSetting{Value: "axonserver-1.axon.svc.cluster.local:8224", ConfigMap: "axonserver-1-autocluster", Key: "first"}},
		{"a properties file of the mounted ConfigMap", corev1.Container{VolumeMounts: mount},
			true, FirstSetting{Value: "axonserver-1.axon.svc.cluster.local", ConfigMap: "axonserver-config", File: "axonserver.properties"}},
		{"the environment wins over the file", corev1.Container{Env: []corev1.EnvVar{{Name: AutoclusterFirstEnv, Value: "axonserver-2"}}, VolumeMounts: mount},
			true, FirstSetting{Value: "axonserver-2", Fixed: "a literal value of env AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST in the pod template"}},
		{"a Secret", corev1.Container{Env: []corev1.EnvVar{{Name: AutoclusterFirstEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{}}}}},
			true, FirstSetting{Fixed: "env AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST from a source other than a ConfigMap"}},
		{"a missing ConfigMap", corev1.Container{Env: []corev1.EnvVar{{Name: AutoclusterFirstEnv, ValueFrom: ref("gone", "first")}}},
			true, FirstSetting{Fixed: "env AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST from ConfigMap gone, which cannot be read: not found"}},
		{"not set", corev1.Container{}, false, FirstSetting{}},
		{"a ConfigMap not mounted is not read", corev1.Container{Env: []corev1.EnvVar{{Name: "OTHER", Value: "x"}}}, false, FirstSetting{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := vols
			got, found := FindFirst(tc.ct, v, get)
			if found != tc.found || got != tc.want {
				t.Errorf("FindFirst = %+v, %v; want %+v, %v", got, found, tc.want, tc.found)
			}
		})
	}
}

func TestNamesNode(t *testing.T) {
	for _, tc := range []struct {
		first, node, internal string
		want                  bool
	}{
		{"axonserver-1.axon.svc.cluster.local:8224", "axonserver-1", "", true},
		{"axonserver-1", "axonserver-1", "", true},
		{"AXONSERVER-1.axon.svc.cluster.local", "axonserver-1", "", true},
		{"axonserver-2.axon.svc.cluster.local:8224", "axonserver-1", "", false},
		{"axonserver-10.axon.svc.cluster.local", "axonserver-1", "", false},
		{"as1.example.com:8224", "axonserver-1", "as1.example.com", true},
		{"", "axonserver-1", "", false},
	} {
		if got := NamesNode(tc.first, tc.node, tc.internal); got != tc.want {
			t.Errorf("NamesNode(%q, %q, %q) = %v", tc.first, tc.node, tc.internal, got)
		}
	}
}

func TestReplaceProperty(t *testing.T) {
	text := "a=1\naxoniq.axonserver.autocluster.first = n1.axon:8224\nb=2"
	got, ok := replaceProperty(text, AutoclusterFirstProperty, "n1.axon:8224", "n2.axon:8224")
	if !ok || got != "a=1\naxoniq.axonserver.autocluster.first=n2.axon:8224\nb=2" {
		t.Errorf("replaceProperty = %q, %v", got, ok)
	}
	if _, ok := replaceProperty(text, AutoclusterFirstProperty, "n3", "n2"); ok {
		t.Error("replaced a value that was not the expected one")
	}
	if v, ok := propertyValue(got, AutoclusterFirstProperty); !ok || v != "n2.axon:8224" {
		t.Errorf("propertyValue = %q, %v", v, ok)
	}
}

func TestRepoint(t *testing.T) {
	for _, tc := range []struct{ original, want string }{
		{"axonserver-1.axon.svc.cluster.local:8224", "axonserver-2.axon.svc.cluster.local:8224"},
		{"axonserver-1.axon.svc.cluster.local", "axonserver-2.axon.svc.cluster.local"},
		{"axonserver-1", "axonserver-2"},
		{"axonserver-1:8224", "axonserver-2:8224"},
		{"as1.example.com:8224", "axonserver-2-0.axonserver-2.axon.svc:8224"},
	} {
		if got := Repoint(tc.original, "axonserver-1", "axonserver-2", "axonserver-2-0.axonserver-2.axon.svc:8224"); got != tc.want {
			t.Errorf("Repoint(%q) = %q; want %q", tc.original, got, tc.want)
		}
	}
}
