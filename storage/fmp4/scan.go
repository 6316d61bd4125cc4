package fmp4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/nvr-project/nvr/internal/h265ps"
)

// Bounds applied by Scan to untrusted files.
const (
	// maxInitBoxSize bounds ftyp, moov and any free box before them: an nvr
	// moov is under 1 KiB plus its parameter sets (at most 2×64 KiB).
	maxInitBoxSize = 1 << 20
	// maxMoofSize bounds one moof: a full trun of MaxSamplesPerFragment
	// 16-byte entries is 16 KiB; the rest is room for boxes of other muxers.
	maxMoofSize = 1 << 20
	// maxSkippedBoxSize bounds a free/sidx/... box between fragments.
	maxSkippedBoxSize = 16 << 20
	// minSampleSize is the smallest AVCC sample: a 4-byte length and a
	// 1-byte NAL header. It also caps the sample table at size/5 entries.
	minSampleSize = 5
	// maxDTS keeps decode times far from int64 overflow when durations are
	// added to them.
	maxDTS = 1 << 60
	// maxBoxDepth bounds recursion into nested boxes.
	maxBoxDepth = 12
)

// Errors returned by Scan and Recover.
var (
	// ErrNoInit: the file does not even hold a complete ftyp and moov.
	// The caller deletes or quarantines such a file.
	ErrNoInit = errors.New("fmp4: no complete ftyp+moov")
	// ErrMalformed: the init segment is not a usable H.264 track.
	ErrMalformed = errors.New("fmp4: malformed segment")
)

// SampleInfo locates one sample of a segment.
type SampleInfo struct {
	Offset   int64  // file offset of the sample's bytes (AVCC, 4-byte lengths)
	DTS      int64  // track timescale (90 kHz for nvr), from the segment start (tfdt-based)
	Size     uint32 // bytes
	Duration uint32 // track timescale
	CTO      int32  // composition offset: PTS = DTS + CTO
	Keyframe bool
}

// SegmentInfo is what Scan learned about a segment.
type SegmentInfo struct {
	Params    TrackParams // SPS/PPS from avcC, width/height from tkhd (avc1 if tkhd has none)
	Timescale uint32
	Samples   []SampleInfo
	Duration  int64 // track timescale, sum of sample durations
	ValidSize int64 // file bytes up to the end of the last complete fragment
	Fragments int
	Keyframes int
	// Audio is the segment's audio track, nil when it has none (or one
	// Scan does not know: the video is read regardless).
	Audio *AudioInfo
}

// AudioInfo is what Scan learned about a segment's audio track. Its
// samples' DTS are in Params.Timescale from the segment start: DTS 0 is
// the same instant as the video's DTS 0. Keyframe is true and CTO 0 for
// every audio sample.
type AudioInfo struct {
	Params   AudioParams
	Samples  []SampleInfo
	Duration int64 // Params.Timescale, sum of sample durations
}

// boxHeader is a parsed ISO BMFF box header (ISO/IEC 14496-12 §4.2).
type boxHeader struct {
	typ    [4]byte
	size   int64 // whole box, header included
	hdrLen int64
}

// parseHeader decodes a box header from b (8 or 16 bytes); ok is false if b
// is too short or the size is impossible. A size of 0 ("to end of file") is
// refused: nvr never writes it, and accepting it would let a torn tail count
// as complete.
func parseHeader(b []byte) (h boxHeader, ok bool) {
	if len(b) < 8 {
		return h, false
	}
	size := uint64(binary.BigEndian.Uint32(b))
	copy(h.typ[:], b[4:8])
	h.hdrLen = 8
	if size == 1 {
		if len(b) < 16 {
			return h, false
		}
		size = binary.BigEndian.Uint64(b[8:])
		h.hdrLen = 16
	}
	if size < uint64(h.hdrLen) || size > math.MaxInt64 {
		return h, false
	}
	h.size = int64(size)
	return h, true
}

