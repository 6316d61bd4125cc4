// Package api owns nvr's HTTP API: the JSON endpoints that describe cameras,
// segments and recorded spans, the streaming of segment files and exported
// clips (with HTTP Range, HEAD and ETag), bearer-token authentication with
// per-camera scopes, the brute-force limiter, the mapping of errors to HTTP
// status codes, and the settings of the http.Server that serves it all.
//
// It does not own the index, the files, the MP4 export or the recorder's
// state: those come in through the small interfaces declared here (Store,
// Cameras, Exporter), which the binary wires to the storage, export and
// recorder packages. It does not decide which address is safe to listen on;
// IsLoopback helps the caller decide.
//
// Nothing an HTTP client sends reaches the Store or the Exporter as anything
// but a validated value: camera ids are looked up in the list the Cameras
// interface returns, segment ids are parsed integers, times are parsed
// RFC 3339 instants and cursors are authenticated before use. Files are only
// opened from index rows (Store.OpenSegment, the local file or the object
// in the bucket).
package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nvr-project/nvr/api/ui"
	"github.com/nvr-project/nvr/clock"
	"github.com/nvr-project/nvr/footage"
	"github.com/nvr-project/nvr/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is the part of the segment index the API reads.
type Store interface {
	Ping(ctx context.Context) error
	Segment(ctx context.Context, id int64) (storage.Segment, error)
	// OpenSegment reads a segment wherever it is: its local file or its
	// object (storage.Store.OpenSegment).
	OpenSegment(ctx context.Context, seg storage.Segment) (storage.SegmentReader, error)
	// The listings of one stream of a camera (storage.StreamMain or
	// StreamSub).
	ListStreamSegments(ctx context.Context, camera, stream string, startNS, endNS int64, limit int, cursor string) ([]storage.Segment, string, error)
	StreamTimeline(ctx context.Context, camera, stream string, startNS, endNS int64) ([]storage.Span, error)
	CameraStats(ctx context.Context, camera string) (storage.CameraStats, error)
}

// CameraStatus is the live state of one configured camera, as the recorder
// and the schedule see it. Zero times mean "not applicable".
type CameraStatus struct {
	ID, Name, State, LastError string
	RecordingSince, NextWindow time.Time
	// AudioCodec is what the camera's audio is recorded as ("" for none);
	// AudioNote says why there is none.
	AudioCodec, AudioNote string
	// Node is the node recording the camera when several share a
	// PostgreSQL index ("" on a single node).
	Node string
	// Sub is the sub stream's state; nil when the camera has none.
	Sub *SubStatus
}

// SubStatus is the state of a camera's sub stream (fleet.SubState's
// values) and its session's last error. Recorded says the sub stream is
// recorded in the camera's windows (record_sub), so its footage can be
// listed and its keyframes serve the scrub previews.
type SubStatus struct {
	State, LastError string
	Recorded         bool
}

// Cameras reports the configured cameras and their live state. The list is
// the API's only source of valid camera ids.
type Cameras interface{ Cameras() []CameraStatus }

// Clip is one exported MP4 (footage.Clip).
type Clip = footage.Clip

// Exporter builds an export of [startNS, endNS) of one stream of a camera
// (storage.StreamMain or StreamSub). It returns (a wrap of)
// footage.ErrNoFootage when nothing was recorded in the range.
//
// The Exporter must not hold a database read transaction while the clip is
// being read (RELIABILITY F14: a slow one-hour download must not pin the WAL);
// the API reads the clip for as long as the client takes.
type Exporter interface {
	ExportStream(ctx context.Context, camera, stream string, startNS, endNS int64, timestamps bool) (Clip, error)
}

// Token is one accepted bearer token and the cameras it may see.
type Token struct {
	Value   string
	Cameras []string // empty: every camera
}

