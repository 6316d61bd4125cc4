package storage

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotMigratable says an index cannot be copied as it is (CopyIndex).
var ErrNotMigratable = errors.New("storage: index cannot be copied")

// CopyReport says what CopyIndex copied.
type CopyReport struct {
	Cameras  int   // camera rows
	Segments int   // segment rows, each with its sample index if it had one
	Bytes    int64 // of the segments
}

// CopyIndex copies the SQLite index of s into dst, a PostgreSQL index
// opened on the same data directory with a node name: a single box that
// becomes a node of a shared index keeps its footage. Every camera row,
// and every segment row with its sample index, becomes dst's node's, in
// one transaction, with new ids from dst's sequence; paths, times, states
// and objects stay, so the files need no move. The segment files are not
// read.
//
// It refuses (ErrNotMigratable) an index with rows still recording or
// being deleted (start nvr once, or stop it cleanly, so that recovery
// completes them), and a destination that already holds footage of one
// of the cameras (two recordings of a camera would overlap). Nothing is
// written then.
func (s *Store) CopyIndex(ctx context.Context, dst *Store) (CopyReport, error) {
	var rep CopyReport
	if _, ok := s.idx.(*sqliteIndex); !ok {
		return rep, fmt.Errorf("%w: the source is not an SQLite index", ErrNotMigratable)
	}
	if _, ok := dst.idx.(*postgresIndex); !ok || dst.node == "" {
		return rep, fmt.Errorf("%w: the destination is not a PostgreSQL index with a node", ErrNotMigratable)
	}
	if s.dataDir != dst.dataDir {
		return rep, fmt.Errorf("%w: the indexes are of different data directories", ErrNotMigratable)
	}
	var open int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM segments WHERE state <> 'complete'`).Scan(&open); err != nil {
		return rep, fmt.Errorf("storage: copy index: %w", err)
	}
	if open > 0 {
		return rep, fmt.Errorf("%w: %d segments are still recording or being deleted: start nvr serve once (or stop it cleanly) so that recovery completes them", ErrNotMigratable, open)
	}

	type cam struct {
		id, name string
		created  int64
	}
	var cams []cam
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, created_ns FROM cameras ORDER BY id`)
	if err != nil {
		return rep, fmt.Errorf("storage: copy index: cameras: %w", err)
	}
	for rows.Next() {
		var c cam
		if err := rows.Scan(&c.id, &c.name, &c.created); err != nil {
			rows.Close()
			return rep, fmt.Errorf("storage: copy index: cameras: %w", err)
		}
		cams = append(cams, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("storage: copy index: cameras: %w", err)
	}

	tx, err := dst.w.BeginTx(ctx, nil)
	if err != nil {
		return rep, fmt.Errorf("storage: copy index: %w", err)
	}
	defer tx.Rollback()
	for _, c := range cams {
		var taken bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM segments WHERE camera_id = $1)`, c.id).Scan(&taken); err != nil {
			return rep, fmt.Errorf("storage: copy index: camera %s: %w", c.id, err)
		}
		if taken {
			return rep, fmt.Errorf("%w: the destination already has footage of camera %s", ErrNotMigratable, c.id)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cameras (id, name, created_ns) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
			c.id, c.name, c.created); err != nil {
			return rep, fmt.Errorf("storage: copy index: camera %s: %w", c.id, err)
		}
	}
	rep.Cameras = len(cams)

	// Row by row, so memory stays one row and its sample index whatever
	// the index holds.
	segs, err := s.r.QueryContext(ctx, `SELECT `+segmentColumns+`, (SELECT data FROM segment_samples WHERE segment_id = segments.id)
		FROM segments ORDER BY camera_id, start_ns, id`)
	if err != nil {
		return rep, fmt.Errorf("storage: copy index: segments: %w", err)
	}
	defer segs.Close()
	for segs.Next() {
		var idx []byte
		seg, err := scanSegment(scanPlus{segs, []any{&idx}})
		if err != nil {
			return rep, fmt.Errorf("storage: copy index: segments: %w", err)
		}
		var id int64
		if err := tx.QueryRowContext(ctx, dst.idx.nextSegmentID()).Scan(&id); err != nil {
			return rep, fmt.Errorf("storage: copy index: next id: %w", err)
		}
		seg.ID = id
		if err := dst.insertRow(ctx, tx, seg); err != nil {
			return rep, fmt.Errorf("storage: copy index: segment %s: %w", seg.Path, err)
		}
		if idx != nil {
			if _, err := tx.ExecContext(ctx, dst.q(putSamples), id, idx); err != nil {
				return rep, fmt.Errorf("storage: copy index: sample index of %s: %w", seg.Path, err)
			}
		}
		rep.Segments++
		rep.Bytes += seg.Bytes
	}
	if err := segs.Err(); err != nil {
		return rep, fmt.Errorf("storage: copy index: segments: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return rep, fmt.Errorf("storage: copy index: %w", err)
	}
	return rep, nil
}
