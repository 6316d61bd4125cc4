// Package export builds one progressive MP4 (ftyp, moov, then mdat) out of
// any number of nvr segments, for download over HTTP or to a file.
//
// It owns the plan of a clip (which samples of which segment, the edit list,
// the sample tables, where the gaps were) and serves the clip as a virtual
// file through ReadAt: the header comes from memory, the sample bytes
// straight from the segment files, so memory does not grow with the clip's
// length beyond its sample tables. It does not find segments (package
// storage does), open or close files (the caller keeps them open for the
// clip's life) or speak HTTP (http.ServeContent over an io.SectionReader
// gives Range, HEAD and 416).
package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"time"
	"unsafe"

	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/storage/internal/bmff"
)

// timescale of the movie and the video track: the segments' 90 kHz.
const timescale = fmp4.Timescale

// MaxClipSamples bounds the samples of one clip so the sample tables stay
// in the tens of megabytes: 24 hours (the API's default max_export) at
// 48 fps is 4.1 M samples.
const MaxClipSamples = 1 << 22

// maxInputs bounds the number of segments of one clip: 24 hours of
// one-minute segments is 1440; short segments after many reconnects can be
// more, this is far above.
const maxInputs = 1 << 16

// Errors returned by New and ReadAt.
var (
	// ErrNoFootage: no sample of any input falls in the requested range.
	ErrNoFootage = errors.New("export: no footage in range")
	// ErrBadInput: an input or the options cannot be used.
	ErrBadInput = errors.New("export: bad input")
	// ErrTooLong: the clip would pass MaxClipSamples.
	ErrTooLong = errors.New("export: clip too long")
	// ErrSourceChanged: a segment file no longer holds the planned bytes
	// (it was truncated or deleted by retention while the clip was served).
	ErrSourceChanged = errors.New("export: segment file changed under the export")
)

// Input is one segment of the clip.
type Input struct {
	Info *fmp4.SegmentInfo // from fmp4.Scan of the file, or from its sample index
	// File is the open segment file, kept open by the caller for the
	// clip's life. It may be nil when the clip is read through ReadAtFrom,
	// which opens files only when their bytes are read.
	File    io.ReaderAt
	StartNS int64 // wall-clock UTC ns of the segment's first sample (the index row's start)
	EndNS   int64 // wall-clock UTC ns of the segment's end (the index row's end)
}

// Options choose the range and extras of a clip.
type Options struct {
	StartNS, EndNS int64 // wall-clock UTC ns, half-open [StartNS, EndNS)
	// Timestamps adds a tx3g text track showing the wall-clock time of
	// each second, so a player shows when every frame was taken.
	Timestamps bool
	// Location is the time zone of that text; nil means UTC.
	Location *time.Location
}

// Gap is a wall-clock span without footage that the clip closed up (the
// footage either side plays back to back).
type Gap struct {
	StartNS, EndNS int64
}

// extent maps a run of clip bytes to an input's file or to the text
// track in memory. It is kept small: a plan holds one per fragment.
type extent struct {
	outOff int64 // offset in the clip
	length int64
	srcOff int64
	src    int32 // index of the input; textSource: the text track
}

// textSource is the src of the text track's extent.
const textSource = -1

// Clip is a planned export: a virtual MP4 file of fixed size and content.
// Its methods are safe for concurrent use.
type Clip struct {
	header   []byte   // ftyp + moov + mdat header
	extents  []extent // mdat payload, in order, contiguous
	text     []byte   // the text track's samples
	files    []io.ReaderAt
	size     int64
	etag     string
	gaps     []Gap
	duration int64
	samples  int
	// hasAudio: the clip has an audio track; audioSkipped: segments
	// whose audio differs from it (see audioTrack).
	hasAudio     bool
	audioSkipped int
}

// Size is the clip's length in bytes.
func (c *Clip) Size() int64 { return c.size }

// ETag is a strong entity tag, quoted, derived from the whole plan: the
// header bytes (every sample's size, timing and position, the parameter
// sets) and which source bytes fill the mdat.
func (c *Clip) ETag() string { return c.etag }

