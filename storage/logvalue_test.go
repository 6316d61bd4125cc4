package storage

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// Reports log as attributes, in text and in JSON, not as Go struct dumps.
func TestReportsLogAsAttributes(t *testing.T) {
	rec := RecoverReport{Finalised: 1, Removed: []string{"a/1.mp4"}, Skipped: []SkippedFile{{Path: "b/2.mp4", Reason: "no frames"}}}
	ret := RetentionReport{Deleted: 3, FreedBytes: 4096, ByAge: 3, Unmet: []string{"max_bytes: x"}}

	var text bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("x", slog.Any("recovery", rec), slog.Any("report", ret))
	for _, want := range []string{"recovery.finalised=1", "recovery.removed=1", "recovery.skipped=1", "report.deleted=3", "report.freed_bytes=4096", `report.unmet="[max_bytes: x]"`} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text log lacks %s:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "{Finalised") || strings.Contains(text.String(), "{Deleted") {
		t.Errorf("struct dump in the log:\n%s", text.String())
	}

	var js bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("x", slog.Any("recovery", rec))
	var line struct {
		Recovery map[string]any `json:"recovery"`
	}
	if err := json.Unmarshal(js.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line.Recovery["finalised"] != 1.0 || line.Recovery["skipped_files"] == nil {
		t.Errorf("JSON log: %s", js.String())
	}
}
