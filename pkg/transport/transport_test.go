package transport

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
)

var ctx = context.Background()

const secret = "tr4nsp0rt-s3cret"

func meHandler(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/public/me" {
			w.Header().Set("AxonIQ-ErrorCode", "AXONIQ-1301")
			w.WriteHeader(404)
			fmt.Fprint(w, "[AXONIQ-1301] Node x not found")
			return
		}
		fmt.Fprint(w, `{"name":"axonserver-1","clustered":true}`)
	}
}

func writeCA(t *testing.T, srv *httptest.Server) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func me(t *testing.T, tr Transport, tg Target) (*axonserver.NodeInfo, error) {
	t.Helper()
	base, hc, err := tr.Endpoint(ctx, tg)
	if err != nil {
		return nil, err
	}
	c, err := axonserver.New(base, hc, axonserver.WithNode(tg.Pod))
	if err != nil {
		t.Fatal(err)
	}
	return c.Me(ctx)
}

func TestDirectHTTPAndHTTPS(t *testing.T) {
	plain := httptest.NewServer(meHandler(t))
	defer plain.Close()
	u, _ := url.Parse(plain.URL)
	host, port, _ := net.SplitHostPort(u.Host)
	var p int
	fmt.Sscan(port, &p)

	d := &Direct{}
	defer d.Close()
	if m, err := me(t, d, Target{Namespace: "axon", Pod: "axonserver-1-0", PodIP: host, Port: p}); err != nil || m.Name != "axonserver-1" {
		t.Fatalf("http: %v %v", m, err)
	}
	if _, _, err := d.Endpoint(ctx, Target{Namespace: "axon", Pod: "p"}); err == nil || !strings.Contains(err.Error(), "no pod IP") {
		t.Errorf("no address: %v", err)
	}
	if base, _, _ := (&Direct{UseDNS: true}).Endpoint(ctx, Target{Pod: "p", PodIP: "10.0.0.1", DNSName: PodDNSName("axonserver-1-0", "axonserver-1", "axon")}); base != "http://axonserver-1-0.axonserver-1.axon.svc.cluster.local:8024" {
		t.Errorf("dns base = %s", base)
	}
	if base, _, _ := d.Endpoint(ctx, Target{Pod: "p", PodIP: "fd00::1", Scheme: "https"}); base != "https://[fd00::1]:8024" {
		t.Errorf("ipv6 base = %s", base)
	}
	if _, _, err := d.Endpoint(ctx, Target{Pod: "p", PodIP: "1.2.3.4", Scheme: "ftp"}); err == nil {
		t.Error("bad scheme accepted")
	}

	tlsSrv := httptest.NewTLSServer(meHandler(t))
	defer tlsSrv.Close()
	tu, _ := url.Parse(tlsSrv.URL)
	th, tp, _ := net.SplitHostPort(tu.Host)
	fmt.Sscan(tp, &p)
	tg := Target{Namespace: "axon", Pod: "axonserver-1-0", PodIP: th, Port: p, Scheme: "https"}

	_, err := me(t, &Direct{}, tg)
	if !errors.Is(err, axonserver.ErrTLS) || !strings.Contains(err.Error(), "--axon-ca-file") {
		t.Errorf("no CA: %v", err)
	}
	if m, err := me(t, &Direct{TLS: TLSOptions{CAFile: writeCA(t, tlsSrv)}}, tg); err != nil || !m.Clustered {
		t.Errorf("with CA: %v %v", m, err)
	}
	if m, err := me(t, &Direct{TLS: TLSOptions{InsecureSkipVerify: true}}, tg); err != nil || m == nil {
		t.Errorf("insecure: %v", err)
	}
	// explicit URL
	if m, err := me(t, &Direct{URL: tlsSrv.URL + "/", TLS: TLSOptions{CAFile: writeCA(t, tlsSrv)}}, Target{Pod: "ignored"}); err != nil || m == nil {
		t.Errorf("--axon-url: %v", err)
	}
	if _, _, err := (&Direct{URL: "localhost:8024"}).Endpoint(ctx, Target{}); err == nil {
		t.Error("bad --axon-url accepted")
	}
	if _, err := (TLSOptions{CAFile: filepath.Join(t.TempDir(), "none.pem")}).HTTPClient(""); err == nil {
		t.Error("missing CA file accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	_ = os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := (TLSOptions{CAFile: bad}).HTTPClient(""); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Errorf("bad CA file: %v", err)
	}
}

// fakeAPIServer imitates the API server's pods/proxy subresource.
type fakeAPIServer struct {
	mu   sync.Mutex
	seen []string // "METHOD path?query token=<ok|missing>"
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := "missing"
	if r.Header.Get(axonserver.TokenHeader) == secret {
		tok = "ok"
	}
	f.mu.Lock()
	f.seen = append(f.seen, fmt.Sprintf("%s %s?%s token=%s", r.Method, r.URL.EscapedPath(), r.URL.RawQuery, tok))
	f.mu.Unlock()
	const prefix = "/api/v1/namespaces/axon/pods/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	pod, sub, _ := strings.Cut(rest, "/proxy")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case pod != "axonserver-1-0:8024" && pod != "https:axonserver-1-0:8024":
		w.WriteHeader(404)
		fmt.Fprintf(w, `{"kind":"Status","status":"Failure","reason":"NotFound","code":404,"message":"pods %q not found"}`, pod)
	case sub == "/v1/public/me":
		fmt.Fprint(w, `{"name":"axonserver-1","clustered":true}`)
	case sub == "/v1/cluster/axonserver-9":
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("AxonIQ-ErrorCode", "AXONIQ-1301")
		w.WriteHeader(404)
		fmt.Fprint(w, "[AXONIQ-1301] Node axonserver-9 not found")
	case strings.HasPrefix(sub, "/v1/replicationgroups/"):
		w.WriteHeader(202)
		fmt.Fprint(w, `{"success":true,"message":"Accepted delete request"}`)
	default:
		w.WriteHeader(404)
	}
}

