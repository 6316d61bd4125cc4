// Package video is the codec-neutral face of a camera's video stream: the
// access unit and parameter facts that the recorder (queue, segmenter),
// live view, fleet recovery and probe consume, and the choice of
// depacketizer (recorder/h264 or recorder/h265) from the SDP's rtpmap and
// fmtp. It is the smallest abstraction that lets those consumers serve
// both codecs: what differs between the codecs stays in h264 and h265.
//
// It starts no goroutines and does no I/O.
package video

import (
	"fmt"
	"strings"

	"github.com/nvr-project/nvr/recorder/h264"
	"github.com/nvr-project/nvr/recorder/h265"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/pion/rtp"
)

// Encoding names of the rtpmap (RFC 6184 §8.1, RFC 7798 §7.1), as
// recorder/rtsp upper-cases them.
const (
	CodecH264 = "H264"
	CodecH265 = "H265"
)

// MaxAccessUnitSize and MaxNALUsPerAccessUnit bound one access unit of
// either codec (the depacketizers' bounds, the larger where they differ).
const (
	MaxAccessUnitSize     = max(h264.MaxAccessUnitSize, h265.MaxAccessUnitSize)
	MaxNALUsPerAccessUnit = max(h264.MaxNALUsPerAccessUnit, h265.MaxNALUsPerAccessUnit)
)

// Params are the facts of a set of parameter sets, whichever the codec.
type Params struct {
	VPS, SPS, PPS []byte // VPS is nil for H.264
	Codec         string // RFC 6381, e.g. "avc1.640028", "hvc1.1.6.L93.B0"
	Width, Height int
	Profile       string // "High", "Main", "Main 10", ...
	Tier          string // H.265 only: "Main" or "High"
	Level         string // "4.0", "3.1"
	FPS           float64
	// Reorder is the reorder depth the SPS signals (H.265; B-frames when
	// above 0); 0 for H.264, whose depth is learned from the stream.
	Reorder int
	sarW    int // the sample aspect ratio to display with
	sarH    int
}

// H265 reports whether the parameter sets are H.265's.
func (p Params) H265() bool { return p.VPS != nil }

// DisplaySAR is the sample aspect ratio to show the picture with (see
// recorder/h264's Params.DisplaySAR: signalled, or 4:3 for the anamorphic
// sizes cameras send unsignalled, else 1:1).
func (p Params) DisplaySAR() (w, h int) { return p.sarW, p.sarH }

// Track is the MP4 track these parameters describe: avc1 or hvc1 with the
// parameter sets, the size and the pixel aspect ratio.
func (p Params) Track() fmp4.TrackParams {
	return fmp4.TrackParams{VPS: p.VPS, SPS: p.SPS, PPS: p.PPS, Width: p.Width, Height: p.Height, SARWidth: p.sarW, SARHeight: p.sarH}
}

func fromH264(p *h264.Params) *Params {
	w, h := p.DisplaySAR()
	return &Params{SPS: p.SPS, PPS: p.PPS, Codec: p.Codec, Width: p.Width, Height: p.Height,
		Profile: p.Profile, Level: p.Level, FPS: p.FPS, sarW: w, sarH: h}
}

func fromH265(p *h265.Params) *Params {
	w, h := p.DisplaySAR()
	return &Params{VPS: p.VPS, SPS: p.SPS, PPS: p.PPS, Codec: p.Codec, Width: p.Width, Height: p.Height,
		Profile: p.Profile, Tier: p.Tier, Level: p.Level, FPS: p.FPS, Reorder: p.Reorder, sarW: w, sarH: h}
}

// ParseParams parses parameter sets read back from a file or kept by a
// consumer: H.265 when vps is set, else H.264.
func ParseParams(vps, sps, pps []byte) (Params, error) {
	if vps != nil {
		p, err := h265.ParseParams(vps, sps, pps)
		if err != nil {
			return Params{}, err
		}
		return *fromH265(&p), nil
	}
	p, err := h264.ParseParams(sps, pps)
	if err != nil {
		return Params{}, err
	}
	return *fromH264(&p), nil
}

