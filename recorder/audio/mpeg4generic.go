package audio

import (
	"fmt"
	"strconv"

	"github.com/pion/rtp"
)

// GenericParams are the RFC 3640 §4.1 fmtp parameters that shape the
// AU-header section. Zero values mean the field is absent.
type GenericParams struct {
	SizeLength, IndexLength, IndexDeltaLength int
	CTSDeltaLength, DTSDeltaLength            int
	RandomAccess                              bool // randomaccessindication=1
	StreamStateLength                         int  // streamstateindication
	AuxDataSizeLength                         int  // auxiliarydatasizelength
}

// maxFieldBits bounds an fmtp length parameter: AU sizes and deltas are at
// most 32 bits in our reader, and 16 is the most a real stream uses.
const maxFieldBits = 32

// ParseGenericParams reads the AU-header parameters from fmtp (keys lower
// case, as the RTSP layer gives them).
func ParseGenericParams(fmtp map[string]string) (GenericParams, error) {
	var p GenericParams
	fields := []struct {
		key string
		dst *int
	}{
		{"sizelength", &p.SizeLength}, {"indexlength", &p.IndexLength},
		{"indexdeltalength", &p.IndexDeltaLength}, {"ctsdeltalength", &p.CTSDeltaLength},
		{"dtsdeltalength", &p.DTSDeltaLength}, {"streamstateindication", &p.StreamStateLength},
		{"auxiliarydatasizelength", &p.AuxDataSizeLength},
	}
	for _, f := range fields {
		v, ok := fmtp[f.key]
		if !ok || v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxFieldBits {
			return p, fmt.Errorf("%w: fmtp %s=%q", ErrMalformed, f.key, truncate(v))
		}
		*f.dst = n
	}
	if v := fmtp["randomaccessindication"]; v == "1" {
		p.RandomAccess = true
	}
	if p.SizeLength == 0 {
		// Without AU sizes each packet carries one whole AU and nothing
		// else may be derived (RFC 3640 §3.2.3 needs sizes for several AUs
		// or fragments); AAC modes always set it.
		return p, fmt.Errorf("%w: MPEG4-GENERIC without sizelength", ErrUnsupported)
	}
	return p, nil
}

// MPEG4Generic depacketizes RFC 3640 AAC (mode AAC-hbr or AAC-lbr, or
// generic with the same fields): several AUs per packet, or one AU
// fragmented over packets sharing a timestamp.
type MPEG4Generic struct {
	p        GenericParams
	frameDur int64 // RTP clock units per AU
	stream
	frag      []byte // AU being reassembled
	fragOpen  bool
	fragFull  int // the whole AU's size when fragments announce it, else 0
	fragTS    int64
	fragRTPTS uint32
	out       Frame
	sizes     [MaxFramesPerPacket]int
}

// NewMPEG4Generic makes a depacketizer for an AAC stream of cfg at clock
// rate clockRate (from rtpmap).
func NewMPEG4Generic(p GenericParams, cfg AACConfig, clockRate int) (*MPEG4Generic, error) {
	dur, err := aacFrameDuration(cfg, clockRate)
	if err != nil {
		return nil, err
	}
	return &MPEG4Generic{p: p, frameDur: dur}, nil
}

// aacFrameDuration is one access unit's length in RTP clock units.
func aacFrameDuration(cfg AACConfig, clockRate int) (int64, error) {
	if clockRate <= 0 || cfg.SampleRate <= 0 {
		return 0, fmt.Errorf("%w: AAC clock rate %d, sample rate %d", ErrMalformed, clockRate, cfg.SampleRate)
	}
	d := int64(cfg.FrameLength) * int64(clockRate) / int64(cfg.SampleRate)
	if d <= 0 {
		return 0, fmt.Errorf("%w: AAC clock rate %d too low", ErrMalformed, clockRate)
	}
	return d, nil
}

// Reset forgets a partial AU and sequence continuity.
func (d *MPEG4Generic) Reset() {
	d.dropFrag()
	d.seq.Forget()
}

func (d *MPEG4Generic) dropFrag() {
	if d.fragOpen {
		d.st.Dropped++
	}
	d.frag = d.frag[:0]
	d.fragOpen = false
}

func (d *MPEG4Generic) completeFrag(emit func(*Frame)) {
	d.fragOpen = false
	d.emitAU(d.frag, d.fragTS, emit)
	d.frag = d.frag[:0]
}

