package export

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/nvr-project/nvr/storage/internal/bmff"
)

const (
	videoTrackID = 1
	textTrackID  = 2
)

// appendMoov appends the movie header to w, with chunk offsets relative
// to the first mdat payload byte, and returns where those offsets are (for
// offsetTable.shift). co64 selects 64-bit chunk offsets (needed past
// 4 GiB).
func (p *plan) appendMoov(w *boxWriter, co64 bool) []offsetTable {
	w.tables = w.tables[:0]
	w.Start("moov")
	scale, dur := p.movieTime()
	v := bmff.VersionFor(dur)
	w.StartFull("mvhd", v, 0)
	w.times(v, uint32(scale), true, dur)
	w.U32(0x00010000) // rate 1.0
	w.U16(0x0100)     // volume 1.0
	w.Zeros(2 + 8)    // reserved
	w.Matrix()
	w.Zeros(24) // pre_defined
	next := uint32(videoTrackID + 1)
	if p.text != nil {
		next = textTrackID + 1
	}
	if p.audio != nil {
		next = audioTrackID + 1
	}
	w.U32(next)
	w.End()

	textLen := int64(0)
	if p.text != nil {
		textLen = int64(len(p.text.data))
	}
	p.videoTrak(w, co64, textLen)
	if p.text != nil {
		p.textTrak(w, co64, 0)
	}
	if p.audio != nil {
		videoLen := int64(0)
		for _, r := range p.runs {
			for _, s := range r.in.Info.Samples[r.first:r.last] {
				videoLen += int64(s.Size)
			}
		}
		p.audioTrak(w, co64, textLen+videoLen)
	}
	w.End()
	return w.tables
}

// tkhd writes a track header (ISO/IEC 14496-12 §8.3.2), enabled and in the
// movie.
func (w *boxWriter) tkhd(id uint32, duration int64, layer, volume uint16, width, height int) {
	v := bmff.VersionFor(duration)
	w.StartFull("tkhd", v, 3)
	if v == 1 {
		w.U64(0)
		w.U64(0)
	} else {
		w.U32(0)
		w.U32(0)
	}
	w.U32(id)
	w.U32(0)
	if v == 1 {
		w.U64(uint64(duration))
	} else {
		w.U32(uint32(duration))
	}
	w.Zeros(8)
	w.U16(layer)
	w.U16(0) // alternate_group
	w.U16(volume)
	w.U16(0)
	w.Matrix()
	w.U32(uint32(width) << 16)
	w.U32(uint32(height) << 16)
	w.End()
}

// movieTime returns the movie timescale (mvhd) and the clip's presented
// length in it, the unit of every tkhd duration and edit list
// segment_duration. It is the audio track's timescale when the clip has
// one, else 90 kHz: Firefox reads an empty edit's duration in the audio
// track's own timescale, so with 90 kHz a 20 ms delay of the audio became
// 1800 / 8000 s, 225 ms (docs/ui.md, "Sound"); with the timescales equal
// both readings agree.
func (p *plan) movieTime() (scale, dur int64) {
	if p.audio == nil {
		return timescale, p.presDur
	}
	scale = int64(p.audio.params.Timescale)
	return scale, max(p.presDur*scale/timescale, 1)
}

// elst writes an edit list with one entry presenting [mediaTime,
// mediaTime+duration) of the media at movie time 0 (§8.6.6).
func (w *boxWriter) elst(duration, mediaTime int64) {
	w.Start("edts")
	v := bmff.VersionFor(duration, mediaTime)
	w.StartFull("elst", v, 0)
	w.U32(1)
	if v == 1 {
		w.U64(uint64(duration))
		w.U64(uint64(mediaTime))
	} else {
		w.U32(uint32(duration))
		w.U32(uint32(mediaTime))
	}
	w.U16(1) // media_rate_integer
	w.U16(0)
	w.End()
	w.End()
}

func (w *boxWriter) mdhd(duration int64) { w.mdhdScale(timescale, duration) }

func (w *boxWriter) mdhdScale(ts uint32, duration int64) {
	v := bmff.VersionFor(duration)
	w.StartFull("mdhd", v, 0)
	w.times(v, ts, true, duration)
	w.U16(0x55c4) // "und", ISO 639-2/T packed in 5-bit letters
	w.U16(0)
	w.End()
}

func (w *boxWriter) hdlr(typ, name string) {
	w.StartFull("hdlr", 0, 0)
	w.U32(0)
	w.Str(typ)
	w.Zeros(12)
	w.Str(name)
	w.U8(0)
	w.End()
}

func (w *boxWriter) dinf() {
	w.Start("dinf")
	w.StartFull("dref", 0, 0)
	w.U32(1)
	w.StartFull("url ", 0, 1) // flag 1: media data in this file
	w.End()
	w.End()
	w.End()
}

