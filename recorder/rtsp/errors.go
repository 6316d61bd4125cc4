package rtsp

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

// Error kinds. Every error returned by Open and ReadPackets is an *Error whose
// Kind is one of these (or context.Canceled / context.DeadlineExceeded when
// the caller's context ended), so callers branch with errors.Is.
var (
	ErrRefused      = errors.New("connection refused")
	ErrTimeout      = errors.New("timed out")
	ErrAuth         = errors.New("authentication failed")
	ErrNotFound     = errors.New("stream not found")
	ErrNoH264       = errors.New("no H.264 or H.265 video track")
	ErrProtocol     = errors.New("protocol error")
	ErrMediaTimeout = errors.New("no media")
	ErrClosed       = errors.New("server closed the connection")
)

// Error is the error type of this package: which step failed, what kind of
// failure it was (one of the Err* sentinels) and the underlying cause.
// Its text is one line and never contains the camera password.
type Error struct {
	Step string // "connect", "OPTIONS", "DESCRIBE", "SETUP", "PLAY", "read"
	Kind error  // one of the Err* sentinels, or a context error
	Err  error  // the cause; may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Step)
	b.WriteString(": ")
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("failed")
	}
	if e.Err != nil {
		if errors.Is(e.Kind, ErrNoH264) {
			// Reads as "no H.264 or H.265 video track (stream has: video MP4V-ES)".
			b.WriteString(" (")
			b.WriteString(e.Err.Error())
			b.WriteString(")")
		} else {
			b.WriteString(": ")
			b.WriteString(e.Err.Error())
		}
	}
	return oneLine(b.String())
}

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// oneLine keeps an error on one line even when a server put control
// characters into a reason phrase.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// errMalformed marks bytes from the server that break the protocol; it is
// reported with Kind ErrProtocol.
var errMalformed = rtspmsg.ErrMalformed

// clip shortens server text quoted in an error.
func clip(s string) string {
	const maxQuoted = 64 // enough to recognise the value, short enough for one log line
	if len(s) > maxQuoted {
		return s[:maxQuoted] + "..."
	}
	return s
}

// classify maps an I/O or parse error to an error kind.
func classify(ctx context.Context, err error) error {
	if ctx != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	switch {
	case errors.Is(err, errMalformed):
		return ErrProtocol
	case errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed):
		return ErrClosed
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return ErrRefused
	}
	return ErrProtocol
}

func stepErr(ctx context.Context, step string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Step: step, Kind: classify(ctx, err), Err: err}
}

// detailError replaces a cause's text with a clearer one while keeping the
// cause for errors.Is and errors.As ("dial tcp 10.0.0.1:554: connect:
// connection refused" after "connection refused" says it twice).
type detailError struct {
	msg string
	err error
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.err }
