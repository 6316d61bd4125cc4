package storage

import (
	"context"
	"fmt"
	"time"
)

// RetentionPolicy limits how much footage is kept. A zero field is no limit.
type RetentionPolicy struct {
	// MaxAge: segments that ended more than MaxAge before now go.
	MaxAge time.Duration
	// PerCameraMaxAge overrides MaxAge for the cameras it names.
	PerCameraMaxAge map[string]time.Duration
	// MaxBytes: the recordings together (recording segments included) may
	// use at most this many bytes; with a bucket (Options.Objects), the
	// ones on the local disk.
	MaxBytes int64
	// MinFreeBytes: keep at least this much free on DATA_DIR's filesystem
	// (with a bucket, by deleting local segments only).
	MinFreeBytes int64
	// Deleted, if set, is called with each batch of segments once their
	// files and rows are gone (so a caller can report them one by one
	// without ApplyRetention holding a list of everything it deleted).
	Deleted func([]Segment)
}

// RetentionReport says what ApplyRetention did.
type RetentionReport struct {
	Deleted                int   // segments removed (file and row)
	FreedBytes             int64 // their bytes
	ByAge, ByBytes, ByFree int
	// Unmet describes each limit still broken afterwards (only segments
	// being recorded were left to delete, or deleting did not free space);
	// empty when every limit holds. The service should alert on it.
	Unmet []string
}

const (
	// retentionBatch is how many segments one deletion transaction marks:
	// large enough to be cheap per segment, small enough to bound memory
	// and the time the write connection is held.
	retentionBatch = 256
	// maxFreeRounds bounds the delete-then-statfs rounds for MinFreeBytes,
	// so a filesystem whose free space does not follow deletions (another
	// program filling it) cannot make us delete everything.
	maxFreeRounds = 64
)

