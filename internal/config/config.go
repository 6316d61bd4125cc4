// Package config owns nvr's configuration file: its YAML shape, ${ENV}
// expansion, defaults, and validation with errors that name the field and the
// line. It also says which cameras changed between two configs, so that a
// SIGHUP reload can leave unchanged cameras recording.
//
// It does not own what the settings do: scheduling is package schedule (whose
// cron parser validates the windows here), recording is package recorder, and
// applying a reload is package fleet.
//
// # File format
//
//	data_dir: /var/lib/nvr        # required
//	listen: 127.0.0.1:8080        # default; beyond loopback needs api.allow_remote
//	segment_duration: 60s         # default; 1s..1h
//	fsync_interval: 10s           # default; up to 10m
//	timezone: Europe/Berlin       # IANA name; default the machine's zone
//	cameras:
//	  - id: front-door            # [a-z0-9_-], 1-64 chars, unique: a folder name
//	    name: Front door          # default: the id
//	    url: rtsp://192.0.2.10:554/path   # rtsp or rtsps, host required
//	    username: admin           # credentials, any characters; or in the
//	    password: ${PW}           #   url (rtsp://admin:${PW}@…), percent-encoded
//	    transport: tcp            # tcp (default) or udp
//	    sdp: /etc/nvr/cam.sdp     # optional: a file or an http(s) URL instead of DESCRIBE
//	    sub_url: rtsp://192.0.2.10:554/sub   # optional second, smaller stream (same credential rules)
//	    record_sub: false         # default false; true records sub_url too (needs sub_url)
//	    enabled: true             # default true
//	    max_age: 30d              # optional per-camera retention.max_age
//	    schedule:                 # optional; none = always (see docs/schedule.md)
//	      - start: "0 22 * * *"   # five-field cron or @daily etc., in timezone
//	        duration: 9h          # > 0, at most 31 days
//	retention:                    # zero or absent = no limit
//	  max_age: 720h
//	  max_bytes: 500GB
//	  min_free_bytes: 5GiB
//	api:
//	  token: ${NVR_TOKEN}         # at least 16 characters; every camera
//	  tokens:                     # more tokens, each optionally limited
//	    - {name: porch, token: "${T2}", cameras: [front-door]}   # quote ${} inside {...}
//	  max_export: 24h             # default; at most 31 days
//	  allow_remote: false         # true to listen beyond loopback (needs a token)
//	  allowed_hosts: [nvr.example.org]   # Host names besides loopback's (a proxy, a tunnel)
//	log: {level: info, format: text}   # debug|info|warn|error, text|json
//	index:                        # absent: the SQLite index in data_dir
//	  postgres: postgres://nvr:${PGPASSWORD}@db.local:5432/nvr   # or postgresql://…; ?host=/socket/dir
//	node: node-a                  # [a-z0-9_-], 1-64 chars; required with index.postgres
//	advertise_url: http://10.0.0.5:8080   # where the other nodes reach this node's API
//
// Durations are Go durations with optional leading whole days ("90s",
// "1h30m", "30d", "1d12h"); a bare number other than 0 is rejected. Sizes
// are bytes with an optional, case-insensitive unit: KB, MB, GB, TB, PB are
// powers of 1000 and KiB, MiB, GiB, TiB, PiB powers of 1024.
//
// ${NAME} in any value is replaced by the environment variable NAME (after
// YAML parsing, so the value needs no quoting); "$${" is a literal "${", and
// other "$" signs are literal. An unset variable is an error naming it.
// Whatever ${...} expands to, and any password inside a URL, is kept out of
// error messages. YAML anchors, aliases and merge keys ("<<: *base") work.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // "timezone: Europe/Berlin" must work in a minimal container without zoneinfo

	"go.yaml.in/yaml/v3"

	"github.com/nvr-project/nvr/internal/passwd"
	"github.com/nvr-project/nvr/internal/redact"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/schedule"
	"github.com/nvr-project/nvr/storage"

	"github.com/jackc/pgx/v5/pgconn"
)

// Limits on the file and its values.
const (
	// MaxFileSize bounds the config file read: a config with hundreds of
	// cameras is a few hundred KiB; anything bigger is not a config.
	MaxFileSize = 1 << 20
	// MaxCameraIDLen bounds a camera id: ids become folder names.
	MaxCameraIDLen = storage.MaxCameraIDLen
	// MaxNameLen bounds a camera's display name.
	MaxNameLen = 200
	// MinTokenLength is the shortest API token accepted: shorter ones can
	// be guessed by an attacker that the rate limiter only slows down.
	MinTokenLength = 16
	// MinSegmentDuration bounds segment_duration from below: shorter
	// segments bloat the index. The upper bound is storage.MaxSegmentTarget.
	MinSegmentDuration = time.Second
	// MaxFsyncInterval bounds fsync_interval: the data at risk in a power
	// cut is at most this much.
	MaxFsyncInterval = 10 * time.Minute
	// MaxExportLimit bounds api.max_export: one export builds its sample
	// tables in memory.
	MaxExportLimit = 31 * 24 * time.Hour
	// MaxLiveLinger bounds live_linger: a camera connected for nobody.
	MaxLiveLinger = time.Hour
)

// Defaults for settings left out of the file.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultSegmentDuration = 60 * time.Second
	DefaultFsyncInterval   = 10 * time.Second
	DefaultLiveLinger      = 30 * time.Second
	DefaultMaxExport       = 24 * time.Hour
	DefaultTransport       = "tcp"
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
)

// ErrInvalid is matched (errors.Is) by every error about the content of a
// config: syntax, unknown keys, bad values. I/O errors from Load are not.
var ErrInvalid = errors.New("invalid config")

