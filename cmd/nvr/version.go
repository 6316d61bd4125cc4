package main

import (
	"runtime/debug"
	"strings"
)

// buildVersion may be set at link time (-ldflags "-X main.buildVersion=v1.2.0")
// by a packager who builds from a source tarball without VCS information.
var buildVersion string

// version says which nvr this is: the link-time version if set, else the
// module version (v1.2.0 for "go install …@v1.2.0") and the VCS stamp Go
// records when building from a checkout (revision, time, "dirty" for
// uncommitted changes).
func version() string {
	info, ok := debug.ReadBuildInfo()
	return versionFrom(buildVersion, info, ok)
}

func versionFrom(linked string, info *debug.BuildInfo, ok bool) string {
	if linked != "" {
		return linked
	}
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" || strings.Contains(v, rev[:min(12, len(rev))]) {
		// A pseudo-version (v0.0.0-2026…-abcdef123456) names the revision.
		return v
	}
	parts := []string{v, rev[:min(12, len(rev))]}
	if at != "" {
		parts = append(parts, at)
	}
	if dirty {
		parts = append(parts, "dirty")
	}
	return strings.Join(parts, " ")
}
