package audio

import "fmt"

// G.711 is recorded as FLAC (docs/audio.md says why): the 16-bit PCM it
// decodes to, losslessly, in frames of a fixed block size (flacframe.go
// writes them); this file owns the timeline: blocks, silence for lost
// packets, restarts.

// MaxSilence bounds the silence written for a gap, one second: beyond it
// the gap is not loss but a stop, and the timeline restarts at the next
// packet instead of holding a second of zeros per second of outage.
const maxSilenceSeconds = 1

// FLACInfo is the STREAMINFO a dfLa box carries (RFC 9639 §8.2).
type FLACInfo struct {
	BlockSize     int // every frame's, in samples per channel
	SampleRate    int
	Channels      int
	BitsPerSample int
}

// flacInfo is the stream nvr writes for 16-bit PCM: 20 ms blocks, as
// fine a grain as the packets cameras send, so a frame's time is never
// more than one packet from its RTP time.
func flacInfo(sampleRate, channels int) FLACInfo {
	i := FLACInfo{BlockSize: sampleRate / 50, SampleRate: sampleRate, Channels: channels, BitsPerSample: 16}
	if i.BlockSize < 16 {
		i.BlockSize = 16 // FLAC's smallest block
	}
	return i
}

// FLACEncoder turns timed 16-bit PCM into timed FLAC frames of
// Info().BlockSize samples.
type FLACEncoder struct {
	info    FLACInfo
	num     uint64 // next frame number
	buf     []byte
	res     []int32 // scratch: a channel's samples and residuals
	pending []int16 // interleaved samples not yet in a frame
	start   int64   // PTS of pending[0]
	next    int64   // PTS just after the last sample taken
	started bool
	out     Frame
}

// NewFLACEncoder makes an encoder for sampleRate and channels (1 or 2) of
// 16-bit PCM, with 20 ms blocks.
func NewFLACEncoder(sampleRate, channels int) (*FLACEncoder, error) {
	if sampleRate < 1000 || sampleRate > 192000 || channels < 1 || channels > 2 {
		return nil, fmt.Errorf("%w: FLAC of %d Hz, %d channels", ErrUnsupported, sampleRate, channels)
	}
	e := &FLACEncoder{info: flacInfo(sampleRate, channels)}
	e.res = make([]int32, 2*e.info.BlockSize)
	return e, nil
}

// Info returns the stream's parameters.
func (e *FLACEncoder) Info() FLACInfo { return e.info }

// Push adds interleaved samples whose first is at pts (sample-rate units,
// the RTP clock of G.711). A gap since the previous samples of up to a
// second is filled with silence, so what follows keeps its time; a larger
// gap, or samples going back in time, ends the pending block (padded) and
// starts again at pts. Samples that overlap ones already taken (a
// duplicate) are dropped.
func (e *FLACEncoder) Push(pts int64, pcm []int16, emit func(*Frame)) error {
	ch := int64(e.info.Channels)
	if len(pcm)%int(ch) != 0 {
		return fmt.Errorf("%w: %d samples for %d channels", ErrMalformed, len(pcm), ch)
	}
	n := int64(len(pcm)) / ch
	if !e.started {
		e.started, e.start, e.next = true, pts, pts
	}
	switch gap := pts - e.next; {
	case gap > int64(maxSilenceSeconds*e.info.SampleRate) || pts+n <= e.next-int64(maxSilenceSeconds*e.info.SampleRate):
		if err := e.Flush(emit); err != nil {
			return err
		}
		e.start, e.next = pts, pts
	case gap > 0:
		for i := int64(0); i < gap*ch; i++ {
			e.pending = append(e.pending, 0)
			if err := e.drain(emit); err != nil {
				return err
			}
		}
		e.next = pts
	case gap < 0:
		skip := -gap
		if skip >= n {
			return nil
		}
		pcm = pcm[skip*ch:]
		n -= skip
	}
	e.next += n
	for len(pcm) > 0 {
		room := e.info.BlockSize*e.info.Channels - len(e.pending)
		take := min(room, len(pcm))
		e.pending = append(e.pending, pcm[:take]...)
		pcm = pcm[take:]
		if err := e.drain(emit); err != nil {
			return err
		}
	}
	return nil
}

// Flush pads the pending samples with silence to a whole block and emits
// it (end of stream or a restart).
func (e *FLACEncoder) Flush(emit func(*Frame)) error {
	if len(e.pending) == 0 {
		return nil
	}
	for len(e.pending) < e.info.BlockSize*e.info.Channels {
		e.pending = append(e.pending, 0)
	}
	return e.drain(emit)
}

// drain emits a frame when a block is complete.
func (e *FLACEncoder) drain(emit func(*Frame)) error {
	bs, ch := e.info.BlockSize, e.info.Channels
	if len(e.pending) < bs*ch {
		return nil
	}
	e.buf = flacFrame(e.buf[:0], e.pending, ch, bs, e.info.SampleRate, e.num, e.res)
	e.num++
	e.pending = e.pending[:0]
	e.out = Frame{PTS: e.start, Duration: int64(bs), Data: e.buf}
	e.start += int64(bs)
	emit(&e.out)
	return nil
}
