package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/internal/testdisk"
	"github.com/nvr-project/nvr/storage"
)

// TestDeleteOnFullDisk (RELIABILITY F5): on a filesystem full to the last
// byte, where the index's own writes fail too, a segment can still be
// deleted — the index gives up its reserve to commit the marks — and the
// reserve is written back once there is room.
func TestDeleteOnFullDisk(t *testing.T) {
	ctx := context.Background()
	disk := testdisk.Small(t, "8m")
	s, err := storage.Open(ctx, filepath.Join(disk, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reserve := filepath.Join(disk, "data", storage.ReserveName)
	if fi, err := os.Stat(reserve); err != nil || fi.Size() == 0 {
		t.Fatalf("no index reserve after Open: %v", err)
	}
	if err := s.EnsureCamera(ctx, "cam", "Cam"); err != nil {
		t.Fatal(err)
	}
	clip, err := testcam.LoadClip(testcam.ClipBase240)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var segs []storage.Segment
	for i := range 4 {
		segs = append(segs, writeSegment(t, s, clip, start.Add(time.Duration(i)*2*time.Second), true))
	}
	// Fill what is left, then keep the index writing until it fails too.
	filler, err := os.Create(filepath.Join(disk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := filler.Write(buf); err != nil {
			break
		}
	}
	for len(buf) > 1 {
		buf = buf[:len(buf)/2]
		for {
			if _, err := filler.Write(buf); err != nil {
				break
			}
		}
	}
	filler.Close()
	var full error
	for i := 0; i < 10000 && full == nil; i++ {
		full = s.EnsureCamera(ctx, "cam", "Cam "+time.Now().String())
	}
	if full == nil {
		t.Fatal("the index kept writing on a full disk: the test did not fill it")
	}
	t.Logf("index write on the full disk: %v", full)

	if err := s.DeleteSegment(ctx, segs[0].ID); err != nil {
		t.Fatalf("delete on a full disk: %v", err)
	}
	if _, err := s.Segment(ctx, segs[0].ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted segment still indexed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(disk, "data", storage.RecordingsDirName, filepath.FromSlash(segs[0].Path))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted segment's file: %v", err)
	}
	// With room again, the next deletion writes the reserve back.
	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSegment(ctx, segs[1].ID); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(reserve); err != nil || fi.Size() == 0 {
		t.Fatalf("the reserve was not written back: %v", err)
	}
}
