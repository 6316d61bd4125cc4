package h264

import (
	"bytes"
	"fmt"

	mch264 "github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/nvr-project/nvr/recorder/internal/nalrtp"
)

// nalHdrFNRI is forbidden_zero_bit and nal_ref_idc of an FU indicator
// (RFC 6184 §5.8): with the FU header's type they make the NAL header.
const nalHdrFNRI = 0xe0

// Depacketizer turns RTP packets of one H.264 stream into access units
// (RFC 6184 packetization-mode 0 and 1). It is not safe for concurrent use;
// one goroutine (the camera's reader) owns it.
//
// The RTP state machine (loss, timestamps, bounds, keyframe gating, DTS)
// is recorder/internal/nalrtp's, shared with H.265; this type supplies the
// H.264 NAL header rules and parameter sets.
type Depacketizer struct {
	nalrtp.Front[AccessUnit] // Push, Flush, Reset, Stats
	e                        *nalrtp.Depacketizer

	// Parameter sets in force. Replaced, never modified, when they change,
	// so slices handed out in AccessUnit stay valid.
	sps, pps []byte
	spsInfo  *mch264.SPS // sps parsed
	params   *Params     // sps and pps parsed, built when either changes

	out     AccessUnit
	emitted bool
	lastSPS []byte
	lastPPS []byte
}

// NewDepacketizer starts with parameter sets from the SDP (may be nil: wait
// for in-band). A parameter set that does not parse is ignored (R12), so a
// broken sprop-parameter-sets only delays recording until in-band ones come.
func NewDepacketizer(sps, pps []byte) *Depacketizer {
	d := &Depacketizer{}
	d.e = nalrtp.New(nalrtp.Config{
		Codec:     (*codec)(d),
		Errors:    nalrtp.Errors{PacketLoss: ErrPacketLoss, Malformed: ErrMalformed, TooLarge: ErrTooLarge, NoParams: ErrNoParams, Timing: ErrTiming},
		HeaderLen: 1,
		MaxNALUs:  MaxNALUsPerAccessUnit,
		AggName:   "STAP-A",
		FUName:    "FU-A",
	})
	d.Init(d.e, d.frame)
	d.setSPS(sps)
	d.setPPS(pps)
	return d
}

// frame turns the shared Frame into an H.264 access unit with the parameter
// sets in force.
func (d *Depacketizer) frame(f *nalrtp.Frame) *AccessUnit {
	changed := !d.emitted || !bytes.Equal(d.sps, d.lastSPS) || !bytes.Equal(d.pps, d.lastPPS)
	d.emitted = true
	d.lastSPS, d.lastPPS = d.sps, d.pps
	if d.params == nil && d.spsInfo != nil && d.pps != nil {
		p := paramsOf(d.spsInfo, d.sps, d.pps)
		d.params = &p
	}
	d.out = AccessUnit{
		NALUs:         f.NALUs,
		PTS:           f.PTS,
		DTS:           f.DTS,
		Keyframe:      f.Keyframe,
		SPS:           d.sps,
		PPS:           d.pps,
		Params:        d.params,
		ParamsChanged: changed,
	}
	return &d.out
}

// setSPS installs a new SPS if it differs and parses; it reports whether
// the SPS in force is now b.
func (d *Depacketizer) setSPS(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if bytes.Equal(b, d.sps) {
		return true
	}
	info, err := parseSPS(b)
	if err != nil {
		return false
	}
	d.sps = bytes.Clone(b)
	d.spsInfo = info
	d.params = nil
	d.e.SetTiming(timingOf(info))
	return true
}

func (d *Depacketizer) setPPS(b []byte) bool {
	if checkPPS(b) != nil {
		return false
	}
	if !bytes.Equal(b, d.pps) {
		d.pps = bytes.Clone(b)
		d.params = nil
	}
	return true
}

// timingOf is the reorder depth and frame duration an SPS signals for the
// decode-time tracker. Without bitstream_restriction the depth starts at 0
// and is learned from the first picture displayed early.
func timingOf(s *mch264.SPS) (reorder int, step int64) {
	v := s.VUI
	if v == nil {
		return 0, 1
	}
	if r := v.BitstreamRestriction; r != nil {
		reorder = int(min(r.MaxNumReorderFrames, 1<<16))
	}
	step = 1
	if ti := v.TimingInfo; ti != nil && ti.TimeScale > 0 && ti.NumUnitsInTick > 0 {
		// Two ticks per frame (E.2.1).
		step = int64(90000) * 2 * int64(ti.NumUnitsInTick) / int64(ti.TimeScale)
	}
	return reorder, step
}

// codec is the Depacketizer seen by nalrtp: the H.264 rules of RFC 6184.
type codec Depacketizer

func (c *codec) Payload(p []byte) (nalrtp.PayloadKind, int) {
	typ := int(p[0] & naluTypeMask)
	switch typ {
	case naluSTAPA:
		return nalrtp.Aggregation, typ
	case naluFUA:
		return nalrtp.Fragment, typ
	case naluSTAPB, naluMTAP16, naluMTAP24, naluFUB:
		return nalrtp.Unsupported, typ // interleaved mode only
	case 0, 30, 31:
		return nalrtp.Undefined, typ // RFC 6184 Table 3
	}
	return nalrtp.Single, typ
}

func (c *codec) FUHeader(p []byte) [2]byte {
	// The reserved bit of the FU header (Longse sets it) is dropped.
	return [2]byte{p[0]&nalHdrFNRI | p[1]&naluTypeMask}
}

func (c *codec) Classify(n []byte) nalrtp.Class {
	switch typ := n[0] & naluTypeMask; {
	case typ == naluFiller:
		return nalrtp.Class{Filler: true}
	case typ >= naluNonIDR && typ <= naluIDR:
		return nalrtp.Class{VCL: true, Key: typ == naluIDR}
	case typ == naluSPS:
		return nalrtp.Class{Param: 1}
	case typ == naluPPS:
		return nalrtp.Class{Param: 2}
	}
	return nalrtp.Class{}
}

// StartsAU reports whether a payload begins with a NAL unit that may only
// open an access unit (ITU-T H.264 7.4.1.2.3): an AUD or an SPS.
func (c *codec) StartsAU(p []byte) bool {
	p = nalrtp.TrimStartCode(p)
	if p[0]&naluTypeMask == naluSTAPA && len(p) >= 4 {
		p = p[3:]
	}
	t := p[0] & naluTypeMask
	return t == naluAUD || t == naluSPS
}

func (c *codec) SetParam(slot int, b []byte) error {
	d := (*Depacketizer)(c)
	if (slot == 0 && !d.setSPS(b)) || (slot == 1 && !d.setPPS(b)) {
		return fmt.Errorf("%s", [...]string{"SPS", "PPS"}[slot])
	}
	return nil
}

func (c *codec) HaveParams() bool { return c.sps != nil && c.pps != nil }
