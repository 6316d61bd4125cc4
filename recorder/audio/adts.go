package audio

// ADTS (ISO/IEC 14496-3 §1.A.2.2): some cameras put a whole ADTS frame,
// header included, where RFC 3640 and RFC 6416 want a raw access unit
// (the quirk gortsplib's rtpmpeg4audio decoder also handles). MP4 wants
// the raw frame, so the header is stripped.

const (
	adtsHeaderLen    = 7
	adtsHeaderCRCLen = 9
)

// stripADTS returns b without its ADTS header when b is exactly one ADTS
// frame: syncword 0xFFF, layer 0, a frame_length equal to len(b) and one
// raw data block. A raw AAC frame cannot pass for one by chance: its first
// element would be ID_END (0b111), an empty frame followed by bytes that
// happen to spell the length.
func stripADTS(b []byte) ([]byte, bool) {
	if len(b) < adtsHeaderLen || b[0] != 0xff || b[1]&0xf6 != 0xf0 {
		return b, false
	}
	hdr := adtsHeaderLen
	if b[1]&1 == 0 { // protection_absent = 0: a CRC follows
		hdr = adtsHeaderCRCLen
	}
	frameLen := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
	blocks := b[6] & 3 // number_of_raw_data_blocks_in_frame - 1
	if frameLen != len(b) || blocks != 0 || frameLen <= hdr {
		return b, false
	}
	return b[hdr:], true
}
