package transport

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// DialerFunc makes the stream dialer for one pod's portforward URL.
type DialerFunc func(cfg *rest.Config, portForwardURL *url.URL) (httpstream.Dialer, error)

// PortForward forwards a random local port to each target pod's port, like
// `kubectl port-forward`, and talks to 127.0.0.1:<local>. One forward per
// namespace/pod/port is started on first use and reused; Close stops them all.
// A forward that died is restarted on the next Endpoint call.
//
// HTTPS targets are verified with TLS against Target.DNSName (or
// TLSOptions.ServerName), since the certificate does not name 127.0.0.1.
type PortForward struct {
	Config *rest.Config
	TLS    TLSOptions
	// Dialer defaults to DefaultDialer (WebSocket tunnel, SPDY fallback).
	Dialer DialerFunc
	// ErrOut receives the forwarder's diagnostics (default: discarded).
	ErrOut io.Writer

	mu       sync.Mutex
	closed   bool
	forwards map[string]*forward
	clients  map[string]*http.Client
}

type forward struct {
	pf    *portforward.PortForwarder
	stop  chan struct{}
	ready chan struct{}
	done  chan struct{} // closed when ForwardPorts returned
	err   error         // ForwardPorts' result, valid after done
	local int
}

// NewPortForward returns a PortForward for the given client config.
func NewPortForward(cfg *rest.Config, tlsOpts TLSOptions) *PortForward {
	return &PortForward{Config: cfg, TLS: tlsOpts}
}

// PortForwardURL is the API URL of a pod's portforward subresource.
func PortForwardURL(cfg *rest.Config, namespace, pod string) (*url.URL, error) {
	u, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, err
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/api/v1/namespaces/" + namespace + "/pods/" + pod + "/portforward"
	return u, nil
}

// DefaultDialer dials the tunnel the way kubectl does: WebSocket first
// (SPDY-over-WebSocket, Kubernetes 1.30+), SPDY when the server cannot upgrade.
func DefaultDialer(cfg *rest.Config, u *url.URL) (httpstream.Dialer, error) {
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		return nil, err
	}
	return portforward.NewFallbackDialer(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}

// Endpoint implements Transport.
func (p *PortForward) Endpoint(ctx context.Context, t Target) (string, *http.Client, error) {
	scheme, err := t.scheme()
	if err != nil {
		return "", nil, err
	}
	if t.Namespace == "" || t.Pod == "" {
		return "", nil, fmt.Errorf("port-forward: target needs namespace and pod (got %q)", t.name())
	}
	f, err := p.forwardFor(t)
	if err != nil {
		return "", nil, err
	}
	select {
	case <-f.ready:
	case <-f.done:
		return "", nil, fmt.Errorf("port-forward to pod %s port %d: %v", t.name(), t.port(), oneLine(f.err))
	case <-ctx.Done():
		return "", nil, fmt.Errorf("port-forward to pod %s port %d: %w", t.name(), t.port(), ctx.Err())
	}
	if f.local == 0 {
		ports, err := f.pf.GetPorts()
		if err != nil || len(ports) == 0 {
			return "", nil, fmt.Errorf("port-forward to pod %s: no local port: %v", t.name(), err)
		}
		p.mu.Lock()
		f.local = int(ports[0].Local)
		p.mu.Unlock()
	}
	serverName := t.DNSName
	if serverName == "" {
		serverName = t.Pod
	}
	hc, err := p.client(serverName)
	if err != nil {
		return "", nil, err
	}
	return scheme + "://" + hostPort("127.0.0.1", f.local), hc, nil
}

func (p *PortForward) forwardFor(t Target) (*forward, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	key := t.Namespace + "/" + t.Pod + ":" + strconv.Itoa(t.port())
	if f, ok := p.forwards[key]; ok {
		select {
		case <-f.done: // died: start a new one
		default:
			return f, nil
		}
	}
	u, err := PortForwardURL(p.Config, t.Namespace, t.Pod)
	if err != nil {
		return nil, fmt.Errorf("port-forward: %w", err)
	}
	mk := p.Dialer
	if mk == nil {
		mk = DefaultDialer
	}
	dialer, err := mk(p.Config, u)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s: %w", t.name(), err)
	}
	errOut := p.ErrOut
	if errOut == nil {
		errOut = io.Discard
	}
	f := &forward{stop: make(chan struct{}), ready: make(chan struct{}), done: make(chan struct{})}
	f.pf, err = portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(t.port())}, f.stop, f.ready, io.Discard, errOut)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s: %w", t.name(), err)
	}
	go func() {
		f.err = f.pf.ForwardPorts()
		if f.err == nil {
			f.err = fmt.Errorf("port-forward stopped")
		}
		close(f.done)
	}()
	if p.forwards == nil {
		p.forwards = map[string]*forward{}
	}
	p.forwards[key] = f
	return f, nil
}

func (p *PortForward) client(serverName string) (*http.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if hc, ok := p.clients[serverName]; ok {
		return hc, nil
	}
	hc, err := p.TLS.HTTPClient(serverName)
	if err != nil {
		return nil, err
	}
	if p.clients == nil {
		p.clients = map[string]*http.Client{}
	}
	p.clients[serverName] = hc
	return hc, nil
}

// Active returns how many forwards are running.
func (p *PortForward) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, f := range p.forwards {
		select {
		case <-f.done:
		default:
			n++
		}
	}
	return n
}

// Close stops every forward and waits for them to end.
func (p *PortForward) Close() error {
	p.mu.Lock()
	p.closed = true
	fs := p.forwards
	p.forwards = nil
	for _, hc := range p.clients {
		hc.CloseIdleConnections()
	}
	p.mu.Unlock()
	for _, f := range fs {
		close(f.stop)
	}
	for _, f := range fs {
		<-f.done
	}
	return nil
}

func oneLine(err error) string {
	if err == nil {
		return "stopped"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
