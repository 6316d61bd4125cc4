package footage

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/s3test"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

// TestExportLocalAndUploaded: a clip spanning two uploaded segments and one
// still on the local disk reads from both places and decodes with ffprobe
// to every frame.
func TestExportLocalAndUploaded(t *testing.T) {
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ffprobe missing in CI: %v", err)
		}
		t.Skip("ffprobe not installed")
	}
	ctx := context.Background()
	bucket, _ := s3test.Bucket(t)
	st, err := storage.OpenWithOptions(ctx, t.TempDir(), storage.Options{Objects: bucket})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clip, err := testcam.LoadClip(testcam.ClipMain720)
	if err != nil {
		t.Fatal(err)
	}
	s1 := recordSegment(t, st, clip, t0, 0, 50, true)
	s2 := recordSegment(t, st, clip, t0.Add(2*time.Second), 50, 100, true)
	if n, err := st.UploadPending(ctx, 10); err != nil || n != 2 {
		t.Fatalf("UploadPending = %d, %v", n, err)
	}
	s3 := recordSegment(t, st, clip, t0.Add(4*time.Second), 0, 50, true)
	for _, seg := range []storage.Segment{s1, s2} {
		if got, _ := st.Segment(ctx, seg.ID); got.Object == "" {
			t.Fatalf("segment %d not uploaded", seg.ID)
		}
		if _, err := os.Stat(filepath.Join(st.RecordingsDir(), filepath.FromSlash(seg.Path))); !os.IsNotExist(err) {
			t.Fatalf("segment %d still local: %v", seg.ID, err)
		}
	}
	c, err := New(st, nil).Export(ctx, "cam", s1.StartNS, s3.EndNS, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, io.NewSectionReader(c, 0, c.Size())); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", out).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, b)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || n != 150 {
		t.Errorf("ffprobe decoded %q frames; want 150 (50 local + 100 from the bucket)", b)
	}
}