// Config is the whole configuration file.
type Config struct {
	// DataDir holds index.db and recordings/. Required.
	DataDir string `yaml:"data_dir"`
	// Listen is the HTTP API's address; default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// SegmentDuration is the target length of a segment; default 60s.
	SegmentDuration Duration `yaml:"segment_duration"`
	// FsyncInterval is how often a segment in progress is synced; default 10s.
	FsyncInterval Duration `yaml:"fsync_interval"`
	// LiveLinger is how long a camera outside its recording windows stays
	// connected after its last live viewer left (so a viewer who comes
	// back sees it at once); default 30s, 0 disconnects at once.
	LiveLinger Duration `yaml:"live_linger"`
	// Timezone names the zone schedules are read in (IANA name, e.g.
	// "Europe/Berlin"); empty or "Local" means the machine's zone.
	Timezone  string    `yaml:"timezone"`
	Cameras   []Camera  `yaml:"cameras"`
	Retention Retention `yaml:"retention"`
	API       API       `yaml:"api"`
	// Users can sign in to the web UI; with any, the UI needs sign-in.
	Users []User `yaml:"users"`
	Log   Log    `yaml:"log"`
	// Index says where the index of segments lives (docs/scale-out.md).
	Index Index `yaml:"index"`
	// Node names this nvr among the nodes sharing one PostgreSQL index:
	// [a-z0-9_-], 1-64 characters. Required with Index.Postgres.
	Node string `yaml:"node"`
	// AdvertiseURL is where the other nodes reach this node's API
	// (http(s)://host:port), to read the segments that are still on this
	// node's disk. Empty: they cannot (they answer that the segment is on
	// this node).
	AdvertiseURL string `yaml:"advertise_url"`
	// Storage says where finished segments go besides the local disk.
	Storage Storage `yaml:"storage"`

	lines   map[string]int // field path -> YAML line, from Parse
	secrets []string       // values that must never appear in an error
	loc     *time.Location
}

// Camera is one camera.
type Camera struct {
	// ID names the camera in the API and on disk: [a-z0-9_-], 1-64 chars
	// (storage.ValidCameraID).
	ID string `yaml:"id"`
	// Name is for people; default the ID.
	Name string `yaml:"name"`
	// URL is the RTSP URL (rtsp:// or rtsps://), credentials included.
	// Parse folds Username and Password into it (percent-encoded), so
	// that the URL is the one place a loaded camera's credentials are.
	URL string `yaml:"url"`
	// Username and Password are the camera's credentials as they are, any
	// characters allowed: the alternative to a URL's user-info, where '#',
	// '?', '/', '@' and '%' must be percent-encoded. Set by Parse's input
	// only; Parse moves them into URL and leaves them empty.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Transport is "tcp" (default, interleaved) or "udp".
	Transport string `yaml:"transport"`
	// SDP optionally replaces DESCRIBE: a file path or an http(s) URL.
	SDP string `yaml:"sdp"`
	// SubURL is the camera's optional second, smaller stream (the live
	// grid shows it). It follows URL's rules; Username and Password are
	// folded into it too when it has no user-info of its own. Transport,
	// Auth and TLSFingerprint apply to it as to URL; SDP does not.
	SubURL string `yaml:"sub_url"`
	// RecordSub records the sub stream as well, in the camera's windows,
	// as the camera's stream "sub" (its video only; the main stream's
	// segments hold the audio). It needs a SubURL.
	RecordSub bool `yaml:"record_sub"`
	// Auth is "any" (default: the strongest scheme the camera offers) or
	// "digest" (Basic refused, for cameras known to do Digest).
	Auth string `yaml:"auth"`
	// TLSFingerprint pins an rtsps:// camera's certificate: "sha256:" and
	// the hex SHA-256 of its DER. Empty: the certificate must be trusted
	// by the system roots.
	TLSFingerprint string `yaml:"tls_fingerprint"`
	// Enabled: nil or true records; false keeps the camera in the config
	// (and its recordings in the API) without connecting to it.
	Enabled *bool `yaml:"enabled"`
	// Audio: nil or true records the camera's audio track beside the
	// video (when nvr can read its codec, docs/audio.md); false sets up
	// no audio track.
	Audio *bool `yaml:"audio"`
	// Schedule lists recording windows; none means always.
	Schedule []Window `yaml:"schedule"`
	// MaxAge overrides retention.max_age for this camera; zero inherits.
	MaxAge Duration `yaml:"max_age"`
	// Node pins the camera to the node of that name (with index.postgres):
	// while that node is alive only it records the camera; when it is
	// down, any node may. Empty: any node.
	Node string `yaml:"node"`

	line int
}

// Index is where the index of segments lives. The zero value is the SQLite
// index in data_dir.
type Index struct {
	// Postgres is the URL of a PostgreSQL database that holds the index
	// instead (postgres:// or postgresql://, libpq's parameters in the
	// query). Its password is kept out of errors and logs.
	Postgres string `yaml:"postgres"`
}

// Storage is where finished segments are kept. The zero value keeps them
// on the local disk (data_dir).
type Storage struct {
	// S3, if set, is an S3-compatible bucket that finished segments are
	// uploaded to (docs/scale-out.md). Its keys come only from the
	// environment (S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or the AWS_
	// pair): there is no field for them.
	S3 *S3 `yaml:"s3"`
}

// S3 names a bucket.
type S3 struct {
	// Endpoint is host:port or an http(s):// URL without user info.
	Endpoint string `yaml:"endpoint"`
	Bucket   string `yaml:"bucket"`
	// Prefix is prepended to every object key ("site-a/").
	Prefix string `yaml:"prefix"`
	Region string `yaml:"region"`
	// TLS uses https (an https:// endpoint does too).
	TLS bool `yaml:"tls"`
}

// Window is one recording window: it opens at each time the cron expression
// Start matches (in Config.Timezone) and lasts Duration.
type Window struct {
	Start    string   `yaml:"start"`
	Duration Duration `yaml:"duration"`
}

