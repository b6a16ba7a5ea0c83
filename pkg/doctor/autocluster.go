package doctor

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
)

// Axon Server's autocluster (EE init/AutoCluster, from 4.3): at start, a node whose
// internal host name and internal port equal axoniq.axonserver.autocluster.first
// (host[:port], port 8224 when omitted) and whose control DB holds no replication
// group initialises a NEW cluster (_admin and the autocluster contexts); any other
// node with an empty control DB registers with that host. The host a node compares
// is its internal hostname (else its hostname, else the pod's host name), dot its
// internal domain (else its domain).
const (
	AutoclusterFirstProperty = "axoniq.axonserver.autocluster.first"
	defaultInternalPort      = 8224
)

// setting is one Axon Server property as the pod template sets it.
type setting struct {
	value string
	// where it comes from, for the fix: the container's env (a value), a ConfigMap
	// key the env names, or a properties file in a mounted ConfigMap.
	env          string // the env var, when it comes from the environment
	configMap    string // the ConfigMap holding it (env key reference or properties file)
	configMapKey string // the key, for an env reference
}

// envNames are the environment variables Spring's relaxed binding maps to a
// property: dots to underscores, upper case, dashes dropped (or, the legacy form,
// turned into underscores).
func envNames(property string) []string {
	up := strings.ToUpper(strings.ReplaceAll(property, ".", "_"))
	names := []string{strings.ReplaceAll(up, "-", "")}
	if strings.Contains(up, "-") {
		names = append(names, strings.ReplaceAll(up, "-", "_"))
	}
	return names
}

// property returns what m's pod template sets property to: the environment first
// (a value, or a key of a listed ConfigMap), then the *.properties files of the
// mounted ConfigMaps, as Spring resolves them.
func (c *ctx) property(m discovery.Member, ct *corev1.Container, property string) (setting, bool) {
	cms := map[string]*corev1.ConfigMap{}
	for i := range c.ConfigMaps {
		cms[c.ConfigMaps[i].Name] = &c.ConfigMaps[i]
	}
	for _, name := range envNames(property) {
		for _, e := range ct.Env {
			if e.Name != name {
				continue
			}
			if e.ValueFrom == nil {
				return setting{value: strings.TrimSpace(e.Value), env: e.Name}, true
			}
			if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil && cms[ref.Name] != nil {
				if v, ok := cms[ref.Name].Data[ref.Key]; ok {
					return setting{value: strings.TrimSpace(v), env: e.Name, configMap: ref.Name, configMapKey: ref.Key}, true
				}
			}
			return setting{}, false // set, but from where doctor cannot read
		}
	}
	vols := m.StatefulSet.Spec.Template.Spec.Volumes
	for _, v := range vols {
		if v.ConfigMap == nil || cms[v.ConfigMap.Name] == nil {
			continue
		}
		data := cms[v.ConfigMap.Name].Data
		for _, key := range sortedKeys(data) {
			if !strings.HasSuffix(key, ".properties") {
				continue
			}
			if val, found := Property(data[key], property); found {
				return setting{value: val, configMap: v.ConfigMap.Name}, true
			}
		}
	}
	return setting{}, false
}

// internalAddress is the host and internal port node m compares with
// autocluster.first.
func (c *ctx) internalAddress(m discovery.Member, ct *corev1.Container) (string, int) {
	host := ""
	for _, p := range []string{"axoniq.axonserver.internal-hostname", "axoniq.axonserver.hostname"} {
		if s, ok := c.property(m, ct, p); ok && s.value != "" {
			host = s.value
			break
		}
	}
	if host == "" {
		host = m.StatefulSet.Name + "-0" // the pod's host name
		if m.Pod != nil {
			host = m.Pod.Name
			if m.Pod.Spec.Hostname != "" {
				host = m.Pod.Spec.Hostname
			}
		}
	}
	for _, p := range []string{"axoniq.axonserver.internal-domain", "axoniq.axonserver.domain"} {
		if s, ok := c.property(m, ct, p); ok && s.value != "" {
			host += "." + s.value
			break
		}
	}
	port := defaultInternalPort
	if s, ok := c.property(m, ct, "axoniq.axonserver.internal-port"); ok {
		if n, err := strconv.Atoi(s.value); err == nil {
			port = n
		}
	}
	return host, port
}

