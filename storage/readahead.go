package storage

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// readAheadBlock is how much a remote segment reader fetches at once for
// a small read. Exports and downloads read a segment front to back in
// pieces of a few tens of KB; from a bucket or another node each piece
// would be a request of its own, with its round trip. One block is a few
// hundred milliseconds of a 4 Mbit/s stream at most and a handful of
// requests per segment; at most a block stays in memory per open reader
// (an export keeps four open).
const readAheadBlock = 1 << 20

// readAhead serves small reads of a remote segment from the last block
// fetched. Reads of half a block or more go straight through.
type readAhead struct {
	r SegmentReader

	mu  sync.Mutex
	off int64  // where buf starts in the segment
	buf []byte // the last block read (nil: none)
}

func newReadAhead(r SegmentReader) *readAhead { return &readAhead{r: r} }

func (ra *readAhead) Size() int64  { return ra.r.Size() }
func (ra *readAhead) Close() error { return ra.r.Close() }

func (ra *readAhead) ReadAt(p []byte, off int64) (int, error) {
	if len(p) >= readAheadBlock/2 {
		return ra.r.ReadAt(p, off)
	}
	size := ra.r.Size()
	if off < 0 {
		return 0, fmt.Errorf("storage: read at %d: negative offset", off)
	}
	if off >= size {
		return 0, io.EOF
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	end := min(off+int64(len(p)), size)
	if ra.buf == nil || off < ra.off || end > ra.off+int64(len(ra.buf)) {
		n := min(int64(readAheadBlock), size-off)
		if cap(ra.buf) < readAheadBlock {
			ra.buf = make([]byte, readAheadBlock)
		}
		b := ra.buf[:n]
		m, err := ra.r.ReadAt(b, off)
		if err != nil && !(errors.Is(err, io.EOF) && int64(m) == n) {
			ra.buf = ra.buf[:0]
			ra.off = 0
			return 0, err
		}
		ra.off, ra.buf = off, b[:m]
	}
	n := copy(p, ra.buf[off-ra.off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
