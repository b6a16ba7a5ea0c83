package transport

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Direct connects straight to the node: an explicit URL, the pod's DNS name, or
// its pod IP (in that order of preference, DNS only when UseDNS). Use it inside
// the cluster, with routable pod IPs, or with --axon-url.
type Direct struct {
	// URL, when set, is used for every target (--axon-url; one node).
	URL string
	// UseDNS prefers Target.DNSName over Target.PodIP.
	UseDNS bool
	TLS    TLSOptions

	mu      sync.Mutex
	clients map[string]*http.Client // by server name
}

// Endpoint implements Transport.
func (d *Direct) Endpoint(_ context.Context, t Target) (string, *http.Client, error) {
	var base, serverName string
	if d.URL != "" {
		u, err := url.Parse(d.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", nil, fmt.Errorf("--axon-url %q: want http(s)://host[:port]", d.URL)
		}
		base, serverName = strings.TrimRight(d.URL, "/"), u.Hostname()
	} else {
		scheme, err := t.scheme()
		if err != nil {
			return "", nil, err
		}
		host := t.PodIP
		if d.UseDNS && t.DNSName != "" || host == "" {
			host = t.DNSName
		}
		if host == "" {
			return "", nil, fmt.Errorf("pod %s: no pod IP (not scheduled yet?) and no DNS name to connect to", t.name())
		}
		base = scheme + "://" + hostPort(host, t.port())
		// verify against the DNS name even when dialing the IP: certificates name hosts
		serverName = t.DNSName
		if serverName == "" {
			serverName = host
		}
	}
	hc, err := d.client(serverName)
	return base, hc, err
}

func (d *Direct) client(serverName string) (*http.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if hc, ok := d.clients[serverName]; ok {
		return hc, nil
	}
	hc, err := d.TLS.HTTPClient(serverName)
	if err != nil {
		return nil, err
	}
	if d.clients == nil {
		d.clients = map[string]*http.Client{}
	}
	d.clients[serverName] = hc
	return hc, nil
}

// Close implements Transport.
func (d *Direct) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, hc := range d.clients {
		hc.CloseIdleConnections()
	}
	d.clients = nil
	return nil
}