// Retention limits what is kept. Zero means no limit.
type Retention struct {
	// MaxAge deletes segments older than this.
	MaxAge Duration `yaml:"max_age"`
	// MaxBytes bounds all recordings together.
	MaxBytes Size `yaml:"max_bytes"`
	// MinFreeBytes is the free space to keep on data_dir's filesystem.
	MinFreeBytes Size `yaml:"min_free_bytes"`
}

// API configures the HTTP API.
type API struct {
	// Token grants access to every camera.
	Token string `yaml:"token"`
	// Tokens are further tokens, each optionally limited to some cameras.
	Tokens []Token `yaml:"tokens"`
	// MaxExport is the longest range one export may cover; default 24h.
	MaxExport Duration `yaml:"max_export"`
	// AllowRemote must be true for Listen to be reachable from other
	// machines, and then a token is required.
	AllowRemote bool `yaml:"allow_remote"`
	// AllowedHosts are further names (or addresses) the API answers to in
	// the Host header, besides localhost, 127.0.0.1, ::1 and listen's host:
	// the name of a reverse proxy or an SSH tunnel in front of a
	// token-less, loopback API. With a token the API answers any Host
	// unless this is set.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// TLSCert and TLSKey, both set, make the API and the UI HTTPS with
	// this certificate chain and key (PEM files, read again on SIGHUP);
	// the session cookie is then Secure.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// TLS reports whether the API serves HTTPS.
func (a API) TLS() bool { return a.TLSCert != "" }

// Token is one API token.
type Token struct {
	// Name identifies the token in logs (never the token itself).
	Name  string `yaml:"name"`
	Token string `yaml:"token"`
	// Cameras limits the token to these camera ids; empty means all.
	Cameras []string `yaml:"cameras"`
}

// User is one account of the web UI.
type User struct {
	Name string `yaml:"name"`
	// PasswordHash is an argon2id (nvr hash-password) or bcrypt hash.
	PasswordHash string `yaml:"password_hash"`
	// Cameras limits the user to these camera ids; empty means all.
	Cameras []string `yaml:"cameras"`
}

// Log configures logging at the edge (cmd/nvr).
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
}

// Load reads the file at path (at most MaxFileSize bytes), expands ${ENV}
// references from the process environment (an unset variable is an error; one
// set to "" expands to "", as docker compose's ${VAR:-} produces), decodes,
// fills defaults and validates it.
//
// Only a regular file is read: opening a FIFO would wait for a writer
// forever, and a device would never end.
func Load(path string) (*Config, error) {
	if st, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config: %s does not exist (name the file with -config): %w", path, fs.ErrNotExist)
	} else if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("config: %s is not a regular file (%s)", path, fileKind(st.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	// Checked again on what was opened: the path may have been replaced.
	if st, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("config: %s is not a regular file (%s)", path, fileKind(st.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	cfg, err := parse(data, os.LookupEnv)
	var cerr *Error
	if errors.As(err, &cerr) {
		cerr.File = path
	}
	return cfg, err
}

// fileKind names what a non-regular file is, for the error.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}

// Parse decodes a config from data, expanding ${NAME} references in values
// with getenv, fills defaults and validates. getenv cannot say "set but
// empty", so an empty result counts as unset, which is an error (Load, which
// reads the process environment, does tell them apart and allows empty
// values). A nil getenv means no variables are set. The error is an *Error
// listing every problem.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	return parse(data, func(name string) (string, bool) {
		if getenv == nil {
			return "", false
		}
		v := getenv(name)
		return v, v != ""
	})
}

