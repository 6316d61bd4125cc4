package rtsp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
func LoadSDP(ctx context.Context, src string) ([]byte, error) {
	name := redact.URL(src)
	l := strings.ToLower(src)
	var r io.Reader
	if strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") {
		ctx, cancel := context.WithTimeout(ctx, loadSDPTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, fmt.Errorf("load SDP %s: invalid URL", name)
		}
		req.Header.Set("Accept", "application/sdp")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("load SDP %s: %w", name, ctx.Err())
			}
			// *url.Error quotes the URL with its password: do not wrap it.
			return nil, fmt.Errorf("load SDP %s: request failed", name)
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

var errEmptySDP = errors.New("empty SDP")
