package fmp4

import (
	"fmt"
	"strings"

	"github.com/nvr-project/nvr/storage/internal/bmff"
)

// audioTrackID is the ID of a segment's audio track, after the video.
const audioTrackID = 2

// Bounds on an audio track. Rates stay below 65536 Hz because the
// AudioSampleEntry holds the rate as 16.16 fixed point.
const (
	minAudioTimescale = 1000
	maxAudioTimescale = 0xffff
	maxAudioChannels  = 8
	maxAACConfig      = 64 // an AudioSpecificConfig is 2 to a few bytes
	// maxAudioPending bounds the audio samples held for the next fragment:
	// audio that keeps flowing while the video stalls is dropped (counted)
	// rather than held without limit, so audio never holds video hostage.
	maxAudioPending = MaxSamplesPerFragment
	// maxAudioSample bounds one audio sample (recorder/audio.MaxFrameSize
	// is 8 KiB; FLAC of 20 ms of 16-bit stereo is below 8 KiB too).
	maxAudioSample = 64 << 10
)

// AudioParams describes a segment's audio track. Codec is the RFC 6381
// string recorder/audio names the stream by: "mp4a.40.*" (AAC, with
// AACConfig), "opus" or "flac" (with FLACBlockSize).
type AudioParams struct {
	Codec      string
	Timescale  int // the RTP clock rate: sample times are in it
	SampleRate int // of the decoded audio, Hz
	Channels   int
	// AACConfig is the AudioSpecificConfig, AACObjectType its first
	// audioObjectType.
	AACConfig     []byte
	AACObjectType int
	// FLACBlockSize is the samples per FLAC frame (every frame's).
	FLACBlockSize int
}

// AudioSample is one audio frame: an AAC access unit, an Opus packet or
// a FLAC frame. DTS is in the track's Timescale on the same timeline as
// the video's DTS (DTS/Timescale and video DTS/90000 name the same
// moment); Duration is the frame's own length, used only for the last
// sample of a segment, whose successor is unknown.
type AudioSample struct {
	DTS, Duration int64
	Data          []byte // copied
}

func checkAudio(a AudioParams) error {
	if a.Timescale < minAudioTimescale || a.Timescale > maxAudioTimescale {
		return fmt.Errorf("%w: audio timescale %d", ErrBadParams, a.Timescale)
	}
	if a.SampleRate < 1 || a.SampleRate > maxAudioTimescale || a.Channels < 1 || a.Channels > maxAudioChannels {
		return fmt.Errorf("%w: audio of %d Hz, %d channels", ErrBadParams, a.SampleRate, a.Channels)
	}
	switch {
	case strings.HasPrefix(a.Codec, "mp4a.40."):
		if len(a.AACConfig) < 2 || len(a.AACConfig) > maxAACConfig {
			return fmt.Errorf("%w: AAC config of %d bytes", ErrBadParams, len(a.AACConfig))
		}
	case a.Codec == "opus":
		if a.Channels > 2 {
			return fmt.Errorf("%w: Opus with %d channels", ErrBadParams, a.Channels)
		}
	case a.Codec == "flac":
		if a.FLACBlockSize < 16 || a.FLACBlockSize > 0xffff {
			return fmt.Errorf("%w: FLAC block size %d", ErrBadParams, a.FLACBlockSize)
		}
	default:
		return fmt.Errorf("%w: audio codec %q", ErrBadParams, a.Codec)
	}
	return nil
}

// SampleEntry is the stsd entry of a checked audio track (exports write
// the same one).
func (a AudioParams) SampleEntry() bmff.SampleEntry {
	switch a.Codec {
	case "opus":
		return bmff.Opus{Channels: a.Channels, InputSampleRate: a.SampleRate}
	case "flac":
		return bmff.FLAC{BlockSize: a.FLACBlockSize, SampleRate: a.SampleRate, Channels: a.Channels, BitsPerSample: 16}
	}
	return bmff.MP4A{Config: a.AACConfig, SampleRate: a.SampleRate, Channels: a.Channels, ObjectType: a.AACObjectType}
}

