package connect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/generate"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
	"github.com/kubectl-axon/kubectl-axon/pkg/transport"
)

// Credentials say which access token a session sends to a cluster and where it
// came from; never the token itself.
type Credentials struct {
	// Sent: a token is sent.
	Sent bool
	// Origin names the source: "--token-file /p", "$KUBECTL_AXON_TOKEN",
	// "--token-secret NAME/KEY", "Secret NAME (labelled cluster=C)".
	Origin string
	// Secret and Key name the Secret the token was read from, if one was.
	Secret, Key string
	// Auto: the Secret was found by the cluster's label, not named by a flag.
	Auto bool
	// Looked says where a token was looked for in vain (no flag, no Secret).
	Looked string
}

// ways lists the ways to give a token, for messages.
func ways(cluster string) string {
	name := "NAME"
	if cluster != "" {
		name = generate.Options{Name: cluster}.TokenSecretName()
	}
	return fmt.Sprintf("--token-secret %s/%s, --token-file FILE or $%s", name, generate.TokenKey, TokenEnv)
}

// resolveExplicit reads the token the flags or the environment name, once, before
// any request: a source that is empty, unreadable or missing is a usage error
// (exit 2). Without any, the session looks for the cluster's own Secret per cluster
// (tokenFor).
func (s *Session) resolveExplicit(f *Flags) error {
	switch {
	case f.TokenFile != "":
		b, err := os.ReadFile(f.TokenFile)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is in the message already
			}
			return cli.Usagef("--token-file %s: cannot read it: %v", f.TokenFile, err)
		}
		tok := axonserver.NewToken(string(b))
		if tok.Empty() {
			return cli.Usagef("--token-file %s is empty: it must hold the access token", f.TokenFile)
		}
		s.explicit = &Credentials{Sent: true, Origin: "--token-file " + f.TokenFile}
		s.tokens = axonserver.StaticToken(tok)
	case f.TokenSecret != "":
		ref, err := transport.ParseSecretRef(f.TokenSecret)
		if err != nil {
			return cli.Usagef("%v", err)
		}
		if s.Kube == nil {
			return cli.Usagef("--token-secret needs Kubernetes: with --axon-url give --token-file FILE or $%s", TokenEnv)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tok, err := transport.NewSecretToken(s.Kube, s.Namespace, ref).Token(ctx)
		switch {
		case apierrors.IsNotFound(err):
			return cli.Usagef("--token-secret %s: Secret %s does not exist in namespace %s", ref, ref.Name, s.Namespace)
		case errors.Is(err, transport.ErrNoKey), errors.Is(err, transport.ErrEmptyKey):
			return cli.Usagef("--token-secret %s: %v", ref, err)
		case apierrors.IsForbidden(err):
			return fmt.Errorf("--token-secret %s: not allowed to read Secret %s in namespace %s (kubectl axon needs get on secrets: docs/rbac.yaml)", ref, ref.Name, s.Namespace)
		case err != nil:
			return fmt.Errorf("--token-secret %s: %w", ref, err)
		}
		s.explicit = &Credentials{Sent: true, Origin: "--token-secret " + ref.String(), Secret: ref.Name, Key: ref.Key}
		s.tokens = axonserver.StaticToken(tok)
	default:
		v, ok := os.LookupEnv(TokenEnv)
		if !ok {
			return nil
		}
		tok := axonserver.NewToken(v)
		if tok.Empty() {
			return cli.Usagef("$%s is set but empty: unset it, or set it to the access token", TokenEnv)
		}
		s.explicit = &Credentials{Sent: true, Origin: "$" + TokenEnv}
		s.tokens = axonserver.StaticToken(tok)
	}
	return nil
}

// clusterToken is the token found for one cluster without a flag.
type clusterToken struct {
	cred   Credentials
	tokens axonserver.TokenSource
	said   bool // the notice of its use was written
}

// autoTokens caches the per-cluster lookups of a session.
type autoTokens struct {
	mu   sync.Mutex
	seen map[string]*clusterToken
}

// tokenFor returns the token source for the cluster in namespace ns: the one the
// flags or the environment gave, else the cluster's own Secret, the one `kubectl
// axon generate` names (<cluster>-token, key token) when it carries the label
// cluster=<cluster>. The first use of such a Secret is said once on Notices.
func (s *Session) tokenFor(ctx context.Context, ns, cluster string) (axonserver.TokenSource, Credentials) {
	if s.explicit != nil {
		return s.tokens, *s.explicit
	}
	if s.Kube == nil || cluster == "" {
		return axonserver.NoToken, Credentials{Looked: "no token was given"}
	}
	ct := s.clusterToken(ctx, ns, cluster)
	s.auto.mu.Lock()
	defer s.auto.mu.Unlock()
	if ct.cred.Sent && !ct.said && s.Notices != nil {
		fmt.Fprintf(s.Notices, "using the access token in Secret %s/%s, key %s (labelled %s=%s); --token-secret, --token-file or $%s choose another\n",
			ns, ct.cred.Secret, ct.cred.Key, generate.ClusterLabel, cluster, TokenEnv)
	}
	ct.said = true
	return ct.tokens, ct.cred
}

