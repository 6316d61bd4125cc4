package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/nvr-project/nvr/api"
)

// checkListen fails early when the API's address cannot be bound (a port in
// use, an address this machine does not have), before the index is opened
// and recovered: that can take a while on a big data dir, and a second nvr
// started by mistake must not touch it. The socket is closed again and the
// service binds its own; a port taken in between still fails there.
func checkListen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen %s: the address is already in use (another nvr, or another program on that port?); set listen in the config to a free one", addr)
		}
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln.Close()
}

// checkDemoListen refuses a demo address beyond loopback: the demo's API
// has no token, and nvr serves a token-less API on loopback only.
func checkDemoListen(addr string) error {
	if !api.IsLoopback(addr) {
		return fmt.Errorf("-listen %s: the demo serves its API without a token, so only on a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT); to reach nvr from other machines run nvr serve with api.token and api.allow_remote", addr)
	}
	return nil
}
