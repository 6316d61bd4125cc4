package export

import (
	"encoding/binary"
	"math"
)

// boxWriter appends ISO BMFF boxes (ISO/IEC 14496-12 §4.2) to a byte slice.
// Box sizes are patched when a box ends, so nesting needs no seeking; the
// export header is built in memory, so this is all the muxer needs.
type boxWriter struct {
	b     []byte
	stack []int
}

func (w *boxWriter) start(typ string) {
	w.stack = append(w.stack, len(w.b))
	w.b = append(w.b, 0, 0, 0, 0)
	w.b = append(w.b, typ...)
}

func (w *boxWriter) startFull(typ string, version uint8, flags uint32) {
	w.start(typ)
	w.u32(uint32(version)<<24 | flags&0xffffff)
}

// end patches the size of the innermost open box. Header boxes stay far
// below 4 GiB (the sample tables are bounded by maxClipSamples).
func (w *boxWriter) end() {
	at := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	binary.BigEndian.PutUint32(w.b[at:], uint32(len(w.b)-at))
}

func (w *boxWriter) u8(v uint8)     { w.b = append(w.b, v) }
func (w *boxWriter) u16(v uint16)   { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *boxWriter) u32(v uint32)   { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *boxWriter) u64(v uint64)   { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *boxWriter) bytes(v []byte) { w.b = append(w.b, v...) }
func (w *boxWriter) zeros(n int)    { w.b = append(w.b, make([]byte, n)...) }
func (w *boxWriter) str(s string)   { w.b = append(w.b, s...) }
func (w *boxWriter) matrix() {
	w.u32(0x00010000)
	w.zeros(12)
	w.u32(0x00010000)
	w.zeros(12)
	w.u32(0x40000000)
}
func fitsU32(v int64) bool { return v >= 0 && v <= math.MaxUint32 }
func versionFor(durations ...int64) uint8 {
	for _, d := range durations {
		if !fitsU32(d) {
			return 1
		}
	}
	return 0
}

// timeFields writes creation/modification time (zero: the export is
// reproducible, so the ETag does not depend on when it was built), then
// optionally a timescale, then a duration, in version 0 or 1 layout.
func (w *boxWriter) times(version uint8, timescale uint32, withTimescale bool, duration int64) {
	if version == 1 {
		w.u64(0)
		w.u64(0)
	} else {
		w.u32(0)
		w.u32(0)
	}
	if withTimescale {
		w.u32(timescale)
	}
	if version == 1 {
		w.u64(uint64(duration))
	} else {
		w.u32(uint32(duration))
	}
}
