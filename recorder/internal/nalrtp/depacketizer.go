package nalrtp

import (
	"bytes"
	"fmt"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/recorder/internal/rtpseq"
)

// minBufSize is the first allocation of the access unit buffer: enough for
// a typical P-frame of a sub-stream, so small streams grow it rarely.
const minBufSize = 64 << 10

// Bits of the FU header, the same in RFC 6184 §5.8 and RFC 7798 §4.4.3.
const (
	fuStartBit = 0x80
	fuEndBit   = 0x40
)

// naluRange locates one NAL unit inside Depacketizer.buf. Offsets rather
// than slices, since buf may move while an access unit grows.
type naluRange struct{ start, end int }

// Depacketizer turns RTP packets of one stream into access units. It is
// not safe for concurrent use; one goroutine (the camera's reader) owns it.
type Depacketizer struct {
	cfg   Config
	codec Codec
	errs  Errors

	// The access unit being assembled: NAL units are copied into buf and
	// located by ranges.
	buf      []byte
	ranges   []naluRange
	auActive bool
	auTS     uint32             // RTP timestamp of the access unit
	auPTS    int64              // the same, extended
	hasVCL   bool               // a slice is present
	hasKey   bool               // a slice of a random access picture
	hasOpen  bool               // ... of an open one (H.265 CRA)
	hasSkip  bool               // a slice of a picture to skip after an open start
	auParam  [MaxParamSlots]int // index in ranges of the last parameter set of each slot, or -1

	// FU-A reassembly: the NAL unit being rebuilt starts at buf[fuStart].
	fuActive bool
	fuStart  int

	// After damage, every packet with skipTS is discarded: the rest of a
	// broken access unit must not come out as a picture of its own.
	skipActive bool
	skipTS     uint32
	// waitKey holds back everything until the next keyframe: after loss a
	// P-frame would decode against a missing reference.
	waitKey bool
	// openStart: output (re)started at an open keyframe, so its leading
	// skippable pictures reference pictures we never emitted.
	openStart bool
	// markers: the stream ends its access units with the marker bit
	// (RFC 6184 §5.1, RFC 7798 §4.1), so one still open when the stream
	// ends was cut.
	markers bool

	seq   rtpseq.Tracker
	extTS int64 // the last packet's extended timestamp

	dts dtsTracker

	out      Frame
	nalus    [][]byte
	stats    Stats
	firstErr error
}

// New returns a Depacketizer for the codec described by cfg. The codec
// holds the parameter sets, from the SDP or none yet.
func New(cfg Config) *Depacketizer {
	d := &Depacketizer{
		cfg:     cfg,
		codec:   cfg.Codec,
		errs:    cfg.Errors,
		ranges:  make([]naluRange, 0, cfg.MaxNALUs),
		nalus:   make([][]byte, 0, cfg.MaxNALUs),
		waitKey: true,
	}
	d.resetAU()
	return d
}

// SetTiming passes the reorder depth and frame duration (90 kHz ticks) of
// a new sequence parameter set to the decode-time tracker.
func (d *Depacketizer) SetTiming(reorder int, step int64) { d.dts.setTiming(reorder, step) }

// BufCap is the capacity of the access unit buffer, for tests of its bound.
func (d *Depacketizer) BufCap() int { return cap(d.buf) }

// Stats returns the counters so far.
func (d *Depacketizer) Stats() Stats { return d.stats }

// Reset forgets the partial access unit and the sequence state (used on
// SSRC change or reconnect) but keeps the parameter sets and the timestamp
// extension. Output resumes at the next keyframe, since nothing proves the
// packets before and after the reset join up.
func (d *Depacketizer) Reset() {
	d.resetAU()
	d.skipActive = false
	d.seq.Forget()
	d.waitKey = true
}

// Flush emits a pending access unit (end of stream). An access unit with an
// unfinished fragmented unit is dropped.
func (d *Depacketizer) Flush(emit func(*Frame)) {
	d.firstErr = nil
	switch {
	case d.fuActive:
		d.stats.DroppedAUs++
		d.resetAU()
	case d.auActive && d.markers:
		// A camera that marks the end of each picture and stops before the
		// mark of this one was cut off mid-picture (a multi-slice frame
		// missing its last slices): recording it would store a damaged
		// picture that decoders patch over.
		d.stats.DroppedAUs++
		d.resetAU()
	case d.auActive:
		// No marker bits in this stream (FLIR M400): the last access unit
		// may well be whole.
		d.completeAU(emit)
	}
}

