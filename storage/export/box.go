package export

import (
	"encoding/binary"

	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/storage/internal/bmff"
)

// boxWriter is the shared box writer with the header boxes only a
// progressive file has.
type boxWriter struct {
	bmff.Writer
	tables []offsetTable // chunk offset tables written so far
	// extents, when set, receives the extent map as the sample sizes are
	// written (offsets from the start of the mdat payload).
	extents *[]extent
}

// offsetTable is where a stco or co64 table's entries are in the header.
type offsetTable struct {
	at, n int
	wide  bool // co64
}

// shift adds d to every offset of the table in header.
func (t offsetTable) shift(header []byte, d int64) {
	for k := range t.n {
		if t.wide {
			e := header[t.at+8*k:]
			binary.BigEndian.PutUint64(e, binary.BigEndian.Uint64(e)+uint64(d))
		} else {
			e := header[t.at+4*k:]
			binary.BigEndian.PutUint32(e, binary.BigEndian.Uint32(e)+uint32(d))
		}
	}
}

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

// addExtent maps the sample s of input src to offset pos of the mdat
// payload. Samples contiguous in the source (one fragment's mdat) merge
// into one extent: few extents, long reads.
func (w *boxWriter) addExtent(src int32, s fmp4.SampleInfo, pos int64) {
	ext := *w.extents
	if n := len(ext); n > 0 && ext[n-1].src == src && ext[n-1].srcOff+ext[n-1].length == s.Offset {
		ext[n-1].length += int64(s.Size)
		return
	}
	*w.extents = append(ext, extent{outOff: pos, length: int64(s.Size), src: src, srcOff: s.Offset})
}
