package recorder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/recorder/video"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/ticks"
)

// storeTimeout bounds each call to the index: finalising a segment must
// finish even when the job is being cancelled, but never hang on a stuck
// database.
const storeTimeout = 10 * time.Second

// segmenter is the disk side of a session: it owns the open segment and
// the run's timeline, and is driven by one goroutine (segmenter.run). All
// it needs from outside is in its segmenterDeps, so it can be built and
// tested without a Job.
type segmenter struct {
	d        segmenterDeps
	segDur   int64 // 90 kHz
	firstDur int64 // 90 kHz: the first segment of a run (segmentPhase)
	fsyncDur int64 // 90 kHz
	fragDur  int64 // 90 kHz

	// prevEndNS is the latest wall end the camera's footage may reach:
	// no run is anchored before it.
	prevEndNS int64

	// The run (docs/time.md): continuous media time with one anchor.
	inRun       bool
	runID       int64 // the run's anchor (wall ns): unique per camera, groups its segments
	runEndDTS   int64 // end DTS of the run's last closed segment
	runEndNS    int64 // its wall end
	haveLast    bool
	lastDTS     int64
	lastDelta   int64
	lastArrival int64
	written90k  int64 // media written in this session, for "healthy"

	seg *openSegment

	// Audio: the format frames arrive in now, a cut asked for at the next
	// keyframe (the format changed, or it came after the segment opened),
	// and the recent frames kept to carry into the next segment (the
	// writer drops what plays past a segment's end).
	aFormat  *audio.Format
	audioCut bool
	aHeld    []heldAudio
}

// maxHeldAudio bounds the audio frames kept for the next segment: ten
// seconds of 20 ms frames. Audio that flows while the video stalls is
// dropped from the front, never held without limit.
const maxHeldAudio = 512

// heldAudio is an audio frame kept for the next segment.
type heldAudio struct {
	t90  int64 // its time on the video's 90 kHz timeline
	s    fmp4.AudioSample
	size int
}

// audioSegmentWriter is a SegmentWriter that takes audio (*fmp4.Writer).
type audioSegmentWriter interface {
	WriteAudio(fmp4.AudioSample) error
}

// segmenterDeps are a segmenter's settings, its collaborators and where
// it reports what happens. The job fills them from its Config and Deps
// (Job.segmenterDeps).
type segmenterDeps struct {
	Camera                                           string
	Stream                                           string // storage.StreamMain or StreamSub ("": main)
	SegmentDuration, FragmentDuration, FsyncInterval time.Duration

	Store     SegmentStore
	NewWriter NewWriterFunc
	Scan      ScanFunc

	// Audio is the session's audio format when it is known at the start
	// (nil: no audio, or an in-band LATM config not seen yet).
	Audio *audio.Format

	// PrevEndNS is the wall end of the camera's last segment: the first
	// run is anchored no earlier.
	PrevEndNS int64
	Report    segmenterReport
}

// segmenterReport receives what happens in a segmenter, on its goroutine
// (*Job implements it: counters and Status).
type segmenterReport interface {
	frameDropped()                // an access unit was not written
	frameWritten(keyframe bool)   // an access unit was written
	timeJump()                    // the camera's timeline broke (R15)
	paramsRejected(err error)     // a keyframe's parameter sets are unusable
	runStarted(startNS int64)     // a run was anchored at startNS
	segmentOpened(p video.Params) // a segment with parameter sets p began
	segmentFinished()             // a segment was finalised in the index
	audioDropped()                // an audio frame was not written
	footageUntil(endNS int64)     // footage may now reach endNS: never anchor before it
}

// openSegment is the segment being written.
type openSegment struct {
	row       storage.Segment
	file      SegmentFile
	w         SegmentWriter
	params    *paramSet
	audio     *audio.Format // the segment's audio track, nil for none
	startDTS  int64
	target    int64 // 90 kHz: cut at the first keyframe this far after startDTS
	startCTO  int64 // PTS - DTS of the first frame (the B-frame delay)
	maxPTS    int64 // latest presentation time written
	frames    int64
	keyframes int64
	syncDTS   int64           // DTS of the last periodic sync
	synced    storage.Segment // the row as of the last successful fsync
}

