// Package bmff writes ISO base media file format boxes (ISO/IEC 14496-12)
// into a byte slice: the box writer shared by nvr's fragmented segments
// (storage/fmp4) and progressive exports (storage/export), and the sample
// entries both put in their stsd, so a segment and an export of it describe
// the stream with the same bytes.
//
// It owns box framing and the sample entry of each codec nvr stores
// (H.264's avc1 with avcC, H.265's hvc1 with hvcC, both with pasp for
// non-square pixels; an audio entry is one more SampleEntry). It does not
// decide the layout of a file, does no I/O and starts no goroutines.
package bmff

import (
	"encoding/binary"
	"math"
)

// Writer appends boxes (ISO/IEC 14496-12 §4.2) to B. Box sizes are patched
// when a box ends, so nesting needs no seeking: the header of a file is
// built in memory.
type Writer struct {
	B     []byte
	stack []int
}

// Start opens a box of type typ.
func (w *Writer) Start(typ string) {
	w.stack = append(w.stack, len(w.B))
	w.B = append(w.B, 0, 0, 0, 0)
	w.B = append(w.B, typ...)
}

// StartFull opens a full box (§4.2.2) with its version and flags.
func (w *Writer) StartFull(typ string, version uint8, flags uint32) {
	w.Start(typ)
	w.U32(uint32(version)<<24 | flags&0xffffff)
}

// End patches the size of the innermost open box. Boxes written through a
// Writer stay below 4 GiB: callers bound what they put in memory.
func (w *Writer) End() {
	at := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	binary.BigEndian.PutUint32(w.B[at:], uint32(len(w.B)-at))
}

// U8 and the following append big-endian fields.
func (w *Writer) U8(v uint8)     { w.B = append(w.B, v) }
func (w *Writer) U16(v uint16)   { w.B = binary.BigEndian.AppendUint16(w.B, v) }
func (w *Writer) U32(v uint32)   { w.B = binary.BigEndian.AppendUint32(w.B, v) }
func (w *Writer) U64(v uint64)   { w.B = binary.BigEndian.AppendUint64(w.B, v) }
func (w *Writer) Bytes(v []byte) { w.B = append(w.B, v...) }
func (w *Writer) Zeros(n int)    { w.B = append(w.B, make([]byte, n)...) }
func (w *Writer) Str(s string)   { w.B = append(w.B, s...) }

// Matrix appends the unity transformation matrix of mvhd and tkhd (§8.2.2).
func (w *Writer) Matrix() {
	w.U32(0x00010000)
	w.Zeros(12)
	w.U32(0x00010000)
	w.Zeros(12)
	w.U32(0x40000000)
}

// VersionFor is the full-box version that holds every duration: 1 (64-bit
// fields) when one passes 32 bits.
func VersionFor(durations ...int64) uint8 {
	for _, d := range durations {
		if d < 0 || d > math.MaxUint32 {
			return 1
		}
	}
	return 0
}
