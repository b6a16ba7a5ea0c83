package rebuild

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/podconfig"
)

// Axon Server's autocluster (EE init/AutoCluster): a node whose internal address is
// axoniq.axonserver.autocluster.first and whose control DB is empty initialises a NEW
// cluster (_admin and the autocluster contexts). Rebuilt on an empty volume with that
// setting unchanged, the node would split the cluster in two. So a --fresh-volume
// rebuild of that node first points its autocluster.first at a healthy member (it then
// registers with the cluster like any other new node), and restores the setting once
// the node is back in its groups. This works where the setting lives in a ConfigMap
// (an env var taken from a ConfigMap key, or a properties file of a mounted
// ConfigMap); anywhere else the rebuild is refused.

// AutoclusterFirstProperty is the setting.
const AutoclusterFirstProperty = "axoniq.axonserver.autocluster.first"

// NamesNode says whether an autocluster.first value (host[:port]) names node: its
// host is the node's internal host name, or starts with the node's name as the first
// DNS label (<node>.<domain>, as generate and AxonIQ's examples write it).
func NamesNode(first, node, internalHost string) bool {
	host := strings.TrimSpace(first)
	if i := strings.LastIndex(host, ":"); i >= 0 {
		host = host[:i]
	}
	if host == "" {
		return false
	}
	label, _, _ := strings.Cut(host, ".")
	return strings.EqualFold(host, internalHost) || strings.EqualFold(label, node)
}

// Repoint is the autocluster.first value naming peer instead of node, in the form
// the original has: "<node>.<domain>[:port]" becomes "<peer>.<domain>[:port]" (the
// per-node Service name, as generate and AxonIQ's examples write it); any other form
// is replaced by the peer's internal address.
func Repoint(original, node, peer, peerInternal string) string {
	v := strings.TrimSpace(original)
	label, rest, _ := strings.Cut(v, ".")
	if host, port, found := strings.Cut(label, ":"); found && strings.EqualFold(host, node) {
		return peer + ":" + port
	}
	if strings.EqualFold(label, node) {
		if rest == "" {
			return peer
		}
		return peer + "." + rest
	}
	return peerInternal
}

// AutoclusterChange is a repointed autocluster.first, recorded in the State so that a
// rerun restores it.
type AutoclusterChange struct {
	// Setting is where the node's container takes autocluster.first from.
	podconfig.Setting
	// Original is the value before the rebuild; Temporary the healthy member's
	// internal address the rebuild set.
	Original  string `json:"original"`
	Temporary string `json:"temporary"`
}

