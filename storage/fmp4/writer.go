package fmp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/nvr-project/nvr/storage/internal/bmff"
)

// DefaultFragmentDuration is the fragment length used when
// WriterOptions.FragmentDuration is zero: one second at 90 kHz, so a crash
// loses at most about a second (RELIABILITY F9).
const DefaultFragmentDuration = Timescale

// MaxSamplesPerFragment bounds the samples of one fragment, in the writer
// (a fragment is cut early) and in Scan (a larger trun is refused): one
// second of 1000 fps video fits, a hostile sample_count of 2^32 does not.
const MaxSamplesPerFragment = 1000

// MaxSampleSize bounds one access unit: mediacommon's h264.MaxAccessUnitSize
// is 8 MiB; twice that leaves room for 4-byte length prefixes and is still
// far from a size that could exhaust memory.
const MaxSampleSize = 16 << 20

// maxFragmentData bounds the bytes held for one fragment, so a long
// FragmentDuration or a very high bit rate cannot grow the buffer without
// limit; a fragment is cut early when it would pass this.
const maxFragmentData = 64 << 20

// maxNALUsPerSample bounds the NAL units of one access unit; mediacommon's
// h264.MaxNALUsPerAccessUnit is 21, real cameras send fewer than 10.
const maxNALUsPerSample = 128

// maxSampleDuration bounds the DTS step between two samples: trun stores
// durations in 32 bits (ISO/IEC 14496-12 §8.8.8).
const maxSampleDuration = math.MaxUint32

// defaultLastDuration is the duration given to the last sample of a
// one-sample segment whose end is unknown: one frame at 30 fps.
const defaultLastDuration = 3000

// Sample flags of trun (ISO/IEC 14496-12 §8.8.3.1).
const (
	flagsSync    = 0x02000000 // sample_depends_on=2: an IDR that depends on nothing
	flagsNonSync = 0x01010000 // sample_depends_on=1 | sample_is_non_sync_sample
)

// trun flags: data-offset, duration, size, flags and composition offset
// present (ISO/IEC 14496-12 §8.8.8.1).
const trunFlags = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800

// tfhdDefaultBaseIsMoof makes sample offsets relative to the moof (§8.8.7.1).
const tfhdDefaultBaseIsMoof = 0x020000

// Sizes of the fixed part of the hand-encoded moof.
const (
	moofFixedSize  = 8 + 16 + 8 + 16 + 20 + 20 // moof, mfhd, traf, tfhd, tfdt, trun headers
	trunEntrySize  = 16
	mdatHeaderSize = 8
)

// Errors returned by the Writer.
var (
	ErrClosed          = errors.New("fmp4: writer closed")
	ErrBadSample       = errors.New("fmp4: bad sample")
	ErrNonMonotonicDTS = errors.New("fmp4: DTS not increasing")
	ErrNotKeyframe     = errors.New("fmp4: segment must start with a keyframe")
)

// TrackParams describes the video track. VPS, SPS and PPS are NAL units
// without start codes: a VPS makes the track H.265 (hvc1), none H.264
// (avc1). Width and Height are the displayed size in pixels (taken from the
// SPS when zero).
type TrackParams struct {
	VPS, SPS, PPS []byte
	Width, Height int
	// SARWidth:SARHeight is the pixel aspect ratio, written as a pasp box
	// (ISO/IEC 14496-12 §12.1.4) when it is not square. It matters for
	// cameras that send an anamorphic picture without an aspect ratio in
	// the SPS (Hikvision DS-2CD2032-I's 704x480 sub stream is 4:3 on
	// screen); zero or 1:1 writes no box.
	SARWidth, SARHeight int
}

// HasPasp reports whether p's pixels are not square, so a sample entry
// for it carries a pasp box.
func (p TrackParams) HasPasp() bool {
	return p.SARWidth > 0 && p.SARHeight > 0 && p.SARWidth != p.SARHeight
}

// H265 reports whether the track is H.265.
func (p TrackParams) H265() bool { return p.VPS != nil }