func newSegmenter(d segmenterDeps) *segmenter {
	segDur := ticks.FromDuration(d.SegmentDuration)
	return &segmenter{
		d:         d,
		segDur:    segDur,
		firstDur:  segDur - segmentPhase(d.Camera, segDur),
		fsyncDur:  ticks.FromDuration(d.FsyncInterval),
		fragDur:   ticks.FromDuration(d.FragmentDuration),
		prevEndNS: d.PrevEndNS,
		aFormat:   d.Audio,
	}
}

// segmentPhase is how much shorter than segDur the first segment of a
// camera's run is: a fixed fraction of segDur in [0, segDur) taken from a
// hash of the camera id. Cameras started together (nvr serve starting,
// a switch coming back) would otherwise close their segments in the same
// instant for as long as they run, and their index commits and fsyncs
// would queue behind each other (issue 12: at 100 cameras on a busy
// machine a commit waited over a second and queues overflowed). With a
// phase per camera the cuts are spread over the whole segment duration
// and stay spread, since later segments keep the run's length.
func segmentPhase(camera string, segDur int64) int64 {
	if segDur <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(camera))
	return int64(h.Sum64() % uint64(segDur))
}

// storeCtx is the context for index calls: it ignores the job's
// cancellation (the segment must still be finalised) but is bounded.
func storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), storeTimeout)
}

// run writes every queued access unit until the queue is closed, then
// finalises the open segment. On the first error it finalises what it can
// and returns the error; the caller ends the session.
//
// One access unit is held back so that a picture split into several
// access units with one timestamp (an encoder that sets the RTP marker bit
// on every slice, against RFC 6184 §5.1) is written as one sample instead
// of breaking the timeline.
func (s *segmenter) run(q *auQueue) error {
	var held *auItem
	flush := func() error {
		if held == nil {
			return nil
		}
		err := s.handle(held)
		q.release(held)
		held = nil
		return err
	}
	for it := range q.ch {
		if it.audio != nil {
			s.handleAudio(it)
			q.release(it)
			continue
		}
		if held != nil && it.dts == held.dts && it.params == held.params {
			if !held.absorb(it) {
				s.d.Report.frameDropped()
			}
			q.release(it)
			continue
		}
		if err := flush(); err != nil {
			q.release(it)
			return err
		}
		held = it
	}
	if err := flush(); err != nil {
		return err
	}
	return s.endRun()
}

// handle writes one access unit, opening and closing segments around it.
func (s *segmenter) handle(it *auItem) error {
	if s.haveLast {
		delta := it.dts - s.lastDTS
		if delta <= 0 || delta > maxForwardJump90k {
			// R15: the camera's timeline broke (clock reset, backward
			// step): close what we have, and re-anchor a new run.
			s.d.Report.timeJump()
			if err := s.endRun(); err != nil {
				return err
			}
		}
	}
	if s.seg != nil {
		switch {
		case s.seg.params != it.params && !sameParams(s.seg.params, it.params):
			// R18: new parameter sets need a new init segment.
			if err := s.closeSegment(it.dts, it.arrivalNS); err != nil {
				return err
			}
		case it.keyframe && (it.dts-s.seg.startDTS >= s.seg.target || s.audioCut):
			if err := s.closeSegment(it.dts, it.arrivalNS); err != nil {
				return err
			}
		}
	}
	s.pruneAudio(it.dts)
	if s.seg == nil {
		if !it.keyframe {
			// A segment starts on a keyframe; what comes before it
			// cannot be decoded on its own.
			s.d.Report.frameDropped()
			s.noteFrame(it)
			return nil
		}
		if err := s.openSegment(it); err != nil {
			if errors.Is(err, errBadParams) {
				s.d.Report.frameDropped()
				s.noteFrame(it)
				return nil
			}
			return err
		}
	}
	seg := s.seg
	if err := seg.w.WriteSample(fmp4.Sample{NALUs: it.nalus, DTS: it.dts, PTS: it.pts, Keyframe: it.keyframe}); err != nil {
		return s.abandonAfterWriteError(fmt.Errorf("write sample: %w", err))
	}
	seg.frames++
	seg.maxPTS = max(seg.maxPTS, it.pts)
	s.d.Report.frameWritten(it.keyframe)
	if it.keyframe {
		seg.keyframes++
	}
	if s.haveLast && it.dts > s.lastDTS {
		s.written90k += it.dts - s.lastDTS
	}
	s.noteFrame(it)
	if it.dts-seg.syncDTS >= s.fsyncDur {
		if err := s.syncSegment(it.dts); err != nil {
			return err
		}
	}
	return nil
}

