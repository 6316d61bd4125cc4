package export

import "github.com/nvr-project/nvr/storage/internal/bmff"

// boxWriter is the shared box writer with the header boxes only a
// progressive file has.
type boxWriter struct{ bmff.Writer }

// times writes creation/modification time (zero: the export is
// reproducible, so the ETag does not depend on when it was built), then
// optionally a timescale, then a duration, in version 0 or 1 layout.
func (w *boxWriter) times(version uint8, timescale uint32, withTimescale bool, duration int64) {
	if version == 1 {
		w.U64(0)
		w.U64(0)
	} else {
		w.U32(0)
		w.U32(0)
	}
	if withTimescale {
		w.U32(timescale)
	}
	if version == 1 {
		w.U64(uint64(duration))
	} else {
		w.U32(uint32(duration))
	}
}