// SampleEntry returns the stsd entry (avc1 with avcC, or hvc1 with hvcC,
// and for non-square pixels pasp) of a track with these parameters, as
// segments and exports write it; compressor names the writer. p must have
// passed NewWriter's checks (Scan's parameters have).
func (p TrackParams) SampleEntry(compressor string) bmff.SampleEntry {
	if p.H265() {
		return bmff.HVC1{VPS: p.VPS, SPS: p.SPS, PPS: p.PPS, Width: p.Width, Height: p.Height,
			SARWidth: p.SARWidth, SARHeight: p.SARHeight, Compressor: compressor}
	}
	return bmff.AVC1{SPS: p.SPS, PPS: p.PPS, Width: p.Width, Height: p.Height,
		SARWidth: p.SARWidth, SARHeight: p.SARHeight, Compressor: compressor}
}

// Sample is one H.264 or H.265 access unit.
type Sample struct {
	// NALUs are without start codes; they are written 4-byte length
	// prefixed (AVCC) and copied, so the caller may reuse the memory.
	NALUs [][]byte
	// DTS and PTS are 90 kHz; DTS <= PTS and DTS strictly increases.
	DTS, PTS int64
	Keyframe bool
}

// WriterOptions tunes a Writer.
type WriterOptions struct {
	// FragmentDuration is the fragment length in 90 kHz units; zero means
	// DefaultFragmentDuration.
	FragmentDuration int64
	// Audio, when set, adds an audio track (ID 2) whose samples
	// WriteAudio takes; each fragment carries the audio of its time.
	Audio *AudioParams
}

// WriterStats counts what has been written to the underlying io.Writer, so
// it describes exactly what a reader of the file would find.
type WriterStats struct {
	Bytes             int64 // bytes written, init segment included
	Frames, Keyframes int64 // samples written in fragments
	FirstDTS, EndDTS  int64 // 90 kHz, caller's timeline: first sample's DTS, end of the last written sample
	Fragments         int64
	AudioFrames       int64 // audio samples written in fragments
	AudioDropped      int64 // audio samples dropped: before the segment's start, after its end, or over the holding bound
}

type pendingSample struct {
	dts  int64
	cto  int32
	size uint32
	key  bool
}

// Writer writes one fragmented MP4 segment. It is not safe for concurrent
// use; it never writes a partial fragment (each fragment is one Write call).
type Writer struct {
	w       io.Writer
	fragDur int64

	// buf holds [headroom | sample data of pend]; the moof and mdat header
	// are encoded into the headroom just before the data so a fragment is
	// one contiguous Write without copying the samples again.
	buf  []byte
	head int
	pend []pendingSample

	seq      uint32
	started  bool
	lastDTS  int64
	lastDur  int64 // duration of the most recent sample whose duration is known
	closed   bool
	err      error // sticky write error: after it the file is torn
	stats    WriterStats
	maxCount int

	// Audio track, when there is one: samples held for the next fragment
	// (their bytes in abuf), the audio time of the segment's first video
	// DTS, and a scratch buffer for the held video while a fragment's
	// audio is written after its video.
	audio     *AudioParams
	apend     []audioPending
	abuf      []byte
	audioBase int64
	lastADTS  int64
	haveADTS  bool
	frag      []byte
}

type audioPending struct {
	dts, dur int64
	size     int
}

