package fmp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The sample index is a compact encoding of a SegmentInfo: everything an
// export needs to plan a clip from a segment without opening its file
// (parameter sets, and per sample its size, duration, composition offset,
// keyframe flag and file offset). It is what storage keeps in the index for
// every complete segment. Like Moonfire's video_index it is varints of
// differences, about two bytes a frame for a camera's regular stream:
//
//	u8       version (indexVersion)
//	u8       flags (indexHasCTO: composition offsets follow each sample;
//	         indexHasVPS: an H.265 track, whose VPS follows the PPS)
//	uvarint  timescale, width, height, SAR width, SAR height
//	uvarint  len(SPS), SPS, len(PPS), PPS
//	uvarint  len(VPS), VPS (if indexHasVPS)
//	uvarint  fragments, valid size, samples
//	uvarint  chunks; per chunk (a run of samples contiguous in the file
//	         and in decode time):
//	  uvarint  samples
//	  uvarint  file offset of the first sample minus the end of the
//	           previous chunk's last sample (0 for the first chunk)
//	  varint   decode time of the first sample minus the end of the
//	           previous chunk (its own decode time for the first)
//	  per sample:
//	    uvarint  zigzag(duration - previous duration) << 1 | keyframe
//	    varint   size - previous size of a sample of the same kind
//	             (keyframe or not)
//	    varint   composition offset - previous one (if indexHasCTO)
//
// Version 2 is version 1 followed by the audio track (flag indexHasAudio);
// segments without audio are still written as version 1, and rows of
// either version parse:
//
//	uvarint  len(codec), codec (AudioParams.Codec)
//	uvarint  timescale, sample rate, channels, AAC object type,
//	         FLAC block size
//	uvarint  len(AAC config), AAC config
//	uvarint  samples, chunks, then the chunks as for the video, each
//	         sample's keyframe bit 1 and no composition offsets
const (
	indexVersion1 = 1
	indexVersion2 = 2
	indexHasCTO   = 1
	indexHasVPS   = 2
	indexHasAudio = 4
)

// MaxIndexSamples bounds the samples of one sample index: two hours (the
// longest segment) at 1000 fps, far above any camera.
const MaxIndexSamples = 2 * 3600 * 1000

// ErrBadIndex: a sample index does not decode to a consistent segment.
var ErrBadIndex = errors.New("fmp4: bad sample index")

// MarshalIndex encodes info as a sample index (see the layout above).
func (info *SegmentInfo) MarshalIndex() ([]byte, error) {
	p := info.Params
	if len(info.Samples) > MaxIndexSamples || len(p.SPS) > maxParamSetSize || len(p.PPS) > maxParamSetSize || len(p.VPS) > maxParamSetSize ||
		p.Width < 0 || p.Height < 0 || p.SARWidth < 0 || p.SARHeight < 0 {
		return nil, fmt.Errorf("%w: segment cannot be indexed", ErrBadIndex)
	}
	var flags byte
	for _, s := range info.Samples {
		if s.CTO != 0 {
			flags |= indexHasCTO
			break
		}
	}
	if p.H265() {
		flags |= indexHasVPS
	}
	version := byte(indexVersion1)
	a := info.Audio
	if a != nil {
		if len(a.Samples) > MaxIndexSamples || checkAudio(a.Params) != nil {
			return nil, fmt.Errorf("%w: audio track cannot be indexed", ErrBadIndex)
		}
		version, flags = indexVersion2, flags|indexHasAudio
	}
	b := make([]byte, 0, 64+len(p.VPS)+len(p.SPS)+len(p.PPS)+3*len(info.Samples))
	b = append(b, version, flags)
	for _, v := range []uint64{uint64(info.Timescale), uint64(p.Width), uint64(p.Height), uint64(p.SARWidth), uint64(p.SARHeight)} {
		b = binary.AppendUvarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(p.SPS)))
	b = append(b, p.SPS...)
	b = binary.AppendUvarint(b, uint64(len(p.PPS)))
	b = append(b, p.PPS...)
	if p.H265() {
		b = binary.AppendUvarint(b, uint64(len(p.VPS)))
		b = append(b, p.VPS...)
	}
	b = binary.AppendUvarint(b, uint64(info.Fragments))
	b = binary.AppendUvarint(b, uint64(max(info.ValidSize, 0)))
	b = binary.AppendUvarint(b, uint64(len(info.Samples)))
	b, err := appendChunks(b, info.Samples, flags&indexHasCTO != 0)
	if err != nil || a == nil {
		return b, err
	}
	ap := a.Params
	b = binary.AppendUvarint(b, uint64(len(ap.Codec)))
	b = append(b, ap.Codec...)
	for _, v := range []int{ap.Timescale, ap.SampleRate, ap.Channels, ap.AACObjectType, ap.FLACBlockSize} {
		b = binary.AppendUvarint(b, uint64(max(v, 0)))
	}
	b = binary.AppendUvarint(b, uint64(len(ap.AACConfig)))
	b = append(b, ap.AACConfig...)
	b = binary.AppendUvarint(b, uint64(len(a.Samples)))
	return appendChunks(b, a.Samples, false)
}

