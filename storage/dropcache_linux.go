package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropCache asks the kernel to forget the cached pages of f's first size
// bytes, which must be synced (clean pages are dropped; dirty ones would
// stay). A finished segment is read rarely (playback, an export) and never
// written again: keeping it cached only pushes out pages that are used,
// and writing each new segment into pages that are free at once, not
// into fresh memory, costs a fraction of the CPU (docs/storage.md,
// "Page cache"). Best effort: an error changes nothing but the cache.
func dropCache(f *os.File, size int64) {
	_ = unix.Fadvise(int(f.Fd()), 0, size, unix.FADV_DONTNEED)
}