// NewWriter writes ftyp + moov for one avc1 or hvc1 track (timescale
// 90000, mvex for fragments, the true width and height, avcC or hvcC from
// p's parameter sets) to w immediately.
func NewWriter(w io.Writer, p TrackParams, opts WriterOptions) (*Writer, error) {
	if w == nil {
		return nil, errors.New("fmp4: nil io.Writer")
	}
	if opts.FragmentDuration < 0 {
		return nil, fmt.Errorf("fmp4: negative fragment duration %d", opts.FragmentDuration)
	}
	if opts.FragmentDuration == 0 {
		opts.FragmentDuration = DefaultFragmentDuration
	}
	p, err := resolveParams(p)
	if err != nil {
		return nil, err
	}
	if opts.Audio != nil {
		if err := checkAudio(*opts.Audio); err != nil {
			return nil, err
		}
		a := *opts.Audio
		opts.Audio = &a
	}
	init, err := buildInit(p, opts.Audio)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(init); err != nil {
		return nil, fmt.Errorf("fmp4: write init segment: %w", err)
	}
	const initialHeadroom = moofFixedSize + 64*trunEntrySize + mdatHeaderSize
	return &Writer{
		w:        w,
		fragDur:  opts.FragmentDuration,
		buf:      fragmentBuffer(initialHeadroom),
		head:     initialHeadroom,
		pend:     make([]pendingSample, 0, 64),
		stats:    WriterStats{Bytes: int64(len(init))},
		maxCount: MaxSamplesPerFragment,
		audio:    opts.Audio,
	}, nil
}

// WriteSample appends a sample. A sample's duration is the next sample's
// DTS minus its own, so the last sample is held back. When the held samples
// span at least the fragment duration, they are written as one moof+mdat in
// a single Write call.
func (w *Writer) WriteSample(s Sample) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if len(s.NALUs) == 0 || len(s.NALUs) > maxNALUsPerSample {
		return fmt.Errorf("%w: %d NAL units", ErrBadSample, len(s.NALUs))
	}
	size := 0
	for _, n := range s.NALUs {
		if len(n) == 0 {
			return fmt.Errorf("%w: empty NAL unit", ErrBadSample)
		}
		size += 4 + len(n)
		if size > MaxSampleSize {
			return fmt.Errorf("%w: larger than %d bytes", ErrBadSample, MaxSampleSize)
		}
	}
	cto := s.PTS - s.DTS
	if cto < 0 || cto > math.MaxInt32 {
		return fmt.Errorf("%w: PTS %d before DTS %d or too far after it", ErrBadSample, s.PTS, s.DTS)
	}
	if !w.started {
		if !s.Keyframe {
			return ErrNotKeyframe
		}
		w.started = true
		w.stats.FirstDTS, w.stats.EndDTS = s.DTS, s.DTS
		if w.audio != nil {
			w.startAudio()
		}
	} else {
		if s.DTS <= w.lastDTS {
			return fmt.Errorf("%w: %d after %d", ErrNonMonotonicDTS, s.DTS, w.lastDTS)
		}
		if s.DTS-w.lastDTS > maxSampleDuration {
			return fmt.Errorf("%w: DTS jumps %d ticks", ErrBadSample, s.DTS-w.lastDTS)
		}
		w.lastDur = s.DTS - w.lastDTS
	}
	if len(w.pend) > 0 && (s.DTS-w.pend[0].dts >= w.fragDur ||
		len(w.pend) >= w.maxCount ||
		len(w.buf)-w.head+size > maxFragmentData) {
		if err := w.writeFragment(len(w.pend), s.DTS); err != nil {
			return err
		}
	}
	for _, n := range s.NALUs {
		w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(n)))
		w.buf = append(w.buf, n...)
	}
	w.pend = append(w.pend, pendingSample{dts: s.DTS, cto: int32(cto), size: uint32(size), key: s.Keyframe})
	w.lastDTS = s.DTS
	return nil
}

// Flush writes the held samples except the last (whose duration is not yet
// known) as a fragment. Call it before syncing the file on an interval.
func (w *Writer) Flush() error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if len(w.pend) <= 1 {
		return nil
	}
	return w.writeFragment(len(w.pend)-1, 0)
}

