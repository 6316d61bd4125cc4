package api

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nvr-project/nvr/internal/redact"
)

// infoJSON is GET /api/info: what a client needs to show times as the
// server means them.
type infoJSON struct {
	// Timezone is the IANA name of the configured zone (schedules, export
	// file names, the UI's clock), "UTC" when none is known.
	Timezone string `json:"timezone"`
	// SignIn is whether the UI needs a user to sign in.
	SignIn bool `json:"sign_in"`
	// Uploads is the state of the uploads to the bucket; absent when
	// segments stay on the local disk.
	Uploads *uploadsJSON `json:"uploads,omitempty"`
}

// UploadStatus is what waits for the bucket (storage.s3) and how the
// uploads went.
type UploadStatus struct {
	BacklogSegments, BacklogBytes int64
	Uploaded, Failures            uint64
	// LastError is the last failure, redacted by the caller ("" when the
	// last pass succeeded); LastErrorAt its time.
	LastError   string
	LastErrorAt time.Time
	// Held counts segments passed over because their own upload failed;
	// HeldError is the latest such failure, redacted by the caller.
	Held      int
	HeldError string
}

// Uploads reports the uploads to the bucket; ok is false when there is none.
type Uploads interface {
	Uploads(ctx context.Context) (st UploadStatus, ok bool, err error)
}

type uploadsJSON struct {
	BacklogSegments int64      `json:"backlog_segments"`
	BacklogBytes    int64      `json:"backlog_bytes"`
	Uploaded        uint64     `json:"uploaded"`
	Failures        uint64     `json:"failures"`
	LastError       string     `json:"last_error"`
	LastErrorAt     *time.Time `json:"last_error_at"`
	Held            int        `json:"held"`
	HeldError       string     `json:"held_error"`
}

func (h *handler) info(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r.URL.RawQuery); err != nil {
		return err
	}
	out := infoJSON{Timezone: h.zone, SignIn: h.sessions.enabled()}
	if h.uploads != nil {
		ctx, cancel := context.WithTimeout(r.Context(), h.storeTimeout)
		st, ok, err := h.uploads.Uploads(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("upload backlog: %w", err)
		}
		if ok {
			u := &uploadsJSON{BacklogSegments: st.BacklogSegments, BacklogBytes: st.BacklogBytes,
				Uploaded: st.Uploaded, Failures: st.Failures, LastError: redact.Text(st.LastError),
				Held: st.Held, HeldError: redact.Text(st.HeldError)}
			if !st.LastErrorAt.IsZero() {
				t := st.LastErrorAt.UTC()
				u.LastErrorAt = &t
			}
			out.Uploads = u
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// zoneName returns the IANA name of loc. time.Local is named "Local";
// its real name comes from TZ or the /etc/localtime link, as the C library
// finds it. A zone without a name is reported as UTC only if it is UTC.
func zoneName(loc *time.Location) string {
	if loc == nil {
		return "UTC"
	}
	if n := loc.String(); n != "Local" {
		return n
	}
	if tz := strings.TrimPrefix(os.Getenv("TZ"), ":"); tz != "" {
		if _, err := time.LoadLocation(tz); err == nil {
			return tz
		}
	}
	if target, err := filepath.EvalSymlinks("/etc/localtime"); err == nil {
		if _, name, ok := strings.Cut(target, "zoneinfo/"); ok {
			if _, err := time.LoadLocation(name); err == nil {
				return name
			}
		}
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		if name := strings.TrimSpace(string(b)); name != "" {
			if _, err := time.LoadLocation(name); err == nil {
				return name
			}
		}
	}
	return "UTC"
}