// noteFrame remembers the last frame seen in the run.
func (s *segmenter) noteFrame(it *auItem) {
	if s.haveLast && it.dts > s.lastDTS && it.dts-s.lastDTS <= maxForwardJump90k {
		s.lastDelta = it.dts - s.lastDTS
	}
	s.haveLast = true
	s.lastDTS = it.dts
	s.lastArrival = it.arrivalNS
}

func sameParams(a, b *paramSet) bool {
	return a != nil && b != nil && bytes.Equal(a.vps, b.vps) && bytes.Equal(a.sps, b.sps) && bytes.Equal(a.pps, b.pps)
}

// errBadParams: the parameter sets cannot describe a track; the frame is
// dropped and the next keyframe tried.
var errBadParams = errors.New("unusable parameter sets")

// openSegment starts a segment at keyframe it: its wall start follows the
// run's timeline, or anchors a new run (docs/time.md).
func (s *segmenter) openSegment(it *auItem) error {
	if it.params.parsed == nil {
		s.d.Report.paramsRejected(errBadParams)
		return errBadParams
	}
	p := *it.params.parsed
	var startNS int64
	target := s.segDur
	if s.inRun {
		startNS = s.runEndNS + ticks.ToNS(it.dts-s.runEndDTS)
	} else {
		// Anchor at the first frame's arrival, but never before the
		// previous segment's end: no overlap even after a clock step.
		startNS = max(it.arrivalNS, s.prevEndNS)
		s.inRun = true
		s.runID = startNS
		s.runEndDTS, s.runEndNS = it.dts, startNS
		target = s.firstDur
		s.d.Report.runStarted(startNS)
	}
	codecs := p.Codec
	if s.aFormat != nil {
		codecs += "," + s.aFormat.Codec // video first (storage.Segment.Codecs)
	}
	row := storage.Segment{
		Camera:  s.d.Camera,
		Stream:  s.d.Stream,
		RunID:   s.runID,
		StartNS: startNS,
		EndNS:   startNS,
		Path:    storage.StreamSegmentPath(s.d.Camera, s.d.Stream, time.Unix(0, startNS).UTC()),
		Codecs:  codecs,
		Width:   p.Width,
		Height:  p.Height,
		State:   storage.StateRecording,
	}
	ctx, cancel := storeCtx()
	f, err := s.d.Store.CreateSegment(ctx, row)
	cancel()
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	row.ID = f.ID()
	seg := &openSegment{
		row: row, file: f, params: it.params, audio: s.aFormat,
		startDTS: it.dts, target: target, startCTO: it.pts - it.dts, maxPTS: it.pts, syncDTS: it.dts, synced: row,
	}
	s.seg = seg
	s.d.Report.segmentOpened(p)
	// The pixel aspect ratio goes into the file too: anamorphic sub
	// streams without one in their SPS (Hikvision DS-2CD2032-I) would
	// otherwise play stretched.
	tp := p.Track()
	opts := fmp4.WriterOptions{FragmentDuration: s.fragDur}
	if seg.audio != nil {
		opts.Audio = audioParams(seg.audio)
	}
	w, err := s.d.NewWriter(seg.file, tp, opts)
	if err != nil {
		return s.abandonAfterWriteError(fmt.Errorf("start segment: %w", err))
	}
	seg.w = w
	s.audioCut = false
	if _, ok := w.(audioSegmentWriter); !ok {
		seg.audio = nil
	}
	// The audio that plays from this segment's start on, kept from the
	// last one (or from before the first keyframe).
	for _, h := range s.aHeld {
		s.writeAudio(h.s)
	}
	return nil
}