// Push feeds one RTP packet (already parsed by pion/rtp, payload valid only
// during the call) and calls emit for every access unit it completes (zero,
// one, or occasionally two). An error return describes a rejected packet or
// dropped AU (callers count/log it and keep going); it is never fatal. It
// wraps one of the codec's Errors.
func (d *Depacketizer) Push(pkt *rtp.Packet, emit func(*Frame)) error {
	d.firstErr = nil
	if pkt == nil {
		d.stats.Rejected++
		return fmt.Errorf("%w: nil packet", d.errs.Malformed)
	}
	d.stats.Packets++
	seq, ts := pkt.SequenceNumber, pkt.Timestamp

	// R17: some cameras start a new SSRC every GOP. The RTSP layer drops
	// stale SSRCs when one was announced, so a change reaching us is
	// accepted: finish what can be finished and start sequence tracking
	// afresh, without counting the jump as loss.
	if d.seq.SSRCChanged(pkt) {
		if d.auActive && !d.fuActive && !d.skipActive {
			d.completeAU(emit)
		}
		d.Reset()
	}
	step := d.seq.Advance(pkt)
	switch step.Kind {
	case rtpseq.Lost:
		d.stats.Lost += uint64(step.Missing)
		d.note(fmt.Errorf("%w: %d packets missing before seq %d (ts %d)", d.errs.PacketLoss, step.Missing, seq, ts))
		d.afterGap(pkt)
	case rtpseq.Late:
		// Its slot was already counted lost and its access unit dropped,
		// so it can only do harm now.
		d.stats.Late++
		return fmt.Errorf("%w: late packet seq %d (ts %d), expected %d", d.errs.PacketLoss, seq, ts, step.Expected)
	case rtpseq.Jumped:
		// Not loss we can count, but continuity is gone all the same.
		d.note(fmt.Errorf("%w: sequence jumped from %d to %d (ts %d)", d.errs.PacketLoss, step.Expected, seq, ts))
		d.afterGap(pkt)
	}
	d.extTS = step.TS

	if d.skipActive {
		if ts == d.skipTS {
			return d.firstErr
		}
		d.skipActive = false
	}

	// A new timestamp ends the previous access unit even without a marker
	// bit (FLIR M400 never sets it; RFC 6184 §5.1 and RFC 7798 §4.1 say
	// all packets of an AU share one timestamp).
	if d.auActive && ts != d.auTS {
		if d.fuActive {
			d.damagePending(fmt.Errorf("%w: %s without end before ts %d (seq %d)", d.errs.PacketLoss, d.cfg.FUName, ts, seq))
		} else {
			d.completeAU(emit)
		}
	}

	d.depacketize(pkt.Payload, seq, ts)

	if pkt.Marker && d.auActive && !d.skipActive {
		switch {
		case d.fuActive:
			d.damage(ts, fmt.Errorf("%w: marker bit inside %s (seq %d, ts %d)", d.errs.Malformed, d.cfg.FUName, seq, ts))
		case d.hasVCL:
			// H264DVR sets the marker on SPS/PPS/SEI packets that share the
			// slice's timestamp: the marker only ends an AU that has a slice.
			d.markers = true
			d.completeAU(emit)
		}
	}
	return d.firstErr
}

// note keeps the first error of this Push for its return value.
func (d *Depacketizer) note(err error) {
	if d.firstErr == nil {
		d.firstErr = err
	}
}

// afterGap handles lost packets before pkt: the pending access unit may miss
// its tail and pkt's access unit its head. Only an access unit that visibly
// starts in pkt (an AUD or SPS first, which come before any slice) is kept.
func (d *Depacketizer) afterGap(pkt *rtp.Packet) {
	// The access unit at pkt's timestamp may already be pending, or already
	// damaged and skipped: either way it is counted once.
	sameAU := (d.auActive && d.auTS == pkt.Timestamp) || (d.skipActive && d.skipTS == pkt.Timestamp)
	if d.auActive {
		d.stats.DroppedAUs++
	}
	d.resetAU()
	d.waitKey = true
	if sameAU || len(pkt.Payload) == 0 || !d.codec.StartsAU(pkt.Payload) {
		if !sameAU {
			d.stats.DroppedAUs++ // pkt's own access unit, counted once
		}
		d.skipActive, d.skipTS = true, pkt.Timestamp
	}
}

