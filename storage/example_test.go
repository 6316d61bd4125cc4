package storage_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nvr-project/nvr/storage"
)

// The lifecycle of one segment as the recorder drives it.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "nvr-example")
	defer os.RemoveAll(dir)
	s, err := storage.Open(ctx, dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	start := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC).UnixNano()
	f, err := s.CreateSegment(ctx, storage.Segment{Camera: "front-door", StartNS: start, Codecs: "avc1.640028", Width: 1280, Height: 720})
	if err != nil {
		fmt.Println(err)
		return
	}
	f.Write(make([]byte, 4096))      // the MP4 writer's fragments
	if err := f.Sync(); err != nil { // the writer's periodic sync, then the row's progress
		fmt.Println(err)
		return
	}
	f.Update(ctx, storage.Segment{EndNS: start + 2e9, Frames: 50, Keyframes: 1})
	if err := f.Finish(ctx, storage.Segment{EndNS: start + 2e9, Frames: 50, Keyframes: 1}); err != nil {
		fmt.Println(err)
		return
	}
	segs, next, _ := s.ListSegments(ctx, "front-door", start, start+3600e9, 100, "")
	for _, seg := range segs {
		fmt.Println(seg.Path, seg.State, seg.Bytes, (seg.EndNS-seg.StartNS)/1e6, "ms")
	}
	fmt.Printf("next page: %q\n", next)
	// Output:
	// front-door/2026/03/29/01-00-00.000.mp4 complete 4096 2000 ms
	// next page: ""
}
