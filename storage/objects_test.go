package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/clock"
	"github.com/nvr-project/nvr/internal/s3test"
	"github.com/nvr-project/nvr/storage/objstore"
)

// newBucketStore opens a new data dir and index of be with a new bucket.
func newBucketStore(t *testing.T, be Backend) (*Store, Options, string) {
	t.Helper()
	c, _ := s3test.Bucket(t)
	o := be.Options(t)
	o.Clock = clock.NewFake(t0)
	o.Objects = c
	dir := t.TempDir()
	s, err := OpenWithOptions(context.Background(), dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, o, dir
}

// recordRandom is record with random bytes, returning them too.
func recordRandom(t *testing.T, s *Store, startNS int64, n int) (Segment, []byte) {
	t.Helper()
	seg := record(t, s, "cam", startNS, 2*sec, n)
	b := make([]byte, n)
	_, _ = rand.Read(b)
	if err := os.WriteFile(filepath.Join(s.RecordingsDir(), filepath.FromSlash(seg.Path)), b, 0o640); err != nil {
		t.Fatal(err)
	}
	return seg, b
}

// readAll reads seg through OpenSegment in uneven chunks.
func readAll(t *testing.T, s *Store, seg Segment) []byte {
	t.Helper()
	r, err := s.OpenSegment(context.Background(), seg)
	if err != nil {
		t.Fatalf("OpenSegment %d: %v", seg.ID, err)
	}
	defer r.Close()
	got, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		t.Fatalf("read %d: %v", seg.ID, err)
	}
	return got
}

