package podconfig

import (
	"errors"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	first    = "axoniq.axonserver.autocluster.first"
	firstEnv = "AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST"
)

func TestEnvNames(t *testing.T) {
	for _, tc := range []struct {
		property string
		want     []string
	}{
		{first, []string{firstEnv}},
		{"axoniq.axonserver.internal-hostname", []string{"AXONIQ_AXONSERVER_INTERNALHOSTNAME", "AXONIQ_AXONSERVER_INTERNAL_HOSTNAME"}},
		{"axoniq.axonserver.replication.min-active-backups", []string{"AXONIQ_AXONSERVER_REPLICATION_MINACTIVEBACKUPS", "AXONIQ_AXONSERVER_REPLICATION_MIN_ACTIVE_BACKUPS"}},
	} {
		if got := EnvNames(tc.property); !slices.Equal(got, tc.want) {
			t.Errorf("EnvNames(%q) = %q; want %q", tc.property, got, tc.want)
		}
	}
}

func TestFind(t *testing.T) {
	cms := map[string]*corev1.ConfigMap{
		"axonserver-1-autocluster": {ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1-autocluster"}, Data: map[string]string{"first": " axonserver-1.axon.svc.cluster.local:8224 "}},
		"axonserver-config": {ObjectMeta: metav1.ObjectMeta{Name: "axonserver-config"}, Data: map[string]string{
			"axonserver.properties": "# cluster\naxoniq.axonserver.autocluster.first = axonserver-1.axon.svc.cluster.local\naxoniq.axonserver.autocluster.contexts=_admin,default\naxoniq.axonserver.internal-hostname=from-b\n",
			"a.properties":          "axoniq.axonserver.internal-hostname=from-a\n",
			"logback.xml":           "axoniq.axonserver.accesscontrol.enabled=true\n"}},
		"other-config": {ObjectMeta: metav1.ObjectMeta{Name: "other-config"}, Data: map[string]string{
			"axonserver.properties": "axoniq.axonserver.autocluster.first=axonserver-9\naxoniq.axonserver.accesscontrol.enabled=true\n"}},
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
	cmVol := func(vol, cm string) corev1.Volume {
		return corev1.Volume{Name: vol, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}
	}
	vols := []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		cmVol("gone", "missing-config"),
		cmVol("config", "axonserver-config"),
		cmVol("other", "other-config"),
	}
	mount := []corev1.VolumeMount{{Name: "data", MountPath: "/axonserver/data"}, {Name: "gone", MountPath: "/gone"}, {Name: "config", MountPath: "/axonserver/config"}}
	env := func(e ...corev1.EnvVar) corev1.Container { return corev1.Container{Env: e, VolumeMounts: mount} }
	tests := []struct {
		name     string
		ct       corev1.Container
		property string
		found    bool
		want     Setting
	}{
		{"env from a ConfigMap key (generate's layout)", env(corev1.EnvVar{Name: firstEnv, ValueFrom: ref("axonserver-1-autocluster", "first")}), first,
			true, Setting{Value: "axonserver-1.axon.svc.cluster.local:8224", Env: firstEnv, ConfigMap: "axonserver-1-autocluster", Key: "first"}},
		{"a properties file of the mounted ConfigMap", env(), first,
			true, Setting{Value: "axonserver-1.axon.svc.cluster.local", ConfigMap: "axonserver-config", File: "axonserver.properties"}},
		{"the environment wins over the file", env(corev1.EnvVar{Name: firstEnv, Value: " axonserver-2 "}), first,
			true, Setting{Value: "axonserver-2", Env: firstEnv, Fixed: "a literal value of env AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST in the pod template"}},
		{"a literal empty value sets it", env(corev1.EnvVar{Name: firstEnv}), first,
			true, Setting{Env: firstEnv, Fixed: "a literal value of env AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST in the pod template"}},
		{"a Secret sets it, unreadable", env(corev1.EnvVar{Name: firstEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{}}}), first,
			true, Setting{Env: firstEnv, Fixed: "env AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST from a source other than a ConfigMap", Unreadable: true}},
		{"a missing ConfigMap sets it, unreadable", env(corev1.EnvVar{Name: firstEnv, ValueFrom: ref("gone", "first")}), first,
			true, Setting{Env: firstEnv, Fixed: "env AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST from ConfigMap gone, which cannot be read: not found", Unreadable: true}},
		{"an absent key sets nothing: the file", env(corev1.EnvVar{Name: firstEnv, ValueFrom: ref("axonserver-1-autocluster", "nope")}), first,
			true, Setting{Value: "axonserver-1.axon.svc.cluster.local", ConfigMap: "axonserver-config", File: "axonserver.properties"}},
		{"the canonical env name before the legacy one", env(
			corev1.EnvVar{Name: "AXONIQ_AXONSERVER_INTERNAL_HOSTNAME", Value: "legacy"},
			corev1.EnvVar{Name: "AXONIQ_AXONSERVER_INTERNALHOSTNAME", Value: "canonical"}), "axoniq.axonserver.internal-hostname",
			true, Setting{Value: "canonical", Env: "AXONIQ_AXONSERVER_INTERNALHOSTNAME", Fixed: "a literal value of env AXONIQ_AXONSERVER_INTERNALHOSTNAME in the pod template"}},
		{"the legacy env name", env(corev1.EnvVar{Name: "AXONIQ_AXONSERVER_INTERNAL_HOSTNAME", Value: "legacy"}), "axoniq.axonserver.internal-hostname",
			true, Setting{Value: "legacy", Env: "AXONIQ_AXONSERVER_INTERNAL_HOSTNAME", Fixed: "a literal value of env AXONIQ_AXONSERVER_INTERNAL_HOSTNAME in the pod template"}},
		{"files by name", env(), "axoniq.axonserver.internal-hostname",
			true, Setting{Value: "from-a", ConfigMap: "axonserver-config", File: "a.properties"}},
		{"only *.properties files", env(), "axoniq.axonserver.accesscontrol.enabled", false, Setting{}},
		{"not set", env(), "axoniq.axonserver.name", false, Setting{}},
		{"a ConfigMap not mounted in the container is not read", corev1.Container{Env: []corev1.EnvVar{{Name: "OTHER", Value: "x"}}}, first, false, Setting{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, found := Find(tc.ct, vols, get, tc.property)
			if found != tc.found || got != tc.want {
				t.Errorf("Find = %+v, %v; want %+v, %v", got, found, tc.want, tc.found)
			}
		})
	}
}

