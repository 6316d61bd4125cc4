// Package live serves a camera's live picture to viewers. It takes the
// access units the recorder already receives, muxes them once into
// fragmented MP4 — one frame a fragment, so a frame leaves as soon as the
// next one tells its duration — and hands every viewer the same bytes.
// The picture since the last keyframe is kept, so a new viewer starts at
// once instead of waiting for the next keyframe.
//
// Recording never pays for a viewer: Frame copies the frame and returns
// without waiting (a full input queue drops frames up to the next
// keyframe, of the live picture only). While nobody watches, Frame only
// copies the frame into the picture kept since the last keyframe, a buffer
// reused from one keyframe to the next: no allocation, and no hand-off to
// another goroutine. Each viewer has a bounded queue; one
// that falls behind skips to the next keyframe, one that stays behind for
// MaxBehind is cut off.
//
// It does not own the RTSP session, the transport to the browser or who may
// watch: the recorder feeds it, the API carries its messages.
package live

import (
	"bytes"
	"errors"
	"sync"
	"time"

	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/recorder/video"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// Bounds of a stream and its viewers.
const (
	// inputFrames is the queue between Publish and the muxer: two seconds
	// of 30 fps. The muxer does little work a frame; when it still falls
	// behind, the live picture skips, the recording does not.
	inputFrames = 64
	// MaxViewers bounds the viewers of one stream.
	MaxViewers = 64
	// MaxViewerBytes bounds what waits for one viewer: about 8 s of a
	// 4 Mbit/s camera.
	MaxViewerBytes = 4 << 20
	// maxViewerMessages bounds the count of waiting messages (one a frame).
	maxViewerMessages = 512
	// MaxBehind is how long a viewer may keep its queue full before it is
	// cut off.
	MaxBehind = 10 * time.Second
	// maxGOPBytes bounds the picture kept since the last keyframe for new
	// viewers; a longer GOP makes them wait for the next keyframe instead.
	maxGOPBytes = 8 << 20
)

// Errors of a viewer.
var (
	ErrTooManyViewers = errors.New("live: too many viewers of this camera")
	ErrCutOff         = errors.New("live: viewer too far behind, cut off")
	ErrClosed         = errors.New("live: stream closed")
)

// Message is what a viewer receives: an init segment (Init, with the codec
// and size it describes; the decoder starts over with it) or one frame's
// moof+mdat. Data is shared between viewers: never modify it.
type Message struct {
	Init bool
	// Codec is the RFC 6381 string of the init segment's tracks (Init
	// only): the video's, then the audio's after a comma when the camera
	// sends sound ("avc1.640028,mp4a.40.2"), as a MIME codecs parameter.
	Codec         string
	Width, Height int // Init only
	Data          []byte
	Keyframe      bool
	// PTS is the frame's presentation time, 90 kHz, on the timeline of its
	// init segment (which starts at its first frame's decode time): the
	// media time a decoder shows the frame at.
	PTS       int64
	ArrivalNS int64 // local wall clock when the frame reached nvr
}

// Stats counts what a stream did.
type Stats struct {
	Frames, Dropped uint64 // frames the muxer took (muxed, or kept while nobody watches); frames dropped before it
	Viewers         int
	CutOff          uint64 // viewers cut off for being too far behind
	AudioDropped    uint64 // audio frames dropped: the muxer's queue was full
}

type frame struct {
	vps, sps, pps []byte
	params        *video.Params // parsed by the depacketizer, nil if it could not
	size          int           // bytes of the NAL units
	dts, pts      int64
	key           bool
	nalus         [][]byte // slices of one buffer, never modified once written
	arrivalNS     int64
	seq           uint64 // the stream's count of frames, this one included
}

// audioIn is an audio frame as it arrived, copied.
type audioIn struct {
	format *audio.Format
	pts    int64
	dur    int64
	data   []byte
}

// inputAudio bounds the audio frames queued for the muxer (about 5 s of
// 20 ms frames); a full queue drops audio, never video.
const inputAudio = 256

// A stream is muxed in up to two variants, each only while someone watches
// it: with the camera's sound (Watch) and the picture alone (WatchVideo, for
// a browser that cannot play the sound's codec).
const (
	withSound = iota
	videoOnly
	variants
)

// kept is what a new viewer of one variant starts from: the init segment
// and the messages since the last keyframe.
type kept struct {
	init     *Message
	gop      []*Message
	gopBytes int
	gopValid bool
}

// startAt is what a variant's muxer (re)starts from: the frames since the
// last keyframe up to and including frame seq, and the audio format then.
type startAt struct {
	gop    []frame
	seq    uint64
	format *audio.Format
}

// Stream is one camera's live picture and sound.
type Stream struct {
	in   chan frame
	ain  chan audioIn
	wake chan struct{} // viewers came or went: start or stop muxers
	now  func() time.Time
	// onViewers, when set, is told the number of viewers after each
	// change, outside the stream's lock; so is each of hooks
	// (WatchViewers).
	onViewers func(n int)
	hooks     map[int]func()
	hookID    int

	mu       sync.Mutex
	dropping bool // the input overflowed: drop up to the next keyframe
	closed   bool
	viewers  map[*Viewer]struct{}
	count    [variants]int // viewers of each variant
	cut      bool          // a viewer was cut off since the muxer last told onViewers
	kept     [variants]kept
	st       Stats

	// The picture since the last keyframe, kept by Frame whether anyone
	// watches or not: what a variant's muxer starts from.
	gop      []frame
	gopBytes int
	gopValid bool   // gop starts at a keyframe and fits in maxGOPBytes
	buf      gopBuf // the NAL units of gop
	seq      uint64 // frames published
	format   *audio.Format
	pending  [variants]*startAt // set by watch, taken by the muxer

	done chan struct{}
	wg   sync.WaitGroup
}

// NewStream starts a stream's muxer; Close stops it. now is the clock for
// MaxBehind (nil: time.Now).
func NewStream(now func() time.Time) *Stream {
	if now == nil {
		now = time.Now
	}
	s := &Stream{in: make(chan frame, inputFrames), ain: make(chan audioIn, inputAudio), wake: make(chan struct{}, 1), now: now, viewers: map[*Viewer]struct{}{}, done: make(chan struct{})}
	s.wg.Add(1)
	go s.run()
	return s
}

// OnViewers sets a function told the number of viewers whenever it
// changes (the fleet connects a camera outside its recording windows while
// someone watches). It must return at once. Call it before the first Watch.
func (s *Stream) OnViewers(fn func(n int)) {
	s.mu.Lock()
	s.onViewers = fn
	s.mu.Unlock()
}

// Viewers returns the number of viewers.
func (s *Stream) Viewers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.viewers)
}

