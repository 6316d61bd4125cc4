// Package ui serves nvr's web UI: a page and its script and style sheet,
// embedded in the binary so that `go run ./cmd/nvr demo` serves it with no
// Node toolchain. The files are plain JavaScript and CSS with no build step
// and no third-party library.
//
// It does not own any data: the page reads the JSON API and plays exports
// through it. It owns the headers that keep the page safe to show camera
// names and errors in: a Content-Security-Policy without inline script, no
// framing, no referrer to other sites.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is sent with every UI file. No inline script or
// style: anything a camera or the config names is inserted as text, and
// even a slip would not run. Media and images come only from the API.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
	"media-src 'self' blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the UI: "/" is the page, "/login" the sign-in page,
// "/ui/NAME" their files. Anything else is not found. Who may see "/" is the
// caller's decision.
type Handler struct {
	files map[string]file // by URL path
}

// New returns the UI handler with every embedded file loaded and hashed.
func New() (*Handler, error) {
	h := &Handler{files: map[string]file{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		name := strings.TrimPrefix(p, "static/")
		f := file{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		h.files["/ui/"+name] = f
		switch name {
		case "index.html":
			h.files["/"] = f
		case "login.html":
			h.files["/login"] = f
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// ServeHTTP answers GET and HEAD of the UI's files.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer a browser sends
	// "Origin: null" on the page's own form posts, which the sign-in's
	// cross-site check must refuse.
	hd.Set("Referrer-Policy", "same-origin")
	// Revalidate every time: the ETag makes that a 304 of a few bytes,
	// and a new binary is never hidden behind a cached old script.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	// The files are a few kilobytes: answer a Range with the whole file
	// (RFC 9110 allows ignoring it) rather than ServeContent's plain-text
	// 416, which no API error may be.
	r.Header.Del("Range")
	r.Header.Del("If-Range")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// Paths lists the URL paths the handler serves, for the caller's router.
func (h *Handler) Paths() []string {
	out := make([]string, 0, len(h.files))
	for p := range h.files {
		out = append(out, p)
	}
	return out
}
