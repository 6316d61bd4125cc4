package export

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
)

// TestReadAtFrom: a clip planned without files (from sample indexes) reads
// the same bytes through ReadAtFrom as a clip planned with them, opening
// only the inputs whose bytes are read.
func TestReadAtFrom(t *testing.T) {
	c := loadClip(t, testcam.ClipMain720)
	dir := t.TempDir()
	a := segment(t, dir, c, t0)
	b := segment(t, dir, c, a.EndNS+int64(time.Second))
	opts := Options{StartNS: t0, EndNS: b.EndNS, Timestamps: true}
	withFiles, err := New([]Input{a, b}, opts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(io.NewSectionReader(withFiles, 0, withFiles.Size()))
	if err != nil {
		t.Fatal(err)
	}
	files := []io.ReaderAt{a.File, b.File}
	a.File, b.File = nil, nil
	plan, err := New([]Input{a, b}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if plan.ETag() != withFiles.ETag() || plan.Size() != withFiles.Size() || plan.Inputs() != 2 {
		t.Fatalf("plan without files: ETag %s size %d inputs %d; with files %s %d", plan.ETag(), plan.Size(), plan.Inputs(), withFiles.ETag(), withFiles.Size())
	}
	if _, err := plan.ReadAt(make([]byte, 16), plan.Size()-16); err == nil {
		t.Errorf("ReadAt without files read sample bytes")
	}
	var opened []int
	open := func(src int) (io.ReaderAt, error) {
		opened = append(opened, src)
		return files[src], nil
	}
	got := make([]byte, plan.Size())
	if n, err := plan.ReadAtFrom(open, got, 0); n != len(got) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAtFrom: %d of %d bytes, %v", n, len(got), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ReadAtFrom bytes differ from ReadAt's")
	}
	opened = opened[:0]
	if _, err := plan.ReadAtFrom(open, make([]byte, 16), plan.Size()-16); err != nil {
		t.Fatal(err)
	}
	for _, src := range opened {
		if src != 1 {
			t.Errorf("reading the last bytes opened input %d", src)
		}
	}
}