func parse(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{Problems: []Problem{{Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, extra yaml.Node
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, &Error{Problems: []Problem{tabProblem(data, syntaxProblem(err))}}
	}
	// A second document would be ignored silently; say so instead.
	if err := dec.Decode(&extra); err != io.EOF {
		p := Problem{Line: extra.Line, Msg: "only one YAML document is allowed (remove the second ---)"}
		if err != nil {
			p = syntaxProblem(err)
		}
		return nil, &Error{Problems: []Problem{p}}
	}
	d := newDecoder(lookup)
	cfg := &Config{}
	if len(doc.Content) > 0 {
		d.decode(doc.Content[0], reflectValue(cfg), "")
	}
	cfg.lines = d.lines
	cfg.secrets = append(d.secrets, redact.Secrets(cfg.Index.Postgres)...)
	for i := range cfg.Cameras {
		cfg.Cameras[i].line = d.lines[fmt.Sprintf("cameras[%d]", i)]
		cfg.secrets = append(cfg.secrets, redact.Secrets(cfg.Cameras[i].URL)...)
		cfg.secrets = append(cfg.secrets, redact.Secrets(cfg.Cameras[i].SDP)...)
		cfg.secrets = append(cfg.secrets, redact.Secrets(cfg.Cameras[i].SubURL)...)
		if pw := cfg.Cameras[i].Password; pw != "" {
			cfg.secrets = append(cfg.secrets, pw, url.PathEscape(pw), url.QueryEscape(pw))
		}
	}
	cfg.ApplyDefaults()
	problems := d.problems
	if d.budget < 0 {
		// Only part of the file was read: anything else said about it would
		// bury the one message that matters.
		return nil, cfg.newError([]Problem{{Msg: fmt.Sprintf("the file has too many YAML nodes (more than %d, counting aliases and merges)", maxNodes)}})
	}
	if err := cfg.Validate(); err != nil {
		var verr *Error
		if errors.As(err, &verr) {
			// A field that failed to decode gets no second complaint.
			decoded := failedFields(d.problems)
			for _, p := range verr.Problems {
				if !decoded.covers(p.Field) {
					problems = append(problems, p)
				}
			}
		}
	}
	if len(problems) > 0 {
		return nil, cfg.newError(problems)
	}
	for i := range cfg.Cameras {
		cfg.Cameras[i].foldCredentials()
	}
	return cfg, nil
}

// foldCredentials moves Username and Password into URL's user-info,
// percent-encoded by net/url. The URL was validated: it parses and has no
// user-info of its own.
func (c *Camera) foldCredentials() {
	if c.Username == "" && c.Password == "" {
		return
	}
	c.URL = withUserinfo(c.URL, c.Username, c.Password)
	if c.SubURL != "" {
		c.SubURL = withUserinfo(c.SubURL, c.Username, c.Password)
	}
	c.Username, c.Password = "", ""
}

// withUserinfo returns the validated URL raw with user and password as its
// user-info.
func withUserinfo(raw, user, password string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // not reached: validated
	}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxProblem turns a YAML parser error ("yaml: line 3: ...") into a
// Problem with its line.
func syntaxProblem(err error) Problem {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		if line, perr := strconv.Atoi(m[1]); perr == nil {
			return Problem{Line: line, Msg: m[2]}
		}
	}
	return Problem{Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// tabProblem points a YAML syntax error that a tab in the indentation
// caused at the first line indented with one: the parser's own message
// does not say "tab" in every case and may name a line before it.
func tabProblem(data []byte, p Problem) Problem {
	if !strings.Contains(p.Msg, "tab") && !strings.Contains(p.Msg, "cannot start any token") {
		return p
	}
	for i, line := range bytes.Split(data, []byte("\n")) {
		indent := line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
		if bytes.IndexByte(indent, '\t') >= 0 {
			p.Line = i + 1
			p.Msg += fmt.Sprintf(": tabs are not allowed for indentation (line %d); indent with spaces", i+1)
			return p
		}
	}
	return p
}

// fieldSet holds the fields that failed to decode.
type fieldSet map[string]bool

func failedFields(ps []Problem) fieldSet {
	set := make(fieldSet, len(ps))
	for _, p := range ps {
		if p.Field != "" {
			set[p.Field] = true
		}
	}
	return set
}

// covers reports whether field or one of its parents failed.
func (s fieldSet) covers(field string) bool {
	for field != "" {
		if s[field] {
			return true
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return false
}

// ApplyDefaults fills the settings that were left out. Values set explicitly
// in the file (even to zero) are left alone so that Validate can reject them.
func (c *Config) ApplyDefaults() {
	set := func(path string) bool { _, ok := c.lines[path]; return ok }
	if c.Listen == "" && !set("listen") {
		c.Listen = DefaultListen
	}
	if c.SegmentDuration == 0 && !set("segment_duration") {
		c.SegmentDuration = Duration(DefaultSegmentDuration)
	}
	if c.FsyncInterval == 0 && !set("fsync_interval") {
		c.FsyncInterval = Duration(DefaultFsyncInterval)
	}
	if c.LiveLinger == 0 && !set("live_linger") {
		c.LiveLinger = Duration(DefaultLiveLinger)
	}
	if c.API.MaxExport == 0 && !set("api.max_export") {
		c.API.MaxExport = Duration(DefaultMaxExport)
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		if cam.Transport == "" {
			cam.Transport = DefaultTransport
		}
		if cam.Name == "" {
			cam.Name = cam.ID
		}
	}
}

// Location returns the time zone schedules are read in. It is time.Local for
// an empty or "Local" timezone, and also when the name does not load (which
// Validate reports).
func (c *Config) Location() *time.Location {
	if c.loc != nil {
		return c.loc
	}
	loc, err := loadLocation(c.Timezone)
	if err != nil {
		return time.Local
	}
	return loc
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return time.Local, nil
	}
	return time.LoadLocation(name)
}

// Schedule builds the camera's schedule in the config's time zone (nil
// windows: always).
func (c *Config) Schedule(cam Camera) (*schedule.Schedule, error) {
	ws := make([]schedule.Window, len(cam.Schedule))
	for i, w := range cam.Schedule {
		ws[i] = schedule.Window{Spec: w.Start, Duration: time.Duration(w.Duration)}
	}
	s, err := schedule.New(ws, c.Location())
	if err != nil {
		return nil, fmt.Errorf("camera %s: %w", cam.ID, err)
	}
	return s, nil
}

// Camera returns the camera with the given id.
func (c *Config) Camera(id string) (Camera, bool) {
	for _, cam := range c.Cameras {
		if cam.ID == id {
			return cam, true
		}
	}
	return Camera{}, false
}

// IsEnabled reports whether the camera should record (Enabled nil or true).
func (c Camera) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// RecordsAudio reports whether the camera's audio is recorded (Audio nil
// or true).
func (c Camera) RecordsAudio() bool { return c.Audio == nil || *c.Audio }

// Line returns the line of the camera's entry in the file (0 if unknown).
func (c Camera) Line() int { return c.line }

// RedactedURL returns the URL with its credentials hidden, for logs.
func (c Camera) RedactedURL() string { return redact.URL(c.URL) }

// SameStream reports whether c and o connect to the same stream the same
// way (URL, transport, SDP, authentication and certificate rules): if so, a
// running recording can continue across a reload. The sub stream is not
// part of it (SameSubStream).
func (c Camera) SameStream(o Camera) bool {
	return c.URL == o.URL && c.Transport == o.Transport && c.SDP == o.SDP && c.sameConnection(o) &&
		c.RecordsAudio() == o.RecordsAudio()
}

// SameSubStream reports whether c and o connect to the same sub stream the
// same way: if so, a session to it can continue across a reload.
func (c Camera) SameSubStream(o Camera) bool {
	return c.SubURL == o.SubURL && c.Transport == o.Transport && c.sameConnection(o)
}

// sameConnection: the authentication and certificate rules both streams share.
func (c Camera) sameConnection(o Camera) bool {
	return strings.EqualFold(c.Auth, o.Auth) && c.TLSFingerprint == o.TLSFingerprint
}

// Equal reports whether c and o have the same effective settings: same
// stream, name, enabled state, schedule and retention override.
func (c Camera) Equal(o Camera) bool {
	return c.ID == o.ID && c.Name == o.Name && c.SameStream(o) && c.SameSubStream(o) && c.RecordSub == o.RecordSub &&
		c.IsEnabled() == o.IsEnabled() &&
		slices.Equal(c.Schedule, o.Schedule) && c.MaxAge == o.MaxAge
}

// Changes is what a reload changes.
type Changes struct {
	// Added, Removed and Changed list camera ids; Changed cameras are in
	// both configs with different settings (see Camera.Equal).
	Added, Removed, Changed []string
	// Restart lists the cameras in both configs whose recording cannot
	// continue across the reload: their stream changed (Camera.SameStream)
	// or segment_duration or fsync_interval did. Other changes (name,
	// schedule, max_age, enabled) apply to a running recording.
	Restart []string
	// RestartSub lists the cameras in both configs whose sub stream
	// session cannot continue (Camera.SameSubStream); their main stream
	// is not touched unless it is in Restart too.
	RestartSub []string
	// Settings lists the top-level keys whose values differ, e.g.
	// "data_dir", "retention", "api". The caller decides which of them a
	// running service can apply.
	Settings []string
}

// Empty reports whether nothing changed.
func (ch Changes) Empty() bool {
	return len(ch.Added)+len(ch.Removed)+len(ch.Changed)+len(ch.Settings) == 0
}

// Diff compares an old and a new config for a reload. A change of timezone
// shows in Settings, not in Changed: on reload, call schedule.Runner.Set for
// every camera, which ignores schedules that did not change.
func Diff(old, cur *Config) Changes {
	var ch Changes
	segmenting := old.SegmentDuration != cur.SegmentDuration || old.FsyncInterval != cur.FsyncInterval
	for _, n := range cur.Cameras {
		o, ok := old.Camera(n.ID)
		if !ok {
			ch.Added = append(ch.Added, n.ID)
			continue
		}
		if !o.Equal(n) {
			ch.Changed = append(ch.Changed, n.ID)
		}
		if segmenting || !o.SameStream(n) {
			ch.Restart = append(ch.Restart, n.ID)
		}
		if !o.SameSubStream(n) {
			ch.RestartSub = append(ch.RestartSub, n.ID)
		}
	}
	for _, o := range old.Cameras {
		if _, ok := cur.Camera(o.ID); !ok {
			ch.Removed = append(ch.Removed, o.ID)
		}
	}
	add := func(name string, differ bool) {
		if differ {
			ch.Settings = append(ch.Settings, name)
		}
	}
	add("data_dir", old.DataDir != cur.DataDir)
	add("listen", old.Listen != cur.Listen)
	add("segment_duration", old.SegmentDuration != cur.SegmentDuration)
	add("fsync_interval", old.FsyncInterval != cur.FsyncInterval)
	add("live_linger", old.LiveLinger != cur.LiveLinger)
	add("timezone", old.Location().String() != cur.Location().String())
	add("retention", old.Retention != cur.Retention)
	add("api", !apiEqual(old.API, cur.API))
	add("users", !slices.EqualFunc(old.Users, cur.Users, func(x, y User) bool {
		return x.Name == y.Name && x.PasswordHash == y.PasswordHash && slices.Equal(x.Cameras, y.Cameras)
	}))
	add("log", old.Log != cur.Log)
	add("index", old.Index != cur.Index)
	add("node", old.Node != cur.Node)
	add("advertise_url", old.AdvertiseURL != cur.AdvertiseURL)
	return ch
}

func apiEqual(a, b API) bool {
	return a.Token == b.Token && a.MaxExport == b.MaxExport && a.AllowRemote == b.AllowRemote &&
		slices.Equal(a.AllowedHosts, b.AllowedHosts) && a.TLSCert == b.TLSCert && a.TLSKey == b.TLSKey &&
		slices.EqualFunc(a.Tokens, b.Tokens, func(x, y Token) bool {
			return x.Name == y.Name && x.Token == y.Token && slices.Equal(x.Cameras, y.Cameras)
		})
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
	transports = []string{"tcp", "udp"}
	// hostNameRe is a DNS name of RFC 1123 labels (which covers IPv4
	// addresses); IPv6 addresses are checked with net.ParseIP.
	hostNameRe = regexp.MustCompile(`^(?i:[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?)$`)
)

// clip bounds a value quoted in an error.
func clip(s string) string {
	const maxShown = 64
	if len(s) > maxShown {
		return s[:maxShown] + "…"
	}
	return s
}

// Validate checks the config and returns an *Error listing every problem,
// each naming the field and, for a parsed config, its line. It expects
// defaults to have been applied.
func (c *Config) Validate() error {
	var ps []Problem
	bad := func(field, format string, args ...any) {
		if len(ps) < maxProblems {
			ps = append(ps, Problem{Line: c.line(field), Field: field, Msg: fmt.Sprintf(format, args...)})
		}
	}

	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir", "is required")
	} else if strings.ContainsRune(c.DataDir, 0) {
		bad("data_dir", "contains a NUL byte")
	}
	c.validateListen(bad)
	if d := time.Duration(c.SegmentDuration); d < MinSegmentDuration || d > storage.MaxSegmentTarget {
		bad("segment_duration", "%v is outside %v..%v", d, MinSegmentDuration, storage.MaxSegmentTarget)
	}
	if d := time.Duration(c.FsyncInterval); d <= 0 || d > MaxFsyncInterval {
		bad("fsync_interval", "%v must be greater than zero and at most %v", d, MaxFsyncInterval)
	}
	if d := time.Duration(c.LiveLinger); d < 0 || d > MaxLiveLinger {
		bad("live_linger", "%v must be from 0 to %v", d, MaxLiveLinger)
	}
	c.loc = nil
	if loc, err := loadLocation(c.Timezone); err != nil {
		bad("timezone", "unknown time zone %q (use an IANA name such as Europe/Berlin)", c.Timezone)
	} else {
		c.loc = loc
	}

	ids := map[string]int{} // id -> index of first use
	for i, cam := range c.Cameras {
		c.validateCamera(i, cam, ids, bad)
	}

	r := c.Retention
	if r.MaxAge < 0 {
		bad("retention.max_age", "must not be negative")
	}
	if r.MaxBytes < 0 {
		bad("retention.max_bytes", "must not be negative")
	}
	if r.MinFreeBytes < 0 {
		bad("retention.min_free_bytes", "must not be negative")
	}

	c.validateAPI(ids, bad)
	c.validateUsers(ids, bad)
	c.validateIndex(bad)
	c.validateS3(bad)

	if !slices.Contains(logLevels, c.Log.Level) {
		bad("log.level", "%q is not one of %s", c.Log.Level, strings.Join(logLevels, ", "))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		bad("log.format", "%q is not one of %s", c.Log.Format, strings.Join(logFormats, ", "))
	}
	if len(ps) == 0 {
		return nil
	}
	return c.newError(ps)
}

func (c *Config) validateListen(bad func(string, string, ...any)) {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		bad("listen", "%q is not host:port", c.Listen)
		return
	}
	if p, err := parsePort(port); err != nil || p < 0 {
		bad("listen", "port %q is not a number from 0 to 65535", port)
	}
	loopback := host == "localhost"
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		loopback = true
	}
	if !loopback && !c.API.AllowRemote {
		bad("listen", "%q is reachable from other machines; set api.allow_remote: true (with a token) or listen on 127.0.0.1", c.Listen)
	}
	if c.API.AllowRemote && c.API.Token == "" && len(c.API.Tokens) == 0 && len(c.Users) == 0 {
		bad("api.allow_remote", "remote access needs api.token, api.tokens or users")
	}
}

func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 {
		return -1, errors.New("bad port")
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return -1, errors.New("bad port")
		}
		n = n*10 + int(r-'0')
	}
	if n > 65535 {
		return -1, errors.New("bad port")
	}
	return n, nil
}

