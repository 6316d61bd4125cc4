package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Segment is one row of the index: one MP4 file of one camera.
type Segment struct {
	ID     int64
	Camera string
	// Stream is the camera's stream the segment holds, StreamMain or
	// StreamSub; "" means StreamMain when a segment is created.
	Stream            string
	StartNS, EndNS    int64  // UTC ns, [start, end)
	Path              string // relative to the recordings dir, '/'-separated
	Bytes             int64
	Frames, Keyframes int64
	Codecs            string // the tracks' RFC 6381 strings, video first, comma-separated: "avc1.640028" (see CodecList)
	Width, Height     int
	State             string // StateRecording or StateComplete
	// RunID groups the segments of one recording session (0: unknown).
	RunID int64
	// Object is the key of the segment's object in the bucket once it was
	// uploaded (then the local file is gone); empty while it is a file.
	Object string
	// Node is the node whose data dir holds the segment's file, on a
	// shared index ("" on a single node); set by the store.
	Node string
	// Lease, when set (Token > 0), fences the writes of the segment
	// (CreateSegment, SegmentFile.Update and Finish): each is refused with
	// ErrFenced unless the camera's lease is still the holder's, with
	// this token, and not expired (lease.go). Not a column.
	Lease Lease
}

// The streams of a camera: its url and its sub_url.
const (
	StreamMain = "main"
	StreamSub  = "sub"
)

// ValidStream reports whether stream names a stream of a camera (the
// schema's CHECK on segments.stream states the same rule).
func ValidStream(stream string) error {
	if stream != StreamMain && stream != StreamSub {
		return fmt.Errorf("%w: stream %q is not %q or %q", ErrInvalid, stream, StreamMain, StreamSub)
	}
	return nil
}

// streamOf is a segment's stream, "" meaning the main one.
func streamOf(stream string) string {
	if stream == "" {
		return StreamMain
	}
	return stream
}

// StreamName is the segment's stream: Stream, or StreamMain for "".
func (s Segment) StreamName() string { return streamOf(s.Stream) }

// CodecList splits Codecs into its RFC 6381 strings (none for an empty
// value): the first is the video track's.
func (s Segment) CodecList() []string {
	if s.Codecs == "" {
		return []string{}
	}
	return strings.Split(s.Codecs, ",")
}

const (
	// maxPathCollisions bounds the "-N" suffixes tried when segments of one
	// camera start in the same millisecond (a reconnect loop can do that);
	// more than this means something else is wrong with the directory.
	maxPathCollisions = 1000
	// maxPathLen bounds a stored path; ours are about 100 bytes.
	maxPathLen = 1024
	// segmentColumns is the SELECT list matching scanSegment.
	segmentColumns = `id, camera_id, start_ns, end_ns, path, bytes, frames, keyframes, codecs, width, height, state, coalesce(run_id, 0), coalesce(object, ''), stream, node`
)

// SegmentPath returns the relative path for a segment of camera's main
// stream starting at t: <camera>/<YYYY>/<MM>/<DD>/<HH-MM-SS.mmm>.mp4 in UTC.
// CreateSegment makes it unique by adding "-1", "-2", … before ".mp4" when
// two segments of a camera start in the same millisecond.
func SegmentPath(camera string, t time.Time) string {
	return StreamSegmentPath(camera, StreamMain, t)
}

// StreamSegmentPath is SegmentPath for a stream of the camera: the main
// stream's files are <camera>/<YYYY>/…, the sub stream's
// <camera>/sub/<YYYY>/…, so the two never share a name ("sub" is no year).
func StreamSegmentPath(camera, stream string, t time.Time) string {
	dir := camera + "/"
	if stream == StreamSub {
		dir += StreamSub + "/"
	}
	return dir + t.UTC().Format("2006/01/02/15-04-05.000") + ".mp4"
}

// withSuffix returns p with "-n" inserted before ".mp4" (n > 0).
func withSuffix(p string, n int) string {
	if n == 0 {
		return p
	}
	return fmt.Sprintf("%s-%d.mp4", strings.TrimSuffix(p, ".mp4"), n)
}

// checkRelPath rejects a stored path that is not a clean relative path
// inside the recordings dir: absolute, "..", ".", empty elements, NUL or
// backslash (RELIABILITY S1). os.Root is the second line of defence.
func checkRelPath(p string) error {
	if p == "" || len(p) > maxPathLen || strings.ContainsAny(p, "\x00\\") || strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w: %q", ErrUnsafePath, p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("%w: %q", ErrUnsafePath, p)
		}
	}
	if !fs.ValidPath(p) {
		return fmt.Errorf("%w: %q", ErrUnsafePath, p)
	}
	return nil
}

