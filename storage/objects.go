package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/nvr-project/nvr/storage/objstore"
)

// Upload steps, named for Store.uploadStep (crash tests).
const (
	stepUploaded = "uploaded" // the object is in the bucket, the row still local
	stepRow      = "row"      // the row points at the object, the file still there
)

// ErrNoObjectStore: the Store has no bucket configured.
var ErrNoObjectStore = errors.New("storage: no object store configured")

// Backlog is what waits for the bucket: complete segments still only on
// the local disk.
type Backlog struct {
	Segments int64
	Bytes    int64
}

// ErrUploadSegment marks an upload that failed for a reason of the segment
// itself — its local file cannot be read, or the bucket already holds other
// bytes at its key — and not of the bucket: other segments can still be
// uploaded, and retrying this one soon would fail the same way.
var ErrUploadSegment = errors.New("storage: this segment cannot be uploaded")

// UploadBacklog counts this node's complete segments not uploaded yet.
func (s *Store) UploadBacklog(ctx context.Context) (Backlog, error) {
	var b Backlog
	err := s.r.QueryRowContext(ctx, s.q(`SELECT count(*), coalesce(sum(bytes), 0) FROM segments WHERE object IS NULL AND state = 'complete' AND node = ?`), s.node).Scan(&b.Segments, &b.Bytes)
	if err != nil {
		return b, fmt.Errorf("storage: upload backlog: %w", err)
	}
	return b, nil
}

// UploadQueue returns up to max of this node's complete local segments,
// oldest first, passing over the ids in skip. Another node's segments are on its disk, not this one's: each
// node uploads its own.
func (s *Store) UploadQueue(ctx context.Context, max int, skip map[int64]bool) ([]Segment, error) {
	if s.objects == nil {
		return nil, ErrNoObjectStore
	}
	segs, err := s.querySegments(ctx, `SELECT `+segmentColumns+` FROM segments
		WHERE object IS NULL AND state = 'complete' AND node = ? ORDER BY start_ns LIMIT ?`, s.node, max+len(skip))
	if err != nil {
		return nil, err
	}
	out := segs[:0]
	for _, seg := range segs {
		if skip[seg.ID] {
			continue
		}
		if len(out) == max {
			break
		}
		out = append(out, seg)
	}
	return out, nil
}

