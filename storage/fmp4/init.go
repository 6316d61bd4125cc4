package fmp4

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	mp4 "github.com/abema/go-mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/nvr-project/nvr/internal/h265ps"
	"github.com/nvr-project/nvr/storage/internal/bmff"
)

// Timescale is the media timescale of every nvr segment: the 90 kHz RTP
// clock of H.264 (RFC 6184 §8.2.1), so RTP-derived times map 1:1.
const Timescale = 90000

// trackID is the ID of the single video track in a segment.
const trackID = 1

// maxParamSetSize bounds parameter sets: avcC and hvcC store each length
// in 16 bits (ISO/IEC 14496-15 §5.3.3.1, §8.3.3.1), and a real one is a few
// dozen bytes.
const maxParamSetSize = 0xffff

// maxDimension bounds width and height: tkhd and avc1 hold them in 16 bits.
const maxDimension = 0xffff

// maxSARTerm bounds each term of the pixel aspect ratio: the SPS holds
// them in 16 bits (ITU-T H.264 §E.1.1), so a larger one is no real ratio.
const maxSARTerm = 0xffff

// ErrBadParams is returned by NewWriter for unusable track parameters.
var ErrBadParams = errors.New("fmp4: bad track parameters")

// seekBuffer is an in-memory io.WriteSeeker: go-mp4's box writer patches box
// sizes by seeking back, so it cannot write to a plain io.Writer.
type seekBuffer struct {
	buf []byte
	pos int
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	end := s.pos + len(p)
	if end > len(s.buf) {
		s.buf = append(s.buf, make([]byte, end-len(s.buf))...)
	}
	copy(s.buf[s.pos:], p)
	s.pos = end
	return len(p), nil
}

func (s *seekBuffer) Seek(offset int64, whence int) (int64, error) {
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = int64(s.pos)
	case io.SeekEnd:
		base = int64(len(s.buf))
	default:
		return 0, errors.New("fmp4: bad whence")
	}
	n := base + offset
	if n < 0 || n > int64(len(s.buf)) {
		return 0, errors.New("fmp4: seek out of range")
	}
	s.pos = int(n)
	return n, nil
}

// resolveParams checks p and fills Width/Height from the SPS when they are
// zero.
func resolveParams(p TrackParams) (TrackParams, error) {
	if p.H265() {
		return resolveH265(p)
	}
	if len(p.SPS) < 4 || len(p.SPS) > maxParamSetSize {
		return p, fmt.Errorf("%w: SPS of %d bytes", ErrBadParams, len(p.SPS))
	}
	if len(p.PPS) < 1 || len(p.PPS) > maxParamSetSize {
		return p, fmt.Errorf("%w: PPS of %d bytes", ErrBadParams, len(p.PPS))
	}
	if p.SPS[0]&0x1f != byte(h264.NALUTypeSPS) {
		return p, fmt.Errorf("%w: SPS has NAL type %d", ErrBadParams, p.SPS[0]&0x1f)
	}
	if p.PPS[0]&0x1f != byte(h264.NALUTypePPS) {
		return p, fmt.Errorf("%w: PPS has NAL type %d", ErrBadParams, p.PPS[0]&0x1f)
	}
	if p.Width == 0 || p.Height == 0 {
		var sps h264.SPS
		if err := sps.Unmarshal(p.SPS); err != nil {
			return p, fmt.Errorf("%w: no size given and SPS unreadable: %v", ErrBadParams, err)
		}
		p.Width, p.Height = sps.Width(), sps.Height()
	}
	return checkSize(p)
}