// AccessUnit is one picture in decode order, as the codec's depacketizer
// emitted it: NALUs (without start codes) are valid only during the
// callback; VPS, SPS, PPS and Params are never modified and may be kept.
type AccessUnit struct {
	NALUs         [][]byte
	PTS, DTS      int64 // 90 kHz; DTS <= PTS
	Keyframe      bool
	VPS, SPS, PPS []byte // VPS nil for H.264
	// Params is the parameter sets parsed, one pointer per change (nil
	// only when one is missing).
	Params *Params
}

// Stats counts what a depacketizer has seen (the same for both codecs).
type Stats = h264.Stats

// Depacketizer turns RTP packets into access units; recorder/h264's and
// recorder/h265's behind one interface. One goroutine owns it.
type Depacketizer interface {
	Push(pkt *rtp.Packet, emit func(*AccessUnit)) error
	Flush(emit func(*AccessUnit))
	Stats() Stats
}

// NewDepacketizer picks the depacketizer for the SDP's video track by its
// rtpmap encoding name, with the parameter sets the SDP carries
// (sprop-parameter-sets; sprop-vps, sprop-sps and sprop-pps in the fmtp).
// An H.265 track with DONL is refused (h265.ErrDONL); a codec other than
// H.264 and H.265 is an error.
func NewDepacketizer(t rtsp.VideoTrack) (Depacketizer, error) {
	switch strings.ToUpper(t.Codec) {
	case CodecH264:
		d := h264.NewDepacketizer(h264.ParseSprop(t.SpropParameterSets))
		var in *h264.Params
		var params *Params
		return newAdapter(d.Push, d.Flush, d.Stats, func(au *h264.AccessUnit, out *AccessUnit) {
			if au.Params != in {
				in, params = au.Params, nil
				if in != nil {
					params = fromH264(in)
				}
			}
			*out = AccessUnit{NALUs: au.NALUs, PTS: au.PTS, DTS: au.DTS, Keyframe: au.Keyframe, SPS: au.SPS, PPS: au.PPS, Params: params}
		}), nil
	case CodecH265:
		vps, sps, pps, err := h265.FromFmtp(t.Fmtp)
		if err != nil {
			return nil, err
		}
		d := h265.NewDepacketizer(vps, sps, pps)
		var in *h265.Params
		var params *Params
		return newAdapter(d.Push, d.Flush, d.Stats, func(au *h265.AccessUnit, out *AccessUnit) {
			if au.Params != in {
				in, params = au.Params, nil
				if in != nil {
					params = fromH265(in)
				}
			}
			*out = AccessUnit{NALUs: au.NALUs, PTS: au.PTS, DTS: au.DTS, Keyframe: au.Keyframe, VPS: au.VPS, SPS: au.SPS, PPS: au.PPS, Params: params}
		}), nil
	}
	return nil, fmt.Errorf("video: codec %q is neither H.264 nor H.265", t.Codec)
}

// adapter wraps a codec's depacketizer, whose access unit type is A: conv
// fills the neutral access unit (converting Params once per change, since
// the codec shares one pointer until its parameter sets change).
type adapter[A any] struct {
	push  func(*rtp.Packet, func(*A)) error
	flush func(func(*A))
	stats func() Stats
	conv  func(*A, *AccessUnit)
	emit  func(*AccessUnit) // the caller's callback during Push and Flush
	onAU  func(*A)          // a.au bound once: no allocation per Push
	out   AccessUnit
}

func newAdapter[A any](push func(*rtp.Packet, func(*A)) error, flush func(func(*A)), stats func() Stats, conv func(*A, *AccessUnit)) *adapter[A] {
	a := &adapter[A]{push: push, flush: flush, stats: stats, conv: conv}
	a.onAU = a.au
	return a
}

func (a *adapter[A]) Push(pkt *rtp.Packet, emit func(*AccessUnit)) error {
	a.emit = emit
	err := a.push(pkt, a.onAU)
	a.emit = nil
	return err
}

func (a *adapter[A]) Flush(emit func(*AccessUnit)) {
	a.emit = emit
	a.flush(a.onAU)
	a.emit = nil
}

func (a *adapter[A]) Stats() Stats { return a.stats() }

func (a *adapter[A]) au(au *A) {
	a.conv(au, &a.out)
	a.emit(&a.out)
}
