package fmp4

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	mp4 "github.com/abema/go-mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// Timescale is the media timescale of every nvr segment: the 90 kHz RTP
// clock of H.264 (RFC 6184 §8.2.1), so RTP-derived times map 1:1.
const Timescale = 90000

// trackID is the ID of the single video track in a segment.
const trackID = 1

// maxParamSetSize bounds SPS and PPS: avcC stores each length in 16 bits
// (ISO/IEC 14496-15 §5.3.3.1), and a real one is a few dozen bytes.
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
func resolveParams(p TrackParams) (TrackParams, h264.SPS, error) {
	var sps h264.SPS
	if len(p.SPS) < 4 || len(p.SPS) > maxParamSetSize {
		return p, sps, fmt.Errorf("%w: SPS of %d bytes", ErrBadParams, len(p.SPS))
	}
	if len(p.PPS) < 1 || len(p.PPS) > maxParamSetSize {
		return p, sps, fmt.Errorf("%w: PPS of %d bytes", ErrBadParams, len(p.PPS))
	}
	if p.SPS[0]&0x1f != byte(h264.NALUTypeSPS) {
		return p, sps, fmt.Errorf("%w: SPS has NAL type %d", ErrBadParams, p.SPS[0]&0x1f)
	}
	if p.PPS[0]&0x1f != byte(h264.NALUTypePPS) {
		return p, sps, fmt.Errorf("%w: PPS has NAL type %d", ErrBadParams, p.PPS[0]&0x1f)
	}
	err := sps.Unmarshal(p.SPS)
	if p.Width == 0 || p.Height == 0 {
		if err != nil {
			return p, sps, fmt.Errorf("%w: no size given and SPS unreadable: %v", ErrBadParams, err)
		}
		p.Width, p.Height = sps.Width(), sps.Height()
	}
	if p.Width <= 0 || p.Height <= 0 || p.Width > maxDimension || p.Height > maxDimension {
		return p, sps, fmt.Errorf("%w: size %dx%d", ErrBadParams, p.Width, p.Height)
	}
	if p.SARWidth < 0 || p.SARHeight < 0 || p.SARWidth > maxSARTerm || p.SARHeight > maxSARTerm {
		return p, sps, fmt.Errorf("%w: pixel aspect ratio %d:%d", ErrBadParams, p.SARWidth, p.SARHeight)
	}
	if err != nil {
		// The size came from the caller; the avcC fields below come from
		// the SPS header bytes, which are present (len >= 4).
		// 4:2:0 8-bit is assumed for avcC's high-profile fields: it is
		// what every camera sends.
		sps = h264.SPS{ProfileIdc: p.SPS[1], LevelIdc: p.SPS[3], ChromaFormatIdc: 1}
	}
	return p, sps, nil
}

// highProfile reports whether avcC carries the extra chroma/bit-depth fields
// for this profile_idc (ISO/IEC 14496-15 §5.3.3.1.2).
func highProfile(profile uint8) bool {
	switch profile {
	case 100, 110, 122, 144:
		return true
	}
	return false
}

// buildInit returns ftyp+moov for one H.264 track. It uses go-mp4's box
// writer: this part is written once per segment, so clarity beats speed.
func buildInit(p TrackParams, sps h264.SPS) ([]byte, error) {
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
	box(&mp4.Ftyp{MajorBrand: [4]byte{'i', 's', 'o', '5'}, MinorVersion: 512, CompatibleBrands: brands})

	avcc := &mp4.AVCDecoderConfiguration{
		AnyTypeBox:                 mp4.AnyTypeBox{Type: mp4.BoxTypeAvcC()},
		ConfigurationVersion:       1,
		Profile:                    p.SPS[1],
		ProfileCompatibility:       p.SPS[2],
		Level:                      p.SPS[3],
		Reserved:                   0x3f,
		LengthSizeMinusOne:         3, // 4-byte NAL lengths
		Reserved2:                  0x7,
		NumOfSequenceParameterSets: 1,
		SequenceParameterSets:      []mp4.AVCParameterSet{{Length: uint16(len(p.SPS)), NALUnit: p.SPS}},
		NumOfPictureParameterSets:  1,
		PictureParameterSets:       []mp4.AVCParameterSet{{Length: uint16(len(p.PPS)), NALUnit: p.PPS}},
	}
	if highProfile(p.SPS[1]) {
		avcc.HighProfileFieldsEnabled = true
		avcc.Reserved3 = 0x3f
		avcc.ChromaFormat = uint8(sps.ChromaFormatIdc & 3)
		avcc.Reserved4 = 0x1f
		avcc.BitDepthLumaMinus8 = uint8(sps.BitDepthLumaMinus8 & 7)
		avcc.Reserved5 = 0x1f
		avcc.BitDepthChromaMinus8 = uint8(sps.BitDepthChromaMinus8 & 7)
	}
	var compressor [32]byte
	copy(compressor[1:], "nvr H.264")
	compressor[0] = byte(len("nvr H.264"))
	avc1 := &mp4.VisualSampleEntry{
		SampleEntry:     mp4.SampleEntry{AnyTypeBox: mp4.AnyTypeBox{Type: mp4.BoxTypeAvc1()}, DataReferenceIndex: 1},
		Width:           uint16(p.Width),
		Height:          uint16(p.Height),
		Horizresolution: 0x00480000, // 72 dpi, the template value
		Vertresolution:  0x00480000,
		FrameCount:      1,
		Compressorname:  compressor,
		Depth:           0x0018,
		PreDefined3:     -1,
	}

	box(&mp4.Moov{},
		func() {
			box(&mp4.Mvhd{Timescale: Timescale, Rate: 0x00010000, Volume: 0x0100, Matrix: unity, NextTrackID: trackID + 1})
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
							box(&mp4.Minf{},
								func() { box(&mp4.Vmhd{FullBox: mp4.FullBox{Flags: [3]byte{0, 0, 1}}}) },
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
												box(avc1, func() { box(avcc) }, func() {
													if p.HasPasp() {
														box(&mp4.PixelAspectRatioBox{
															AnyTypeBox: mp4.AnyTypeBox{Type: mp4.BoxTypePasp()},
															HSpacing:   uint32(p.SARWidth), VSpacing: uint32(p.SARHeight),
														})
													}
												})
											})
										},
										func() { box(&mp4.Stts{}) },
										func() { box(&mp4.Stsc{}) },
										func() { box(&mp4.Stsz{}) },
										func() { box(&mp4.Stco{}) },
									)
								},
							)
						},
					)
				},
			)
		},
		func() {
			box(&mp4.Mvex{}, func() {
				box(&mp4.Trex{TrackID: trackID, DefaultSampleDescriptionIndex: 1})
			})
		},
	)
	if firstErr != nil {
		return nil, fmt.Errorf("fmp4: build init segment: %w", firstErr)
	}
	return bytes.Clone(sb.buf), nil
}
