package axonserver

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
)

// TokenHeader is the HTTP header Axon Server reads the access token from. The
// client never sends the token as a query parameter (the server accepts that too),
// so a token cannot leak through a *url.Error or a logged URL.
const TokenHeader = "AxonIQ-Access-Token"

// Token is an Axon Server access token. Every formatting path (%s, %v, %+v,
// %#v, %q, %x, JSON) prints a redacted placeholder. The value sits behind an
// unexported pointer, so even where fmt cannot call these methods (a Token in an
// unexported field of another struct) it prints an address, not the secret.
type Token struct{ value *string }

// NewToken wraps a raw token value. Surrounding white space (a trailing newline
// from a file or Secret) is removed.
func NewToken(raw string) Token {
	v := strings.TrimSpace(raw)
	if v == "" {
		return Token{}
	}
	return Token{value: &v}
}

// Empty reports whether no token is set.
func (t Token) Empty() bool { return t.value == nil }

// Reveal returns the raw value. Only the request code calls it, to set the header.
func (t Token) Reveal() string {
	if t.value == nil {
		return ""
	}
	return *t.value
}

const redacted = "[REDACTED]"

func (t Token) placeholder() string {
	if t.value == nil {
		return "<none>"
	}
	return redacted
}

// String implements fmt.Stringer.
func (t Token) String() string { return t.placeholder() }

// GoString implements fmt.GoStringer (%#v).
func (t Token) GoString() string { return "axonserver.Token(" + t.placeholder() + ")" }

// Format implements fmt.Formatter so that every verb is redacted.
func (t Token) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(t.GoString()))
		return
	}
	_, _ = f.Write([]byte(t.placeholder()))
}

// MarshalJSON keeps the token out of JSON dumps.
func (t Token) MarshalJSON() ([]byte, error) { return []byte(`"` + t.placeholder() + `"`), nil }

// TokenSource yields the token to send. Implementations should cache and must
// not put the token in their errors.
type TokenSource interface {
	Token(ctx context.Context) (Token, error)
}

// StaticToken is a TokenSource for a fixed token.
type StaticToken Token

// Token implements TokenSource.
func (s StaticToken) Token(context.Context) (Token, error) { return Token(s), nil }

// NoToken sends no token (access control disabled).
var NoToken TokenSource = StaticToken{}

// Lazy loads a token once and caches the result (token or error); embed it in
// token sources that read from somewhere.
type Lazy struct {
	once sync.Once
	tok  Token
	err  error
}

// Get returns the cached result, calling load on first use.
func (l *Lazy) Get(load func() (Token, error)) (Token, error) {
	l.once.Do(func() { l.tok, l.err = load() })
	return l.tok, l.err
}

// EnvToken reads the token from an environment variable on first use.
type EnvToken struct {
	Var  string
	lazy Lazy
}

// Token implements TokenSource.
func (e *EnvToken) Token(context.Context) (Token, error) {
	return e.lazy.Get(func() (Token, error) {
		v, ok := os.LookupEnv(e.Var)
		if !ok || strings.TrimSpace(v) == "" {
			return Token{}, fmt.Errorf("access token: environment variable %s is not set or empty", e.Var)
		}
		return NewToken(v), nil
	})
}

// FileToken reads the token from a file (e.g. Axon Server's security/.token) on
// first use.
type FileToken struct {
	Path string
	lazy Lazy
}

// Token implements TokenSource.
func (f *FileToken) Token(context.Context) (Token, error) {
	return f.lazy.Get(func() (Token, error) {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			// os.PathError holds only the path and the errno, never the content.
			return Token{}, fmt.Errorf("access token: %w", err)
		}
		tok := NewToken(string(b))
		if tok.Empty() {
			return Token{}, fmt.Errorf("access token: file %s is empty", f.Path)
		}
		return tok, nil
	})
}
