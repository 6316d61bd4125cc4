package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nvr-project/nvr/internal/passwd"
	"github.com/nvr-project/nvr/internal/redact"
)

const (
	secretPW    = "S3cr3t-pw!"
	secretToken = "tok-0123456789abcdef"
)

var testEnv = map[string]string{
	"FRONT_DOOR_PASSWORD": secretPW,
	"NVR_TOKEN":           secretToken,
	"CAM_URL":             "rtsp://admin:" + secretPW + "@192.0.2.12:0/live",
}

func getenv(name string) string { return testEnv[name] }

const validConfig = `# a config a user would write
data_dir: /var/lib/nvr
listen: 127.0.0.1:8080
segment_duration: 60s
timezone: Europe/Berlin
cameras:
  - id: front-door
    name: Front door
    url: rtsp://admin:${FRONT_DOOR_PASSWORD}@192.0.2.10:554/Streaming/Channels/101
    transport: tcp
    schedule:
      - start: "0 22 * * *"
        duration: 9h
      - start: "0 0 * * 6"
        duration: 2d
    max_age: 30d
  - id: yard
    url: rtsp://192.0.2.11/stream
    transport: udp
    sdp: https://192.0.2.11/stream.sdp
    enabled: false
retention:
  max_age: 720h
  max_bytes: 500GB
  min_free_bytes: 5 GiB
api:
  token: ${NVR_TOKEN}
  tokens:
    - name: neighbour
      token: another-token-0123456789
      cameras: [yard]
  max_export: 12h
log:
  level: debug
  format: json
`

func TestParseValid(t *testing.T) {
	cfg, err := Parse([]byte(validConfig), getenv)
	if err != nil {
		t.Fatal(err)
	}
	f := false
	want := []Camera{
		{
			ID: "front-door", Name: "Front door",
			URL:       "rtsp://admin:" + secretPW + "@192.0.2.10:554/Streaming/Channels/101",
			Transport: "tcp",
			Schedule:  []Window{{"0 22 * * *", Duration(9 * time.Hour)}, {"0 0 * * 6", Duration(48 * time.Hour)}},
			MaxAge:    Duration(30 * 24 * time.Hour),
			line:      7,
		},
		{ID: "yard", Name: "yard", URL: "rtsp://192.0.2.11/stream", Transport: "udp", SDP: "https://192.0.2.11/stream.sdp", Enabled: &f, line: 17},
	}
	if !reflect.DeepEqual(cfg.Cameras, want) {
		t.Errorf("cameras:\n got %+v\nwant %+v", cfg.Cameras, want)
	}
	if cfg.DataDir != "/var/lib/nvr" || cfg.Listen != "127.0.0.1:8080" || cfg.SegmentDuration.D() != time.Minute ||
		cfg.FsyncInterval.D() != DefaultFsyncInterval || cfg.Location().String() != "Europe/Berlin" {
		t.Errorf("top level: %+v", cfg)
	}
	if cfg.Retention != (Retention{Duration(720 * time.Hour), 500_000_000_000, 5 << 30}) {
		t.Errorf("retention: %+v", cfg.Retention)
	}
	if cfg.API.Token != secretToken || cfg.API.MaxExport.D() != 12*time.Hour ||
		!reflect.DeepEqual(cfg.API.Tokens, []Token{{"neighbour", "another-token-0123456789", []string{"yard"}}}) {
		t.Errorf("api: %+v", cfg.API)
	}
	if cfg.Log != (Log{"debug", "json"}) {
		t.Errorf("log: %+v", cfg.Log)
	}
	if cfg.Cameras[0].IsEnabled() != true || cfg.Cameras[1].IsEnabled() != false {
		t.Error("IsEnabled")
	}
	if got := cfg.Cameras[0].RedactedURL(); strings.Contains(got, secretPW) || !strings.Contains(got, "192.0.2.10:554") {
		t.Errorf("RedactedURL = %q", got)
	}
	s, err := cfg.Schedule(cfg.Cameras[0])
	if err != nil {
		t.Fatal(err)
	}
	// Wednesday 2026-03-11 23:00 Berlin is inside the night window.
	if active, _ := s.At(time.Date(2026, 3, 11, 23, 0, 0, 0, cfg.Location())); !active {
		t.Error("schedule not active at 23:00")
	}
	if s, _ := cfg.Schedule(cfg.Cameras[1]); !s.Always() {
		t.Error("no windows should mean always")
	}
	// Validate is idempotent on a parsed config.
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte("data_dir: ./data\ncameras:\n  - id: a\n    url: rtsp://cam.local/\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		DataDir: "./data", Listen: DefaultListen,
		SegmentDuration: Duration(DefaultSegmentDuration), FsyncInterval: Duration(DefaultFsyncInterval), LiveLinger: Duration(DefaultLiveLinger),
		Cameras: []Camera{{ID: "a", Name: "a", URL: "rtsp://cam.local/", Transport: "tcp", line: 3}},
		API:     API{MaxExport: Duration(DefaultMaxExport)},
		Log:     Log{DefaultLogLevel, DefaultLogFormat},
	}
	cfg.lines, cfg.secrets, cfg.loc = nil, nil, nil
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("\n got %+v\nwant %+v", cfg, want)
	}
	if cfg.Location() != time.Local {
		t.Errorf("Location = %v", cfg.Location())
	}
	// A config built in code gets the same defaults.
	c := &Config{DataDir: "/d", Cameras: []Camera{{ID: "a", URL: "rtsp://h/"}}}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Cameras[0].Transport != "tcp" || c.Listen != DefaultListen {
		t.Errorf("%+v", c)
	}
}

