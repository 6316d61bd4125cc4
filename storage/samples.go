package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"path/filepath"

	"github.com/nvr-project/nvr/storage/fmp4"
)

// putSamples stores (or replaces) the sample index of a segment: args id,
// data.
const putSamples = `INSERT INTO segment_samples (segment_id, data) VALUES (?, ?)
	ON CONFLICT (segment_id) DO UPDATE SET data = excluded.data`

// sampleIndex derives the sample index of the file at relative path p from
// its first size bytes (what was synced), for an export to plan from the
// index alone. A file that does not scan gets none: exports then read the
// file, as they do for segments indexed before sample indexes existed.
func (s *Store) sampleIndex(p string, size int64) []byte {
	if checkRelPath(p) != nil {
		return nil
	}
	f, err := s.root.Open(filepath.FromSlash(p))
	if err != nil {
		return nil
	}
	defer f.Close()
	return sampleIndexOf(f, size)
}

// sampleIndexOf is sampleIndex of a file already open.
func sampleIndexOf(r io.ReaderAt, size int64) []byte {
	info, err := fmp4.Scan(r, size)
	if err != nil || len(info.Samples) == 0 {
		return nil
	}
	b, err := info.MarshalIndex()
	if err != nil {
		return nil
	}
	return b
}

// storeSampleIndex keeps idx as the sample index of segment id (nothing
// when idx is nil).
func (s *Store) storeSampleIndex(ctx context.Context, id int64, idx []byte) error {
	if idx == nil {
		return nil
	}
	if _, err := s.w.ExecContext(ctx, s.q(putSamples), id, idx); err != nil {
		return fmt.Errorf("storage: store sample index of segment %d: %w", id, err)
	}
	return nil
}

// indexRecovered derives and stores the sample index of a segment that
// recovery completed (its file was just cut back and synced to bytes). A
// failure leaves the segment without one; exports then read its file.
func (s *Store) indexRecovered(ctx context.Context, id int64, p string, bytes int64) {
	_ = s.storeSampleIndex(ctx, id, s.sampleIndex(p, bytes))
}

// PutSampleIndex stores the sample index of a complete segment that has
// none (one indexed before sample indexes existed), so later exports need
// not read its file. The caller derived idx from the segment's file
// (fmp4.SegmentInfo.MarshalIndex); a segment that is not complete is left
// alone (ErrNotFound).
func (s *Store) PutSampleIndex(ctx context.Context, id int64, idx []byte) error {
	if _, err := fmp4.ParseIndex(idx); err != nil {
		return fmt.Errorf("%w: segment %d: %v", ErrInvalid, id, err)
	}
	res, err := s.w.ExecContext(ctx, s.q(`INSERT INTO segment_samples (segment_id, data)
		SELECT id, ? FROM segments WHERE id = ? AND state = 'complete'
		ON CONFLICT (segment_id) DO NOTHING`), idx, id)
	if err != nil {
		return fmt.Errorf("storage: store sample index of segment %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		var one int
		if err := s.w.QueryRowContext(ctx, s.q(`SELECT 1 FROM segment_samples WHERE segment_id = ?`), id).Scan(&one); err != nil {
			return fmt.Errorf("%w: no complete segment %d", ErrNotFound, id)
		}
	}
	return nil
}

// SampleIndexes returns the stored sample indexes of the complete segments
// of camera's main stream overlapping [startNS, endNS), by segment id;
// segments without one are absent. Like ListSegments it reads the whole
// answer before returning, so no read transaction outlives the call
// (RELIABILITY F14).
func (s *Store) SampleIndexes(ctx context.Context, camera string, startNS, endNS int64) (map[int64][]byte, error) {
	return s.StreamSampleIndexes(ctx, camera, StreamMain, startNS, endNS)
}

// StreamSampleIndexes is SampleIndexes for one stream of the camera.
func (s *Store) StreamSampleIndexes(ctx context.Context, camera, stream string, startNS, endNS int64) (map[int64][]byte, error) {
	if err := checkRange(startNS, endNS); err != nil {
		return nil, err
	}
	stream, err := checkStream(stream)
	if err != nil {
		return nil, err
	}
	if !maybeCamera(camera) {
		return map[int64][]byte{}, nil
	}
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT x.segment_id, x.data FROM segments s JOIN segment_samples x ON x.segment_id = s.id
		WHERE `+overlapWhere+` AND state = 'complete'`),
		camera, stream, endNS, startNS, overlapLowerBound(startNS))
	if err != nil {
		return nil, fmt.Errorf("storage: sample indexes: %w", err)
	}
	defer rows.Close()
	out := make(map[int64][]byte)
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			return nil, fmt.Errorf("storage: sample indexes: %w", err)
		}
		out[id] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: sample indexes: %w", err)
	}
	return out, nil
}

// RangeVersion returns a digest of the rows ListSegments returns for camera
// over [startNS, endNS) (its main stream): their ids, times, sizes, frame
// counts and states.
// It changes whenever a segment of the range is added, grows, is finished
// or is deleted, so a plan made from the rows can be reused while it stays
// the same. One query, with the rows folded inside the database: cheaper than
// listing them.
func (s *Store) RangeVersion(ctx context.Context, camera string, startNS, endNS int64) ([sha256.Size]byte, error) {
	return s.StreamRangeVersion(ctx, camera, StreamMain, startNS, endNS)
}

// StreamRangeVersion is RangeVersion for one stream of the camera.
func (s *Store) StreamRangeVersion(ctx context.Context, camera, stream string, startNS, endNS int64) ([sha256.Size]byte, error) {
	var v [sha256.Size]byte
	if err := checkRange(startNS, endNS); err != nil {
		return v, err
	}
	stream, err := checkStream(stream)
	if err != nil {
		return v, err
	}
	if !maybeCamera(camera) {
		return sha256.Sum256(nil), nil
	}
	var rows sql.NullString
	err = s.r.QueryRowContext(ctx, s.q(`SELECT string_agg(id || ',' || start_ns || ',' || end_ns || ',' || bytes || ',' || frames || ',' || state, ';' ORDER BY start_ns, id)
		FROM segments WHERE `+overlapWhere),
		camera, stream, endNS, startNS, overlapLowerBound(startNS)).Scan(&rows)
	if err != nil {
		return v, fmt.Errorf("storage: range version: %w", err)
	}
	return sha256.Sum256([]byte(rows.String)), nil
}
