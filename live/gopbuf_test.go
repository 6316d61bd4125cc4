package live

import (
	"bytes"
	"testing"
)

// TestGopBuf: a GOP's chunks are reused after the next keyframe unless
// the muxer holds frames in them (shared), whose bytes then stay as they
// were; frames larger than a chunk get their own memory; the chunks kept
// shrink to what the last GOP needed.
func TestGopBuf(t *testing.T) {
	var g gopBuf
	frame := func(b byte, n int) [][]byte {
		return [][]byte{bytes.Repeat([]byte{b}, n/2), bytes.Repeat([]byte{b + 1}, n-n/2)}
	}
	a := g.add(frame(1, 100<<10), 100<<10)
	g.add(frame(3, 200<<10), 200<<10) // does not fit the first chunk's rest
	if len(g.used) != 2 {
		t.Fatalf("%d chunks for 300 KiB, want 2", len(g.used))
	}
	c0, c1 := &g.used[0][:1][0], &g.used[1][:1][0]
	g.reset()
	b := g.add(frame(5, 10), 10)
	if p := &b[0][0]; p != c0 && p != c1 {
		t.Fatal("the next GOP did not reuse a chunk")
	}
	g.shared = true // the muxer holds b
	g.reset()
	c := g.add(frame(7, 10), 10)
	if &c[0][0] == &b[0][0] || b[0][0] != 5 || b[1][4] != 6 {
		t.Fatal("a shared frame was written over")
	}
	if len(a) != 2 || len(a[0]) != 50<<10 || len(a[1]) != 50<<10 {
		t.Fatalf("copies of %d NAL units", len(a))
	}
	big := g.add(frame(9, chunkBytes+1), chunkBytes+1)
	if len(g.used) != 1 || len(big[0])+len(big[1]) != chunkBytes+1 || big[1][0] != 10 {
		t.Fatal("a frame larger than a chunk went into the chunks")
	}
	for range 6 {
		g.add(frame(1, chunkBytes), chunkBytes)
	}
	g.reset()
	g.add(frame(1, 10), 10)
	g.reset()
	if n := len(g.free); n > 2 {
		t.Fatalf("%d chunks kept after a one-chunk GOP", n)
	}
}