// checkTimes validates a segment's time range.
func checkTimes(startNS, endNS int64) error {
	if endNS < startNS {
		return fmt.Errorf("%w: segment ends (%d) before it starts (%d)", ErrInvalid, endNS, startNS)
	}
	if endNS-startNS > int64(MaxSegmentDuration) || endNS-startNS < 0 {
		return fmt.Errorf("%w: segment longer than %v", ErrInvalid, MaxSegmentDuration)
	}
	return nil
}

// mkdirAllSynced creates dir (relative to the root) and its parents,
// fsyncing each parent that gained an entry, so the new directories survive
// a power cut together with the file later synced inside them.
func (s *Store) mkdirAllSynced(dir string) error {
	parts := strings.Split(dir, "/")
	for i := range parts {
		d := strings.Join(parts[:i+1], "/")
		err := s.root.Mkdir(filepath.FromSlash(d), 0o750)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("storage: create %s: %w", d, err)
		}
		parent := "."
		if i > 0 {
			parent = filepath.FromSlash(strings.Join(parts[:i], "/"))
		}
		if err := s.dirSync(s.root, parent); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
	}
	return nil
}

// CreateSegment starts a segment: it creates the parent directories, inserts
// the row in state recording (creating the camera row if needed), then
// creates the file with O_EXCL and returns the handle that writes, syncs
// and finishes it (SegmentFile). seg.Path may be empty (SegmentPath is
// used); seg.EndNS may be zero (it starts equal to StartNS); seg.Lease, when
// set, goes with every write of the row.
func (s *Store) CreateSegment(ctx context.Context, seg Segment) (*SegmentFile, error) {
	if err := ValidCameraID(seg.Camera); err != nil {
		return nil, err
	}
	seg.Stream = streamOf(seg.Stream)
	if err := ValidStream(seg.Stream); err != nil {
		return nil, err
	}
	if seg.EndNS == 0 {
		seg.EndNS = seg.StartNS
	}
	if err := checkTimes(seg.StartNS, seg.EndNS); err != nil {
		return nil, err
	}
	base := seg.Path
	if base == "" {
		base = StreamSegmentPath(seg.Camera, seg.Stream, time.Unix(0, seg.StartNS))
	}
	if err := checkRelPath(base); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(base, seg.Camera+"/") || !strings.HasSuffix(base, ".mp4") {
		return nil, fmt.Errorf("%w: %q is not <camera>/…/*.mp4", ErrUnsafePath, base)
	}
	if err := s.mkdirAllSynced(path.Dir(base)); err != nil {
		return nil, err
	}
	for n := 0; n < maxPathCollisions; n++ {
		p := withSuffix(base, n)
		id, err := s.insertSegment(ctx, seg, p, StateRecording)
		if errors.Is(err, errPathTaken) {
			continue
		}
		if err != nil {
			return nil, err
		}
		f, err := s.root.OpenFile(filepath.FromSlash(p), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
		if err == nil {
			seg.ID, seg.Path = id, p
			return &SegmentFile{s: s, f: f, row: seg}, nil
		}
		// The row goes again: a file without a row would be adopted by
		// recovery, a row without a file is dropped by it; neither is wanted.
		if _, derr := s.w.ExecContext(context.WithoutCancel(ctx), s.q(`DELETE FROM segments WHERE id = ?`), id); derr != nil {
			return nil, fmt.Errorf("storage: create segment %s: %w (and removing its row: %v)", p, err, derr)
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("storage: create segment %s: %w", p, err)
		}
	}
	return nil, fmt.Errorf("storage: create segment %s: %d names taken", base, maxPathCollisions)
}

var errPathTaken = errors.New("path taken")

// insertSegment inserts a row at path p in one BEGIN IMMEDIATE transaction,
// creating the camera row if missing. It returns errPathTaken if a row
// already has that path.
func (s *Store) insertSegment(ctx context.Context, seg Segment, p, state string) (int64, error) {
	var id int64
	err := s.inTx(ctx, "insert segment", func(ctx context.Context, tx *sql.Tx) error {
		if err := s.checkLease(ctx, tx, seg.Camera, seg.Lease); err != nil {
			return err
		}
		var one int
		err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM segments WHERE path = ?`), p).Scan(&one)
		if err == nil {
			return errPathTaken
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("storage: insert segment: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO cameras (id, name, created_ns) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`),
			seg.Camera, seg.Camera, s.now().UnixNano()); err != nil {
			return fmt.Errorf("storage: insert segment: camera %s: %w", seg.Camera, err)
		}
		if err := tx.QueryRowContext(ctx, s.idx.nextSegmentID()).Scan(&id); err != nil {
			return fmt.Errorf("storage: insert segment: next id: %w", err)
		}
		seg.ID, seg.Path, seg.State, seg.Object = id, p, state, ""
		if err := s.insertRow(ctx, tx, seg); err != nil {
			if s.idx.isPathTaken(err) {
				// PostgreSQL: another writer took the path since the check.
				return errPathTaken
			}
			if s.idx.isConstraint(err) {
				return fmt.Errorf("%w: segment %s: %v", ErrInvalid, p, err)
			}
			return fmt.Errorf("storage: insert segment %s: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// insertRow inserts seg as the row it describes (its ID, Path, State and
// Object included), as this store's node's, inside tx.
func (s *Store) insertRow(ctx context.Context, tx *sql.Tx, seg Segment) error {
	var runID, object any
	if seg.RunID != 0 {
		runID = seg.RunID
	}
	if seg.Object != "" {
		object = seg.Object
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO segments
		(camera_id, start_ns, id, end_ns, run_id, path, bytes, frames, keyframes, codecs, width, height, state, node, stream, object)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		seg.Camera, seg.StartNS, seg.ID, seg.EndNS, runID, seg.Path, seg.Bytes, seg.Frames, seg.Keyframes, seg.Codecs,
		seg.Width, seg.Height, seg.State, s.node, streamOf(seg.Stream), object)
	return err
}

// UpdateSegment records the progress of a segment being written: EndNS,
// Bytes, Frames, Keyframes (and Codecs, Width, Height when set), so listings
// show the segment growing. Only a row in state recording is updated
// (ErrNotFound otherwise).
func (s *Store) UpdateSegment(ctx context.Context, seg Segment) error {
	return s.inTx(ctx, fmt.Sprintf("update segment %d", seg.ID), func(ctx context.Context, tx *sql.Tx) error {
		if err := s.checkLease(ctx, tx, seg.Camera, seg.Lease); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE segments SET end_ns = ?, bytes = ?, frames = ?, keyframes = ?,
			codecs = coalesce(nullif(?, ''), codecs), width = coalesce(nullif(?, 0), width), height = coalesce(nullif(?, 0), height)
			WHERE id = ? AND state = 'recording'`),
			seg.EndNS, seg.Bytes, seg.Frames, seg.Keyframes, seg.Codecs, seg.Width, seg.Height, seg.ID)
		if err != nil {
			if s.idx.isConstraint(err) {
				return fmt.Errorf("%w: update segment %d: %v", ErrInvalid, seg.ID, err)
			}
			return fmt.Errorf("storage: update segment %d: %w", seg.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("storage: update segment %d: %w", seg.ID, err)
		} else if n == 0 {
			return fmt.Errorf("%w: no recording segment %d", ErrNotFound, seg.ID)
		}
		return nil
	})
}

// dropRecording removes the recording row id and its file: a segment that
// ended with no frame is useless (SegmentFile.Finish).
func (s *Store) dropRecording(ctx context.Context, id int64) error {
	row, err := s.segment(ctx, s.w, id)
	if err != nil {
		return err
	}
	if row.State != StateRecording {
		return fmt.Errorf("%w: segment %d is %s, not recording", ErrNotFound, id, row.State)
	}
	return s.deleteSegments(ctx, []Segment{row})
}

// completeSegment commits the recording row seg.ID as complete, with size
// bytes (synced by the caller) and the sample index idx (nil for none), in
// one transaction that checks seg's lease.
func (s *Store) completeSegment(ctx context.Context, seg Segment, size int64, idx []byte) error {
	return s.inTx(ctx, fmt.Sprintf("finish segment %d", seg.ID), func(ctx context.Context, tx *sql.Tx) error {
		if err := s.checkLease(ctx, tx, seg.Camera, seg.Lease); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE segments SET state = 'complete', end_ns = ?, bytes = ?, frames = ?, keyframes = ?,
			codecs = coalesce(nullif(?, ''), codecs), width = coalesce(nullif(?, 0), width), height = coalesce(nullif(?, 0), height)
			WHERE id = ? AND state = 'recording'`),
			seg.EndNS, size, seg.Frames, seg.Keyframes, seg.Codecs, seg.Width, seg.Height, seg.ID)
		if err != nil {
			if s.idx.isConstraint(err) {
				return fmt.Errorf("%w: finish segment %d: %v", ErrInvalid, seg.ID, err)
			}
			return fmt.Errorf("storage: finish segment %d: %w", seg.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("storage: finish segment %d: %w", seg.ID, err)
		} else if n == 0 {
			return fmt.Errorf("%w: no recording segment %d", ErrNotFound, seg.ID)
		}
		if idx != nil {
			if _, err := tx.ExecContext(ctx, s.q(putSamples), seg.ID, idx); err != nil {
				return fmt.Errorf("storage: finish segment %d: sample index: %w", seg.ID, err)
			}
		}
		return nil
	})
}

// Segment returns the segment with this id (ErrNotFound if there is none or
// it is being deleted).
func (s *Store) Segment(ctx context.Context, id int64) (Segment, error) {
	seg, err := s.segment(ctx, s.r, id)
	if err != nil {
		return Segment{}, err
	}
	if seg.State == StateDeleting {
		return Segment{}, fmt.Errorf("%w: segment %d", ErrNotFound, id)
	}
	return seg, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) segment(ctx context.Context, q queryer, id int64) (Segment, error) {
	seg, err := scanSegment(q.QueryRowContext(ctx, s.q(`SELECT `+segmentColumns+` FROM segments WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Segment{}, fmt.Errorf("%w: segment %d", ErrNotFound, id)
	}
	if err != nil {
		return Segment{}, fmt.Errorf("storage: segment %d: %w", id, err)
	}
	return seg, nil
}

type scanner interface{ Scan(dest ...any) error }

// scanPlus is a scanner whose rows have more columns after
// segmentColumns, read into extra.
type scanPlus struct {
	r     scanner
	extra []any
}

func (p scanPlus) Scan(dest ...any) error { return p.r.Scan(append(dest, p.extra...)...) }

func scanSegment(r scanner) (Segment, error) {
	var s Segment
	err := r.Scan(&s.ID, &s.Camera, &s.StartNS, &s.EndNS, &s.Path, &s.Bytes, &s.Frames, &s.Keyframes,
		&s.Codecs, &s.Width, &s.Height, &s.State, &s.RunID, &s.Object, &s.Stream, &s.Node)
	return s, err
}

// OpenSegmentFile opens a segment's file for reading. The path comes from
// the row and is opened through an os.Root at the recordings dir, so a path
// with "..", an absolute path or a symlink pointing outside cannot reach
// other files (ErrUnsafePath); only regular files are opened.
func (s *Store) OpenSegmentFile(seg Segment) (*os.File, error) {
	// Lstat first: the final element must be a regular file, not a symlink
	// and not a FIFO (opening which would block).
	if err := s.checkLocalFile(seg); err != nil {
		return nil, err
	}
	f, err := s.root.Open(filepath.FromSlash(seg.Path))
	if err != nil {
		return nil, rootErr(seg.Path, err)
	}
	return f, nil
}

// CheckSegmentFile reports whether a segment's file is there, as
// OpenSegmentFile would find it (a regular file inside the recordings
// dir), without opening it. A segment on another node's disk is not
// checked: a read from that node fails if it is gone.
func (s *Store) CheckSegmentFile(seg Segment) error {
	if s.onOtherNode(seg) {
		return nil
	}
	return s.checkLocalFile(seg)
}

// checkLocalFile is CheckSegmentFile for a file in this data dir.
func (s *Store) checkLocalFile(seg Segment) error {
	if err := checkRelPath(seg.Path); err != nil {
		return err
	}
	fi, err := s.root.Lstat(filepath.FromSlash(seg.Path))
	if err != nil {
		return rootErr(seg.Path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrUnsafePath, seg.Path)
	}
	return nil
}

// rootErr classifies an os.Root error: missing files are ErrNotFound, an
// escape attempt is ErrUnsafePath.
func rootErr(p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: segment file %s", ErrNotFound, p)
	case strings.Contains(err.Error(), "escapes"):
		return fmt.Errorf("%w: %s", ErrUnsafePath, p)
	}
	return fmt.Errorf("storage: open segment file %s: %w", p, err)
}
