package harness

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// CountingProxy sits between a client and the sandbox's API server on
// 127.0.0.1 (plain HTTP; it adds the admin credentials itself) and counts the
// requests that pass, so the requests of one command can be told apart from
// the control plane's own traffic, which the API server's metrics mix in.
type CountingProxy struct {
	Kubeconfig string // a kubeconfig that points at the proxy
	srv        *http.Server
	mu         sync.Mutex
	counts     map[string]int
	trace      []Traced
	delay      atomic.Int64 // nanoseconds each request waits before it is passed on
}

// SetDelay makes every request wait d before it is passed on (0: none): an
// API server that is slow rather than down, as the client sees it.
func (p *CountingProxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Counts is a snapshot of the requests since the last Reset, by "VERB resource"
// ("GET pods/proxy", "LIST statefulsets", "WATCH pods", "GET discovery").
type Counts map[string]int

// Total of the counts whose key matches keep (nil: all).
func (c Counts) Total(keep func(string) bool) int {
	n := 0
	for k, v := range c {
		if keep == nil || keep(k) {
			n += v
		}
	}
	return n
}

// IsPodProxy: a request to Axon Server through the API server's pod proxy.
func IsPodProxy(k string) bool {
	return strings.HasSuffix(k, "/proxy") || strings.HasSuffix(k, "/portforward")
}

// IsDiscovery: API discovery (cached by clients after the first call).
func IsDiscovery(k string) bool { return strings.HasSuffix(k, " discovery") }

// StartCountingProxy starts the proxy for the sandbox's admin kubeconfig.
func (s *Sandbox) StartCountingProxy() (*CountingProxy, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig())
	if err != nil {
		return nil, err
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	p := &CountingProxy{counts: map[string]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport:     rt,
		FlushInterval: -1,
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		key := classify(r)
		p.mu.Lock()
		p.counts[key]++
		p.mu.Unlock()
		if d := time.Duration(p.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
		p.mu.Lock()
		p.trace = append(p.trace, Traced{Start: start, Took: time.Since(start), Key: key, URL: r.URL.RequestURI()})
		p.mu.Unlock()
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go p.srv.Serve(ln)
	p.Kubeconfig = filepath.Join(s.Dir, "kubeconfig-counting")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: counting
  cluster: {server: "http://%s"}
users:
- name: counting
  user: {}
contexts:
- name: counting
  context: {cluster: counting, user: counting, namespace: %s}
current-context: counting
`, ln.Addr(), s.Namespace)
	if err := os.WriteFile(p.Kubeconfig, []byte(kc), 0o600); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Traced is one request that passed the proxy: when it came, how long it took to
// answer (a watch: until it ended), what it was.
type Traced struct {
	Start time.Time
	Took  time.Duration
	Key   string // as in Counts
	URL   string
}

// Reset clears the counts and the trace and returns the counts.
func (p *CountingProxy) Reset() Counts {
	c, _ := p.ResetTrace()
	return c
}

// ResetTrace clears the counts and the trace and returns both; the trace holds the
// requests answered since the last reset, in the order they ended.
func (p *CountingProxy) ResetTrace() (Counts, []Traced) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, t := p.counts, p.trace
	p.counts, p.trace = map[string]int{}, nil
	return Counts(c), t
}

// Close stops the proxy.
func (p *CountingProxy) Close() { _ = p.srv.Close() }

// classify turns a request into "VERB resource[/subresource]".
func classify(r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// /api/v1/namespaces/NS/RES/NAME/SUB..., /apis/G/V/namespaces/NS/RES/NAME/SUB
	i := 0
	switch {
	case len(parts) > 0 && parts[0] == "api":
		i = 2
	case len(parts) > 0 && parts[0] == "apis":
		i = 3
	default:
		return r.Method + " " + "discovery"
	}
	if len(parts) <= i {
		return r.Method + " discovery"
	}
	rest := parts[i:]
	if rest[0] == "namespaces" && len(rest) > 2 {
		rest = rest[2:]
	}
	res := rest[0]
	verb := r.Method
	switch {
	case len(rest) >= 3:
		res += "/" + rest[2]
	case len(rest) == 1 && r.Method == http.MethodGet:
		verb = "LIST"
		if r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" {
			verb = "WATCH"
		}
	}
	return verb + " " + res
}
