package storage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident returns how many of the file's pages are in the page cache.
func resident(t *testing.T, path string) (in, pages int) {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	fi, err := f.Stat()
	must(t, err)
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	must(t, err)
	defer unix.Munmap(m)
	ps := os.Getpagesize()
	vec := make([]byte, (len(m)+ps-1)/ps)
	// x/sys/unix has no wrapper for mincore(2).
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatalf("mincore: %v", e)
	}
	for _, v := range vec {
		in += int(v & 1)
	}
	return in, len(vec)
}

// TestFinishDropsCache: a finished segment's pages leave the page cache
// (written once, read rarely: they would only push out pages in use, and
// new segments written into free pages cost less CPU); a segment still
// recording keeps its own.
func TestFinishDropsCache(t *testing.T) { EachBackend(t, testFinishDropsCache) }

func testFinishDropsCache(t *testing.T, be Backend) {
	ctx := context.Background()
	s, dir := newStore(t, be)
	h, err := s.CreateSegment(ctx, Segment{Camera: "cam", StartNS: t0.UnixNano()})
	must(t, err)
	data := strings.Repeat("fragment", 512<<10) // 4 MiB
	_, err = h.Write([]byte(data))
	must(t, err)
	must(t, h.Sync())
	p := filepath.Join(dir, RecordingsDirName, filepath.FromSlash(h.Path()))
	if in, n := resident(t, p); in < n/2 {
		t.Fatalf("while recording: %d of %d pages cached, want the file's pages kept", in, n)
	}
	must(t, h.Finish(ctx, Segment{EndNS: t0.UnixNano() + sec, Frames: 25, Keyframes: 1}))
	if in, n := resident(t, p); in > 1 {
		t.Fatalf("after Finish: %d of %d pages still cached, want none", in, n)
	}
}
