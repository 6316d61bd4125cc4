package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"

	"github.com/nvr-project/nvr/api"
	"github.com/nvr-project/nvr/internal/config"
)

// listenAPI binds the API's address before anything else starts (a port
// in use must cost no camera a session and leave the index unopened),
// with an error that says what to do. Without TLS it wraps the listener so
// that net/http's own 400 and 431 answers are JSON too; with TLS (certs
// set) it cannot: the rewrite needs the plaintext, and a wrapped TLS
// connection would hide TLS from the handlers (no Secure cookie), so those
// two rare answers stay plain text there.
func listenAPI(addr string, certs *certHolder) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen %s: the address is already in use (another nvr, or another program on that port?); set listen in the config to a free one", addr)
		}
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if certs != nil {
		return tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}), nil
	}
	return api.WrapListener(ln), nil
}

// certHolder is the API's certificate, replaced on SIGHUP (a renewed
// certificate needs no restart).
type certHolder struct {
	cur atomic.Pointer[tls.Certificate]
}

// load reads the PEM files of cfg's api.tls_cert and api.tls_key.
func (h *certHolder) load(cfg *config.Config) error {
	c, err := tls.LoadX509KeyPair(cfg.API.TLSCert, cfg.API.TLSKey)
	if err != nil {
		return fmt.Errorf("api.tls_cert/api.tls_key: %w", err)
	}
	h.cur.Store(&c)
	return nil
}

func (h *certHolder) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return h.cur.Load(), nil }

// checkDemoListen refuses a demo address beyond loopback: the demo's API
// has no token, and nvr serves a token-less API on loopback only.
func checkDemoListen(addr string) error {
	if !api.IsLoopback(addr) {
		return fmt.Errorf("-listen %s: the demo serves its API without a token, so only on a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT); to reach nvr from other machines run nvr serve with api.token and api.allow_remote", addr)
	}
	return nil
}
