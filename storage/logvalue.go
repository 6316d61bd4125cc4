package storage

import "log/slog"

// maxLoggedPaths bounds the paths a report puts in one log line: a recovery
// after a disk problem may drop thousands of rows; the count says how many.
const maxLoggedPaths = 10

// LogValue makes a recovery report one flat set of log attributes
// (recovery.finalised=0 recovery.removed=2 …) instead of a struct dump.
func (r RecoverReport) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Int("finalised", r.Finalised),
		slog.Int("indexed", r.Indexed),
		slog.Int("deletions", r.Deletions),
		slog.Int("removed", len(r.Removed)),
		slog.Int("skipped", len(r.Skipped)),
	}
	if len(r.Removed) > 0 {
		attrs = append(attrs, slog.Any("removed_paths", r.Removed[:min(len(r.Removed), maxLoggedPaths)]))
	}
	if len(r.Skipped) > 0 {
		skipped := make([]string, 0, min(len(r.Skipped), maxLoggedPaths))
		for _, f := range r.Skipped[:cap(skipped)] {
			skipped = append(skipped, f.Path+": "+f.Reason)
		}
		attrs = append(attrs, slog.Any("skipped_files", skipped))
	}
	return slog.GroupValue(attrs...)
}

// LogValue makes a retention report flat log attributes.
func (r RetentionReport) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Int("deleted", r.Deleted),
		slog.Int64("freed_bytes", r.FreedBytes),
		slog.Int("by_age", r.ByAge),
		slog.Int("by_bytes", r.ByBytes),
		slog.Int("by_free", r.ByFree),
	}
	if len(r.Unmet) > 0 {
		attrs = append(attrs, slog.Any("unmet", r.Unmet))
	}
	return slog.GroupValue(attrs...)
}