// Gaps lists the wall-clock gaps between segments that were closed up.
func (c *Clip) Gaps() []Gap { return append([]Gap(nil), c.gaps...) }

// Duration is the presented length in 90 kHz units (the edit list's).
func (c *Clip) Duration() int64 { return c.duration }

// MemBytes is about how much memory the plan holds: its header, the
// text track and the extent map.
func (c *Clip) MemBytes() int64 {
	return int64(cap(c.header)+cap(c.text)) + int64(cap(c.extents))*int64(unsafe.Sizeof(extent{})) +
		int64(cap(c.gaps))*int64(unsafe.Sizeof(Gap{})) + int64(cap(c.files))*16
}

// Samples is the number of video samples in the clip.
func (c *Clip) Samples() int { return c.samples }

// Inputs is how many inputs the clip was planned from (the src range of
// ReadAtFrom).
func (c *Clip) Inputs() int { return len(c.files) }

// ReadAt reads the clip's bytes at off from the inputs' files. It returns
// io.EOF at or past the end, and an error wrapping ErrSourceChanged if a
// segment file was cut short underneath it, so a served file is never
// silently corrupt.
func (c *Clip) ReadAt(p []byte, off int64) (int, error) {
	return c.ReadAtFrom(func(src int) (io.ReaderAt, error) {
		if c.files[src] == nil {
			return nil, fmt.Errorf("%w: input %d has no file", ErrBadInput, src)
		}
		return c.files[src], nil
	}, p, off)
}

