package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
)

// DeleteSegment removes a complete segment, file and row, in the deletion
// order of docs/storage.md. A segment still recording is refused
// (ErrRecording).
func (s *Store) DeleteSegment(ctx context.Context, id int64) error {
	seg, err := s.segment(ctx, s.w, id)
	if err != nil {
		return err
	}
	if seg.State == StateRecording {
		return fmt.Errorf("%w: segment %d", ErrRecording, id)
	}
	return s.deleteSegments(ctx, []Segment{seg})
}

// deleteSegments deletes segs: (1) mark every row deleting in one commit,
// (2) unlink each file, (3) fsync each directory touched, (4) delete the
// rows in one commit. A crash after (1) leaves deleting rows, which Recover
// finishes; the row never points at a file that is gone while it still
// looks complete.
func (s *Store) deleteSegments(ctx context.Context, segs []Segment) error {
	if len(segs) == 0 {
		return nil
	}
	err := s.setState(ctx, segs, StateDeleting)
	if err != nil && IsFull(err) && s.releaseReserve() {
		// The disk is full: give the index the reserved space to commit
		// the marks that free it.
		err = s.setState(ctx, segs, StateDeleting)
	}
	if err != nil {
		return err
	}
	// Written back after the files are gone (or kept, when it is there).
	defer func() { _ = s.ensureReserve() }()
	// Once marked, finish even if ctx is cancelled: the marks would
	// otherwise wait for the next start.
	ctx = context.WithoutCancel(ctx)
	dirs := map[string]bool{}
	var errs []error
	done := segs[:0:0]
	for _, seg := range segs {
		removed, err := s.unlink(seg.Path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if removed {
			dirs[path.Dir(seg.Path)] = true
		}
		// An uploaded segment's object goes too; until it has, the row
		// stays deleting and the next Recover tries again.
		if err := s.deleteObjects(ctx, []Segment{seg}); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, seg)
	}
	for d := range dirs {
		if err := s.dirSync(s.root, filepath.FromSlash(d)); err != nil {
			return fmt.Errorf("storage: delete segments: %w", err)
		}
	}
	if err := s.removeRows(ctx, done); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage: delete segments: %w", err)
	}
	return nil
}

// unlink removes a segment file and says whether it removed one (so its
// directory needs a sync). An already missing file is fine: the deletion is
// being finished after a crash.
func (s *Store) unlink(p string) (removed bool, err error) {
	if checkRelPath(p) != nil {
		// Nothing of ours can live there (RELIABILITY S1): only the row goes.
		return false, nil
	}
	err = s.root.Remove(filepath.FromSlash(p))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case errors.Is(rootErr(p, err), ErrUnsafePath):
		// The path leads out of the recordings dir through a symlink: the
		// file there is not ours to remove.
		return false, nil
	}
	return false, fmt.Errorf("remove %s: %w", p, err)
}

// setState sets the state of the rows of segs in one transaction.
func (s *Store) setState(ctx context.Context, segs []Segment, state string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: mark segments %s: %w", state, err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, s.q(`UPDATE segments SET state = ? WHERE id = ?`))
	if err != nil {
		return fmt.Errorf("storage: mark segments %s: %w", state, err)
	}
	defer st.Close()
	for _, seg := range segs {
		if _, err := st.ExecContext(ctx, state, seg.ID); err != nil {
			return fmt.Errorf("storage: mark segment %d %s: %w", seg.ID, state, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: mark segments %s: %w", state, err)
	}
	return nil
}

// removeRows deletes the rows of segs in one transaction.
func (s *Store) removeRows(ctx context.Context, segs []Segment) error {
	if len(segs) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("remove rows: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, s.q(`DELETE FROM segments WHERE id = ?`))
	if err != nil {
		return fmt.Errorf("remove rows: %w", err)
	}
	defer st.Close()
	for _, seg := range segs {
		if _, err := st.ExecContext(ctx, seg.ID); err != nil {
			return fmt.Errorf("remove row %d: %w", seg.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("remove rows: %w", err)
	}
	return nil
}
