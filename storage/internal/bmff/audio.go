package bmff

// Audio sample entries: AAC (mp4a + esds, ISO/IEC 14496-14 §5.6 and
// 14496-1 §7.2.6), Opus (Opus + dOps, "Encapsulation of Opus in ISO Base
// Media File Format" §4.3) and FLAC (fLaC + dfLa, "Encapsulation of FLAC
// in ISO-BMFF" §3.3). Each writes the AudioSampleEntry of ISO/IEC 14496-12
// §12.2.3 and its codec box. The caller has checked the fields (rates
// below 65536 Hz, 1 to 8 channels). The RFC 6381 codec strings of these
// entries ("mp4a.40.2", "opus", "flac") come from recorder/audio, with the
// facts they are made of.

// MP4A is an AAC sample entry. Samples are raw access units.
type MP4A struct {
	Config     []byte // AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1)
	SampleRate int    // Hz, as decoded
	Channels   int
	ObjectType int // audioObjectType: 2 AAC-LC, 5 HE-AAC, 29 HE-AAC v2
}

// Opus is an Opus sample entry. Samples are Opus packets.
type Opus struct {
	Channels int // output channels, 1 or 2 (channel mapping family 0)
	// PreSkip is the encoder delay to drop, in 48 kHz samples. RTP does
	// not carry it: nvr writes 0 and keeps every sample at its RTP time.
	PreSkip int
	// InputSampleRate is informative (the encoder's input), Hz.
	InputSampleRate int
}

// FLAC is a FLAC sample entry with a STREAMINFO block. Samples are FLAC
// frames.
type FLAC struct {
	BlockSize     int // min and max block size of every frame
	SampleRate    int
	Channels      int
	BitsPerSample int
}

// audioEntry writes the AudioSampleEntry fields shared by every audio
// sample entry and leaves the box open for the codec box.
func audioEntry(w *Writer, typ string, channels, sampleRate int) {
	w.Start(typ)
	w.Zeros(6)
	w.U16(1) // data_reference_index
	w.Zeros(8)
	w.U16(uint16(channels))
	w.U16(16) // samplesize
	w.Zeros(4)
	w.U32(uint32(sampleRate) << 16) // 16.16 fixed point
}

// Append writes the mp4a box.
func (e MP4A) Append(w *Writer) {
	audioEntry(w, "mp4a", e.Channels, e.SampleRate)
	w.StartFull("esds", 0, 0)
	// ES_Descriptor (tag 3) holding a DecoderConfigDescriptor (tag 4)
	// with the AudioSpecificConfig as DecoderSpecificInfo (tag 5), then
	// the SLConfigDescriptor (tag 6) MP4 files must have.
	dsi := len(e.Config)
	dcd := 13 + descLen(dsi)
	es := 3 + descLen(dcd) + descLen(1)
	descHeader(w, 3, es)
	w.U16(0) // ES_ID
	w.U8(0)  // no dependency, URL or OCR stream
	descHeader(w, 4, dcd)
	w.U8(0x40)        // objectTypeIndication: MPEG-4 Audio
	w.U8(0x05<<2 | 1) // streamType audio, upStream 0, reserved 1
	w.U8(0)           // bufferSizeDB (24 bits): unknown
	w.U16(0)
	w.U32(0) // maxBitrate: unknown
	w.U32(0) // avgBitrate: variable
	descHeader(w, 5, dsi)
	w.Bytes(e.Config)
	descHeader(w, 6, 1)
	w.U8(2) // predefined: MP4
	w.End()
	w.End()
}

// descLen is the size of a descriptor with n bytes of payload: a tag, a
// length in 7-bit groups (ISO/IEC 14496-1 §8.3.3), the payload.
func descLen(n int) int {
	size := 1
	for v := n >> 7; v > 0; v >>= 7 {
		size++
	}
	return 1 + size + n
}

func descHeader(w *Writer, tag uint8, n int) {
	w.U8(tag)
	var groups []uint8
	for v := n; ; v >>= 7 {
		groups = append(groups, uint8(v&0x7f))
		if v>>7 == 0 {
			break
		}
	}
	for i := len(groups) - 1; i > 0; i-- {
		w.U8(groups[i] | 0x80)
	}
	w.U8(groups[0])
}

// Append writes the Opus box. Its AudioSampleEntry says 48000 Hz whatever
// the input rate, as the encapsulation requires.
func (e Opus) Append(w *Writer) {
	audioEntry(w, "Opus", e.Channels, 48000)
	w.Start("dOps")
	w.U8(0) // Version
	w.U8(uint8(e.Channels))
	w.U16(uint16(e.PreSkip))
	w.U32(uint32(e.InputSampleRate))
	w.U16(0) // OutputGain
	w.U8(0)  // ChannelMappingFamily 0: mono or stereo, no table
	w.End()
	w.End()
}

// Append writes the fLaC box with a dfLa holding only STREAMINFO.
func (e FLAC) Append(w *Writer) {
	audioEntry(w, "fLaC", e.Channels, e.SampleRate)
	w.StartFull("dfLa", 0, 0)
	// METADATA_BLOCK_HEADER (RFC 9639 §8.1): last block, type 0, 34 bytes.
	w.U8(0x80)
	w.U8(0)
	w.U16(34)
	// STREAMINFO (§8.2). Frame sizes, total samples and MD5 are unknown
	// (0) in a stream written as it is recorded.
	w.U16(uint16(e.BlockSize))
	w.U16(uint16(e.BlockSize))
	w.Zeros(3) // minimum frame size
	w.Zeros(3) // maximum frame size
	// 20 bits rate, 3 bits channels-1, 5 bits bits-per-sample-1, 36 bits
	// total samples.
	v := uint64(e.SampleRate)<<44 | uint64(e.Channels-1)<<41 | uint64(e.BitsPerSample-1)<<36
	w.U64(v)
	w.Zeros(16) // MD5
	w.End()
	w.End()
}
