package audio

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/pion/rtp"
)

// muxConfig is what nvr takes from a StreamMuxConfig (ISO/IEC 14496-3
// §1.7.3.1): one program, one layer, frameLengthType 0 (byte lengths),
// every stream with the same time framing. Cameras send nothing else.
type muxConfig struct {
	version      uint32
	numSubFrames int // AUs per AudioMuxElement
	otherBits    int // otherDataLenBits after the payloads (version 0)
	otherPresent bool
	aac          AACConfig
}

// latmValue reads LatmGetValue() (§1.7.3.1).
func latmValue(r *bitReader) (uint32, error) {
	n, err := r.read(2)
	if err != nil {
		return 0, err
	}
	var v uint32
	for i := uint32(0); i <= n; i++ {
		b, err := r.read(8)
		if err != nil {
			return 0, err
		}
		v = v<<8 | b
	}
	return v, nil
}

// ParseStreamMuxConfigHex parses RFC 6416's hex `config` parameter (a
// StreamMuxConfig) and returns its AudioSpecificConfig.
func ParseStreamMuxConfigHex(s string) (AACConfig, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return AACConfig{}, fmt.Errorf("%w: LATM config %q is not hex", ErrMalformed, truncate(s))
	}
	r := bitReader{b: b}
	mc, err := readMuxConfig(&r)
	return mc.aac, err
}

func readMuxConfig(r *bitReader) (muxConfig, error) {
	var mc muxConfig
	v, err := r.read(1)
	if err != nil {
		return mc, err
	}
	mc.version = v
	if v == 1 {
		a, err := r.read(1)
		if err != nil {
			return mc, err
		}
		if a != 0 {
			return mc, fmt.Errorf("%w: LATM audioMuxVersionA 1", ErrUnsupported)
		}
		if _, err := latmValue(r); err != nil { // taraBufferFullness
			return mc, err
		}
	}
	same, err := r.read(1)
	if err != nil {
		return mc, err
	}
	sub, err := r.read(6)
	if err != nil {
		return mc, err
	}
	progs, err := r.read(4)
	if err != nil {
		return mc, err
	}
	layers, err := r.read(3)
	if err != nil {
		return mc, err
	}
	if same != 1 || progs != 0 || layers != 0 {
		return mc, fmt.Errorf("%w: LATM with %d programs, %d layers, same time framing %d", ErrUnsupported, progs+1, layers+1, same)
	}
	mc.numSubFrames = int(sub) + 1
	// The first layer's config is always present (useSameConfig is not
	// sent for program 0, layer 0).
	start := r.pos
	if v == 0 {
		if mc.aac, err = readAACConfig(r); err != nil {
			return mc, err
		}
	} else {
		ascLen, err := latmValue(r)
		if err != nil {
			return mc, err
		}
		start = r.pos
		if int(ascLen) > r.left() {
			return mc, fmt.Errorf("%w: LATM ascLen %d beyond config", ErrMalformed, ascLen)
		}
		if mc.aac, err = readAACConfig(r); err != nil {
			return mc, err
		}
		if used := r.pos - start; used > int(ascLen) {
			return mc, fmt.Errorf("%w: LATM AudioSpecificConfig longer than ascLen", ErrMalformed)
		}
		r.pos = start + int(ascLen) // fillBits
	}
	mc.aac.Raw = copyBits(r.b, start, r.pos)
	// The fields after the AudioSpecificConfig may be missing from an
	// out-of-band config: GStreamer's rtpmp4apay writes "40002810" and
	// RFC 6416's own example is "40002410", both ending inside
	// frameLengthType. Missing bits read as zero, as ffmpeg reads them:
	// frameLengthType 0, no other data, no CRC.
	tail := func(n int) uint32 {
		if r.left() < n {
			r.pos = len(r.b) * 8
			return 0
		}
		v, _ := r.read(n)
		return v
	}
	if flt := tail(3); flt != 0 {
		return mc, fmt.Errorf("%w: LATM frameLengthType %d", ErrUnsupported, flt)
	}
	tail(8) // latmBufferFullness
	if tail(1) == 1 {
		mc.otherPresent = true
		if v == 1 {
			n, err := latmValue(r)
			if err != nil {
				return mc, err
			}
			mc.otherBits = int(n)
		} else {
			for {
				esc, err := r.read(1)
				if err != nil {
					return mc, err
				}
				b, err := r.read(8)
				if err != nil {
					return mc, err
				}
				mc.otherBits = mc.otherBits<<8 | int(b)
				if mc.otherBits > MaxFrameSize*8 {
					return mc, fmt.Errorf("%w: LATM otherDataLenBits", ErrTooLarge)
				}
				if esc == 0 {
					break
				}
			}
		}
	}
	if tail(1) == 1 { // crcCheckPresent
		tail(8)
	}
	return mc, nil
}

