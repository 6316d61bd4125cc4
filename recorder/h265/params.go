package h265

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nvr-project/nvr/internal/h265ps"
	"github.com/nvr-project/nvr/recorder/internal/nalrtp"
)

// NAL unit types used here (ITU-T H.265 Table 7-1; RFC 7798 §4.4 for 48-50).
const (
	naluRASLN     = 8  // RASL_N: skipped leading picture
	naluRASLR     = 9  // RASL_R
	naluBLAWLP    = 16 // first IRAP type
	naluCRA       = 21 // last IRAP type nvr treats as a keyframe (22, 23 are reserved)
	naluVPS       = h265ps.TypeVPS
	naluSPS       = h265ps.TypeSPS
	naluPPS       = h265ps.TypePPS
	naluAUD       = 35
	naluFiller    = 38
	naluPrefixSEI = 39
	naluAP        = 48
	naluFU        = 49
	naluPACI      = 50
)

const (
	// maxSpropLen bounds each sprop-* value we look at: real values are a
	// few hundred bytes, so anything longer is garbage.
	maxSpropLen = 16 << 10

	// minVPSLen is the NAL header, the fixed fields before the general
	// profile_tier_level and that (7.3.2.1): anything shorter is no VPS.
	minVPSLen = 2 + 4 + 12

	// minPPSLen is the NAL header plus one byte of PPS syntax
	// (pps_pic_parameter_set_id and pps_seq_parameter_set_id, 7.3.2.3).
	minPPSLen = 3
)

// Params are the facts a recorder needs from a set of parameter sets.
type Params struct {
	VPS, SPS, PPS       []byte
	Width, Height       int // cropped by the conformance window
	ProfileIDC          uint8
	TierHigh            bool
	LevelIDC            uint8   // 30 × level: 93 is level 3.1
	Profile             string  // "Main", "Main 10", ...
	Tier                string  // "Main" or "High"
	Level               string  // "3.1"
	Codec               string  // RFC 6381 string, e.g. "hvc1.1.6.L93.B0"
	FPS                 float64 // from VUI timing info when present, else 0
	Reorder             int     // sps_max_num_reorder_pics: B-frames when > 0
	SARWidth, SARHeight int     // sample aspect ratio if signalled (1,1 otherwise)
	SARSignalled        bool
}

// DisplaySAR is the sample aspect ratio to show the picture with: the
// signalled one, else the 4:3 ratio for the anamorphic sizes cameras send
// unsignalled, else 1:1 (as recorder/h264).
func (p Params) DisplaySAR() (w, h int) {
	return nalrtp.DisplaySAR(p.SARSignalled, p.SARWidth, p.SARHeight, p.Width, p.Height)
}

// ParseParams parses the SPS and checks the VPS and PPS. Errors wrap
// ErrMalformed or ErrNoParams.
func ParseParams(vps, sps, pps []byte) (Params, error) {
	s, err := parseSPS(sps)
	if err != nil {
		return Params{}, err
	}
	if err := checkVPS(vps); err != nil {
		return Params{}, err
	}
	if err := checkPPS(pps); err != nil {
		return Params{}, err
	}
	return paramsOf(s, vps, sps, pps), nil
}

func paramsOf(s *h265ps.SPS, vps, sps, pps []byte) Params {
	p := Params{
		VPS: vps, SPS: sps, PPS: pps,
		Width: s.Width, Height: s.Height,
		ProfileIDC: s.ProfileIDC(), TierHigh: s.TierHigh(), LevelIDC: s.LevelIDC(),
		Profile: s.Profile(), Tier: s.Tier(), Level: s.Level(),
		Codec:    s.Codec(),
		FPS:      s.FPS(),
		Reorder:  s.MaxNumReorder,
		SARWidth: 1, SARHeight: 1,
	}
	if s.SARSignalled {
		p.SARWidth, p.SARHeight = nalrtp.SampleAspectRatio(s.SARIdc, s.SARWidth, s.SARHeight)
		p.SARSignalled = true
	}
	return p
}

// parseSPS parses and sanity-checks an SPS NAL unit.
func parseSPS(b []byte) (*h265ps.SPS, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: SPS missing", ErrNoParams)
	}
	s, err := h265ps.ParseSPS(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return s, nil
}

func checkVPS(b []byte) error {
	switch {
	case len(b) == 0:
		return fmt.Errorf("%w: VPS missing", ErrNoParams)
	case h265ps.Type(b) != naluVPS || len(b) < minVPSLen:
		return fmt.Errorf("%w: VPS is not a VPS NAL unit", ErrMalformed)
	}
	return nil
}

func checkPPS(b []byte) error {
	switch {
	case len(b) == 0:
		return fmt.Errorf("%w: PPS missing", ErrNoParams)
	case h265ps.Type(b) != naluPPS || len(b) < minPPSLen:
		return fmt.Errorf("%w: PPS is not a PPS NAL unit", ErrMalformed)
	}
	return nil
}

// ParseSprop decodes the SDP's sprop-vps, sprop-sps and sprop-pps values
// (RFC 7798 §7.1: each a comma-separated list of base64 NAL units) as
// tolerantly as recorder/h264.ParseSprop: padded or not, Annex B start
// codes inside an entry split, garbage entries ignored, a unit that does
// not parse dropped. A unit is taken by its NAL type whichever parameter
// carried it (firmware that lists all three in sprop-sps is handled).
// Returns nil slices for anything missing; the first valid one of each
// kind wins.
func ParseSprop(values ...string) (vps, sps, pps []byte) {
	for _, value := range values {
		if len(value) > maxSpropLen {
			continue
		}
		for entry := range strings.SplitSeq(value, ",") {
			raw, ok := nalrtp.DecodeBase64(strings.TrimSpace(entry))
			if !ok {
				continue
			}
			for _, nalu := range nalrtp.SplitStartCodes(raw) {
				switch h265ps.Type(nalu) {
				case naluVPS:
					if vps == nil && checkVPS(nalu) == nil {
						vps = nalu
					}
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
	}
	return vps, sps, pps
}

// FromFmtp reads the parameter sets of an SDP's fmtp (keys lower-cased)
// and refuses a stream with DONL: sprop-max-don-diff above 0 or
// sprop-depack-buf-nalus above 0 mean NAL units may arrive out of
// decoding order with a DONL field in every packet (RFC 7798 §7.1), which
// nvr does not take apart. A value that is not a number is read as 0, the
// default; the error wraps ErrDONL.
func FromFmtp(fmtp map[string]string) (vps, sps, pps []byte, err error) {
	for _, k := range []string{"sprop-max-don-diff", "sprop-depack-buf-nalus"} {
		if v, e := strconv.ParseUint(strings.TrimSpace(fmtp[k]), 10, 32); e == nil && v > 0 {
			return nil, nil, nil, fmt.Errorf("%w (%s=%d)", ErrDONL, k, v)
		}
	}
	vps, sps, pps = ParseSprop(fmtp["sprop-vps"], fmtp["sprop-sps"], fmtp["sprop-pps"])
	return vps, sps, pps, nil
}