// Close writes the remaining samples. endDTS is where the segment ends (the
// next segment's first DTS, so consecutive segments abut exactly); when
// endDTS is not after the last DTS, the last sample repeats the previous
// sample's duration (3000 if there is only one sample). Close does not
// close the underlying io.Writer.
func (w *Writer) Close(endDTS int64) error {
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	defer w.recycle()
	if w.err != nil {
		return w.err
	}
	// Audio left after the last fragment plays past the segment's end:
	// it belongs to the next segment, which the caller feeds it to.
	defer func() { w.stats.AudioDropped += int64(len(w.apend)) }()
	if len(w.pend) == 0 {
		return nil
	}
	d := endDTS - w.lastDTS
	if d <= 0 || d > maxSampleDuration {
		d = w.lastDur
		if d <= 0 {
			d = defaultLastDuration
		}
	}
	return w.writeFragment(len(w.pend), w.lastDTS+d)
}

// freeBuffers holds the fragment buffers of closed writers for the next
// ones: a recorder starts a writer for every segment of every camera, and
// each would otherwise allocate (and zero) a megabyte of its own. A
// segment's writer closes just before the next one starts, so a few kept
// buffers serve any number of cameras; more are left to the GC.
var freeBuffers struct {
	sync.Mutex
	bufs [][]byte
}

// maxFreeBuffers bounds the buffers kept for reuse.
const maxFreeBuffers = 8

// fragmentRoom is the room a new fragment buffer has for samples: a
// recorder's 500 ms fragment of an 8 Mbit/s camera. A larger fragment
// grows it, and the grown buffer is what the next writer reuses.
const fragmentRoom = 512 << 10

// fragmentBuffer returns a buffer of length headroom with room for a
// fragment's samples after it.
func fragmentBuffer(headroom int) []byte {
	freeBuffers.Lock()
	defer freeBuffers.Unlock()
	for n := len(freeBuffers.bufs); n > 0; n-- {
		b := freeBuffers.bufs[n-1]
		freeBuffers.bufs[n-1] = nil
		freeBuffers.bufs = freeBuffers.bufs[:n-1]
		if cap(b) >= headroom+fragmentRoom {
			return b[:headroom]
		}
	}
	return make([]byte, headroom, headroom+fragmentRoom)
}

// recycle gives the closed writer's buffer to the next writer: every
// fragment has been written, and an io.Writer keeps none of what it is
// given.
func (w *Writer) recycle() {
	b := w.buf[:0]
	w.buf = nil
	freeBuffers.Lock()
	defer freeBuffers.Unlock()
	if len(freeBuffers.bufs) < maxFreeBuffers {
		freeBuffers.bufs = append(freeBuffers.bufs, b)
	}
}

// WriteAudio appends an audio sample; it goes out with the fragment of
// the video it plays with. Its duration is the next audio sample's DTS
// minus its own, so a lost frame leaves a gap of its length and never
// shifts what follows. Audio before the segment's first video sample is
// held until that sample says where the segment starts.
func (w *Writer) WriteAudio(s AudioSample) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if w.audio == nil {
		return fmt.Errorf("%w: segment has no audio track", ErrBadSample)
	}
	if len(s.Data) == 0 || len(s.Data) > maxAudioSample || s.Duration <= 0 || s.Duration > maxSampleDuration {
		return fmt.Errorf("%w: audio sample of %d bytes, duration %d", ErrBadSample, len(s.Data), s.Duration)
	}
	if s.DTS < 0 || s.DTS > maxDTS/Timescale {
		return fmt.Errorf("%w: audio DTS %d", ErrBadSample, s.DTS)
	}
	if w.haveADTS {
		if s.DTS <= w.lastADTS {
			return fmt.Errorf("%w: audio %d after %d", ErrNonMonotonicDTS, s.DTS, w.lastADTS)
		}
		if s.DTS-w.lastADTS > maxSampleDuration {
			return fmt.Errorf("%w: audio DTS jumps %d", ErrBadSample, s.DTS-w.lastADTS)
		}
	}
	if w.started && s.DTS < w.audioBase {
		w.stats.AudioDropped++
		return nil
	}
	if len(w.apend) >= maxAudioPending {
		w.stats.AudioDropped++
		return nil
	}
	w.haveADTS, w.lastADTS = true, s.DTS
	w.apend = append(w.apend, audioPending{dts: s.DTS, dur: s.Duration, size: len(s.Data)})
	w.abuf = append(w.abuf, s.Data...)
	return nil
}

