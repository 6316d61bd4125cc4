// Package h265ps reads the facts nvr needs from an H.265 sequence parameter
// set (ITU-T H.265 7.3.2.2): the picture size after the conformance window,
// the general profile, tier and level exactly as coded, the chroma format
// and bit depths, the temporal layers, the reorder depth and the frame
// rate, and it formats the RFC 6381 codec string (ISO/IEC 14496-15 E.3).
//
// It is the one home of these facts for both sides: recorder/h265 (the
// stream as it arrives) and storage/internal/bmff (the hvcC of segments and
// exports, and the codec string of a track read back). Syntax parsing is
// mediacommon's h265.SPS; this package adds the raw profile_tier_level
// bytes, which hvcC and the codec string copy verbatim, and the bounds an
// untrusted SPS must meet. A pure leaf: no I/O, no goroutines.
package h265ps

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	mch264 "github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	mch265 "github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// NAL unit types of the parameter sets (ITU-T H.265 Table 7-1).
const (
	TypeVPS = 32
	TypeSPS = 33
	TypePPS = 34
)

// MaxPictureSide bounds the width and height an SPS may claim: level 6.2
// allows 35,651,584 luma samples with sides up to 8 * sqrt(MaxLumaPs) =
// 16,888; rounding to 16384 per side keeps 8K and stops hostile values.
const MaxPictureSide = 16384

// ptlLen is the size of the general part of profile_tier_level (7.3.3):
// profile space, tier and profile (1 byte), compatibility flags (4),
// constraint flags (6), level (1).
const ptlLen = 12

// Type returns the NAL unit type of an H.265 NAL unit (7.3.1.2), or -1 for
// one shorter than its 2-byte header.
func Type(nalu []byte) int {
	if len(nalu) < 2 {
		return -1
	}
	return int(nalu[0] >> 1 & 0x3f)
}

// SPS is what nvr keeps of a sequence parameter set.
type SPS struct {
	// PTL is general_profile_space through general_level_idc as coded.
	PTL                  [ptlLen]byte
	Width, Height        int // cropped by the conformance window
	ChromaFormatIDC      uint8
	BitDepthLumaMinus8   uint8
	BitDepthChromaMinus8 uint8
	MaxSubLayers         uint8 // sps_max_sub_layers_minus1 + 1
	TemporalIDNested     bool
	// MaxNumReorder is sps_max_num_reorder_pics of the highest sub-layer:
	// how many pictures may precede one in decode order and follow it in
	// output order (B-frames when above 0).
	MaxNumReorder int
	// NumUnitsInTick and TimeScale are the VUI timing (E.3.1), zero when
	// absent; one tick is one picture in H.265.
	NumUnitsInTick, TimeScale uint32
	// SAR is the sample aspect ratio of the VUI, if signalled.
	SARSignalled bool
	SARIdc       uint8
	SARWidth     uint16
	SARHeight    uint16
}

// ParseSPS parses and checks an SPS NAL unit (with its 2-byte header).
func ParseSPS(b []byte) (*SPS, error) {
	if Type(b) != TypeSPS {
		return nil, fmt.Errorf("SPS has NAL type %d", Type(b))
	}
	// The raw fields after the header: one byte of vps id, sub-layers and
	// nesting, then the general profile_tier_level (7.3.2.2.1, 7.3.3).
	rbsp := mch264.EmulationPreventionRemove(b[2:min(len(b), 2+2*(1+ptlLen))])
	if len(rbsp) < 1+ptlLen {
		return nil, errors.New("SPS too short for its profile_tier_level")
	}
	var m mch265.SPS
	if err := m.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("SPS: %w", err)
	}
	s := &SPS{
		ChromaFormatIDC:  uint8(m.ChromaFormatIdc),
		MaxSubLayers:     m.MaxSubLayersMinus1 + 1,
		TemporalIDNested: m.TemporalIDNestingFlag,
	}
	copy(s.PTL[:], rbsp[1:1+ptlLen])
	if m.BitDepthLumaMinus8 > 8 || m.BitDepthChromaMinus8 > 8 {
		return nil, fmt.Errorf("SPS: bit depth %d/%d out of range", m.BitDepthLumaMinus8+8, m.BitDepthChromaMinus8+8)
	}
	s.BitDepthLumaMinus8, s.BitDepthChromaMinus8 = uint8(m.BitDepthLumaMinus8), uint8(m.BitDepthChromaMinus8)
	w, h := uint64(m.PicWidthInLumaSamples), uint64(m.PicHeightInLumaSamples)
	if w == 0 || h == 0 || w > MaxPictureSide || h > MaxPictureSide {
		return nil, fmt.Errorf("SPS: coded size %dx%d out of range", w, h)
	}
	if c := m.ConformanceWindow; c != nil {
		// Offsets are in chroma sample units (7.4.3.2.1): a window as large
		// as the picture would wrap mediacommon's uint32 subtraction.
		subW, subH := uint64(1), uint64(1)
		switch m.ChromaFormatIdc {
		case 1:
			subW, subH = 2, 2
		case 2:
			subW = 2
		}
		cw := (uint64(c.LeftOffset) + uint64(c.RightOffset)) * subW
		ch := (uint64(c.TopOffset) + uint64(c.BottomOffset)) * subH
		if cw >= w || ch >= h {
			return nil, errors.New("SPS: conformance window out of range")
		}
		w, h = w-cw, h-ch
	}
	s.Width, s.Height = int(w), int(h)
	if n := len(m.MaxNumReorderPics); n > 0 {
		s.MaxNumReorder = int(min(m.MaxNumReorderPics[n-1], 1<<16))
	}
	if v := m.VUI; v != nil {
		if t := v.TimingInfo; t != nil && t.NumUnitsInTick > 0 && t.TimeScale > 0 {
			s.NumUnitsInTick, s.TimeScale = t.NumUnitsInTick, t.TimeScale
		}
		if v.AspectRatioInfoPresentFlag {
			s.SARSignalled = true
			s.SARIdc, s.SARWidth, s.SARHeight = v.AspectRatioIdc, v.SarWidth, v.SarHeight
		}
	}
	return s, nil
}