func TestPodProxy(t *testing.T) {
	api := &fakeAPIServer{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	pp := NewPodProxy(&rest.Config{Host: srv.URL})
	defer pp.Close()

	for _, tc := range []struct {
		scheme, want string
	}{
		{"", "/api/v1/namespaces/axon/pods/axonserver-1-0:8024/proxy"},
		{"https", "/api/v1/namespaces/axon/pods/https:axonserver-1-0:8024/proxy"},
	} {
		tg := Target{Namespace: "axon", Pod: "axonserver-1-0", Scheme: tc.scheme}
		base, hc, err := pp.Endpoint(ctx, tg)
		if err != nil || base != srv.URL+tc.want {
			t.Fatalf("Endpoint = %s, %v", base, err)
		}
		c, _ := axonserver.New(base, hc, axonserver.WithNode("axonserver-1"), axonserver.WithToken(axonserver.StaticToken(axonserver.NewToken(secret))))
		if m, err := c.Me(ctx); err != nil || m.Name != "axonserver-1" {
			t.Fatalf("Me via proxy: %v %v", m, err)
		}
		_, err = c.ClusterNode(ctx, "axonserver-9")
		if !axonserver.HasCode(err, axonserver.CodeNoSuchNode) {
			t.Errorf("error code header not passed through: %v", err)
		}
		if _, err := c.AddNodeToReplicationGroup(ctx, "default", "axonserver-2", "PRIMARY"); err != nil {
			t.Errorf("POST: %v", err)
		}
		if _, err := c.RemoveNodeFromReplicationGroup(ctx, "default", "axonserver-2", false); err != nil {
			t.Errorf("DELETE: %v", err)
		}
	}
	want := []string{
		"GET /api/v1/namespaces/axon/pods/axonserver-1-0:8024/proxy/v1/public/me? token=ok",
		"GET /api/v1/namespaces/axon/pods/axonserver-1-0:8024/proxy/v1/cluster/axonserver-9? token=ok",
		"POST /api/v1/namespaces/axon/pods/axonserver-1-0:8024/proxy/v1/replicationgroups/default/axonserver-2?role=PRIMARY token=ok",
		"DELETE /api/v1/namespaces/axon/pods/axonserver-1-0:8024/proxy/v1/replicationgroups/default/axonserver-2?preserveEventStore=false token=ok",
		"GET /api/v1/namespaces/axon/pods/https:axonserver-1-0:8024/proxy/v1/public/me? token=ok",
	}
	api.mu.Lock()
	seen := append([]string(nil), api.seen...)
	api.mu.Unlock()
	for i, w := range want {
		if seen[i] != w {
			t.Errorf("request %d:\n got  %s\n want %s", i, seen[i], w)
		}
	}
	if len(seen) != 8 || seen[7] != strings.Replace(want[3], "axonserver-1-0:8024", "https:axonserver-1-0:8024", 1) {
		t.Errorf("https requests: %v", seen[4:])
	}
	// unknown pod: API server's Status JSON surfaces its message
	base, hc, _ := pp.Endpoint(ctx, Target{Namespace: "axon", Pod: "nope"})
	c, _ := axonserver.New(base, hc)
	if _, err := c.Me(ctx); !axonserver.IsNotFound(err) || !strings.Contains(err.Error(), `pods "nope:8024" not found`) {
		t.Errorf("unknown pod: %v", err)
	}
	if _, _, err := pp.Endpoint(ctx, Target{Pod: "x"}); err == nil {
		t.Error("target without namespace accepted")
	}
}

func TestSecretRefAndToken(t *testing.T) {
	for _, bad := range []string{"", "name", "/key", "name/", "a/b/c", "Bad_Name/token", "name/bad key"} {
		_, err := ParseSecretRef(bad)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--token-secret") {
			t.Errorf("ParseSecretRef(%q) = %v", bad, err)
		}
	}
	ref, err := ParseSecretRef("axonserver-token/token")
	if err != nil || ref.Name != "axonserver-token" || ref.Key != "token" || ref.String() != "axonserver-token/token" {
		t.Fatalf("%v %v", ref, err)
	}
	cs := fake.NewSimpleClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "axonserver-token", Namespace: "axon"},
		Data:       map[string][]byte{"token": []byte(secret + "\n"), "other": []byte("x")},
	})
	src := NewSecretToken(cs, "axon", ref)
	for i := 0; i < 3; i++ {
		tok, err := src.Token(ctx)
		if err != nil || tok.Reveal() != secret {
			t.Fatalf("token: %v", err)
		}
	}
	gets := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "get" {
			gets++
		}
	}
	if gets != 1 {
		t.Errorf("secret read %d times, want once", gets)
	}
	if s := fmt.Sprintf("%v %+v %#v", src, src, src); strings.Contains(s, secret) {
		t.Errorf("token leaked: %s", s)
	}
	_, err = NewSecretToken(cs, "axon", SecretRef{"axonserver-token", "nokey"}).Token(ctx)
	if !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), `no key "nokey" (keys: other, token)`) || strings.Contains(err.Error(), secret) {
		t.Errorf("missing key: %v", err)
	}
	_, err = NewSecretToken(cs, "axon", SecretRef{"missing", "token"}).Token(ctx)
	if err == nil || !strings.Contains(err.Error(), "token secret axon/missing") {
		t.Errorf("missing secret: %v", err)
	}
}