// startAudio fixes the audio time of the segment start and drops the
// held audio from before it.
func (w *Writer) startAudio() {
	w.audioBase = w.stats.FirstDTS * int64(w.audio.Timescale) / Timescale
	drop, bytes := 0, 0
	for drop < len(w.apend) && w.apend[drop].dts < w.audioBase {
		bytes += w.apend[drop].size
		drop++
	}
	w.shiftAudio(drop, bytes)
	w.stats.AudioDropped += int64(drop)
}

// shiftAudio forgets the first n held audio samples, of size bytes.
func (w *Writer) shiftAudio(n, bytes int) {
	w.apend = w.apend[:copy(w.apend, w.apend[n:])]
	w.abuf = w.abuf[:copy(w.abuf, w.abuf[bytes:])]
}

// audioFor returns how many held audio samples go with a fragment whose
// video ends at end90 (90 kHz), and their bytes. The last held sample
// stays back unless the segment closes, since its duration needs its
// successor.
func (w *Writer) audioFor(end90 int64, closing bool) (n, bytes int) {
	ts := int64(w.audio.Timescale)
	for n < len(w.apend) && w.apend[n].dts*Timescale/ts < end90 {
		n++
	}
	if n == len(w.apend) && !closing && n > 0 {
		n--
	}
	for i := 0; i < n; i++ {
		bytes += w.apend[i].size
	}
	return n, bytes
}

// Stats returns what has been written so far.
func (w *Writer) Stats() WriterStats { return w.stats }

// writeFragment writes the first n held samples as moof+mdat. nextDTS is
// the DTS following sample n-1 when n == len(w.pend).
func (w *Writer) writeFragment(n int, nextDTS int64) error {
	dataLen := 0
	for i := 0; i < n; i++ {
		dataLen += int(w.pend[i].size)
	}
	end := nextDTS
	if n < len(w.pend) {
		end = w.pend[n].dts
	}
	na, aLen := 0, 0
	if w.audio != nil {
		na, aLen = w.audioFor(end, w.closed)
	}
	videoTraf := moofFixedSize - 24 + trunEntrySize*n
	moofSize := moofFixedSize + trunEntrySize*n
	if na > 0 {
		moofSize += audioTrafFixed + audioEntrySize*na
	}
	hdrLen := moofSize + mdatHeaderSize
	if hdrLen > w.head {
		// More samples than the headroom was sized for: widen it once.
		grown := make([]byte, hdrLen, hdrLen+len(w.buf)-w.head+fragmentRoom)
		w.buf = append(grown, w.buf[w.head:]...)
		w.head = hdrLen
	}
	h := w.buf[w.head-hdrLen : w.head]
	be := binary.BigEndian
	putHeader := func(b []byte, size int, typ string) {
		be.PutUint32(b, uint32(size))
		copy(b[4:8], typ)
	}
	putHeader(h[0:], moofSize, "moof")
	putHeader(h[8:], 16, "mfhd")
	be.PutUint32(h[16:], 0) // version 0, flags 0
	w.seq++
	be.PutUint32(h[20:], w.seq)
	putHeader(h[24:], videoTraf, "traf")
	putHeader(h[32:], 16, "tfhd")
	be.PutUint32(h[40:], tfhdDefaultBaseIsMoof)
	be.PutUint32(h[44:], trackID)
	putHeader(h[48:], 20, "tfdt")
	be.PutUint32(h[56:], 1<<24) // version 1: 64-bit baseMediaDecodeTime
	be.PutUint64(h[60:], uint64(w.pend[0].dts-w.stats.FirstDTS))
	putHeader(h[68:], 20+trunEntrySize*n, "trun")
	be.PutUint32(h[76:], 1<<24|trunFlags) // version 1: signed composition offsets
	be.PutUint32(h[80:], uint32(n))
	be.PutUint32(h[84:], uint32(hdrLen)) // data_offset from the moof start
	keys := 0
	e := h[moofFixedSize:]
	for i := 0; i < n; i++ {
		ps := &w.pend[i]
		next := nextDTS
		if i+1 < len(w.pend) {
			next = w.pend[i+1].dts
		}
		be.PutUint32(e[0:], uint32(next-ps.dts))
		be.PutUint32(e[4:], ps.size)
		if ps.key {
			be.PutUint32(e[8:], flagsSync)
			keys++
		} else {
			be.PutUint32(e[8:], flagsNonSync)
		}
		be.PutUint32(e[12:], uint32(ps.cto))
		e = e[trunEntrySize:]
	}
	if na > 0 {
		w.putAudioTraf(e, na, hdrLen+dataLen)
	}
	putHeader(h[moofSize:], mdatHeaderSize+dataLen+aLen, "mdat")

	if na > 0 {
		// The held-back video samples follow this fragment's data in buf:
		// set them aside (usually one frame) and put the audio there, so
		// the fragment stays one Write without copying its video again.
		w.frag = append(w.frag[:0], w.buf[w.head+dataLen:]...)
		w.buf = append(w.buf[:w.head+dataLen], w.abuf[:aLen]...)
	}
	out := w.buf[w.head-hdrLen : w.head+dataLen+aLen]
	nw, err := w.w.Write(out)
	if err == nil && nw != len(out) {
		err = io.ErrShortWrite
	}
	if na > 0 {
		w.buf = append(w.buf[:w.head+dataLen], w.frag...)
	}
	if err != nil {
		w.err = fmt.Errorf("fmp4: write fragment %d: %w", w.seq, err)
		return w.err
	}
	w.stats.Bytes += int64(len(out))
	w.stats.Frames += int64(n)
	w.stats.Keyframes += int64(keys)
	w.stats.Fragments++
	w.stats.EndDTS = end
	if na > 0 {
		w.stats.AudioFrames += int64(na)
		w.shiftAudio(na, aLen)
	}

	rest := copy(w.buf[w.head:], w.buf[w.head+dataLen:])
	w.buf = w.buf[:w.head+rest]
	w.pend = w.pend[:copy(w.pend, w.pend[n:])]
	return nil
}

