package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
)

// ErrSync marks a failed fsync of a segment file or its directory
// (RELIABILITY F7). After one, the handle refuses to sync again: Linux may
// already have dropped the dirty pages and reports the error once only, so
// a second fsync would prove nothing (PostgreSQL's "fsyncgate"). The row
// stays recording with the progress of the last good sync, and the next
// start's Recover finalises it from what reached the disk.
var ErrSync = errors.New("storage: fsync failed")

// SegmentFile is a segment being recorded: its file, open for writing, and
// its row in state recording. It is the one owner of the segment's
// durability steps, each performed once, in the order docs/storage.md
// gives: the file is synced at each Sync; its directory entry with the
// first sync; Update and Finish write only bytes that a sync has covered.
// The writer decides when to sync and when to cut back; the handle does it.
//
// A SegmentFile is used by one goroutine at a time (a camera's writer).
type SegmentFile struct {
	s   *Store
	f   *os.File
	row Segment // as inserted: ID, camera, path, lease

	written   int64 // bytes written
	good      int64 // end of the last complete Write
	synced    int64 // bytes covered by the last good fsync
	dirSynced bool  // the file's directory entry is durable
	failed    bool  // an fsync failed: no sync is tried again
	closed    bool
}

// ID is the segment's row id.
func (h *SegmentFile) ID() int64 { return h.row.ID }

// Path is the segment's path relative to the recordings dir.
func (h *SegmentFile) Path() string { return h.row.Path }

// Write appends p. A segment writer writes each fragment in one call, so
// the end of the last call that returned no error (Written) is the end of
// the last complete fragment; CutBack goes back there after a failed one
// (RELIABILITY F5).
func (h *SegmentFile) Write(p []byte) (int, error) {
	n, err := h.f.Write(p)
	h.written += int64(n)
	if err == nil {
		h.good = h.written
	}
	return n, err
}

// ReadAt reads what was written, for a writer that scans its own file
// after a failed write.
func (h *SegmentFile) ReadAt(p []byte, off int64) (int, error) { return h.f.ReadAt(p, off) }

// Written is the end of the last complete Write.
func (h *SegmentFile) Written() int64 { return h.good }

// Synced is how many bytes the last good sync covered: what a row may
// claim.
func (h *SegmentFile) Synced() int64 { return h.synced }

// Sync makes everything written durable: the file's data, and with the
// first sync its directory entry (the parents were synced when they were
// made). A sync with nothing new written does nothing. An error wraps
// ErrSync; after one, every later Sync fails at once.
func (h *SegmentFile) Sync() error {
	switch {
	case h.failed:
		return fmt.Errorf("%w: %s: an earlier fsync failed", ErrSync, h.row.Path)
	case h.closed:
		return fmt.Errorf("storage: sync %s: closed", h.row.Path)
	}
	if h.synced != h.written {
		if err := h.s.fsync(h.f); err != nil {
			h.failed = true
			return fmt.Errorf("%w: %s: %w", ErrSync, h.row.Path, err)
		}
		h.synced = h.written
	}
	if !h.dirSynced {
		if err := h.s.dirSync(h.s.root, filepath.FromSlash(path.Dir(h.row.Path))); err != nil {
			h.failed = true
			return fmt.Errorf("%w: directory of %s: %w", ErrSync, h.row.Path, err)
		}
		h.dirSynced = true
	}
	return nil
}

// CutBack shortens the file to n bytes (at most Written): after a failed
// write, to the last complete fragment. It does not sync.
func (h *SegmentFile) CutBack(n int64) error {
	if n < 0 || n > h.good {
		return fmt.Errorf("storage: cut %s back to %d bytes: only %d written", h.row.Path, n, h.good)
	}
	if err := cutBack(h.f, n); err != nil {
		return fmt.Errorf("storage: %s: %w", h.row.Path, err)
	}
	h.written, h.good = n, n
	h.synced = min(h.synced, n)
	return nil
}

// cutBack truncates f to n bytes: the one place a segment file is cut
// back to its last complete fragment, by a writer after a failed write and
// by recovery after a crash.
func cutBack(f *os.File, n int64) error {
	if err := f.Truncate(n); err != nil {
		return fmt.Errorf("cut back to %d bytes: %w", n, err)
	}
	if _, err := f.Seek(n, 0); err != nil {
		return fmt.Errorf("cut back to %d bytes: %w", n, err)
	}
	return nil
}

// Update records the progress of the segment: seg's EndNS, Frames and
// Keyframes (and Codecs, Width, Height when set), with Bytes the synced
// size, so the row never claims bytes a power cut could take. Sync first.
func (h *SegmentFile) Update(ctx context.Context, seg Segment) error {
	seg.ID, seg.Camera, seg.Lease = h.row.ID, h.row.Camera, h.row.Lease
	seg.Bytes = h.synced
	return h.s.UpdateSegment(ctx, seg)
}

// Finish ends the segment: it syncs what no sync has covered yet (nothing,
// for a writer that synced last), closes the file, and commits the row as
// complete with seg's EndNS, Frames and Keyframes (and Codecs, Width,
// Height when set), Bytes the synced size, and the segment's sample index.
// A segment with no frames is removed with its file instead. After a sync
// error (ErrSync) the row stays recording, for recovery; do not retry.
func (h *SegmentFile) Finish(ctx context.Context, seg Segment) error {
	seg.ID, seg.Camera, seg.Lease = h.row.ID, h.row.Camera, h.row.Lease
	if h.closed {
		return fmt.Errorf("%w: segment %d is no longer open", ErrNotFound, seg.ID)
	}
	if seg.Frames == 0 {
		cerr := h.Abandon()
		if err := h.s.dropRecording(ctx, h.row.ID); err != nil {
			return err
		}
		return cerr
	}
	if err := h.Sync(); err != nil {
		h.Abandon()
		return fmt.Errorf("storage: finish segment %d: %w", seg.ID, err)
	}
	size := h.synced
	// The sample index commits with the row: a complete row has one from
	// the start (or none at all, and exports read its file).
	idx := sampleIndexOf(h.f, size)
	if h.s.objects == nil {
		// With a bucket the uploader reads the file next, then removes it.
		dropCache(h.f, size)
	}
	if err := h.Abandon(); err != nil {
		return fmt.Errorf("storage: finish segment %d: %w", seg.ID, err)
	}
	return h.s.completeSegment(ctx, seg, size, idx)
}

// Abandon closes the file and leaves the row as the last Update wrote it
// (state recording): after an fsync error, or when recording stops without
// Finish. Recovery finalises such a row at the next start.
func (h *SegmentFile) Abandon() error {
	if h.closed {
		return nil
	}
	h.closed = true
	if err := h.f.Close(); err != nil {
		return fmt.Errorf("storage: close %s: %w", h.row.Path, err)
	}
	return nil
}