// chunkOffsets writes stco, or co64 when offsets may pass 4 GiB (§8.7.5).
func (w *boxWriter) chunkOffsets(co64 bool, offsets []int64) {
	if co64 {
		w.StartFull("co64", 0, 0)
	} else {
		w.StartFull("stco", 0, 0)
	}
	w.U32(uint32(len(offsets)))
	w.tables = append(w.tables, offsetTable{at: len(w.B), n: len(offsets), wide: co64})
	for _, o := range offsets {
		if co64 {
			w.U64(uint64(o))
		} else {
			w.U32(uint32(o))
		}
	}
	w.End()
}

func (p *plan) videoTrak(w *boxWriter, co64 bool, dataStart int64) {
	first := p.entries[0].params
	w.Start("trak")
	_, movieDur := p.movieTime()
	w.tkhd(videoTrackID, movieDur, 0, 0, first.Width, first.Height)
	w.elst(movieDur, p.mediaStart)
	w.Start("mdia")
	w.mdhd(p.mediaDur)
	w.hdlr("vide", "VideoHandler")
	w.Start("minf")
	w.StartFull("vmhd", 0, 1)
	w.Zeros(8)
	w.End()
	w.dinf()
	w.Start("stbl")

	w.StartFull("stsd", 0, 0)
	w.U32(uint32(len(p.entries)))
	for _, e := range p.entries {
		e.params.SampleEntry(exportCompressor).Append(&w.Writer)
	}
	w.End()

	// One pass over the samples gathers stts (run-length decode deltas,
	// §8.6.1.2), ctts (run-length composition offsets, §8.6.1.3) and stss
	// (sync samples, 1-based, §8.6.2): it runs over every sample of a
	// clip of up to a day.
	var total uint32
	var stts, ctts, keys []uint32
	var dCount, dur, cCount uint32
	var cto int32
	var anyCTO, negCTO bool
	for k := range p.runs {
		r := &p.runs[k]
		s := r.in.Info.Samples
		for i := r.first; i < r.last; i++ {
			if d := r.duration(i); dCount > 0 && d == dur {
				dCount++
			} else {
				if dCount > 0 {
					stts = append(stts, dCount, dur)
				}
				dCount, dur = 1, d
			}
			// Offsets fit: validate bounds CTO to int32 and adj to the
			// largest first-sample offset.
			if c := int32(r.cto(i)); cCount > 0 && c == cto {
				cCount++
			} else {
				if cCount > 0 {
					ctts = append(ctts, cCount, uint32(cto))
				}
				cCount, cto = 1, c
				anyCTO = anyCTO || c != 0
				negCTO = negCTO || c < 0
			}
			total++
			if s[i].Keyframe {
				keys = append(keys, total)
			}
		}
	}
	stts = append(stts, dCount, dur)
	ctts = append(ctts, cCount, uint32(cto))
	w.StartFull("stts", 0, 0)
	w.U32(uint32(len(stts) / 2))
	for _, v := range stts {
		w.U32(v)
	}
	w.End()

	// ctts only when some offset is not zero; version 1 only when one is
	// negative, as older players know only version 0.
	if anyCTO {
		var ver uint8
		if negCTO {
			ver = 1
		}
		w.StartFull("ctts", ver, 0)
		w.U32(uint32(len(ctts) / 2))
		for _, v := range ctts {
			w.U32(v)
		}
		w.End()
	}

	// stss is absent when every sample is a sync sample.
	if len(keys) < int(total) {
		w.StartFull("stss", 0, 0)
		w.U32(uint32(len(keys)))
		for _, k := range keys {
			w.U32(k)
		}
		w.End()
	}

	// stsc: one chunk per run (the run's samples are contiguous in our
	// mdat); an entry only where samples-per-chunk or description change.
	w.StartFull("stsc", 0, 0)
	at := len(w.B)
	w.U32(0)
	nEntries := uint32(0)
	var lastN, lastDesc uint32
	for k, r := range p.runs {
		n, d := uint32(r.last-r.first), uint32(r.desc)
		if k == 0 || n != lastN || d != lastDesc {
			w.U32(uint32(k + 1))
			w.U32(n)
			w.U32(d)
			nEntries++
			lastN, lastDesc = n, d
		}
	}
	binary.BigEndian.PutUint32(w.B[at:], nEntries)
	w.End()

	w.StartFull("stsz", 0, 0)
	w.U32(0)
	w.U32(total)
	offsets := make([]int64, 0, len(p.runs))
	pos := dataStart
	at = len(w.B)
	w.B = slices.Grow(w.B, 4*int(total))[:at+4*int(total)]
	sizes := w.B[at:]
	for _, r := range p.runs {
		offsets = append(offsets, pos)
		s := r.in.Info.Samples
		for i := r.first; i < r.last; i++ {
			binary.BigEndian.PutUint32(sizes, s[i].Size)
			sizes = sizes[4:]
			if w.extents != nil {
				w.addExtent(r.src, s[i], pos)
			}
			pos += int64(s[i].Size)
		}
	}
	w.End()
	w.chunkOffsets(co64, offsets)

	w.End() // stbl
	w.End() // minf
	w.End() // mdia
	w.End() // trak
}