func mustSegment(t *testing.T, s *Store, id int64) Segment {
	t.Helper()
	seg, err := s.Segment(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

func TestUpload(t *testing.T) { EachBackend(t, testUpload) }

// testUpload: finished segments move to the bucket (row, then local file
// gone), read back byte for byte with ranged reads, and their deletion
// removes the object.
func testUpload(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _, _ := newBucketStore(t, be)
	if err := s.EnsureCamera(ctx, "cam", ""); err != nil {
		t.Fatal(err)
	}
	var segs []Segment
	var data [][]byte
	for i := range 3 {
		seg, b := recordRandom(t, s, t0.UnixNano()+int64(i)*2*sec, 100_000+i*7777)
		segs, data = append(segs, seg), append(data, b)
	}
	if b, err := s.UploadBacklog(ctx); err != nil || b.Segments != 3 {
		t.Fatalf("backlog before upload = %+v, %v; want 3 segments", b, err)
	}
	if n, err := s.UploadPending(ctx, 10); err != nil || n != 3 {
		t.Fatalf("UploadPending = %d, %v; want 3", n, err)
	}
	if b, err := s.UploadBacklog(ctx); err != nil || b.Segments != 0 || b.Bytes != 0 {
		t.Fatalf("backlog after upload = %+v, %v", b, err)
	}
	for i, seg := range segs {
		got := mustSegment(t, s, seg.ID)
		if got.Object != s.objects.Key(seg.Path) {
			t.Errorf("segment %d: object %q", seg.ID, got.Object)
		}
		if exists(s, seg.Path) {
			t.Errorf("segment %d: local file still there", seg.ID)
		}
		if b := readAll(t, s, got); !bytes.Equal(b, data[i]) {
			t.Errorf("segment %d: read back %d bytes differing from the %d written", seg.ID, len(b), len(data[i]))
		}
		r, _ := s.OpenSegment(ctx, got)
		p := make([]byte, 100)
		if n, err := r.ReadAt(p, got.Bytes-40); n != 40 || err != io.EOF || !bytes.Equal(p[:40], data[i][len(data[i])-40:]) {
			t.Errorf("ReadAt across the end = %d, %v; want 40, EOF", n, err)
		}
		if n, err := r.ReadAt(p, got.Bytes); n != 0 || err != io.EOF {
			t.Errorf("ReadAt at the end = %d, %v", n, err)
		}
	}
	if err := s.DeleteSegment(ctx, segs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.objects.Stat(ctx, s.objects.Key(segs[0].Path)); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("object of a deleted segment: %v; want ErrNotFound", err)
	}
	checkConsistentCounts(t, s)
}

func TestUploadCrash(t *testing.T) { EachBackend(t, testUploadCrash) }

// testUploadCrash stops an upload after each step, as a crash would, then
// reopens the store: Recover and the next upload finish the job, with one
// object, the row pointing at it and no local copy.
func testUploadCrash(t *testing.T, be Backend) {
	for _, step := range []string{stepUploaded, stepRow} {
		t.Run(step, func(t *testing.T) {
			ctx := context.Background()
			s, o, dir := newBucketStore(t, be)
			if err := s.EnsureCamera(ctx, "cam", ""); err != nil {
				t.Fatal(err)
			}
			seg, data := recordRandom(t, s, t0.UnixNano(), 50_000)
			crash := errors.New("crash")
			s.uploadStep = func(got string) error {
				if got == step {
					return crash
				}
				return nil
			}
			if _, err := s.UploadPending(ctx, 10); !errors.Is(err, crash) {
				t.Fatalf("UploadPending = %v; want the crash", err)
			}
			if !exists(s, seg.Path) {
				t.Fatal("local file gone before the upload finished")
			}
			s.Close()
			s, err := OpenWithOptions(ctx, dir, o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rep, err := s.Recover(ctx, fakeScanner)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]int{stepUploaded: 0, stepRow: 1}[step]; rep.LocalCopiesRemoved != want {
				t.Errorf("Recover removed %d local copies; want %d", rep.LocalCopiesRemoved, want)
			}
			if rep.Indexed != 0 {
				t.Errorf("Recover indexed %d files again", rep.Indexed)
			}
			if _, err := s.UploadPending(ctx, 10); err != nil {
				t.Fatalf("UploadPending after restart: %v", err)
			}
			got := mustSegment(t, s, seg.ID)
			if got.Object == "" || exists(s, seg.Path) {
				t.Fatalf("after recovery: object %q, local file there %v", got.Object, exists(s, seg.Path))
			}
			if b := readAll(t, s, got); !bytes.Equal(b, data) {
				t.Error("object differs from the segment")
			}
			checkConsistentCounts(t, s)
		})
	}
}

// TestUploadNeverOverwrites: an object already at the key with other bytes
// is left alone, the upload fails and the segment stays local.
func TestUploadNeverOverwrites(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newBucketStore(t, Backends[0])
	if err := s.EnsureCamera(ctx, "cam", ""); err != nil {
		t.Fatal(err)
	}
	seg, data := recordRandom(t, s, t0.UnixNano(), 20_000)
	other := bytes.Repeat([]byte("x"), 1000)
	key := s.objects.Key(seg.Path)
	if err := s.objects.Put(ctx, key, bytes.NewReader(other), int64(len(other)), sha256.Sum256(other)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UploadPending(ctx, 10); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("UploadPending = %v; want ErrExists", err)
	}
	if got := mustSegment(t, s, seg.ID); got.Object != "" || !exists(s, seg.Path) {
		t.Fatalf("segment moved: object %q", got.Object)
	}
	if b := readAll(t, s, seg); !bytes.Equal(b, data) {
		t.Error("local file changed")
	}
	st, err := s.objects.Stat(ctx, key)
	if err != nil || st.Size != int64(len(other)) {
		t.Errorf("existing object: %+v, %v; want it untouched", st, err)
	}
	// Put itself refuses too (whichever of its HEAD check and the
	// conditional PUT catches it).
	if err := s.objects.Put(ctx, key, bytes.NewReader(data), int64(len(data)), sha256.Sum256(data)); !errors.Is(err, objstore.ErrExists) {
		t.Errorf("Put over an object = %v; want ErrExists", err)
	}
}

// TestUploadOutage: with the bucket's server stopped uploads fail, the
// segments stay local and count as backlog; once it is back they drain.
func TestUploadOutage(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Shared(t)
	if !srv.Throwaway() {
		t.Skip("needs the server s3test starts (NVR_TEST_S3 is set)")
	}
	s, _, _ := newBucketStore(t, Backends[0])
	if err := s.EnsureCamera(ctx, "cam", ""); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = srv.Start("")
		}
	})
	for i := range 3 {
		recordRandom(t, s, t0.UnixNano()+int64(i)*2*sec, 10_000)
	}
	octx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err := s.UploadPending(octx, 10)
	cancel()
	if err == nil {
		t.Fatal("UploadPending with the server down succeeded")
	}
	if strings.Contains(err.Error(), srv.Secret) {
		t.Errorf("error carries the secret key: %v", err)
	}
	if b, err := s.UploadBacklog(ctx); err != nil || b.Segments != 3 || b.Bytes != 30_000 {
		t.Fatalf("backlog during the outage = %+v, %v; want 3 segments, 30000 bytes", b, err)
	}
	if err := srv.Start(""); err != nil {
		t.Fatal(err)
	}
	restarted = true
	if n, err := s.UploadPending(ctx, 10); err != nil || n != 3 {
		t.Fatalf("UploadPending after the outage = %d, %v; want 3", n, err)
	}
	if b, _ := s.UploadBacklog(ctx); b.Segments != 0 {
		t.Errorf("backlog after the outage = %+v", b)
	}
}

