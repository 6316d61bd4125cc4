package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionFrom(t *testing.T) {
	vcs := func(v string, kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Version: v}}
		for i := 0; i+1 < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	cases := []struct {
		linked string
		info   *debug.BuildInfo
		ok     bool
		want   string
	}{
		{"v1.2.3", vcs("(devel)"), true, "v1.2.3"},
		{"", nil, false, "unknown"},
		{"", vcs("v1.2.0"), true, "v1.2.0"},
		{"", vcs("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-11-25T08:00:00Z", "vcs.modified", "true"), true, "(devel) 0123456789ab 2026-11-25T08:00:00Z dirty"},
		{"", vcs("v0.0.0-20261125080000-0123456789ab", "vcs.revision", "0123456789abcdef0123"), true, "v0.0.0-20261125080000-0123456789ab"},
	}
	for _, tc := range cases {
		if got := versionFrom(tc.linked, tc.info, tc.ok); got != tc.want {
			t.Errorf("versionFrom(%q, …) = %q, want %q", tc.linked, got, tc.want)
		}
	}
}