// remove takes v off the stream's viewers; the caller holds s.mu.
func (s *Stream) remove(v *Viewer) bool {
	if _, ok := s.viewers[v]; !ok {
		return false
	}
	delete(s.viewers, v)
	s.count[v.variant]--
	return true
}

// poke wakes the muxer to start or stop variants.
func (s *Stream) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// WatchViewers adds fn to what is told, outside the stream's lock, that
// the number of viewers may have changed (Viewers says what it is now). A
// recording session reads at once while somebody watches
// (recorder.LiveWatched). fn must return at once; stop removes it.
func (s *Stream) WatchViewers(fn func()) (stop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hooks == nil {
		s.hooks = map[int]func(){}
	}
	s.hookID++
	id := s.hookID
	s.hooks[id] = fn
	return func() {
		s.mu.Lock()
		delete(s.hooks, id)
		s.mu.Unlock()
	}
}

// notify tells onViewers the count, and the hooks that it changed; the
// caller does not hold s.mu.
func (s *Stream) notify() {
	s.mu.Lock()
	fn, n := s.onViewers, len(s.viewers)
	hooks := make([]func(), 0, len(s.hooks))
	for _, h := range s.hooks {
		hooks = append(hooks, h)
	}
	s.mu.Unlock()
	if fn != nil {
		fn(n)
	}
	for _, h := range hooks {
		h()
	}
}