// continueFrag adds a packet of the open fragment's timestamp.
func (d *MPEG4Generic) continueFrag(pkt *rtp.Packet, n int, data []byte, emit func(*Frame)) error {
	size := d.sizes[0]
	switch {
	case n != 1:
		d.dropFrag()
		d.reject()
		return fmt.Errorf("%w: %d AU-headers inside a fragmented AU (seq %d)", ErrMalformed, n, pkt.SequenceNumber)
	case d.fragFull > 0 && size != d.fragFull:
		d.dropFrag()
		d.reject()
		return fmt.Errorf("%w: AU fragment of an AU of %d bytes says %d (seq %d)", ErrMalformed, d.fragFull, size, pkt.SequenceNumber)
	case d.fragFull == 0 && size < len(data):
		data = data[:size]
	}
	limit := d.fragFull
	if limit == 0 {
		limit = MaxFrameSize
	}
	if len(d.frag)+len(data) > limit {
		d.dropFrag()
		d.st.Dropped++
		return fmt.Errorf("%w: AU fragments over %d bytes (seq %d)", ErrTooLarge, limit, pkt.SequenceNumber)
	}
	d.frag = append(d.frag, data...)
	switch {
	case d.fragFull > 0 && len(d.frag) == d.fragFull, d.fragFull == 0 && pkt.Marker:
		d.completeFrag(emit)
	case pkt.Marker:
		d.dropFrag()
		return fmt.Errorf("%w: AU fragment ends short of its size (seq %d)", ErrMalformed, pkt.SequenceNumber)
	}
	return nil
}

// Push implements Depacketizer.
func (d *MPEG4Generic) Push(pkt *rtp.Packet, emit func(*Frame)) error {
	s, ok := d.begin(pkt)
	if !ok {
		return s.lossErr
	}
	if s.gap {
		d.dropFrag()
	}
	err := d.depacketize(pkt, s.ts, emit)
	if err == nil {
		err = s.lossErr
	}
	return err
}

func (d *MPEG4Generic) depacketize(pkt *rtp.Packet, ts int64, emit func(*Frame)) error {
	b := pkt.Payload
	if len(b) < 2 {
		d.reject()
		return fmt.Errorf("%w: MPEG4-GENERIC payload of %d bytes (seq %d)", ErrMalformed, len(b), pkt.SequenceNumber)
	}
	hdrBits := int(b[0])<<8 | int(b[1]) // AU-headers-length (§3.2.1)
	hdrBytes := (hdrBits + 7) / 8
	if 2+hdrBytes > len(b) {
		d.reject()
		return fmt.Errorf("%w: AU-headers-length %d bits beyond payload of %d bytes (seq %d)", ErrMalformed, hdrBits, len(b), pkt.SequenceNumber)
	}
	n, err := d.readHeaders(b[2:2+hdrBytes], hdrBits)
	if err != nil {
		d.reject()
		return fmt.Errorf("%w (seq %d)", err, pkt.SequenceNumber)
	}
	data := b[2+hdrBytes:]
	if d.p.AuxDataSizeLength > 0 {
		// §3.2.2: an auxiliary section nobody uses for AAC; skip it.
		r := bitReader{b: data}
		auxBits, err := r.read(d.p.AuxDataSizeLength)
		if err != nil {
			d.reject()
			return fmt.Errorf("%w: auxiliary section (seq %d)", ErrMalformed, pkt.SequenceNumber)
		}
		skip := (d.p.AuxDataSizeLength + int(auxBits) + 7) / 8
		if skip > len(data) {
			d.reject()
			return fmt.Errorf("%w: auxiliary section beyond payload (seq %d)", ErrMalformed, pkt.SequenceNumber)
		}
		data = data[skip:]
	}

	// A fragment in progress continues in a packet of the same timestamp
	// with a single AU-header (§3.2.3). Two conventions exist: the AU-size
	// of every fragment is the whole AU's (RFC 3640, ffmpeg, GStreamer),
	// or it is the fragment's own, the marker ending the AU (gortsplib).
	if d.fragOpen {
		if pkt.Timestamp != d.fragRTPTS {
			if d.fragFull == 0 {
				// Fragment-sized headers and no marker: a camera that
				// never sets it sends one AU per timestamp.
				d.completeFrag(emit)
			} else {
				d.dropFrag()
				err = fmt.Errorf("%w: AU fragment without its end before seq %d", ErrPacketLoss, pkt.SequenceNumber)
			}
		} else {
			return d.continueFrag(pkt, n, data, emit)
		}
	}

	if n == 1 && (d.sizes[0] > len(data) || (d.sizes[0] == len(data) && !pkt.Marker)) {
		// The first fragment of an AU: larger than the packet, or a
		// single AU without the marker that would say it is complete.
		full := 0
		if d.sizes[0] > len(data) {
			full = d.sizes[0]
			if pkt.Marker {
				d.reject()
				return fmt.Errorf("%w: AU of %d bytes in a last packet of %d (seq %d)", ErrMalformed, d.sizes[0], len(data), pkt.SequenceNumber)
			}
		}
		if d.sizes[0] > MaxFrameSize {
			d.st.Dropped++
			return fmt.Errorf("%w: AU of %d bytes (seq %d)", ErrTooLarge, d.sizes[0], pkt.SequenceNumber)
		}
		d.frag = append(d.frag[:0], data[:min(len(data), d.sizes[0])]...)
		d.fragOpen, d.fragFull, d.fragTS, d.fragRTPTS = true, full, ts, pkt.Timestamp
		return err
	}

	// Whole AUs, each one frame after the previous (§3.2.1: consecutive
	// AUs of a non-interleaved stream).
	total := 0
	for i := 0; i < n; i++ {
		total += d.sizes[i]
	}
	if total > len(data) {
		d.reject()
		return fmt.Errorf("%w: AU sizes add to %d bytes, payload has %d (seq %d)", ErrMalformed, total, len(data), pkt.SequenceNumber)
	}
	for i := 0; i < n; i++ {
		au := data[:d.sizes[i]]
		data = data[d.sizes[i]:]
		if len(au) > MaxFrameSize {
			d.st.Dropped++
			err = fmt.Errorf("%w: AU of %d bytes (seq %d)", ErrTooLarge, len(au), pkt.SequenceNumber)
			continue
		}
		d.emitAU(au, ts+int64(i)*d.frameDur, emit)
	}
	return err
}

