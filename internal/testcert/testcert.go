// Package testcert makes TLS certificates for tests: a self-signed one, as
// most cameras have, or one issued by a test CA, as a camera with a
// certificate from the owner's own CA has. Keys are ECDSA P-256, so making
// one takes well under a millisecond.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Cert is a certificate with its key.
type Cert struct {
	TLS  tls.Certificate   // for tls.Config.Certificates
	X509 *x509.Certificate // parsed
	key  *ecdsa.PrivateKey
}

// DER returns the certificate's DER bytes (what a fingerprint hashes).
func (c *Cert) DER() []byte { return c.X509.Raw }

// Pool returns a pool holding only this certificate, as roots.
func (c *Cert) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.X509)
	return p
}

// SelfSigned returns a self-signed leaf certificate for hosts (names or IP
// addresses); it ends the test on failure.
func SelfSigned(tb testing.TB, hosts ...string) *Cert { return must(tb)(issue(nil, false, hosts)) }

// NewCA returns a CA certificate that can Issue leaves.
func NewCA(tb testing.TB) *Cert { return must(tb)(issue(nil, true, nil)) }

// Issue returns a leaf for hosts signed by ca.
func (ca *Cert) Issue(tb testing.TB, hosts ...string) *Cert { return must(tb)(issue(ca, false, hosts)) }

func must(tb testing.TB) func(*Cert, error) *Cert {
	return func(c *Cert, err error) *Cert {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return c
	}
}

func issue(parent *Cert, isCA bool, hosts []string) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testcert: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("testcert: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "nvr test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.X509, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, fmt.Errorf("testcert: create: %w", err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testcert: parse: %w", err)
	}
	return &Cert{TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed}, X509: parsed, key: key}, nil
}

// WritePEM writes the certificate and its key as PEM files into dir and
// returns their paths, for a server configured with files.
func (c *Cert) WritePEM(tb testing.TB, dir string) (certPath, keyPath string) {
	tb.Helper()
	der, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		tb.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.X509.Raw}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return certPath, keyPath
}
