package testcam

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// rawClient is a minimal RTSP client written for the tests: it sends
// exactly the bytes a test wants and reads responses and interleaved
// frames without interpretation, so faults are observable as they are.
type rawClient struct {
	t    *testing.T
	nc   net.Conn
	br   *bufio.Reader
	cseq int
	base string // rtsp://host:port/cam
}

type rawResponse struct {
	Status int
	Header map[string]string // lower-case keys
	Body   []byte
	Raw    string
}

func dialRaw(t *testing.T, s *Server) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr(), testWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, br: bufio.NewReaderSize(nc, 1<<16), base: "rtsp://" + s.Addr() + s.opts.Path}
}

// send writes a request with the given extra header lines.
func (c *rawClient) send(method, uri string, headers ...string) {
	c.t.Helper()
	c.cseq++
	msg := fmt.Sprintf("%s %s RTSP/1.0\r\nCSeq: %d\r\n", method, uri, c.cseq)
	for _, h := range headers {
		msg += h + "\r\n"
	}
	msg += "\r\n"
	if _, err := c.nc.Write([]byte(msg)); err != nil {
		c.t.Fatalf("write %s: %v", method, err)
	}
}

// do sends a request and returns its response, skipping interleaved
// frames that arrive first.
func (c *rawClient) do(method, uri string, headers ...string) rawResponse {
	c.t.Helper()
	c.send(method, uri, headers...)
	r, err := c.readResponse()
	if err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	if got := r.Header["cseq"]; got != strconv.Itoa(c.cseq) {
		c.t.Fatalf("%s: CSeq %q, want %d", method, got, c.cseq)
	}
	return r
}

func (c *rawClient) readResponse() (rawResponse, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(testWait)); err != nil {
		return rawResponse{}, err
	}
	for {
		b, err := c.br.Peek(1)
		if err != nil {
			return rawResponse{}, err
		}
		if b[0] != '$' {
			break
		}
		if _, _, err := c.readFrame(); err != nil {
			return rawResponse{}, err
		}
	}
	var raw strings.Builder
	line, err := c.br.ReadString('\n')
	if err != nil {
		return rawResponse{}, err
	}
	raw.WriteString(line)
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "RTSP/1.0" {
		return rawResponse{}, fmt.Errorf("status line %q", line)
	}
	r := rawResponse{Header: map[string]string{}}
	if r.Status, err = strconv.Atoi(f[1]); err != nil {
		return r, err
	}
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return r, err
		}
		raw.WriteString(line)
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		r.Header[strings.ToLower(k)] = strings.TrimSpace(v)
	}
	if cl := r.Header["content-length"]; cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n > 1<<20 {
			return r, fmt.Errorf("content-length %q", cl)
		}
		r.Body = make([]byte, n)
		if _, err := io.ReadFull(c.br, r.Body); err != nil {
			return r, err
		}
		raw.Write(r.Body)
	}
	r.Raw = raw.String()
	return r, nil
}

// readFrame reads one interleaved frame (RFC 2326 §10.12).
func (c *rawClient) readFrame() (int, []byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0] != '$' {
		return 0, nil, fmt.Errorf("not an interleaved frame: %q", h[:])
	}
	b := make([]byte, int(h[2])<<8|int(h[3]))
	if _, err := io.ReadFull(c.br, b); err != nil {
		return 0, nil, err
	}
	return int(h[1]), b, nil
}

// readRTP returns the next RTP packet on channel 0, skipping RTCP.
func (c *rawClient) readRTP(deadline time.Time) (*rtp.Packet, error) {
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	for {
		ch, b, err := c.readFrame()
		if err != nil {
			return nil, err
		}
		if ch != 0 {
			continue
		}
		var p rtp.Packet
		if err := p.Unmarshal(b); err != nil {
			return nil, err
		}
		return &p, nil
	}
}

// play runs DESCRIBE, SETUP (TCP) and PLAY and returns the PLAY response.
func (c *rawClient) play(extra ...string) rawResponse {
	c.t.Helper()
	if r := c.do("DESCRIBE", c.base, extra...); r.Status != 200 {
		c.t.Fatalf("DESCRIBE: %d", r.Status)
	}
	r := c.do("SETUP", c.base+"/"+trackControl, append([]string{"Transport: RTP/AVP/TCP;unicast;interleaved=0-1"}, extra...)...)
	if r.Status != 200 {
		c.t.Fatalf("SETUP: %d", r.Status)
	}
	sess := "Session: " + sessionID(r.Header["session"])
	r = c.do("PLAY", c.base, append([]string{sess}, extra...)...)
	if r.Status != 200 {
		c.t.Fatalf("PLAY: %d", r.Status)
	}
	return r
}

// isTimeout reports a read deadline expiry.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