// appendChunks encodes the chunks of samples s (see the layout above).
func appendChunks(b []byte, s []SampleInfo, hasCTO bool) ([]byte, error) {
	chunks := 0
	for i := range s {
		if i == 0 || !contiguous(s[i-1], s[i]) {
			chunks++
		}
	}
	b = binary.AppendUvarint(b, uint64(chunks))
	var end, endDTS int64 // of the previous sample
	var prevDur uint32
	var prevSize [2]uint32 // by keyframe
	var prevCTO int32
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && contiguous(s[j-1], s[j]) {
			j++
		}
		if s[i].Offset < end {
			return nil, fmt.Errorf("%w: sample %d overlaps the one before", ErrBadIndex, i)
		}
		b = binary.AppendUvarint(b, uint64(j-i))
		b = binary.AppendUvarint(b, uint64(s[i].Offset-end))
		b = binary.AppendVarint(b, s[i].DTS-endDTS)
		for k := i; k < j; k++ {
			key := uint64(0)
			if s[k].Keyframe {
				key = 1
			}
			b = binary.AppendUvarint(b, zigzag(int64(s[k].Duration)-int64(prevDur))<<1|key)
			b = binary.AppendVarint(b, int64(s[k].Size)-int64(prevSize[key]))
			if hasCTO {
				b = binary.AppendVarint(b, int64(s[k].CTO)-int64(prevCTO))
			}
			prevDur, prevSize[key], prevCTO = s[k].Duration, s[k].Size, s[k].CTO
		}
		end = s[j-1].Offset + int64(s[j-1].Size)
		endDTS = s[j-1].DTS + int64(s[j-1].Duration)
		i = j
	}
	return b, nil
}

// contiguous reports whether b follows a in the file and in decode time.
func contiguous(a, b SampleInfo) bool {
	return b.Offset == a.Offset+int64(a.Size) && b.DTS == a.DTS+int64(a.Duration)
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// uvarint is binary.Uvarint with the one-byte case inline: most of a
// sample index is one-byte values.
func uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return binary.Uvarint(b)
}

// indexReader decodes varints from a sample index; the first error sticks.
type indexReader struct {
	b   []byte
	err error
}

func (r *indexReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrBadIndex, what)
	}
	r.b = nil
}

func (r *indexReader) uvarint(what string) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *indexReader) varint(what string) int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// small reads a uvarint that must be at most limit.
func (r *indexReader) small(what string, limit uint64) int {
	v := r.uvarint(what)
	if v > limit {
		r.fail(what + " out of range")
		return 0
	}
	return int(v)
}

func (r *indexReader) bytes(what string) []byte {
	n := r.small(what, maxParamSetSize)
	if n > len(r.b) {
		r.fail(what)
		return nil
	}
	v := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return v
}

// ParseIndex decodes a sample index from MarshalIndex. It checks what
// Scan guarantees (sizes, durations and decode times in range, samples
// inside the valid size and in file order), so a damaged index is an error
// and never a wrong clip.
func ParseIndex(b []byte) (*SegmentInfo, error) { return ParseIndexInto(b, nil) }

