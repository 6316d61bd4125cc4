package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nvr-project/nvr/footage"
	"github.com/nvr-project/nvr/internal/redact"
	"github.com/nvr-project/nvr/storage"
)

// ServeHTTP applies, in order, the checks that do not depend on the route:
// Host allowlist, cross-site refusal, method, path sanity, query length,
// authentication. Each answers before anything else is written.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The server has no WriteTimeout (it would cut long exports); every
	// response gets its own deadline here, and streams extend it as they go.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.writeTimeout))
	w.Header().Set("X-Content-Type-Options", "nosniff")

	// /api/info (the time zone, whether sign-in is on) is what the sign-in
	// page may know; everything else under /api/ needs authentication.
	protected := (strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/api/info") || r.URL.Path == "/metrics"

	if h.allowedHosts != nil && !h.allowedHosts[hostName(r.Host)] {
		h.writeError(w, r, errHost)
		return
	}

	// S4: the API changes nothing, so classic CSRF has nothing to forge; but
	// with no tokens on loopback any web page the user opens can still make
	// the browser fetch from the API (an <img>/<video> or no-cors fetch): it
	// cannot read the answer, yet it can probe which cameras exist and start
	// costly exports. Browsers label such requests Sec-Fetch-Site: cross-site
	// (Fetch Metadata); non-browser clients do not send the header. Older
	// browsers without Fetch Metadata still send Origin on cross-origin
	// fetches, and the API sends no CORS headers, so a foreign Origin is
	// refused too.
	if protected && (crossSite(r) || foreignOrigin(r)) {
		h.writeError(w, r, errCrossSite)
		return
	}
	signInForm := r.Method == http.MethodPost && (r.URL.Path == "/login" || r.URL.Path == "/logout")
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !signInForm {
		h.writeError(w, r, errMethod)
		return
	}
	if err := checkPath(r.URL.EscapedPath()); err != nil {
		h.writeError(w, r, err)
		return
	}
	if len(r.URL.RawQuery) > MaxQueryLen {
		h.writeError(w, r, errQueryTooLong)
		return
	}
	if protected {
		p, err := h.authenticate(r)
		if err != nil {
			h.m.authFailures.Inc()
			h.writeError(w, r, err)
			return
		}
		if p != nil {
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
	}
	h.mux.ServeHTTP(w, r)
}

// json adapts a handler that returns an error; the error is answered in
// writeError, the one place where errors become statuses.
func (h *handler) json(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.writeError(w, r, err)
		}
	})
}

// camera validates the {id} path value, checks the caller's scope, and finds
// the camera in the configured list. Scope comes before existence, so a
// scoped token learns nothing about cameras outside its scope.
func (h *handler) camera(r *http.Request) (CameraStatus, error) {
	id := r.PathValue("id")
	if err := checkCameraID(id); err != nil {
		return CameraStatus{}, err
	}
	if !principalFrom(r.Context()).mayView(id) {
		return CameraStatus{}, errForbidden
	}
	if storage.ValidCameraID(id) != nil {
		// No configured camera can have this id (config applies the same
		// rule), so it is unknown without a look at the list.
		return CameraStatus{}, errUnknownCamera
	}
	for _, c := range h.cameras.Cameras() {
		if c.ID == id {
			return c, nil
		}
	}
	return CameraStatus{}, errUnknownCamera
}

type cameraJSON struct {
	ID             string  `json:"id"`
	Name           string  `json:"name"`
	State          string  `json:"state"`
	LastError      string  `json:"last_error"`
	RecordingSince *string `json:"recording_since"`
	NextWindow     *string `json:"next_window"`
	Audio          string  `json:"audio"`      // RFC 6381 codec the audio is recorded as, "" for none
	AudioNote      string  `json:"audio_note"` // why there is no audio
	Segments       int64   `json:"segments"`
	Bytes          int64   `json:"bytes"`
	First          *string `json:"first"`
	Last           *string `json:"last"`
	Node           string  `json:"node,omitempty"`
	// SubStream is null for a camera without a sub stream.
	SubStream *subStreamJSON `json:"sub_stream"`
}

type subStreamJSON struct {
	State     string `json:"state"`
	LastError string `json:"last_error"`
	// Recorded: record_sub, the sub stream's footage is in the index
	// (stream=sub) and serves the scrub previews.
	Recorded bool `json:"recorded"`
}

