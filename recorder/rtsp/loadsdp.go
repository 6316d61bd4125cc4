package rtsp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nvr-project/nvr/internal/redact"
	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

const (
	// maxSDPFile bounds an out-of-band SDP; real ones are a few KiB.
	maxSDPFile = rtspmsg.MaxBodyLen
	// loadSDPTimeout bounds fetching an SDP over HTTP when ctx has no
	// earlier deadline.
	loadSDPTimeout = 10 * time.Second
)

// LoadSDP reads an out-of-band SDP from a file path or an http(s) URL, at
// most maxSDPFile bytes, for Config.SDP. Errors name the source with any
// password redacted.
//
// Over HTTP the camera rules hold as for RTSP: credentials from the URL
// answer a challenge (Digest preferred, Basic only when asked, never before
// and never after the host offered Digest) and are sent only to the URL's
// scheme, host and port; a redirect elsewhere is followed without them.
func LoadSDP(ctx context.Context, src string) ([]byte, error) {
	name := redact.URL(src)
	l := strings.ToLower(src)
	var r io.Reader
	if strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") {
		ctx, cancel := context.WithTimeout(ctx, loadSDPTimeout)
		defer cancel()
		resp, err := getSDP(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("load SDP %s: %w", name, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("load SDP %s: HTTP status %d", name, resp.StatusCode)
		}
		r = resp.Body
	} else {
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("load SDP: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSDPFile+1))
	if err != nil {
		return nil, fmt.Errorf("load SDP %s: %w", name, err)
	}
	if len(b) > maxSDPFile {
		return nil, fmt.Errorf("load SDP %s: larger than %d bytes", name, maxSDPFile)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("load SDP %s: %w", name, errEmptySDP)
	}
	return b, nil
}

// sdpClient follows no redirect by itself: getSDP does, deciding where the
// credentials may go.
var sdpClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// getSDP GETs an SDP URL, answering challenges and following redirects
// under the credential rules of LoadSDP. The returned error never holds the
// URL (net/url's errors quote it, password and all).
func getSDP(ctx context.Context, src string) (*http.Response, error) {
	first, err := parseHTTPURL(src)
	if err != nil {
		return nil, err
	}
	mem := NewAuthMemory()
	cur := first
	for hops := 0; ; hops++ {
		var a *authenticator
		for retries := 0; ; retries++ {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, cur.reqURL, nil)
			if err != nil {
				return nil, errors.New("invalid URL")
			}
			req.Header.Set("Accept", "application/sdp")
			if a != nil {
				req.Header.Set("Authorization", a.header(http.MethodGet, req.URL.RequestURI()))
			}
			resp, err := sdpClient.Do(req)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, errors.New("request failed")
			}
			if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
				drain(resp)
				if hops >= maxRedirects {
					return nil, fmt.Errorf("more than %d redirects", maxRedirects)
				}
				next, err := req.URL.Parse(loc)
				if err != nil {
					return nil, errors.New("redirect to an invalid URL")
				}
				next.User = nil
				nu, err := parseHTTPURL(next.String())
				if err != nil {
					return nil, errors.New("redirect to an invalid URL")
				}
				cur = redirectTarget(first, nu)
				break
			}
			if resp.StatusCode != http.StatusUnauthorized {
				return resp, nil
			}
			drain(resp)
			if !cur.hasCreds {
				if cur.withheld {
					return nil, fmt.Errorf("redirected to %s; credentials are not sent to another host", cur.hostPort)
				}
				return nil, errors.New("the server wants credentials and the URL has none")
			}
			cs := parseChallenges(resp.Header.Values("WWW-Authenticate"))
			if retries >= maxAuthRetries || (retries >= 1 && !isStale(cs)) {
				return nil, errors.New("the server rejected the credentials")
			}
			if a, err = mem.choose(cur, AuthAny, cs); err != nil {
				return nil, err
			}
		}
	}
}

// parseHTTPURL splits an http(s) URL as parseCameraURL does an RTSP one:
// request URL without userinfo, origin and credentials.
func parseHTTPURL(raw string) (cameraURL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return cameraURL{}, errors.New("invalid URL")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	port := u.Port()
	switch {
	case u.Scheme == "http" && port == "":
		port = "80"
	case u.Scheme == "https" && port == "":
		port = "443"
	case u.Scheme != "http" && u.Scheme != "https":
		return cameraURL{}, errors.New("invalid URL")
	}
	c := cameraURL{tls: u.Scheme == "https"}
	c.split(u, port)
	return c, nil
}

// drain reads a little of a body we do not use, so the connection can be
// reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxSDPFile))
	_ = resp.Body.Close()
}

var errEmptySDP = errors.New("empty SDP")
