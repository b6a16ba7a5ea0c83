// Package connect turns the flags every kubectl axon command shares (Kubernetes
// connection, cluster selection, how to reach Axon Server, the access token) into
// ready clients: a Kubernetes clientset and one Axon Server client per node.
package connect

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
	"github.com/kubectl-axon/kubectl-axon/pkg/lastlook"
	"github.com/kubectl-axon/kubectl-axon/pkg/transport"
	"github.com/kubectl-axon/kubectl-axon/pkg/version"
)

// Transports by flag value.
const (
	TransportProxy       = "proxy"
	TransportPortForward = "port-forward"
	TransportDirect      = "direct"
)

// TokenEnv is the environment variable read for the access token when no other
// source is given.
const TokenEnv = "KUBECTL_AXON_TOKEN"

// Flags are the shared flags.
type Flags struct {
	Kube *genericclioptions.ConfigFlags

	Cluster  string
	Selector string

	Transport   string
	AxonURL     string
	Scheme      string
	CAFile      string
	Insecure    bool
	TokenSecret string
	TokenFile   string
	Concurrency int
	AxonTimeout time.Duration
}

// NewFlags returns the flags with their defaults.
func NewFlags() *Flags {
	return &Flags{
		Kube:        genericclioptions.NewConfigFlags(true),
		Transport:   TransportProxy,
		Scheme:      "http",
		Concurrency: 16,
		AxonTimeout: 10 * time.Second,
	}
}

// AddFlags registers the shared flags (kubectl's connection flags included).
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	f.Kube.AddFlags(fs)
	fs.StringVar(&f.Cluster, "axon-cluster", f.Cluster, "Axon Server cluster name (the value of the StatefulSets' \"cluster\" label); needed when a namespace holds several")
	fs.StringVarP(&f.Selector, "selector", "l", f.Selector, "label selector of the cluster's StatefulSets (default: \"cluster\", or \"cluster=NAME\" with --axon-cluster)")
	fs.StringVar(&f.Transport, "transport", f.Transport, "how to reach Axon Server's HTTP port: proxy (through the API server), port-forward, or direct (pod IPs; inside the cluster)")
	fs.StringVar(&f.AxonURL, "axon-url", f.AxonURL, "reach Axon Server directly at this URL, without Kubernetes (other nodes at the addresses it reports)")
	fs.StringVar(&f.Scheme, "axon-scheme", f.Scheme, "http or https: the scheme Axon Server's HTTP port speaks")
	fs.StringVar(&f.CAFile, "axon-ca-file", f.CAFile, "CA bundle to verify Axon Server's HTTPS certificate (implies --axon-scheme=https); with --transport=direct or port-forward: the API server's pod proxy verifies no pod certificate")
	fs.BoolVar(&f.Insecure, "insecure-skip-axon-tls-verify", f.Insecure, "do not verify Axon Server's HTTPS certificate (insecure)")
	fs.StringVar(&f.TokenSecret, "token-secret", f.TokenSecret, "Kubernetes Secret holding the Axon Server access token, as NAME/KEY (in the cluster's namespace); with no token given at all, the Secret CLUSTER-token (key token) labelled cluster=CLUSTER is used when it exists")
	fs.StringVar(&f.TokenFile, "token-file", f.TokenFile, "file holding the Axon Server access token (e.g. a copy of security/.token); else $"+TokenEnv+" when set")
	fs.IntVar(&f.Concurrency, "concurrency", f.Concurrency, "Axon Server requests in flight at once")
	fs.DurationVar(&f.AxonTimeout, "axon-timeout", f.AxonTimeout, "time limit for each Axon Server request")
}

// Validate checks the flags on their own; errors are usage errors (exit 2).
func (f *Flags) Validate() error {
	switch f.Transport {
	case TransportProxy, TransportPortForward, TransportDirect:
	default:
		return cli.Usagef("--transport must be proxy, port-forward or direct, not %q", f.Transport)
	}
	if f.CAFile != "" && f.Scheme == "http" {
		f.Scheme = "https"
	}
	if f.Scheme != "http" && f.Scheme != "https" {
		return cli.Usagef("--axon-scheme must be http or https, not %q", f.Scheme)
	}
	if f.AxonURL != "" {
		u, err := url.Parse(f.AxonURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cli.Usagef("--axon-url %q: want http(s)://host:port", f.AxonURL)
		}
	}
	if f.TokenSecret != "" && f.TokenFile != "" {
		return cli.Usagef("--token-secret and --token-file are exclusive: give one")
	}
	if f.TokenSecret != "" {
		if _, err := transport.ParseSecretRef(f.TokenSecret); err != nil {
			return cli.Usagef("%v", err)
		}
		if f.AxonOnly() {
			return cli.Usagef("--token-secret needs Kubernetes: with --axon-url give --token-file FILE or $%s", TokenEnv)
		}
	}
	if f.Selector != "" {
		if _, err := labels.Parse(f.Selector); err != nil {
			return cli.Usagef("-l %q: not a label selector: %v", f.Selector, err)
		}
	}
	if f.Concurrency < 1 {
		return cli.Usagef("--concurrency must be at least 1")
	}
	if f.AxonTimeout <= 0 {
		return cli.Usagef("--axon-timeout must be positive")
	}
	return nil
}

