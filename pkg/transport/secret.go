package transport

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
)

// Errors of SecretToken beyond the Kubernetes API's own (test with errors.Is).
var (
	// ErrNoKey: the Secret has no such key.
	ErrNoKey = errors.New("no key")
	// ErrEmptyKey: the key holds nothing but white space.
	ErrEmptyKey = errors.New("empty")
)

// SecretRef names a key of a Secret: the --token-secret name/key value.
type SecretRef struct {
	Name string
	Key  string
}

func (r SecretRef) String() string { return r.Name + "/" + r.Key }

// ParseSecretRef parses "name/key" (e.g. "axonserver-token/token").
func ParseSecretRef(s string) (SecretRef, error) {
	name, key, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || name == "" || key == "" || strings.Contains(key, "/") {
		return SecretRef{}, fmt.Errorf("--token-secret %q: want <secret-name>/<key>, e.g. axonserver-token/token", s)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return SecretRef{}, fmt.Errorf("--token-secret %q: invalid secret name: %s", s, errs[0])
	}
	if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
		return SecretRef{}, fmt.Errorf("--token-secret %q: invalid key: %s", s, errs[0])
	}
	return SecretRef{Name: name, Key: key}, nil
}

// SecretToken is an axonserver.TokenSource reading a key of a Secret, once; the
// value is cached for the life of the SecretToken. Errors name the Secret and
// key, never the data.
type SecretToken struct {
	Client    kubernetes.Interface
	Namespace string
	Ref       SecretRef

	lazy axonserver.Lazy
}

// NewSecretToken returns a token source for ref in namespace.
func NewSecretToken(c kubernetes.Interface, namespace string, ref SecretRef) *SecretToken {
	return &SecretToken{Client: c, Namespace: namespace, Ref: ref}
}

// Token implements axonserver.TokenSource.
func (s *SecretToken) Token(ctx context.Context) (axonserver.Token, error) {
	return s.lazy.Get(func() (axonserver.Token, error) {
		where := fmt.Sprintf("token secret %s/%s", s.Namespace, s.Ref.Name)
		sec, err := s.Client.CoreV1().Secrets(s.Namespace).Get(ctx, s.Ref.Name, metav1.GetOptions{})
		if err != nil {
			return axonserver.Token{}, fmt.Errorf("%s: %w", where, err)
		}
		v, ok := sec.Data[s.Ref.Key]
		if !ok {
			return axonserver.Token{}, fmt.Errorf("%s: %w %q (keys: %s)", where, ErrNoKey, s.Ref.Key, strings.Join(keys(sec.Data), ", "))
		}
		tok := axonserver.NewToken(string(v))
		if tok.Empty() {
			return axonserver.Token{}, fmt.Errorf("%s: key %q is %w", where, s.Ref.Key, ErrEmptyKey)
		}
		return tok, nil
	})
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out) // stable order for messages
	return out
}