func (c *Config) validateCamera(i int, cam Camera, ids map[string]int, bad func(string, string, ...any)) {
	p := fmt.Sprintf("cameras[%d]", i)
	switch {
	case cam.ID == "":
		bad(p+".id", "is required")
	case storage.ValidCameraID(cam.ID) != nil:
		if len(cam.ID) > MaxCameraIDLen {
			bad(p+".id", "is longer than %d characters", MaxCameraIDLen)
		} else {
			bad(p+".id", "%q may only contain a-z, 0-9, '_' and '-' (it becomes a folder name)", cam.ID)
		}
	default:
		if first, dup := ids[cam.ID]; dup {
			where := ""
			if l := c.line(fmt.Sprintf("cameras[%d].id", first)); l > 0 {
				where = fmt.Sprintf(" (first at line %d)", l)
			}
			bad(p+".id", "duplicate id %q%s", cam.ID, where)
		} else {
			ids[cam.ID] = i
		}
	}
	if len(cam.Name) > MaxNameLen {
		bad(p+".name", "is longer than %d characters", MaxNameLen)
	} else if hasControl(cam.Name) {
		bad(p+".name", "contains control characters")
	}
	checkStreamURL := func(field, raw string) {
		if c, cut := rtsp.UserinfoCut(raw); cut {
			// Checked before parsing: such a URL often parses, with part of
			// the password taken for the host.
			bad(field, "the user name or password holds %q as is, which would end it early and send nvr to the wrong host; %s, or give the camera username and password fields, which take any characters", c, rtsp.UserinfoHint)
		} else if msg := checkURL(raw, []string{"rtsp", "rtsps"}); msg != "" {
			bad(field, "%s", msg)
		} else if cam.Username != "" || cam.Password != "" {
			if u, _ := url.Parse(raw); u != nil && u.User != nil {
				bad(field, "has a user name or password, and so does the camera's username/password: give them in one place")
			}
		}
	}
	checkStreamURL(p+".url", cam.URL)
	subTLS := strings.HasPrefix(strings.ToLower(cam.SubURL), "rtsps://")
	if cam.SubURL != "" {
		checkStreamURL(p+".sub_url", cam.SubURL)
		if cam.SubURL == cam.URL {
			bad(p+".sub_url", "is the same as url: leave sub_url out when the camera has one stream")
		}
		if subTLS && cam.Transport == "udp" {
			bad(p+".transport", "udp is not possible with an rtsps:// sub_url (the video would not be encrypted); use tcp")
		}
	}
	if cam.RecordSub && cam.SubURL == "" {
		bad(p+".record_sub", "needs a sub_url (the stream to record besides url)")
	}
	if cam.Password != "" && cam.Username == "" {
		bad(p+".username", "is required with password")
	}
	if hasControl(cam.Username) {
		bad(p+".username", "contains control characters")
	}
	if hasControl(cam.Password) {
		bad(p+".password", "contains control characters")
	}
	if !slices.Contains(transports, cam.Transport) {
		bad(p+".transport", "%q is not one of %s", cam.Transport, strings.Join(transports, ", "))
	}
	tlsURL := strings.HasPrefix(strings.ToLower(cam.URL), "rtsps://")
	if tlsURL && cam.Transport == "udp" {
		bad(p+".transport", "udp is not possible with rtsps:// (the video would not be encrypted); use tcp")
	}
	if a := strings.ToLower(cam.Auth); a != "" && a != rtsp.AuthAny && a != rtsp.AuthDigest {
		bad(p+".auth", "%q is not %s or %s", cam.Auth, rtsp.AuthAny, rtsp.AuthDigest)
	}
	if cam.TLSFingerprint != "" {
		if _, err := rtsp.ParseFingerprint(cam.TLSFingerprint); err != nil {
			bad(p+".tls_fingerprint", "%v", err)
		} else if !tlsURL && !subTLS {
			bad(p+".tls_fingerprint", "is set, but neither url nor sub_url is rtsps://")
		}
	}
	if cam.SDP != "" {
		if lower := strings.ToLower(cam.SDP); strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
			if msg := checkURL(cam.SDP, []string{"http", "https"}); msg != "" {
				bad(p+".sdp", "%s", msg)
			}
		} else if hasControl(cam.SDP) {
			bad(p+".sdp", "is neither an http(s) URL nor a usable file path")
		}
	}
	if cam.MaxAge < 0 {
		bad(p+".max_age", "must not be negative")
	}
	for j, w := range cam.Schedule {
		wp := fmt.Sprintf("%s.schedule[%d]", p, j)
		if d := time.Duration(w.Duration); d <= 0 {
			bad(wp+".duration", "must be greater than zero")
		} else if d > schedule.MaxWindowDuration {
			bad(wp+".duration", "%v is longer than the maximum of %v", d, schedule.MaxWindowDuration)
		}
		if err := schedule.ValidateWindow(schedule.Window{Spec: w.Start, Duration: time.Hour}); err != nil {
			bad(wp+".start", "%v", err)
		}
	}
}