// parseAudioEntry reads an audio sample entry of a kind nvr writes (the
// boxes bmff.MP4A, bmff.Opus and bmff.FLAC append); b is the entry's
// payload. The timescale comes from the track's mdhd, so the caller sets
// it; ok is false for any other entry or one that does not parse.
func parseAudioEntry(typ [4]byte, b []byte) (a AudioParams, ok bool) {
	// AudioSampleEntry (ISO/IEC 14496-12 §12.2.3): reserved, data
	// reference index, reserved, channels, sample size, reserved, rate.
	rd := reader{b: b}
	rd.take(6 + 2 + 8)
	a.Channels = int(rd.u16())
	rd.take(2 + 4)
	a.SampleRate = int(rd.u32() >> 16)
	if rd.bad {
		return a, false
	}
	found := false
	children(rd.b, func(t [4]byte, _, p []byte) bool {
		if found {
			return true
		}
		br := reader{b: p}
		switch {
		case typeIs(typ, "mp4a") && typeIs(t, "esds"):
			br.take(4) // version, flags
			cfg, ok := esdsConfig(&br)
			if ok && len(cfg) >= 2 && len(cfg) <= maxAACConfig {
				aot := int(cfg[0] >> 3)
				if aot == 31 { // escape: six more bits
					aot = 32 + int(cfg[0]&7)<<3 | int(cfg[1]>>5)
				}
				a.Codec, a.AACConfig, a.AACObjectType = fmt.Sprintf("mp4a.40.%d", aot), cfg, aot
				found = true
			}
		case typeIs(typ, "Opus") && typeIs(t, "dOps"):
			br.u8() // version
			a.Channels = int(br.u8())
			br.u16() // pre-skip
			a.SampleRate = int(br.u32())
			if a.SampleRate == 0 {
				a.SampleRate = 48000
			}
			a.Codec, found = "opus", !br.bad
		case typeIs(typ, "fLaC") && typeIs(t, "dfLa"):
			br.take(4)     // version, flags
			hdr := br.u8() // last-block flag, block type
			br.take(3)
			a.FLACBlockSize = int(br.u16())
			br.take(2 + 3 + 3)
			v := br.u64()
			a.SampleRate, a.Channels = int(v>>44), int(v>>41&7)+1
			a.Codec, found = "flac", !br.bad && hdr&0x7f == 0
		}
		return true
	})
	return a, found
}

// esdsConfig returns the DecoderSpecificInfo (the AudioSpecificConfig) of
// an ES_Descriptor (ISO/IEC 14496-1 §7.2.6.5): tag 3, then the
// DecoderConfigDescriptor (tag 4), then tag 5.
func esdsConfig(r *reader) ([]byte, bool) {
	desc := func(want uint8) int {
		if r.u8() != want {
			r.bad = true
		}
		n := 0
		for i := 0; i < 4; i++ {
			c := r.u8()
			n = n<<7 | int(c&0x7f)
			if c&0x80 == 0 {
				break
			}
		}
		if r.bad || n > len(r.b) {
			r.bad = true
			return 0
		}
		return n
	}
	desc(3)
	r.u16() // ES_ID
	f := r.u8()
	if f&0x80 != 0 { // streamDependenceFlag
		r.u16()
	}
	if f&0x40 != 0 { // URL_Flag
		r.take(int(r.u8()))
	}
	if f&0x20 != 0 { // OCRstreamFlag
		r.u16()
	}
	desc(4)
	if r.u8() != 0x40 { // objectTypeIndication: MPEG-4 Audio
		return nil, false
	}
	r.take(1 + 3 + 4 + 4)
	n := desc(5)
	cfg := r.take(n)
	if r.bad {
		return nil, false
	}
	return append([]byte(nil), cfg...), true
}
