package agent

import (
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestAutoclusterFor: the container's autocluster settings as Axon Server reads
// them (environment, literal or from a ConfigMap key, before the mounted
// properties), mapped to axonsim's node names.
func TestAutoclusterFor(t *testing.T) {
	cms := map[string]*corev1.ConfigMap{
		"axonserver-1-autocluster": {Data: map[string]string{"first": "axonserver-2.axon.svc.cluster.local"}},
		"props":                    {Data: map[string]string{"axonserver.properties": "# x\naxoniq.axonserver.autocluster.first=axonserver-1.axon.svc.cluster.local:8224\naxoniq.axonserver.autocluster.contexts=_admin, default\n"}},
	}
	get := func(name string) (*corev1.ConfigMap, error) {
		if cm := cms[name]; cm != nil {
			return cm, nil
		}
		return nil, errors.New("not found")
	}
	fromCM := func(name string) corev1.EnvVar {
		return corev1.EnvVar{Name: autoclusterFirstEnv, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "first"}}}
	}
	mounted := corev1.PodSpec{Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "props"}}}}}}
	mount := []corev1.VolumeMount{{Name: "config", MountPath: "/axonserver/config"}}
	for _, c := range []struct {
		name string
		ct   corev1.Container
		spec corev1.PodSpec
		want string // fmt of the result, or "error"
	}{
		{"none", corev1.Container{}, corev1.PodSpec{}, "<nil>"},
		{"properties", corev1.Container{VolumeMounts: mount}, mounted, "&{axonserver-1 [_admin default]}"},
		{"env from configmap over properties", corev1.Container{VolumeMounts: mount, Env: []corev1.EnvVar{fromCM("axonserver-1-autocluster")}}, mounted, "&{axonserver-2 [_admin default]}"},
		{"literal env", corev1.Container{Env: []corev1.EnvVar{{Name: autoclusterFirstEnv, Value: "axonserver-3"}, {Name: autoclusterContextsEnv, Value: "default"}}}, corev1.PodSpec{}, "&{axonserver-3 [default]}"},
		{"missing configmap", corev1.Container{Env: []corev1.EnvVar{fromCM("gone")}}, corev1.PodSpec{}, "error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := autoclusterFor(c.ct, c.spec, get)
			got := fmt.Sprint(a)
			if err != nil {
				got = "error"
			}
			if got != c.want {
				t.Errorf("got %s (%v), want %s", got, err, c.want)
			}
		})
	}
}
