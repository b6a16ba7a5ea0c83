package agent

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Axon Server's autocluster settings, as a container carries them: in its
// environment (Spring's relaxed binding of axoniq.axonserver.autocluster.*), or in
// axonserver.properties from a ConfigMap mounted at /axonserver/config.
const (
	autoclusterFirstEnv    = "AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST"
	autoclusterContextsEnv = "AXONIQ_AXONSERVER_AUTOCLUSTER_CONTEXTS"
	autoclusterFirstProp   = "axoniq.axonserver.autocluster.first"
	autoclusterCtxProp     = "axoniq.axonserver.autocluster.contexts"
	configDir              = "/axonserver/config"
)

// configMapGetter reads a ConfigMap of the pod's namespace.
type configMapGetter func(name string) (*corev1.ConfigMap, error)

// autoclusterFor maps a container's autocluster settings to axonsim's, read as the
// kubelet and Axon Server read them when the container starts: the environment
// (a value, or a ConfigMap key) before the properties file. axonsim names nodes,
// Axon Server hosts: autocluster.first "axonserver-2.axon.svc.cluster.local:8224"
// is node axonserver-2. nil means the container sets none (the topology's apply).
func autoclusterFor(ct corev1.Container, spec corev1.PodSpec, get configMapGetter) (*axonsim.Autocluster, error) {
	var first, contexts string
	var haveFirst, haveContexts bool
	for _, e := range ct.Env {
		if e.Name != autoclusterFirstEnv && e.Name != autoclusterContextsEnv {
			continue
		}
		v := e.Value
		if ref := e.ValueFrom; ref != nil {
			if ref.ConfigMapKeyRef == nil {
				continue
			}
			cm, err := get(ref.ConfigMapKeyRef.Name)
			if err != nil {
				if ref.ConfigMapKeyRef.Optional != nil && *ref.ConfigMapKeyRef.Optional {
					continue
				}
				return nil, fmt.Errorf("%s: configmap %q: %w", e.Name, ref.ConfigMapKeyRef.Name, err)
			}
			var ok bool
			if v, ok = cm.Data[ref.ConfigMapKeyRef.Key]; !ok {
				if ref.ConfigMapKeyRef.Optional != nil && *ref.ConfigMapKeyRef.Optional {
					continue
				}
				return nil, fmt.Errorf("%s: configmap %q has no key %q", e.Name, ref.ConfigMapKeyRef.Name, ref.ConfigMapKeyRef.Key)
			}
		}
		if e.Name == autoclusterFirstEnv {
			first, haveFirst = v, true
		} else {
			contexts, haveContexts = v, true
		}
	}
	if !haveFirst || !haveContexts {
		if props := propertiesText(ct, spec, get); props != "" {
			if v, ok := property(props, autoclusterFirstProp); ok && !haveFirst {
				first, haveFirst = v, true
			}
			if v, ok := property(props, autoclusterCtxProp); ok && !haveContexts {
				contexts, haveContexts = v, true
			}
		}
	}
	if !haveFirst {
		return nil, nil
	}
	a := &axonsim.Autocluster{First: nodeOfHost(first)}
	for _, c := range strings.Split(contexts, ",") {
		if c = strings.TrimSpace(c); c != "" {
			a.Contexts = append(a.Contexts, c)
		}
	}
	return a, nil
}

// nodeOfHost is the node a host[:port] names: its first DNS label.
func nodeOfHost(host string) string {
	host = strings.TrimSpace(host)
	if i := strings.LastIndex(host, ":"); i >= 0 {
		host = host[:i]
	}
	name, _, _ := strings.Cut(host, ".")
	return name
}

// propertiesText is the *.properties text of the ConfigMap mounted at
// /axonserver/config, "" if none.
func propertiesText(ct corev1.Container, spec corev1.PodSpec, get configMapGetter) string {
	for _, m := range ct.VolumeMounts {
		if strings.TrimSuffix(m.MountPath, "/") != configDir {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm, err := get(v.ConfigMap.Name)
			if err != nil {
				return ""
			}
			var b strings.Builder
			for k, text := range cm.Data {
				if strings.HasSuffix(k, ".properties") {
					b.WriteString(text + "\n")
				}
			}
			return b.String()
		}
	}
	return ""
}

// property is key's value in a Java properties text (key=value or key: value).
func property(text, key string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == '!' {
			continue
		}
		if i := strings.IndexAny(l, "=:"); i > 0 && strings.TrimSpace(l[:i]) == key {
			return strings.TrimSpace(l[i+1:]), true
		}
	}
	return "", false
}

// autocluster is the autocluster configuration of the pod's container for the
// start about to happen; nil (the topology's) when it sets none or cannot be read.
func (r *podRun) autocluster() *axonsim.Autocluster {
	get := func(name string) (*corev1.ConfigMap, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return r.a.cs.CoreV1().ConfigMaps(r.ns).Get(ctx, name, metav1.GetOptions{})
	}
	a, err := autoclusterFor(r.container, r.spec, get)
	if err != nil {
		r.logf("autocluster settings: %v", err)
		return nil
	}
	return a
}

// storageProps are the Axon Server properties that decide where a node keeps its files.
var storageProps = []string{
	axonsim.PropEventStorage, axonsim.PropSnapshotStorage, axonsim.PropLogStorage,
	axonsim.PropControlDBPath, axonsim.PropControlDBBackup, axonsim.PropRecoveryFile,
}

// envName is Spring Boot's environment variable for a property: dots become underscores,
// dashes go, upper case (axoniq.axonserver.controldb-backup-location is
// AXONIQ_AXONSERVER_CONTROLDBBACKUPLOCATION).
func envName(prop string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.ReplaceAll(prop, ".", "_"), "-", ""))
}

// storagePropertiesFor reads the storage properties of a container as Axon Server does: the
// environment (a literal value) before axonserver.properties.
func storagePropertiesFor(ct corev1.Container, spec corev1.PodSpec, get configMapGetter) map[string]string {
	out := map[string]string{}
	props := propertiesText(ct, spec, get)
	for _, k := range storageProps {
		for _, e := range ct.Env {
			if e.Name == envName(k) && e.Value != "" {
				out[k] = e.Value
			}
		}
		if _, ok := out[k]; !ok {
			if v, ok := property(props, k); ok {
				out[k] = v
			}
		}
	}
	return out
}

// storageProperties are the pod's container's storage properties for the start about to
// happen.
func (r *podRun) storageProperties() map[string]string {
	get := func(name string) (*corev1.ConfigMap, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return r.a.cs.CoreV1().ConfigMaps(r.ns).Get(ctx, name, metav1.GetOptions{})
	}
	return storagePropertiesFor(r.container, r.spec, get)
}

// axonMounts are the container's volumes as the Axon node sees them: mountPath -> the
// pod's volume directory (volumes with a subPath, and ConfigMaps and Secrets, are left out:
// the node keeps no files there).
func (r *podRun) axonMounts() map[string]string {
	r.execMu.Lock()
	defer r.execMu.Unlock()
	out := map[string]string{}
	for _, m := range r.container.VolumeMounts {
		if dir := r.execVolumes[m.Name]; dir != "" && m.SubPath == "" {
			out[m.MountPath] = dir
		}
	}
	return out
}
