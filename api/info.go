package api

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// infoJSON is GET /api/info: what a client needs to show times as the
// server means them.
type infoJSON struct {
	// Timezone is the IANA name of the configured zone (schedules, export
	// file names, the UI's clock), "UTC" when none is known.
	Timezone string `json:"timezone"`
	// SignIn is whether the UI needs a user to sign in.
	SignIn bool `json:"sign_in"`
}

func (h *handler) info(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r.URL.RawQuery); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, infoJSON{Timezone: h.zone, SignIn: h.sessions.enabled()})
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
