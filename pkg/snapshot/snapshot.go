// Package snapshot takes one look at an Axon Server cluster from both sides, its
// StatefulSets and pods in Kubernetes and what every node's REST API says, and keeps
// it in the terms every command uses: the safety model (quorum) and the status report.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/status"
)

// Options say what to look at.
type Options struct {
	Query            discovery.Query
	Inspect          inspect.Options
	MinActiveBackups int
}

// Snapshot is one look at one cluster.
type Snapshot struct {
	Namespace string
	Cluster   string
	// Members are the cluster's StatefulSets with their pods (nil in Axon-only mode).
	Members  []discovery.Member
	Warnings []string
	Obs      *inspect.Observation
	// Model is the safety model's view: use it for CanStop and NodeHealth.
	Model  *inspect.Model
	Report *status.Report
	Taken  time.Time
}

// Quorum is the snapshot in the safety model's terms.
func (s *Snapshot) Quorum() quorum.Cluster { return s.Model.Cluster }

// Member returns the member named by Axon node name or StatefulSet name.
func (s *Snapshot) Member(name string) (discovery.Member, bool) {
	return discovery.Find(s.Members, name)
}

// Take looks at the one cluster the options select. Several clusters in the
// namespace without a choice is a usage error.
func Take(ctx context.Context, sess *connect.Session, o Options) (*Snapshot, error) {
	if sess.AxonOnly() {
		targets, err := sess.AxonOnlyTargets(ctx)
		if err != nil {
			return nil, err
		}
		return build(ctx, o, sess.AxonURL(), "", nil, nil, targets)
	}
	found, err := discovery.Discover(ctx, sess.Kube, o.Query)
	if err != nil {
		return nil, ExplainKube(err)
	}
	clusters := found.Clusters()
	if len(clusters) > 1 {
		names := make([]string, len(clusters))
		for i, c := range clusters {
			names[i] = c[1]
		}
		return nil, cli.Usagef("namespace %s holds several Axon Server clusters (%s): choose one with --axon-cluster", o.Query.Namespace, strings.Join(names, ", "))
	}
	return takeOne(ctx, sess, o, found, clusters[0][0], clusters[0][1])
}

// TakeAll looks at every cluster the query finds (with AllNamespaces: in every
// namespace). A cluster whose nodes refuse the token is still listed, as unhealthy.
func TakeAll(ctx context.Context, sess *connect.Session, o Options) ([]*Snapshot, error) {
	found, err := discovery.Discover(ctx, sess.Kube, o.Query)
	if err != nil {
		return nil, ExplainKube(err)
	}
	var out []*Snapshot
	for _, c := range found.Clusters() {
		members := found.Only(c[0], c[1])
		s, _ := build(ctx, o, c[1], c[0], members, found.Warnings, sess.Targets(ctx, members))
		out = append(out, s)
	}
	return out, nil
}

func takeOne(ctx context.Context, sess *connect.Session, o Options, found *discovery.Found, ns, cluster string) (*Snapshot, error) {
	members := found.Only(ns, cluster)
	return build(ctx, o, cluster, ns, members, found.Warnings, sess.Targets(ctx, members))
}

// build observes the targets and assembles the snapshot; it returns the snapshot even
// with a fatal error, for callers that list many clusters.
func build(ctx context.Context, o Options, cluster, ns string, members []discovery.Member, warnings []string, targets []inspect.Target) (*Snapshot, error) {
	obs := inspect.Observe(ctx, targets, o.Inspect)
	now := time.Now()
	in := status.Input{Cluster: cluster, Namespace: ns, Members: members, Obs: obs,
		Warnings: warnings, MinActiveBackups: o.MinActiveBackups, Now: now}
	s := &Snapshot{Namespace: ns, Cluster: cluster, Members: members, Warnings: warnings, Obs: obs,
		Model: status.Model(in), Report: status.Build(in), Taken: now}
	return s, FatalAxonError(obs)
}

// FatalAxonError: when no node gave the cluster-wide view because of how we talk to
// Axon Server (a refused token, a TLS mismatch, answers that are not Axon Server's),
// a report would only mislead, so it is an error with the way out. Nodes that are
// merely down or unreachable are not: they are shown as such.
func FatalAxonError(obs *inspect.Observation) error {
	if obs.From != "" {
		return nil
	}
	views := make([]*inspect.NodeView, 0, len(obs.Nodes))
	for _, v := range obs.Nodes {
		views = append(views, v)
	}
	sort.Slice(views, func(i, j int) bool { return views[i].Node < views[j].Node })
	for _, v := range views {
		err := v.Err
		switch {
		case err == nil:
		case axonserver.IsForbidden(err) && kubernetesRefused(err):
			return fmt.Errorf("%v: Kubernetes, not Axon Server, refused: kubectl axon reaches port 8024 through pods/proxy (get, create, delete; docs/rbac.yaml), or use --transport=port-forward", err)
		case axonserver.IsInvalidToken(err):
			return fmt.Errorf("%v: Axon Server refused the access token; give a valid one with --token-secret NAME/KEY, --token-file or $%s", err, connect.TokenEnv)
		case axonserver.IsForbidden(err):
			return fmt.Errorf("%v: the access token lacks rights (kubectl axon needs an ADMIN token)", err)
		case errors.Is(err, axonserver.ErrTLS), errors.Is(err, axonserver.ErrMalformedResponse):
			return err
		}
	}
	return nil
}

// kubernetesRefused says whether a 403 came from the API server's authorization of the
// pod proxy (a Kubernetes Status) rather than from Axon Server's access control.
func kubernetesRefused(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "pods/proxy") || strings.Contains(msg, "is forbidden: User")
}

// ExplainKube turns an error from the Kubernetes API into one actionable line.
func ExplainKube(err error) error {
	var nf *discovery.NotFoundError
	var st apierrors.APIStatus
	var ue *url.Error
	var ne net.Error
	switch {
	case errors.As(err, &nf):
		return err
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%v (kubectl axon needs the Role and ClusterRole in docs/rbac.yaml)", firstLine(err.Error()))
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the Kubernetes API server refused the credentials (check --kubeconfig / --context / --token): %v", firstLine(err.Error()))
	case errors.As(err, &st):
		return errors.New(firstLine(err.Error()))
	case errors.As(err, &ue), errors.As(err, &ne):
		return fmt.Errorf("cannot reach the Kubernetes API server: %v", firstLine(err.Error()))
	}
	return err
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
