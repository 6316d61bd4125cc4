package export

import (
	"bytes"
	"encoding/binary"

	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/storage/internal/bmff"
)

// audioTrackID is the audio track's ID, after the video and the text.
const audioTrackID = 3

// audioTrack is the clip's audio: samples of the runs whose segments have
// an audio track with the same parameters as the first such run. A run
// whose segment has no audio, or audio of other parameters (a codec or
// rate change inside the range), is silent in the clip: one MP4 track has
// one timescale, and players switch audio sample entries badly. Its time
// still passes in the audio track, so sound and picture stay together.
type audioTrack struct {
	params fmp4.AudioParams
	chunks []audioChunk
	start  int64 // clip audio time (params.Timescale) of movie time 0
	first  int64 // clip audio time of the first sample
	end    int64 // clip audio time where presentation ends
	// skipped counts runs with audio left out because its parameters
	// differ from the track's.
	skipped int
}

// audioChunk is the audio of one run: samples [first, last) of the run's
// segment's audio, at clip audio times times[i-first].
type audioChunk struct {
	run         int
	first, last int
	times       []int64
}

// AudioSkipped is how many segments of the clip had audio that is not in
// it because its codec or parameters differ from the clip's audio track
// (the first segment's with audio); their time is silent.
func (c *Clip) AudioSkipped() int { return c.audioSkipped }

// HasAudio reports whether the clip has an audio track.
func (c *Clip) HasAudio() bool { return c.hasAudio }

func sameAudio(a, b fmp4.AudioParams) bool {
	return a.Codec == b.Codec && a.Timescale == b.Timescale && a.SampleRate == b.SampleRate && a.Channels == b.Channels &&
		bytes.Equal(a.AACConfig, b.AACConfig) && a.FLACBlockSize == b.FLACBlockSize
}

