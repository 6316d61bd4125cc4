package recorder

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
)

// powerCutStore checks, at every row write, what a power cut right after
// that write would leave: only the bytes of the segment's file as of its
// last fsync survive (RELIABILITY F10). The row must not claim more bytes
// or frames than those durable bytes hold.
type powerCutStore struct {
	*fakeStore
	t       *testing.T
	mu      sync.Mutex
	durable map[string][]byte // file name -> content at its last fsync
	checked int
}

// sync snapshots the file as fsync makes it durable.
func (p *powerCutStore) sync(f *os.File) error {
	if err := f.Sync(); err != nil {
		return err
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.durable[f.Name()] = b
	p.mu.Unlock()
	return nil
}

func (p *powerCutStore) check(how string, seg storage.Segment) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checked++
	d := p.durable[p.path(seg.ID)]
	if seg.Bytes > int64(len(d)) {
		p.t.Errorf("%s of segment %d claims %d bytes, only %d were fsynced", how, seg.ID, seg.Bytes, len(d))
		return
	}
	info, err := fakeScan(bytes.NewReader(d[:seg.Bytes]), seg.Bytes)
	if err != nil {
		p.t.Errorf("%s of segment %d: durable prefix unreadable: %v", how, seg.ID, err)
		return
	}
	if info.ValidSize != seg.Bytes || int64(len(info.Samples)) != seg.Frames {
		t := fmt.Sprintf("valid %d of %d bytes, %d frames", info.ValidSize, seg.Bytes, len(info.Samples))
		p.t.Errorf("%s of segment %d claims %d frames; its durable bytes hold %s", how, seg.ID, seg.Frames, t)
	}
}

// TestRowsNeverAheadOfSyncedData (RELIABILITY F10, power-cut): over a
// recording with periodic syncs, segment changes and a final close, every
// row update and every finish describes only bytes and frames that were
// fsynced before it, so a power cut at any row write leaves each row's file
// at least at the row's size with exactly its frames (recovery then cuts any
// tail, storage/recover_test.go). Call order alone (TestPeriodicSync) does
// not show this.
func TestRowsNeverAheadOfSyncedData(t *testing.T) {
	env := newTestEnv(t, Config{SegmentDuration: 3 * time.Second, FsyncInterval: time.Second}, nil)
	pc := &powerCutStore{fakeStore: env.store, t: t, durable: map[string][]byte{}}
	env.store.check, env.store.sync = pc.check, pc.sync
	s := newSegmenter(env.job.segmenterDeps())
	c := loadClip(t, testcam.ClipMain720) // 4 s, GOP 2 s
	n, _ := feedClip(t, s, c, 3, 0, t0)
	if err := s.endRun(); err != nil {
		t.Fatal(err)
	}
	checkSegments(t, env, n)
	rows := env.store.segments()
	if len(rows) < 3 || pc.checked < len(rows)+6 {
		t.Fatalf("%d segments, %d row writes checked: the test exercised too little", len(rows), pc.checked)
	}
}
