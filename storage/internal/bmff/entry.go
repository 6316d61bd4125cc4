package bmff

import "github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

// SampleEntry is one entry of an stsd box (ISO/IEC 14496-12 §8.5.2). Each
// codec nvr stores has one; Append writes it whole, box header included.
type SampleEntry interface {
	Append(w *Writer)
}

// AVC1 is an H.264 sample entry: avc1 with its avcC (ISO/IEC 14496-15
// §5.3.3, §5.4.2) and, for non-square pixels, a pasp (ISO/IEC 14496-12
// §12.1.4). Samples carry 4-byte NAL lengths.
//
// The caller has checked the fields: SPS of 4 to 65535 bytes, PPS of 1 to
// 65535, width and height in 16 bits.
type AVC1 struct {
	SPS, PPS      []byte // NAL units without start codes
	Width, Height int    // displayed size in pixels
	// SARWidth:SARHeight is the pixel aspect ratio; a pasp box is written
	// when both are set and differ.
	SARWidth, SARHeight int
	// Compressor is the compressorname shown by tools (at most 31 bytes).
	Compressor string
}

// HasPasp reports whether the entry carries a pasp box.
func (e AVC1) HasPasp() bool { return hasPasp(e.SARWidth, e.SARHeight) }

// Append writes the avc1 box.
func (e AVC1) Append(w *Writer) {
	startVisual(w, "avc1", e.Width, e.Height, e.Compressor)
	e.appendAvcC(w)
	appendPasp(w, e.SARWidth, e.SARHeight)
	w.End()
}

// startVisual opens a visual sample entry and writes its fixed fields
// (ISO/IEC 14496-12 §12.1.3): the codec's configuration box follows.
func startVisual(w *Writer, typ string, width, height int, compressor string) {
	w.Start(typ)
	w.Zeros(6)
	w.U16(1) // data_reference_index
	w.Zeros(16)
	w.U16(uint16(width))
	w.U16(uint16(height))
	w.U32(0x00480000) // 72 dpi, the template value
	w.U32(0x00480000)
	w.U32(0)
	w.U16(1) // frame_count
	var name [32]byte
	name[0] = byte(copy(name[1:], compressor))
	w.Bytes(name[:])
	w.U16(0x0018)
	w.U16(0xffff) // pre_defined = -1
}

// hasPasp reports whether a pixel aspect ratio needs a pasp box.
func hasPasp(sarW, sarH int) bool { return sarW > 0 && sarH > 0 && sarW != sarH }

// appendPasp writes a pasp box (ISO/IEC 14496-12 §12.1.4) for non-square
// pixels, nothing otherwise.
func appendPasp(w *Writer, sarW, sarH int) {
	if !hasPasp(sarW, sarH) {
		return
	}
	w.Start("pasp")
	w.U32(uint32(sarW))
	w.U32(uint32(sarH))
	w.End()
}

// appendAvcC writes the AVCDecoderConfigurationRecord (ISO/IEC 14496-15
// §5.3.3.1) with one SPS and one PPS. High profiles carry chroma format
// and bit depths after the PPS (§5.3.3.1.2); decoders of 4:2:2 or 10-bit
// streams rely on them.
func (e AVC1) appendAvcC(w *Writer) {
	w.Start("avcC")
	w.U8(1)
	w.Bytes(e.SPS[1:4]) // profile, compatibility, level
	w.U8(0xfc | 3)      // reserved bits, lengthSizeMinusOne = 3
	w.U8(0xe0 | 1)      // reserved bits, one SPS
	w.U16(uint16(len(e.SPS)))
	w.Bytes(e.SPS)
	w.U8(1)
	w.U16(uint16(len(e.PPS)))
	w.Bytes(e.PPS)
	if highProfile(e.SPS[1]) {
		chroma, luma, chromaDepth := spsFormat(e.SPS)
		w.U8(0xfc | chroma&3)
		w.U8(0xf8 | luma&7)
		w.U8(0xf8 | chromaDepth&7)
		w.U8(0) // numOfSequenceParameterSetExt
	}
	w.End()
}

// highProfile reports whether avcC carries the extra chroma/bit-depth
// fields for this profile_idc (ISO/IEC 14496-15 §5.3.3.1.2).
func highProfile(profile uint8) bool {
	switch profile {
	case 100, 110, 122, 144:
		return true
	}
	return false
}

// spsFormat returns chroma_format_idc and the luma and chroma bit depths
// minus 8 of an SPS. An SPS the parser cannot read is taken as 4:2:0
// 8-bit: it is what every camera sends.
func spsFormat(b []byte) (chroma, luma, chromaDepth uint8) {
	var sps h264.SPS
	if err := sps.Unmarshal(b); err != nil {
		return 1, 0, 0
	}
	return uint8(sps.ChromaFormatIdc), uint8(sps.BitDepthLumaMinus8), uint8(sps.BitDepthChromaMinus8)
}