// handleAudio takes one audio frame: it is kept for the next segment and
// written to the open one when that records its format. A new format
// (a changed in-band LATM config, or the first one) cuts the segment at
// the next keyframe, since the audio sample entry is in the init segment.
func (s *segmenter) handleAudio(it *auItem) {
	if it.audio != s.aFormat {
		s.aFormat = it.audio
		s.dropHeldAudio(len(s.aHeld))
	}
	if s.seg != nil && s.seg.audio != s.aFormat {
		s.audioCut = true
	}
	rate := int64(it.audio.ClockRate)
	if rate <= 0 || it.dur <= 0 {
		s.d.Report.audioDropped()
		return
	}
	smp := fmp4.AudioSample{DTS: it.pts, Duration: it.dur, Data: it.data}
	if len(s.aHeld) == maxHeldAudio {
		s.dropHeldAudio(1)
	}
	// The held copy reuses the buffer of the frame it replaces.
	var h heldAudio
	if n := len(s.aHeld); n < cap(s.aHeld) {
		h = s.aHeld[:n+1][n]
	}
	buf := h.s.Data // (h.s = smp would put the queue item's buffer there)
	h.t90 = ticks.FromTimescale(it.pts, uint32(rate))
	h.s = smp
	h.s.Data = append(buf[:0], it.data...)
	h.size = len(it.data)
	s.aHeld = append(s.aHeld, h)
	if s.seg != nil && s.seg.audio == s.aFormat {
		s.writeAudio(smp)
	}
}

// writeAudio hands an audio sample to the open segment; a sample it
// refuses (out of order, a jump) is counted, never fatal to the video.
func (s *segmenter) writeAudio(smp fmp4.AudioSample) {
	aw, ok := s.seg.w.(audioSegmentWriter)
	if !ok {
		return
	}
	if err := aw.WriteAudio(smp); err != nil {
		s.d.Report.audioDropped()
	}
}

// pruneAudio forgets held audio that plays before dts: no later segment
// starts before it.
func (s *segmenter) pruneAudio(dts int64) {
	n := 0
	for n < len(s.aHeld) && s.aHeld[n].t90 < dts {
		n++
	}
	s.dropHeldAudio(n)
}

// dropHeldAudio forgets the first n held frames. It rotates them to the
// end, past the length (three reversals: one pass, whatever n), so that
// their buffers are reused and no two entries ever share one.
func (s *segmenter) dropHeldAudio(n int) {
	if n <= 0 {
		return
	}
	h := s.aHeld
	slices.Reverse(h[:n])
	slices.Reverse(h[n:])
	slices.Reverse(h)
	s.aHeld = h[:len(h)-n]
}

// syncSegment makes the open segment durable up to the frame before dts
// (the segment writer holds back the last sample) and reports progress.
func (s *segmenter) syncSegment(dts int64) error {
	seg := s.seg
	seg.syncDTS = dts
	if err := seg.w.Flush(); err != nil {
		return s.abandonAfterWriteError(fmt.Errorf("flush: %w", err))
	}
	if err := seg.file.Sync(); err != nil {
		return s.abandonAfterSyncError(err)
	}
	row := seg.row
	row.EndNS = row.StartNS + ticks.ToNS(dts-seg.startDTS)
	row.Bytes = seg.file.Synced()
	row.Frames = seg.frames - 1 // the held-back sample is not on disk yet
	row.Keyframes = seg.keyframes
	seg.synced = row
	ctx, cancel := storeCtx()
	err := seg.file.Update(ctx, row)
	cancel()
	if err != nil {
		return fmt.Errorf("update segment: %w", err)
	}
	return nil
}

// endRun closes the open segment at the end of the last frame and ends
// the run; the next keyframe anchors a new one.
func (s *segmenter) endRun() error {
	var err error
	if s.seg != nil {
		delta := s.lastDelta
		if delta <= 0 {
			delta = defaultFrame90k
		}
		end := s.lastDTS + delta
		// A session cut between a reference frame and the B-frames shown
		// before it leaves that frame shown after the last decode slot:
		// the segment is extended (its last frame held longer) so that
		// everything it shows lies inside its indexed span.
		if pe := s.seg.maxPTS + delta - s.seg.startCTO; pe > end {
			end = pe
		}
		err = s.closeSegment(end, s.lastArrival+ticks.ToNS(end-s.lastDTS))
	}
	s.inRun = false
	s.haveLast = false
	s.lastDelta = 0
	return err
}

// closeSegment finishes the open segment at endDTS (the first DTS not in
// it), observed on the local clock at observedNS. Order (docs/storage.md):
// write the tail, sync (the file, and its directory if no sync did yet),
// then mark the row complete.
func (s *segmenter) closeSegment(endDTS, observedNS int64) error {
	seg := s.seg
	if err := seg.w.Close(endDTS); err != nil {
		return s.abandonAfterWriteError(fmt.Errorf("close segment: %w", err))
	}
	if err := seg.file.Sync(); err != nil {
		return s.abandonAfterSyncError(err)
	}
	row := seg.row
	row.EndNS = slewedEnd(row.StartNS, endDTS-seg.startDTS, observedNS)
	row.Bytes = seg.file.Synced()
	row.Frames = seg.frames
	row.Keyframes = seg.keyframes
	row.State = storage.StateComplete
	s.runEndDTS, s.runEndNS = endDTS, row.EndNS
	return s.finish(row, nil)
}

