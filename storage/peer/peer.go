// Package peer reads a segment that is still on another node's disk from
// that node's API, for the nodes of one shared index (docs/scale-out.md,
// "Reading another node's segments"). It is the client half; the other
// node serves the segment with GET /api/segments/{id}, answering Range
// requests, as it does for any client. storage.Options.Peer takes
// Client.Open.
//
// The peer's address comes from the index (its heartbeat row), and this
// node's API token goes to it: the nodes of a site share api.token. The
// token is never in an error or a log line.
package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nvr-project/nvr/storage"
)

// Bounds on a read from another node.
const (
	// requestTimeout bounds one ranged GET, headers and body: a read is
	// at most what an export or a download reads at once (a few hundred
	// KB), which takes milliseconds on a site's network.
	requestTimeout = 30 * time.Second
	// maxRead bounds the bytes one ReadAt asks for: a caller's larger
	// buffer is filled in several requests, so no response is unbounded.
	maxRead = 4 << 20
)

// Client reads segments from other nodes.
type Client struct {
	// Token is sent as the bearer token (this node's api.token); empty
	// sends none (a peer without a token on loopback).
	Token string
	// HTTP is the client used; nil uses one with requestTimeout.
	HTTP *http.Client
}

// Open returns a reader of seg served by the node whose API is at base
// (http(s)://host:port). Its size is the row's bytes: what that node has
// synced. ctx bounds every read.
func (c *Client) Open(ctx context.Context, base string, seg storage.Segment) (storage.SegmentReader, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
		return nil, fmt.Errorf("peer: node %s: bad address in the index", seg.Node)
	}
	u = u.JoinPath("api", "segments", strconv.FormatInt(seg.ID, 10))
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: requestTimeout}
	}
	return &reader{ctx: ctx, c: hc, token: c.Token, url: u.String(), node: seg.Node, id: seg.ID, size: seg.Bytes}, nil
}

type reader struct {
	ctx   context.Context
	c     *http.Client
	token string
	url   string
	node  string
	id    int64
	size  int64
}

func (r *reader) Size() int64  { return r.size }
func (r *reader) Close() error { return nil }

// ReadAt reads len(p) bytes at off with ranged GETs of at most maxRead.
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("peer: segment %d: negative offset", r.id)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	short := false
	if int64(len(p)) > r.size-off {
		p, short = p[:r.size-off], true
	}
	n := 0
	for n < len(p) {
		m, err := r.get(p[n:min(len(p), n+maxRead)], off+int64(n))
		n += m
		if err != nil {
			return n, err
		}
	}
	if short {
		return n, io.EOF
	}
	return n, nil
}

// get fills p from the bytes at off with one ranged GET.
func (r *reader) get(p []byte, off int64) (int, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: segment %d on node %s: %s", storage.ErrOtherNode, r.id, r.node, fmt.Sprintf(format, args...))
	}
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return 0, fail("%v", err)
	}
	last := off + int64(len(p)) - 1
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, last))
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in fail's message already, as the node's name
		}
		return 0, fail("%v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return 0, fail("%s", resp.Status)
	}
	if got := resp.Header.Get("Content-Range"); !strings.HasPrefix(got, fmt.Sprintf("bytes %d-%d/", off, last)) {
		return 0, fail("answered the range %q for %d-%d", clip(got), off, last)
	}
	n, err := io.ReadFull(io.LimitReader(resp.Body, int64(len(p))), p)
	if err != nil {
		return n, fail("read: %v", err)
	}
	return n, nil
}

// clip shortens a peer's header for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
