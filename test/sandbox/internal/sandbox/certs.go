package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki writes DIR/pki: ca.crt/ca.key, apiserver.crt/.key (for the names and
// addresses the API server is reached by), sa.key/sa.pub for service account
// tokens, and tokens.csv for the static token users.
type pki struct {
	caPEM  []byte
	tokens map[string]string // user -> token
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// staticUsers are the token users: name, groups.
var staticUsers = []struct{ name, groups string }{
	{"sandbox-admin", "system:masters"},
	{"system:kube-controller-manager", "system:masters"},
	{"system:kube-scheduler", "system:masters"},
	{"axon-sandbox-agent", "system:masters"},
	{"axon-operator", ""},
}

const (
	adminUser    = "sandbox-admin"
	operatorUser = "axon-operator"
)

func makePKI(dir string, ips []net.IP) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "axon-sandbox-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	caKeyDER, _ := x509.MarshalECPrivateKey(caKey)
	if err := writePEM(filepath.Join(dir, "ca.crt"), "CERTIFICATE", caDER, 0o644); err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(dir, "ca.key"), "EC PRIVATE KEY", caKeyDER, 0o600); err != nil {
		return nil, err
	}

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now,
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: append([]net.IP{net.ParseIP("127.0.0.1")}, ips...),
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	srvKeyDER, _ := x509.MarshalECPrivateKey(srvKey)
	if err := writePEM(filepath.Join(dir, "apiserver.crt"), "CERTIFICATE", srvDER, 0o644); err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(dir, "apiserver.key"), "EC PRIVATE KEY", srvKeyDER, 0o600); err != nil {
		return nil, err
	}

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(dir, "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey), 0o600); err != nil {
		return nil, err
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err := writePEM(filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pubDER, 0o644); err != nil {
		return nil, err
	}

	p := &pki{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tokens: map[string]string{}}
	var csv []byte
	for i, u := range staticUsers {
		tok := randomToken()
		p.tokens[u.name] = tok
		csv = fmt.Appendf(csv, "%s,%s,uid-%d,%q\n", tok, u.name, i+1, u.groups)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), csv, 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

// kubeconfig renders a kubeconfig for one token user.
func kubeconfig(server string, caPEM []byte, user, token, namespace string) []byte {
	ctx := "axon-sandbox"
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: axon-sandbox
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: %s
  context:
    cluster: axon-sandbox
    user: %s
    namespace: %s
current-context: %s
`, server, b64(caPEM), user, token, ctx, user, namespace, ctx)
}