func (c *Config) validateAPI(ids map[string]int, bad func(string, string, ...any)) {
	seen := map[string]bool{}
	checkToken := func(field, tok string) {
		switch {
		case len(tok) < MinTokenLength:
			bad(field, "must be at least %d characters", MinTokenLength)
		case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			bad(field, "must not contain spaces or control characters")
		case seen[tok]:
			bad(field, "is the same as another token")
		}
		seen[tok] = true
	}
	if c.API.Token != "" {
		checkToken("api.token", c.API.Token)
	}
	for i, t := range c.API.Tokens {
		p := fmt.Sprintf("api.tokens[%d]", i)
		if t.Token == "" {
			bad(p+".token", "is required")
		} else {
			checkToken(p+".token", t.Token)
		}
		for j, id := range t.Cameras {
			if _, ok := ids[id]; !ok {
				bad(fmt.Sprintf("%s.cameras[%d]", p, j), "no camera has id %q", id)
			}
		}
	}
	for i, h := range c.API.AllowedHosts {
		if !hostNameRe.MatchString(h) && (net.ParseIP(h) == nil || !strings.Contains(h, ":")) {
			bad(fmt.Sprintf("api.allowed_hosts[%d]", i), "%q is not a host name or address (no scheme, port or wildcard: nvr.example.org, 192.0.2.5, ::1)", clip(h))
		}
	}
	if d := time.Duration(c.API.MaxExport); d <= 0 || d > MaxExportLimit {
		bad("api.max_export", "%v must be greater than zero and at most %v", d, MaxExportLimit)
	}
	switch {
	case c.API.TLSCert != "" && c.API.TLSKey == "":
		bad("api.tls_key", "is required with api.tls_cert")
	case c.API.TLSKey != "" && c.API.TLSCert == "":
		bad("api.tls_cert", "is required with api.tls_key")
	}
}

