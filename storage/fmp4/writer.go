package fmp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

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

// TrackParams describes the video track. SPS and PPS are NAL units without
// start codes; Width and Height are the displayed size in pixels (taken
// from the SPS when zero).
type TrackParams struct {
	SPS, PPS      []byte
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
func (p TrackParams) HasPasp() bool { return p.avc1("").HasPasp() }

func (p TrackParams) avc1(compressor string) bmff.AVC1 {
	return bmff.AVC1{SPS: p.SPS, PPS: p.PPS, Width: p.Width, Height: p.Height,
		SARWidth: p.SARWidth, SARHeight: p.SARHeight, Compressor: compressor}
}

// SampleEntry returns the stsd entry (avc1 with avcC and, for non-square
// pixels, pasp) of a track with these parameters, as segments and exports
// write it; compressor names the writer. p must have passed NewWriter's
// checks (Scan's parameters have).
func (p TrackParams) SampleEntry(compressor string) bmff.SampleEntry { return p.avc1(compressor) }

// Sample is one H.264 access unit.
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
}

// WriterStats counts what has been written to the underlying io.Writer, so
// it describes exactly what a reader of the file would find.
type WriterStats struct {
	Bytes             int64 // bytes written, init segment included
	Frames, Keyframes int64 // samples written in fragments
	FirstDTS, EndDTS  int64 // 90 kHz, caller's timeline: first sample's DTS, end of the last written sample
	Fragments         int64
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
}

// NewWriter writes ftyp + moov for one avc1 track (timescale 90000, mvex
// for fragments, the true width and height, avcC from p's SPS and PPS) to w
// immediately.
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
	init, err := buildInit(p)
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
		buf:      make([]byte, initialHeadroom, initialHeadroom+1<<20),
		head:     initialHeadroom,
		pend:     make([]pendingSample, 0, 64),
		stats:    WriterStats{Bytes: int64(len(init))},
		maxCount: MaxSamplesPerFragment,
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
	if w.err != nil {
		return w.err
	}
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

// Stats returns what has been written so far.
func (w *Writer) Stats() WriterStats { return w.stats }

// writeFragment writes the first n held samples as moof+mdat. nextDTS is
// the DTS following sample n-1 when n == len(w.pend).
func (w *Writer) writeFragment(n int, nextDTS int64) error {
	dataLen := 0
	for i := 0; i < n; i++ {
		dataLen += int(w.pend[i].size)
	}
	moofSize := moofFixedSize + trunEntrySize*n
	hdrLen := moofSize + mdatHeaderSize
	if hdrLen > w.head {
		// More samples than the headroom was sized for: widen it once.
		grown := make([]byte, hdrLen, hdrLen+len(w.buf)-w.head+1<<20)
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
	putHeader(h[24:], moofSize-24, "traf")
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
	putHeader(h[moofSize:], mdatHeaderSize+dataLen, "mdat")

	out := w.buf[w.head-hdrLen : w.head+dataLen]
	nw, err := w.w.Write(out)
	if err == nil && nw != len(out) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("fmp4: write fragment %d: %w", w.seq, err)
		return w.err
	}
	end := nextDTS
	if n < len(w.pend) {
		end = w.pend[n].dts
	}
	w.stats.Bytes += int64(len(out))
	w.stats.Frames += int64(n)
	w.stats.Keyframes += int64(keys)
	w.stats.Fragments++
	w.stats.EndDTS = end

	rest := copy(w.buf[w.head:], w.buf[w.head+dataLen:])
	w.buf = w.buf[:w.head+rest]
	w.pend = w.pend[:copy(w.pend, w.pend[n:])]
	return nil
}