// readHeaderAt reads the box header at off in a file of the given size.
func readHeaderAt(r io.ReaderAt, off, size int64) (boxHeader, bool) {
	var buf [16]byte
	n := int64(len(buf))
	if size-off < n {
		n = size - off
	}
	if n < 8 {
		return boxHeader{}, false
	}
	if _, err := r.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
		return boxHeader{}, false
	}
	h, ok := parseHeader(buf[:n])
	if !ok || h.size > size-off {
		return h, false
	}
	return h, true
}

// readBox reads a whole box of at most limit bytes.
func readBox(r io.ReaderAt, off int64, h boxHeader, limit int64) ([]byte, error) {
	if h.size > limit {
		return nil, fmt.Errorf("box %q of %d bytes exceeds %d", h.typ[:], h.size, limit)
	}
	b := make([]byte, h.size)
	if n, err := r.ReadAt(b, off); n < len(b) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read box %q at %d: %w", h.typ[:], off, err)
	}
	return b, nil
}

// children calls fn for each child box in payload b; it stops with false on
// a malformed child.
func children(b []byte, fn func(typ [4]byte, box, payload []byte) bool) bool {
	for len(b) > 0 {
		h, ok := parseHeader(b)
		if !ok || h.size > int64(len(b)) {
			return false
		}
		if !fn(h.typ, b[:h.size], b[h.hdrLen:h.size]) {
			return false
		}
		b = b[h.size:]
	}
	return true
}

// reader is a bounds-checked big-endian cursor: reading past the end sets
// bad and yields zeros, so parsers need no index arithmetic of their own.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.bad = true
		r.b = nil
		return make([]byte, max(n, 0))
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
func (r *reader) u8() uint8   { return r.take(1)[0] }
func (r *reader) u16() uint16 { return binary.BigEndian.Uint16(r.take(2)) }
func (r *reader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }

func typeIs(t [4]byte, s string) bool { return string(t[:]) == s }

// trackDefaults are the trex values a fragment falls back to (§8.8.3).
type trackDefaults struct {
	duration, size, flags uint32
}

// initInfo is what the moov of a segment tells.
type initInfo struct {
	params    TrackParams
	timescale uint32
	trackID   uint32
	trex      trackDefaults
	audio     *audioTrack
}

// audioTrack is what the moov tells of the audio track.
type audioTrack struct {
	params  AudioParams
	trackID uint32
	trex    trackDefaults
}

// Scan parses a segment (ftyp, moov, then moof+mdat pairs) read through r,
// a file of size bytes. It stops at the first incomplete or malformed
// fragment: ValidSize is where a torn tail starts (RELIABILITY F11). It
// returns ErrNoInit or ErrMalformed (wrapped) when even the init segment is
// unusable. Every length in the file is checked against the file size and
// the bounds above before it is used.
func Scan(r io.ReaderAt, size int64) (*SegmentInfo, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size", ErrNoInit)
	}
	var pos int64
	h, ok := readHeaderAt(r, 0, size)
	if !ok || !typeIs(h.typ, "ftyp") {
		return nil, fmt.Errorf("%w: no ftyp at the start", ErrNoInit)
	}
	if h.size > maxInitBoxSize {
		return nil, fmt.Errorf("%w: ftyp of %d bytes", ErrMalformed, h.size)
	}
	pos = h.size
	var ii *initInfo
	for ii == nil {
		h, ok := readHeaderAt(r, pos, size)
		if !ok {
			return nil, fmt.Errorf("%w: moov missing or incomplete", ErrNoInit)
		}
		switch {
		case typeIs(h.typ, "moov"):
			b, err := readBox(r, pos, h, maxInitBoxSize)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
			}
			if ii, err = parseMoov(b[h.hdrLen:]); err != nil {
				return nil, err
			}
		case typeIs(h.typ, "free"), typeIs(h.typ, "skip"):
			if h.size > maxInitBoxSize {
				return nil, fmt.Errorf("%w: free box of %d bytes before moov", ErrMalformed, h.size)
			}
		default:
			return nil, fmt.Errorf("%w: box %q before moov", ErrMalformed, h.typ[:])
		}
		pos += h.size
	}

	info := &SegmentInfo{Params: ii.params, Timescale: ii.timescale, ValidSize: pos}
	if ii.audio != nil {
		info.Audio = &AudioInfo{Params: ii.audio.params}
	}
	var nextDTS [2]int64 // video, audio
	for pos < size {
		h, ok := readHeaderAt(r, pos, size)
		if !ok {
			break // torn header or box past the end of the file
		}
		if typeIs(h.typ, "moof") {
			end, err := scanFragment(r, pos, h, size, ii, info, &nextDTS)
			if err != nil {
				break // torn or malformed fragment: the valid part ends here
			}
			pos = end
			info.ValidSize = end
			continue
		}
		if !skippable(h.typ) || h.size > maxSkippedBoxSize {
			break
		}
		pos += h.size
		info.ValidSize = pos
	}
	return info, nil
}

