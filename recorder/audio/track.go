package audio

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pion/rtp"
)

// Format is how a track is recorded: the MP4 form its samples take and
// the facts its sample entry needs.
type Format struct {
	Codec      string // RFC 6381: "mp4a.40.2", "opus", "flac"
	ClockRate  int    // RTP clock, the track's MP4 timescale
	SampleRate int    // decoded audio, Hz
	Channels   int
	// AAC is the AudioSpecificConfig of an AAC track; nil otherwise.
	AAC *AACConfig
	// FLAC is set for G.711, recorded as FLAC: the frames come from a
	// FLACEncoder fed with G711.Decode.
	FLAC *FLACInfo
	// Opus is true for an Opus track.
	Opus bool
}

// Track turns one audio track's RTP packets into the frames nvr stores:
// AAC access units, Opus packets, or FLAC frames of decoded G.711. It is
// not safe for concurrent use.
type Track struct {
	dep    Depacketizer
	format *Format
	// G.711 only: the decoder and the FLAC encoder after it.
	g711   *G711
	flac   *FLACEncoder
	pcm    []int16
	toFLAC func(*Frame) // made once: a closure per packet would allocate
	emit   func(*Frame) // Push's emit, for toFLAC
	encErr error
}

// decodeG711 decodes a G.711 frame and feeds the FLAC encoder.
func (t *Track) decodeG711(f *Frame) {
	t.pcm = t.g711.Decode(t.pcm[:0], f.Data)
	if err := t.flac.Push(f.PTS, t.pcm, t.emit); err != nil && t.encErr == nil {
		t.encErr = err
	}
}

// Format returns how the track is stored, or nil while it is not known
// yet (MP4A-LATM with its config in band, before the first packet that
// carries it). The pointer changes only when the format does (an in-band
// LATM config that changes), so a consumer compares pointers to notice.
func (t *Track) Format() *Format { return t.format }

// Stats returns the depacketizer's counters.
func (t *Track) Stats() Stats { return t.dep.Stats() }

// Reset forgets partial frames and sequence state (reconnect); a G.711
// track's pending FLAC block is padded and emitted through emit.
func (t *Track) Reset(emit func(*Frame)) error {
	t.dep.Reset()
	if t.flac != nil {
		return t.flac.Flush(emit)
	}
	return nil
}

// Push takes one RTP packet and emits the frames it completes, with PTS in
// Format().ClockRate units. Errors are those of the depacketizer: none is
// fatal to the track.
func (t *Track) Push(pkt *rtp.Packet, emit func(*Frame)) error {
	out := emit
	if t.g711 != nil {
		t.emit, t.encErr, out = emit, nil, t.toFLAC
	}
	err := t.dep.Push(pkt, out)
	if l, ok := t.dep.(*LATM); ok {
		if cfg, ok := l.Config(); ok && (t.format == nil || !bytes.Equal(t.format.AAC.Raw, cfg.Raw)) {
			t.format = aacFormat(cfg, l.clockRate)
		}
	}
	if err == nil {
		err = t.encErr
	}
	return err
}

// NewTrack picks the depacketizer for an SDP media: the rtpmap encoding
// name (upper case), clock rate and channel count (0 when the rtpmap has
// none) and the fmtp (keys lower case). An error wrapping ErrUnsupported
// means a valid track nvr does not record; the video records regardless.
func NewTrack(codec string, clockRate, channels int, fmtp map[string]string) (*Track, error) {
	if clockRate <= 0 {
		return nil, fmt.Errorf("%w: %s clock rate %d", ErrMalformed, truncate(codec), clockRate)
	}
	switch strings.ToUpper(codec) {
	case "MPEG4-GENERIC":
		if m := strings.ToLower(fmtp["mode"]); m != "" && m != "aac-hbr" && m != "aac-lbr" {
			return nil, fmt.Errorf("%w: MPEG4-GENERIC mode %q", ErrUnsupported, truncate(m))
		}
		cfg, err := ParseAACConfigHex(fmtp["config"])
		if err != nil {
			return nil, fmt.Errorf("MPEG4-GENERIC config: %w", err)
		}
		p, err := ParseGenericParams(fmtp)
		if err != nil {
			return nil, err
		}
		d, err := NewMPEG4Generic(p, cfg, clockRate)
		if err != nil {
			return nil, err
		}
		return &Track{dep: d, format: aacFormat(cfg, clockRate)}, nil
	case "MP4A-LATM":
		d, err := NewLATM(clockRate, fmtp)
		if err != nil {
			return nil, err
		}
		t := &Track{dep: d}
		if cfg, ok := d.Config(); ok {
			t.format = aacFormat(cfg, clockRate)
		}
		return t, nil
	case "PCMU", "PCMA":
		if channels == 0 {
			channels = 1
		}
		if clockRate != 8000 {
			// RFC 3551 §4.5.14: 8000 Hz. Other rates exist in theory; the
			// FLAC timeline takes its rate from the clock, so say so.
			return nil, fmt.Errorf("%w: %s at %d Hz", ErrUnsupported, codec, clockRate)
		}
		d, err := NewG711(strings.ToUpper(codec), channels)
		if err != nil {
			return nil, err
		}
		enc, err := NewFLACEncoder(clockRate, channels)
		if err != nil {
			return nil, err
		}
		info := enc.Info()
		t := &Track{dep: d, g711: d, flac: enc, format: &Format{Codec: CodecFLAC, ClockRate: clockRate, SampleRate: clockRate, Channels: channels, FLAC: &info}}
		t.toFLAC = t.decodeG711
		return t, nil
	case "OPUS":
		d, err := NewOpus(clockRate)
		if err != nil {
			return nil, err
		}
		// RFC 7587 §7.1: sprop-stereo says whether the sender may send
		// stereo; mono is the default. The rtpmap always says /2.
		ch := 1
		if fmtp["sprop-stereo"] == "1" {
			ch = 2
		}
		return &Track{dep: d, format: &Format{Codec: CodecOpus, ClockRate: OpusClockRate, SampleRate: OpusClockRate, Channels: ch, Opus: true}}, nil
	}
	return nil, fmt.Errorf("%w: audio codec %q", ErrUnsupported, truncate(codec))
}

func aacFormat(cfg AACConfig, clockRate int) *Format {
	return &Format{Codec: cfg.Codec(), ClockRate: clockRate, SampleRate: cfg.OutputRate, Channels: cfg.Channels, AAC: &cfg}
}