// Frame publishes an access unit as it arrived; the stream copies what it
// keeps, so au may be reused when Frame returns. It never blocks.
func (s *Stream) Frame(au *video.AccessUnit, arrivalNS int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.seq++
	f := frame{vps: au.VPS, sps: au.SPS, pps: au.PPS, params: au.Params, dts: au.DTS, pts: au.PTS, key: au.Keyframe, arrivalNS: arrivalNS, seq: s.seq}
	for _, n := range au.NALUs {
		f.size += len(n)
	}
	kept := s.keep(&f, au.NALUs)
	if len(s.viewers) == 0 {
		s.st.Frames++
		return
	}
	if s.dropping && !f.key {
		s.st.Dropped++
		return
	}
	if kept {
		s.buf.shared = true
	} else {
		f.nalus = copyNALUs(au.NALUs, f.size)
	}
	select {
	case s.in <- f:
		s.dropping = false
	default:
		s.dropping = true
		s.st.Dropped++
	}
}

// keep adds f to the picture since the last keyframe, copying nalus into
// the stream's buffer, and reports whether it did (a frame after a GOP
// too long to keep is not). The caller holds s.mu.
func (s *Stream) keep(f *frame, nalus [][]byte) bool {
	if f.key {
		clear(s.gop)
		s.gop, s.gopBytes, s.gopValid = s.gop[:0], 0, true
		s.buf.reset()
	}
	if !s.gopValid {
		return false
	}
	if s.gopBytes+f.size > maxGOPBytes {
		// Too long to keep: new viewers wait for the next keyframe.
		clear(s.gop)
		s.gop, s.gopBytes, s.gopValid = s.gop[:0], 0, false
		return false
	}
	f.nalus = s.buf.add(nalus, f.size)
	s.gop = append(s.gop, *f)
	s.gopBytes += f.size
	return true
}

// Audio publishes an audio frame as it arrived (recorder.LiveAudioSink):
// f.PTS/format.ClockRate s is the same instant as the AccessUnit
// DTS/90000 s given to Frame. It copies f.Data and never blocks; a full
// queue drops the frame (Stats.AudioDropped). format is replaced, never
// modified, when the camera's audio changes.
func (s *Stream) Audio(format *audio.Format, f *audio.Frame, arrivalNS int64) {
	if format == nil || f == nil || len(f.Data) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.format = format
	if s.count[withSound] == 0 {
		return // the picture-alone variant has no audio track
	}
	a := audioIn{format: format, pts: f.PTS, dur: f.Duration, data: append([]byte(nil), f.Data...)}
	select {
	case s.ain <- a:
	default:
		s.st.AudioDropped++
	}
}

// copyNALUs copies nalus (size bytes in all) into one new buffer.
func copyNALUs(nalus [][]byte, size int) [][]byte {
	buf, out := make([]byte, 0, size), make([][]byte, len(nalus))
	for i, n := range nalus {
		buf = append(buf, n...)
		out[i] = buf[len(buf)-len(n) : len(buf) : len(buf)]
	}
	return out
}

// Close stops the muxer, waits for it and ends every viewer.
func (s *Stream) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for v := range s.viewers {
		v.end(ErrClosed)
	}
	s.viewers, s.count = map[*Viewer]struct{}{}, [variants]int{}
	s.mu.Unlock()
	close(s.done)
	s.wg.Wait()
}

// Stats returns the stream's counters.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Viewers = len(s.viewers)
	return st
}

// Watch adds a viewer. Its queue starts with the init segment and the
// picture since the last keyframe, when the stream has them.
func (s *Stream) Watch() (*Viewer, error) { return s.watchVariant(withSound) }

// WatchVideo adds a viewer of the picture alone: its init segments have no
// audio track, whatever the camera sends (for a browser that cannot play
// the sound's codec). The picture is muxed a second time while such a
// viewer watches.
func (s *Stream) WatchVideo() (*Viewer, error) { return s.watchVariant(videoOnly) }

func (s *Stream) watchVariant(variant int) (*Viewer, error) {
	v, err := s.watch(variant)
	if err == nil {
		s.poke()
		s.notify()
	}
	return v, err
}

