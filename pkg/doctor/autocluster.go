package doctor

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/podconfig"
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

// property is what m's container ct sets property to, and where (podconfig.Find,
// over the listed ConfigMaps).
func (c *ctx) property(m discovery.Member, ct *corev1.Container, property string) (podconfig.Setting, bool) {
	return podconfig.Find(*ct, m.StatefulSet.Spec.Template.Spec.Volumes, c.configMap, property)
}

// configMap is the listed ConfigMap name.
func (c *ctx) configMap(name string) (*corev1.ConfigMap, error) {
	for i := range c.ConfigMaps {
		if c.ConfigMaps[i].Name == name {
			return &c.ConfigMaps[i], nil
		}
	}
	return nil, fmt.Errorf("ConfigMap %s is not among those listed", name)
}

// firstSet is the value of the first of properties that m's container sets to a
// non-empty value ("" when none does). known is false when one of them is set
// before that from a source doctor cannot read: the value Axon Server uses is not
// known.
func (c *ctx) firstSet(m discovery.Member, ct *corev1.Container, properties ...string) (value string, known bool) {
	for _, p := range properties {
		s, ok := c.property(m, ct, p)
		switch {
		case ok && s.Unreadable:
			return "", false
		case ok && s.Value != "":
			return s.Value, true
		}
	}
	return "", true
}

// internalAddress is the host and internal port node m compares with
// autocluster.first; known is false when the pod template sets one of the
// properties they come from where doctor cannot read it.
func (c *ctx) internalAddress(m discovery.Member, ct *corev1.Container) (host string, port int, known bool) {
	host, hostKnown := c.firstSet(m, ct, "axoniq.axonserver.internal-hostname", "axoniq.axonserver.hostname")
	if host == "" {
		host = m.StatefulSet.Name + "-0" // the pod's host name
		if m.Pod != nil {
			host = m.Pod.Name
			if m.Pod.Spec.Hostname != "" {
				host = m.Pod.Spec.Hostname
			}
		}
	}
	domain, domainKnown := c.firstSet(m, ct, "axoniq.axonserver.internal-domain", "axoniq.axonserver.domain")
	if domain != "" {
		host += "." + domain
	}
	port = defaultInternalPort
	s, ok := c.property(m, ct, "axoniq.axonserver.internal-port")
	if ok {
		if n, err := strconv.Atoi(s.Value); err == nil {
			port = n
		}
	}
	return host, port, hostKnown && domainKnown && !s.Unreadable
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
		known      bool
	}
	var addrs []addr
	for _, m := range c.Members {
		if ct, _ := container(m); ct != nil {
			h, p, known := c.internalAddress(m, ct)
			addrs = append(addrs, addr{m.StatefulSet.Name, h, p, known})
		}
	}
	// The fix names the first other node whose address doctor can read.
	sort.Slice(addrs, func(i, j int) bool {
		if addrs[i].known != addrs[j].known {
			return addrs[i].known
		}
		return addrs[i].node < addrs[j].node
	})
	var out []Finding
	for _, m := range c.Members {
		ct, _ := container(m)
		if ct == nil {
			continue
		}
		first, ok := c.property(m, ct, AutoclusterFirstProperty)
		if !ok || first.Value == "" {
			continue // not set, or set where doctor cannot read it
		}
		host, port, known := c.internalAddress(m, ct)
		if !known {
			continue
		}
		fh, fp := splitFirst(first.Value)
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
		where := "its environment (" + first.Env + ")"
		switch {
		case first.Key != "":
			where = fmt.Sprintf("ConfigMap %s, key %s (%s)", first.ConfigMap, first.Key, first.Env)
		case first.ConfigMap != "":
			where = "the properties of ConfigMap " + first.ConfigMap
		}
		obj := stsObject(m)
		dir := dirOf(m, ct, dataPaths[1])
		if _, kind, _ := mountFor(m, ct, dir); kind != volClaimTemplate && kind != volClaim {
			out = append(out, finding(Error, "autocluster/self-first-ephemeral", obj,
				"a node that is its own autocluster.first creates a new cluster whenever its control DB is empty, and a control DB off a persistent volume is empty in every new pod",
				fix, "%s is autocluster.first (%s, from %s) and its control DB (%s) is not on a persistent volume claim: every new pod of it starts a second cluster",
				m.StatefulSet.Name, first.Value, where, dir))
			continue
		}
		out = append(out, finding(Warning, "autocluster/self-first", obj,
			"Axon Server's autocluster makes the node named by autocluster.first create a new cluster when its control DB is empty, so this node rebuilt on an empty volume (a lost disk, a deleted claim) would split the cluster in two",
			fix, "%s is its own autocluster.first (%s, from %s): on an empty data volume it starts a second cluster instead of rejoining this one",
			m.StatefulSet.Name, first.Value, where))
	}
	return out
}

// autoclusterFix points node m's autocluster.first at other, where the setting lives.
func (c *ctx) autoclusterFix(m discovery.Member, ct *corev1.Container, first podconfig.Setting, other string) string {
	if first.Key != "" {
		return fmt.Sprintf("once the cluster has formed, point it at another member; nothing restarts, the node reads it at its next start: `%s`",
			c.kubectl("patch", "configmap", first.ConfigMap, "--type=merge", "-p", fmt.Sprintf(`'{"data":{%q:%q}}'`, first.Key, other)))
	}
	env := podconfig.EnvNames(AutoclusterFirstProperty)[0]
	if first.Env != "" {
		env = first.Env
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"env":[{"name":%q,"value":%q}]}]}}}}`, ct.Name, env, other)
	how := "once the cluster has formed, give this node its own autocluster.first naming another member (the environment overrides axonserver.properties; this restarts the pod)"
	if first.ConfigMap == "" {
		how = "once the cluster has formed, point it at another member (this restarts the pod)"
	}
	return fmt.Sprintf("%s: `%s`; `kubectl axon generate` keeps it per node in ConfigMap <node>-autocluster, which changes without a restart", how, c.patchSTS(m.StatefulSet.Name, "strategic", patch))
}
