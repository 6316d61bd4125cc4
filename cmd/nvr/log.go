package main

import (
	"io"
	"log/slog"
)

// newLogger returns a text logger, or a JSON one for log collectors.
func newLogger(w io.Writer, format string) *slog.Logger {
	return newLeveledLogger(w, format, "info")
}

// newLeveledLogger is newLogger with a minimum level (debug, info, warn,
// error; anything else means info).
func newLeveledLogger(w io.Writer, format, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