func (s *Stream) watch(variant int) (*Viewer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if len(s.viewers) >= MaxViewers {
		return nil, ErrTooManyViewers
	}
	v := &Viewer{s: s, variant: variant, signal: make(chan struct{}, 1), skipping: true}
	switch k := &s.kept[variant]; {
	case s.count[variant] == 0:
		// The variant's first viewer: its muxer (re)starts from the
		// picture kept since the last keyframe, and frames from the next
		// one on reach it through s.in.
		p := &startAt{seq: s.seq}
		if s.gopValid {
			p.gop = append([]frame(nil), s.gop...)
			s.buf.shared = s.buf.shared || len(p.gop) > 0
		}
		if variant == withSound {
			p.format = s.format
		}
		s.pending[variant] = p
		*k = kept{}
	case k.gopValid:
		// Start at the last keyframe (offer sends the init before it).
		for _, m := range k.gop {
			v.offer(m, s.now())
		}
	}
	s.viewers[v] = struct{}{}
	s.count[variant]++
	return v, nil
}

// run is the muxer: it muxes each variant while someone watches it —
// one fmp4.Writer per decoder configuration, one fragment per frame, into
// a sink that turns the bytes into messages. A variant's first viewer
// makes it start over from the picture Frame kept since the last keyframe
// (so the picture starts at once); while nobody watches, nothing reaches
// it.
func (s *Stream) run() {
	defer s.wg.Done()
	var ms [variants]muxer
	for i := range ms {
		ms[i].s, ms[i].variant = s, i
	}
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
			s.startStop(&ms)
		case a := <-s.ain:
			s.startStop(&ms)
			ms[withSound].audio(a) // the video-only variant has no audio track
		case f := <-s.in:
			s.startStop(&ms)
			for i := range ms {
				if m := &ms[i]; m.on && f.seq > m.from {
					m.mux(f)
				}
			}
			s.mu.Lock()
			s.st.Frames++
			cut := s.cut
			s.cut = false
			s.mu.Unlock()
			if cut {
				s.notify()
			}
		}
	}
}

// startStop starts the variants a first viewer is waiting for, from the
// picture kept when it came, and stops those nobody watches.
func (s *Stream) startStop(ms *[variants]muxer) {
	var (
		pending [variants]*startAt
		count   [variants]int
	)
	s.mu.Lock()
	pending, count = s.pending, s.count
	s.pending = [variants]*startAt{}
	s.mu.Unlock()
	for i := range ms {
		m := &ms[i]
		switch p := pending[i]; {
		case p != nil:
			m.stop()
			m.format, m.from = p.format, p.seq
			m.start(p.gop)
		case count[i] == 0:
			m.stop()
		}
	}
}

// muxer is the run loop's fMP4 state while someone watches.
type muxer struct {
	s             *Stream
	variant       int // withSound or videoOnly, which never sees audio
	on            bool
	w             *fmp4.Writer
	sink          collector
	vps, sps, pps []byte
	params        *video.Params
	prev          frame // the frame whose fragment the next write emits
	have          bool
	from          uint64 // the last frame of what it started from: later ones come through s.in
	base          int64  // the writer's first DTS: its timeline's zero
	// format is the camera's latest audio format; tried the one the
	// writer was last made with, wAudio the one its init segment has (nil:
	// none, or tried was refused). A new format takes effect with a new
	// init segment at the next keyframe.
	format, tried, wAudio *audio.Format
	aparams               fmp4.AudioParams
}

// audio takes an audio frame: it goes into the fragment of the video it
// plays with, when the writer's init segment has the frame's format.
func (m *muxer) audio(a audioIn) {
	m.format = a.format
	if m.w == nil || a.format != m.wAudio {
		return
	}
	_ = m.w.WriteAudio(fmp4.AudioSample{DTS: a.pts, Duration: a.dur, Data: a.data}) // a bad or early frame is dropped
}