// LATM depacketizes RFC 6416 MP4A-LATM: AudioMuxElements with the
// StreamMuxConfig out of band (cpresent=0, `config` in the fmtp) or in
// band (cpresent=1), possibly fragmented over packets that share a
// timestamp, the marker bit on the last.
type LATM struct {
	inBand    bool
	clockRate int
	mc        muxConfig
	haveMC    bool
	frameDur  int64
	stream
	elem      []byte // AudioMuxElement bytes gathered so far
	elemTS    int64
	elemRTPTS uint32
	scratch   []byte
	out       Frame
}

// NewLATM makes a depacketizer from the rtpmap clock rate and the fmtp
// (keys lower case). Without cpresent=0 the config comes in band and
// Config reports false until the first packet carrying one.
func NewLATM(clockRate int, fmtp map[string]string) (*LATM, error) {
	d := &LATM{clockRate: clockRate, inBand: fmtp["cpresent"] != "0"}
	if clockRate <= 0 {
		return nil, fmt.Errorf("%w: MP4A-LATM clock rate %d", ErrMalformed, clockRate)
	}
	if cfg, ok := fmtp["config"]; ok && cfg != "" {
		b, err := hex.DecodeString(strings.TrimSpace(cfg))
		if err != nil {
			return nil, fmt.Errorf("%w: LATM config %q is not hex", ErrMalformed, truncate(cfg))
		}
		r := bitReader{b: b}
		mc, err := readMuxConfig(&r)
		if err != nil {
			return nil, fmt.Errorf("LATM config: %w", err)
		}
		if err := d.setConfig(mc); err != nil {
			return nil, err
		}
	} else if !d.inBand {
		return nil, fmt.Errorf("%w: MP4A-LATM with cpresent=0 and no config", ErrMalformed)
	}
	return d, nil
}

func (d *LATM) setConfig(mc muxConfig) error {
	dur, err := aacFrameDuration(mc.aac, d.clockRate)
	if err != nil {
		return err
	}
	d.mc, d.haveMC, d.frameDur = mc, true, dur
	return nil
}

// Config returns the AudioSpecificConfig in force, once one is known.
func (d *LATM) Config() (AACConfig, bool) { return d.mc.aac, d.haveMC }

// Reset forgets a partial element and sequence continuity.
func (d *LATM) Reset() {
	d.dropElem()
	d.seq.Forget()
}

func (d *LATM) dropElem() {
	if len(d.elem) > 0 {
		d.st.Dropped++
	}
	d.elem = d.elem[:0]
}

