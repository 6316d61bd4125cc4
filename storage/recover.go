package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nvr-project/nvr/ticks"
)

// RecoverFunc reads a segment file of size bytes, opened by Recover under
// the recordings dir's root, and says what it holds: how many bytes up to
// the end of its last complete fragment, and the frames in them. It only
// reads; Recover cuts the torn tail and syncs. The fleet passes the MP4
// package's scanner here.
type RecoverFunc func(r io.ReaderAt, size int64) (RecoveredFile, error)

// RecoveredFile is what a RecoverFunc found in a file.
type RecoveredFile struct {
	Bytes             int64 // valid length of the file (what Recover keeps)
	Frames, Keyframes int64
	Duration90k       int64  // media duration in 90 kHz ticks
	Codecs            string // as Segment.Codecs
	Width, Height     int
}

// RecoverReport says what Recover did.
type RecoverReport struct {
	// Finalised counts recording rows completed from their file.
	Finalised int
	// Removed lists the paths of recording rows dropped because their file
	// was missing, empty of frames or unreadable (file removed too).
	Removed []string
	// Indexed counts files without a row that were indexed as complete.
	Indexed int
	// Deletions counts interrupted deletions that were finished.
	Deletions int
	// LocalCopiesRemoved counts local files of uploaded segments whose
	// removal an interrupted upload left undone.
	LocalCopiesRemoved int
	// Skipped lists files left untouched, with the reason (for the log).
	Skipped []SkippedFile
}

// SkippedFile is a file Recover did not index.
type SkippedFile struct {
	Path   string // relative to the recordings dir
	Reason string
}

