package rtsp

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// RTSP over TLS (rtsps://, RFC 7826 §19.2): RTSP and the interleaved media
// run inside one TLS connection. A camera's certificate is trusted when it
// chains to the system roots (or Config.RootCAs) for the host of the URL, or
// when its SHA-256 fingerprint equals Config.TLSFingerprint. Most cameras
// have self-signed certificates, so the second is the usual case: the first
// failed connection names the fingerprint to pin, as SSH does on first use.

// minTLSVersion: TLS 1.0 and 1.1 are broken (RFC 8996).
const minTLSVersion = tls.VersionTLS12

// fingerprintPrefix names the hash of a fingerprint.
const fingerprintPrefix = "sha256:"

// ErrCertificate is the kind of a refused TLS certificate: not trusted and
// not pinned, or not the pinned one.
var ErrCertificate = errors.New("certificate refused")

// Fingerprint returns the fingerprint of a DER certificate as nvr shows and
// pins it: "sha256:" and the lower-case hex SHA-256 of the DER bytes.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return fingerprintPrefix + hex.EncodeToString(sum[:])
}

// ParseFingerprint normalises a pinned fingerprint: "sha256:" followed by
// the 64 hex digits of a SHA-256, in either case, optionally separated by
// colons as openssl prints them ("sha256:AB:CD:…"). The prefix is required,
// so a SHA-1 fingerprint copied by mistake is refused rather than compared.
func ParseFingerprint(s string) (string, error) {
	t := strings.TrimSpace(s)
	if len(t) < len(fingerprintPrefix) || !strings.EqualFold(t[:len(fingerprintPrefix)], fingerprintPrefix) {
		return "", errors.New(`want "sha256:" and 64 hex digits`)
	}
	hexPart := strings.ReplaceAll(t[len(fingerprintPrefix):], ":", "")
	b, err := hex.DecodeString(hexPart)
	if err != nil || len(b) != sha256.Size {
		return "", errors.New(`want "sha256:" and 64 hex digits`)
	}
	return fingerprintPrefix + hex.EncodeToString(b), nil
}

// certError is a certificate the session refused, with its fingerprint.
type certError struct {
	got    string // fingerprint of the certificate the server presented
	pinned string // the configured pin, "" when none
	err    error  // why the chain was not trusted (unpinned only)
}

func (e *certError) Error() string {
	if e.pinned != "" {
		return fmt.Sprintf("the camera's certificate %s does not match tls_fingerprint %s; "+
			"if the camera's certificate was replaced on purpose, set tls_fingerprint: %s", e.got, e.pinned, e.got)
	}
	return fmt.Sprintf("%v; to trust this camera's certificate, pin it with tls_fingerprint: %s", e.err, e.got)
}

func (e *certError) Unwrap() error { return e.err }

// tlsConfig returns the client TLS configuration for one connection. Go's
// own verification is replaced by verifyPeer so that a refusal can name the
// fingerprint of the certificate it refused.
func tlsConfig(cfg Config, u cameraURL) *tls.Config {
	return &tls.Config{
		MinVersion:         minTLSVersion,
		ServerName:         u.serverName,
		InsecureSkipVerify: true, // verifyPeer verifies every connection
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPeer(cs, cfg.TLSFingerprint, cfg.RootCAs, u.serverName)
		},
	}
}

// verifyPeer accepts the pinned certificate, or with no pin a chain to roots
// (nil: the system's) valid for host.
func verifyPeer(cs tls.ConnectionState, pin string, roots *x509.CertPool, host string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	got := Fingerprint(leaf.Raw)
	if pin != "" {
		if got != pin {
			return &certError{got: got, pinned: pin}
		}
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host}); err != nil {
		return &certError{got: got, err: err}
	}
	return nil
}
