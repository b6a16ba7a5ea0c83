// Package transport reaches an Axon Server node's HTTP port (8024) from outside
// the cluster, three ways behind one interface:
//
//   - PodProxy (default): through the API server's pods/proxy subresource; works
//     wherever kubectl works (needs RBAC get/create/delete on pods/proxy).
//   - PortForward: a client-go port-forward (WebSocket tunnel, falling back to
//     SPDY) to a random local port, one per pod, reused until Close.
//   - Direct: the pod IP, the pod's DNS name, or an explicit URL (--axon-url);
//     for running inside the cluster or with routable pod IPs.
//
// Each yields a base URL and an *http.Client for pkg/axonserver.
package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

// DefaultPort is Axon Server's HTTP port.
const DefaultPort = 8024

// Target is one Axon Server node as found in Kubernetes.
type Target struct {
	Namespace string
	Pod       string // e.g. axonserver-1-0
	PodIP     string // for Direct
	DNSName   string // e.g. axonserver-1-0.axonserver-1.axon.svc.cluster.local; see PodDNSName
	Port      int    // 0: DefaultPort
	Scheme    string // "http" (default) or "https"
}

func (t Target) port() int {
	if t.Port == 0 {
		return DefaultPort
	}
	return t.Port
}

func (t Target) scheme() (string, error) {
	switch t.Scheme {
	case "", "http":
		return "http", nil
	case "https":
		return "https", nil
	}
	return "", fmt.Errorf("target %s: scheme %q: want http or https", t.name(), t.Scheme)
}

func (t Target) name() string {
	if t.Namespace == "" {
		return t.Pod
	}
	return t.Namespace + "/" + t.Pod
}

// PodDNSName is the stable DNS name of a StatefulSet pod behind its headless
// service: <pod>.<serviceName>.<namespace>.svc.cluster.local.
func PodDNSName(pod, serviceName, namespace string) string {
	return pod + "." + serviceName + "." + namespace + ".svc.cluster.local"
}

// Transport yields, for a target, the base URL of its port 8024 and the HTTP
// client to use with it. Implementations are safe for concurrent use. Close
// releases what Endpoint set up (port-forwards); Endpoints are not valid after.
type Transport interface {
	Endpoint(ctx context.Context, t Target) (baseURL string, hc *http.Client, err error)
	Close() error
}

// TLSOptions configure the client side of HTTPS to Axon Server (Direct and
// PortForward; PodProxy cannot verify, see PodProxy).
type TLSOptions struct {
	CAFile string // PEM bundle that signed the nodes' certificates (--axon-ca-file)
	// InsecureSkipVerify disables verification; only by explicit choice
	// (--insecure-skip-axon-tls-verify).
	InsecureSkipVerify bool
	// ServerName overrides the name verified against the certificate.
	ServerName string
	// Timeout per request; 0 means 30s.
	Timeout time.Duration
}

// TLSConfig builds the *tls.Config. serverName is used when o.ServerName is empty.
func (o TLSOptions) TLSConfig(serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if o.ServerName != "" {
		cfg.ServerName = o.ServerName
	}
	if o.InsecureSkipVerify {
		cfg.InsecureSkipVerify = true // explicit user choice
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--axon-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--axon-ca-file %s: no PEM certificates found", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// HTTPClient returns a client using these options.
func (o TLSOptions) HTTPClient(serverName string) (*http.Client, error) {
	tc, err := o.TLSConfig(serverName)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // pod IPs and cluster names are never behind the user's HTTP proxy
	tr.TLSClientConfig = tc
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

func hostPort(host string, port int) string {
	if len(host) > 0 && host[0] != '[' && containsColon(host) { // IPv6 literal
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}

var errClosed = errors.New("transport is closed")