// exportCompressor is the compressorname of an export's sample entries.
const exportCompressor = "nvr export"

// textTrack is the optional timestamp subtitle track: its samples are
// generated, small (a few dozen bytes a second) and kept in memory.
type textTrack struct {
	data      []byte   // all samples, in order
	sizes     []uint32 // per sample
	durations []uint32 // per sample, 90 kHz
}

// maxTextSamples bounds the subtitle samples (one per wall-clock second and
// one per segment boundary): more than 24 hours' worth is refused.
const maxTextSamples = 1 << 18

// timestampLayout is the subtitle text: the local time with its UTC offset,
// so an export is unambiguous across daylight-saving changes.
const timestampLayout = "2006-01-02 15:04:05 -07:00"

// buildText makes one text sample per wall-clock second of the presented
// timeline, split at segment boundaries (where the clock may jump over a
// gap). Sample times are presentation times, 0 at the edit list's start.
func buildText(p *plan) (*textTrack, error) {
	loc := p.opts.Location
	if loc == nil {
		loc = time.UTC
	}
	t := &textTrack{}
	winStart, winEnd := p.mediaStart, p.mediaStart+p.presDur
	const second = int64(time.Second)
	covered := winStart
	for k := range p.runs {
		r := &p.runs[k]
		// Each run shows its own clock from where the previous one ends
		// (the clock jumps at a closed gap).
		hi := winEnd
		if k+1 < len(p.runs) {
			hi = min(r.presEnd, winEnd)
		}
		lo := covered
		covered = max(covered, hi)
		for at := lo; at < hi; {
			wall := r.wallOf(at)
			nextSec := (wall/second + 1) * second
			next := min(max(r.presAt(nextSec), at+1), hi)
			text := time.Unix(0, wall).In(loc).Format(timestampLayout)
			t.data = binary.BigEndian.AppendUint16(t.data, uint16(len(text)))
			t.data = append(t.data, text...)
			t.sizes = append(t.sizes, uint32(2+len(text)))
			t.durations = append(t.durations, uint32(next-at))
			if len(t.sizes) > maxTextSamples {
				return nil, fmt.Errorf("%w: more than %d subtitle samples", ErrTooLong, maxTextSamples)
			}
			at = next
		}
	}
	return t, nil
}

// textTrak writes the tx3g track (3GPP TS 26.245 §5.16) as ffmpeg's mov
// muxer does for MP4: handler "sbtl", null media header.
func (p *plan) textTrak(w *boxWriter, co64 bool, dataStart int64) {
	first := p.entries[0].params
	w.Start("trak")
	_, movieDur := p.movieTime()
	w.tkhd(textTrackID, movieDur, 0xffff, 0, first.Width, first.Height) // layer -1: in front of the video
	w.elst(movieDur, 0)
	w.Start("mdia")
	w.mdhd(p.presDur)
	w.hdlr("sbtl", "SubtitleHandler")
	w.Start("minf")
	w.StartFull("nmhd", 0, 0)
	w.End()
	w.dinf()
	w.Start("stbl")
	w.StartFull("stsd", 0, 0)
	w.U32(1)
	w.Start("tx3g")
	w.Zeros(6)
	w.U16(1)                                // data_reference_index
	w.U32(0)                                // displayFlags
	w.U8(1)                                 // horizontal-justification: centre
	w.U8(0xff)                              // vertical-justification: bottom
	w.Bytes([]byte{0, 0, 0, 0})             // background colour, transparent
	w.Zeros(8)                              // default text box
	w.U16(0)                                // style: startChar
	w.U16(0)                                // endChar
	w.U16(1)                                // font-ID
	w.U8(0)                                 // face style
	w.U8(18)                                // font size
	w.Bytes([]byte{0xff, 0xff, 0xff, 0xff}) // text colour: white
	w.Start("ftab")
	w.U16(1)
	w.U16(1)
	w.U8(uint8(len("Sans-Serif")))
	w.Str("Sans-Serif")
	w.End()
	w.End() // tx3g
	w.End() // stsd

	w.StartFull("stts", 0, 0)
	at := len(w.B)
	w.U32(0)
	n := uint32(0)
	for i := 0; i < len(p.text.durations); {
		j := i
		for j < len(p.text.durations) && p.text.durations[j] == p.text.durations[i] {
			j++
		}
		w.U32(uint32(j - i))
		w.U32(p.text.durations[i])
		n++
		i = j
	}
	binary.BigEndian.PutUint32(w.B[at:], n)
	w.End()
	w.StartFull("stsc", 0, 0)
	w.U32(1)
	w.U32(1)
	w.U32(uint32(len(p.text.sizes)))
	w.U32(1)
	w.End()
	w.StartFull("stsz", 0, 0)
	w.U32(0)
	w.U32(uint32(len(p.text.sizes)))
	for _, s := range p.text.sizes {
		w.U32(s)
	}
	w.End()
	w.chunkOffsets(co64, []int64{dataStart})
	w.End() // stbl
	w.End() // minf
	w.End() // mdia
	w.End() // trak
}