// splitFirst splits autocluster.first into host and port as Axon Server does.
func splitFirst(v string) (string, int) {
	host, p, found := strings.Cut(strings.TrimSpace(v), ":")
	if !found {
		return host, defaultInternalPort
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return host, -1
	}
	return host, n
}

// checkAutocluster: in a cluster of two nodes or more, no node names itself as
// autocluster.first. Such a node, started on an empty data volume, creates a second
// cluster instead of rejoining its own.
func checkAutocluster(c *ctx) []Finding {
	if len(c.Members) < 2 {
		return nil
	}
	type addr struct {
		node, host string
		port       int
	}
	var addrs []addr
	for _, m := range c.Members {
		if ct, _ := container(m); ct != nil {
			h, p := c.internalAddress(m, ct)
			addrs = append(addrs, addr{m.StatefulSet.Name, h, p})
		}
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].node < addrs[j].node })
	var out []Finding
	for _, m := range c.Members {
		ct, _ := container(m)
		if ct == nil {
			continue
		}
		first, ok := c.property(m, ct, AutoclusterFirstProperty)
		if !ok || first.value == "" {
			continue
		}
		host, port := c.internalAddress(m, ct)
		fh, fp := splitFirst(first.value)
		if !strings.EqualFold(fh, host) || fp != port {
			continue
		}
		other := ""
		for _, a := range addrs {
			if a.node != m.StatefulSet.Name {
				other = a.host
				if a.port != defaultInternalPort {
					other += ":" + strconv.Itoa(a.port)
				}
				break
			}
		}
		fix := c.autoclusterFix(m, ct, first, other)
		where := "its environment (" + first.env + ")"
		switch {
		case first.configMapKey != "":
			where = fmt.Sprintf("ConfigMap %s, key %s (%s)", first.configMap, first.configMapKey, first.env)
		case first.configMap != "":
			where = "the properties of ConfigMap " + first.configMap
		}
		obj := stsObject(m)
		dir := dirOf(m, ct, dataPaths[1])
		if _, kind, _ := mountFor(m, ct, dir); kind != volClaimTemplate && kind != volClaim {
			out = append(out, finding(Error, "autocluster/self-first-ephemeral", obj,
				"a node that is its own autocluster.first creates a new cluster whenever its control DB is empty, and a control DB off a persistent volume is empty in every new pod",
				fix, "%s is autocluster.first (%s, from %s) and its control DB (%s) is not on a persistent volume claim: every new pod of it starts a second cluster",
				m.StatefulSet.Name, first.value, where, dir))
			continue
		}
		out = append(out, finding(Warning, "autocluster/self-first", obj,
			"Axon Server's autocluster makes the node named by autocluster.first create a new cluster when its control DB is empty, so this node rebuilt on an empty volume (a lost disk, a deleted claim) would split the cluster in two",
			fix, "%s is its own autocluster.first (%s, from %s): on an empty data volume it starts a second cluster instead of rejoining this one",
			m.StatefulSet.Name, first.value, where))
	}
	return out
}

// autoclusterFix points node m's autocluster.first at other, where the setting lives.
func (c *ctx) autoclusterFix(m discovery.Member, ct *corev1.Container, first setting, other string) string {
	if first.configMapKey != "" {
		return fmt.Sprintf("once the cluster has formed, point it at another member; nothing restarts, the node reads it at its next start: `%s`",
			c.kubectl("patch", "configmap", first.configMap, "--type=merge", "-p", fmt.Sprintf(`'{"data":{%q:%q}}'`, first.configMapKey, other)))
	}
	env := envNames(AutoclusterFirstProperty)[0]
	if first.env != "" {
		env = first.env
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"env":[{"name":%q,"value":%q}]}]}}}}`, ct.Name, env, other)
	how := "once the cluster has formed, give this node its own autocluster.first naming another member (the environment overrides axonserver.properties; this restarts the pod)"
	if first.configMap == "" {
		how = "once the cluster has formed, point it at another member (this restarts the pod)"
	}
	return fmt.Sprintf("%s: `%s`; `kubectl axon generate` keeps it per node in ConfigMap <node>-autocluster, which changes without a restart", how, c.patchSTS(m.StatefulSet.Name, "strategic", patch))
}