// clusterToken looks up the cluster's own Secret once per session.
func (s *Session) clusterToken(ctx context.Context, ns, cluster string) *clusterToken {
	key := ns + "/" + cluster
	s.auto.mu.Lock()
	defer s.auto.mu.Unlock()
	if ct, ok := s.auto.seen[key]; ok {
		return ct
	}
	if s.auto.seen == nil {
		s.auto.seen = map[string]*clusterToken{}
	}
	ct := s.lookupClusterSecret(ctx, ns, cluster)
	s.auto.seen[key] = ct
	return ct
}

// PrefetchToken starts reading the token Secret of a cluster the session may look at
// next (a cluster an earlier run found in ns), in the background and without a word:
// the first use of the token says where it came from, and a cluster never looked at
// costs one GET.
func (s *Session) PrefetchToken(ctx context.Context, ns, cluster string) {
	if s.explicit != nil || s.Kube == nil || cluster == "" {
		return
	}
	go s.clusterToken(ctx, ns, cluster)
}

func (s *Session) lookupClusterSecret(ctx context.Context, ns, cluster string) *clusterToken {
	name := generate.Options{Name: cluster}.TokenSecretName()
	none := &clusterToken{tokens: axonserver.NoToken,
		cred: Credentials{Looked: fmt.Sprintf("no token was given, and namespace %s has no Secret %s labelled %s=%s", ns, name, generate.ClusterLabel, cluster)}}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sec, err := s.Kube.CoreV1().Secrets(ns).Get(cctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsForbidden(err) {
			none.cred.Looked = fmt.Sprintf("no token was given, and Secret %s/%s could not be read (forbidden)", ns, name)
		}
		return none
	}
	if sec.Labels[generate.ClusterLabel] != cluster {
		return none
	}
	tok := axonserver.NewToken(string(sec.Data[generate.TokenKey]))
	if tok.Empty() {
		none.cred.Looked = fmt.Sprintf("no token was given, and Secret %s/%s has no key %s or it is empty", ns, name, generate.TokenKey)
		return none
	}
	return &clusterToken{tokens: axonserver.StaticToken(tok),
		cred: Credentials{Sent: true, Auto: true, Secret: name, Key: generate.TokenKey,
			Origin: fmt.Sprintf("Secret %s (labelled %s=%s)", name, generate.ClusterLabel, cluster)}}
}

// CredentialsFor says which token the session sends to the cluster (after
// Targets looked for it).
func (s *Session) CredentialsFor(ctx context.Context, ns, cluster string) Credentials {
	_, c := s.tokenFor(ctx, ns, cluster)
	return c
}

// AccessError is a cluster that refused kubectl axon's access: one line for the
// cluster, whatever the number of nodes.
type AccessError struct{ msg string }

func (e *AccessError) Error() string { return e.msg }

// CheckAccess: when no node gave the cluster-wide view because of how we talk to
// Axon Server (no token where one is needed, a refused token, one without rights, a
// TLS mismatch, answers that are not Axon Server's), a report would only mislead, so
// it is one error with the way out. Nodes that are merely down or unreachable are
// not: they are shown as such. cluster names the cluster for the hint ("" unknown).
func CheckAccess(obs *inspect.Observation, cred Credentials, cluster string) error {
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
			return &AccessError{fmt.Sprintf("%v: Kubernetes, not Axon Server, refused: kubectl axon reaches port 8024 through pods/proxy (get, create, delete; docs/rbac.yaml), or use --transport=port-forward", err)}
		case axonserver.IsInvalidToken(err):
			return &AccessError{fmt.Sprintf("Axon Server refused the access token from %s as invalid (%s); give a valid one with %s", cred.Origin, nodeOf(v), ways(cluster))}
		case axonserver.IsForbidden(err) && !cred.Sent:
			looked := ""
			if cred.Looked != "" {
				looked = " (" + cred.Looked + ")"
			}
			return &AccessError{fmt.Sprintf("this cluster requires an access token%s: give one with %s", looked, ways(cluster))}
		case axonserver.IsForbidden(err):
			return &AccessError{fmt.Sprintf("the access token from %s lacks rights (%s: %s): kubectl axon needs an ADMIN token", cred.Origin, nodeOf(v), shortMessage(err))}
		case errors.Is(err, axonserver.ErrTLS), errors.Is(err, axonserver.ErrMalformedResponse):
			return err
		}
	}
	return nil
}

func nodeOf(v *inspect.NodeView) string { return "node " + v.Node }

// shortMessage is an Axon Server error without the node prefix.
func shortMessage(err error) string {
	var e *axonserver.Error
	if errors.As(err, &e) {
		e2 := *e
		e2.Node = ""
		return e2.Error()
	}
	return err.Error()
}

// kubernetesRefused says whether a 403 came from the API server's authorization of the
// pod proxy (a Kubernetes Status) rather than from Axon Server's access control.
func kubernetesRefused(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "pods/proxy") || strings.Contains(msg, "is forbidden: User")
}

// TokenFor is the access token the session sends to the cluster (empty when none),
// for a caller that must keep it out of what it writes (kubectl axon report removes
// it from its bundle). Never print or log it.
func (s *Session) TokenFor(ctx context.Context, ns, cluster string) (axonserver.Token, error) {
	ts, _ := s.tokenFor(ctx, ns, cluster)
	if s.flags.AxonOnly() {
		ts = s.tokens
	}
	return ts.Token(ctx)
}