// ApplyRetention deletes the oldest complete segments, file and row
// together, until every limit of p holds: first by age (per camera), then by
// total bytes, then by free space. A segment in state recording is never
// deleted. now is the caller's clock.
func (s *Store) ApplyRetention(ctx context.Context, p RetentionPolicy, now time.Time) (RetentionReport, error) {
	var rep RetentionReport
	if err := s.retainByAge(ctx, p, now, &rep); err != nil {
		return rep, err
	}
	if p.MaxBytes > 0 {
		if err := s.retainByBytes(ctx, p.MaxBytes, p.Deleted, &rep); err != nil {
			return rep, err
		}
	}
	if p.MinFreeBytes > 0 {
		if err := s.retainByFree(ctx, p.MinFreeBytes, p.Deleted, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func (s *Store) retainByAge(ctx context.Context, p RetentionPolicy, now time.Time, rep *RetentionReport) error {
	cams, err := s.Cameras(ctx)
	if err != nil {
		return fmt.Errorf("storage: retention: %w", err)
	}
	for _, cam := range cams {
		age := p.MaxAge
		if a, ok := p.PerCameraMaxAge[cam]; ok && a > 0 {
			age = a
		}
		if age <= 0 {
			continue
		}
		cutoff := now.Add(-age).UnixNano()
		for {
			// Whole segments only: one that ends after the cutoff still
			// holds footage younger than MaxAge.
			segs, err := s.querySegments(ctx, `SELECT `+segmentColumns+` FROM segments
				WHERE camera_id = ? AND start_ns <= ? AND end_ns <= ? AND state = 'complete' AND node = ?
				ORDER BY start_ns, id LIMIT ?`, cam, cutoff, cutoff, s.node, retentionBatch)
			if err != nil {
				return err
			}
			if len(segs) == 0 {
				break
			}
			if err := s.retentionDelete(ctx, segs, p.Deleted, rep); err != nil {
				return err
			}
			rep.ByAge += len(segs)
		}
	}
	return nil
}

func (s *Store) retainByBytes(ctx context.Context, maxBytes int64, deleted func([]Segment), rep *RetentionReport) error {
	for {
		used, err := s.retainedBytes(ctx)
		if err != nil {
			return err
		}
		if used <= maxBytes {
			return nil
		}
		n, err := s.deleteOldest(ctx, used-maxBytes, deleted, rep)
		if err != nil {
			return err
		}
		rep.ByBytes += n
		if n == 0 {
			rep.Unmet = append(rep.Unmet, fmt.Sprintf("max_bytes: %d bytes used, limit %d, nothing left to delete but segments being recorded", used, maxBytes))
			return nil
		}
	}
}

func (s *Store) retainByFree(ctx context.Context, minFree int64, deleted func([]Segment), rep *RetentionReport) error {
	last := int64(-1)
	for round := 0; ; round++ {
		free, err := s.free(s.dataDir)
		if err != nil {
			return fmt.Errorf("storage: retention: %w", err)
		}
		if free >= minFree {
			return nil
		}
		if round == maxFreeRounds || (last >= 0 && free <= last) {
			rep.Unmet = append(rep.Unmet, fmt.Sprintf("min_free_bytes: %d bytes free, want %d, and deleting segments does not free more", free, minFree))
			return nil
		}
		last = free
		n, err := s.deleteOldest(ctx, minFree-free, deleted, rep)
		if err != nil {
			return err
		}
		rep.ByFree += n
		if n == 0 {
			rep.Unmet = append(rep.Unmet, fmt.Sprintf("min_free_bytes: %d bytes free, want %d, nothing left to delete but segments being recorded", free, minFree))
			return nil
		}
	}
}

// deleteOldest deletes the oldest complete segments of any camera until at
// least need bytes are freed (or none are left) and returns how many. With
// a bucket only local segments count: the byte limits are the local
// disk's, uploaded segments go by age alone.
func (s *Store) deleteOldest(ctx context.Context, need int64, deleted func([]Segment), rep *RetentionReport) (int, error) {
	var n int
	var freed int64
	for freed < need {
		segs, err := s.querySegments(ctx, `SELECT `+segmentColumns+` FROM segments
			WHERE state = 'complete' AND node = ? `+s.localOnly()+`ORDER BY start_ns, id LIMIT ?`, s.node, retentionBatch)
		if err != nil {
			return n, err
		}
		if len(segs) == 0 {
			break
		}
		// Delete only as many of the batch as needed.
		for i, seg := range segs {
			freed += seg.Bytes
			if freed >= need {
				segs = segs[:i+1]
				break
			}
		}
		if err := s.retentionDelete(ctx, segs, deleted, rep); err != nil {
			return n, err
		}
		n += len(segs)
	}
	return n, nil
}

func (s *Store) retentionDelete(ctx context.Context, segs []Segment, deleted func([]Segment), rep *RetentionReport) error {
	if err := s.deleteSegments(ctx, segs); err != nil {
		return fmt.Errorf("storage: retention: %w", err)
	}
	rep.Deleted += len(segs)
	for _, seg := range segs {
		rep.FreedBytes += seg.Bytes
	}
	if deleted != nil {
		deleted(segs)
	}
	return nil
}

func (s *Store) querySegments(ctx context.Context, q string, args ...any) ([]Segment, error) {
	rows, err := s.w.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("storage: retention: %w", err)
	}
	defer rows.Close()
	var segs []Segment
	for rows.Next() {
		seg, err := scanSegment(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: retention: %w", err)
		}
		segs = append(segs, seg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: retention: %w", err)
	}
	return segs, nil
}

func (s *Store) usedBytes(ctx context.Context) (int64, error) {
	var used int64
	// The cameras' running totals cover every node; a node of a shared
	// index sums its own rows (a scan, once per retention pass).
	q, args := `SELECT coalesce(sum(bytes), 0) FROM cameras`, []any(nil)
	if s.node != "" {
		q, args = s.q(`SELECT coalesce(sum(bytes), 0) FROM segments WHERE node = ?`), []any{s.node}
	}
	if err := s.r.QueryRowContext(ctx, q, args...).Scan(&used); err != nil {
		return 0, fmt.Errorf("storage: used bytes: %w", err)
	}
	return used, nil
}

// localOnly is the condition that keeps the byte limits to the local disk
// when segments move to a bucket.
func (s *Store) localOnly() string {
	if s.objects == nil {
		return ""
	}
	return "AND object IS NULL "
}

// retainedBytes is what max_bytes limits: every segment's bytes, or with a
// bucket the bytes still on the local disk (recording segments included).
func (s *Store) retainedBytes(ctx context.Context) (int64, error) {
	if s.objects == nil {
		return s.usedBytes(ctx)
	}
	var used int64
	if err := s.r.QueryRowContext(ctx, s.q(`SELECT coalesce(sum(bytes), 0) FROM segments WHERE object IS NULL AND node = ?`), s.node).Scan(&used); err != nil {
		return 0, fmt.Errorf("storage: local bytes: %w", err)
	}
	return used, nil
}

// DiskUsage returns the bytes of all indexed segments (recording ones at
// their last update) and the bytes free on DATA_DIR's filesystem.
func (s *Store) DiskUsage(ctx context.Context) (usedBytes, freeBytes int64, err error) {
	if usedBytes, err = s.usedBytes(ctx); err != nil {
		return 0, 0, err
	}
	if freeBytes, err = s.free(s.dataDir); err != nil {
		return 0, 0, fmt.Errorf("storage: disk usage: %w", err)
	}
	return usedBytes, freeBytes, nil
}
