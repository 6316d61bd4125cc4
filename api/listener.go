package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// WrapListener makes the few answers net/http writes itself, before any
// handler runs, JSON like every other API error: 431 for headers beyond
// MaxHeaderBytes and 400 for a request it cannot parse (a missing Host, a
// bad request line). net/http writes each of them to the connection in one
// Write, as text/plain with "Connection: close"; the wrapped connection
// rewrites exactly that shape and passes every other write through. Serve
// the API's *http.Server from NewServer on the returned listener.
func WrapListener(ln net.Listener) net.Listener { return jsonErrListener{ln} }

type jsonErrListener struct{ net.Listener }

func (l jsonErrListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrConn{Conn: c}, nil
}

// plainErrorHeaders are the headers net/http (server.go, the "431 Request
// Header Fields Too Large" and "400 Bad Request" cases) puts between the
// status line and the text of an error it answers itself.
const plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

type jsonErrConn struct {
	net.Conn
}

func (c *jsonErrConn) Write(p []byte) (int, error) {
	if out, ok := rewritePlainError(p); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// ReadFrom keeps the sendfile path of the underlying TCP connection for
// downloads.
func (c *jsonErrConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// CloseWrite lets net/http half-close the connection after an error, as it
// does with a bare TCP connection.
func (c *jsonErrConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// rewritePlainError turns net/http's own "HTTP/1.1 4xx …" text answer into
// the API's JSON error body, or reports false for any other bytes.
func rewritePlainError(p []byte) ([]byte, bool) {
	if !bytes.HasPrefix(p, []byte("HTTP/1.1 4")) {
		return nil, false
	}
	i := bytes.Index(p, []byte(plainErrorHeaders))
	if i < 0 || len(p) < len("HTTP/1.1 400") {
		return nil, false
	}
	statusLine := string(p[:i])
	code, err := strconv.Atoi(statusLine[len("HTTP/1.1 "):len("HTTP/1.1 400")])
	if err != nil {
		return nil, false
	}
	// The text is "431 Request Header Fields Too Large" or "400 Bad
	// Request: reason"; the API's messages are lower case.
	text := strings.TrimSpace(string(p[i+len(plainErrorHeaders):]))
	text = strings.TrimSpace(strings.TrimPrefix(text, strconv.Itoa(code)))
	if st := http.StatusText(code); strings.HasPrefix(text, st) {
		text = strings.ToLower(st) + text[len(st):]
	}
	if text == "" {
		text = "bad request"
	}
	body, err := json.Marshal(errorBody{Error: text})
	if err != nil {
		return nil, false
	}
	body = append(body, '\n')
	var b bytes.Buffer
	b.WriteString(statusLine)
	b.WriteString("\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("\r\nConnection: close\r\n\r\n")
	b.Write(body)
	return b.Bytes(), true
}