// audioParams is an audio format as the segment writer takes it; ok is
// false for a format it cannot carry.
func audioParams(f *audio.Format) (fmp4.AudioParams, bool) {
	p := fmp4.AudioParams{Codec: f.Codec, Timescale: f.ClockRate, SampleRate: f.SampleRate, Channels: f.Channels}
	switch {
	case f.AAC != nil:
		p.AACConfig, p.AACObjectType = f.AAC.Raw, f.AAC.ObjectType
	case f.FLAC != nil:
		p.FLACBlockSize = f.FLAC.BlockSize
	case !f.Opus:
		return p, false
	}
	return p, true
}

// start begins muxing at the kept picture.
func (m *muxer) start(gop []frame) {
	m.on, m.w = true, nil
	for _, f := range gop {
		m.mux(f)
	}
}

// stop ends muxing: nobody watches. What new viewers would start from is
// rebuilt when one comes.
func (m *muxer) stop() {
	if !m.on {
		return
	}
	m.on, m.w, m.have = false, nil, false
	m.s.mu.Lock()
	m.s.kept[m.variant] = kept{}
	m.s.mu.Unlock()
}

func (m *muxer) mux(f frame) {
	changed := m.w == nil
	if !changed {
		if f.params != nil && m.params != nil {
			changed = f.params != m.params // replaced, never modified, when SPS or PPS change
		} else {
			changed = !bytes.Equal(f.sps, m.sps) || !bytes.Equal(f.pps, m.pps) || !bytes.Equal(f.vps, m.vps)
		}
	}
	if !changed && m.format != m.tried && f.key {
		changed = true // the audio appeared or changed: a new init segment
	}
	if changed {
		if !f.key {
			m.w = nil
			return // a new decoder configuration starts at a keyframe
		}
		if m.w != nil && m.have {
			_ = m.w.Close(f.dts)
			m.emitPrev()
		}
		p := f.params
		if p == nil {
			pp, err := video.ParseParams(f.vps, f.sps, f.pps)
			if err != nil {
				m.w = nil
				return
			}
			p = &pp
		}
		tp := p.Track()
		tp.VPS, tp.SPS, tp.PPS = f.vps, f.sps, f.pps
		opts := fmp4.WriterOptions{FragmentDuration: 1}
		codec := p.Codec
		m.wAudio, m.tried = nil, m.format
		if m.format != nil {
			if ap, ok := audioParams(m.format); ok {
				m.aparams, m.wAudio = ap, m.format
				opts.Audio = &m.aparams
				codec += "," + ap.Codec
			}
		}
		nw, err := fmp4.NewWriter(&m.sink, tp, opts)
		if err != nil && opts.Audio != nil {
			// Audio the writer refuses: the picture goes on without it.
			opts.Audio, codec = nil, p.Codec
			nw, err = fmp4.NewWriter(&m.sink, tp, opts)
		}
		if err != nil {
			m.w = nil
			return
		}
		if opts.Audio == nil {
			m.wAudio = nil
		}
		m.w, m.vps, m.sps, m.pps, m.params, m.have, m.base = nw, f.vps, f.sps, f.pps, f.params, false, f.dts
		m.s.broadcast(m.variant, &Message{Init: true, Codec: codec, Width: p.Width, Height: p.Height, Data: m.sink.take()})
	}
	if err := m.w.WriteSample(fmp4.Sample{NALUs: f.nalus, DTS: f.dts, PTS: f.pts, Keyframe: f.key}); err != nil {
		m.w = nil // a bad frame: start again at the next keyframe
		return
	}
	if m.have {
		m.emitPrev()
	}
	m.prev, m.have = f, true
}

// emitPrev sends the fragment the writer just wrote: the previous frame's.
func (m *muxer) emitPrev() {
	if b := m.sink.take(); len(b) > 0 {
		m.s.broadcast(m.variant, &Message{Data: b, Keyframe: m.prev.key, PTS: m.prev.pts - m.base, ArrivalNS: m.prev.arrivalNS})
	}
}