// resolveH265 is resolveParams for an H.265 track: hvcC needs the SPS
// parsed, so one that does not parse is refused.
func resolveH265(p TrackParams) (TrackParams, error) {
	for _, ps := range []struct {
		name string
		b    []byte
		typ  int
	}{{"VPS", p.VPS, h265ps.TypeVPS}, {"SPS", p.SPS, h265ps.TypeSPS}, {"PPS", p.PPS, h265ps.TypePPS}} {
		if len(ps.b) < 3 || len(ps.b) > maxParamSetSize {
			return p, fmt.Errorf("%w: %s of %d bytes", ErrBadParams, ps.name, len(ps.b))
		}
		if t := h265ps.Type(ps.b); t != ps.typ {
			return p, fmt.Errorf("%w: %s has NAL type %d", ErrBadParams, ps.name, t)
		}
	}
	s, err := h265ps.ParseSPS(p.SPS)
	if err != nil {
		return p, fmt.Errorf("%w: %v", ErrBadParams, err)
	}
	if p.Width == 0 || p.Height == 0 {
		p.Width, p.Height = s.Width, s.Height
	}
	return checkSize(p)
}

// checkSize checks the displayed size and the pixel aspect ratio.
func checkSize(p TrackParams) (TrackParams, error) {
	if p.Width <= 0 || p.Height <= 0 || p.Width > maxDimension || p.Height > maxDimension {
		return p, fmt.Errorf("%w: size %dx%d", ErrBadParams, p.Width, p.Height)
	}
	if p.SARWidth < 0 || p.SARHeight < 0 || p.SARWidth > maxSARTerm || p.SARHeight > maxSARTerm {
		return p, fmt.Errorf("%w: pixel aspect ratio %d:%d", ErrBadParams, p.SARWidth, p.SARHeight)
	}
	return p, nil
}

// segmentCompressor is the compressorname of a segment's sample entry.
func segmentCompressor(p TrackParams) string {
	if p.H265() {
		return "nvr H.265"
	}
	return "nvr H.264"
}

// buildInit returns ftyp+moov for one H.264 or H.265 track and, when a is
// not nil, an audio track after it. It uses go-mp4's box
// writer for the boxes around the sample entry: this part is written once
// per segment, so clarity beats speed.
func buildInit(p TrackParams, a *AudioParams) ([]byte, error) {
	sb := &seekBuffer{buf: make([]byte, 0, 1024)}
	w := mp4.NewWriter(sb)
	var firstErr error
	// box writes one box with payload b, then its children, then patches
	// the size.
	box := func(b mp4.IImmutableBox, children ...func()) {
		if firstErr != nil {
			return
		}
		bi, err := w.StartBox(&mp4.BoxInfo{Type: b.GetType()})
		if err != nil {
			firstErr = err
			return
		}
		if _, err := mp4.Marshal(w, b, bi.Context); err != nil {
			firstErr = err
			return
		}
		for _, c := range children {
			c()
		}
		if firstErr == nil {
			if _, err := w.EndBox(); err != nil {
				firstErr = err
			}
		}
	}
	unity := [9]int32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000}
	brands := []mp4.CompatibleBrandElem{
		{CompatibleBrand: [4]byte{'i', 's', 'o', '5'}},
		{CompatibleBrand: [4]byte{'i', 's', 'o', 'm'}},
		{CompatibleBrand: [4]byte{'i', 's', 'o', '6'}},
		{CompatibleBrand: [4]byte{'a', 'v', 'c', '1'}},
		{CompatibleBrand: [4]byte{'m', 'p', '4', '1'}},
	}
	if p.H265() {
		// avc1 is the brand of AVC files (ISO/IEC 14496-15 §6); HEVC has
		// no brand a player needs.
		brands = append(brands[:3], brands[4])
	}
	nextTrack := uint32(trackID + 1)
	if a != nil {
		nextTrack = audioTrackID + 1
	}
	box(&mp4.Ftyp{MajorBrand: [4]byte{'i', 's', 'o', '5'}, MinorVersion: 512, CompatibleBrands: brands})

	box(&mp4.Moov{},
		func() {
			box(&mp4.Mvhd{Timescale: Timescale, Rate: 0x00010000, Volume: 0x0100, Matrix: unity, NextTrackID: nextTrack})
		},
		func() {
			box(&mp4.Trak{},
				func() {
					box(&mp4.Tkhd{
						FullBox: mp4.FullBox{Flags: [3]byte{0, 0, 3}}, // enabled, in movie
						TrackID: trackID, Matrix: unity,
						Width: uint32(p.Width) << 16, Height: uint32(p.Height) << 16,
					})
				},
				func() {
					box(&mp4.Mdia{},
						func() {
							box(&mp4.Mdhd{Timescale: Timescale, Language: [3]byte{'u' - 0x60, 'n' - 0x60, 'd' - 0x60}})
						},
						func() {
							box(&mp4.Hdlr{HandlerType: [4]byte{'v', 'i', 'd', 'e'}, Name: "VideoHandler"})
						},
						func() {
							// The sample entry comes from the box writer the
							// export shares, so both describe the stream alike.
							box(&mp4.Minf{}, append([]func(){
								func() { box(&mp4.Vmhd{FullBox: mp4.FullBox{Flags: [3]byte{0, 0, 1}}}) },
							}, sampleTables(box, w, p.SampleEntry(segmentCompressor(p)), &firstErr)...)...)
						},
					)
				},
			)
		},
		func() {
			if a != nil {
				audioTrak(box, w, a, unity, &firstErr)
			}
		},
		func() {
			box(&mp4.Mvex{}, func() {
				box(&mp4.Trex{TrackID: trackID, DefaultSampleDescriptionIndex: 1})
				if a != nil {
					box(&mp4.Trex{TrackID: audioTrackID, DefaultSampleDescriptionIndex: 1})
				}
			})
		},
	)
	if firstErr != nil {
		return nil, fmt.Errorf("fmp4: build init segment: %w", firstErr)
	}
	return bytes.Clone(sb.buf), nil
}