// damage drops the access unit with timestamp ts (and anything pending) and
// discards its remaining packets.
func (d *Depacketizer) damage(ts uint32, err error) {
	d.note(err)
	if d.auActive && d.auTS != ts {
		d.stats.DroppedAUs++
	}
	d.stats.DroppedAUs++
	d.resetAU()
	d.waitKey = true
	d.skipActive, d.skipTS = true, ts
}

// damagePending drops the pending access unit only.
func (d *Depacketizer) damagePending(err error) {
	d.note(err)
	d.stats.DroppedAUs++
	d.resetAU()
	d.waitKey = true
}

func (d *Depacketizer) resetAU() {
	d.buf = d.buf[:0]
	d.ranges = d.ranges[:0]
	d.auActive = false
	d.hasVCL, d.hasKey, d.hasOpen, d.hasSkip = false, false, false, false
	d.auParam = [MaxParamSlots]int{-1, -1, -1}
	d.fuActive = false
}

func (d *Depacketizer) reject(ts uint32, err error) {
	d.stats.Rejected++
	d.damage(ts, err)
}

// depacketize adds the NAL units of one payload (RFC 6184 §5.6-5.8, RFC 7798
// §4.4) to the access unit.
func (d *Depacketizer) depacketize(p []byte, seq uint16, ts uint32) {
	if len(p) == 0 {
		// Nothing was carried, so nothing was lost: reject only the packet.
		d.stats.Rejected++
		d.note(fmt.Errorf("%w: empty payload (seq %d, ts %d)", d.errs.Malformed, seq, ts))
		return
	}
	if p[0] == 0 && (bytes.HasPrefix(p, startCode3) || bytes.HasPrefix(p, startCode4)) {
		// Some cameras send Annex B byte stream (start codes) as the
		// payload instead of a NAL unit.
		if d.fuActive {
			d.damage(ts, fmt.Errorf("%w: %s interrupted (seq %d, ts %d)", d.errs.PacketLoss, d.cfg.FUName, seq, ts))
			return
		}
		d.addNALU(p, seq, ts)
		return
	}
	if len(p) < d.cfg.HeaderLen {
		d.reject(ts, fmt.Errorf("%w: payload of %d bytes is shorter than a NAL unit header (seq %d, ts %d)", d.errs.Malformed, len(p), seq, ts))
		return
	}

	switch kind, typ := d.codec.Payload(p); kind {
	case Aggregation:
		d.aggregation(p, seq, ts)
	case Fragment:
		d.fragment(p, seq, ts)
	case Unsupported:
		d.reject(ts, fmt.Errorf("%w: NAL type %d is unsupported (interleaved mode or a header we do not take) (seq %d, ts %d)", d.errs.Malformed, typ, seq, ts))
	case Undefined:
		// RFC 6184 §5.2 and RFC 7798 §4.4 let receivers ignore these.
		d.stats.Rejected++
		d.note(fmt.Errorf("%w: undefined NAL type %d ignored (seq %d, ts %d)", d.errs.Malformed, typ, seq, ts))
	default:
		if d.fuActive {
			d.damage(ts, fmt.Errorf("%w: %s interrupted by NAL type %d (seq %d, ts %d)", d.errs.PacketLoss, d.cfg.FUName, typ, seq, ts))
			return
		}
		d.addNALU(p, seq, ts)
	}
}

// aggregation splits a single-time aggregation packet (RFC 6184 §5.7.1
// STAP-A, RFC 7798 §4.4.2 AP without DONL: both are 16-bit sizes and units
// after the header). The whole packet is checked before any unit is taken,
// so a bad length never leaves half a packet in the access unit (R10).
func (d *Depacketizer) aggregation(p []byte, seq uint16, ts uint32) {
	if d.fuActive {
		d.damage(ts, fmt.Errorf("%w: %s interrupted by %s (seq %d, ts %d)", d.errs.PacketLoss, d.cfg.FUName, d.cfg.AggName, seq, ts))
		return
	}
	body, n, err := checkAggregation(p[d.cfg.HeaderLen:])
	if err != nil {
		d.reject(ts, fmt.Errorf("%w: %s %w (seq %d, ts %d)", d.errs.Malformed, d.cfg.AggName, err, seq, ts))
		return
	}
	if n == 0 {
		d.reject(ts, fmt.Errorf("%w: %s without NAL units (seq %d, ts %d)", d.errs.Malformed, d.cfg.AggName, seq, ts))
		return
	}
	for len(body) > 0 {
		size := int(body[0])<<8 | int(body[1])
		if size == 0 {
			break // zero padding, see checkAggregation
		}
		if !d.addNALU(body[2:2+size], seq, ts) {
			return
		}
		body = body[2+size:]
	}
}

