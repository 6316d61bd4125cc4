package bmff

import "github.com/nvr-project/nvr/internal/h265ps"

// HVC1 is an H.265 sample entry: hvc1 with its hvcC (ISO/IEC 14496-15
// §8.3.3, §8.4.1) and, for non-square pixels, a pasp. hvc1 rather than
// hev1 means every parameter set is in the sample entry (samples may repeat
// them), which Safari requires; samples carry 4-byte NAL lengths.
//
// The caller has checked the fields: VPS, SPS and PPS of 1 to 65535 bytes
// and of their NAL types, an SPS that h265ps parses, width and height in
// 16 bits.
type HVC1 struct {
	VPS, SPS, PPS       []byte // NAL units without start codes
	Width, Height       int    // displayed size in pixels
	SARWidth, SARHeight int    // pixel aspect ratio; pasp when both set and differ
	Compressor          string // compressorname (at most 31 bytes)
}

// HasPasp reports whether the entry carries a pasp box.
func (e HVC1) HasPasp() bool { return hasPasp(e.SARWidth, e.SARHeight) }

// Append writes the hvc1 box.
func (e HVC1) Append(w *Writer) {
	startVisual(w, "hvc1", e.Width, e.Height, e.Compressor)
	e.appendHvcC(w)
	appendPasp(w, e.SARWidth, e.SARHeight)
	w.End()
}

// appendHvcC writes the HEVCDecoderConfigurationRecord (ISO/IEC 14496-15
// §8.3.3.1.2) with one VPS, one SPS and one PPS, each array marked
// complete (required for hvc1). The profile_tier_level bytes are the SPS's
// as coded; chroma format, bit depths and temporal layers come from it too.
// An SPS that does not parse (the caller checks it does) is described as
// Main 4:2:0 8-bit with one layer, so the box is still well formed.
func (e HVC1) appendHvcC(w *Writer) {
	s, err := h265ps.ParseSPS(e.SPS)
	if err != nil {
		s = &h265ps.SPS{ChromaFormatIDC: 1, MaxSubLayers: 1}
		s.PTL[0] = 1
	}
	w.Start("hvcC")
	w.U8(1) // configurationVersion
	w.Bytes(s.PTL[:])
	w.U16(0xf000)                         // reserved, min_spatial_segmentation_idc = 0 (unknown)
	w.U8(0xfc)                            // reserved, parallelismType = 0 (unknown)
	w.U8(0xfc | s.ChromaFormatIDC&3)      // reserved, chromaFormat
	w.U8(0xf8 | s.BitDepthLumaMinus8&7)   // reserved, bitDepthLumaMinus8
	w.U8(0xf8 | s.BitDepthChromaMinus8&7) // reserved, bitDepthChromaMinus8
	w.U16(0)                              // avgFrameRate: unspecified
	// constantFrameRate 0, numTemporalLayers, temporalIdNested,
	// lengthSizeMinusOne 3.
	nested := uint8(0)
	if s.TemporalIDNested {
		nested = 1
	}
	w.U8(min(s.MaxSubLayers, 7)<<3 | nested<<2 | 3)
	w.U8(3) // numOfArrays
	for _, ps := range [...][]byte{e.VPS, e.SPS, e.PPS} {
		w.U8(0x80 | uint8(h265ps.Type(ps))&0x3f) // array_completeness = 1, reserved 0, NAL_unit_type
		w.U16(1)                                 // numNalus
		w.U16(uint16(len(ps)))
		w.Bytes(ps)
	}
	w.End()
}