// audioTrak writes the trak of a segment's audio track: timescale the RTP
// clock, a sound handler, and the sample entry bmff writes for exports too.
func audioTrak(box func(mp4.IImmutableBox, ...func()), w *mp4.Writer, a *AudioParams, unity [9]int32, firstErr *error) {
	box(&mp4.Trak{},
		func() {
			box(&mp4.Tkhd{
				FullBox: mp4.FullBox{Flags: [3]byte{0, 0, 3}}, // enabled, in movie
				TrackID: audioTrackID, AlternateGroup: 1, Volume: 0x0100, Matrix: unity,
			})
		},
		func() {
			box(&mp4.Mdia{},
				func() {
					box(&mp4.Mdhd{Timescale: uint32(a.Timescale), Language: [3]byte{'u' - 0x60, 'n' - 0x60, 'd' - 0x60}})
				},
				func() { box(&mp4.Hdlr{HandlerType: [4]byte{'s', 'o', 'u', 'n'}, Name: "SoundHandler"}) },
				func() {
					box(&mp4.Minf{}, append([]func(){
						func() { box(&mp4.Smhd{}) },
					}, sampleTables(box, w, a.SampleEntry(), firstErr)...)...)
				},
			)
		},
	)
}

// sampleTables returns the writers of a trak's dinf and of its stbl: the
// one sample entry and empty tables (the samples are in the fragments).
func sampleTables(box func(mp4.IImmutableBox, ...func()), w *mp4.Writer, entry bmff.SampleEntry, firstErr *error) []func() {
	return []func(){
		func() {
			box(&mp4.Dinf{}, func() {
				box(&mp4.Dref{EntryCount: 1}, func() {
					box(&mp4.Url{FullBox: mp4.FullBox{Flags: [3]byte{0, 0, 1}}})
				})
			})
		},
		func() {
			box(&mp4.Stbl{},
				func() {
					box(&mp4.Stsd{EntryCount: 1}, func() {
						var e bmff.Writer
						entry.Append(&e)
						if _, err := w.Write(e.B); err != nil && *firstErr == nil {
							*firstErr = err
						}
					})
				},
				func() { box(&mp4.Stts{}) },
				func() { box(&mp4.Stsc{}) },
				func() { box(&mp4.Stsz{}) },
				func() { box(&mp4.Stco{}) },
			)
		},
	}
}
