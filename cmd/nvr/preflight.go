package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/nvr-project/nvr/api"
)

// listenAPI binds the API's address before anything else starts (a port
// in use must cost no camera a session and leave the index unopened),
// with an error that says what to do, and wraps the listener so that
// net/http's own 400 and 431 answers are JSON too.
func listenAPI(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen %s: the address is already in use (another nvr, or another program on that port?); set listen in the config to a free one", addr)
		}
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return api.WrapListener(ln), nil
}

// checkDemoListen refuses a demo address beyond loopback: the demo's API
// has no token, and nvr serves a token-less API on loopback only.
func checkDemoListen(addr string) error {
	if !api.IsLoopback(addr) {
		return fmt.Errorf("-listen %s: the demo serves its API without a token, so only on a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT); to reach nvr from other machines run nvr serve with api.token and api.allow_remote", addr)
	}
	return nil
}