func TestWhere(t *testing.T) {
	for _, tc := range []struct {
		s    Setting
		want string
	}{
		{Setting{Env: firstEnv, ConfigMap: "axonserver-1-autocluster", Key: "first"}, "ConfigMap axonserver-1-autocluster, key first (env AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST)"},
		{Setting{ConfigMap: "axonserver-1-autocluster", Key: "first"}, "ConfigMap axonserver-1-autocluster, key first"},
		{Setting{ConfigMap: "axonserver-config", File: "axonserver.properties"}, "ConfigMap axonserver-config, file axonserver.properties"},
		{Setting{Env: firstEnv, Fixed: "a literal value of env X in the pod template"}, "a literal value of env X in the pod template"},
	} {
		if got := tc.s.Where(); got != tc.want {
			t.Errorf("%+v.Where() = %q; want %q", tc.s, got, tc.want)
		}
	}
}

func TestPropertyValue(t *testing.T) {
	const text = "# c\n! c\na.b = 1\nc: two\nd=\n  e.f=x=y  \n=nokey\n# g=3\n" + first + " = n1.axon:8224\n" + first + "=second\n"
	for _, tc := range []struct {
		key, want string
		found     bool
	}{
		{"a.b", "1", true},
		{"c", "two", true},
		{"d", "", true},
		{"e.f", "x=y", true},
		{first, "n1.axon:8224", true}, // the first line that sets it
		{"g", "", false},              // commented out
		{"e", "", false},
		{"", "", false},
	} {
		if v, ok := PropertyValue(text, tc.key); ok != tc.found || v != tc.want {
			t.Errorf("PropertyValue(%q) = %q, %v; want %q, %v", tc.key, v, ok, tc.want, tc.found)
		}
	}
}

func TestReplaceProperty(t *testing.T) {
	const text = "a=1\naxoniq.axonserver.autocluster.first = n1.axon:8224\nb=2"
	for _, tc := range []struct {
		name, key, from, value string
		want                   string
		ok                     bool
	}{
		{"the expected value", first, "n1.axon:8224", "n2.axon:8224", "a=1\naxoniq.axonserver.autocluster.first=n2.axon:8224\nb=2", true},
		{"another value is left", first, "n3", "n2", text, false},
		{"an absent key is not added", "c", "", "3", text, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ReplaceProperty(text, tc.key, tc.from, tc.value)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ReplaceProperty = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
			if v, found := PropertyValue(got, tc.key); tc.ok && (!found || v != tc.value) {
				t.Errorf("PropertyValue after = %q, %v", v, found)
			}
		})
	}
}