// ReadAtFrom is ReadAt reading input src's bytes from file(src), which is
// called only for inputs whose bytes are read. A plan can so be shared by
// many readers, each with its own open files.
func (c *Clip) ReadAtFrom(file func(src int) (io.ReaderAt, error), p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("export: negative offset %d", off)
	}
	if off >= c.size {
		return 0, io.EOF
	}
	n := 0
	if off < int64(len(c.header)) {
		n = copy(p, c.header[off:])
	}
	if n < len(p) && off+int64(n) < c.size {
		pos := off + int64(n)
		i := sort.Search(len(c.extents), func(i int) bool {
			e := &c.extents[i]
			return e.outOff+e.length > pos
		})
		for ; i < len(c.extents) && n < len(p); i++ {
			e := &c.extents[i]
			in := pos - e.outOff
			want := min(int64(len(p)-n), e.length-in)
			dst := p[n : n+int(want)]
			if e.src == textSource {
				copy(dst, c.text[e.srcOff+in:])
			} else {
				f, err := file(int(e.src))
				if err != nil {
					return n, fmt.Errorf("export: open input %d: %w", e.src, err)
				}
				m, err := f.ReadAt(dst, e.srcOff+in)
				if m < len(dst) {
					if err == nil || errors.Is(err, io.EOF) {
						err = ErrSourceChanged
					}
					return n + m, fmt.Errorf("export: read segment bytes at %d: %w", e.srcOff+in, err)
				}
			}
			n += int(want)
			pos += want
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// mulDiv returns a*b/c for non-negative a, b and positive c without
// overflowing: 90 kHz ticks times nanoseconds passes int64 after ~1 s × 1 h.
// The result saturates at math.MaxInt64.
func mulDiv(a, b, c int64) int64 {
	if a <= 0 || b <= 0 || c <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// run is the part of one input that goes into the clip.
//
// Time model: a segment's wall span [StartNS, EndNS) maps linearly onto
// its presentation timeline [shift, shift+Duration), where shift is the
// composition offset of its first (key)frame: with B-frames, frames are
// shown a little after they are decoded, and the first shown frame is the
// one taken at StartNS. In the clip every run is given the same
// presentation delay (the largest shift of all runs) by adding adj to its
// composition offsets, so runs with and without B-frames follow each other
// without overlap or hole.
type run struct {
	in      *Input
	src     int32 // index of in among the inputs
	ordered bool  // in is shown in decode order, each sample after the one before ends
	first   int   // index of the first sample taken
	last    int   // index after the last sample taken
	base    int64 // clip DTS of sample first
	desc    int   // 1-based sample description index
	adj     int64 // added to every composition offset of the run
	extra   int64 // ticks added to the last sample's duration (see New)
	presEnd int64 // clip presentation time where the run's last shown frame ends
}

// cto is sample i's composition offset in the clip.
func (r *run) cto(i int) int64 { return int64(r.in.Info.Samples[i].CTO) + r.adj }

// pres is sample i's presentation time in the clip (before the edit list).
func (r *run) pres(i int) int64 {
	s := r.in.Info.Samples
	return r.base + s[i].DTS - s[r.first].DTS + r.cto(i)
}

// origin is the clip presentation time of the input's wall StartNS.
func (r *run) origin() int64 {
	return r.base - r.in.Info.Samples[r.first].DTS + shift(r.in) + r.adj
}

// presAt maps wall-clock ns (within the input) to clip presentation time.
func (r *run) presAt(ns int64) int64 { return r.origin() + mediaAt(r.in, ns) }

// wallOf maps clip presentation time (within the run) to wall-clock ns.
func (r *run) wallOf(p int64) int64 { return wallAt(r.in, p-r.origin()) }

// duration is sample i's duration in the clip.
func (r *run) duration(i int) uint32 {
	d := r.in.Info.Samples[i].Duration
	if i == r.last-1 {
		d += uint32(r.extra)
	}
	return d
}

// shift is the presentation delay of an input: the composition offset of
// its first sample (a keyframe, as every nvr segment starts with one).
func shift(in *Input) int64 {
	return max(int64(in.Info.Samples[0].CTO), 0)
}

// mediaAt maps a wall-clock time to media time within the input (90 kHz,
// 0 at StartNS), linearly over [StartNS, EndNS) ↔ [0, Duration): the
// recorder slews wall time, so the two spans may differ slightly.
func mediaAt(in *Input, ns int64) int64 {
	if ns <= in.StartNS {
		return 0
	}
	return mulDiv(ns-in.StartNS, in.Info.Duration, in.EndNS-in.StartNS)
}

// KeyframeAt returns the wall-clock span of the keyframe a picture of the
// moment ns shows without decoding anything else: the last keyframe shown
// at or before ns, or the input's first keyframe when ns is before it. A
// scrub preview is a clip of exactly that span.
func KeyframeAt(in Input, ns int64) (startNS, endNS int64, ok bool) {
	s := in.Info.Samples
	if len(s) == 0 || in.Info.Duration <= 0 || in.EndNS <= in.StartNS {
		return 0, 0, false
	}
	sh := shift(&in)
	t := mediaAt(&in, ns) + sh // as a segment presentation time
	k := -1
	for i := range s {
		if !s[i].Keyframe {
			continue
		}
		if k >= 0 && s[i].DTS+int64(s[i].CTO) > t {
			break
		}
		k = i
	}
	if k < 0 {
		return 0, 0, false
	}
	pts := s[k].DTS + int64(s[k].CTO) - sh
	return wallAt(&in, pts), wallAt(&in, pts+int64(s[k].Duration)), true
}

// wallAt is the inverse of mediaAt.
func wallAt(in *Input, t int64) int64 {
	if t <= 0 {
		return in.StartNS
	}
	return in.StartNS + mulDiv(t, in.EndNS-in.StartNS, in.Info.Duration)
}

// validate checks inputs and opts, and reports which inputs are not shown
// in decode order (see saneTimes).
func validate(inputs []Input, opts Options) (unordered []bool, err error) {
	if opts.EndNS <= opts.StartNS {
		return nil, fmt.Errorf("%w: end %d not after start %d", ErrBadInput, opts.EndNS, opts.StartNS)
	}
	if len(inputs) > maxInputs {
		return nil, fmt.Errorf("%w: %d inputs, at most %d", ErrBadInput, len(inputs), maxInputs)
	}
	unordered = make([]bool, len(inputs))
	for i := range inputs {
		in := &inputs[i]
		switch {
		case in.Info == nil:
			return nil, fmt.Errorf("%w: input %d without info", ErrBadInput, i)
		case in.Info.Timescale != timescale:
			return nil, fmt.Errorf("%w: input %d has timescale %d, want %d", ErrBadInput, i, in.Info.Timescale, timescale)
		case in.EndNS <= in.StartNS:
			return nil, fmt.Errorf("%w: input %d ends at %d, not after its start %d", ErrBadInput, i, in.EndNS, in.StartNS)
		case i > 0 && in.StartNS < inputs[i-1].StartNS:
			return nil, fmt.Errorf("%w: input %d starts before input %d", ErrBadInput, i, i-1)
		case len(in.Info.Params.SPS) < 4 || len(in.Info.Params.PPS) == 0 || len(in.Info.Params.SPS) > 0xffff || len(in.Info.Params.PPS) > 0xffff ||
			in.Info.Params.H265() && len(in.Info.Params.VPS) > 0xffff:
			return nil, fmt.Errorf("%w: input %d has no usable parameter sets", ErrBadInput, i)
		case !saneTimes(in.Info.Samples, &unordered[i]):
			return nil, fmt.Errorf("%w: input %d has decode times out of order or composition offsets out of range", ErrBadInput, i)
		case in.Info.Params.Width <= 0 || in.Info.Params.Height <= 0 || in.Info.Params.Width > 0xffff || in.Info.Params.Height > 0xffff:
			return nil, fmt.Errorf("%w: input %d has size %dx%d", ErrBadInput, i, in.Info.Params.Width, in.Info.Params.Height)
		}
	}
	return unordered, nil
}

// maxCTO bounds composition offsets: B-frames delay presentation by a few
// frames; ten seconds is far beyond any encoder and keeps offsets plus the
// clip's common delay inside int32.
const maxCTO = 10 * timescale

// saneTimes reports whether decode times start at or after zero and
// strictly increase, and composition offsets are within ±maxCTO, which the
// clip's time arithmetic relies on.
// It sets *unordered when a sample is shown out of decode order or
// before the one before it has ended (some composition offset is not zero,
// or a decode time steps back into the previous sample's duration).
func saneTimes(s []fmp4.SampleInfo, unordered *bool) bool {
	prev, prevEnd := int64(-1), int64(0)
	for i := range s {
		if s[i].DTS <= prev || s[i].CTO > maxCTO || s[i].CTO < -maxCTO {
			return false
		}
		*unordered = *unordered || s[i].CTO != 0 || s[i].DTS < prevEnd
		prev, prevEnd = s[i].DTS, s[i].DTS+int64(s[i].Duration)
	}
	return true
}

// selectRun picks the samples of in that belong to [opts.StartNS,
// opts.EndNS): from the last keyframe presented at or before the start
// (or the first keyframe) to the last sample, in decode order, presented
// before the end. Frames presented after the end that precede it in decode
// order are kept (later B-frames reference them); the edit list hides them.
func selectRun(in *Input, opts Options) (first, last int, ok bool) {
	s := in.Info.Samples
	if len(s) == 0 || in.EndNS <= opts.StartNS || in.StartNS >= opts.EndNS {
		return 0, 0, false
	}
	first = -1
	sh := shift(in)
	if opts.StartNS > in.StartNS {
		t := mediaAt(in, opts.StartNS) + sh // as a segment presentation time
		for i := range s {
			if s[i].DTS > t {
				break
			}
			if s[i].Keyframe && s[i].DTS+int64(s[i].CTO) <= t {
				first = i
			}
		}
	}
	if first < 0 {
		for i := range s {
			if s[i].Keyframe {
				first = i
				break
			}
		}
		if first < 0 {
			return 0, 0, false // no keyframe: nothing here can be decoded
		}
	}
	last = len(s)
	if opts.EndNS < in.EndNS {
		t := mediaAt(in, opts.EndNS) + sh
		last = first
		for i := first; i < len(s); i++ {
			if s[i].DTS+int64(s[i].CTO) < t {
				last = i + 1
			}
		}
	}
	return first, last, last > first
}

// sampleEntry is one distinct stsd entry.
type sampleEntry struct {
	params fmp4.TrackParams
}

// New plans a clip from inputs, which are in time order. See the package
// comment and Options. It returns ErrNoFootage (wrapped) when no sample
// falls in the range.
func New(inputs []Input, opts Options) (*Clip, error) {
	unordered, err := validate(inputs, opts)
	if err != nil {
		return nil, err
	}
	var (
		runs    []run
		entries []sampleEntry
		gaps    []Gap
		total   int
		delay   int64 // presentation delay common to all runs
	)
	for i := range inputs {
		in := &inputs[i]
		first, last, ok := selectRun(in, opts)
		if !ok {
			continue
		}
		total += last - first
		if total > MaxClipSamples {
			return nil, fmt.Errorf("%w: more than %d samples", ErrTooLong, MaxClipSamples)
		}
		desc := 0
		for j, e := range entries {
			if sameParams(e.params, in.Info.Params) {
				desc = j + 1
			}
		}
		if desc == 0 {
			entries = append(entries, sampleEntry{params: in.Info.Params})
			desc = len(entries)
		}
		if len(runs) > 0 {
			prev := runs[len(runs)-1].in
			if in.StartNS > prev.EndNS {
				gaps = append(gaps, Gap{StartNS: prev.EndNS, EndNS: in.StartNS})
			}
		}
		runs = append(runs, run{in: in, src: int32(i), first: first, last: last, desc: desc, ordered: !unordered[i]})
		delay = max(delay, shift(in))
	}
	if len(runs) == 0 {
		return nil, ErrNoFootage
	}
	var clipDTS int64
	for k := range runs {
		r := &runs[k]
		s := r.in.Info.Samples
		r.adj = delay - shift(r.in)
		r.base = clipDTS
		if k > 0 {
			// Safety net for irregular streams: if this run would start
			// being shown before the previous one has finished,
			// presentation times would go backwards; stretch the
			// previous run's last sample instead.
			prev := &runs[k-1]
			first := r.pres(r.first)
			for i := r.first; i < r.last; i++ {
				first = min(first, r.pres(i))
			}
			if need := prev.presEnd - first; need > 0 &&
				int64(prev.in.Info.Samples[prev.last-1].Duration)+prev.extra+need <= math.MaxUint32 {
				prev.extra += need
				clipDTS += need
				r.base = clipDTS
			}
		}
		if r.ordered {
			// Each sample ends at or before the next begins: the last
			// one ends last.
			r.presEnd = max(r.presEnd, r.pres(r.last-1)+int64(s[r.last-1].Duration))
		} else {
			for i := r.first; i < r.last; i++ {
				r.presEnd = max(r.presEnd, r.pres(i)+int64(s[i].Duration))
			}
		}
		clipDTS += s[r.last-1].DTS + int64(s[r.last-1].Duration) - s[r.first].DTS
	}

	// The edit list starts presentation at StartNS (or at the first
	// keyframe when the range starts before the footage) and ends it at
	// EndNS (or where the footage ends).
	r0 := &runs[0]
	mediaStart := max(r0.pres(r0.first), r0.presAt(opts.StartNS))
	var presEnd int64
	for _, r := range runs {
		presEnd = max(presEnd, r.presEnd)
	}
	if rl := &runs[len(runs)-1]; opts.EndNS < rl.in.EndNS {
		presEnd = min(presEnd, rl.presAt(opts.EndNS))
	}
	if presEnd <= mediaStart {
		return nil, ErrNoFootage
	}
	files := make([]io.ReaderAt, len(inputs))
	for i := range inputs {
		files[i] = inputs[i].File
	}
	p := &plan{runs: runs, entries: entries, mediaStart: mediaStart, presDur: presEnd - mediaStart, mediaDur: clipDTS, opts: opts, files: files}
	if opts.Timestamps {
		t, err := buildText(p)
		if err != nil {
			return nil, err
		}
		p.text = t
	}
	p.audio = planAudio(p)
	c, err := p.build()
	if err != nil {
		return nil, err
	}
	c.gaps = gaps
	return c, nil
}

func sameParams(a, b fmp4.TrackParams) bool {
	return bytes.Equal(a.VPS, b.VPS) && a.H265() == b.H265() && bytes.Equal(a.SPS, b.SPS) && bytes.Equal(a.PPS, b.PPS) && a.Width == b.Width && a.Height == b.Height &&
		a.HasPasp() == b.HasPasp() && (!a.HasPasp() || a.SARWidth == b.SARWidth && a.SARHeight == b.SARHeight)
}

// plan is everything New decided, before encoding.
type plan struct {
	runs       []run
	entries    []sampleEntry
	mediaStart int64 // edit list media_time (clip media time presented first)
	presDur    int64 // presented length, 90 kHz
	mediaDur   int64 // sum of the sample durations
	opts       Options
	text       *textTrack
	audio      *audioTrack
	files      []io.ReaderAt // by input
}

// build encodes the header and the extent map.
func (p *plan) build() (*Clip, error) {
	// The header is built once with chunk offsets relative to the first
	// mdat payload byte, which are then moved by where that byte lands
	// (the layout does not depend on the values). It is built again only
	// for the rare clip past 4 GiB, with co64. The pass writing stsz also
	// makes the extent map, in the same relative offsets.
	c := &Clip{duration: p.presDur, files: p.files, hasAudio: p.audio != nil}
	if p.audio != nil {
		c.audioSkipped = p.audio.skipped
	}
	if p.text != nil {
		c.text = p.text.data
		c.extents = append(c.extents, extent{length: int64(len(p.text.data)), src: textSource})
	}
	for _, r := range p.runs {
		c.samples += r.last - r.first
	}
	w := &boxWriter{Writer: bmff.Writer{B: make([]byte, 0, 8192+c.samples*5)}, extents: &c.extents}
	appendFtyp(w, p.entries)
	ftypLen := len(w.B)
	tables := p.appendMoov(w, false)
	var payload int64
	if n := len(c.extents); n > 0 {
		payload = c.extents[n-1].outOff + c.extents[n-1].length
	}
	co64 := int64(len(w.B))+16+payload > math.MaxUint32
	if co64 {
		w.B, w.extents = w.B[:ftypLen], nil
		tables = p.appendMoov(w, true)
	}
	if payload+8 > math.MaxUint32 {
		w.U32(1) // 64-bit largesize (ISO/IEC 14496-12 §4.2)
		w.Str("mdat")
		w.U64(uint64(payload + 16))
	} else {
		w.U32(uint32(payload + 8))
		w.Str("mdat")
	}
	header := w.B
	dataStart := int64(len(header))
	for _, t := range tables {
		t.shift(header, dataStart)
	}
	for i := range c.extents {
		c.extents[i].outOff += dataStart
	}
	c.header, c.size = header, dataStart+payload
	h := sha256.New()
	h.Write(header)
	var b [8]byte
	for _, e := range c.extents {
		binary.BigEndian.PutUint64(b[:], uint64(e.srcOff))
		h.Write(b[:])
		binary.BigEndian.PutUint64(b[:], uint64(e.length))
		h.Write(b[:])
	}
	// Which file each extent comes from is part of the identity too; the
	// inputs' wall-clock spans name the segments.
	for _, r := range p.runs {
		binary.BigEndian.PutUint64(b[:], uint64(r.in.StartNS))
		h.Write(b[:])
		binary.BigEndian.PutUint64(b[:], uint64(r.in.EndNS))
		h.Write(b[:])
	}
	c.etag = `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
	return c, nil
}

// appendFtyp writes the file type; the avc1 brand (ISO/IEC 14496-15 §6) is
// listed only when an H.264 sample entry is present.
func appendFtyp(w *boxWriter, entries []sampleEntry) {
	avc := false
	for _, e := range entries {
		avc = avc || !e.params.H265()
	}
	w.Start("ftyp")
	w.Str("isom")
	w.U32(0x200)
	if avc {
		w.Str("isomiso2avc1mp41")
	} else {
		w.Str("isomiso2mp41")
	}
	w.End()
}
