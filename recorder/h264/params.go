package h264

import (
	"fmt"
	"strings"

	mch264 "github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/nvr-project/nvr/recorder/internal/nalrtp"
)

// NAL unit types used here (ITU-T H.264 Table 7-1; RFC 6184 §5.2 for 24-31).
const (
	naluNonIDR   = 1
	naluIDR      = 5
	naluSEI      = 6
	naluSPS      = 7
	naluPPS      = 8
	naluAUD      = 9
	naluFiller   = 12
	naluSTAPA    = 24
	naluSTAPB    = 25
	naluMTAP16   = 26
	naluMTAP24   = 27
	naluFUA      = 28
	naluFUB      = 29
	naluTypeMask = 0x1f
)

const (
	// maxSpropLen bounds the sprop-parameter-sets value we look at: real
	// values are a few hundred bytes, so anything longer is garbage.
	maxSpropLen = 16 << 10

	// maxPictureSide bounds the width and height an SPS may claim: Level 6.2
	// allows 139,264 macroblocks per frame, i.e. 8192x4320; twice that per
	// side leaves room for odd shapes and stops overflowed or hostile values.
	maxPictureSide = 16384

	// minPPSLen is a NAL header plus at least one byte of PPS syntax
	// (pic_parameter_set_id and seq_parameter_set_id, ITU-T H.264 7.3.2.2).
	minPPSLen = 2
)

// Params are the facts a recorder needs from a pair of parameter sets.
type Params struct {
	SPS, PPS            []byte
	Width, Height       int     // cropped display size from the SPS
	ProfileIDC          uint8   // e.g. 100
	LevelIDC            uint8   // e.g. 40
	Profile             string  // "Baseline", "Constrained Baseline", "Main", "High", ...
	Level               string  // "4.0", "3.1", "1b"
	Codec               string  // RFC 6381 string, e.g. "avc1.640028"
	FPS                 float64 // from VUI timing info when present, else 0
	SARWidth, SARHeight int     // sample aspect ratio if signalled (1,1 otherwise)
	SARSignalled        bool    // the SPS carries aspect_ratio_info (E.2.1)
}

// DisplaySAR is the sample aspect ratio to show the picture with: the
// signalled one, else the 4:3 ratio for the anamorphic sizes cameras send
// unsignalled, else 1:1.
func (p Params) DisplaySAR() (w, h int) {
	return nalrtp.DisplaySAR(p.SARSignalled, p.SARWidth, p.SARHeight, p.Width, p.Height)
}

// ParseParams parses the SPS (with mediacommon's h264.SPS) and checks the PPS
// is present. Errors wrap ErrMalformed or ErrNoParams.
func ParseParams(sps, pps []byte) (Params, error) {
	s, err := parseSPS(sps)
	if err != nil {
		return Params{}, err
	}
	if len(pps) == 0 {
		return Params{}, fmt.Errorf("%w: PPS missing", ErrNoParams)
	}
	if err := checkPPS(pps); err != nil {
		return Params{}, err
	}
	return paramsOf(s, sps, pps), nil
}

// paramsOf builds Params from an SPS parsed (and checked) by parseSPS and
// a checked PPS.
func paramsOf(s *mch264.SPS, sps, pps []byte) Params {
	p := Params{
		SPS:        sps,
		PPS:        pps,
		Width:      s.Width(),
		Height:     s.Height(),
		ProfileIDC: s.ProfileIdc,
		LevelIDC:   s.LevelIdc,
		Profile:    profileName(s),
		Level:      levelName(s),
		SARWidth:   1,
		SARHeight:  1,
	}
	// RFC 6381 §3.3: avc1.PPCCLL, profile_idc, the constraint flags byte and
	// level_idc in hex. The byte is rebuilt from the parsed flags so an
	// emulation prevention byte in the SPS cannot shift it.
	p.Codec = fmt.Sprintf("avc1.%02x%02x%02x", s.ProfileIdc, constraintByte(s), s.LevelIdc)
	if v := s.VUI; v != nil {
		// E.2.1: a frame lasts two ticks (one per field) in the usual
		// progressive signalling, hence the factor 2.
		if t := v.TimingInfo; t != nil && t.NumUnitsInTick > 0 && t.TimeScale > 0 {
			p.FPS = float64(t.TimeScale) / (2 * float64(t.NumUnitsInTick))
		}
		if v.AspectRatioInfoPresentFlag {
			p.SARWidth, p.SARHeight = nalrtp.SampleAspectRatio(v.AspectRatioIdc, v.SarWidth, v.SarHeight)
			p.SARSignalled = true
		}
	}
	return p
}

