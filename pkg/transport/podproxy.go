package transport

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// PodProxy reaches the node through the API server:
//
//	<host>/api/v1/namespaces/<ns>/pods/<[https:]pod:port>/proxy/<path>
//
// It works wherever kubectl works. Request headers (AxonIQ-Access-Token) and
// response headers (AxonIQ-ErrorCode) pass through; GET needs RBAC "get" on
// pods/proxy, POST "create" and DELETE "delete".
//
// With Scheme https the API server talks TLS to the pod but does NOT verify the
// pod's certificate (it dials pod IPs with InsecureSkipVerify); the user's
// connection to the API server is verified as usual. TLSOptions do not apply.
type PodProxy struct {
	Config *rest.Config

	once sync.Once
	hc   *http.Client
	host string
	err  error
}

// NewPodProxy returns a PodProxy for the given client config.
func NewPodProxy(cfg *rest.Config) *PodProxy { return &PodProxy{Config: cfg} }

func (p *PodProxy) init() {
	if p.Config == nil {
		p.err = fmt.Errorf("pod proxy: no Kubernetes client configuration")
		return
	}
	u, _, err := rest.DefaultServerUrlFor(p.Config)
	if err != nil {
		p.err = fmt.Errorf("pod proxy: %w", err)
		return
	}
	p.host = strings.TrimRight(u.String(), "/")
	p.hc, p.err = rest.HTTPClientFor(p.Config)
}

// ProxyPath returns the API path of the target's proxy subresource.
func ProxyPath(t Target) (string, error) {
	scheme, err := t.scheme()
	if err != nil {
		return "", err
	}
	if t.Namespace == "" || t.Pod == "" {
		return "", fmt.Errorf("pod proxy: target needs namespace and pod (got %q)", t.name())
	}
	name := t.Pod + ":" + strconv.Itoa(t.port())
	if scheme == "https" {
		name = "https:" + name
	}
	return "/api/v1/namespaces/" + t.Namespace + "/pods/" + name + "/proxy", nil
}

// Endpoint implements Transport.
func (p *PodProxy) Endpoint(_ context.Context, t Target) (string, *http.Client, error) {
	p.once.Do(p.init)
	if p.err != nil {
		return "", nil, p.err
	}
	path, err := ProxyPath(t)
	if err != nil {
		return "", nil, err
	}
	return p.host + path, p.hc, nil
}

// Close implements Transport.
func (p *PodProxy) Close() error {
	if p.hc != nil {
		p.hc.CloseIdleConnections()
	}
	return nil
}
