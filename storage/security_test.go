package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOpenSegmentFileTraversal (RELIABILITY S1): a row whose path has "..",
// is absolute, or goes through a symlink out of the recordings dir cannot be
// opened, whatever got it into the index.
func TestOpenSegmentFileTraversal(t *testing.T) { EachBackend(t, testOpenSegmentFileTraversal) }

func testOpenSegmentFileTraversal(t *testing.T, be Backend) {
	s, dataDir := newStore(t, be)
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret.mp4")
	os.WriteFile(secret, []byte("secret"), 0o600)
	// A decoy inside DATA_DIR but outside recordings/.
	os.WriteFile(filepath.Join(dataDir, "decoy.mp4"), []byte("decoy"), 0o600)

	camDir := filepath.Join(s.RecordingsDir(), "cam")
	os.MkdirAll(camDir, 0o750)
	os.WriteFile(filepath.Join(camDir, "ok.mp4"), []byte("footage"), 0o640)
	must(t, os.Symlink(secret, filepath.Join(camDir, "file-link.mp4")))
	must(t, os.Symlink(secretDir, filepath.Join(camDir, "dir-link")))
	must(t, os.Symlink("../../decoy.mp4", filepath.Join(camDir, "rel-link.mp4")))
	must(t, os.Symlink("ok.mp4", filepath.Join(camDir, "inside-link.mp4")))
	must(t, syscall.Mkfifo(filepath.Join(camDir, "fifo.mp4"), 0o640))

	tests := []struct {
		path string
		want error // nil: opens and reads "footage"
	}{
		{"cam/ok.mp4", nil},
		{"../decoy.mp4", ErrUnsafePath},
		{"cam/../../decoy.mp4", ErrUnsafePath},
		{secret, ErrUnsafePath},
		{"cam/file-link.mp4", ErrUnsafePath},
		{"cam/dir-link/secret.mp4", ErrUnsafePath},
		{"cam/rel-link.mp4", ErrUnsafePath},
		{"cam/inside-link.mp4", ErrUnsafePath}, // we never write symlinks
		{"cam/fifo.mp4", ErrUnsafePath},        // would block on open
		{"cam/missing.mp4", ErrNotFound},
		{"cam/ok.mp4\x00", ErrUnsafePath},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			f, err := s.OpenSegmentFile(Segment{Path: tc.path})
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(f)
				f.Close()
				if string(b) != "footage" {
					t.Fatalf("read %q", b)
				}
				return
			}
			if err == nil {
				b, _ := io.ReadAll(f)
				f.Close()
				t.Fatalf("opened, read %q", b)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeleteSymlinkedDir (S1): deletion through a row path that goes through a
// symlinked directory does not remove the file outside.
func TestDeleteSymlinkedDir(t *testing.T) { EachBackend(t, testDeleteSymlinkedDir) }

func testDeleteSymlinkedDir(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	outside := t.TempDir()
	secret := filepath.Join(outside, "x.mp4")
	os.WriteFile(secret, []byte("keep"), 0o600)
	os.MkdirAll(filepath.Join(s.RecordingsDir(), "cam"), 0o750)
	must(t, os.Symlink(outside, filepath.Join(s.RecordingsDir(), "cam", "link")))
	id := insertRow(t, s, Segment{Camera: "cam", StartNS: 0, EndNS: 1, Path: "cam/link/x.mp4"})
	// The row goes (nothing of ours is there); the file outside stays.
	if err := s.DeleteSegment(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Segment(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("row kept: %v", err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("outside file removed: %v", err)
	}
}