// With a bucket, max_bytes and min_free_bytes are the local disk's: they
// delete only segments still local, never an uploaded one; max_age deletes
// uploaded segments and their objects too.
func TestRetentionWithBucket(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newBucketStore(t, Backends[0])
	if err := s.EnsureCamera(ctx, "cam", ""); err != nil {
		t.Fatal(err)
	}
	var up []Segment
	for i := range 3 {
		seg, _ := recordRandom(t, s, t0.UnixNano()+int64(i)*2*sec, 10_000)
		up = append(up, seg)
	}
	if n, err := s.UploadPending(ctx, 10); err != nil || n != 3 {
		t.Fatalf("UploadPending = %d, %v; want 3", n, err)
	}
	var local []Segment
	for i := range 3 {
		seg, _ := recordRandom(t, s, t0.UnixNano()+int64(3+i)*2*sec, 10_000)
		local = append(local, seg)
	}
	// 60 000 bytes indexed, 30 000 of them local: a 25 000 limit deletes
	// the oldest local segment only.
	rep, err := s.ApplyRetention(ctx, RetentionPolicy{MaxBytes: 25_000}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 1 || len(rep.Unmet) != 0 {
		t.Fatalf("retention report %+v; want one local segment deleted", rep)
	}
	if _, err := s.Segment(ctx, local[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("oldest local segment: %v; want it deleted", err)
	}
	for _, seg := range append(up, local[1:]...) {
		if _, err := s.Segment(ctx, seg.ID); err != nil {
			t.Errorf("segment %d deleted by a byte limit: %v", seg.ID, err)
		}
	}
	// Age: the uploaded segments (the oldest) go, objects included.
	cut := t0.Add(6*time.Second + time.Hour)
	rep, err = s.ApplyRetention(ctx, RetentionPolicy{MaxAge: time.Hour}, cut)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 3 {
		t.Fatalf("age retention report %+v; want the 3 uploaded segments", rep)
	}
	for _, seg := range up {
		if _, err := s.objects.Stat(ctx, s.objects.Key(seg.Path)); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("object of segment %d after max_age: %v; want ErrNotFound", seg.ID, err)
		}
	}
}

// TestUploadOwnSegmentsOnly: on a shared index each node uploads and counts
// only its own segments; another node's are on its disk, not this one's,
// and trying them would fail every pass.
func TestUploadOwnSegmentsOnly(t *testing.T) {
	ctx := context.Background()
	c, _ := s3test.Bucket(t)
	o := pgBackend.Options(t)
	o.Clock = clock.NewFake(t0)
	o.Objects = c
	a, _ := openNode(t, o, "node-a")
	b, _ := openNode(t, o, "node-b")
	if err := a.EnsureCamera(ctx, "cam", ""); err != nil {
		t.Fatal(err)
	}
	segA := record(t, a, "cam", t0.UnixNano(), 2*sec, 3000)
	segB := record(t, b, "cam", t0.UnixNano()+2*sec, 2*sec, 4000)
	if bl, err := b.UploadBacklog(ctx); err != nil || bl.Segments != 1 || bl.Bytes != segB.Bytes {
		t.Fatalf("node-b's backlog = %+v, %v; want its one segment", bl, err)
	}
	if n, err := b.UploadPending(ctx, 10); err != nil || n != 1 {
		t.Fatalf("node-b UploadPending = %d, %v; want its one segment and no error", n, err)
	}
	if got := mustSegment(t, a, segA.ID); got.Object != "" {
		t.Errorf("node-b uploaded node-a's segment: %q", got.Object)
	}
	if n, err := a.UploadPending(ctx, 10); err != nil || n != 1 {
		t.Fatalf("node-a UploadPending = %d, %v", n, err)
	}
}