// skippable reports top-level boxes other muxers put between or after
// fragments (§8.16 styp/sidx, §8.16.5 prft, DASH emsg, §8.8.9 mfra); they
// are kept but carry no samples. Anything else after the init segment is
// treated as a torn or garbage tail.
func skippable(t [4]byte) bool {
	switch string(t[:]) {
	case "free", "skip", "styp", "sidx", "prft", "emsg", "mfra":
		return true
	}
	return false
}

// parseMoov extracts the video track's parameters from a moov payload.
func parseMoov(b []byte) (*initInfo, error) {
	ii := &initInfo{}
	var found, haveTrex bool
	type trex struct {
		id uint32
		d  trackDefaults
	}
	var trexes []trex
	okTree := children(b, func(t [4]byte, _, p []byte) bool {
		switch string(t[:]) {
		case "trak":
			ti, ok := parseTrak(p)
			switch {
			case ok && !found: // the first video track is the segment's
				ii.params, ii.timescale, ii.trackID = ti.params, ti.timescale, ti.trackID
				found = true
			case ti.audioOK && ii.audio == nil: // and the first audio track
				ii.audio = &audioTrack{params: ti.audio, trackID: ti.trackID}
			}
		case "mvex":
			children(p, func(t [4]byte, _, p []byte) bool {
				if typeIs(t, "trex") && len(trexes) < 8 {
					rd := reader{b: p}
					rd.u32() // version, flags
					id := rd.u32()
					rd.u32() // default sample description index
					d := trackDefaults{duration: rd.u32(), size: rd.u32(), flags: rd.u32()}
					if !rd.bad {
						trexes = append(trexes, trex{id, d})
					}
				}
				return true
			})
		}
		return true
	})
	for _, t := range trexes {
		// The video's own trex, or else the first one (files whose trex
		// names another track ID than their tkhd).
		if t.id == ii.trackID {
			haveTrex = false
		}
		if t.id == ii.trackID || !haveTrex {
			ii.trex, haveTrex = t.d, true
		}
		if ii.audio != nil && t.id == ii.audio.trackID {
			ii.audio.trex = t.d
		}
	}
	if ii.audio != nil && ii.audio.trackID == ii.trackID {
		ii.audio = nil // two tracks of one ID: the video wins
	}
	if !okTree {
		return nil, fmt.Errorf("%w: bad box in moov", ErrMalformed)
	}
	if !found {
		return nil, fmt.Errorf("%w: no H.264 or H.265 video track with avcC or hvcC", ErrMalformed)
	}
	return ii, nil
}

type trakInfo struct {
	params    TrackParams
	timescale uint32
	trackID   uint32
	// audio is a sound track's sample entry, audioOK when it is one nvr
	// writes (mp4a, Opus, fLaC) with usable fields.
	audio   AudioParams
	audioOK bool
}