func TestMergeKeys(t *testing.T) {
	cfg, err := Parse([]byte(`data_dir: /d
cameras:
  - &base
    id: a
    url: rtsp://h/1
    transport: udp
  - <<: *base
    id: b
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.Cameras[1]; b.ID != "b" || b.URL != "rtsp://h/1" || b.Transport != "udp" {
		t.Errorf("merged camera: %+v", b)
	}
}

type badCase struct {
	name string
	yaml string
	want []string // each must appear in the error
}

// base is prefixed to cases that need a valid top.
const base = "data_dir: /d\n"

var badCases = []badCase{
	{"unknown top key", base + "foo: 1\n", []string{`line 2: foo: unknown key "foo"`}},
	{"unknown key suggestion", "dataDir: /d\n", []string{`line 1: dataDir: unknown key "dataDir" (did you mean "data_dir"?)`, "data_dir: is required"}},
	{"unknown camera key", base + "cameras:\n  - id: a\n    url: rtsp://h/\n    passwd: x\n", []string{`line 5: cameras[0].passwd: unknown key "passwd"`}},
	{"duplicate key", base + "data_dir: /e\n", []string{`line 2: data_dir: duplicate key "data_dir" (first at line 1)`}},
	{"duplicate camera id", base + "cameras:\n  - id: a\n    url: rtsp://h/\n  - id: a\n    url: rtsp://h/\n", []string{`line 5: cameras[1].id: duplicate id "a" (first at line 3)`}},
	{"invalid camera id", base + "cameras:\n  - id: Front Door\n    url: rtsp://h/\n", []string{`line 3: cameras[0].id: "Front Door" may only contain a-z, 0-9`}},
	{"dotted camera id", base + "cameras:\n  - id: ../etc\n    url: rtsp://h/\n", []string{`line 3: cameras[0].id: "../etc" may only contain`}},
	{"long camera id", base + "cameras:\n  - id: " + strings.Repeat("a", 65) + "\n    url: rtsp://h/\n", []string{"line 3: cameras[0].id: is longer than 64 characters"}},
	{"missing camera id", base + "cameras:\n  - url: rtsp://h/\n", []string{"line 3: cameras[0].id: is required"}},
	{"missing url", base + "cameras:\n  - id: a\n", []string{"line 3: cameras[0].url: is required"}},
	{"http url", base + "cameras:\n  - id: a\n    url: http://h/\n", []string{`line 4: cameras[0].url: scheme "http" is not rtsp or rtsps`}},
	{"url without scheme", base + "cameras:\n  - id: a\n    url: 192.0.2.1/live\n", []string{"line 4: cameras[0].url: has no scheme"}},
	{"url without host", base + "cameras:\n  - id: a\n    url: rtsp:///live\n", []string{"line 4: cameras[0].url: has no host"}},
	{"url bad port", base + "cameras:\n  - id: a\n    url: rtsp://h:99999/live\n", []string{"line 4: cameras[0].url: has a port that is not a number from 1 to 65535"}},
	{"url unparsable with password", base + "cameras:\n  - id: a\n    url: rtsp://admin:" + secretPW + "@h:x/\n", []string{"line 4: cameras[0].url: is not a valid URL"}},
	{"url with env password, wrong scheme", base + "cameras:\n  - id: a\n    url: http://admin:${FRONT_DOOR_PASSWORD}@h/\n", []string{`line 4: cameras[0].url: scheme "http"`}},
	{"url from env, bad port", base + "cameras:\n  - id: a\n    url: ${CAM_URL}\n", []string{"line 4: cameras[0].url: has a port that is not a number from 1 to 65535"}},
	{"url with space", base + "cameras:\n  - id: a\n    url: rtsp://h/live stream\n", []string{"line 4: cameras[0].url: contains spaces"}},
	{"bad transport", base + "cameras:\n  - id: a\n    url: rtsp://h/\n    transport: http\n", []string{`line 5: cameras[0].transport: "http" is not one of tcp, udp`}},
	{"tls cert without key", base + "api:\n  tls_cert: /etc/nvr/cert.pem\n", []string{"api.tls_key: is required with api.tls_cert"}},
	{"tls key without cert", base + "api:\n  tls_key: /etc/nvr/key.pem\n", []string{"api.tls_cert: is required with api.tls_key"}},
	{"bad auth", base + "cameras:\n  - id: a\n    url: rtsp://h/\n    auth: ntlm\n", []string{`line 5: cameras[0].auth: "ntlm" is not any or digest`}},
	{"fingerprint without rtsps", base + "cameras:\n  - id: a\n    url: rtsp://h/\n    tls_fingerprint: sha256:" + strings.Repeat("ab", 32) + "\n", []string{"line 5: cameras[0].tls_fingerprint: is set, but neither url nor sub_url is rtsps://"}},
	{"fingerprint not sha256", base + "cameras:\n  - id: a\n    url: rtsps://h/\n    tls_fingerprint: 12:34:56\n", []string{`line 5: cameras[0].tls_fingerprint: want "sha256:" and 64 hex digits`}},
	{"rtsps over udp", base + "cameras:\n  - id: a\n    url: rtsps://h/\n    transport: udp\n", []string{"line 5: cameras[0].transport: udp is not possible with rtsps://"}},
	{"bad sdp url", base + "cameras:\n  - id: a\n    url: rtsp://h/\n    sdp: https://\n", []string{"line 5: cameras[0].sdp: has no host"}},
	{"negative duration", base + "segment_duration: -5s\n", []string{`line 2: segment_duration: duration "-5s" must not be negative`}},
	{"unparsable duration", base + "fsync_interval: soon\n", []string{`line 2: fsync_interval: duration "soon" is not valid`}},
	{"duration without unit", base + "segment_duration: 60\n", []string{`line 2: segment_duration: duration "60" has no unit`}},
	{"explicit zero duration", base + "segment_duration: 0s\n", []string{"line 2: segment_duration: 0s is outside 1s..1h0m0s"}},
	{"segment too long", base + "segment_duration: 2h\n", []string{"line 2: segment_duration: 2h0m0s is outside"}},
	{"zero fsync", base + "fsync_interval: 0\n", []string{"line 2: fsync_interval: 0s must be greater than zero"}},
	{"bad size unit", base + "retention:\n  max_bytes: 500XB\n", []string{`line 3: retention.max_bytes: size "500XB": unknown unit`}},
	{"size not a number", base + "retention:\n  min_free_bytes: lots\n", []string{`line 3: retention.min_free_bytes: size "lots" is not a number with a unit`}},
	{"negative size", base + "retention:\n  max_bytes: -5GB\n", []string{`line 3: retention.max_bytes: size "-5GB" is not a number`}},
	{"size overflow", base + "retention:\n  max_bytes: 99999999999PB\n", []string{"line 3: retention.max_bytes: size \"99999999999PB\" is too large"}},
	{"negative max_age", base + "retention:\n  max_age: -1h\n", []string{"line 3: retention.max_age: duration \"-1h\" must not be negative"}},
	{"bad cron", base + "cameras:\n  - id: a\n    url: rtsp://h/\n    schedule:\n      - start: \"0 25 * * *\"\n        duration: 1h\n", []string{"line 6: cameras[0].schedule[0].start: invalid cron expression"}},
	{"cron never fires", base + "cameras:\n  - id: a\n    url: rtsp://h/\n    schedule:\n      - start: \"0 0 30 2 *\"\n        duration: 1h\n", []string{"line 6: cameras[0].schedule[0].start: invalid cron expression: \"0 0 30 2 *\" never matches a date"}},
	{"zero window", base + "cameras:\n  - id: a\n    url: rtsp://h/\n    schedule:\n      - start: \"@daily\"\n        duration: 0s\n", []string{"line 7: cameras[0].schedule[0].duration: must be greater than zero"}},
	{"missing window duration", base + "cameras:\n  - id: a\n    url: rtsp://h/\n    schedule:\n      - start: \"@daily\"\n", []string{"line 6: cameras[0].schedule[0].duration: must be greater than zero"}},
	{"window too long", base + "cameras:\n  - id: a\n    url: rtsp://h/\n    schedule:\n      - start: \"@daily\"\n        duration: 32d\n", []string{"line 7: cameras[0].schedule[0].duration: 768h0m0s is longer than the maximum"}},
	{"bad timezone", base + "timezone: Mars/Olympus\n", []string{`line 2: timezone: unknown time zone "Mars/Olympus"`}},
	{"unset env", base + "cameras:\n  - id: a\n    url: rtsp://admin:${CAM_PW}@h/\n", []string{"line 4: cameras[0].url: environment variable CAM_PW is not set"}},
	{"unterminated env", base + "cameras:\n  - id: a\n    url: rtsp://admin:${CAM_PW@h/\n", []string{"line 4: cameras[0].url: unterminated ${"}},
	{"bad env name", base + "cameras:\n  - id: a\n    url: rtsp://admin:${1X}@h/\n", []string{"line 4: cameras[0].url: ${...} must hold a variable name"}},
	{"listen on all interfaces", base + "listen: 0.0.0.0:8080\n", []string{`line 2: listen: "0.0.0.0:8080" is reachable from other machines`}},
	{"listen without port", base + "listen: localhost\n", []string{`line 2: listen: "localhost" is not host:port`}},
	{"remote without token", base + "listen: :8080\napi:\n  allow_remote: true\n", []string{"line 4: api.allow_remote: remote access needs api.token, api.tokens or users"}},
	{"short token", base + "api:\n  token: secret\n", []string{"line 3: api.token: must be at least 16 characters"}},
	{"duplicate token", base + "api:\n  token: ${NVR_TOKEN}\n  tokens:\n    - token: ${NVR_TOKEN}\n", []string{"line 5: api.tokens[0].token: is the same as another token"}},
	{"token for unknown camera", base + "api:\n  tokens:\n    - token: 0123456789abcdef0\n      cameras: [nope]\n", []string{`line 5: api.tokens[0].cameras[0]: no camera has id "nope"`}},
	{"allowed host with port", base + "api:\n  allowed_hosts: [nvr.example.org:443]\n", []string{`line 3: api.allowed_hosts[0]: "nvr.example.org:443" is not a host name or address`}},
	{"allowed host hex-like with port", base + "api:\n  allowed_hosts: [cafe.de:443, \"::1\", 192.0.2.5]\n", []string{`api.allowed_hosts[0]: "cafe.de:443" is not`}},
	{"allowed host wildcard", base + "api:\n  allowed_hosts:\n    - ok.example\n    - \"*\"\n", []string{`line 5: api.allowed_hosts[1]: "*" is not a host name`}},
	{"allowed host url", base + "api:\n  allowed_hosts: [https://nvr.example.org]\n", []string{`api.allowed_hosts[0]: "https://nvr.example.org" is not a host name`}},
	{"zero max_export", base + "api:\n  max_export: 0s\n", []string{"line 3: api.max_export: 0s must be greater than zero"}},
	{"bad log level", base + "log:\n  level: loud\n", []string{`line 3: log.level: "loud" is not one of debug, info, warn, error`}},
	{"bad bool", base + "cameras:\n  - id: a\n    url: rtsp://h/\n    enabled: maybe\n", []string{"line 5: cameras[0].enabled: expected true or false"}},
	{"cameras not a list", base + "cameras: front-door\n", []string{"line 2: cameras: expected a list, got a single value"}},
	{"camera not a mapping", base + "cameras:\n  - rtsp://h/\n", []string{"line 3: cameras[0]: expected a mapping of keys to values, got a single value"}},
	{"url is a mapping", base + "cameras:\n  - id: a\n    url: {x: 1}\n", []string{"line 4: cameras[0].url: expected a single value, got a mapping"}},
	{"syntax error", base + "cameras: [\n", []string{"config: line 2: did not find expected node content"}},
	{"tab indentation", base + "cameras:\n\t- id: a\n", []string{"config: line 3: found character that cannot start any token", "tabs are not allowed for indentation"}},
	{"tab indentation deeper", base + "cameras:\n  - id: a\n\t  url: rtsp://h/\n", []string{"config: line 4:", "tabs are not allowed for indentation"}},
	{"password with # in url", base + "cameras:\n  - id: a\n    url: rtsp://admin:p@ss#" + secretPW + "@192.0.2.1/cam\n", []string{"line 4: cameras[0].url: the user name or password holds '#' as is", "# as %23", "username and password fields"}},
	{"password with / in url", base + "cameras:\n  - id: a\n    url: rtsp://admin:12/" + secretPW + "@192.0.2.1/cam\n", []string{"line 4: cameras[0].url: the user name or password holds '/' as is"}},
	{"credentials twice", base + "cameras:\n  - id: a\n    url: rtsp://admin:${FRONT_DOOR_PASSWORD}@h/\n    username: admin\n", []string{"line 4: cameras[0].url: has a user name or password, and so does the camera's username/password"}},
	{"postgres without node", base + "index:\n  postgres: postgres://nvr:${FRONT_DOOR_PASSWORD}@db.local/nvr\n", []string{"node: is required with index.postgres"}},
	{"postgres wrong scheme", base + "node: a\nindex:\n  postgres: mysql://nvr:${FRONT_DOOR_PASSWORD}@db.local/nvr\n", []string{"line 4: index.postgres: must start with postgres:// or postgresql://"}},
	{"postgres no host", base + "node: a\nindex:\n  postgres: postgres:///nvr\n", []string{"line 4: index.postgres: has no host"}},
	{"postgres bad port", base + "node: a\nindex:\n  postgres: postgres://nvr:" + secretPW + "@db.local:0/nvr\n", []string{"line 4: index.postgres: has a port that is not a number"}},
	{"postgres unparsable", base + "node: a\nindex:\n  postgres: postgres://nvr:" + secretPW + "@db.local:x/nvr\n", []string{"line 4: index.postgres: is not a valid URL"}},
	{"postgres bad parameter", base + "node: a\nindex:\n  postgres: postgres://nvr:${FRONT_DOOR_PASSWORD}@db.local/nvr?sslmode=sometimes\n", []string{"line 4: index.postgres: is not a valid PostgreSQL URL"}},
	{"postgres password parameter", base + "node: a\nindex:\n  postgres: postgresql://db.local/nvr?password=" + secretPW + "&sslmode=sometimes\n", []string{"line 4: index.postgres: is not a valid PostgreSQL URL"}},
	{"bad node", base + "node: Node A\n", []string{`line 2: node: "Node A": use 1 to 64 characters`}},
	{"advertise_url with credentials", base + "advertise_url: http://nvr:" + secretPW + "@10.0.0.5:8080\n", []string{"line 2: advertise_url: must not contain credentials"}},
	{"advertise_url not http", base + "advertise_url: rtsp://10.0.0.5:8080\n", []string{`line 2: advertise_url: "rtsp://10.0.0.5:8080": expected http(s)://host:port`}},
	{"advertise_url with a path", base + "advertise_url: http://10.0.0.5:8080/nvr?x=1\n", []string{"line 2: advertise_url: \"http://10.0.0.5:8080/nvr?x=1\": expected http(s)://host:port, without a path or query"}},
	{"unknown index key", base + "index:\n  sqlite: x\n", []string{`line 3: index.sqlite: unknown key "sqlite"`}},
	{"password without username", base + "cameras:\n  - id: a\n    url: rtsp://h/\n    password: ${FRONT_DOOR_PASSWORD}\n", []string{"cameras[0].username: is required with password"}},
	{"two documents", base + "---\ndata_dir: /e\n", []string{"config: line 2: only one YAML document is allowed"}},
	{"broken second document", base + "---\n[\n", []string{"config: line 3: did not find expected node content"}},
	{"missing data_dir", "listen: 127.0.0.1:1\n", []string{"config: data_dir: is required"}},
	{"empty file", "", []string{"data_dir: is required"}},
	{"not a mapping", "- a\n- b\n", []string{"line 1: expected a mapping"}},
	{"several problems", "data_dir: /d\nsegment_duration: 1x\ncameras:\n  - id: A\n    url: ftp://h/\n", []string{"3 problems:", "\n  line 2: segment_duration", "\n  line 4: cameras[0].id", "\n  line 5: cameras[0].url"}},
}

// A '#' in a password that reaches the URL through ${ENV} is caught as
// well, at the url's line, and the password is never shown.
func TestHashPasswordFromEnv(t *testing.T) {
	const pw = "S3cr@t#1"
	yml := "data_dir: /d\ncameras:\n  - id: a\n    url: rtsp://admin:${PW}@127.0.0.1:18810/cam\n"
	_, err := Parse([]byte(yml), func(string) string { return pw })
	if err == nil {
		t.Fatal("a URL whose user-info '#' cuts was accepted")
	}
	if msg := err.Error(); !strings.Contains(msg, "line 4: cameras[0].url:") || !strings.Contains(msg, "%23") ||
		strings.Contains(msg, pw) || strings.Contains(msg, "S3cr") {
		t.Errorf("error %q: want the line and the hint, and no password", msg)
	}
}

// username and password take any characters and end up in the URL that the
// recorder and probe read, percent-encoded; the password never shows in an
// error, in String or in a log line.
func TestCameraCredentialFields(t *testing.T) {
	const pw = "p@ss#w/rd?%1"
	yml := "data_dir: /d\ncameras:\n  - id: a\n    url: rtsps://192.0.2.1:7441/cam?ch=1\n    username: ad:min\n    password: ${PW}\n  - id: b\n    url: rtsp://192.0.2.2/x\n    username: viewer\n"
	cfg, err := Parse([]byte(yml), func(string) string { return pw })
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Cameras[0], cfg.Cameras[1]
	u, err := url.Parse(a.URL)
	if err != nil {
		t.Fatalf("folded URL does not parse: %v", err)
	}
	if got, _ := u.User.Password(); u.User.Username() != "ad:min" || got != pw || u.Host != "192.0.2.1:7441" || u.Path != "/cam" || u.RawQuery != "ch=1" {
		t.Errorf("folded URL %q: user %q password %q host %q", a.URL, u.User.Username(), got, u.Host)
	}
	if a.Username != "" || a.Password != "" {
		t.Error("username/password left beside the URL")
	}
	if b.URL != "rtsp://viewer@192.0.2.2/x" {
		t.Errorf("user only: %q", b.URL)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("a loaded config no longer validates: %v", err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", slog.Any("camera", a), slog.Any("config", *cfg))
	for _, s := range []string{a.String(), fmt.Sprint(*cfg), logged.String(), a.RedactedURL()} {
		if strings.Contains(s, "w/rd") || strings.Contains(s, url.PathEscape(pw)) || strings.Contains(s, "p%40ss") {
			t.Errorf("password shown: %s", s)
		}
	}
	// A problem elsewhere in the file never quotes the password either.
	_, err = Parse([]byte(yml+"    transport: "+pw+"\n"), func(string) string { return pw })
	if err == nil || strings.Contains(err.Error(), "w/rd") {
		t.Errorf("error %v: want one, without the password", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml), getenv)
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			if cfg != nil {
				t.Error("config returned with an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not match ErrInvalid: %v", err)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error\n%s\ndoes not contain\n%s", msg, w)
				}
			}
			// S3 (cred-leak): no error ever shows a password or a token.
			for _, s := range []string{secretPW, secretToken, "admin:"} {
				if strings.Contains(msg, s) {
					t.Errorf("error leaks %q:\n%s", s, msg)
				}
			}
		})
	}
}

