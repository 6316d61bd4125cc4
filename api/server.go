package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Server timeouts (RELIABILITY S6, gosec G112).
const (
	// ReadHeaderTimeout cuts off a client that dribbles its headers
	// (slowloris); a real client sends them in one packet.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request; the API takes no bodies.
	// net/http lifts it once a bodiless request is read, so it does not
	// limit how long a response takes.
	ReadTimeout = 30 * time.Second
	// IdleTimeout closes keep-alive connections nobody uses.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes bounds the request line plus headers; API requests
	// need well under 4 KB.
	MaxHeaderBytes = 16 << 10
)

// NewServer returns an *http.Server for addr serving h, with header, read
// and idle timeouts and a header size bound. It sets no WriteTimeout: that
// would cut off long exports. The API handler sets a write deadline per
// response instead (ResponseWriteTimeout; StreamStallTimeout per write of a
// download). Use it with the handler from New.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// IsLoopback reports whether a listen address ("host:port" or a bare host)
// only accepts connections from this machine: 127.0.0.0/8, ::1 or
// "localhost". An empty host (":8080"), 0.0.0.0, :: and every other name or
// address are not loopback.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}
