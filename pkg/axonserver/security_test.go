package axonserver

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokenNeverFormatted(t *testing.T) {
	tok := NewToken("  " + secret + "\n")
	if tok.Reveal() != secret {
		t.Fatalf("Reveal = %q", tok.Reveal())
	}
	holder := struct {
		T   Token
		P   *Token
		S   StaticToken
		Src TokenSource
	}{tok, &tok, StaticToken(tok), StaticToken(tok)}
	hidden := struct {
		tok Token
		src TokenSource
		env *EnvToken
	}{tok, StaticToken(tok), func() *EnvToken { e := &EnvToken{Var: "X"}; e.lazy.tok = tok; return e }()}
	c, _ := New("http://x", nil, WithToken(StaticToken(tok)))
	js, _ := json.Marshal(holder)
	for _, s := range []string{
		fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s %q %x %X %d", tok, tok, tok, tok, tok, tok, tok, tok),
		fmt.Sprintf("%v %+v %#v", holder, holder, holder), fmt.Sprintf("%v %+v %#v", &holder, &holder, &holder),
		fmt.Sprintf("%v %+v %#v %s", c, c, c, c), string(js),
		fmt.Sprintf("%v %+v %#v", hidden, hidden, hidden),
	} {
		if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) {
			t.Errorf("token leaked: %s", s)
		}
	}
	if NewToken("").String() != "<none>" || tok.String() != "[REDACTED]" {
		t.Error("placeholders")
	}
}

func TestTokenNeverInErrorsOrDumps(t *testing.T) {
	var dumps []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(TokenHeader) != secret {
			t.Errorf("header = %q", r.Header.Get(TokenHeader))
		}
		if strings.Contains(r.URL.String(), secret) {
			t.Error("token in URL")
		}
		switch r.URL.Path {
		case "/v1/public/me": // server echoing the token back in its error must not matter: we do not echo the request
			w.WriteHeader(500)
			fmt.Fprint(w, "boom")
		case "/v1/public":
			// hang until the client times out
			time.Sleep(300 * time.Millisecond)
		default:
			w.WriteHeader(403)
			fmt.Fprint(w, "Invalid token\n")
		}
	}))
	defer srv.Close()
	src := StaticToken(NewToken(secret))
	hc := &http.Client{Timeout: 50 * time.Millisecond, Transport: dumpingTransport{&dumps}}
	c, _ := New(srv.URL, hc, WithToken(src), WithNode("axonserver-1"))

	var errs []error
	_, err := c.Me(context.Background())
	errs = append(errs, err)
	_, err = c.Public(context.Background())
	errs = append(errs, err)
	_, err = c.RaftStatus(context.Background())
	errs = append(errs, err)

	// refused connection: the url.Error must not carry the token
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c2, _ := New("http://"+addr, nil, WithToken(src))
	_, err = c2.Me(context.Background())
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("refused: %v", err)
	}
	errs = append(errs, err)

	// token source failures
	_, err = (&EnvToken{Var: "KUBECTL_AXON_TEST_UNSET_VAR"}).Token(context.Background())
	errs = append(errs, err)

	for _, e := range errs {
		if e == nil {
			t.Fatal("expected an error")
		}
		for _, s := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			if strings.Contains(s, secret) {
				t.Errorf("token leaked in error: %s", s)
			}
		}
		var ae *Error
		if errors.As(e, &ae) && ae.Err != nil && strings.Contains(fmt.Sprintf("%#v", ae.Err), secret) {
			t.Errorf("token leaked in wrapped error %#v", ae.Err)
		}
		if strings.Contains(e.Error(), "\n") {
			t.Errorf("multi-line error %q", e)
		}
	}
	for _, d := range dumps {
		if strings.Contains(d, secret) {
			t.Errorf("token in request dump:\n%s", d)
		}
	}
	if len(dumps) == 0 {
		t.Error("no dumps recorded")
	}
}

// dumpingTransport dumps requests the way a --v=8 debug log would, after
// redacting the token header with RedactedDump.
type dumpingTransport struct{ out *[]string }

func (d dumpingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := DumpRequest(r)
	*d.out = append(*d.out, string(b))
	return http.DefaultTransport.RoundTrip(r)
}

func TestDumpRequestRedacts(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://x/v1/public", nil)
	r.Header.Set(TokenHeader, secret)
	r.SetBasicAuth("admin", "pw")
	b, err := DumpRequest(r)
	if err != nil || strings.Contains(string(b), secret) || strings.Contains(string(b), "YWRtaW46cHc=") || !strings.Contains(string(b), "[REDACTED]") {
		t.Fatalf("dump = %s, %v", b, err)
	}
	if r.Header.Get(TokenHeader) != secret {
		t.Error("DumpRequest modified the request")
	}
	raw, _ := httputil.DumpRequestOut(r, false)
	if !strings.Contains(string(raw), secret) {
		t.Skip("sanity: plain dumps do contain it")
	}
}

func TestFileAndEnvTokens(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, ".token")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := (&FileToken{Path: p}).Token(ctx)
	if err != nil || tok.Reveal() != secret {
		t.Fatalf("file token: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := (&FileToken{Path: empty}).Token(ctx); err == nil {
		t.Error("empty file accepted")
	}
	if _, err := (&FileToken{Path: filepath.Join(dir, "nope")}).Token(ctx); err == nil {
		t.Error("missing file accepted")
	}
	t.Setenv("KUBECTL_AXON_TEST_TOKEN", secret)
	tok, err = (&EnvToken{Var: "KUBECTL_AXON_TEST_TOKEN"}).Token(ctx)
	if err != nil || tok.Reveal() != secret {
		t.Fatalf("env token: %v", err)
	}
}

func TestTLSMismatch(t *testing.T) {
	// HTTPS server, client without its CA
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "{}") }))
	defer tlsSrv.Close()
	tlsSrv.Config.ErrorLog = quietLog()
	c, _ := New(tlsSrv.URL, &http.Client{}, WithNode("axonserver-1"))
	_, err := c.Info(ctx)
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "unknown authority") || !strings.Contains(err.Error(), "--axon-ca-file") ||
		!strings.Contains(err.Error(), "--insecure-skip-axon-tls-verify") || !strings.HasPrefix(err.Error(), "axonserver-1: GET /actuator/info: TLS") {
		t.Errorf("unknown CA: %v", err)
	}

	// HTTPS server spoken to in plain HTTP
	plainURL := strings.Replace(tlsSrv.URL, "https://", "http://", 1)
	c, _ = New(plainURL, nil, WithNode("axonserver-1"))
	_, err = c.Info(ctx)
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "expects HTTPS") || !strings.Contains(err.Error(), "https") {
		t.Errorf("http to https: %v", err)
	}

	// plain HTTP server spoken to with TLS
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "{}") }))
	defer plain.Close()
	plain.Config.ErrorLog = quietLog()
	c, _ = New(strings.Replace(plain.URL, "http://", "https://", 1), nil, WithNode("axonserver-1"))
	_, err = c.Info(ctx)
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "answers plain HTTP") {
		t.Errorf("https to http: %v", err)
	}
	t.Log(err)

	// with the CA it works
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())
	_ = pem.EncodeToMemory // (CA file handling is tested in pkg/transport)
	c, _ = New(tlsSrv.URL, tlsSrv.Client())
	if _, err := c.Info(ctx); err != nil {
		t.Errorf("with CA: %v", err)
	}
	for _, e := range []error{err} {
		if e != nil && strings.Contains(e.Error(), "\n") {
			t.Error("multi-line")
		}
	}
}

func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
