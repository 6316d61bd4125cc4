// Package segcheck is a test helper: it checks what nvr recorded in a data
// directory against the files on disk. Tests of cmd/nvr and package fleet
// share it.
package segcheck

import (
	"context"
	"testing"
	"time"

	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/ticks"
)

// Index verifies every segment of camera against its file: complete,
// starting on a keyframe, frame count and duration as indexed, and that
// consecutive segments do not overlap. It returns the segments, and fails
// t when there are none.
func Index(t testing.TB, dataDir, camera string) []storage.Segment {
	t.Helper()
	return IndexWith(t, dataDir, storage.Options{}, camera)
}

// IndexWith is Index for a store opened with o (an index on PostgreSQL).
func IndexWith(t testing.TB, dataDir string, o storage.Options, camera string) []storage.Segment {
	t.Helper()
	return IndexStream(t, dataDir, o, camera, storage.StreamMain)
}

// IndexStream is IndexWith for one stream of the camera (storage.StreamMain
// or StreamSub): it also checks that every segment is indexed as that
// stream.
func IndexStream(t testing.TB, dataDir string, o storage.Options, camera, stream string) []storage.Segment {
	t.Helper()
	ctx := context.Background()
	st, err := storage.OpenWithOptions(ctx, dataDir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var segs []storage.Segment
	cursor := ""
	for {
		page, next, err := st.ListStreamSegments(ctx, camera, stream, 0, time.Now().Add(time.Hour).UnixNano(), 1000, cursor)
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(segs) == 0 {
		t.Fatalf("camera %s stream %s: no segments", camera, stream)
	}
	for i, s := range segs {
		if s.Stream != stream {
			t.Errorf("segment %d (%s) of stream %q listed as %q", s.ID, s.Path, s.Stream, stream)
		}
		if s.State != storage.StateComplete {
			t.Errorf("segment %d (%s) state %q", s.ID, s.Path, s.State)
		}
		// Wherever it is: the local file or, uploaded, its object.
		f, err := st.OpenSegment(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		size := f.Size()
		info, err := fmp4.Scan(f, size)
		f.Close()
		if err != nil {
			t.Fatalf("segment %s: %v", s.Path, err)
		}
		if info.ValidSize != size || size != s.Bytes {
			t.Errorf("segment %s: file %d bytes, valid %d, index %d", s.Path, size, info.ValidSize, s.Bytes)
		}
		if len(info.Samples) == 0 || !info.Samples[0].Keyframe {
			t.Errorf("segment %s does not start with a keyframe", s.Path)
		}
		if int64(len(info.Samples)) != s.Frames {
			t.Errorf("segment %s: %d frames in file, %d in index", s.Path, len(info.Samples), s.Frames)
		}
		mediaNS := ticks.ToNS(info.Duration)
		if d := (s.EndNS - s.StartNS) - mediaNS; d > mediaNS/100+int64(time.Millisecond) || -d > mediaNS/100+int64(time.Millisecond) {
			t.Errorf("segment %s: index duration %d ns, media %d ns", s.Path, s.EndNS-s.StartNS, mediaNS)
		}
		if i > 0 && s.StartNS < segs[i-1].EndNS {
			t.Errorf("segment %s overlaps the previous one", s.Path)
		}
	}
	return segs
}