func formatNS(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

func optNS(ns int64) *string {
	if ns == 0 {
		return nil
	}
	s := formatNS(ns)
	return &s
}

func (h *handler) cameraJSON(ctx context.Context, c CameraStatus) (cameraJSON, error) {
	ctx, cancel := context.WithTimeout(ctx, h.storeTimeout)
	defer cancel()
	st, err := h.store.CameraStats(ctx, c.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return cameraJSON{}, fmt.Errorf("camera stats: %w", err)
	}
	// Name and last error come from config and the recorder; both may hold a
	// camera URL (an error naming the address it dialled). Redact (S3).
	out := cameraJSON{
		ID: c.ID, Name: redact.Text(c.Name), State: c.State, LastError: redact.Text(c.LastError),
		RecordingSince: optTime(c.RecordingSince), NextWindow: optTime(c.NextWindow),
		Audio: c.AudioCodec, AudioNote: redact.Text(c.AudioNote),
		Segments: st.Segments, Bytes: st.Bytes, Node: c.Node,
	}
	if c.Sub != nil {
		out.SubStream = &subStreamJSON{State: c.Sub.State, LastError: redact.Text(c.Sub.LastError), Recorded: c.Sub.Recorded}
	}
	if st.Segments > 0 {
		out.First, out.Last = optNS(st.FirstNS), optNS(st.LastNS)
	}
	return out, nil
}

func (h *handler) listCameras(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r.URL.RawQuery); err != nil {
		return err
	}
	p := principalFrom(r.Context())
	out := []cameraJSON{}
	for _, c := range h.cameras.Cameras() {
		if !p.mayView(c.ID) {
			continue
		}
		cj, err := h.cameraJSON(r.Context(), c)
		if err != nil {
			return err
		}
		out = append(out, cj)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) getCamera(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r.URL.RawQuery); err != nil {
		return err
	}
	c, err := h.camera(r)
	if err != nil {
		return err
	}
	cj, err := h.cameraJSON(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cj)
	return nil
}

type segmentJSON struct {
	ID     int64   `json:"id"`
	Start  string  `json:"start"`
	End    *string `json:"end"` // null while the segment is being recorded and has no end yet
	Bytes  int64   `json:"bytes"`
	Frames int64   `json:"frames"`
	Codec  string  `json:"codec"` // the video track's, as codecs[0] ("" when unknown)
	// Codecs are the RFC 6381 strings of the segment's tracks, video
	// first: ["hvc1.1.6.L93.B0"]; audio tracks will follow the video.
	Codecs []string `json:"codecs"`
	Width  int      `json:"width"`
	Height int      `json:"height"`
	State  string   `json:"state"`
}

type segmentsJSON struct {
	Segments   []segmentJSON `json:"segments"`
	NextCursor *string       `json:"next_cursor"`
}