// parseTrak reads one trak; ok only for an H.264 or H.265 video track with
// a usable avcC or hvcC and a non-zero timescale.
func parseTrak(b []byte) (trakInfo, bool) {
	var ti trakInfo
	var isVideo, isSound, haveAvcC bool
	var entryW, entryH int
	var walk func(b []byte, depth int) bool
	walk = func(b []byte, depth int) bool {
		if depth > maxBoxDepth {
			return false
		}
		return children(b, func(t [4]byte, _, p []byte) bool {
			rd := reader{b: p}
			switch string(t[:]) {
			case "mdia", "minf", "stbl":
				return walk(p, depth+1)
			case "tkhd":
				v := rd.u8()
				rd.take(3)
				if v == 1 {
					rd.take(16)
				} else {
					rd.take(8)
				}
				ti.trackID = rd.u32()
				// reserved, duration, reserved×2, layer, group, volume,
				// reserved, matrix (§8.3.2).
				if v == 1 {
					rd.take(4 + 8)
				} else {
					rd.take(4 + 4)
				}
				rd.take(8 + 2 + 2 + 2 + 2 + 36)
				w, h := rd.u32()>>16, rd.u32()>>16
				if !rd.bad {
					ti.params.Width, ti.params.Height = int(w), int(h)
				}
			case "mdhd":
				v := rd.u8()
				rd.take(3)
				if v == 1 {
					rd.take(16)
				} else {
					rd.take(8)
				}
				ti.timescale = rd.u32()
			case "hdlr":
				rd.take(8)
				h := string(rd.take(4))
				isVideo, isSound = h == "vide", h == "soun"
			case "stsd":
				rd.take(4)
				if rd.u32() == 0 || rd.bad {
					return true
				}
				// The first entry describes the track (nvr writes one).
				h, ok := parseHeader(rd.b)
				if !ok || h.size > int64(len(rd.b)) {
					return false
				}
				if a, ok := parseAudioEntry(h.typ, rd.b[h.hdrLen:h.size]); ok {
					ti.audio, ti.audioOK = a, true
					return true
				}
				hevc := typeIs(h.typ, "hvc1") || typeIs(h.typ, "hev1")
				if !typeIs(h.typ, "avc1") && !typeIs(h.typ, "avc3") && !hevc {
					return true
				}
				e := reader{b: rd.b[h.hdrLen:h.size]}
				e.take(6 + 2 + 16) // reserved, data_reference_index, pre_defined/reserved
				entryW, entryH = int(e.u16()), int(e.u16())
				e.take(4 + 4 + 4 + 2 + 32 + 2 + 2) // resolutions, reserved, frame_count, compressorname, depth, pre_defined
				if e.bad {
					return false
				}
				children(e.b, func(t [4]byte, _, p []byte) bool {
					if typeIs(t, "avcC") && !hevc && !haveAvcC {
						sps, pps, ok := parseAvcC(p)
						if ok {
							ti.params.SPS, ti.params.PPS, haveAvcC = sps, pps, true
						}
					}
					if typeIs(t, "hvcC") && hevc && !haveAvcC {
						vps, sps, pps, ok := parseHvcC(p)
						if ok {
							ti.params.VPS, ti.params.SPS, ti.params.PPS, haveAvcC = vps, sps, pps, true
						}
					}
					if typeIs(t, "pasp") {
						// hSpacing, vSpacing (ISO/IEC 14496-12 §12.1.4.2);
						// a ratio no SPS could carry is ignored.
						pr := reader{b: p}
						h, v := pr.u32(), pr.u32()
						if !pr.bad && h > 0 && v > 0 && h <= maxSARTerm && v <= maxSARTerm {
							ti.params.SARWidth, ti.params.SARHeight = int(h), int(v)
						}
					}
					return true
				})
			}
			return true
		})
	}
	if !walk(b, 0) {
		return ti, false
	}
	if ti.params.Width == 0 || ti.params.Height == 0 {
		ti.params.Width, ti.params.Height = entryW, entryH
	}
	if ti.audioOK {
		ti.audio.Timescale = int(ti.timescale)
		ti.audioOK = isSound && checkAudio(ti.audio) == nil
	}
	return ti, isVideo && haveAvcC && ti.timescale != 0
}