func TestNoSecretInErrorsEvenIfQuoted(t *testing.T) {
	// The scrubber is the second line of defence: a message that did quote a
	// secret field would have it replaced.
	cfg, err := Parse([]byte(validConfig), getenv)
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.newError([]Problem{{Field: "x", Msg: "oops " + secretPW + " and " + secretToken}})
	if strings.Contains(e.Error(), secretPW) || strings.Contains(e.Error(), secretToken) {
		t.Errorf("not scrubbed: %v", e)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "alpha", "B_2": "b$${x}", "EMPTY": ""}
	get := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct {
		in, want string
		used     bool
		err      string
	}{
		{"plain", "plain", false, ""},
		{"${A}", "alpha", true, ""},
		{"x${A}y${B_2}z", "xalphayb$${x}z", true, ""}, // values are not expanded again
		{"$${A}", "${A}", false, ""},
		{"pa$$word$", "pa$$word$", false, ""},
		{"$A and $", "$A and $", false, ""},
		{"${MISSING}", "", false, "environment variable MISSING is not set"},
		{"rtsp://admin:${EMPTY}@h/", "rtsp://admin:@h/", true, ""},
		{"${}", "", false, "must hold a variable name"},
		{"${A", "", false, "unterminated"},
		{"${1A}", "", false, "must hold a variable name"},
		{"${A-B}", "", false, "must hold a variable name"},
		{"${" + strings.Repeat("A", 300) + "}", "", false, "unterminated"},
	}
	for _, tc := range cases {
		got, used, err := expand(tc.in, get)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("expand(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || used != tc.used {
			t.Errorf("expand(%q) = %q, %v, %v; want %q, %v", tc.in, got, used, err, tc.want, tc.used)
		}
	}
	// Expansion is bounded.
	big := map[string]string{"BIG": strings.Repeat("x", 10_000)}
	if _, _, err := expand(strings.Repeat("${BIG}", 10), func(k string) (string, bool) { v, ok := big[k]; return v, ok }); err == nil {
		t.Error("no error for a value over maxValueLen")
	}
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"60s", time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"30d", 30 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{" 5m ", 5 * time.Minute, ""},
		{"0", 0, ""},
		{"0s", 0, ""},
		{"60", 0, "has no unit"},
		{"1.5", 0, "has no unit"},
		{"-1s", 0, "must not be negative"},
		{"", 0, "empty"},
		{"1x", 0, "is not valid"},
		{"d", 0, "whole number"},
		{"1.5d", 0, "whole number"},
		{"1d-1h", 0, "must not be negative"},
		{"999999999999d", 0, "whole number"},
		{"106751d24h", 0, "too long"},
		{strings.Repeat("1", 100) + "s", 0, "longer than"},
	}
	for _, tc := range cases {
		got, err := parseDuration(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseDuration(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want Size
		err  string
	}{
		{"500GB", 500e9, ""},
		{"500gb", 500e9, ""},
		{"5 GiB", 5 << 30, ""},
		{"1.5TB", 1.5e12, ""},
		{"1.5KiB", 1536, ""},
		{"0.1B", 0, ""},
		{"1024", 1024, ""},
		{"7 b", 7, ""},
		{"8PiB", 8 << 50, ""},
		{"9223372036854775807", 9223372036854775807, ""},
		{"9223372036854775808", 0, "too large"},
		{"10000PB", 0, "too large"},
		{"5G", 0, "unknown unit"},
		{"5 GBs", 0, "unknown unit"},
		{"GB", 0, "not a number"},
		{"1.2.3GB", 0, "not a number"},
		{".5GB", 0, "not a number"},
		{"5.GB", 0, "not a number"},
		{"-1GB", 0, "not a number"},
		{"1e9", 0, "unknown unit"},
		{"", 0, "not a number"},
		{strings.Repeat("9", 80), 0, "longer than"},
	}
	for _, tc := range cases {
		got, err := parseSize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseSize(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, s := range []Size{500e9, 5 << 30, 0, 1500} {
		if back, err := parseSize(s.String()); err != nil || back != s {
			t.Errorf("String round trip of %d: %q -> %d, %v", s, s.String(), back, err)
		}
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("data_dir: /d\ncameras:\n  - &c\n    id: a\n    url: rtsp://h/\n    schedule:\n")
	for range 300 {
		b.WriteString("      - {start: \"@daily\", duration: 1h}\n")
	}
	for range 1000 {
		b.WriteString("  - *c\n")
	}
	start := time.Now()
	_, err := Parse([]byte(b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "too many YAML nodes") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestManyProblemsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("data_dir: /d\ncameras:\n")
	for range 200 {
		b.WriteString("  - {id: a, url: \"rtsp://h/\"}\n")
	}
	_, err := Parse([]byte(b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "199 problems:") || !strings.Contains(err.Error(), "(and 149 more)") ||
		strings.Count(err.Error(), "\n") != maxProblemsShown+1 {
		t.Errorf("message not bounded: %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("FRONT_DOOR_PASSWORD", secretPW)
	t.Setenv("NVR_TOKEN", secretToken)
	good := filepath.Join(dir, "nvr.yaml")
	if err := os.WriteFile(good, []byte(validConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfg.Cameras[0].URL, secretPW) {
		t.Error("environment not expanded")
	}
	// Load tells "set to empty" (allowed) from "unset" (an error); Parse's
	// getenv cannot, and treats empty as unset.
	withEmpty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(withEmpty, []byte("data_dir: /d\ncameras:\n  - id: a\n    url: rtsp://admin:${NVR_TEST_EMPTY}@h/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NVR_TEST_EMPTY", "")
	if cfg, err := Load(withEmpty); err != nil || cfg.Cameras[0].URL != "rtsp://admin:@h/" {
		t.Errorf("empty variable: %v", err)
	}
	if _, err := Parse([]byte("data_dir: ${NVR_TEST_EMPTY}\n"), os.Getenv); err == nil || !strings.Contains(err.Error(), "NVR_TEST_EMPTY is not set") {
		t.Errorf("Parse with empty variable: %v", err)
	}
	os.Unsetenv("NVR_TEST_EMPTY")
	if _, err := Load(withEmpty); err == nil || !strings.Contains(err.Error(), "line 4: cameras[0].url: environment variable NVR_TEST_EMPTY is not set") {
		t.Errorf("unset variable: %v", err)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("missing file: %v", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("data_dir: /d\nfoo: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "config "+bad+`: line 2: foo: unknown key "foo"`) {
		t.Errorf("bad file: %v", err)
	}

	huge := filepath.Join(dir, "huge.yaml")
	if err := os.WriteFile(huge, []byte("data_dir: /d\n#"+strings.Repeat("x", MaxFileSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(huge); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge file: %v", err)
	}
}

func TestCameraEqualAndDiff(t *testing.T) {
	parse := func(s string) *Config {
		t.Helper()
		cfg, err := Parse([]byte(s), getenv)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	old := parse(validConfig)
	// Reformatting and reordering keys changes nothing.
	same := parse(strings.Replace(validConfig, "    name: Front door\n", "", 1) + "")
	same.Cameras[0].Name = "Front door"
	if ch := Diff(old, same); !ch.Empty() {
		t.Errorf("no change expected: %+v", ch)
	}
	changed := strings.NewReplacer(
		"duration: 9h", "duration: 8h", // front-door: schedule
		"  - id: yard\n", "  - id: garage\n", // yard removed, garage added
		"segment_duration: 60s", "segment_duration: 30s",
		"      cameras: [yard]\n", "",
	).Replace(validConfig)
	ch := Diff(old, parse(changed))
	want := Changes{Added: []string{"garage"}, Removed: []string{"yard"}, Changed: []string{"front-door"},
		Restart: []string{"front-door"}, Settings: []string{"segment_duration", "api"}}
	if !reflect.DeepEqual(ch, want) {
		t.Errorf("Diff:\n got %+v\nwant %+v", ch, want)
	}
	// A new name or schedule keeps the recording; a new stream restarts it.
	renamed := parse(strings.Replace(validConfig, "name: Front door", "name: Porch", 1))
	if ch := Diff(old, renamed); len(ch.Restart) != 0 || !slices.Equal(ch.Changed, []string{"front-door"}) {
		t.Errorf("rename: %+v, want front-door changed without a restart", ch)
	}
	// audio: false is a new session (no audio SETUP): a restart.
	muted := parse(strings.Replace(validConfig, "transport: udp", "transport: udp\n    audio: false", 1))
	if muted.Cameras[1].RecordsAudio() || !muted.Cameras[0].RecordsAudio() {
		t.Fatalf("audio: false not read: %+v", muted.Cameras)
	}
	if ch := Diff(old, muted); !slices.Equal(ch.Restart, []string{"yard"}) || !slices.Equal(ch.Changed, []string{"yard"}) {
		t.Errorf("audio: false: %+v, want yard changed and restarted", ch)
	}
	moved := parse(strings.Replace(validConfig, "transport: udp", "transport: tcp", 1))
	if ch := Diff(old, moved); !slices.Equal(ch.Restart, []string{"yard"}) || !slices.Equal(ch.Changed, []string{"yard"}) {
		t.Errorf("new transport: %+v, want yard changed and restarted", ch)
	}

	a := old.Cameras[0]
	t.Run("fields", func(t *testing.T) {
		tr := true
		cases := []struct {
			name       string
			mod        func(*Camera)
			equal, tcp bool // Equal, SameStream
		}{
			{"identical", func(*Camera) {}, true, true},
			{"enabled nil vs true", func(c *Camera) { c.Enabled = &tr }, true, true},
			{"url", func(c *Camera) { c.URL += "2" }, false, false},
			{"transport", func(c *Camera) { c.Transport = "udp" }, false, false},
			{"sdp", func(c *Camera) { c.SDP = "/etc/cam.sdp" }, false, false},
			{"auth", func(c *Camera) { c.Auth = "digest" }, false, false},
			{"tls_fingerprint", func(c *Camera) { c.TLSFingerprint = "sha256:" + strings.Repeat("cd", 32) }, false, false},
			{"name", func(c *Camera) { c.Name = "x" }, false, true},
			{"schedule", func(c *Camera) { c.Schedule = nil }, false, true},
			{"max_age", func(c *Camera) { c.MaxAge = 0 }, false, true},
		}
		for _, tc := range cases {
			b := a
			b.Schedule = append([]Window(nil), a.Schedule...)
			tc.mod(&b)
			if got := a.Equal(b); got != tc.equal {
				t.Errorf("%s: Equal = %v", tc.name, got)
			}
			if got := a.SameStream(b); got != tc.tcp {
				t.Errorf("%s: SameStream = %v", tc.name, got)
			}
		}
	})
}

func TestProblemFormat(t *testing.T) {
	e := &Error{File: "nvr.yaml", Problems: []Problem{{Line: 3, Field: "a.b", Msg: "bad"}}}
	if e.Error() != "config nvr.yaml: line 3: a.b: bad" {
		t.Errorf("%q", e.Error())
	}
	e.Problems = append(e.Problems, Problem{Msg: "worse"})
	if e.Error() != "config nvr.yaml: 2 problems:\n  line 3: a.b: bad\n  worse" {
		t.Errorf("%q", e.Error())
	}
}

// FuzzParse: no input panics or hangs, and an accepted config validates
// again unchanged.
func FuzzParse(f *testing.F) {
	f.Add(validConfig)
	for _, tc := range badCases {
		f.Add(tc.yaml)
	}
	f.Fuzz(func(t *testing.T, data string) {
		cfg, err := Parse([]byte(data), getenv)
		if err != nil {
			if cfg != nil {
				t.Fatal("config with error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			if secretOnlyWhereSecret(data) && strings.Contains(err.Error(), secretPW) {
				t.Fatalf("leaked password: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate: %v", err)
		}
		for _, cam := range cfg.Cameras {
			if _, err := cfg.Schedule(cam); err != nil {
				t.Fatalf("accepted camera has a bad schedule: %v", err)
			}
		}
		_ = fmt.Sprint(Diff(cfg, cfg))
	})
}

// secretOnlyWhereSecret reports whether the literal secretPW, wherever it
// appears in data, sits where a secret belongs: a password field or a URL's
// user info. Written as a camera id (the fuzzer does that), it is no longer a
// password, and an error may quote it. Through ${ENV} it is a secret in any
// field, so such inputs are always checked.
func secretOnlyWhereSecret(data string) bool {
	if !strings.Contains(data, secretPW) {
		return true
	}
	var doc yaml.Node
	if yaml.Unmarshal([]byte(data), &doc) != nil {
		return false
	}
	ok := true
	var walk func(n, key *yaml.Node)
	walk = func(n, key *yaml.Node) {
		if strings.Contains(n.Tag, secretPW) || strings.Contains(n.Anchor, secretPW) {
			ok = false
		}
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, secretPW) {
			inUserinfo := slices.ContainsFunc(redact.Secrets(n.Value), func(s string) bool { return strings.Contains(s, secretPW) })
			if !inUserinfo && (key == nil || key.Value != "password") {
				ok = false
			}
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i], nil)
				walk(n.Content[i+1], n.Content[i])
			}
			return
		}
		for _, c := range n.Content {
			walk(c, nil)
		}
	}
	walk(&doc, nil)
	return ok
}

func TestSecretOnlyWhereSecret(t *testing.T) {
	for data, want := range map[string]bool{
		"id: a":                                  true,
		"password: " + secretPW:                  true,
		"url: rtsp://admin:" + secretPW + "@h/x": true,
		"id: ${FRONT_DOOR_PASSWORD}":             true,
		"id: 0" + secretPW:                       false,
		"url: rtsp://h/" + secretPW:              false,
		secretPW + ": x":                         false,
		"cameras:\n  - name: " + secretPW + "\n": false,
	} {
		if got := secretOnlyWhereSecret(data); got != want {
			t.Errorf("%q: %v, want %v", data, got, want)
		}
	}
}

func TestMergeBomb(t *testing.T) {
	// Each level merges the previous one ten times: 10^8 merges if unbounded.
	var b strings.Builder
	b.WriteString("l0: &l0 {data_dir: /d}\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "l%d: &l%d {<<: [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("<<: *l8\n")
	start := time.Now()
	_, err := Parse([]byte(b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "too many YAML nodes") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse([]byte(validConfig), getenv); err != nil {
			b.Fatal(err)
		}
	}
}

// The example in the package comment is a valid config.
func TestPackageDocExample(t *testing.T) {
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	in := false
	for _, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "//\t") {
			in = true
			b.WriteString(strings.TrimPrefix(line, "//\t") + "\n")
		} else if in {
			break
		}
	}
	env := map[string]string{"PW": secretPW, "NVR_TOKEN": secretToken, "T2": "second-token-0123456789", "PGPASSWORD": "pg-" + secretPW}
	cfg, err := Parse([]byte(b.String()), func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("doc example: %v\n%s", err, b.String())
	}
	if len(cfg.Cameras) != 1 || cfg.Retention.MinFreeBytes != 5<<30 || cfg.API.Tokens[0].Cameras[0] != "front-door" ||
		cfg.Node != "node-a" || !strings.HasSuffix(cfg.Index.Postgres, "@db.local:5432/nvr") {
		t.Errorf("doc example parsed as %+v", cfg)
	}
}

// S3 (cred-leak): printing or logging a config never shows a password or a
// token, with fmt or with log/slog in text or JSON.
func TestNoSecretsInPrintouts(t *testing.T) {
	cfg, err := Parse([]byte(validConfig), getenv)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	text := slog.New(slog.NewTextHandler(&buf, nil))
	js := slog.New(slog.NewJSONHandler(&buf, nil))
	for _, l := range []*slog.Logger{text, js} {
		l.Info("loaded", "config", cfg, "value", *cfg, "camera", cfg.Cameras[0], "api", cfg.API, "token", cfg.API.Tokens[0])
	}
	fmt.Fprintf(&buf, "%v %+v %v %+v %s %v", *cfg, *cfg, cfg.Cameras, cfg.Cameras[0], cfg.API, cfg.API.Tokens)
	out := buf.String()
	for _, s := range []string{secretPW, secretToken, "another-token-0123456789"} {
		if strings.Contains(out, s) {
			t.Errorf("output shows %q:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "front-door") || !strings.Contains(out, "192.0.2.10:554") {
		t.Errorf("output lost the useful parts:\n%s", out)
	}
}

// Duration and Size also work with yaml.v3 directly (for other tools that
// read or write configs), with the same rules.
func TestUnitsWithYAMLPackage(t *testing.T) {
	type doc struct {
		D Duration `yaml:"d"`
		S Size     `yaml:"s"`
	}
	out, err := yaml.Marshal(doc{Duration(90 * time.Minute), 5e9})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "d: 1h30m0s\ns: 5GB\n" {
		t.Errorf("marshal: %q", out)
	}
	var back doc
	if err := yaml.Unmarshal(out, &back); err != nil || back != (doc{Duration(90 * time.Minute), 5e9}) {
		t.Errorf("unmarshal: %+v, %v", back, err)
	}
	for _, bad := range []string{"d: 60\n", "s: 5G\n"} {
		if err := yaml.Unmarshal([]byte(bad), &back); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestCameraLine(t *testing.T) {
	cfg, err := Parse([]byte(validConfig), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cameras[0].Line() != 7 || cfg.Cameras[1].Line() != 17 {
		t.Errorf("lines %d, %d", cfg.Cameras[0].Line(), cfg.Cameras[1].Line())
	}
}

// An RTSPS camera with a pinned certificate and Digest only.
func TestParseRTSPSCamera(t *testing.T) {
	pin := "SHA256:" + strings.Repeat("AB:", 31) + "AB"
	cfg, err := Parse([]byte("data_dir: /d\ncameras:\n  - id: doorbell\n    url: rtsps://admin:${FRONT_DOOR_PASSWORD}@192.0.2.20:7441/abcdef\n    auth: digest\n    tls_fingerprint: "+pin+"\n"), getenv)
	if err != nil {
		t.Fatal(err)
	}
	cam := cfg.Cameras[0]
	if cam.Auth != "digest" || cam.TLSFingerprint != pin || cam.Transport != "tcp" {
		t.Fatalf("camera %+v", cam)
	}
	if s := cam.String(); strings.Contains(s, secretPW) {
		t.Fatalf("String() = %q", s)
	}
}

func TestUsers(t *testing.T) {
	hash, err := passwd.Hash("pw-for-test")
	if err != nil {
		t.Fatal(err)
	}
	good := "data_dir: /d\ncameras:\n  - id: a\n    url: rtsp://h/\nusers:\n  - name: alice\n    password_hash: \"" + hash + "\"\n    cameras: [a]\n"
	cfg, err := Parse([]byte(good), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Users) != 1 || cfg.Users[0].Name != "alice" || cfg.Users[0].PasswordHash != hash {
		t.Fatalf("users %+v", cfg.Users)
	}
	if s := fmt.Sprint(cfg); strings.Contains(s, hash) {
		t.Fatalf("String() shows the hash: %s", s)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"users:\n  - name: alice\n    password_hash: plain-text\n", "line 4: users[0].password_hash: is not an argon2id"},
		{"users:\n  - name: 'a b'\n    password_hash: \"" + hash + "\"\n", "line 3: users[0].name: may only contain"},
		{"users:\n  - name: alice\n", "users[0].password_hash: is required"},
		{"users:\n  - name: alice\n    password_hash: \"" + hash + "\"\n    cameras: [nope]\n", `users[0].cameras[0]: no camera has id "nope"`},
		{"users:\n  - name: alice\n    password_hash: \"" + hash + "\"\n  - name: alice\n    password_hash: \"" + hash + "\"\n", `users[1].name: duplicate user "alice"`},
	} {
		_, err := Parse([]byte("data_dir: /d\n"+tc.yaml), getenv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	// Remote access with users and no token is allowed.
	if _, err := Parse([]byte(good+"listen: 0.0.0.0:8080\napi:\n  allow_remote: true\n"), getenv); err != nil {
		t.Fatalf("remote with users: %v", err)
	}
}

func TestAllowedHostsAccepted(t *testing.T) {
	cfg, err := Parse([]byte("data_dir: /d\napi:\n  allowed_hosts: [nvr.example.org, NVR-Tunnel, \"::1\", 192.0.2.5, fe80::1]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.API.AllowedHosts) != 5 {
		t.Errorf("allowed_hosts %v", cfg.API.AllowedHosts)
	}
	other := *cfg
	other.API.AllowedHosts = []string{"nvr.example.org"}
	if ch := Diff(cfg, &other); !slices.Contains(ch.Settings, "api") {
		t.Errorf("a change of allowed_hosts is not an api change: %+v", ch)
	}
}

// TestIndexPostgres: index.postgres with ${ENV} in its password and a node
// loads; the password never shows when the config is printed or logged.
func TestIndexPostgres(t *testing.T) {
	for _, u := range []string{
		"postgres://nvr:${FRONT_DOOR_PASSWORD}@db.local:5432/nvr?sslmode=require",
		"postgresql:///nvr?host=/run/postgresql&password=${FRONT_DOOR_PASSWORD}",
	} {
		cfg, err := Parse([]byte(base+"node: node-a\nindex:\n  postgres: "+u+"\n"), getenv)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if !strings.Contains(cfg.Index.Postgres, secretPW) || cfg.Node != "node-a" {
			t.Fatalf("index %q node %q: ${ENV} not expanded", cfg.Index.Postgres, cfg.Node)
		}
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", slog.Any("config", cfg))
		for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", *cfg), cfg.Index.String(), logged.String()} {
			if strings.Contains(out, secretPW) {
				t.Errorf("password shown: %s", out)
			}
			if !strings.Contains(out, "/nvr") {
				t.Errorf("index not named: %s", out)
			}
		}
		other := *cfg
		other.Index.Postgres = ""
		if ch := Diff(cfg, &other); !slices.Contains(ch.Settings, "index") {
			t.Errorf("Diff does not report the index: %+v", ch)
		}
	}
}

func TestStorageS3(t *testing.T) {
	cfg, err := Parse([]byte(base+"storage:\n  s3:\n    endpoint: http://127.0.0.1:8333\n    bucket: nvr\n    prefix: site-a/\n"), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if s3 := cfg.Storage.S3; s3 == nil || s3.Endpoint != "http://127.0.0.1:8333" || s3.Bucket != "nvr" || s3.Prefix != "site-a/" {
		t.Fatalf("storage.s3 = %+v", cfg.Storage.S3)
	}
	if cfg, err := Parse([]byte(base), getenv); err != nil || cfg.Storage.S3 != nil {
		t.Fatalf("default: %+v, %v; want local disk only", cfg.Storage, err)
	}
	for _, tc := range []struct{ yaml, field string }{
		{"    endpoint: http://key:${FRONT_DOOR_PASSWORD}@127.0.0.1:8333\n    bucket: nvr\n", "storage.s3.endpoint"},
		{"    bucket: nvr\n", "storage.s3.endpoint"},
		{"    endpoint: 127.0.0.1:8333\n    bucket: No_Such\n", "storage.s3.bucket"},
		{"    endpoint: ftp://127.0.0.1\n    bucket: nvr\n", "storage.s3.endpoint"},
		// Keys have no field: they come from the environment only.
		{"    endpoint: 127.0.0.1:8333\n    bucket: nvr\n    secret_access_key: ${FRONT_DOOR_PASSWORD}\n", "secret_access_key"},
	} {
		_, err := Parse([]byte(base+"storage:\n  s3:\n"+tc.yaml), getenv)
		if err == nil {
			t.Errorf("%q: accepted", tc.yaml)
			continue
		}
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q: error %v does not name %s", tc.yaml, err, tc.field)
		}
		if strings.Contains(err.Error(), secretPW) {
			t.Errorf("%q: error shows the secret: %v", tc.yaml, err)
		}
	}
}

// TestCameraNode: a camera may be pinned to a node; a bad name is refused
// with its field.
func TestCameraNode(t *testing.T) {
	env := func(string) string { return "" }
	cfg, err := Parse([]byte("data_dir: /d\ncameras:\n  - id: a\n    url: rtsp://h/a\n    node: node-b\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cameras[0].Node != "node-b" {
		t.Fatalf("node = %q", cfg.Cameras[0].Node)
	}
	_, err = Parse([]byte("data_dir: /d\ncameras:\n  - id: a\n    url: rtsp://h/a\n    node: Node B\n"), env)
	if err == nil || !strings.Contains(err.Error(), "cameras[0].node") {
		t.Fatalf("bad node: err = %v", err)
	}
}

// sub_url follows url's rules: the username/password fields are folded
// into it too, it is checked with the same messages (never quoting the
// password), it shows redacted, and a change of it restarts only the sub
// stream's session.
func TestSubURL(t *testing.T) {
	const pw = "p@ss#w/rd?%1"
	yml := "data_dir: /d\ncameras:\n  - id: a\n    url: rtsp://192.0.2.1/main\n    sub_url: rtsp://192.0.2.1/sub?ch=2\n    username: admin\n    password: ${PW}\n"
	env := func(string) string { return pw }
	cfg, err := Parse([]byte(yml), env)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Cameras[0]
	u, err := url.Parse(a.SubURL)
	if err != nil {
		t.Fatalf("folded sub URL does not parse: %v", err)
	}
	if got, _ := u.User.Password(); u.User.Username() != "admin" || got != pw || u.Path != "/sub" || u.RawQuery != "ch=2" {
		t.Errorf("folded sub URL %q", a.SubURL)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", slog.Any("camera", a))
	for _, s := range []string{a.String(), fmt.Sprint(*cfg), logged.String()} {
		if strings.Contains(s, "w/rd") || strings.Contains(s, "p%40ss") {
			t.Errorf("password shown: %s", s)
		}
		if !strings.Contains(s, "192.0.2.1/sub") {
			t.Errorf("sub stream not described: %s", s)
		}
	}

	for _, tc := range []struct{ name, cam, want string }{
		{"not rtsp", "    url: rtsp://h/\n    sub_url: http://h/sub\n", "cameras[0].sub_url: "},
		{"credentials twice", "    url: rtsp://h/\n    sub_url: rtsp://admin:plain@h/sub\n    username: admin\n", "cameras[0].sub_url: has a user name or password, and so does"},
		{"cut userinfo", "    url: rtsp://h/\n    sub_url: rtsp://admin:a#b@h/sub\n", "cameras[0].sub_url: the user name or password holds"},
		{"same as url", "    url: rtsp://h/x\n    sub_url: rtsp://h/x\n", "cameras[0].sub_url: is the same as url"},
		{"rtsps over udp", "    url: rtsp://h/x\n    sub_url: rtsps://h/y\n    transport: udp\n", "cameras[0].transport: udp is not possible with an rtsps:// sub_url"},
		{"record_sub without sub", "    url: rtsp://h/x\n    record_sub: true\n", "line 5: cameras[0].record_sub: needs a sub_url (the stream to record besides url)"},
	} {
		_, err := Parse([]byte("data_dir: /d\ncameras:\n  - id: a\n"+tc.cam), env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		} else if strings.Contains(err.Error(), "w/rd") {
			t.Errorf("%s: error %v shows the password", tc.name, err)
		}
	}

	parse := func(y string) *Config {
		t.Helper()
		c, err := Parse([]byte(y), env)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	subMoved := parse(strings.Replace(yml, "/sub?ch=2", "/sub?ch=3", 1))
	if ch := Diff(cfg, subMoved); len(ch.Restart) != 0 || !slices.Equal(ch.RestartSub, []string{"a"}) || !slices.Equal(ch.Changed, []string{"a"}) {
		t.Errorf("sub_url changed: %+v; want only the sub stream restarted", ch)
	}
	mainMoved := parse(strings.Replace(yml, "/main", "/main2", 1))
	if ch := Diff(cfg, mainMoved); !slices.Equal(ch.Restart, []string{"a"}) || len(ch.RestartSub) != 0 {
		t.Errorf("url changed: %+v; want only the main stream restarted", ch)
	}
	noSub := parse(strings.Replace(yml, "    sub_url: rtsp://192.0.2.1/sub?ch=2\n", "", 1))
	if ch := Diff(cfg, noSub); len(ch.Restart) != 0 || !slices.Equal(ch.RestartSub, []string{"a"}) {
		t.Errorf("sub_url removed: %+v", ch)
	}
	if ch := Diff(cfg, parse(yml)); !ch.Empty() || len(ch.RestartSub) != 0 {
		t.Errorf("same config: %+v", ch)
	}
	recorded := parse(yml + "    record_sub: true\n")
	if !recorded.Cameras[0].RecordSub || cfg.Cameras[0].RecordSub {
		t.Errorf("record_sub: %v, default %v", recorded.Cameras[0].RecordSub, cfg.Cameras[0].RecordSub)
	}
	// Recording it or not is a change of the camera; the fleet switches the
	// sub stream's session between live-only and recording itself, and the
	// main stream goes on.
	if ch := Diff(cfg, recorded); !slices.Equal(ch.Changed, []string{"a"}) || len(ch.Restart) != 0 {
		t.Errorf("record_sub turned on: %+v", ch)
	}
}
