package testcam

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
)

// flakyListener fails its first Accept calls like a process out of file
// descriptors would.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

var errEMFILE = errors.New("accept: too many open files")

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, errEMFILE
	}
	return l.Listener.Accept()
}

// TestAcceptRetries: transient Accept errors do not stop the server.
// Not parallel: it sets the package's listener hook.
func TestAcceptRetries(t *testing.T) {
	var fl *flakyListener
	wrapListener = func(ln net.Listener) net.Listener {
		fl = &flakyListener{Listener: ln}
		fl.failures.Store(5)
		return fl
	}
	s, err := Start(Options{})
	wrapListener = nil
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := dialRaw(t, s)
	if r := c.do("OPTIONS", c.base); r.Status != 200 {
		t.Fatalf("OPTIONS %d", r.Status)
	}
	if fl.failures.Load() >= 0 {
		t.Fatal("the listener's failures were not all consumed")
	}
}