// parseAvcC returns the first SPS and PPS of an AVCDecoderConfigurationRecord
// (ISO/IEC 14496-15 §5.3.3.1). Only 4-byte NAL lengths are accepted: the
// export copies samples verbatim under its own avcC, which says 4.
func parseAvcC(p []byte) (sps, pps []byte, ok bool) {
	rd := reader{b: p}
	if rd.u8() != 1 {
		return nil, nil, false
	}
	rd.take(3)
	if rd.u8()&3 != 3 {
		return nil, nil, false
	}
	n := int(rd.u8() & 0x1f)
	for i := 0; i < n; i++ {
		s := rd.take(int(rd.u16()))
		if i == 0 {
			sps = bytes.Clone(s)
		}
	}
	n = int(rd.u8())
	for i := 0; i < n; i++ {
		s := rd.take(int(rd.u16()))
		if i == 0 {
			pps = bytes.Clone(s)
		}
	}
	if rd.bad || len(sps) == 0 || len(pps) == 0 {
		return nil, nil, false
	}
	return sps, pps, true
}

// tfhd flags (ISO/IEC 14496-12 §8.8.7.1).
const (
	tfhdBaseDataOffset   = 0x000001
	tfhdSampleDescIndex  = 0x000002
	tfhdDefaultDuration  = 0x000008
	tfhdDefaultSize      = 0x000010
	tfhdDefaultFlags     = 0x000020
	trunDataOffset       = 0x000001
	trunFirstSampleFlags = 0x000004
	trunDuration         = 0x000100
	trunSize             = 0x000200
	trunFlagsPresent     = 0x000400
	trunCTO              = 0x000800
	sampleIsNonSync      = 0x00010000
)

var errBadFragment = errors.New("fmp4: bad fragment")