// Recover brings the index and the recordings dir back in step after a
// crash. Run it after Open and before any recording starts (it would
// otherwise finalise segments being written). It
//
//  1. finishes interrupted deletions (rows in state deleting): the file is
//     removed if still there, then the row;
//  2. finalises every recording row: fn scans and truncates the file, the
//     file and its directory are synced, then the row becomes complete with
//     end = start + media duration; a row whose file is missing, has no
//     complete frame, or fails to scan is removed with its file;
//  3. indexes every *.mp4 file under recordings/ that has no row and whose
//     path has the layout of StreamSegmentPath (camera and stream from the
//     folders, start from the file name) as complete; other files and files fn rejects are left
//     untouched and listed in Skipped.
//
// Complete rows are not touched. It returns an error only when the index
// itself fails; per-file problems go into the report.
func (s *Store) Recover(ctx context.Context, fn RecoverFunc) (RecoverReport, error) {
	var rep RecoverReport
	deleting, err := s.segmentsInState(ctx, StateDeleting)
	if err != nil {
		return rep, err
	}
	for _, seg := range deleting {
		// One at a time: a file that cannot be removed (EACCES, EIO) is
		// reported and must not keep the others, or the service, waiting.
		if err := s.deleteSegments(ctx, []Segment{seg}); err != nil {
			if ctx.Err() != nil {
				return rep, fmt.Errorf("storage: recover: %w", ctx.Err())
			}
			rep.Skipped = append(rep.Skipped, SkippedFile{seg.Path, "finishing its deletion: " + err.Error()})
			continue
		}
		rep.Deletions++
	}

	recording, err := s.segmentsInState(ctx, StateRecording)
	if err != nil {
		return rep, err
	}
	for _, seg := range recording {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("storage: recover: %w", err)
		}
		rf, err := s.recoverFile(seg.Path, fn)
		if err != nil {
			if derr := s.deleteSegments(ctx, []Segment{seg}); derr != nil {
				if ctx.Err() != nil {
					return rep, fmt.Errorf("storage: recover: %w", ctx.Err())
				}
				rep.Skipped = append(rep.Skipped, SkippedFile{seg.Path, fmt.Sprintf("unrecoverable (%v), and removing it failed: %v", err, derr)})
				continue
			}
			rep.Removed = append(rep.Removed, seg.Path)
			continue
		}
		if seg.StartNS, seg.EndNS, err = s.fitBetween(ctx, seg.ID, seg.Camera, seg.Stream, seg.StartNS, seg.StartNS+ticks.ToNS(rf.Duration90k)); err != nil {
			return rep, err
		}
		if err := s.completeRow(ctx, seg, rf); err != nil {
			return rep, err
		}
		s.indexRecovered(ctx, seg.ID, seg.Path, rf.Bytes)
		rep.Finalised++
	}

	if err := s.indexOrphans(ctx, fn, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// maxDuration90k is MaxSegmentDuration in 90 kHz ticks.
var maxDuration90k = ticks.FromDuration(MaxSegmentDuration)

// recoverFile runs fn on the file at relative path p, read through the
// root, then cuts the file back to what fn says is valid and syncs it and
// its directory, once each. A file with no complete frame is an error.
func (s *Store) recoverFile(p string, fn RecoverFunc) (RecoveredFile, error) {
	if err := checkRelPath(p); err != nil {
		return RecoveredFile{}, err
	}
	name := filepath.FromSlash(p)
	// Opening through the root refuses a name that leads outside it; the
	// Lstat refuses a final symlink, a fifo or a device (RELIABILITY S1).
	fi, err := s.root.Lstat(name)
	if err != nil {
		return RecoveredFile{}, rootErr(p, err)
	}
	if !fi.Mode().IsRegular() {
		return RecoveredFile{}, fmt.Errorf("%w: %s is not a regular file", ErrUnsafePath, p)
	}
	f, err := s.root.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return RecoveredFile{}, rootErr(p, err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return RecoveredFile{}, fmt.Errorf("stat %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return RecoveredFile{}, fmt.Errorf("%w: %s is not a regular file", ErrUnsafePath, p)
	}
	rf, err := fn(f, fi.Size())
	if err != nil {
		return RecoveredFile{}, fmt.Errorf("scan %s: %w", p, err)
	}
	switch {
	case rf.Frames <= 0:
		return RecoveredFile{}, fmt.Errorf("%s holds no complete frame", p)
	case rf.Keyframes < 0 || rf.Keyframes > rf.Frames || rf.Bytes <= 0:
		return RecoveredFile{}, fmt.Errorf("%s: scanner returned impossible counts %+v", p, rf)
	case rf.Duration90k < 0 || rf.Duration90k > maxDuration90k:
		return RecoveredFile{}, fmt.Errorf("%s: duration %d ticks out of range", p, rf.Duration90k)
	case rf.Bytes > fi.Size():
		return RecoveredFile{}, fmt.Errorf("%s: scanner says %d valid bytes but the file has %d", p, rf.Bytes, fi.Size())
	}
	if fi.Size() > rf.Bytes {
		// Torn tail (RELIABILITY F11): cut back to the last whole fragment.
		if err := cutBack(f, rf.Bytes); err != nil {
			return RecoveredFile{}, fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := s.fsync(f); err != nil {
		return RecoveredFile{}, fmt.Errorf("fsync %s: %w", p, err)
	}
	if err := s.dirSync(s.root, filepath.FromSlash(path.Dir(p))); err != nil {
		return RecoveredFile{}, err
	}
	return rf, nil
}

// fitBetween keeps a recovered segment's span [startNS, endNS) from
// running into its neighbours of the same camera and stream (other than
// row id): it ends no later than the next one starts, since its media
// duration can exceed the wall span its row had, which the slew had
// fitted to the local clock (the next segment starts where that span
// ended); and it starts where the previous one ends when that is less
// than a millisecond later, the precision of a file name. (Files that
// claim the same time, a name's "-N" collision suffix, stay as they are.)
func (s *Store) fitBetween(ctx context.Context, id int64, camera, stream string, startNS, endNS int64) (int64, int64, error) {
	stream = streamOf(stream)
	var prevEnd, nextStart int64
	err := s.w.QueryRowContext(ctx, s.q(`SELECT end_ns FROM segments WHERE camera_id = ? AND stream = ? AND start_ns <= ? AND id <> ?
		ORDER BY start_ns DESC, id DESC LIMIT 1`), camera, stream, startNS, id).Scan(&prevEnd)
	switch {
	case err == nil:
		if prevEnd > startNS && prevEnd-startNS < int64(time.Millisecond) {
			startNS = prevEnd
		}
	case !errors.Is(err, sql.ErrNoRows):
		return 0, 0, fmt.Errorf("storage: recover: segment before %s at %d: %w", camera, startNS, err)
	}
	err = s.w.QueryRowContext(ctx, s.q(`SELECT start_ns FROM segments WHERE camera_id = ? AND stream = ? AND start_ns > ? AND id <> ?
		ORDER BY start_ns, id LIMIT 1`), camera, stream, startNS, id).Scan(&nextStart)
	switch {
	case err == nil:
		endNS = min(endNS, nextStart)
	case !errors.Is(err, sql.ErrNoRows):
		return 0, 0, fmt.Errorf("storage: recover: segment after %s at %d: %w", camera, startNS, err)
	}
	return startNS, max(endNS, startNS), nil
}

// completeRow finalises a recording row from a recovered file.
func (s *Store) completeRow(ctx context.Context, seg Segment, rf RecoveredFile) error {
	_, err := s.w.ExecContext(ctx, s.q(`UPDATE segments SET state = 'complete', start_ns = ?, end_ns = ?, bytes = ?, frames = ?, keyframes = ?,
		codecs = coalesce(nullif(?, ''), codecs), width = coalesce(nullif(?, 0), width), height = coalesce(nullif(?, 0), height)
		WHERE id = ? AND state = 'recording'`),
		seg.StartNS, seg.EndNS, rf.Bytes, rf.Frames, rf.Keyframes, rf.Codecs, rf.Width, rf.Height, seg.ID)
	if err != nil {
		return fmt.Errorf("storage: recover: finalise segment %d: %w", seg.ID, err)
	}
	return nil
}

// segmentsInState returns every row in state (a partial index keeps this
// cheap: only non-complete rows are in it).
func (s *Store) segmentsInState(ctx context.Context, state string) ([]Segment, error) {
	rows, err := s.w.QueryContext(ctx, s.q(`SELECT `+segmentColumns+` FROM segments WHERE state = ? AND state <> 'complete' AND node = ? ORDER BY id`), state, s.node)
	if err != nil {
		return nil, fmt.Errorf("storage: recover: list %s rows: %w", state, err)
	}
	defer rows.Close()
	var segs []Segment
	for rows.Next() {
		seg, err := scanSegment(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: recover: list %s rows: %w", state, err)
		}
		segs = append(segs, seg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: recover: list %s rows: %w", state, err)
	}
	return segs, nil
}

// indexOrphans walks the recordings dir for segment files without a row.
// WalkDir does not follow symlinks, so a link out of the tree is never
// entered.
func (s *Store) indexOrphans(ctx context.Context, fn RecoverFunc, rep *RecoverReport) error {
	return filepath.WalkDir(s.recDir, func(abs string, d fs.DirEntry, err error) error {
		if err != nil {
			rel, _ := filepath.Rel(s.recDir, abs)
			rep.Skipped = append(rep.Skipped, SkippedFile{filepath.ToSlash(rel), err.Error()})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("storage: recover: %w", err)
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".mp4") {
			return nil
		}
		rel, err := filepath.Rel(s.recDir, abs)
		if err != nil {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			rep.Skipped = append(rep.Skipped, SkippedFile{rel, "not a regular file"})
			return nil
		}
		var object string
		err = s.w.QueryRowContext(ctx, s.q(`SELECT coalesce(object, '') FROM segments WHERE path = ?`), rel).Scan(&object)
		if err == nil {
			if object != "" {
				// Uploaded, and the row was switched to the object, but
				// the process stopped before the local copy went.
				if err := s.removeLocalCopy(rel); err != nil {
					rep.Skipped = append(rep.Skipped, SkippedFile{rel, err.Error()})
				} else {
					rep.LocalCopiesRemoved++
				}
			}
			return nil // indexed
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("storage: recover: look up %s: %w", rel, err)
		}
		camera, stream, startNS, ok := parseSegmentPath(rel)
		if !ok {
			rep.Skipped = append(rep.Skipped, SkippedFile{rel, "name is not <camera>/[sub/]YYYY/MM/DD/HH-MM-SS.mmm[-N].mp4"})
			return nil
		}
		rf, err := s.recoverFile(rel, fn)
		if err != nil {
			rep.Skipped = append(rep.Skipped, SkippedFile{rel, err.Error()})
			return nil
		}
		start, end, err := s.fitBetween(ctx, 0, camera, stream, startNS, startNS+ticks.ToNS(rf.Duration90k))
		if err != nil {
			return err
		}
		seg := Segment{Camera: camera, Stream: stream, StartNS: start, EndNS: end, Bytes: rf.Bytes,
			Frames: rf.Frames, Keyframes: rf.Keyframes, Codecs: rf.Codecs, Width: rf.Width, Height: rf.Height}
		id, err := s.insertSegment(ctx, seg, rel, StateComplete)
		if err != nil {
			if errors.Is(err, ErrInvalid) {
				rep.Skipped = append(rep.Skipped, SkippedFile{rel, err.Error()})
				return nil
			}
			return fmt.Errorf("storage: recover: index %s: %w", rel, err)
		}
		s.indexRecovered(ctx, id, rel, rf.Bytes)
		rep.Indexed++
		return nil
	})
}

// parseSegmentPath is the inverse of StreamSegmentPath (with
// CreateSegment's optional "-N" suffix): it returns the camera, the stream
// and the start time, and false for any other name.
func parseSegmentPath(p string) (camera, stream string, startNS int64, ok bool) {
	if len(p) > maxPathLen {
		return "", "", 0, false
	}
	parts := strings.Split(p, "/")
	stream = StreamMain
	if len(parts) == 6 && parts[1] == StreamSub {
		stream = StreamSub
		parts = append(parts[:1], parts[2:]...)
	}
	if len(parts) != 5 || ValidCameraID(parts[0]) != nil {
		return "", "", 0, false
	}
	name, found := strings.CutSuffix(parts[4], ".mp4")
	if !found {
		return "", "", 0, false
	}
	// "HH-MM-SS.mmm" is 12 bytes; anything after it must be "-N", N > 0.
	const stamp = len("15-04-05.000")
	if len(name) < stamp {
		return "", "", 0, false
	}
	if suffix := name[stamp:]; suffix != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(suffix, "-"))
		if !strings.HasPrefix(suffix, "-") || err != nil || n <= 0 || n >= maxPathCollisions || strconv.Itoa(n) != suffix[1:] {
			return "", "", 0, false
		}
	}
	t, err := time.Parse("2006/01/02/15-04-05.000", strings.Join(parts[1:4], "/")+"/"+name[:stamp])
	if err != nil {
		return "", "", 0, false
	}
	// Round trip: rejects non-canonical spellings time.Parse tolerates.
	if StreamSegmentPath(parts[0], stream, t) != strings.TrimSuffix(p, name[stamp:]+".mp4")+".mp4" {
		return "", "", 0, false
	}
	// Outside 1678..2262 the time does not fit int64 nanoseconds.
	if ns := t.UnixNano(); !time.Unix(0, ns).Equal(t) {
		return "", "", 0, false
	}
	return parts[0], stream, t.UnixNano(), true
}