// readHeaders parses the AU-header section (§3.2.1.1) into d.sizes and
// returns the number of AUs.
func (d *MPEG4Generic) readHeaders(b []byte, bits int) (int, error) {
	r := bitReader{b: b}
	n := 0
	for r.pos < bits {
		if n == MaxFramesPerPacket {
			return 0, fmt.Errorf("%w: more than %d AU-headers", ErrTooLarge, MaxFramesPerPacket)
		}
		size, err := r.read(d.p.SizeLength)
		if err != nil {
			return 0, err
		}
		idxLen := d.p.IndexDeltaLength
		if n == 0 {
			idxLen = d.p.IndexLength
		}
		idx, err := r.read(idxLen)
		if err != nil {
			return 0, err
		}
		if idx != 0 {
			// AU-Index 0 and AU-Index-delta 0 mean consecutive AUs; any
			// other value is interleaving, which needs a reorder buffer.
			return 0, fmt.Errorf("%w: interleaved AUs (index %d)", ErrUnsupported, idx)
		}
		if d.p.CTSDeltaLength > 0 {
			if err := skipFlagged(&r, d.p.CTSDeltaLength); err != nil {
				return 0, err
			}
		}
		if d.p.DTSDeltaLength > 0 {
			if err := skipFlagged(&r, d.p.DTSDeltaLength); err != nil {
				return 0, err
			}
		}
		if d.p.RandomAccess {
			if _, err := r.read(1); err != nil {
				return 0, err
			}
		}
		if _, err := r.read(d.p.StreamStateLength); err != nil {
			return 0, err
		}
		if r.pos > bits {
			return 0, fmt.Errorf("%w: AU-header crosses AU-headers-length", ErrMalformed)
		}
		d.sizes[n] = int(size)
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: no AU-header", ErrMalformed)
	}
	return n, nil
}

// skipFlagged skips a flag bit and, when set, a field of n bits (CTS and
// DTS deltas of §3.2.1.1). AAC has no B-frames: the values are unused.
func skipFlagged(r *bitReader, n int) error {
	f, err := r.read(1)
	if err != nil || f == 0 {
		return err
	}
	_, err = r.read(n)
	return err
}

func (d *MPEG4Generic) reject() { d.st.Rejected++ }

func (d *MPEG4Generic) emitAU(au []byte, ts int64, emit func(*Frame)) {
	if raw, ok := stripADTS(au); ok {
		d.st.Stripped++
		au = raw
	}
	if len(au) == 0 {
		d.st.Dropped++
		return
	}
	d.st.Frames++
	d.out = Frame{PTS: ts, Duration: d.frameDur, Data: au}
	emit(&d.out)
}