// --- port-forward with a fake stream dialer -------------------------------

// fakeDialer answers the port-forward protocol: every data stream is a TCP
// connection to target; error streams are empty.
type fakeDialer struct {
	target string
	mu     sync.Mutex
	dials  int
	conns  []*fakeConn
}

func (d *fakeDialer) Dial(...string) (httpstream.Connection, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dials++
	c := &fakeConn{target: d.target, closed: make(chan bool)}
	d.conns = append(d.conns, c)
	return c, "portforward.k8s.io", nil
}

type fakeConn struct {
	target string
	once   sync.Once
	closed chan bool
}

func (c *fakeConn) CreateStream(h http.Header) (httpstream.Stream, error) {
	if h.Get("streamType") == "error" {
		return &fakeStream{h: h, ReadWriteCloser: nopRWC{}}, nil
	}
	nc, err := net.Dial("tcp", c.target)
	if err != nil {
		return nil, err
	}
	return &fakeStream{h: h, ReadWriteCloser: nc}, nil
}
func (c *fakeConn) Close() error                       { c.once.Do(func() { close(c.closed) }); return nil }
func (c *fakeConn) CloseChan() <-chan bool             { return c.closed }
func (c *fakeConn) SetIdleTimeout(time.Duration)       {}
func (c *fakeConn) RemoveStreams(...httpstream.Stream) {}

