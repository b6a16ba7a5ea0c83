package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
)

// The kubelet's API on port 10250 of each worker's address, as far as the API
// server uses it: port forwarding (pods/portforward, SPDY) and container logs
// (pods/log). The API server does not verify the kubelet's certificate unless
// told to (--kubelet-certificate-authority), so a self-signed one serves.

const kubeletPort = 10250

type podLogs struct {
	mu       sync.Mutex
	lines    map[string][]string // ns/pod -> lines of the running (or last) container
	previous map[string][]string // ns/pod -> lines of the container before it (kubectl logs --previous)
}

// restarted starts a new container's log: the current lines become the previous
// container's, as the kubelet keeps the last terminated container's log.
func (l *podLogs) restarted(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.previous == nil {
		l.previous = map[string][]string{}
	}
	l.previous[key] = l.lines[key]
	delete(l.lines, key)
}

func (l *podLogs) getPrevious(key string) ([]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls, ok := l.previous[key]
	return append([]string(nil), ls...), ok
}

func (l *podLogs) add(key, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lines == nil {
		l.lines = map[string][]string{}
	}
	ls := append(l.lines[key], time.Now().UTC().Format(time.RFC3339Nano)+" "+line)
	if len(ls) > 2000 {
		ls = ls[len(ls)-2000:]
	}
	l.lines[key] = ls
}

func (l *podLogs) get(key string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines[key]...)
}

func (l *podLogs) drop(key string) {
	l.mu.Lock()
	delete(l.lines, key)
	delete(l.previous, key)
	l.mu.Unlock()
}

func selfSigned(ips []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "axon-sandbox-kubelet"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func (a *Agent) serveKubelets(ctx context.Context) error {
	var ips []string
	for _, ip := range a.workerIP {
		ips = append(ips, ip)
	}
	cert, err := selfSigned(ips)
	if err != nil {
		return err
	}
	for _, name := range sortedNames(a.workerIP) {
		ip := a.workerIP[name]
		ln, err := tls.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(kubeletPort)), &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: a.kubeletHandler(name), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		go func() { <-ctx.Done(); _ = srv.Close() }()
	}
	return nil
}

func (a *Agent) kubeletHandler(worker string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/", a.serveExec(worker))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	// /portForward/{namespace}/{pod}[/{uid}]
	mux.HandleFunc("/portForward/", func(w http.ResponseWriter, req *http.Request) {
		parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/portForward/"), "/")
		if len(parts) < 2 {
			http.Error(w, "want /portForward/NAMESPACE/POD", http.StatusBadRequest)
			return
		}
		key := parts[0] + "/" + parts[1]
		uid, ok := a.podOnWorker(key, worker)
		if !ok {
			http.Error(w, "pod does not exist", http.StatusNotFound)
			return
		}
		if len(parts) > 2 && parts[2] != "" && parts[2] != uid {
			http.Error(w, "pod not found", http.StatusNotFound)
			return
		}
		opts, err := portforward.NewV4Options(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		portforward.ServePortForward(w, req, forwarder{a}, key, uid, opts,
			4*time.Hour, 30*time.Second, portforward.SupportedProtocols)
	})
	// /containerLogs/{namespace}/{pod}/{container}
	mux.HandleFunc("/containerLogs/", func(w http.ResponseWriter, req *http.Request) {
		parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/containerLogs/"), "/")
		if len(parts) < 2 {
			http.Error(w, "want /containerLogs/NAMESPACE/POD/CONTAINER", http.StatusBadRequest)
			return
		}
		key := parts[0] + "/" + parts[1]
		if _, ok := a.podOnWorker(key, worker); !ok {
			http.Error(w, "pod does not exist", http.StatusNotFound)
			return
		}
		q := req.URL.Query()
		lines := a.logs.get(key)
		if q.Get("previous") == "true" {
			prev, ok := a.logs.getPrevious(key)
			if !ok {
				// the kubelet's answer when no container terminated before this one
				http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", parts[len(parts)-1], parts[1]), http.StatusBadRequest)
				return
			}
			lines = prev
		}
		w.Header().Set("Content-Type", "text/plain")
		writeLog(w, lines, q, time.Now())
	})
	return mux
}

// podOnWorker returns the UID of the running pod ns/name on worker.
func (a *Agent) podOnWorker(key, worker string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.podIPs[key]
	if !ok || p.worker != worker {
		return "", false
	}
	return p.uid, true
}

type podAddr struct{ ip, uid, worker string }

type forwarder struct{ a *Agent }

// PortForward copies between the stream and the pod's port, as the container
// runtime does inside the pod's network namespace.
func (f forwarder) PortForward(ctx context.Context, key string, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	f.a.mu.Lock()
	p, ok := f.a.podIPs[key]
	f.a.mu.Unlock()
	if !ok || p.ip == "" {
		return fmt.Errorf("pod %s has no address", key)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(p.ip, strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d inside namespace of pod %s: %w", port, key, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// writeLog writes a container's log lines ("<RFC 3339 time> <text>") as the kubelet
// answers /containerLogs: sinceSeconds, tailLines, limitBytes and timestamps as in
// corev1.PodLogOptions.
func writeLog(w io.Writer, lines []string, q url.Values, now time.Time) {
	if s, err := strconv.Atoi(q.Get("sinceSeconds")); err == nil && s > 0 {
		since := now.Add(-time.Duration(s) * time.Second)
		kept := lines[:0:0]
		for _, l := range lines {
			if t, err := time.Parse(time.RFC3339Nano, strings.SplitN(l, " ", 2)[0]); err != nil || !t.Before(since) {
				kept = append(kept, l)
			}
		}
		lines = kept
	}
	if n, err := strconv.Atoi(q.Get("tailLines")); err == nil && n >= 0 && n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	limit := -1
	if n, err := strconv.Atoi(q.Get("limitBytes")); err == nil && n > 0 {
		limit = n
	}
	for _, l := range lines {
		if q.Get("timestamps") != "true" {
			if i := strings.IndexByte(l, ' '); i >= 0 {
				l = l[i+1:]
			}
		}
		l += "\n"
		if limit >= 0 && len(l) > limit {
			l = l[:limit]
		}
		_, _ = io.WriteString(w, l)
		if limit >= 0 {
			if limit -= len(l); limit == 0 {
				break
			}
		}
	}
}