// userNameRe: user names are typed at the sign-in form and shown in logs.
var userNameRe = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

func (c *Config) validateUsers(ids map[string]int, bad func(string, string, ...any)) {
	seen := map[string]bool{}
	for i, u := range c.Users {
		p := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Name == "":
			bad(p+".name", "is required")
		case !userNameRe.MatchString(u.Name):
			bad(p+".name", "may only contain letters, digits, '.', '_', '@' and '-' (at most 64)")
		case seen[u.Name]:
			bad(p+".name", "duplicate user %q", u.Name)
		}
		seen[u.Name] = true
		if u.PasswordHash == "" {
			bad(p+".password_hash", "is required (make one with nvr hash-password)")
		} else if err := passwd.Validate(u.PasswordHash); err != nil {
			bad(p+".password_hash", "%v", err)
		}
		for j, id := range u.Cameras {
			if _, ok := ids[id]; !ok {
				bad(fmt.Sprintf("%s.cameras[%d]", p, j), "no camera has id %q", id)
			}
		}
	}
}

// checkURL returns what is wrong with raw as a URL with one of schemes, or
// "". The message never quotes the URL: with a password that was not
// percent-encoded, any part of it (even the "host") may be the password.
func checkURL(raw string, schemes []string) string {
	if raw == "" {
		return "is required"
	}
	if hasControl(raw) || strings.ContainsAny(raw, " \t") {
		return "contains spaces or control characters"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URL (percent-encode special characters in the user name and password, e.g. @ as %40 and % as %25, or give the camera username and password fields)"
	}
	if !slices.Contains(schemes, u.Scheme) {
		if u.Scheme == "" {
			return fmt.Sprintf("has no scheme; it must start with %s://", strings.Join(schemes, ":// or "))
		}
		if len(u.Scheme) <= 10 {
			return fmt.Sprintf("scheme %q is not %s", u.Scheme, strings.Join(schemes, " or "))
		}
		return "has an unsupported scheme; use " + strings.Join(schemes, " or ")
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return "has no host (expected " + schemes[0] + "://host[:port]/path)"
	}
	if port := u.Port(); port != "" {
		if p, err := parsePort(port); err != nil || p == 0 {
			return "has a port that is not a number from 1 to 65535"
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "has an empty port"
	}
	return ""
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// line returns the line of field, or of its nearest parent that has one.
func (c *Config) line(field string) int {
	for field != "" {
		if l, ok := c.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}

func (c *Config) newError(ps []Problem) *Error {
	secrets := slices.Clone(c.secrets)
	secrets = append(secrets, c.API.Token)
	for _, u := range c.Users {
		secrets = append(secrets, u.PasswordHash)
	}
	for _, t := range c.API.Tokens {
		secrets = append(secrets, t.Token)
	}
	for _, cam := range c.Cameras {
		secrets = append(secrets, redact.Secrets(cam.URL)...)
		secrets = append(secrets, redact.Secrets(cam.SubURL)...)
	}
	secrets = append(secrets, redact.Secrets(c.Index.Postgres)...)
	scrub := redact.Scrubber(secrets...)
	for i := range ps {
		ps[i].Msg = scrub(ps[i].Msg)
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
	return &Error{Problems: ps}
}

// maxProblems bounds the problems collected from one file, so that a huge
// broken file cannot make a huge error.
const maxProblems = 1000

// maxProblemsShown bounds the problems Error() lists: after fifty, the
// reader has enough to fix and a log line stays readable.
const maxProblemsShown = 50

// Problem is one thing wrong with a config.
type Problem struct {
	Line  int    // 1-based line in the file; 0 if unknown
	Field string // path such as "cameras[1].url"; empty for file-level problems
	Msg   string
}

// String formats p as "line N: field: message".
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem found in a config. It matches ErrInvalid.
type Error struct {
	File     string // set by Load
	Problems []Problem
}

// Error lists the problems, at most maxProblemsShown of them.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.File != "" {
		b.WriteString(" ")
		b.WriteString(e.File)
	}
	b.WriteString(": ")
	if len(e.Problems) == 1 {
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, "%d problems:", len(e.Problems))
	for i, p := range e.Problems {
		if i == maxProblemsShown {
			fmt.Fprintf(&b, "\n  (and %d more)", len(e.Problems)-i)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// nodeRe is the rule for a node name: like a camera id, it may name
// folders and appear in URLs and metrics.
var nodeRe = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// validateIndex checks index.postgres and node. The URL is checked here as
// far as its shape goes (scheme, host or socket directory, port, and what
// pgx's parser refuses); whether the server answers is for nvr serve.
func (c *Config) validateIndex(bad func(field, format string, args ...any)) {
	if c.Node != "" && !nodeRe.MatchString(c.Node) {
		bad("node", "%q: use 1 to 64 characters from a-z, 0-9, '_' and '-'", clip(c.Node))
	}
	for i, cc := range c.Cameras {
		if cc.Node != "" && !nodeRe.MatchString(cc.Node) {
			bad(fmt.Sprintf("cameras[%d].node", i), "%q: use 1 to 64 characters from a-z, 0-9, '_' and '-'", clip(cc.Node))
		}
	}
	if u := c.AdvertiseURL; u != "" {
		if msg := checkAdvertiseURL(u); msg != "" {
			bad("advertise_url", "%s", msg)
		}
	}
	raw := c.Index.Postgres
	if raw == "" {
		return
	}
	if msg := checkPostgresURL(raw); msg != "" {
		bad("index.postgres", "%s", msg)
	}
	if c.Node == "" {
		bad("node", "is required with index.postgres: it names this nvr among those sharing the database")
	}
}

// checkAdvertiseURL says what is wrong with a node's advertise_url, or "".
// The other nodes send their API token there, so it names a server and
// nothing else: no credentials, query or fragment.
func checkAdvertiseURL(raw string) string {
	if hasControl(raw) || strings.ContainsAny(raw, " \t") {
		return "contains spaces or control characters"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return fmt.Sprintf("%q: expected http(s)://host:port", clip(redact.Text(raw)))
	case u.User != nil:
		return "must not contain credentials"
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return fmt.Sprintf("%q: expected http(s)://host:port, without a path or query", clip(redact.Text(raw)))
	}
	return ""
}

// bucketRe is S3's rule for bucket names (3-63 lower-case letters, digits,
// dots and hyphens, starting and ending with a letter or digit).
var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// validateS3 checks storage.s3. An endpoint carrying user info is refused
// without being echoed: keys belong in the environment.
func (c *Config) validateS3(bad func(field, format string, args ...any)) {
	s3 := c.Storage.S3
	if s3 == nil {
		return
	}
	ep := s3.Endpoint
	switch {
	case ep == "":
		bad("storage.s3.endpoint", "is required: host:port or http(s)://host:port")
	case hasControl(ep) || strings.ContainsAny(ep, " \t"):
		bad("storage.s3.endpoint", "contains spaces or control characters")
	case strings.Contains(ep, "@"):
		bad("storage.s3.endpoint", "must not contain credentials: set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY in the environment")
	default:
		raw := ep
		if !strings.Contains(raw, "://") {
			raw = "http://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			bad("storage.s3.endpoint", "%q: expected host:port or http(s)://host:port", clip(redact.Text(ep)))
		}
	}
	if !bucketRe.MatchString(s3.Bucket) {
		bad("storage.s3.bucket", "%q: use 3 to 63 characters from a-z, 0-9, '.' and '-'", clip(s3.Bucket))
	}
	if len(s3.Prefix) > 256 || hasControl(s3.Prefix) || strings.HasPrefix(s3.Prefix, "/") {
		bad("storage.s3.prefix", "use at most 256 printable characters, not starting with '/'")
	}
}

// checkPostgresURL returns what is wrong with a PostgreSQL URL, or "".
func checkPostgresURL(raw string) string {
	const form = "postgres://user:password@host:port/database"
	if hasControl(raw) || strings.ContainsAny(raw, " \t") {
		return "contains spaces or control characters"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URL (percent-encode special characters in the user name and password, e.g. @ as %40); expected " + form
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "must start with postgres:// or postgresql:// (" + form + ")"
	}
	if u.Opaque != "" || (u.Hostname() == "" && u.Query().Get("host") == "") {
		return "has no host (expected " + form + ", or ?host=/socket/dir for a Unix socket)"
	}
	if port := u.Port(); port != "" {
		if p, err := parsePort(port); err != nil || p == 0 {
			return "has a port that is not a number from 1 to 65535"
		}
	}
	if _, err := pgconn.ParseConfig(raw); err != nil {
		// pgx hides the password itself; newError scrubs the rest.
		return "is not a valid PostgreSQL URL: " + redact.Text(err.Error())
	}
	return ""
}
