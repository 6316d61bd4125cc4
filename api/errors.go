package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/nvr-project/nvr/footage"
	"github.com/nvr-project/nvr/internal/redact"
	"github.com/nvr-project/nvr/storage"
)

// httpError is an outcome with a status and a message safe to show the client.
type httpError struct {
	status int
	msg    string
	// retryAfter, when > 0, is sent as Retry-After seconds (429).
	retryAfter int
}

func (e *httpError) Error() string { return e.msg }

func badRequest(msg string) error { return &httpError{status: http.StatusBadRequest, msg: msg} }

var (
	errNotFoundPath   = &httpError{http.StatusNotFound, "no such endpoint", 0}
	errUnknownCamera  = &httpError{http.StatusNotFound, "unknown camera", 0}
	errUnknownSegment = &httpError{http.StatusNotFound, "unknown segment", 0}
	errNoFootage      = &httpError{http.StatusNotFound, "no footage in range", 0}
	errUnauthorized   = &httpError{http.StatusUnauthorized, "missing or invalid token", 0}
	errForbidden      = &httpError{http.StatusForbidden, "token not permitted for this camera", 0}
	errCrossSite      = &httpError{http.StatusForbidden, "cross-site request refused", 0}
	errHost           = &httpError{http.StatusForbidden, "host not allowed", 0}
	errMethod         = &httpError{http.StatusMethodNotAllowed, "method not allowed", 0}
	errQueryTooLong   = &httpError{http.StatusRequestURITooLong, "query string too long", 0}
	errIndexRefused   = &httpError{http.StatusBadRequest, "the index refused the request; try a shorter range", 0}
	errUnavailable    = &httpError{http.StatusServiceUnavailable, "storage unavailable", 0}
	errOtherNode      = &httpError{http.StatusServiceUnavailable, "the footage is on another node's disk, which cannot be reached now", 5}
	errInternal       = &httpError{http.StatusInternalServerError, "internal error", 0}
)

// classify is the one place where an error becomes an HTTP status and a
// message for the client. Messages of unexpected errors are never shown:
// they may carry paths or camera URLs (S3).
func classify(err error) *httpError {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, footage.ErrNoFootage):
		return errNoFootage
	case errors.Is(err, storage.ErrNotFound):
		return errUnknownSegment
	case errors.Is(err, storage.ErrInvalid):
		// The index refuses what the API let through, e.g. a timeline with
		// more spans than it will merge in one answer.
		return errIndexRefused
	case errors.Is(err, storage.ErrOtherNode):
		return errOtherNode
	case errors.Is(err, context.DeadlineExceeded):
		return errUnavailable
	default:
		return errInternal
	}
}

// writeError answers with the JSON error body for err, unless the client is
// gone. Server-side failures are logged (with secrets redacted), client
// mistakes are not: they are the client's to see.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		return // the client went away; nobody to answer
	}
	he := classify(err)
	if he.status >= 500 {
		h.log.LogAttrs(r.Context(), slog.LevelError, "api request failed",
			slog.String("path", r.URL.Path),
			slog.Int("status", he.status),
			slog.String("err", redact.Text(err.Error())))
	}
	if he.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "GET, HEAD")
	}
	if he.status == http.StatusUnauthorized {
		// RFC 6750 §3: a 401 names the scheme the client should use.
		w.Header().Set("WWW-Authenticate", `Bearer realm="nvr"`)
	}
	if he.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(he.retryAfter))
	}
	writeJSON(w, he.status, errorBody{Error: he.msg})
}

type errorBody struct {
	Error string `json:"error"`
}

// writeJSON encodes v completely before writing, so an encoding failure can
// still become a 500 instead of a truncated 200.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal error"}`)
	}
	body = append(body, '\n')
	hd := w.Header()
	hd.Del("Content-Disposition")
	hd.Del("ETag")
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
