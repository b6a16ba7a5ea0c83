package harness

import (
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StoppedCopy is a cluster's objects as an operator lays them out in namespace dst
// before a restore: its ConfigMaps (host names moved from src to dst), Secrets,
// Services (no ClusterIP) and StatefulSets at replicas 0. get lists one resource of
// the cluster in src as JSON (kubectl get RES -l cluster=NAME -o json).
func StoppedCopy(src, dst string, get func(resource string) (string, error)) ([]any, []appsv1.StatefulSet, error) {
	rehost := func(v string) string { return strings.ReplaceAll(v, "."+src+".svc", "."+dst+".svc") }
	meta := func(o metav1.ObjectMeta) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: o.Name, Namespace: dst, Labels: o.Labels}
	}
	var (
		stss appsv1.StatefulSetList
		svcs corev1.ServiceList
		cms  corev1.ConfigMapList
		secs corev1.SecretList
	)
	for _, x := range []struct {
		res  string
		into any
	}{{"statefulsets", &stss}, {"services", &svcs}, {"configmaps", &cms}, {"secrets", &secs}} {
		out, err := get(x.res)
		if err != nil {
			return nil, nil, err
		}
		if err := json.Unmarshal([]byte(out), x.into); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", x.res, err)
		}
	}
	var items []any
	for _, x := range cms.Items {
		for k, v := range x.Data {
			x.Data[k] = rehost(v)
		}
		items = append(items, corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: meta(x.ObjectMeta), Data: x.Data})
	}
	for _, x := range secs.Items {
		items = append(items, corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: meta(x.ObjectMeta), Type: x.Type, Data: x.Data})
	}
	for _, x := range svcs.Items {
		if x.Spec.ClusterIP != corev1.ClusterIPNone {
			x.Spec.ClusterIP, x.Spec.ClusterIPs = "", nil
		}
		items = append(items, corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: meta(x.ObjectMeta), Spec: x.Spec})
	}
	for _, x := range stss.Items {
		x.Spec.Replicas = new(int32)
		items = append(items, appsv1.StatefulSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}, ObjectMeta: meta(x.ObjectMeta), Spec: x.Spec})
	}
	if len(stss.Items) == 0 {
		return nil, nil, fmt.Errorf("no StatefulSet of the cluster in %s", src)
	}
	return items, stss.Items, nil
}
