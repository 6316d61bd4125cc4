package main

import (
	"io"
	"log/slog"

	"github.com/nvr-project/nvr/recorder/rtsp"
)

// newLogger returns a text logger, or a JSON one for log collectors.
func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// redactedURL hides any password in a camera URL before it is logged.
func redactedURL(u string) string { return rtsp.Redact(u) }
