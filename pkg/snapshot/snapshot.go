// Package snapshot takes one look at an Axon Server cluster from both sides, its
// StatefulSets and pods in Kubernetes and what every node's REST API says, and keeps
// it in the terms every command uses: the safety model (quorum) and the status report.
package snapshot

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
	"github.com/kubectl-axon/kubectl-axon/pkg/lastlook"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/status"
)

// Options say what to look at.
type Options struct {
	Query            discovery.Query
	Inspect          inspect.Options
	MinActiveBackups int
	// Remember starts the look from what the last run's look at the namespace learned
	// and keeps what this one learns for the next (package lastlook). Only for a look
	// that reads nothing from /actuator/env but min-active-backups (status).
	Remember bool
	// License asks GET /v1/public/license of the node the last look took the
	// cluster-wide views from, alongside the look, when that look saw a license
	// (with Remember): Snapshot.License.
	License bool
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
	Model *inspect.Model
	Taken time.Time
	// License is what GET /v1/public/license answered alongside the look
	// (Options.License), nil when it was not asked or failed.
	License *axonserver.LicenseInfo

	in     status.Input
	report *status.Report
	once   sync.Once
}

// Report is the status report of the look, built at the first call: the looks of
// a rolling operation need only the Model.
func (s *Snapshot) Report() *status.Report {
	s.once.Do(func() { s.report = status.BuildFrom(s.in, s.Model) })
	return s.report
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
		return build(ctx, sess, o, sess.AxonURL(), "", nil, nil, targets)
	}
	var last *lastlook.File
	if o.Remember {
		last = lastlook.Load(sess.LastLookPath(o.Query.Namespace))
		last.SeedZones(o.Query.Cache)
		switch names := last.Names(); {
		case o.Query.Cluster != "" && last.Of(o.Query.Cluster) != nil:
			sess.PrefetchToken(ctx, o.Query.Namespace, o.Query.Cluster)
		case o.Query.Cluster == "" && len(names) == 1:
			sess.PrefetchToken(ctx, o.Query.Namespace, names[0])
		}
	}
	found, err := discovery.Discover(ctx, sess.Kube, prefetchToken(ctx, sess, o.Query))
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
	ns, cluster := clusters[0][0], clusters[0][1]
	members := found.Only(ns, cluster)
	targets := sess.Targets(ctx, members)
	if last == nil {
		return build(ctx, sess, o, cluster, ns, members, found.Warnings, targets)
	}
	return buildRemembering(ctx, sess, o, cluster, ns, members, found.Warnings, targets, last)
}

// buildRemembering is build starting from what the last run learned (Options.Remember),
// which it updates with what this look learns.
func buildRemembering(ctx context.Context, sess *connect.Session, o Options, cluster, ns string, members []discovery.Member, warnings []string, targets []inspect.Target, last *lastlook.File) (*Snapshot, error) {
	last.Seed(cluster, targets, o.Inspect.Cache)
	o.Inspect.ReuseGroups = true
	var license chan *axonserver.LicenseInfo
	if kc := last.Of(cluster); o.License && kc != nil && kc.License {
		if m, ok := discovery.Find(members, kc.ViewFrom); ok {
			license = make(chan *axonserver.LicenseInfo, 1)
			go func() { license <- askLicense(ctx, sess, m) }()
		}
	}
	s, err := build(ctx, sess, o, cluster, ns, members, warnings, targets)
	if license != nil {
		s.License = <-license
	}
	last.Learn(cluster, targets, s.Obs, status.LicenseOf(s.Obs) != nil)
	last.LearnZones(members)
	_ = last.Save(sess.LastLookPath(ns)) // a file not written costs the next run some questions, no more
	return s, err
}

// askLicense is m's GET /v1/public/license, nil when it fails.
func askLicense(ctx context.Context, sess *connect.Session, m discovery.Member) *axonserver.LicenseInfo {
	c, err := sess.Client(ctx, m)
	if err != nil {
		return nil
	}
	info, err := sess.License(ctx, c)
	if err != nil {
		return nil
	}
	return info
}

// TakeAll looks at every cluster the query finds (with AllNamespaces: in every
// namespace). A cluster whose nodes refuse the token is still listed, as unhealthy.
func TakeAll(ctx context.Context, sess *connect.Session, o Options) ([]*Snapshot, error) {
	found, err := discovery.Discover(ctx, sess.Kube, prefetchToken(ctx, sess, o.Query))
	if err != nil {
		return nil, ExplainKube(err)
	}
	var out []*Snapshot
	for _, c := range found.Clusters() {
		members := found.Only(c[0], c[1])
		s, _ := build(ctx, sess, o, c[1], c[0], members, found.Warnings, sess.Targets(ctx, members))
		out = append(out, s)
	}
	return out, nil
}

// prefetchToken makes q start reading each cluster's token as soon as the cluster
// is known, while the pods and workers are still being read: the look at Axon Server
// needs it next.
func prefetchToken(ctx context.Context, sess *connect.Session, q discovery.Query) discovery.Query {
	q.Clusters = func(ns, cluster string) { go sess.CredentialsFor(ctx, ns, cluster) }
	return q
}

// build observes the targets and assembles the snapshot; it returns the snapshot even
// with a fatal error, for callers that list many clusters.
func build(ctx context.Context, sess *connect.Session, o Options, cluster, ns string, members []discovery.Member, warnings []string, targets []inspect.Target) (*Snapshot, error) {
	obs := inspect.Observe(ctx, targets, o.Inspect)
	now := time.Now()
	in := status.Input{Cluster: cluster, Namespace: ns, Members: members, Obs: obs,
		Warnings: warnings, MinActiveBackups: o.MinActiveBackups, Now: now}
	s := &Snapshot{Namespace: ns, Cluster: cluster, Members: members, Warnings: warnings, Obs: obs,
		Model: status.Model(in), Taken: now, in: in}
	return s, connect.CheckAccess(obs, sess.CredentialsFor(ctx, ns, cluster), cluster)
}

// FatalAxonError is connect.CheckAccess for a session that sent a token: one line
// when no node gave the cluster-wide view because of how we talk to Axon Server.
func FatalAxonError(obs *inspect.Observation) error {
	return connect.CheckAccess(obs, connect.Credentials{Sent: true, Origin: "the token source"}, "")
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
		return &oneLineError{firstLine(err.Error()) + " (kubectl axon needs the Role and ClusterRole in docs/rbac.yaml)", err}
	case apierrors.IsUnauthorized(err):
		return &oneLineError{"the Kubernetes API server refused the credentials (check --kubeconfig / --context / --token): " + firstLine(err.Error()), err}
	case errors.As(err, &st):
		return &oneLineError{firstLine(err.Error()), err}
	case errors.As(err, &ue), errors.As(err, &ne):
		return &oneLineError{"cannot reach the Kubernetes API server: " + firstLine(err.Error()), err}
	}
	return err
}

// oneLineError shows an error in one line and keeps it underneath, so that callers
// can still ask apierrors (IsForbidden, IsNotFound ...) about it.
type oneLineError struct {
	msg string
	err error
}

func (e *oneLineError) Error() string { return e.msg }
func (e *oneLineError) Unwrap() error { return e.err }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