// parseSPS parses and sanity-checks an SPS NAL unit.
func parseSPS(b []byte) (*mch264.SPS, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: SPS missing", ErrNoParams)
	}
	if b[0]&naluTypeMask != naluSPS {
		return nil, fmt.Errorf("%w: SPS has NAL type %d", ErrMalformed, b[0]&naluTypeMask)
	}
	var s mch264.SPS
	if err := s.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("%w: SPS: %w", ErrMalformed, err)
	}
	// Width/Height multiply the coded size in uint32: check the inputs first
	// so a hostile SPS cannot overflow them.
	if s.PicWidthInMbsMinus1 >= maxPictureSide/16 || s.PicHeightInMapUnitsMinus1 >= maxPictureSide/16 {
		return nil, fmt.Errorf("%w: SPS: picture of %dx%d macroblocks is too large",
			ErrMalformed, uint64(s.PicWidthInMbsMinus1)+1, uint64(s.PicHeightInMapUnitsMinus1)+1)
	}
	if c := s.FrameCropping; c != nil {
		// Crop offsets are in 2-sample units at most; anything beyond the
		// coded size would wrap the uint32 subtraction in Width/Height.
		limit := uint64(maxPictureSide)
		if uint64(c.LeftOffset)+uint64(c.RightOffset) >= limit || uint64(c.TopOffset)+uint64(c.BottomOffset) >= limit {
			return nil, fmt.Errorf("%w: SPS: frame cropping out of range", ErrMalformed)
		}
	}
	w, h := s.Width(), s.Height()
	if w <= 0 || h <= 0 || w > maxPictureSide || h > maxPictureSide {
		return nil, fmt.Errorf("%w: SPS: picture size %dx%d out of range", ErrMalformed, w, h)
	}
	return &s, nil
}

func checkPPS(b []byte) error {
	if len(b) < minPPSLen || b[0]&naluTypeMask != naluPPS {
		return fmt.Errorf("%w: PPS is not a PPS NAL unit", ErrMalformed)
	}
	return nil
}

func constraintByte(s *mch264.SPS) uint8 {
	var c uint8
	for i, f := range []bool{s.ConstraintSet0Flag, s.ConstraintSet1Flag, s.ConstraintSet2Flag,
		s.ConstraintSet3Flag, s.ConstraintSet4Flag, s.ConstraintSet5Flag} {
		if f {
			c |= 0x80 >> i
		}
	}
	return c
}

// profileName names the profile as ITU-T H.264 Annex A does, including the
// constrained variants that only the constraint flags tell apart (A.2).
func profileName(s *mch264.SPS) string {
	switch s.ProfileIdc {
	case 66:
		if s.ConstraintSet1Flag {
			return "Constrained Baseline"
		}
		return "Baseline"
	case 77:
		return "Main"
	case 88:
		return "Extended"
	case 100:
		switch {
		case s.ConstraintSet4Flag && s.ConstraintSet5Flag:
			return "Constrained High"
		case s.ConstraintSet4Flag:
			return "Progressive High"
		}
		return "High"
	case 110:
		if s.ConstraintSet3Flag {
			return "High 10 Intra"
		}
		return "High 10"
	case 122:
		if s.ConstraintSet3Flag {
			return "High 4:2:2 Intra"
		}
		return "High 4:2:2"
	case 244:
		if s.ConstraintSet3Flag {
			return "High 4:4:4 Intra"
		}
		return "High 4:4:4 Predictive"
	case 44:
		return "CAVLC 4:4:4 Intra"
	case 83:
		return "Scalable Baseline"
	case 86:
		return "Scalable High"
	case 118:
		return "Multiview High"
	case 128:
		return "Stereo High"
	case 134:
		return "MFC High"
	case 138, 139:
		return "Multiview Depth High"
	}
	return fmt.Sprintf("Unknown (%d)", s.ProfileIdc)
}

// levelName formats level_idc as "major.minor"; level 1b is signalled as 9,
// or as 11 with constraint_set3_flag in the Baseline, Main and Extended
// profiles (A.3.1).
func levelName(s *mch264.SPS) string {
	l := s.LevelIdc
	if l == 9 || (l == 11 && s.ConstraintSet3Flag && (s.ProfileIdc == 66 || s.ProfileIdc == 77 || s.ProfileIdc == 88)) {
		return "1b"
	}
	return fmt.Sprintf("%d.%d", l/10, l%10)
}

// ParseSprop decodes an SDP sprop-parameter-sets value (RFC 6184 §8.1)
// tolerantly: comma-separated base64 (std or raw/no padding), entries that
// contain Annex B start codes (GW Security) are split, garbage entries are
// ignored (VStarcam), a stray trailing byte after a valid SPS (Reolink) is
// kept since the SPS parses and decoders ignore it, an entry that does not
// parse as SPS is dropped. Returns nil slices for anything missing; the
// first valid SPS and the first PPS win.
func ParseSprop(value string) (sps, pps []byte) {
	if len(value) > maxSpropLen {
		return nil, nil
	}
	for entry := range strings.SplitSeq(value, ",") {
		raw, ok := nalrtp.DecodeBase64(strings.TrimSpace(entry))
		if !ok {
			continue // VStarcam: garbage next to the real entries
		}
		for _, nalu := range nalrtp.SplitStartCodes(raw) {
			switch nalu[0] & naluTypeMask {
			case naluSPS:
				if sps == nil {
					if _, err := parseSPS(nalu); err == nil {
						sps = nalu
					}
				}
			case naluPPS:
				if pps == nil && checkPPS(nalu) == nil {
					pps = nalu
				}
			}
		}
	}
	return sps, pps
}
