package export

import (
	"encoding/binary"

	"github.com/nvr-project/nvr/storage/internal/bmff"
)

// boxWriter is the shared box writer with the header boxes only a
// progressive file has.
type boxWriter struct {
	bmff.Writer
	tables []offsetTable // chunk offset tables written so far
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