// Options configures New. Store, Cameras and Exporter are required.
type Options struct {
	Store    Store
	Cameras  Cameras
	Exporter Exporter
	// Events feeds GET /api/events; nil answers 404 there.
	Events Events
	// Live finds the live pictures of GET /api/cameras/{id}/live.
	Live LiveStreams
	// Uploads, when set, adds the upload backlog to GET /api/info.
	Uploads Uploads
	// Metrics serves GET /metrics; nil answers 404.
	Metrics http.Handler
	// Registerer, when set, receives the API's own metrics (export requests
	// and bytes, authentication failures).
	Registerer prometheus.Registerer

	// Tokens, when not empty, makes every /api/ request and /metrics need
	// "Authorization: Bearer <token>". /metrics needs an unscoped token.
	Tokens []Token
	// Users, when not empty, can sign in to the web UI (a session cookie
	// then stands in for a token), and the UI needs sign-in.
	Users []User
	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// counting authentication failures per client (S5). Empty: never.
	TrustedProxies []netip.Prefix

	// AllowedHosts, when set, are the only Host header names (without port)
	// the API answers; others get 403. Without tokens, set it to the names
	// the server is reached by (e.g. localhost, 127.0.0.1): a DNS-rebinding
	// page then cannot read the API through the user's browser.
	AllowedHosts []string

	// MaxExport is the longest export range; default DefaultMaxExport.
	MaxExport time.Duration
	// Location is the zone of the times in export file names; default UTC.
	Location *time.Location
	// Logger receives server-side failures (5xx) and lockouts; default
	// discards. Tokens, camera URLs and query strings are never logged.
	Logger *slog.Logger
	// Clock is the clock of the brute-force limiter; default clock.System().
	Clock clock.Clock
}

// Limits and defaults. Each is a bound on what a client can make the server do.
const (
	// DefaultMaxExport is the longest export range unless configured (issue 4).
	DefaultMaxExport = 24 * time.Hour
	// DefaultLimit is the page size of /segments without a limit parameter.
	DefaultLimit = 100
	// MaxLimit caps the page size so one response stays small (~200 KB JSON).
	MaxLimit = 1000
	// MaxTimelineRange bounds the timeline query so one request cannot make
	// the index merge years of rows at once.
	MaxTimelineRange = 366 * 24 * time.Hour
	// MaxQueryLen bounds the raw query string; real queries are < 300 bytes.
	MaxQueryLen = 2048
	// MaxParamLen bounds one parameter value; an RFC 3339 time is <= 35 bytes.
	MaxParamLen = 64
	// MaxIDLen bounds a camera or segment id taken from the path.
	MaxIDLen = 128
	// MaxCursorLen bounds a pagination cursor accepted from a client.
	MaxCursorLen = 512
	// MinTokenLen keeps tokens long enough that guessing is hopeless even
	// without the limiter (16 random characters ≈ 95 bits).
	MinTokenLen = 16
	// StoreTimeout bounds each index query made for one request.
	StoreTimeout = 10 * time.Second
	// HealthTimeout bounds the database ping of /healthz, which monitors
	// call often and expect to answer quickly.
	HealthTimeout = 2 * time.Second
	// ResponseWriteTimeout bounds the writing of a JSON or error response: the
	// bodies are small, a client that takes longer is gone or hostile.
	ResponseWriteTimeout = 30 * time.Second
	// StreamStallTimeout is how long a download may accept no bytes at all
	// before it is cut off; slow but moving downloads may take hours.
	StreamStallTimeout = 60 * time.Second
	// MaxGapsInHeader bounds the X-Nvr-Gaps header (~72 bytes a gap) below
	// the 8 KB many clients accept for all headers.
	MaxGapsInHeader = 64
)

type handler struct {
	store    Store
	cameras  Cameras
	exporter Exporter
	metrics  http.Handler

	maxExport time.Duration
	loc       *time.Location
	log       *slog.Logger

	auth      *authenticator
	sessions  *sessionStore
	cursorKey []byte
	// writeTimeout, streamStall and storeTimeout are ResponseWriteTimeout,
	// StreamStallTimeout and StoreTimeout; tests shorten them.
	writeTimeout, streamStall, storeTimeout time.Duration
	allowedHosts                            map[string]bool
	m                                       *apiMetrics
	mux                                     *http.ServeMux
	ui                                      *ui.Handler
	eventSrc                                Events
	streams                                 atomic.Int64 // open event streams
	lives                                   LiveStreams
	zone                                    string // IANA name of loc, for /api/info
	uploads                                 Uploads
	liveViewers                             atomic.Int64
}