// setFirst writes value into the setting's ConfigMap (the key, or the property line
// of the file), with the ConfigMap's resourceVersion as a precondition.
func (e *Env) setFirst(ctx context.Context, s podconfig.Setting, from, value string) error {
	cms := e.Kube.CoreV1().ConfigMaps(e.Namespace)
	cm, err := cms.Get(ctx, s.ConfigMap, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading ConfigMap %s: %w", s.ConfigMap, err)
	}
	data := map[string]string{}
	switch {
	case s.Key != "":
		if strings.TrimSpace(cm.Data[s.Key]) != from {
			return nil // changed already (a rerun), or by someone else: leave it
		}
		data[s.Key] = value
	default:
		text, ok := podconfig.ReplaceProperty(cm.Data[s.File], AutoclusterFirstProperty, from, value)
		if !ok {
			return nil
		}
		data[s.File] = text
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": cm.ResourceVersion}, "data": data})
	_, err = cms.Patch(ctx, s.ConfigMap, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("patching ConfigMap %s: %w (kubectl axon needs patch on configmaps: docs/rbac.yaml)", s.ConfigMap, err)
	}
	return err
}

// repointFirst is the step before a --fresh-volume rebuild of node: when node is its
// own autocluster.first, point the setting at a healthy member for the rebuild and
// record it in st (the caller saves it). A setting that cannot be changed is a
// refusal (exit 3), before anything changed.
func (e *Env) repointFirst(ctx context.Context, m discovery.Member, st *State) error {
	if st.Autocluster != nil {
		return e.setFirst(ctx, st.Autocluster.Setting, st.Autocluster.Original, st.Autocluster.Temporary)
	}
	ct := ContainerOf(m)
	if ct == nil {
		return nil
	}
	s, ok := podconfig.Find(*ct, m.StatefulSet.Spec.Template.Spec.Volumes, func(name string) (*corev1.ConfigMap, error) {
		return e.Kube.CoreV1().ConfigMaps(e.Namespace).Get(ctx, name, metav1.GetOptions{})
	}, AutoclusterFirstProperty)
	if !ok {
		return nil
	}
	peer, _, err := e.peer(ctx, m.NodeName)
	if err != nil {
		return err
	}
	self := ""
	if cn, err := peer.ClusterNode(ctx, m.NodeName); err == nil {
		self = cn.InternalHostName
	}
	if s.Unreadable {
		return cli.Refusedf("cannot tell whether %s is its own autocluster.first (%s): rebuilt on an empty volume it could start a second cluster; make the setting readable (a ConfigMap) and rerun", m.NodeName, s.Fixed)
	}
	if !NamesNode(s.Value, m.NodeName, self) {
		return nil
	}
	if s.Fixed != "" {
		return cli.Refusedf("%s is its own autocluster.first (%s, %s): rebuilt on an empty volume it would start a second cluster, and kubectl axon changes that setting only in a ConfigMap; point it at another node (kubectl axon doctor shows how) and rerun", m.NodeName, s.Value, s.Fixed)
	}
	target, err := peer.ClusterNode(ctx, peer.Node())
	if err != nil {
		return fmt.Errorf("reading the internal address of %s: %w", peer.Node(), err)
	}
	temp := Repoint(s.Value, m.NodeName, peer.Node(), fmt.Sprintf("%s:%d", target.InternalHostName, target.InternalGrpcPort))
	st.Autocluster = &AutoclusterChange{Setting: s, Original: s.Value, Temporary: temp}
	if err := e.Save(ctx, m.StatefulSet.Name, *st); err != nil {
		return err
	}
	if err := e.setFirst(ctx, s, s.Value, temp); err != nil {
		return err
	}
	e.emit(m.NodeName, "autocluster-repointed", fmt.Sprintf("%s is its own autocluster.first: %s now names %s (%s) for the rebuild, so the new node joins this cluster instead of starting one", m.NodeName, s.Where(), peer.Node(), temp), false, st.Autocluster)
	return nil
}

// restoreFirst puts the recorded autocluster.first back once the node is back in its
// groups (its control DB is no longer empty: the setting no longer matters to it).
func (e *Env) restoreFirst(ctx context.Context, node string, st *State) error {
	a := st.Autocluster
	if a == nil {
		return nil
	}
	if err := e.setFirst(ctx, a.Setting, a.Temporary, a.Original); err != nil {
		return err
	}
	e.emit(node, "autocluster-restored", fmt.Sprintf("%s: autocluster.first is %s again", a.Where(), a.Original), false, a)
	return nil
}

// ownCluster says why the node at c runs a cluster of its own ("" when it does not):
// it holds contexts (a node that has not joined yet holds none), yet its /v1/public
// lists none of the other nodes.
func ownCluster(ctx context.Context, c *axonserver.Client, node string, others []string) string {
	if len(others) == 0 {
		return ""
	}
	me, err := c.Me(ctx)
	if err != nil || len(me.ContextNames) == 0 && !me.AdminNode {
		return ""
	}
	pub, err := c.Public(ctx)
	if err != nil {
		return ""
	}
	for _, p := range pub {
		for _, o := range others {
			if p.Name == o {
				return ""
			}
		}
	}
	return fmt.Sprintf("%s runs a cluster of its own: its /v1/public lists none of %s (autocluster.first on an empty volume initialised a new cluster). Stop it (kubectl scale statefulset %s --replicas=0), make autocluster.first name another node, delete its PVCs and rerun",
		node, strings.Join(others, ", "), node)
}

// ContainerOf is the Axon Server container of m's pod template (the one discovery
// named, else the first).
func ContainerOf(m discovery.Member) *corev1.Container {
	cs := m.StatefulSet.Spec.Template.Spec.Containers
	for i := range cs {
		if cs[i].Name == m.Container {
			return &cs[i]
		}
	}
	if len(cs) > 0 {
		return &cs[0]
	}
	return nil
}
