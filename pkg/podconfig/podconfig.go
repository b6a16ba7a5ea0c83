// Package podconfig reads one thing from a pod template: where a container takes an
// Axon Server (Spring) property from, and what it sets it to. It follows what the
// kubelet and Spring do when the container starts: the container's environment
// first, by Spring's relaxed names of the property (a literal value, or a key of a
// ConfigMap), then the *.properties files of the ConfigMaps mounted in the
// container. A property set from a source that cannot be read is still set: Find
// says so rather than fall through to the files.
//
// It reads pod templates and ConfigMaps only. What a running server says it uses
// (its /actuator/env) is axonserver.Env.Property.
package podconfig

import (
	"bufio"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// EnvNames are the environment variables Spring's relaxed binding maps to a
// property, in the order Spring tries them: dots to underscores, upper case, dashes
// dropped (or, the legacy form, turned into underscores).
func EnvNames(property string) []string {
	up := strings.ToUpper(strings.ReplaceAll(property, ".", "_"))
	names := []string{strings.ReplaceAll(up, "-", "")}
	if strings.Contains(up, "-") {
		names = append(names, strings.ReplaceAll(up, "-", "_"))
	}
	return names
}

// Setting is where a container takes a property from, and its value.
type Setting struct {
	Value string `json:"value"`
	// Env is the environment variable that sets it ("" for a properties file).
	Env string `json:"env,omitempty"`
	// ConfigMap holds it: under Key (an env var's configMapKeyRef) or in the
	// properties file File of a ConfigMap mounted in the container.
	ConfigMap string `json:"configMap,omitempty"`
	Key       string `json:"key,omitempty"`
	File      string `json:"file,omitempty"`
	// Fixed says why the setting is not in a ConfigMap that can be changed ("" when
	// it is): a literal env value of the pod template, or a source that cannot be
	// read.
	Fixed string `json:"-"`
	// Unreadable: the property is set, but from a source that cannot be read (a
	// Secret, a field of the pod, a ConfigMap that cannot be read). Value is empty
	// and Fixed says which.
	Unreadable bool `json:"-"`
}

// Where names the source in a few words.
func (s Setting) Where() string {
	switch {
	case s.Key != "":
		w := fmt.Sprintf("ConfigMap %s, key %s", s.ConfigMap, s.Key)
		if s.Env != "" {
			w += " (env " + s.Env + ")"
		}
		return w
	case s.File != "":
		return fmt.Sprintf("ConfigMap %s, file %s", s.ConfigMap, s.File)
	}
	return s.Fixed
}

// Find reads what container ct sets property to, as the kubelet and Spring would:
// the environment (a literal value, or a ConfigMap key) before the *.properties
// files of the ConfigMaps among vols that ct mounts (in the order of vols, files by
// name). configMap reads a ConfigMap of the pod's namespace. ok is false when
// nothing sets the property; an env var whose source cannot be read sets it, to a
// value unknown (Setting.Unreadable).
func Find(ct corev1.Container, vols []corev1.Volume, configMap func(name string) (*corev1.ConfigMap, error), property string) (Setting, bool) {
	for _, name := range EnvNames(property) {
		for _, e := range ct.Env {
			if e.Name != name {
				continue
			}
			switch ref := e.ValueFrom; {
			case ref == nil:
				return Setting{Value: strings.TrimSpace(e.Value), Env: e.Name, Fixed: "a literal value of env " + e.Name + " in the pod template"}, true
			case ref.ConfigMapKeyRef != nil:
				cmName, key := ref.ConfigMapKeyRef.Name, ref.ConfigMapKeyRef.Key
				cm, err := configMap(cmName)
				if err != nil {
					return Setting{Env: e.Name, Fixed: fmt.Sprintf("env %s from ConfigMap %s, which cannot be read: %v", e.Name, cmName, err), Unreadable: true}, true
				}
				v, ok := cm.Data[key]
				if !ok {
					continue // an optional key that is absent sets nothing
				}
				return Setting{Value: strings.TrimSpace(v), Env: e.Name, ConfigMap: cmName, Key: key}, true
			default:
				return Setting{Env: e.Name, Fixed: "env " + e.Name + " from a source other than a ConfigMap", Unreadable: true}, true
			}
		}
	}
	mounted := map[string]bool{}
	for _, m := range ct.VolumeMounts {
		mounted[m.Name] = true
	}
	for _, v := range vols {
		if v.ConfigMap == nil || !mounted[v.Name] {
			continue
		}
		cm, err := configMap(v.ConfigMap.Name)
		if err != nil {
			continue
		}
		for _, file := range slices.Sorted(maps.Keys(cm.Data)) {
			if !strings.HasSuffix(file, ".properties") {
				continue
			}
			if val, ok := PropertyValue(cm.Data[file], property); ok {
				return Setting{Value: val, ConfigMap: v.ConfigMap.Name, File: file}, true
			}
		}
	}
	return Setting{}, false
}

// PropertyValue is key's value in a Java properties text (key=value or key: value
// lines; no continuation lines).
func PropertyValue(text, key string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if k, v, ok := propertyLine(sc.Text()); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// ReplaceProperty sets key to value in text where it is from; ok is false when the
// text does not hold key=from.
func ReplaceProperty(text, key, from, value string) (string, bool) {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if k, v, ok := propertyLine(l); ok && k == key {
			if v != from {
				return text, false
			}
			lines[i] = key + "=" + value
			return strings.Join(lines, "\n"), true
		}
	}
	return text, false
}

func propertyLine(l string) (key, value string, ok bool) {
	l = strings.TrimSpace(l)
	if l == "" || l[0] == '#' || l[0] == '!' {
		return "", "", false
	}
	i := strings.IndexAny(l, "=:")
	if i <= 0 {
		return "", "", false
	}
	return strings.TrimSpace(l[:i]), strings.TrimSpace(l[i+1:]), true
}