// ProfileSpace, TierHigh, ProfileIDC, CompatibilityFlags, ConstraintFlags
// and LevelIDC read the coded general profile_tier_level.
func (s *SPS) ProfileSpace() uint8 { return s.PTL[0] >> 6 }
func (s *SPS) TierHigh() bool      { return s.PTL[0]&0x20 != 0 }
func (s *SPS) ProfileIDC() uint8   { return s.PTL[0] & 0x1f }
func (s *SPS) CompatibilityFlags() uint32 {
	return uint32(s.PTL[1])<<24 | uint32(s.PTL[2])<<16 | uint32(s.PTL[3])<<8 | uint32(s.PTL[4])
}
func (s *SPS) ConstraintFlags() []byte { return s.PTL[5:11] }
func (s *SPS) LevelIDC() uint8         { return s.PTL[11] }

// FPS is the frame rate of the VUI timing, or 0.
func (s *SPS) FPS() float64 {
	if s.NumUnitsInTick == 0 {
		return 0
	}
	return float64(s.TimeScale) / float64(s.NumUnitsInTick)
}

// FrameTicks is the frame duration in 90 kHz ticks from the VUI timing, or
// 0 when absent or beyond a second.
func (s *SPS) FrameTicks() int64 {
	if s.NumUnitsInTick == 0 {
		return 0
	}
	d := int64(90000) * int64(s.NumUnitsInTick) / int64(s.TimeScale)
	if d < 1 || d > 90000 {
		return 0
	}
	return d
}

// Codec is the RFC 6381 codec string of the stream with sample entry
// hvc1 (ISO/IEC 14496-15 E.3): profile space and profile, the
// compatibility flags in reverse bit order, tier and level, then the
// constraint bytes without trailing zero bytes, in upper-case hex as the
// standard's examples, e.g. "hvc1.1.6.L93.B0".
func (s *SPS) Codec() string { return CodecOfPTL(s.PTL) }

// CodecOfPTL formats the codec string from the 12 bytes of a general
// profile_tier_level, which hvcC carries verbatim too.
func CodecOfPTL(ptl [ptlLen]byte) string {
	var b strings.Builder
	b.WriteString("hvc1.")
	if sp := ptl[0] >> 6; sp > 0 {
		b.WriteByte('A' + sp - 1)
	}
	b.WriteString(strconv.Itoa(int(ptl[0] & 0x1f)))
	compat := uint32(ptl[1])<<24 | uint32(ptl[2])<<16 | uint32(ptl[3])<<8 | uint32(ptl[4])
	var rev uint32
	for i := 0; i < 32; i++ {
		if compat&(1<<i) != 0 {
			rev |= 1 << (31 - i)
		}
	}
	b.WriteString("." + strings.ToUpper(strconv.FormatUint(uint64(rev), 16)) + ".")
	if ptl[0]&0x20 != 0 {
		b.WriteByte('H')
	} else {
		b.WriteByte('L')
	}
	b.WriteString(strconv.Itoa(int(ptl[11])))
	cons := ptl[5:11]
	n := len(cons)
	for n > 0 && cons[n-1] == 0 {
		n--
	}
	for _, c := range cons[:n] {
		b.WriteString("." + strings.ToUpper(strconv.FormatUint(uint64(c), 16)))
	}
	return b.String()
}

// profileNames are the general_profile_idc values of ITU-T H.265 A.3.
var profileNames = map[uint8]string{
	1: "Main", 2: "Main 10", 3: "Main Still Picture", 4: "Format Range Extensions",
	5: "High Throughput", 6: "Multiview Main", 7: "Scalable Main", 8: "3D Main",
	9: "Screen Content Coding Extensions", 10: "Scalable Format Range Extensions",
	11: "High Throughput Screen Content Coding Extensions",
}

// Profile names the profile. A profile_idc of 0 defers to the lowest
// compatibility flag set (A.3: a decoder may rely on the flags).
func (s *SPS) Profile() string {
	idc := s.ProfileIDC()
	if idc == 0 {
		for j := uint8(1); j < 32; j++ {
			if s.CompatibilityFlags()&(1<<(31-j)) != 0 {
				idc = j
				break
			}
		}
	}
	if n, ok := profileNames[idc]; ok {
		return n
	}
	return fmt.Sprintf("Unknown (%d)", idc)
}

// Tier is "Main" or "High" (A.4.1).
func (s *SPS) Tier() string {
	if s.TierHigh() {
		return "High"
	}
	return "Main"
}

// Level formats general_level_idc, which is 30 times the level (A.4.1).
func (s *SPS) Level() string {
	l := int(s.LevelIDC())
	return fmt.Sprintf("%d.%d", l/30, l%30/3)
}
