package h265

import (
	"bytes"
	"errors"

	"github.com/nvr-project/nvr/internal/h265ps"
	"github.com/nvr-project/nvr/recorder/internal/nalrtp"
)

// Bits of the 2-byte NAL unit header (RFC 7798 §1.1.4): forbidden_zero_bit
// and the high bit of nuh_layer_id share the first byte with the type.
const hdrFLayer = 0x81

// Depacketizer turns RTP packets of one H.265 stream into access units
// (RFC 7798 without DONL). It is not safe for concurrent use; one
// goroutine (the camera's reader) owns it.
type Depacketizer struct {
	nalrtp.Front[AccessUnit] // Push, Flush, Reset, Stats
	e                        *nalrtp.Depacketizer

	// Parameter sets in force. Replaced, never modified, when they change,
	// so slices handed out in AccessUnit stay valid.
	vps, sps, pps []byte
	spsInfo       *h265ps.SPS // sps parsed
	params        *Params     // all three parsed, built when one changes

	out     AccessUnit
	emitted bool
	lastVPS []byte
	lastSPS []byte
	lastPPS []byte
}

// NewDepacketizer starts with parameter sets from the SDP (any may be nil:
// wait for in-band). A parameter set that does not parse is ignored (R12),
// so a broken sprop only delays recording until in-band ones come.
func NewDepacketizer(vps, sps, pps []byte) *Depacketizer {
	d := &Depacketizer{}
	d.e = nalrtp.New(nalrtp.Config{
		Codec:     (*codec)(d),
		Errors:    nalrtp.Errors{PacketLoss: ErrPacketLoss, Malformed: ErrMalformed, TooLarge: ErrTooLarge, NoParams: ErrNoParams, Timing: ErrTiming},
		HeaderLen: 2,
		MaxNALUs:  MaxNALUsPerAccessUnit,
		AggName:   "AP",
		FUName:    "FU",
	})
	d.Init(d.e, d.frame)
	d.setVPS(vps)
	d.setSPS(sps)
	d.setPPS(pps)
	return d
}

// frame turns the shared Frame into an H.265 access unit with the parameter
// sets in force.
func (d *Depacketizer) frame(f *nalrtp.Frame) *AccessUnit {
	changed := !d.emitted || !bytes.Equal(d.vps, d.lastVPS) || !bytes.Equal(d.sps, d.lastSPS) || !bytes.Equal(d.pps, d.lastPPS)
	d.emitted = true
	d.lastVPS, d.lastSPS, d.lastPPS = d.vps, d.sps, d.pps
	if d.params == nil && d.spsInfo != nil && d.vps != nil && d.pps != nil {
		p := paramsOf(d.spsInfo, d.vps, d.sps, d.pps)
		d.params = &p
	}
	d.out = AccessUnit{
		NALUs:         f.NALUs,
		PTS:           f.PTS,
		DTS:           f.DTS,
		Keyframe:      f.Keyframe,
		VPS:           d.vps,
		SPS:           d.sps,
		PPS:           d.pps,
		Params:        d.params,
		ParamsChanged: changed,
	}
	return &d.out
}

func (d *Depacketizer) setVPS(b []byte) error {
	if err := checkVPS(b); err != nil {
		return err
	}
	if !bytes.Equal(b, d.vps) {
		d.vps = bytes.Clone(b)
		d.params = nil
	}
	return nil
}

func (d *Depacketizer) setSPS(b []byte) error {
	if bytes.Equal(b, d.sps) && b != nil {
		return nil
	}
	info, err := parseSPS(b)
	if err != nil {
		return err
	}
	d.sps = bytes.Clone(b)
	d.spsInfo = info
	d.params = nil
	d.e.SetTiming(info.MaxNumReorder, info.FrameTicks())
	return nil
}

func (d *Depacketizer) setPPS(b []byte) error {
	if err := checkPPS(b); err != nil {
		return err
	}
	if !bytes.Equal(b, d.pps) {
		d.pps = bytes.Clone(b)
		d.params = nil
	}
	return nil
}

// codec is the Depacketizer seen by nalrtp: the H.265 rules of RFC 7798.
type codec Depacketizer

func (c *codec) Payload(p []byte) (nalrtp.PayloadKind, int) {
	typ := int(p[0] >> 1 & 0x3f)
	switch {
	case typ == naluAP:
		return nalrtp.Aggregation, typ
	case typ == naluFU:
		return nalrtp.Fragment, typ
	case typ == naluPACI:
		return nalrtp.Unsupported, typ // RFC 7798 §4.4.4: optional, no camera sends it
	case typ > naluPACI:
		return nalrtp.Undefined, typ // unspecified (Table 7-1, RFC 7798 §4.4)
	}
	return nalrtp.Single, typ
}

func (c *codec) FUHeader(p []byte) [2]byte {
	// RFC 7798 §4.4.3: the payload header carries F, LayerId and TID of
	// the fragmented unit; its type is the FU header's FuType.
	return [2]byte{p[0]&hdrFLayer | (p[2]&0x3f)<<1, p[1]}
}

func (c *codec) Classify(n []byte) nalrtp.Class {
	switch typ := h265ps.Type(n); {
	case typ < 0:
		return nalrtp.Class{} // a lone header byte: kept, never a picture
	case typ == naluFiller:
		return nalrtp.Class{Filler: true}
	case typ < 32:
		return nalrtp.Class{
			VCL:       true,
			Key:       typ >= naluBLAWLP && typ <= naluCRA,
			Open:      typ == naluCRA || typ == naluBLAWLP,
			Skippable: typ == naluRASLN || typ == naluRASLR,
		}
	case typ == naluVPS:
		return nalrtp.Class{Param: 1}
	case typ == naluSPS:
		return nalrtp.Class{Param: 2}
	case typ == naluPPS:
		return nalrtp.Class{Param: 3}
	}
	return nalrtp.Class{}
}

// StartsAU reports whether a payload begins with a NAL unit that opens an
// access unit in practice: an AUD (which must, 7.4.2.4.4) or a VPS or SPS,
// which cameras send only in front of an IRAP picture.
func (c *codec) StartsAU(p []byte) bool {
	p = nalrtp.TrimStartCode(p)
	if h265ps.Type(p) == naluAP && len(p) >= 6 {
		p = p[4:]
	}
	t := h265ps.Type(p)
	return t == naluAUD || t == naluVPS || t == naluSPS
}

func (c *codec) SetParam(slot int, b []byte) error {
	d := (*Depacketizer)(c)
	var err error
	switch slot {
	case 0:
		err = d.setVPS(b)
	case 1:
		err = d.setSPS(b)
	case 2:
		err = d.setPPS(b)
	}
	if err != nil {
		// nalrtp wraps it in ErrMalformed: name the set, not the sentinel.
		return errors.New([...]string{"VPS", "SPS", "PPS"}[slot])
	}
	return nil
}

func (c *codec) HaveParams() bool { return c.vps != nil && c.sps != nil && c.pps != nil }