// New returns the API handler. It fails on missing dependencies, a negative
// MaxExport, or a token that is empty, short or repeated.
func New(opts Options) (http.Handler, error) {
	var problems []error
	if opts.Store == nil {
		problems = append(problems, errors.New("Store is required"))
	}
	if opts.Cameras == nil {
		problems = append(problems, errors.New("Cameras is required"))
	}
	if opts.Exporter == nil {
		problems = append(problems, errors.New("Exporter is required"))
	}
	if opts.MaxExport < 0 {
		problems = append(problems, fmt.Errorf("MaxExport %v is negative", opts.MaxExport))
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.System()
	}
	auth, err := newAuthenticator(opts.Tokens, opts.TrustedProxies, clk.Now)
	if err != nil {
		problems = append(problems, err)
	}
	sessions, err := newSessionStore(opts.Users, clk.Now)
	if err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("api: invalid options: %w", errors.Join(problems...))
	}
	h := &handler{
		store:     opts.Store,
		cameras:   opts.Cameras,
		exporter:  opts.Exporter,
		metrics:   opts.Metrics,
		maxExport: opts.MaxExport,
		loc:       opts.Location,
		log:       opts.Logger,
		auth:      auth,
		sessions:  sessions,
		eventSrc:  opts.Events,
		uploads:   opts.Uploads,
		lives:     opts.Live,
		cursorKey: make([]byte, 32),

		writeTimeout: ResponseWriteTimeout,
		streamStall:  StreamStallTimeout,
		storeTimeout: StoreTimeout,
	}
	for _, host := range opts.AllowedHosts {
		if h.allowedHosts == nil {
			h.allowedHosts = make(map[string]bool)
		}
		h.allowedHosts[strings.ToLower(host)] = true
	}
	if h.maxExport == 0 {
		h.maxExport = DefaultMaxExport
	}
	if h.loc == nil {
		h.loc = time.UTC
	}
	h.zone = zoneName(h.loc) // may read TZ and /etc: once, not per request
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	// A fresh key per process: cursors are valid for the server's lifetime,
	// and a client can neither forge one nor reuse one for another query.
	if _, err := rand.Read(h.cursorKey); err != nil {
		return nil, fmt.Errorf("api: cursor key: %w", err)
	}
	auth.onLockout = func(client netip.Prefix) {
		h.log.LogAttrs(context.Background(), slog.LevelWarn, "api client locked out after repeated authentication failures",
			slog.String("client", client.String()), slog.Duration("for", AuthLockout))
	}
	m, err := newAPIMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("api: metrics: %w", err)
	}
	h.m = m
	if h.ui, err = ui.New(); err != nil {
		return nil, fmt.Errorf("api: ui: %w", err)
	}
	h.routes()
	return h, nil
}

func (h *handler) routes() {
	mux := http.NewServeMux()
	// Patterns carry no method: ServeHTTP answers 405 itself, with a JSON
	// body, before any routing.
	mux.Handle("/api/info", h.json(h.info))
	mux.Handle("/api/session", h.json(h.sessionInfo))
	mux.Handle("/api/events", h.json(h.events))
	mux.Handle("POST /login", h.json(h.login))
	mux.Handle("POST /logout", h.json(h.logout))
	mux.Handle("/api/cameras", h.json(h.listCameras))
	mux.Handle("/api/cameras/{id}", h.json(h.getCamera))
	mux.Handle("/api/cameras/{id}/segments", h.json(h.listSegments))
	mux.Handle("/api/cameras/{id}/timeline", h.json(h.timeline))
	mux.Handle("/api/cameras/{id}/export", h.stream(h.export))
	mux.Handle("/api/cameras/{id}/live", h.json(h.live))
	mux.Handle("/api/cameras/{id}/preview", h.stream(h.preview))
	mux.Handle("/api/segments/{id}", h.stream(h.segmentFile))
	mux.HandleFunc("/healthz", h.healthz)
	mux.HandleFunc("/metrics", h.serveMetrics)
	mux.Handle("/", h.json(func(http.ResponseWriter, *http.Request) error {
		return errNotFoundPath
	}))
	for _, p := range h.ui.Paths() {
		switch p {
		case "/":
			mux.HandleFunc("GET /{$}", h.page)
		case "/login":
			mux.HandleFunc("GET /login", h.page)
		default:
			mux.Handle("GET "+p, h.ui)
		}
	}
	h.mux = mux
}