// ParseIndexInto is ParseIndex decoding the samples into buf's memory when
// it has room for them (its length is ignored), so a caller decoding many
// indexes can reuse one buffer; the SegmentInfo's Samples then alias buf.
func ParseIndexInto(b []byte, buf []SampleInfo) (*SegmentInfo, error) {
	if len(b) < 2 || (b[0] != indexVersion1 && b[0] != indexVersion2) {
		return nil, fmt.Errorf("%w: unknown version", ErrBadIndex)
	}
	flags := b[1]
	if (b[0] == indexVersion2) != (flags&indexHasAudio != 0) {
		return nil, fmt.Errorf("%w: audio flag in version %d", ErrBadIndex, b[0])
	}
	r := indexReader{b: b[2:]}
	info := &SegmentInfo{}
	info.Timescale = uint32(r.small("timescale", math.MaxUint32))
	p := &info.Params
	p.Width = r.small("width", maxDimension)
	p.Height = r.small("height", maxDimension)
	p.SARWidth = r.small("SAR width", maxSARTerm)
	p.SARHeight = r.small("SAR height", maxSARTerm)
	p.SPS = r.bytes("SPS")
	p.PPS = r.bytes("PPS")
	if flags&indexHasVPS != 0 {
		if p.VPS = r.bytes("VPS"); p.VPS == nil && r.err == nil {
			p.VPS = []byte{} // present though empty: still H.265
		}
	}
	info.Fragments = r.small("fragments", MaxIndexSamples)
	info.ValidSize = int64(r.small("valid size", maxDTS))
	total := r.small("samples", MaxIndexSamples)
	// Each sample takes at least two bytes: the capacity is bounded by
	// the input, not only by a count in it.
	if n := min(total, len(r.b)/2); cap(buf) >= n {
		info.Samples = buf[:0:n]
	} else {
		info.Samples = make([]SampleInfo, 0, n)
	}
	info.Samples, info.Keyframes, info.Duration = r.chunks(info.Samples, total, flags&indexHasCTO != 0, false, info.ValidSize)
	if flags&indexHasAudio != 0 && r.err == nil {
		a := &AudioInfo{}
		ap := &a.Params
		ap.Codec = string(r.bytes("audio codec"))
		ap.Timescale = r.small("audio timescale", maxAudioTimescale)
		ap.SampleRate = r.small("audio sample rate", maxAudioTimescale)
		ap.Channels = r.small("audio channels", maxAudioChannels)
		ap.AACObjectType = r.small("AAC object type", 0xff)
		ap.FLACBlockSize = r.small("FLAC block size", 0xffff)
		if ap.AACConfig = r.bytes("AAC config"); len(ap.AACConfig) == 0 {
			ap.AACConfig = nil
		}
		if r.err == nil && checkAudio(*ap) != nil {
			r.fail("audio parameters")
		}
		n := r.small("audio samples", MaxIndexSamples)
		a.Samples = make([]SampleInfo, 0, min(n, len(r.b)/2))
		a.Samples, _, a.Duration = r.chunks(a.Samples, n, false, true, info.ValidSize)
		info.Audio = a
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return nil, r.err
	}
	return info, nil
}

// chunks decodes a chunk count and total samples in chunks (see the
// layout above) into out, checking each against the valid size; audio
// samples must be keyframes of audio sizes.
func (r *indexReader) chunks(out []SampleInfo, total int, hasCTO, audio bool, validSize int64) (samples []SampleInfo, keys int, duration int64) {
	chunks := r.small("chunks", uint64(total))
	minSize, maxSize := int64(minSampleSize), int64(MaxSampleSize)
	if audio {
		minSize, maxSize = 1, maxAudioSample
	}
	var end, endDTS int64
	var prevDur int64
	var prevSize [2]int64
	var prevCTO int64
	for c := 0; c < chunks && r.err == nil; c++ {
		n := r.small("chunk samples", MaxIndexSamples)
		off := end + int64(r.small("chunk offset", maxDTS))
		dts := endDTS + r.varint("chunk decode time")
		if n == 0 || len(out)+n > total || dts < 0 || dts > maxDTS || off > maxDTS {
			r.fail("chunk")
			break
		}
		// The per-sample loop decodes in place: it runs for every frame of
		// every segment an export plans.
		b := r.b
		for k := 0; k < n; k++ {
			v, m := uvarint(b)
			if m <= 0 {
				r.fail("duration")
				break
			}
			b = b[m:]
			key := v & 1
			dur := prevDur + unzigzag(v>>1)
			d, m := uvarint(b)
			if m <= 0 {
				r.fail("size")
				break
			}
			b = b[m:]
			size := prevSize[key] + unzigzag(d)
			cto := prevCTO
			if hasCTO {
				d, m := uvarint(b)
				if m <= 0 {
					r.fail("composition offset")
					break
				}
				b = b[m:]
				cto += unzigzag(d)
			}
			if dur < 0 || dur > maxSampleDuration || size < minSize || size > maxSize || (audio && key != 1) ||
				cto < math.MinInt32 || cto > math.MaxInt32 || off+size > validSize || dts > maxDTS {
				r.fail("sample out of range")
				break
			}
			out = append(out, SampleInfo{Offset: off, DTS: dts, Size: uint32(size), Duration: uint32(dur), CTO: int32(cto), Keyframe: key == 1})
			if key == 1 {
				keys++
			}
			duration += dur
			prevDur, prevSize[key], prevCTO = dur, size, cto
			off += size
			dts += dur
		}
		if r.err == nil {
			r.b = b
		}
		end, endDTS = off, dts
	}
	if r.err == nil && len(out) != total {
		r.fail("sample count")
	}
	return out, keys, duration
}