// checkAggregation validates the aggregation units of a STAP-A or AP body and counts
// them. A length of zero followed only by zero bytes is padding (seen from
// some encoders, and tolerated by gortsplib); otherwise zero, a length past
// the end, or a lone trailing byte make the packet invalid.
func checkAggregation(b []byte) ([]byte, int, error) {
	n := 0
	for rest := b; len(rest) > 0; {
		if len(rest) < 2 {
			return nil, 0, fmt.Errorf("has %d stray trailing byte", len(rest))
		}
		size := int(rest[0])<<8 | int(rest[1])
		if size == 0 {
			if allZero(rest[2:]) {
				return b, n, nil
			}
			return nil, 0, fmt.Errorf("has a zero-length unit")
		}
		if size > len(rest)-2 {
			return nil, 0, fmt.Errorf("unit length %d exceeds the %d bytes left", size, len(rest)-2)
		}
		n++
		rest = rest[2+size:]
	}
	return b, n, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// fragment reassembles a fragmented NAL unit (RFC 6184 §5.8, RFC 7798
// §4.4.3) directly in buf.
func (d *Depacketizer) fragment(p []byte, seq uint16, ts uint32) {
	hl := d.cfg.HeaderLen
	if len(p) < hl+1 {
		d.reject(ts, fmt.Errorf("%w: %s without FU header (seq %d, ts %d)", d.errs.Malformed, d.cfg.FUName, seq, ts))
		return
	}
	fuHdr := p[hl]
	frag := p[hl+1:] // may be empty: accepted (R8, retina 0.4.14)
	if fuHdr&fuStartBit != 0 {
		if d.fuActive {
			d.damage(ts, fmt.Errorf("%w: %s start before the previous one ended (seq %d, ts %d)", d.errs.PacketLoss, d.cfg.FUName, seq, ts))
			return
		}
		if len(d.ranges) >= d.cfg.MaxNALUs {
			d.damage(ts, fmt.Errorf("%w: more than %d NAL units (seq %d, ts %d)", d.errs.TooLarge, d.cfg.MaxNALUs, seq, ts))
			return
		}
		d.begin(ts)
		d.fuActive = true
		d.fuStart = len(d.buf)
		// The type comes from the first fragment only (R8: some cameras
		// change it mid-FU); the codec also drops reserved bits (Longse).
		h := d.codec.FUHeader(p)
		d.buf = append(d.buf, h[:hl]...)
	} else if !d.fuActive {
		// R6: a middle or end fragment whose start we never saw (joined
		// mid-NAL, or the start was lost): the NAL unit cannot be rebuilt.
		d.damage(ts, fmt.Errorf("%w: %s fragment without start (seq %d, ts %d)", d.errs.PacketLoss, d.cfg.FUName, seq, ts))
		return
	}
	if len(d.buf)+len(frag) > MaxAccessUnitSize {
		d.damage(ts, fmt.Errorf("%w: over %d bytes (seq %d, ts %d)", d.errs.TooLarge, MaxAccessUnitSize, seq, ts))
		return
	}
	d.grow(len(frag))
	d.buf = append(d.buf, frag...)
	// CostarHD sets start and end on one fragment (RFC 6184 and RFC 7798
	// forbid it): then the unit is complete at once.
	if fuHdr&fuEndBit != 0 {
		d.fuActive = false
		d.closeNALU(d.fuStart, seq, ts)
	}
}

// grow makes room for n more bytes in buf without letting its capacity pass
// MaxAccessUnitSize (callers check len(buf)+n against it first), so a
// runaway fragmented unit cannot make append over-allocate past the bound.
func (d *Depacketizer) grow(n int) {
	if cap(d.buf)-len(d.buf) >= n {
		return
	}
	c := min(max(2*cap(d.buf), len(d.buf)+n, minBufSize), MaxAccessUnitSize)
	nb := make([]byte, len(d.buf), c)
	copy(nb, d.buf)
	d.buf = nb
}

// begin opens an access unit at ts if none is open.
func (d *Depacketizer) begin(ts uint32) {
	if !d.auActive {
		d.auActive = true
		d.auTS = ts
		d.auPTS = d.extTS
	}
}

// addNALU copies one NAL unit (or an Annex B run of them) into the access
// unit. It reports false when the access unit was dropped.
func (d *Depacketizer) addNALU(b []byte, seq uint16, ts uint32) bool {
	if len(d.buf)+len(b) > MaxAccessUnitSize {
		d.damage(ts, fmt.Errorf("%w: over %d bytes (seq %d, ts %d)", d.errs.TooLarge, MaxAccessUnitSize, seq, ts))
		return false
	}
	d.begin(ts)
	start := len(d.buf)
	d.grow(len(b))
	d.buf = append(d.buf, b...)
	return d.closeNALU(start, seq, ts)
}

// closeNALU records the NAL unit(s) in buf[start:], splitting at Annex B
// start codes, which some cameras put inside RTP payloads.
func (d *Depacketizer) closeNALU(start int, seq uint16, ts uint32) bool {
	region := d.buf[start:]
	if indexStartCode(region) < 0 {
		return d.record(start, len(d.buf), seq, ts)
	}
	ok := true
	forEachStartCodePiece(region, func(s, e int) {
		if ok {
			ok = d.record(start+s, start+e, seq, ts)
		}
	})
	return ok
}

// record adds buf[start:end] as one NAL unit of the access unit.
func (d *Depacketizer) record(start, end int, seq uint16, ts uint32) bool {
	c := d.codec.Classify(d.buf[start:end])
	if c.Filler {
		return true // filler data (CBR stuffing) carries no picture
	}
	if len(d.ranges) >= d.cfg.MaxNALUs {
		d.damage(ts, fmt.Errorf("%w: more than %d NAL units (seq %d, ts %d)", d.errs.TooLarge, d.cfg.MaxNALUs, seq, ts))
		return false
	}
	switch {
	case c.VCL:
		d.hasVCL = true
		d.hasKey = d.hasKey || c.Key
		d.hasOpen = d.hasOpen || c.Open
		d.hasSkip = d.hasSkip || c.Skippable
	case c.Param > 0 && c.Param <= MaxParamSlots:
		d.auParam[c.Param-1] = len(d.ranges)
	}
	d.ranges = append(d.ranges, naluRange{start, end})
	return true
}

// completeAU finishes the pending access unit: it takes in-band parameter
// sets, gates on keyframes, derives the decode time and emits it.
func (d *Depacketizer) completeAU(emit func(*Frame)) {
	defer d.resetAU()
	// In-band parameter sets override the SDP's; the latest wins. One that
	// does not parse is ignored, like a bad sprop (R12).
	for slot, i := range d.auParam {
		if i < 0 {
			continue
		}
		r := d.ranges[i]
		if err := d.codec.SetParam(slot, d.buf[r.start:r.end]); err != nil {
			d.note(fmt.Errorf("%w: in-band %w ignored (ts %d)", d.errs.Malformed, err, d.auTS))
		}
	}
	if !d.hasVCL {
		return // parameter sets or SEI alone (H264DVR, see Push): no picture
	}
	keyframe := d.hasKey && d.codec.HaveParams()
	if d.hasKey && !keyframe {
		d.stats.SkippedAUs++
		d.waitKey = true
		d.note(fmt.Errorf("%w: keyframe at ts %d dropped", d.errs.NoParams, d.auTS))
		return
	}
	if d.waitKey && !keyframe {
		d.stats.SkippedAUs++
		return
	}
	if !keyframe && d.hasSkip && d.openStart {
		// A RASL picture of the CRA we started at references pictures
		// before it, which we never emitted (H.265 8.1.3): a decoder
		// starting there drops it too.
		d.stats.SkippedAUs++
		return
	}

	d.nalus = d.nalus[:0]
	for _, r := range d.ranges {
		d.nalus = append(d.nalus, d.buf[r.start:r.end:r.end])
	}
	pts := d.auPTS
	dts, err := d.dts.next(pts, keyframe)
	if err != nil {
		d.stats.DroppedAUs++
		d.waitKey = true
		d.note(fmt.Errorf("%w: ts %d: %w", d.errs.Timing, d.auTS, err))
		return
	}
	if keyframe {
		// Leading pictures of this key are decodable only when output ran
		// on through it.
		d.openStart = d.waitKey && d.hasOpen
	}
	d.waitKey = false

	d.out = Frame{NALUs: d.nalus, PTS: pts, DTS: dts, Keyframe: keyframe}
	d.stats.AccessUnits++
	if keyframe {
		d.stats.Keyframes++
	}
	emit(&d.out)
}