func (h *handler) listSegments(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r.URL.RawQuery)
	if err != nil {
		return err
	}
	// Validate every parameter before touching the index.
	tr, err := parseRange(q, maxRange, "segments")
	if err != nil {
		return err
	}
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		return err
	}
	stream, err := parseStream(q)
	if err != nil {
		return err
	}
	c, err := h.camera(r)
	if err != nil {
		return err
	}
	cursor, err := h.openCursor(c.ID, stream, tr, q.Get("cursor"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.storeTimeout)
	defer cancel()
	segs, next, err := h.store.ListStreamSegments(ctx, c.ID, stream, tr.startNS, tr.endNS, limit, cursor)
	if errors.Is(err, storage.ErrNotFound) {
		segs, next, err = nil, "", nil // a configured camera that never recorded
	}
	if err != nil {
		return fmt.Errorf("list segments: %w", err)
	}
	out := segmentsJSON{Segments: make([]segmentJSON, 0, len(segs))}
	for _, s := range segs {
		out.Segments = append(out.Segments, segmentJSON{
			ID: s.ID, Start: formatNS(s.StartNS), End: optEnd(s), Bytes: s.Bytes, Frames: s.Frames,
			Codec: firstCodec(s), Codecs: s.CodecList(), Width: s.Width, Height: s.Height, State: s.State,
		})
	}
	if sealed := h.sealCursor(c.ID, stream, tr, next); sealed != "" {
		out.NextCursor = &sealed
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// firstCodec is the video codec of s.
func firstCodec(s storage.Segment) string {
	c, _, _ := strings.Cut(s.Codecs, ",")
	return c
}

func optEnd(s storage.Segment) *string {
	if s.EndNS <= s.StartNS {
		return nil
	}
	e := formatNS(s.EndNS)
	return &e
}

// maxRange is the listing bound: the whole representable time line, since
// listings are paginated and cost no more for a wider range.
const maxRange = time.Duration(1<<63 - 1)

type spanJSON struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

func (h *handler) timeline(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r.URL.RawQuery)
	if err != nil {
		return err
	}
	tr, err := parseRange(q, MaxTimelineRange, "timeline")
	if err != nil {
		return err
	}
	var keyframe bool
	switch q.Get("keyframe") {
	case "":
	case "1":
		keyframe = true
	default:
		return badRequest("keyframe must be 1")
	}
	var resolution time.Duration
	if s := q.Get("resolution"); s != "" {
		if resolution, err = time.ParseDuration(s); err != nil || resolution <= 0 || resolution > tr.duration() {
			return badRequest("resolution must be a duration such as 60s, greater than zero and at most the range")
		}
	}
	stream, err := parseStream(q)
	if err != nil {
		return err
	}
	c, err := h.camera(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.storeTimeout)
	defer cancel()
	spans, err := h.store.StreamTimeline(ctx, c.ID, stream, tr.startNS, tr.endNS)
	if errors.Is(err, storage.ErrNotFound) {
		spans, err = nil, nil // a configured camera that never recorded
	}
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	spans = mergeGaps(spans, int64(resolution))
	out := struct {
		Spans    []spanJSON `json:"spans"`
		Keyframe string     `json:"keyframe,omitempty"`
	}{Spans: make([]spanJSON, 0, len(spans))}
	for _, s := range spans {
		out.Spans = append(out.Spans, spanJSON{formatNS(s.StartNS), formatNS(s.EndNS)})
	}
	// The keyframe that shows start lets a player begin a clip there, so
	// the clip needs no edit list to hide the frames before start (Firefox
	// shows them: it ignores an edit list's start for video).
	if pv, ok := h.exporter.(Previewer); keyframe && ok && len(spans) > 0 && spans[0].StartNS <= tr.startNS {
		switch k, _, err := pv.KeyframeAtStream(ctx, c.ID, stream, tr.startNS); {
		case err == nil:
			out.Keyframe = formatNS(k)
		case !errors.Is(err, footage.ErrNoFootage):
			return fmt.Errorf("timeline: keyframe: %w", err)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// healthz answers 200 "ok" while the database answers a ping. It needs no
// token: monitors and container health checks call it.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" {
		h.writeError(w, r, errNotFoundPath)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), HealthTimeout)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		h.writeError(w, r, fmt.Errorf("health: %w: %w", errUnavailable, err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", "3")
	_, _ = w.Write([]byte("ok\n"))
}

// serveMetrics serves Prometheus metrics. With tokens configured it needs an
// unscoped token: metric labels name every camera.
func (h *handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if h.metrics == nil {
		h.writeError(w, r, errNotFoundPath)
		return
	}
	if p := principalFrom(r.Context()); p != nil && !p.all {
		h.writeError(w, r, &httpError{status: http.StatusForbidden, msg: "metrics need an unscoped token"})
		return
	}
	h.metrics.ServeHTTP(w, r)
}

// hostName is the Host header without its port, lower-cased.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
}

// crossSite reports whether Fetch Metadata marks r as coming from another
// site's page. "same-site" counts as well, beyond a plain read: on
// localhost every other port (a dev server, another web app the user runs)
// is the same site, and such a page must not probe the API or start
// exports through the browser. A plain read is a top-level navigation
// (Sec-Fetch-Mode: navigate, the user following a link) to anything but an
// export.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site":
		return true
	case "same-site":
		plainRead := r.Header.Get("Sec-Fetch-Mode") == "navigate" &&
			(r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			!strings.HasSuffix(r.URL.Path, "/export")
		return !plainRead
	}
	return false
}

// foreignOrigin reports whether r carries an Origin header (RFC 6454 §7)
// naming another host than the one the request was sent to.
func foreignOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return true // "null" (sandboxed or privacy-sensitive contexts) or garbage
	}
	return !strings.EqualFold(u.Host, r.Host)
}

// authenticate returns who r is: a bearer token's principal, a session's,
// or nil when neither tokens nor users are configured. A browser's session
// cookie counts only without an Authorization header, so an API client's
// wrong token is never excused by a cookie.
func (h *handler) authenticate(r *http.Request) (*principal, error) {
	if r.Header.Get("Authorization") == "" && h.sessions.enabled() {
		if sess := h.sessions.lookup(r); sess != nil {
			return sess.p, nil
		}
		if !h.auth.enabled() {
			return nil, errUnauthorized
		}
	}
	if !h.auth.enabled() && h.sessions.enabled() {
		return nil, errUnauthorized
	}
	return h.auth.authenticate(r)
}

// mergeGaps joins spans separated by less than res nanoseconds: a timeline
// drawn at one pixel per res cannot show such a gap, and 30 days of a camera
// that reconnects often need not be thousands of rows. res 0 keeps every gap.
func mergeGaps(spans []storage.Span, res int64) []storage.Span {
	if res <= 0 || len(spans) < 2 {
		return spans
	}
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.StartNS-last.EndNS < res {
			last.EndNS = max(last.EndNS, s.EndNS)
			continue
		}
		out = append(out, s)
	}
	return out
}
