package main

import (
	"fmt"
	"strings"
	"time"
)

// localTimeLayouts are the wall-clock forms a time flag also takes, read in
// the config's time zone: what people type after looking at a clock.
var localTimeLayouts = []string{
	"2006-01-02 15:04",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02T15:04:05",
}

// parseTimeArg reads the value of a time flag: RFC 3339 with a zone
// ("2026-11-25T08:00:00Z", "…+01:00"), or a local time without one
// ("2026-11-25 08:00") in loc. A local time that a DST change repeats is
// read as its first occurrence, one it skips as just after it (package
// time's rule).
func parseTimeArg(flagName, s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range localTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("-%s %q is not a time: give RFC 3339 with a zone, e.g. 2026-11-25T08:00:00Z or 2026-11-25T09:00:00+01:00, or a local time in the config's timezone (%s), e.g. \"2026-11-25 08:00\"", flagName, clipArg(s), loc)
}

// clipArg bounds a user's argument quoted back in an error.
func clipArg(s string) string {
	const maxShown = 64
	if len(s) > maxShown {
		return s[:maxShown] + "…"
	}
	return s
}