type fakeStream struct {
	io.ReadWriteCloser
	h http.Header
}

func (s *fakeStream) Reset() error         { return s.Close() }
func (s *fakeStream) Headers() http.Header { return s.h }
func (s *fakeStream) Identifier() uint32   { return 0 }

type nopRWC struct{}

func (nopRWC) Read([]byte) (int, error)    { return 0, io.EOF }
func (nopRWC) Write(b []byte) (int, error) { return len(b), nil }
func (nopRWC) Close() error                { return nil }

func TestPortForwardLifecycle(t *testing.T) {
	pod := httptest.NewServer(meHandler(t))
	defer pod.Close()
	fd := &fakeDialer{target: strings.TrimPrefix(pod.URL, "http://")}
	var gotURL string
	pf := NewPortForward(&rest.Config{Host: "https://api.example:6443/prefix"}, TLSOptions{})
	pf.Dialer = func(_ *rest.Config, u *url.URL) (httpstream.Dialer, error) {
		gotURL = u.String()
		return fd, nil
	}
	tg := Target{Namespace: "axon", Pod: "axonserver-1-0"}
	base, _, err := pf.Endpoint(ctx, tg)
	if err != nil || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("Endpoint = %s, %v", base, err)
	}
	if gotURL != "https://api.example:6443/prefix/api/v1/namespaces/axon/pods/axonserver-1-0/portforward" {
		t.Errorf("portforward URL = %s", gotURL)
	}
	if m, err := me(t, pf, tg); err != nil || m.Name != "axonserver-1" {
		t.Fatalf("Me through forward: %v %v", m, err)
	}
	base2, _, _ := pf.Endpoint(ctx, tg)
	if base2 != base || pf.Active() != 1 || fd.dials != 1 {
		t.Errorf("forward not reused: %s vs %s, active %d, dials %d", base, base2, pf.Active(), fd.dials)
	}
	// a second pod gets its own forward
	if b3, _, err := pf.Endpoint(ctx, Target{Namespace: "axon", Pod: "axonserver-2-0"}); err != nil || b3 == base || pf.Active() != 2 {
		t.Errorf("second pod: %s %v active=%d", b3, err, pf.Active())
	}
	if err := pf.Close(); err != nil || pf.Active() != 0 {
		t.Fatalf("Close: %v active=%d", err, pf.Active())
	}
	if _, _, err := pf.Endpoint(ctx, tg); !errors.Is(err, errClosed) {
		t.Errorf("after Close: %v", err)
	}
	// listener is gone
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Error("local port still open after Close")
	}
}

func TestPortForwardDialFailure(t *testing.T) {
	pf := NewPortForward(&rest.Config{Host: "https://api.example"}, TLSOptions{})
	pf.Dialer = func(*rest.Config, *url.URL) (httpstream.Dialer, error) { return failDialer{}, nil }
	defer pf.Close()
	_, _, err := pf.Endpoint(ctx, Target{Namespace: "axon", Pod: "axonserver-1-0"})
	// the forwarder listens first and dials per connection, so a dial error shows up on use;
	// here we only require no hang and a usable or failing endpoint.
	if err != nil && strings.Contains(err.Error(), "\n") {
		t.Errorf("multi-line: %v", err)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	pf2 := NewPortForward(&rest.Config{Host: "https://api.example"}, TLSOptions{})
	pf2.Dialer = func(*rest.Config, *url.URL) (httpstream.Dialer, error) { return nil, errors.New("no SPDY") }
	if _, _, err := pf2.Endpoint(ctx2, Target{Namespace: "axon", Pod: "p"}); err == nil || !strings.Contains(err.Error(), "no SPDY") {
		t.Errorf("dialer error: %v", err)
	}
}

type failDialer struct{}

func (failDialer) Dial(...string) (httpstream.Connection, string, error) {
	return nil, "", errors.New("upgrade request required")
}

func TestDefaultDialerBuilds(t *testing.T) {
	u, err := PortForwardURL(&rest.Config{Host: "https://api.example:6443"}, "axon", "p")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DefaultDialer(&rest.Config{Host: "https://api.example:6443"}, u); err != nil {
		t.Fatalf("DefaultDialer: %v", err)
	}
}
