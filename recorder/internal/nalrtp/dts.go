package nalrtp

import "fmt"

// maxReorder is the deepest B-frame reordering we model: H.264 allows at
// most 16 frames in the decoded picture buffer (A.3.1, MaxDpbFrames), and
// H.265 as many (A.4.2, MaxDpbSize).
const maxReorder = 16

// dtsTracker derives decode times from presentation times.
//
// The tracker is codec-independent: the codec tells it the reorder depth
// and frame duration its sequence parameter set signals (SetTiming).
//
// Why not mediacommon's DTSExtractor: on our B-frame clip it restarts at
// every IDR with DTS = PTS, which gives two access units the same DTS in
// every GOP (zero-length samples in MP4) and a DTS offset that changes
// from GOP to GOP. This tracker needs no slice parsing:
//
// If pictures are reordered by at most N frames, then after decoding k+1
// pictures, the k+1-N earliest in display order have all been decoded, so
// the (N+1)-th largest PTS seen so far is the PTS of display slot k-N.
// Using it as DTS is strictly increasing, never above the picture's own
// PTS, and a constant N frames behind the true display clock (the way
// ffmpeg guesses DTS for reordered streams). N comes from the SPS
// (H.264 bitstream_restriction max_num_reorder_frames, E.2.1; H.265
// sps_max_num_reorder_pics, 7.4.3.2.1) or is learned when a picture shows
// deeper reordering.
type dtsTracker struct {
	reorder  int                   // N
	top      [maxReorder + 1]int64 // largest PTS values since start, descending
	n        int                   // valid entries of top
	count    int                   // pictures since start
	startPTS int64
	step     int64 // frame duration in 90 kHz ticks from the SPS, or 1
	prev     int64
	have     bool
}

// setTiming takes the reorder depth and frame duration (90 kHz ticks) a
// sequence parameter set signals; out-of-range values fall back to "learn
// the depth" and a duration of one tick.
func (t *dtsTracker) setTiming(reorder int, step int64) {
	t.reorder, t.step = min(max(reorder, 0), maxReorder), 1
	if step >= 1 && step <= 90000 {
		t.step = step
	}
}

// restart begins a new timeline at a keyframe.
func (t *dtsTracker) restart(pts int64) {
	t.n, t.count, t.have = 0, 0, false
	t.startPTS = pts
}

// next returns the DTS of the next picture in decode order.
func (t *dtsTracker) next(pts int64, keyframe bool) (int64, error) {
	if keyframe && (t.count == 0 || pts <= t.top[0]) {
		// An IDR is displayed after everything before it; a PTS that is
		// not is a timestamp jump backwards: start a new timeline and let
		// the recorder judge the jump (R15).
		t.restart(pts)
	}
	t.insert(pts)
	t.count++
	dts := t.candidate()
	if pts < dts {
		// Deeper reordering than we knew: this picture is displayed before
		// `i` pictures decoded earlier.
		i := 0
		for i < t.n && t.top[i] > pts {
			i++
		}
		t.reorder = max(t.reorder, min(i, maxReorder))
		dts = t.candidate()
	}
	if t.have && dts <= t.prev {
		// After N grew the candidate falls back; creep forward until it
		// catches up.
		dts = t.prev + 1
	}
	if dts > pts {
		return 0, fmt.Errorf("picture at PTS %d reorders deeper than its predecessors allowed (DTS %d)", pts, dts)
	}
	t.prev, t.have = dts, true
	return dts, nil
}

// candidate is the (N+1)-th largest PTS, or, for the first N pictures of a
// timeline, the start extrapolated back by one frame per missing picture.
func (t *dtsTracker) candidate() int64 {
	if t.count > t.reorder && t.n > t.reorder {
		return t.top[t.reorder]
	}
	return t.startPTS - int64(t.reorder-(t.count-1))*t.step
}

// insert keeps top sorted descending with the largest values seen.
func (t *dtsTracker) insert(pts int64) {
	i := t.n
	if i == len(t.top) {
		if pts <= t.top[i-1] {
			return
		}
		i--
	} else {
		t.n++
	}
	for i > 0 && t.top[i-1] < pts {
		t.top[i] = t.top[i-1]
		i--
	}
	t.top[i] = pts
}