// scanFragment parses the moof at pos and the mdat after it. Only when the
// whole fragment is complete and consistent are its samples appended to
// info; it returns the offset just past the mdat.
func scanFragment(r io.ReaderAt, pos int64, h boxHeader, size int64, ii *initInfo, info *SegmentInfo, nextDTS *[2]int64) (int64, error) {
	moof, err := readBox(r, pos, h, maxMoofSize)
	if err != nil {
		return 0, err
	}
	mdatPos := pos + h.size
	mh, ok := readHeaderAt(r, mdatPos, size)
	if !ok || !typeIs(mh.typ, "mdat") {
		return 0, fmt.Errorf("%w: no complete mdat after moof at %d", errBadFragment, pos)
	}
	dataStart, dataEnd := mdatPos+mh.hdrLen, mdatPos+mh.size

	var samples [2][]SampleInfo // video, audio
	dts := *nextDTS
	keys := 0
	okTree := children(moof[h.hdrLen:], func(t [4]byte, _, p []byte) bool {
		if !typeIs(t, "traf") {
			return true // mfhd and others carry nothing we need
		}
		var (
			tfFlags  uint32
			def      = ii.trex
			base     = pos // default-base-is-moof, or first traf without base offset
			haveTfhd bool
			ours     bool
			tr       int // 0 video, 1 audio
		)
		return children(p, func(t [4]byte, _, p []byte) bool {
			rd := reader{b: p}
			switch string(t[:]) {
			case "tfhd":
				tfFlags = rd.u32() & 0xffffff
				switch id := rd.u32(); {
				case id == ii.trackID:
					ours, tr = true, 0
				case ii.audio != nil && id == ii.audio.trackID:
					ours, tr, def = true, 1, ii.audio.trex
				}
				if tfFlags&tfhdBaseDataOffset != 0 {
					b := rd.u64()
					if b > math.MaxInt64 {
						return false
					}
					base = int64(b)
				}
				if tfFlags&tfhdSampleDescIndex != 0 {
					rd.u32()
				}
				if tfFlags&tfhdDefaultDuration != 0 {
					def.duration = rd.u32()
				}
				if tfFlags&tfhdDefaultSize != 0 {
					def.size = rd.u32()
				}
				if tfFlags&tfhdDefaultFlags != 0 {
					def.flags = rd.u32()
				}
				haveTfhd = !rd.bad
				return haveTfhd
			case "tfdt":
				if !ours {
					return true
				}
				v := rd.u8()
				rd.take(3)
				var t uint64
				if v == 1 {
					t = rd.u64()
				} else {
					t = uint64(rd.u32())
				}
				if rd.bad || t > maxDTS {
					return false
				}
				dts[tr] = int64(t)
			case "trun":
				if !haveTfhd {
					return false
				}
				if !ours {
					return true
				}
				vf := rd.u32()
				version, flags := vf>>24, vf&0xffffff
				count := rd.u32()
				if rd.bad || count > MaxSamplesPerFragment || len(samples[tr])+int(count) > MaxSamplesPerFragment {
					return false
				}
				off := base
				if len(samples[tr]) > 0 {
					last := samples[tr][len(samples[tr])-1]
					off = last.Offset + int64(last.Size)
				}
				if flags&trunDataOffset != 0 {
					off = base + int64(int32(rd.u32()))
				}
				firstFlags, haveFirst := uint32(0), flags&trunFirstSampleFlags != 0
				if haveFirst {
					firstFlags = rd.u32()
				}
				for i := uint32(0); i < count; i++ {
					s := SampleInfo{Offset: off, DTS: dts[tr], Duration: def.duration, Size: def.size}
					sf := def.flags
					if flags&trunDuration != 0 {
						s.Duration = rd.u32()
					}
					if flags&trunSize != 0 {
						s.Size = rd.u32()
					}
					if flags&trunFlagsPresent != 0 {
						sf = rd.u32()
					}
					if i == 0 && haveFirst {
						sf = firstFlags
					}
					if flags&trunCTO != 0 {
						c := rd.u32()
						if version == 0 && c > math.MaxInt32 {
							return false
						}
						s.CTO = int32(c)
					}
					if rd.bad || s.Offset < dataStart || s.Offset+int64(s.Size) > dataEnd {
						return false
					}
					if tr == 1 {
						// Audio: every sample is a sync sample, played at its DTS.
						if s.Size < 1 || s.Size > maxAudioSample {
							return false
						}
						s.Keyframe, s.CTO = true, 0
					} else {
						if s.Size < minSampleSize || s.Size > MaxSampleSize {
							return false
						}
						s.Keyframe = sf&sampleIsNonSync == 0
						if s.Keyframe {
							keys++
						}
					}
					samples[tr] = append(samples[tr], s)
					off += int64(s.Size)
					dts[tr] += int64(s.Duration)
				}
			}
			return true
		})
	})
	if !okTree {
		return 0, fmt.Errorf("%w: moof at %d", errBadFragment, pos)
	}
	for _, s := range samples[0] {
		info.Duration += int64(s.Duration)
	}
	info.Samples = append(info.Samples, samples[0]...)
	if a := info.Audio; a != nil {
		if dts[1] > maxDTS {
			return 0, fmt.Errorf("%w: audio time out of range at %d", errBadFragment, pos)
		}
		for _, s := range samples[1] {
			a.Duration += int64(s.Duration)
		}
		a.Samples = append(a.Samples, samples[1]...)
	}
	info.Keyframes += keys
	info.Fragments++
	*nextDTS = dts
	return dataEnd, nil
}

// parseHvcC returns the first VPS, SPS and PPS of an
// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1). Only 4-byte
// NAL lengths are accepted, as for avcC.
func parseHvcC(p []byte) (vps, sps, pps []byte, ok bool) {
	rd := reader{b: p}
	if rd.u8() != 1 {
		return nil, nil, nil, false
	}
	rd.take(20) // profile_tier_level through avgFrameRate
	if rd.u8()&3 != 3 {
		return nil, nil, nil, false
	}
	n := int(rd.u8())
	for i := 0; i < n && !rd.bad; i++ {
		typ := int(rd.u8() & 0x3f)
		count := int(rd.u16())
		for j := 0; j < count && !rd.bad; j++ {
			b := rd.take(int(rd.u16()))
			if rd.bad || len(b) == 0 {
				break
			}
			switch {
			case typ == h265ps.TypeVPS && vps == nil:
				vps = bytes.Clone(b)
			case typ == h265ps.TypeSPS && sps == nil:
				sps = bytes.Clone(b)
			case typ == h265ps.TypePPS && pps == nil:
				pps = bytes.Clone(b)
			}
		}
	}
	if rd.bad || vps == nil || sps == nil || pps == nil {
		return nil, nil, nil, false
	}
	return vps, sps, pps, true
}