// Sizes of the audio traf: traf, tfhd (track ID only), tfdt v1, trun
// header with data offset; each trun entry has a duration and a size.
const (
	audioTrafFixed = 8 + 16 + 20 + 20
	audioEntrySize = 8
	audioTrunFlags = 0x000001 | 0x000100 | 0x000200
)

// putAudioTraf encodes the traf of the first na held audio samples into
// b; their data starts dataOffset bytes after the moof's start.
func (w *Writer) putAudioTraf(b []byte, na, dataOffset int) {
	be := binary.BigEndian
	put := func(b []byte, size int, typ string) {
		be.PutUint32(b, uint32(size))
		copy(b[4:8], typ)
	}
	put(b[0:], audioTrafFixed+audioEntrySize*na, "traf")
	put(b[8:], 16, "tfhd")
	be.PutUint32(b[16:], tfhdDefaultBaseIsMoof)
	be.PutUint32(b[20:], audioTrackID)
	put(b[24:], 20, "tfdt")
	be.PutUint32(b[32:], 1<<24)
	be.PutUint64(b[36:], uint64(w.apend[0].dts-w.audioBase))
	put(b[44:], 20+audioEntrySize*na, "trun")
	be.PutUint32(b[52:], audioTrunFlags)
	be.PutUint32(b[56:], uint32(na))
	be.PutUint32(b[60:], uint32(dataOffset))
	e := b[audioTrafFixed:]
	for i := 0; i < na; i++ {
		d := w.apend[i].dur
		if i+1 < len(w.apend) {
			d = w.apend[i+1].dts - w.apend[i].dts
		}
		be.PutUint32(e[0:], uint32(d))
		be.PutUint32(e[4:], uint32(w.apend[i].size))
		e = e[audioEntrySize:]
	}
}