// AxonOnly says whether Kubernetes is left out (--axon-url).
func (f *Flags) AxonOnly() bool { return f.AxonURL != "" }

// AxonOnly says whether this session has no Kubernetes (--axon-url).
func (s *Session) AxonOnly() bool { return s.flags.AxonOnly() }

// AxonURL is --axon-url.
func (s *Session) AxonURL() string { return s.flags.AxonURL }

// Query is the discovery query the flags select, in the session's namespace.
func (s *Session) Query(allNamespaces bool) discovery.Query {
	return discovery.Query{Namespace: s.Namespace, AllNamespaces: allNamespaces, Selector: s.flags.Selector, Cluster: s.flags.Cluster, Cache: &s.cache}
}

// InspectOptions are the flags' bounds for talking to Axon Server.
func (s *Session) InspectOptions() inspect.Options {
	return inspect.Options{Concurrency: s.flags.Concurrency, Timeout: s.flags.AxonTimeout, Cache: &s.answers}
}

// License is c's GET /v1/public/license within --axon-timeout; the license is the
// cluster's, so any node can be asked.
func (s *Session) License(ctx context.Context, c *axonserver.Client) (*axonserver.LicenseInfo, error) {
	cctx, cancel := context.WithTimeout(ctx, s.flags.AxonTimeout)
	defer cancel()
	return c.License(cctx)
}

// LastLookPath is the file in which what a look at namespace ns learned is kept for the
// next run (package lastlook), under kubectl's --cache-dir; "" without Kubernetes.
func (s *Session) LastLookPath(ns string) string {
	if s.RESTConfig == nil || s.flags.Kube.CacheDir == nil {
		return ""
	}
	return lastlook.Path(*s.flags.Kube.CacheDir, s.RESTConfig.Host, ns)
}

// Session holds the clients of one command run.
type Session struct {
	flags      *Flags
	RESTConfig *rest.Config
	Kube       kubernetes.Interface
	Namespace  string
	// Notices receives the one-line notes of the session (which token Secret it
	// found); nil: none.
	Notices io.Writer

	// tokens is the token of the flags or the environment (explicit), else NoToken;
	// without explicit, each cluster's own Secret is looked for (tokenFor).
	tokens    axonserver.TokenSource
	explicit  *Credentials
	auto      autoTokens
	transport transport.Transport
	tls       transport.TLSOptions
	// cache keeps what the session's looks at the cluster learn once (the
	// namespace exists, the workers' zones).
	cache discovery.Cache
	// answers keeps what each Axon Server process answered that does not change
	// while it runs (its info and configuration).
	answers inspect.Cache
}

// Opener opens a Session from flags; commands take one so tests can inject clients.
type Opener func(f *Flags) (*Session, error)

// Open builds the clients from the kubeconfig. In Axon-only mode (--axon-url) there is
// no Kubernetes.
func Open(f *Flags) (*Session, error) {
	if f.AxonOnly() {
		return OpenWith(f, nil, nil, "")
	}
	cfg, err := f.Kube.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.UserAgent = version.UserAgent()
	// client-go's default (5 requests/s, burst 10) makes a rolling step wait on its own
	// preflight reads; kubectl's own commands allow far more.
	cfg.QPS, cfg.Burst = 50, 100
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ns, _, err := f.Kube.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return OpenWith(f, kube, cfg, ns)
}

// OpenWith builds a Session around given Kubernetes clients (restConfig may be nil
// with the direct transport).
func OpenWith(f *Flags, kube kubernetes.Interface, restConfig *rest.Config, namespace string) (*Session, error) {
	s := &Session{flags: f, Kube: kube, RESTConfig: restConfig, Namespace: namespace,
		tls: transport.TLSOptions{CAFile: f.CAFile, InsecureSkipVerify: f.Insecure}}
	if restConfig == nil && !f.AxonOnly() && f.Transport != TransportDirect {
		return nil, fmt.Errorf("the %s transport needs a Kubernetes REST config", f.Transport)
	}
	s.tokens = axonserver.NoToken
	if err := s.resolveExplicit(f); err != nil {
		return nil, err
	}
	s.transport = f.newTransport(s)
	return s, nil
}