// planAudio picks the audio samples shown in [mediaStart, mediaStart+presDur)
// of the video's clip presentation time. An audio sample's time in a
// segment is an instant on the video's timeline (audio DTS/rate s is
// video time DTS/90000 s), so its clip time is that of a video frame
// presented at that instant: the run's mapping of segment presentation
// time to clip presentation time, scaled to the audio rate. Only samples
// starting inside the presented span and inside their own run (before the
// next run's first picture) are kept, in increasing time. "Inside" has a
// slack of one audio tick at the run's end: a segment's audio times count
// from its start floored to whole ticks, so a frame the recorder kept in
// the earlier segment, because it starts a fraction of a tick before the
// cut, can show there as starting exactly at the end; the next segment
// does not have it. A frame no later than the one kept before it (one
// both segments hold) is left out.
func planAudio(p *plan) *audioTrack {
	var at *audioTrack
	for _, r := range p.runs {
		a := r.in.Info.Audio
		if a == nil || len(a.Samples) == 0 {
			continue
		}
		if at == nil {
			at = &audioTrack{params: a.Params}
		} else if !sameAudio(at.params, a.Params) {
			at.skipped++
		}
	}
	if at == nil {
		return nil
	}
	ts := int64(at.params.Timescale)
	toAudio := func(t90 int64) int64 { return floorDiv(t90*ts, timescale) }
	slack := (timescale + ts - 1) / ts // one audio tick, 90 kHz
	at.start = toAudio(p.mediaStart)
	at.end = toAudio(p.mediaStart + p.presDur)
	prev := int64(-1) << 62
	for k := range p.runs {
		r := &p.runs[k]
		a := r.in.Info.Audio
		if a == nil || !sameAudio(at.params, a.Params) {
			continue
		}
		s := r.in.Info.Samples
		// Clip presentation time of segment time 0.
		zero := r.base - s[r.first].DTS + r.adj
		lo, hi := r.pres(r.first), r.presEnd
		for i := r.first; i < r.last; i++ {
			lo = min(lo, r.pres(i))
		}
		ch := audioChunk{run: k, first: -1}
		for i, as := range a.Samples {
			v := as.DTS * timescale / ts // video time of the sample
			t := toAudio(zero + v)
			if zero+v < lo || zero+v >= hi+slack || t < at.start || t >= at.end || t <= prev {
				if ch.first >= 0 {
					break // past the run's or the clip's end
				}
				continue
			}
			if ch.first < 0 {
				ch.first = i
			}
			ch.last = i + 1
			ch.times = append(ch.times, t)
			prev = t
		}
		if ch.first >= 0 {
			at.chunks = append(at.chunks, ch)
		}
	}
	if len(at.chunks) == 0 {
		return nil
	}
	at.first = at.chunks[0].times[0]
	return at
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// audioTrak writes the audio track: its samples follow the video's in
// the mdat, from dataStart. Each sample lasts until the next one starts
// (a lost frame or a silent run is a longer sample, so every later one
// keeps its time); the last lasts its own duration, cut at the end. An
// empty edit holds the audio back when it starts after the picture.
func (p *plan) audioTrak(w *boxWriter, co64 bool, dataStart int64) {
	at := p.audio
	ts := int64(at.params.Timescale)
	var durs []uint32
	var sizes []uint32
	for ci, ch := range at.chunks {
		a := p.runs[ch.run].in.Info.Audio
		for j, t := range ch.times {
			var next int64
			switch {
			case j+1 < len(ch.times):
				next = ch.times[j+1]
			case ci+1 < len(at.chunks):
				next = at.chunks[ci+1].times[0]
			default:
				next = min(t+int64(a.Samples[ch.first+j].Duration), at.end)
			}
			durs = append(durs, uint32(max(min(next-t, 0xffffffff), 1)))
			sizes = append(sizes, a.Samples[ch.first+j].Size)
		}
	}
	var mediaDur int64
	for _, d := range durs {
		mediaDur += int64(d)
	}
	w.Start("trak")
	movieScale, movieDur := p.movieTime()
	w.tkhd(audioTrackID, movieDur, 0, 0x0100, 0, 0)             // full volume
	delay := min((at.first-at.start)*movieScale/ts, movieDur-1) // movie time
	w.Start("edts")
	v := bmff.VersionFor(movieDur)
	w.StartFull("elst", v, 0)
	entry := func(d, mediaTime int64) {
		if v == 1 {
			w.U64(uint64(d))
			w.U64(uint64(mediaTime))
		} else {
			w.U32(uint32(d))
			w.U32(uint32(mediaTime))
		}
		w.U16(1) // media_rate_integer
		w.U16(0)
	}
	if delay > 0 {
		w.U32(2)
		entry(delay, -1) // an empty edit: silence until the first sample
	} else {
		w.U32(1)
	}
	entry(movieDur-delay, 0)
	w.End()
	w.End()
	w.Start("mdia")
	w.mdhdScale(uint32(ts), mediaDur)
	w.hdlr("soun", "SoundHandler")
	w.Start("minf")
	w.StartFull("smhd", 0, 0)
	w.U32(0) // balance, reserved
	w.End()
	w.dinf()
	w.Start("stbl")
	w.StartFull("stsd", 0, 0)
	w.U32(1)
	at.params.SampleEntry().Append(&w.Writer)
	w.End()
	w.StartFull("stts", 0, 0)
	n := len(w.B)
	w.U32(0)
	entries := uint32(0)
	for i := 0; i < len(durs); {
		j := i
		for j < len(durs) && durs[j] == durs[i] {
			j++
		}
		w.U32(uint32(j - i))
		w.U32(durs[i])
		entries++
		i = j
	}
	binary.BigEndian.PutUint32(w.B[n:], entries)
	w.End()
	w.StartFull("stsc", 0, 0)
	n = len(w.B)
	w.U32(0)
	entries = 0
	for k, ch := range at.chunks {
		if k == 0 || len(ch.times) != len(at.chunks[k-1].times) {
			w.U32(uint32(k + 1))
			w.U32(uint32(len(ch.times)))
			w.U32(1)
			entries++
		}
	}
	binary.BigEndian.PutUint32(w.B[n:], entries)
	w.End()
	w.StartFull("stsz", 0, 0)
	w.U32(0)
	w.U32(uint32(len(sizes)))
	for _, s := range sizes {
		w.U32(s)
	}
	w.End()
	offsets := make([]int64, 0, len(at.chunks))
	pos := dataStart
	for _, ch := range at.chunks {
		offsets = append(offsets, pos)
		r := &p.runs[ch.run]
		for _, s := range r.in.Info.Audio.Samples[ch.first:ch.last] {
			if w.extents != nil {
				w.addExtent(r.src, s, pos)
			}
			pos += int64(s.Size)
		}
	}
	w.chunkOffsets(co64, offsets)
	w.End() // stbl
	w.End() // minf
	w.End() // mdia
	w.End() // trak
}