// Push implements Depacketizer.
func (d *LATM) Push(pkt *rtp.Packet, emit func(*Frame)) error {
	s, ok := d.begin(pkt)
	if !ok {
		return s.lossErr
	}
	if s.gap {
		d.dropElem()
	}
	var err error
	if len(d.elem) > 0 && pkt.Timestamp != d.elemRTPTS {
		// A camera that never sets the marker: the new timestamp ends the
		// element.
		err = d.parseElems(d.elem, d.elemTS, emit)
		d.elem = d.elem[:0]
	}
	if len(d.elem)+len(pkt.Payload) > MaxFrameSize {
		d.dropElem()
		d.st.Dropped++
		return fmt.Errorf("%w: AudioMuxElement over %d bytes (seq %d)", ErrTooLarge, MaxFrameSize, pkt.SequenceNumber)
	}
	if len(d.elem) == 0 {
		d.elemTS, d.elemRTPTS = s.ts, pkt.Timestamp
	}
	d.elem = append(d.elem, pkt.Payload...)
	if pkt.Marker {
		if e := d.parseElems(d.elem, d.elemTS, emit); e != nil {
			err = fmt.Errorf("%w (seq %d)", e, pkt.SequenceNumber)
		}
		d.elem = d.elem[:0]
	}
	if err == nil {
		err = s.lossErr
	}
	return err
}

// parseElems reads every AudioMuxElement of b (RFC 6416 §6.1: a packet
// holds one or more whole elements, or fragments of one).
func (d *LATM) parseElems(b []byte, ts int64, emit func(*Frame)) error {
	r := bitReader{b: b}
	for n := 0; r.left() >= 8; n++ {
		if n == MaxFramesPerPacket {
			d.st.Rejected++
			return fmt.Errorf("%w: more than %d AudioMuxElements", ErrTooLarge, MaxFramesPerPacket)
		}
		if err := d.parseElem(&r, &ts, emit); err != nil {
			d.st.Rejected++
			return err
		}
		r.pos = (r.pos + 7) &^ 7 // byte_alignment()
	}
	return nil
}

func (d *LATM) parseElem(r *bitReader, ts *int64, emit func(*Frame)) error {
	if d.inBand {
		same, err := r.read(1)
		if err != nil {
			return err
		}
		if same == 0 {
			mc, err := readMuxConfig(r)
			if err != nil {
				return fmt.Errorf("in-band StreamMuxConfig: %w", err)
			}
			if !d.haveMC || !bytes.Equal(mc.aac.Raw, d.mc.aac.Raw) || mc.numSubFrames != d.mc.numSubFrames || mc.otherBits != d.mc.otherBits {
				if err := d.setConfig(mc); err != nil {
					return err
				}
			}
		} else if !d.haveMC {
			return fmt.Errorf("%w: LATM element before any StreamMuxConfig", ErrPacketLoss)
		}
	}
	if !d.haveMC {
		return fmt.Errorf("%w: LATM without config", ErrMalformed)
	}
	for i := 0; i < d.mc.numSubFrames; i++ {
		// PayloadLengthInfo (§1.7.3.2) for frameLengthType 0: 255 means
		// more bytes follow.
		size := 0
		for {
			v, err := r.read(8)
			if err != nil {
				return err
			}
			size += int(v)
			if v != 255 {
				break
			}
			if size > MaxFrameSize {
				return fmt.Errorf("%w: LATM AU over %d bytes", ErrTooLarge, MaxFrameSize)
			}
		}
		if size*8 > r.left() {
			return fmt.Errorf("%w: LATM AU of %d bytes beyond the element", ErrMalformed, size)
		}
		var au []byte
		if r.pos&7 == 0 {
			au = r.b[r.pos>>3 : r.pos>>3+size]
		} else {
			d.scratch = append(d.scratch[:0], copyBits(r.b, r.pos, r.pos+size*8)...)
			au = d.scratch
		}
		r.pos += size * 8
		if raw, ok := stripADTS(au); ok {
			d.st.Stripped++
			au = raw
		}
		if len(au) > 0 {
			d.st.Frames++
			d.out = Frame{PTS: *ts, Duration: d.frameDur, Data: au}
			emit(&d.out)
		}
		*ts += d.frameDur
	}
	if d.mc.otherPresent {
		if d.mc.otherBits > r.left() {
			return fmt.Errorf("%w: LATM otherData beyond the element", ErrMalformed)
		}
		r.pos += d.mc.otherBits
	}
	return nil
}