// finish marks the row complete (the file has been synced) and closes
// the file; cause is the error that ended the segment early, if any, and
// is returned joined with any error of finishing.
func (s *segmenter) finish(row storage.Segment, cause error) error {
	seg := s.seg
	s.seg = nil
	row.State = storage.StateComplete
	var errs []error
	if cause != nil {
		errs = append(errs, cause)
	}
	ctx, cancel := storeCtx()
	err := seg.file.Finish(ctx, row)
	cancel()
	if err != nil {
		errs = append(errs, fmt.Errorf("finish segment: %w", err))
	}
	s.noRunBefore(row.EndNS)
	s.d.Report.segmentFinished()
	return errors.Join(errs...)
}

// abandonAfterWriteError handles a failed write (F5, e.g. ENOSPC): the
// torn bytes of the fragment in progress are cut off, the file is read
// back to learn what it holds, and the row is finalised with that. The
// run ends; the job backs off and starts a new segment.
func (s *segmenter) abandonAfterWriteError(cause error) error {
	cause = fmt.Errorf("%w: %w", ErrWrite, cause)
	seg := s.seg
	row := seg.row
	row.EndNS = row.StartNS
	row.Bytes, row.Frames, row.Keyframes = 0, 0, 0
	// What the complete writes hold, up to the last fragment that scans
	// whole: the file is cut back there (once) and synced.
	keep := seg.file.Written()
	if info, err := s.d.Scan(seg.file, keep); err == nil && info != nil {
		row.Bytes = info.ValidSize
		row.Frames = int64(len(info.Samples))
		row.Keyframes = int64(info.Keyframes)
		row.EndNS = row.StartNS + ticks.ToNS(info.Duration)
		keep = info.ValidSize
	}
	if err := seg.file.CutBack(keep); err != nil {
		cause = errors.Join(cause, err)
	}
	if err := seg.file.Sync(); err != nil {
		return s.abandonAfterSyncError(errors.Join(cause, err))
	}
	s.inRun = false
	s.haveLast = false
	return s.finish(row, cause)
}

// abandonAfterSyncError handles a failed fsync (F7). After an fsync error
// Linux may already have dropped the dirty pages and reports the error
// once only, so a second fsync proves nothing (moonfire-nvr writer.rs,
// PostgreSQL's "fsyncgate"): the segment is abandoned and nothing is
// retried (the segment file refuses to sync again). The row is not finished: it
// stays in state recording with the progress of the last successful
// sync, and the start-up recovery (storage.Recover) scans the file, cuts
// any torn tail and finalises it from what really reached the disk. The
// job backs off and starts a new segment in a new run.
func (s *segmenter) abandonAfterSyncError(cause error) error {
	if !errors.Is(cause, ErrSync) {
		cause = fmt.Errorf("%w: %w", ErrSync, cause)
	}
	seg := s.seg
	s.seg = nil
	if err := seg.file.Abandon(); err != nil {
		cause = errors.Join(cause, err)
	}
	// Recovery may find up to everything written, so the next run must
	// not start before the end of the frames handed to the writer.
	end := seg.synced.EndNS
	if s.haveLast {
		delta := max(s.lastDelta, defaultFrame90k)
		end = max(end, seg.row.StartNS+ticks.ToNS(s.lastDTS+delta-seg.startDTS))
	}
	s.noRunBefore(slewCeiling(end, seg.row.StartNS))
	s.inRun = false
	s.haveLast = false
	return cause
}

// noRunBefore records that the camera's footage may reach endNS, so no
// later run is anchored before it.
func (s *segmenter) noRunBefore(endNS int64) {
	s.prevEndNS = max(s.prevEndNS, endNS)
	s.d.Report.footageUntil(endNS)
}

// slewCeiling widens a wall end by the most the slew could have added to
// the span [startNS, endNS), for a bound that a recovered end cannot pass.
func slewCeiling(endNS, startNS int64) int64 {
	return endNS + max(endNS-startNS, 0)/slewDivisor
}
