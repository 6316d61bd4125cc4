package footage

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
)

// noIndexStore hides the stored sample indexes and counts the ones put
// back, as for segments indexed before sample indexes existed.
type noIndexStore struct {
	*storage.Store
	puts atomic.Int32
}

func (s *noIndexStore) StreamSampleIndexes(ctx context.Context, camera, stream string, startNS, endNS int64) (map[int64][]byte, error) {
	return nil, nil
}

func (s *noIndexStore) PutSampleIndex(ctx context.Context, id int64, idx []byte) error {
	s.puts.Add(1)
	return s.Store.PutSampleIndex(ctx, id, idx)
}

func readAll(t *testing.T, c *ClipFiles) []byte {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	if err != nil || int64(len(b)) != c.Size() {
		t.Fatalf("read %d of %d bytes: %v", len(b), c.Size(), err)
	}
	return b
}

// TestPlanFromIndex: complete segments are planned from their stored
// sample index, not by reading their files (a file whose header no longer
// scans still gives the same clip, whose samples come from the file); one
// without a stored index is planned from its file, which gives the same
// clip, and gets its index stored.
func TestPlanFromIndex(t *testing.T) {
	ctx := context.Background()
	st, clip := storeAndClip(t, testcam.ClipHigh360BFrame)
	a := recordSegment(t, st, clip, t0, 0, 100, true)
	b := recordSegment(t, st, clip, t0.Add(4*time.Second), 0, 100, true)

	hidden := &noIndexStore{Store: st}
	fromFiles, err := New(hidden, nil).Plan(ctx, "cam", a.StartNS, b.EndNS, true)
	if err != nil {
		t.Fatal(err)
	}
	defer fromFiles.Close()
	want := readAll(t, fromFiles)
	if hidden.puts.Load() != 2 {
		t.Errorf("%d sample indexes put back, want 2", hidden.puts.Load())
	}

	// Break the moov of a's file: Scan would refuse it now.
	path := filepath.Join(st.RecordingsDir(), filepath.FromSlash(a.Path))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xee}, 64), 32); err != nil {
		t.Fatal(err)
	}
	f.Close()

	c, err := New(st, nil).Plan(ctx, "cam", a.StartNS, b.EndNS, true)
	if err != nil {
		t.Fatalf("planning from the index read the file: %v", err)
	}
	defer c.Close()
	if c.ETag() != fromFiles.ETag() || c.Size() != fromFiles.Size() {
		t.Fatalf("plan from the index: ETag %s, %d bytes; from the files %s, %d", c.ETag(), c.Size(), fromFiles.ETag(), fromFiles.Size())
	}
	if got := readAll(t, c); !bytes.Equal(got, want) {
		t.Errorf("clip planned from the index holds other bytes than the one planned from the files")
	}
}

// TestPlanCache: a clip asked for again while its rows are unchanged reuses
// the cached plan (same header in memory, same ETag); a segment growing or
// a new one in the range makes a new plan.
func TestPlanCache(t *testing.T) {
	ctx := context.Background()
	st, clip := storeAndClip(t, testcam.ClipMain720)
	a := recordSegment(t, st, clip, t0, 0, 50, true)
	live := recordSegment(t, st, clip, t0.Add(2*time.Second), 50, 75, false)
	e := New(st, nil)
	end := t0.Add(time.Minute).UnixNano()
	first, err := e.Plan(ctx, "cam", a.StartNS, end, false)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	again, err := e.Plan(ctx, "cam", a.StartNS, end, false)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Clip != first.Clip {
		t.Errorf("the same clip asked twice was planned twice")
	}
	other, err := e.Plan(ctx, "cam", a.StartNS, end, true)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.Clip == first.Clip || other.ETag() == first.ETag() {
		t.Errorf("a clip with timestamps reused the plan without")
	}

	// The recording segment is synced further.
	live.Bytes++
	if err := st.UpdateSegment(ctx, live); err != nil {
		t.Fatal(err)
	}
	grown, err := e.Plan(ctx, "cam", a.StartNS, end, false)
	if err != nil {
		t.Fatal(err)
	}
	defer grown.Close()
	if grown.Clip == first.Clip {
		t.Errorf("a changed row did not make a new plan")
	}
	// A plan's readers each have their own files.
	if !bytes.Equal(readAll(t, first), readAll(t, again)) {
		t.Errorf("two readers of one plan read different bytes")
	}
}

// TestClipOpensFewFiles: a clip over many segments opens their files as it
// reads them and keeps at most maxOpenFiles open.
func TestClipOpensFewFiles(t *testing.T) {
	ctx := context.Background()
	st, clip := storeAndClip(t, testcam.ClipBase240)
	at := t0
	for range 3 * maxOpenFiles {
		recordSegment(t, st, clip, at, 0, 25, true)
		at = at.Add(time.Second)
	}
	c, err := New(st, nil).Plan(ctx, "cam", t0.UnixNano(), at.UnixNano(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.segs) != 3*maxOpenFiles || len(c.files) != 0 {
		t.Fatalf("%d segments, %d files open before reading", len(c.segs), len(c.files))
	}
	readAll(t, c)
	if len(c.files) > maxOpenFiles {
		t.Errorf("%d files open after reading, want at most %d", len(c.files), maxOpenFiles)
	}
	if err := c.Close(); err != nil || len(c.files) != 0 {
		t.Errorf("close: %v, %d files left open", err, len(c.files))
	}
}