func (f *Flags) newTransport(s *Session) transport.Transport {
	switch {
	case f.AxonOnly() || f.Transport == TransportDirect:
		return &transport.Direct{TLS: s.tls}
	case f.Transport == TransportPortForward:
		return transport.NewPortForward(s.RESTConfig, s.tls)
	default:
		return transport.NewPodProxy(s.RESTConfig)
	}
}

// Close releases port-forwards and idle connections.
func (s *Session) Close() error {
	s.cache.Close()
	if s.transport != nil {
		return s.transport.Close()
	}
	return nil
}

// Client returns an Axon Server client for one member's pod.
func (s *Session) Client(ctx context.Context, m discovery.Member) (*axonserver.Client, error) {
	if m.Pod == nil {
		return nil, fmt.Errorf("%s: no pod", m.NodeName)
	}
	t := transport.Target{
		Namespace: m.Namespace, Pod: m.Pod.Name, PodIP: m.Pod.Status.PodIP,
		DNSName: podDNSName(m), Port: discovery.HTTPPort, Scheme: s.flags.Scheme,
	}
	base, hc, err := s.transport.Endpoint(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.NodeName, err)
	}
	tokens, _ := s.tokenFor(ctx, m.Namespace, m.Cluster)
	return s.newClient(m.NodeName, base, hc, tokens)
}

// ClientURL returns an Axon Server client for an explicit URL (Axon-only mode).
func (s *Session) ClientURL(ctx context.Context, node, base string) (*axonserver.Client, error) {
	d := &transport.Direct{URL: base, TLS: s.tls}
	b, hc, err := d.Endpoint(ctx, transport.Target{})
	if err != nil {
		return nil, err
	}
	return s.newClient(node, b, hc, s.tokens)
}

func (s *Session) newClient(node, base string, hc *http.Client, tokens axonserver.TokenSource) (*axonserver.Client, error) {
	return axonserver.New(base, hc, axonserver.WithNode(node), axonserver.WithToken(tokens),
		axonserver.WithUserAgent(version.UserAgent()))
}

// Targets are the members as inspect targets; a member without a running pod gets
// none and says why.
func (s *Session) Targets(ctx context.Context, members []discovery.Member) []inspect.Target {
	out := make([]inspect.Target, 0, len(members))
	for _, m := range members {
		t := inspect.Target{Node: m.NodeName}
		if m.Pod != nil && m.Pod.UID != "" {
			t.Instance = fmt.Sprintf("%s/%s/%d", m.NodeName, m.Pod.UID, discovery.Restarts(m.Pod))
		}
		switch {
		case m.Pod == nil:
			t.Why = "no pod"
		case m.Pod.Status.Phase != "Running":
			t.Why = "pod " + string(m.Pod.Status.Phase)
		default:
			c, err := s.Client(ctx, m)
			if err != nil {
				t.Why = err.Error()
			} else {
				t.API = c
			}
		}
		out = append(out, t)
	}
	return out
}

// AxonOnlyTargets asks the node at --axon-url which nodes there are and returns a
// target for each at the address it reports (hostName:httpPort).
func (s *Session) AxonOnlyTargets(ctx context.Context) ([]inspect.Target, error) {
	first, err := s.ClientURL(ctx, "", s.flags.AxonURL)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.flags.AxonTimeout)
	defer cancel()
	nodes, err := first.Public(cctx)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(s.flags.AxonURL)
	out := make([]inspect.Target, 0, len(nodes))
	for _, n := range nodes {
		base := fmt.Sprintf("%s://%s:%d", u.Scheme, n.HostName, n.HTTPPort)
		t := inspect.Target{Node: n.Name}
		if c, err := s.ClientURL(ctx, n.Name, base); err != nil {
			t.Why = err.Error()
		} else {
			t.API = c
		}
		out = append(out, t)
	}
	return out, nil
}

// podDNSName is the pod's stable name through its StatefulSet's governing Service.
func podDNSName(m discovery.Member) string {
	svc := m.StatefulSet.Spec.ServiceName
	if svc == "" || m.Pod == nil {
		return ""
	}
	return transport.PodDNSName(m.Pod.Name, svc, m.Namespace)
}
