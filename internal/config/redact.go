package config

import (
	"fmt"
	"log/slog"

	"github.com/nvr-project/nvr/internal/redact"
)

// The String and LogValue methods below keep credentials out of logs and
// printouts (RELIABILITY S3): fmt's %v and %+v use String, and log/slog, text
// or JSON, uses LogValue, so printing a Config, a Camera or the API settings
// never shows a camera password or an API token.

// String describes the camera with its password redacted.
func (c Camera) String() string {
	if c.SubURL != "" {
		return fmt.Sprintf("%s (%s, sub %s, %s)", c.ID, c.RedactedURL(), redact.URL(c.SubURL), c.Transport)
	}
	return fmt.Sprintf("%s (%s, %s)", c.ID, c.RedactedURL(), c.Transport)
}

// LogValue is the camera for log/slog, password redacted.
func (c Camera) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", c.ID),
		slog.String("url", c.RedactedURL()),
		slog.String("sub_url", redact.URL(c.SubURL)),
		slog.String("transport", c.Transport),
		slog.Bool("enabled", c.IsEnabled()),
		slog.Int("windows", len(c.Schedule)),
	)
}

// String describes a token by name only.
func (t Token) String() string {
	return fmt.Sprintf("token %q (%d cameras)", t.Name, len(t.Cameras))
}

// LogValue is the token for log/slog, without its value.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", t.Name), slog.Any("cameras", t.Cameras))
}

// String describes the API settings without token values.
func (a API) String() string {
	return fmt.Sprintf("api(tokens=%d, max_export=%v, allow_remote=%v)", a.tokenCount(), a.MaxExport, a.AllowRemote)
}

// LogValue is the API settings for log/slog, without token values.
func (a API) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("tokens", a.tokenCount()),
		slog.String("max_export", a.MaxExport.String()),
		slog.Bool("allow_remote", a.AllowRemote),
	)
}

func (a API) tokenCount() int {
	n := len(a.Tokens)
	if a.Token != "" {
		n++
	}
	return n
}

// String describes the config without credentials. (A value receiver, so
// that printing a Config value, not only a pointer, is safe too.)
func (c Config) String() string {
	return fmt.Sprintf("config(data_dir=%s, listen=%s, timezone=%s, cameras=%v, %v, users=%d, index=%s, node=%s)",
		c.DataDir, c.Listen, c.Location(), c.Cameras, c.API, len(c.Users), c.Index, c.Node)
}

// LogValue is the config for log/slog: the settings that matter in a log
// line, credentials left out.
func (c Config) LogValue() slog.Value {
	ids := make([]string, len(c.Cameras))
	for i, cam := range c.Cameras {
		ids[i] = cam.ID
	}
	return slog.GroupValue(
		slog.String("data_dir", c.DataDir),
		slog.String("listen", c.Listen),
		slog.String("timezone", c.Location().String()),
		slog.Any("cameras", ids),
		slog.Any("api", c.API),
		slog.Int("users", len(c.Users)),
		slog.String("index", c.Index.String()),
		slog.String("node", c.Node),
		slog.String("advertise_url", c.AdvertiseURL),
	)
}

// String names the index, the PostgreSQL URL with its password (the whole
// user-info, and secret parameters) redacted.
func (x Index) String() string {
	if x.Postgres == "" {
		return "sqlite"
	}
	return redact.URL(x.Postgres)
}

// LogValue is the index for log/slog, redacted as String.
func (x Index) LogValue() slog.Value { return slog.StringValue(x.String()) }