// UploadPending uploads up to max complete local segments, oldest first,
// and returns how many it moved to the bucket. It stops at the first
// failure (a bucket outage): the segments stay on the local disk, where
// retention keeps its limits, and the next call carries on. The fleet's
// uploader uses UploadQueue and Upload instead, to pass over a segment
// that fails on its own (ErrUploadSegment).
func (s *Store) UploadPending(ctx context.Context, max int) (int, error) {
	segs, err := s.UploadQueue(ctx, max, nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, seg := range segs {
		if err := s.Upload(ctx, seg); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Upload moves one complete segment to the bucket, in the order that makes
// a crash at any point safe (docs/storage.md, "Object storage"):
//  1. put the object, verified (Content-MD5, then size and SHA-256 read
//     back), never over an existing object; an object left by an earlier,
//     interrupted attempt with the same bytes is taken as uploaded;
//  2. point the row at the object in one commit (only a complete, still
//     local row);
//  3. remove the local file and sync its directory. A crash before it
//     leaves a file whose row points at the object: Recover removes it.
//
// A failure of the segment's own (its local file; an object with other
// bytes at its key) wraps ErrUploadSegment.
func (s *Store) Upload(ctx context.Context, seg Segment) error {
	if s.objects == nil {
		return ErrNoObjectStore
	}
	f, err := s.OpenSegmentFile(seg)
	if err != nil {
		return fmt.Errorf("storage: upload segment %d: %w: %w", seg.ID, ErrUploadSegment, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("storage: upload segment %d: %w: %w", seg.ID, ErrUploadSegment, err)
	}
	size := fi.Size()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return fmt.Errorf("storage: upload segment %d: hash: %w: %w", seg.ID, ErrUploadSegment, err)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	key := s.objects.Key(seg.Path)
	if err := s.objects.Put(ctx, key, io.NewSectionReader(f, 0, size), size, sum); err != nil {
		if errors.Is(err, objstore.ErrExists) {
			err = fmt.Errorf("%w: %w", ErrUploadSegment, err)
		}
		return fmt.Errorf("storage: upload segment %d: %w", seg.ID, err)
	}
	if err := s.step(stepUploaded); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE segments SET object = ?, bytes = ? WHERE id = ? AND object IS NULL AND state = 'complete'`), key, size, seg.ID)
	if err != nil {
		return fmt.Errorf("storage: upload segment %d: row: %w", seg.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("storage: upload segment %d: row: %w", seg.ID, err)
	} else if n == 0 {
		// Deleted (retention) meanwhile, before its row knew of the
		// object: the object is ours alone, remove it.
		if err := s.objects.Delete(context.WithoutCancel(ctx), key); err != nil {
			return fmt.Errorf("storage: upload segment %d: deleted meanwhile: %w", seg.ID, err)
		}
		return nil
	}
	if err := s.step(stepRow); err != nil {
		return err
	}
	f.Close()
	return s.removeLocalCopy(seg.Path)
}

func (s *Store) step(name string) error {
	if s.uploadStep == nil {
		return nil
	}
	return s.uploadStep(name)
}

// removeLocalCopy removes the local file of an uploaded segment and syncs
// its directory.
func (s *Store) removeLocalCopy(p string) error {
	removed, err := s.unlink(p)
	if err != nil {
		return fmt.Errorf("storage: remove uploaded local copy: %w", err)
	}
	if removed {
		if err := s.dirSync(s.root, filepath.FromSlash(path.Dir(p))); err != nil {
			return fmt.Errorf("storage: remove uploaded local copy: %w", err)
		}
	}
	return nil
}

// SegmentReader reads a segment's bytes wherever they are: its local file
// or its object (each ReadAt one ranged GET, bounded by
// objstore.OpTimeout).
type SegmentReader interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// ErrOtherNode says a segment is on another node's disk and cannot be
// read from here: that node is not running, has no advertise_url, or this
// store has no Options.Peer.
var ErrOtherNode = errors.New("storage: segment on another node's disk")

// OpenSegment opens seg for reading from the local disk, the bucket, or
// (a segment not uploaded yet, recorded by another node of a shared
// index) that node's API. ctx bounds the reads made through the reader
// from the bucket or the other node. A segment another node is still
// recording reads up to its row's bytes: what that node has synced.
func (s *Store) OpenSegment(ctx context.Context, seg Segment) (SegmentReader, error) {
	if s.onOtherNode(seg) {
		return s.openOnPeer(ctx, seg)
	}
	if seg.Object == "" {
		f, err := s.OpenSegmentFile(seg)
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("storage: stat segment %d: %w", seg.ID, err)
		}
		return localReader{f, fi.Size()}, nil
	}
	if s.objects == nil {
		return nil, fmt.Errorf("%w: segment %d is in a bucket", ErrNoObjectStore, seg.ID)
	}
	return newReadAhead(&objectReader{ctx: ctx, c: s.objects, key: seg.Object, size: seg.Bytes}), nil
}

// onOtherNode reports whether seg's file is on another node's disk: a
// segment of a shared index, recorded by another node and not uploaded.
func (s *Store) onOtherNode(seg Segment) bool {
	return seg.Object == "" && s.node != "" && seg.Node != "" && seg.Node != s.node
}

// openOnPeer opens seg from the API of the node whose disk holds it.
func (s *Store) openOnPeer(ctx context.Context, seg Segment) (SegmentReader, error) {
	if s.peer == nil {
		return nil, fmt.Errorf("%w: segment %d is on node %s", ErrOtherNode, seg.ID, seg.Node)
	}
	var base string
	err := s.r.QueryRowContext(ctx, s.q(`SELECT url FROM nodes WHERE name = ? AND seen_until > clock_timestamp()`), seg.Node).Scan(&base)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("%w: segment %d is on node %s, which is not running", ErrOtherNode, seg.ID, seg.Node)
	case err != nil:
		return nil, fmt.Errorf("storage: segment %d: node %s: %w", seg.ID, seg.Node, err)
	case base == "":
		return nil, fmt.Errorf("%w: segment %d is on node %s, which has no advertise_url", ErrOtherNode, seg.ID, seg.Node)
	}
	r, err := s.peer(ctx, base, seg)
	if err != nil {
		return nil, err
	}
	return newReadAhead(r), nil
}

type localReader struct {
	*os.File
	size int64
}

func (r localReader) Size() int64 { return r.size }

type objectReader struct {
	ctx  context.Context
	c    *objstore.Client
	key  string
	size int64
}

func (r *objectReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	short := false
	if int64(len(p)) > r.size-off {
		p, short = p[:r.size-off], true
	}
	n, err := r.c.ReadAt(r.ctx, r.key, p, off)
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

func (r *objectReader) Size() int64  { return r.size }
func (r *objectReader) Close() error { return nil }

// deleteObjects removes the objects of the uploaded segments in segs.
func (s *Store) deleteObjects(ctx context.Context, segs []Segment) error {
	var errs []error
	for _, seg := range segs {
		if seg.Object == "" {
			continue
		}
		if s.objects == nil {
			errs = append(errs, fmt.Errorf("%w: segment %d is in a bucket", ErrNoObjectStore, seg.ID))
			continue
		}
		if err := s.objects.Delete(ctx, seg.Object); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