// broadcast keeps m for new viewers of its variant and offers it to every
// viewer of that variant.
func (s *Stream) broadcast(variant int, m *Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[variant] != nil {
		return // the muxer's output is stale: it starts over for a first viewer
	}
	k := &s.kept[variant]
	switch {
	case m.Init:
		*k = kept{init: m}
	case m.Keyframe:
		k.gop, k.gopBytes, k.gopValid = []*Message{m}, len(m.Data), true
	case k.gopValid:
		k.gop = append(k.gop, m)
		k.gopBytes += len(m.Data)
		if k.gopBytes > maxGOPBytes {
			k.gop, k.gopBytes, k.gopValid = nil, 0, false
		}
	}
	now := s.now()
	for v := range s.viewers {
		if v.variant != variant {
			continue
		}
		if !v.offer(m, now) {
			s.st.CutOff++
			s.remove(v)
			s.cut = true
		}
	}
}

// collector gathers what the fmp4 writer writes between two takes.
type collector struct{ buf []byte }

func (c *collector) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *collector) take() []byte {
	b := c.buf
	c.buf = nil
	return b
}

// Viewer is one viewer's queue.
type Viewer struct {
	s       *Stream
	variant int
	signal  chan struct{}

	// Under s.mu.
	queue       []*Message
	bytes       int
	init        *Message // the init segment this viewer was given
	skipping    bool     // waiting for a keyframe to (re)start at
	behindSince time.Time
	err         error
}

// offer queues m for v, or drops it while v is behind; it reports false
// when v has been cut off. The caller holds s.mu.
func (v *Viewer) offer(m *Message, now time.Time) bool {
	if v.err != nil {
		return false
	}
	if m.Init {
		// A new decoder configuration: it starts at its first keyframe.
		v.skipping = true
		return v.push(m, now)
	}
	if v.skipping {
		if !m.Keyframe {
			return v.checkBehind(now)
		}
		if cur := v.s.kept[v.variant].init; cur != nil && v.init != cur {
			if !v.push(cur, now) {
				return v.checkBehind(now)
			}
		}
		v.skipping = false
	}
	if !v.push(m, now) {
		v.skipping = true
		return v.checkBehind(now)
	}
	return true
}

// push appends m to the queue if it fits; the caller holds s.mu.
func (v *Viewer) push(m *Message, now time.Time) bool {
	if len(v.queue) >= maxViewerMessages || v.bytes+len(m.Data) > MaxViewerBytes {
		if v.behindSince.IsZero() {
			v.behindSince = now
		}
		return false
	}
	v.queue = append(v.queue, m)
	v.bytes += len(m.Data)
	if m.Init {
		v.init = m
	} else {
		v.behindSince = time.Time{}
	}
	select {
	case v.signal <- struct{}{}:
	default:
	}
	return true
}

func (v *Viewer) checkBehind(now time.Time) bool {
	if !v.behindSince.IsZero() && now.Sub(v.behindSince) > MaxBehind {
		v.end(ErrCutOff)
		return false
	}
	return true
}

// end closes v with err; the caller holds s.mu.
func (v *Viewer) end(err error) {
	if v.err == nil {
		v.err = err
		v.queue, v.bytes = nil, 0
		select {
		case v.signal <- struct{}{}:
		default:
		}
	}
}

// Next returns the next message, waiting until there is one, done closes,
// or the viewer ends (ErrCutOff, ErrClosed).
func (v *Viewer) Next(done <-chan struct{}) (*Message, error) {
	for {
		v.s.mu.Lock()
		if len(v.queue) > 0 {
			m := v.queue[0]
			v.queue[0] = nil
			v.queue = v.queue[1:]
			v.bytes -= len(m.Data)
			v.s.mu.Unlock()
			return m, nil
		}
		if v.err != nil {
			err := v.err
			v.s.mu.Unlock()
			return nil, err
		}
		v.s.mu.Unlock()
		select {
		case <-v.signal:
		case <-done:
			return nil, errDone
		}
	}
}

var errDone = errors.New("live: done")

// Close removes the viewer from its stream and frees its queue.
func (v *Viewer) Close() {
	v.s.mu.Lock()
	was := v.s.remove(v)
	v.end(ErrClosed)
	v.s.mu.Unlock()
	if was {
		v.s.poke() // the muxer may stop
		v.s.notify()
	}
}
