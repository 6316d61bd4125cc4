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

// sampleEntry is the stsd entry of a checked audio track.
func (a AudioParams) sampleEntry() bmff.SampleEntry {
	switch a.Codec {
	case "opus":
		return bmff.Opus{Channels: a.Channels, InputSampleRate: a.SampleRate}
	case "flac":
		return bmff.FLAC{BlockSize: a.FLACBlockSize, SampleRate: a.SampleRate, Channels: a.Channels, BitsPerSample: 16}
	}
	return bmff.MP4A{Config: a.AACConfig, SampleRate: a.SampleRate, Channels: a.Channels, ObjectType: a.AACObjectType}
}
