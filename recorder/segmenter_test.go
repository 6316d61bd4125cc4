package recorder

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/video"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/ticks"
)

// feedClip pushes a clip (looped) into s with a perfect local clock: each
// frame arrives at t0 + its media time. It returns the frames fed and the
// DTS after the last one.
func feedClip(t *testing.T, s *segmenter, c *testcam.Clip, loops int, dtsBase int64, wallBase time.Time) (int, int64) {
	t.Helper()
	ps := clipParams(t, c)
	n := 0
	first := c.Frames[0].DTS
	for l := 0; l < loops; l++ {
		off := dtsBase - first + int64(l)*c.Duration
		for _, f := range c.Frames {
			it := item(f, ps, off, wallBase.Add(time.Duration(ticks.ToNS(f.DTS+off-dtsBase))))
			if err := s.handle(it); err != nil {
				t.Fatalf("frame %d: %v", n, err)
			}
			n++
		}
	}
	return n, dtsBase + int64(loops)*c.Duration
}

// checkSegments verifies the invariants every recording must keep: each
// segment starts on a keyframe, segments abut in media and wall time,
// rows match files, and frame counts add up.
func checkSegments(t *testing.T, env *testEnv, wantFrames int) {
	t.Helper()
	segs, ends := env.log.all()
	rows := env.store.segments()
	if len(rows) != len(segs) {
		t.Fatalf("%d rows, %d writers", len(rows), len(segs))
	}
	total := 0
	for i, r := range rows {
		if r.State != storage.StateComplete {
			t.Errorf("segment %d: state %q", i, r.State)
		}
		if len(segs[i]) == 0 || !segs[i][0].key {
			t.Errorf("segment %d does not start with a keyframe", i)
		}
		if r.EndNS <= r.StartNS {
			t.Errorf("segment %d: end %d <= start %d", i, r.EndNS, r.StartNS)
		}
		if int(r.Frames) != len(segs[i]) {
			t.Errorf("segment %d: row frames %d, written %d", i, r.Frames, len(segs[i]))
		}
		total += len(segs[i])
		fi, err := os.Stat(env.store.path(r.ID))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != r.Bytes {
			t.Errorf("segment %d: row bytes %d, file %d", i, r.Bytes, fi.Size())
		}
		f, err := os.Open(env.store.path(r.ID))
		if err != nil {
			t.Fatal(err)
		}
		info, err := fakeScan(f, fi.Size())
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Samples) != len(segs[i]) || info.ValidSize != fi.Size() {
			t.Errorf("segment %d: file holds %d samples (valid %d of %d), wrote %d", i, len(info.Samples), info.ValidSize, fi.Size(), len(segs[i]))
		}
		media := ends[i] - segs[i][0].dts
		if info.Duration != media {
			t.Errorf("segment %d: file duration %d, media %d", i, info.Duration, media)
		}
		wall := r.EndNS - r.StartNS
		if d := wall - ticks.ToNS(media); d > ticks.ToNS(media)/slewDivisor || -d > ticks.ToNS(media)/slewDivisor {
			t.Errorf("segment %d: wall %d ns vs media %d ns: slew beyond 0.5%%", i, wall, ticks.ToNS(media))
		}
		if i > 0 {
			if segs[i][0].dts == ends[i-1] && r.StartNS != rows[i-1].EndNS {
				t.Errorf("segment %d: start %d != previous end %d", i, r.StartNS, rows[i-1].EndNS)
			}
			if r.StartNS < rows[i-1].EndNS {
				t.Errorf("segment %d overlaps the previous one", i)
			}
		}
	}
	if total != wantFrames {
		t.Errorf("frames written %d, want %d", total, wantFrames)
	}
	if got := env.job.Status().Frames; got != uint64(wantFrames) {
		t.Errorf("Status.Frames %d, want %d", got, wantFrames)
	}
	if got := env.job.Status().SegmentsWritten; got != uint64(len(rows)) {
		t.Errorf("Status.SegmentsWritten %d, want %d", got, len(rows))
	}
}

func TestSegmentsFromClips(t *testing.T) {
	cases := []struct {
		clip   string
		loops  int
		segDur time.Duration
		width  int
		gop    int64 // 90 kHz
	}{
		{testcam.ClipMain720, 3, 3 * time.Second, 1280, 2 * 90000},
		{testcam.ClipMain720, 2, 60 * time.Second, 1280, 2 * 90000},
		{testcam.ClipHigh360BFrame, 4, 2 * time.Second, 640, 90000},
		{testcam.ClipBase240, 6, 1500 * time.Millisecond, 320, 90000},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%v", tc.clip, tc.segDur), func(t *testing.T) {
			c := loadClip(t, tc.clip)
			env := newTestEnv(t, Config{SegmentDuration: tc.segDur, FsyncInterval: time.Hour}, nil)
			s := newSegmenter(env.job.segmenterDeps())
			n, _ := feedClip(t, s, c, tc.loops, 0, t0)
			if err := s.endRun(); err != nil {
				t.Fatal(err)
			}
			checkSegments(t, env, n)
			segs, ends := env.log.all()
			segDur := ticks.FromNS(int64(tc.segDur))
			for i := range segs {
				d := ends[i] - segs[i][0].dts
				// The first segment of a run is shortened by the
				// camera's phase, which spreads the cuts of many cameras.
				want := segDur
				if i == 0 {
					want = segDur - segmentPhase(env.job.cfg.Camera, segDur)
				}
				if i < len(segs)-1 && (d < want || d >= want+tc.gop) {
					t.Errorf("segment %d: %d ticks, want [%d, %d)", i, d, want, want+tc.gop)
				}
				if i > 0 && segs[i][0].dts != ends[i-1] {
					t.Errorf("segment %d starts at DTS %d, previous ended at %d", i, segs[i][0].dts, ends[i-1])
				}
			}
			rows := env.store.segments()
			if rows[0].StartNS != t0.UnixNano() {
				t.Errorf("first segment starts %d, want the first frame's arrival %d", rows[0].StartNS, t0.UnixNano())
			}
			if rows[0].Width != tc.width || rows[0].Codecs == "" {
				t.Errorf("row params %dx%d %q", rows[0].Width, rows[0].Height, rows[0].Codecs)
			}
			if st := env.job.Status(); st.Width != tc.width {
				t.Errorf("Status.Width %d", st.Width)
			}
		})
	}
}

// R18: an SPS/PPS change closes the segment and opens one with the new
// parameters, abutting the previous one.
func TestParamsChangeStartsSegment(t *testing.T) {
	env := newTestEnv(t, Config{SegmentDuration: time.Minute, FsyncInterval: time.Hour}, nil)
	s := newSegmenter(env.job.segmenterDeps())
	main := loadClip(t, testcam.ClipMain720)
	base := loadClip(t, testcam.ClipBase240)
	n1, next := feedClip(t, s, main, 1, 0, t0)
	n2, _ := feedClip(t, s, base, 1, next, t0.Add(time.Duration(ticks.ToNS(next))))
	if err := s.endRun(); err != nil {
		t.Fatal(err)
	}
	checkSegments(t, env, n1+n2)
	rows := env.store.segments()
	if len(rows) != 2 {
		t.Fatalf("%d segments, want 2", len(rows))
	}
	if rows[0].Width != 1280 || rows[1].Width != 320 || rows[1].Height != 240 {
		t.Errorf("sizes %dx%d then %dx%d", rows[0].Width, rows[0].Height, rows[1].Width, rows[1].Height)
	}
	if rows[1].StartNS != rows[0].EndNS {
		t.Errorf("not abutting: %d then %d", rows[0].EndNS, rows[1].StartNS)
	}
}

// R15: a DTS jump of more than 10 s forward, or any step backwards, closes
// the segment and starts a new run anchored on the local clock.
func TestTimeJumpStartsNewRun(t *testing.T) {
	cases := []struct {
		name string
		jump int64 // 90 kHz, added to the second part's DTS
		gap  time.Duration
	}{
		{"forward 20s", 20 * 90000, 0},
		{"backward 30s", -30 * 90000, 0},
		{"backward to same", -3600, time.Second},
		{"forward 9s is continuous", 9 * 90000, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, Config{SegmentDuration: time.Minute, FsyncInterval: time.Hour}, nil)
			s := newSegmenter(env.job.segmenterDeps())
			c := loadClip(t, testcam.ClipBase240)
			n1, next := feedClip(t, s, c, 1, 0, t0)
			wall2 := t0.Add(time.Duration(ticks.ToNS(next))).Add(max(tc.gap, 0))
			n2, _ := feedClip(t, s, c, 1, next+tc.jump, wall2)
			if err := s.endRun(); err != nil {
				t.Fatal(err)
			}
			rows := env.store.segments()
			if tc.gap < 0 {
				if len(rows) != 1 || env.job.Status().TimeJumps != 0 {
					t.Fatalf("%d segments, %d jumps; want one continuous segment", len(rows), env.job.Status().TimeJumps)
				}
				checkSegments(t, env, n1+n2)
				return
			}
			checkSegments(t, env, n1+n2)
			if len(rows) != 2 || env.job.Status().TimeJumps != 1 {
				t.Fatalf("%d segments, %d jumps; want 2 and 1", len(rows), env.job.Status().TimeJumps)
			}
			want := max(wall2.UnixNano(), rows[0].EndNS)
			if rows[1].StartNS != want {
				t.Errorf("new run anchored at %d, want %d", rows[1].StartNS, want)
			}
		})
	}
}

// syncCounter counts fsyncs and fails the failAt-th one (1-based).
type syncCounter struct {
	calls  int
	failAt int
}

func (c *syncCounter) sync(f *os.File) error {
	c.calls++
	if c.calls == c.failAt {
		return syscall.EIO
	}
	return f.Sync()
}

// Durability: the open segment is flushed, fsynced and its row updated
// every FsyncInterval of media time.
func TestPeriodicSync(t *testing.T) {
	env := newTestEnv(t, Config{SegmentDuration: time.Minute, FsyncInterval: time.Second}, nil)
	sc := &syncCounter{}
	env.store.sync = sc.sync
	s := newSegmenter(env.job.segmenterDeps())
	c := loadClip(t, testcam.ClipMain720) // 4 s
	n, _ := feedClip(t, s, c, 1, 0, t0)
	ups := env.store.updates
	if len(ups) < 3 {
		t.Fatalf("%d progress updates for 4 s at a 1 s interval", len(ups))
	}
	for i, u := range ups {
		if u.State != storage.StateRecording {
			t.Errorf("update %d: state %q", i, u.State)
		}
		fi, _ := os.Stat(env.store.path(u.ID))
		if u.Bytes > fi.Size() || u.Bytes <= int64(len(fakeHeader)) {
			t.Errorf("update %d: %d bytes, file has %d", i, u.Bytes, fi.Size())
		}
		if i > 0 && (u.EndNS <= ups[i-1].EndNS || u.Frames <= ups[i-1].Frames || u.Bytes <= ups[i-1].Bytes) {
			t.Errorf("update %d does not grow: %+v after %+v", i, u, ups[i-1])
		}
	}
	if err := s.endRun(); err != nil {
		t.Fatal(err)
	}
	checkSegments(t, env, n)
	if sc.calls != len(ups)+1 {
		t.Errorf("%d fsyncs for %d updates and a close", sc.calls, len(ups))
	}
}

// F5: a write that fails half way (disk full) leaves the segment cut back
// to its last complete fragment, with a row that says exactly that.
func TestWriteErrorTruncatesToLastFragment(t *testing.T) {
	for _, failWrite := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("write%d", failWrite), func(t *testing.T) {
			env := newTestEnv(t, Config{SegmentDuration: time.Minute, FsyncInterval: time.Hour}, nil)
			writes := 0
			env.store.write = func(f *os.File, p []byte) (int, error) {
				writes++
				if writes > failWrite {
					n, _ := f.Write(p[:len(p)/2]) // torn: half the fragment reached the file
					return n, syscall.ENOSPC
				}
				return f.Write(p)
			}
			s := newSegmenter(env.job.segmenterDeps())
			c := loadClip(t, testcam.ClipMain720)
			var err error
			for i, f := range c.Frames {
				if err = s.handle(item(f, clipParams(t, c), 0, t0.Add(time.Duration(i)*40*time.Millisecond))); err != nil {
					break
				}
			}
			if !errors.Is(err, ErrWrite) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("error %v, want ErrWrite wrapping ENOSPC", err)
			}
			rows := env.store.segments()
			if len(rows) != 1 || rows[0].State != storage.StateComplete {
				t.Fatalf("rows %+v", rows)
			}
			r := rows[0]
			fi, _ := os.Stat(env.store.path(r.ID))
			f, _ := os.Open(env.store.path(r.ID))
			info, serr := fakeScan(f, fi.Size())
			f.Close()
			if serr != nil {
				t.Fatal(serr)
			}
			if fi.Size() != info.ValidSize || r.Bytes != fi.Size() {
				t.Errorf("file %d bytes, valid %d, row %d: torn tail not cut", fi.Size(), info.ValidSize, r.Bytes)
			}
			if r.Frames != int64(len(info.Samples)) || r.EndNS != r.StartNS+ticks.ToNS(info.Duration) {
				t.Errorf("row frames %d end %d; file has %d samples, %d ticks", r.Frames, r.EndNS-r.StartNS, len(info.Samples), info.Duration)
			}
			if failWrite > 1 && r.Frames == 0 {
				t.Errorf("complete fragments were lost")
			}
			if s.seg != nil || s.inRun {
				t.Errorf("segment still open after a write error")
			}
		})
	}
}

// F7: an fsync error abandons the segment and is not retried: the row is
// left in state recording at its last synced progress (FinishSegment would
// fsync again) for start-up recovery, and the next run cannot overlap what
// recovery may find in the file.
func TestFsyncErrorAbandonsSegment(t *testing.T) {
	for _, failAt := range []int{2, 4} { // a periodic sync; the sync at close
		t.Run(fmt.Sprint(failAt), func(t *testing.T) {
			env := newTestEnv(t, Config{SegmentDuration: time.Minute, FsyncInterval: time.Second}, nil)
			sc := &syncCounter{failAt: failAt}
			env.store.sync = sc.sync
			s := newSegmenter(env.job.segmenterDeps())
			c := loadClip(t, testcam.ClipMain720)
			ps := clipParams(t, c)
			var err error
			handed := c.Frames[0].DTS
			for i, f := range c.Frames {
				handed = f.DTS
				if err = s.handle(item(f, ps, 0, t0.Add(time.Duration(i)*40*time.Millisecond))); err != nil {
					break
				}
			}
			if err == nil {
				err = s.endRun()
			}
			if !errors.Is(err, ErrSync) || !errors.Is(err, syscall.EIO) {
				t.Fatalf("error %v, want ErrSync wrapping EIO", err)
			}
			if sc.calls != failAt {
				t.Errorf("%d fsync calls: a failed fsync must not be retried", sc.calls)
			}
			rows := env.store.segments()
			ups := env.store.updates
			if len(rows) != 1 || len(env.store.finished) != 0 || len(ups) == 0 {
				t.Fatalf("%d rows, %d finished, %d updates", len(rows), len(env.store.finished), len(ups))
			}
			if r, last := rows[0], ups[len(ups)-1]; r != last || r.State != storage.StateRecording {
				t.Errorf("row %+v, want the last synced progress %+v left recording", r, last)
			}
			if s.seg != nil || s.inRun {
				t.Error("segment still open")
			}
			// A new session whose clock reads earlier than the abandoned
			// frames still starts after them.
			s2 := newSegmenter(env.job.segmenterDeps())
			feedClip(t, s2, c, 1, 0, t0)
			if err := s2.endRun(); err != nil {
				t.Fatal(err)
			}
			rows = env.store.segments()
			written := rows[0].StartNS + ticks.ToNS(handed+3600-c.Frames[0].DTS)
			if rows[1].StartNS < written {
				t.Errorf("next run starts at %d, before the abandoned frames end at %d", rows[1].StartNS, written)
			}
		})
	}
}

// Frames before the first keyframe cannot start a segment: they are
// counted as dropped, not written.
func TestWaitsForKeyframe(t *testing.T) {
	env := newTestEnv(t, Config{FsyncInterval: time.Hour}, nil)
	s := newSegmenter(env.job.segmenterDeps())
	c := loadClip(t, testcam.ClipMain720)
	ps := clipParams(t, c)
	skip := 5
	for i, f := range c.Frames[skip:] {
		if i == 0 && f.Keyframe {
			t.Fatal("test needs a non-key first frame")
		}
		if err := s.handle(item(f, ps, 0, t0.Add(time.Duration(i)*40*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.endRun(); err != nil {
		t.Fatal(err)
	}
	firstKey := 0
	for i, f := range c.Frames[skip:] {
		if f.Keyframe {
			firstKey = i
			break
		}
	}
	st := env.job.Status()
	if st.DroppedFrames != uint64(firstKey) || st.Frames != uint64(len(c.Frames)-skip-firstKey) {
		t.Errorf("dropped %d written %d; want %d and %d", st.DroppedFrames, st.Frames, firstKey, len(c.Frames)-skip-firstKey)
	}
}

// "Smart codec" cameras send keyframes far apart (frigate's recordings
// troubleshooting): a segment can only close on a keyframe, so segments
// run to the first keyframe after SegmentDuration, never cut mid-GOP.
func TestSparseKeyframes(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	ps := clipParams(t, c)
	cases := []struct {
		keyEvery90k, segDur90k int64
		wantSeg90k             int64
	}{
		{10 * 90000, 3 * 90000, 10 * 90000},
		{4 * 90000, 9 * 90000, 12 * 90000},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("key%d/seg%d", tc.keyEvery90k/90000, tc.segDur90k/90000), func(t *testing.T) {
			env := newTestEnv(t, Config{SegmentDuration: time.Duration(ticks.ToNS(tc.segDur90k)), FsyncInterval: time.Hour}, nil)
			env.store.devNull = true
			env.store.sync = noSync
			s := newSegmenter(env.job.segmenterDeps())
			nal := []byte{0x41, 1, 2, 3}
			for dts := int64(0); dts < 6*tc.wantSeg90k; dts += 3600 {
				it := &auItem{dts: dts, pts: dts, keyframe: dts%tc.keyEvery90k == 0, params: ps, nalus: [][]byte{nal}, size: len(nal), arrivalNS: t0.Add(time.Duration(ticks.ToNS(dts))).UnixNano()}
				if err := s.handle(it); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.endRun(); err != nil {
				t.Fatal(err)
			}
			segs, ends := env.log.all()
			for i := range segs {
				if !segs[i][0].key {
					t.Errorf("segment %d starts mid-GOP", i)
				}
				want := tc.wantSeg90k
				if i == 0 {
					// The first keyframe at or after the run's shortened
					// first segment (segmentPhase).
					first := tc.segDur90k - segmentPhase(env.job.cfg.Camera, tc.segDur90k)
					want = (first + tc.keyEvery90k - 1) / tc.keyEvery90k * tc.keyEvery90k
				}
				if d := ends[i] - segs[i][0].dts; i < len(segs)-1 && d != want {
					t.Errorf("segment %d: %d ticks, want %d", i, d, want)
				}
			}
		})
	}
}

// A picture whose slices arrive as separate access units with one
// timestamp (marker bit on every slice) is written as one sample, and does
// not count as a timeline break.
func TestSameTimestampAccessUnitsMerged(t *testing.T) {
	env := newTestEnv(t, Config{FsyncInterval: time.Hour}, nil)
	s := newSegmenter(env.job.segmenterDeps())
	c := loadClip(t, testcam.ClipBase240)
	q := newQueue(&env.job.droppedFrames)
	var want []int // sample sizes
	params := clipParams(t, c).parsed
	for i, f := range c.Frames {
		size := 0
		for _, n := range f.NALUs {
			size += len(n)
		}
		want = append(want, size)
		au := &video.AccessUnit{NALUs: f.NALUs, DTS: f.DTS, PTS: f.PTS, Keyframe: f.Keyframe, SPS: c.SPS, PPS: c.PPS, Params: params}
		if i%3 == 0 && len(f.NALUs) > 1 {
			// Split into one access unit per NAL unit, keyframe flag on
			// the last part only, as a slice-per-packet encoder would.
			for k, n := range f.NALUs {
				part := *au
				part.NALUs = [][]byte{n}
				part.Keyframe = f.Keyframe && k == len(f.NALUs)-1
				q.push(&part, t0.UnixNano())
			}
			continue
		}
		q.push(au, t0.UnixNano())
	}
	q.close()
	if err := s.run(q); err != nil {
		t.Fatal(err)
	}
	segs, _ := env.log.all()
	var got []int
	for _, seg := range segs {
		for _, f := range seg {
			got = append(got, f.size)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sample sizes\n%v\nwant\n%v", got, want)
	}
	if st := env.job.Status(); st.TimeJumps != 0 || st.DroppedFrames != 0 || len(segs) != 1 {
		t.Errorf("%d segments, %d jumps, %d dropped", len(segs), st.TimeJumps, st.DroppedFrames)
	}
}

// A session cut between a reference frame and the B-frames shown before it
// (they are never received): the reference frame is shown after the last
// decode slot, so the segment is extended to hold it and everything the
// segment shows lies inside its indexed span (found by the interop tests:
// exports across such a cut showed the footage after the gap late).
func TestCutBeforeBFramesExtendsSegment(t *testing.T) {
	env := newTestEnv(t, Config{SegmentDuration: time.Minute, FsyncInterval: time.Hour}, nil)
	s := newSegmenter(env.job.segmenterDeps())
	c := loadClip(t, testcam.ClipHigh360BFrame)
	// The first reference frame after the keyframe that is followed, in
	// decode order, by a B-frame shown before it.
	cut := -1
	for i := 1; i+1 < len(c.Frames); i++ {
		if c.Frames[i+1].PTS < c.Frames[i].PTS && !c.Frames[i].Keyframe {
			cut = i
			break
		}
	}
	if cut < 0 {
		t.Fatal("clip has no B-frames")
	}
	ps := clipParams(t, c)
	var maxPTS int64
	for _, f := range c.Frames[:cut+1] {
		it := item(f, ps, 0, t0.Add(time.Duration(ticks.ToNS(f.DTS-c.Frames[0].DTS))))
		if err := s.handle(it); err != nil {
			t.Fatal(err)
		}
		maxPTS = max(maxPTS, f.PTS)
	}
	if err := s.endRun(); err != nil {
		t.Fatal(err)
	}
	checkSegments(t, env, cut+1)
	rows := env.store.segments()
	first := c.Frames[0]
	// Shown from the first frame's PTS to the end of the latest one.
	shown := ticks.ToNS(maxPTS + 3600 - first.PTS)
	if span := rows[0].EndNS - rows[0].StartNS; span < shown-shown/slewDivisor {
		t.Errorf("segment spans %d ns but shows frames until %d ns", span, shown)
	}
	_, ends := env.log.all()
	if want := maxPTS + 3600 - (first.PTS - first.DTS); ends[0] != want {
		t.Errorf("segment ends at DTS %d, want %d (latest PTS + a frame - the B-frame delay)", ends[0], want)
	}
}

// reportLog is a segmenterReport that remembers what it was told.
type reportLog struct {
	dropped, written, keyframes, jumps, finished int
	audioDrops                                   int
	runs                                         []int64
	opened                                       []video.Params
	until                                        int64
	rejected                                     []error
}

func (r *reportLog) frameDropped() { r.dropped++ }
func (r *reportLog) audioDropped() { r.audioDrops++ }
func (r *reportLog) frameWritten(key bool) {
	r.written++
	if key {
		r.keyframes++
	}
}
func (r *reportLog) timeJump()                    { r.jumps++ }
func (r *reportLog) paramsRejected(err error)     { r.rejected = append(r.rejected, err) }
func (r *reportLog) runStarted(ns int64)          { r.runs = append(r.runs, ns) }
func (r *reportLog) segmentOpened(p video.Params) { r.opened = append(r.opened, p) }
func (r *reportLog) segmentFinished()             { r.finished++ }
func (r *reportLog) footageUntil(ns int64)        { r.until = max(r.until, ns) }

// The segmenter is built and driven without a Job: its deps are all it
// uses, and what happens comes back through its report.
func TestSegmenterAlone(t *testing.T) {
	c := loadClip(t, testcam.ClipHigh360BFrame)
	store, log, rep := newFakeStore(t), &writerLog{}, &reportLog{}
	prev := t0.Add(time.Hour).UnixNano() // a previous segment ends after the local clock
	s := newSegmenter(segmenterDeps{
		Camera: "alone", SegmentDuration: 2 * time.Second, FragmentDuration: time.Second, FsyncInterval: time.Hour,
		Store: store, NewWriter: log.newWriter, Scan: fakeScan,
		PrevEndNS: prev, Report: rep,
	})
	n, _ := feedClip(t, s, c, 2, 0, t0)
	if err := s.endRun(); err != nil {
		t.Fatal(err)
	}
	rows := store.segments()
	if len(rows) < 2 || rep.finished != len(rows) || len(rep.opened) != len(rows) {
		t.Fatalf("%d rows, %d finished, %d opened", len(rows), rep.finished, len(rep.opened))
	}
	if rep.written != n || rep.dropped != 0 || rep.jumps != 0 || len(rep.rejected) != 0 {
		t.Errorf("report %+v, want %d frames written and nothing else", rep, n)
	}
	if len(rep.runs) != 1 || rep.runs[0] != prev || rows[0].StartNS != prev {
		t.Errorf("run anchored at %v (row %d), want the previous end %d", rep.runs, rows[0].StartNS, prev)
	}
	if last := rows[len(rows)-1]; rep.until != last.EndNS || s.prevEndNS != last.EndNS {
		t.Errorf("footage until %d, segmenter %d, want the last end %d", rep.until, s.prevEndNS, last.EndNS)
	}
	for _, r := range rows {
		if r.Camera != "alone" || r.Codecs != rep.opened[0].Codec || r.Codecs == "" {
			t.Errorf("row %+v", r)
		}
	}
}

// Cameras started together must not cut their segments together: their
// index commits and fsyncs would queue behind each other at every
// boundary (issue 12). The phases of 100 cameras cover the segment
// duration about evenly, and a segmenter's first segment is cut at its
// camera's phase.
func TestSegmentPhaseSpreadsCuts(t *testing.T) {
	const cameras, buckets = 100, 10
	segDur := ticks.FromDuration(10 * time.Second)
	var count [buckets]int
	for i := range cameras {
		p := segmentPhase(fmt.Sprintf("cam%04d", i), segDur)
		if p < 0 || p >= segDur {
			t.Fatalf("phase %d outside [0, %d)", p, segDur)
		}
		count[p*buckets/segDur]++
	}
	for b, n := range count {
		// 10 expected per second; all at once is what used to happen.
		if n > 3*cameras/buckets {
			t.Errorf("%d of %d cameras cut in second %d of the segment: %v", n, cameras, b, count)
		}
	}
	if p := segmentPhase("x", 1); p != 0 {
		t.Errorf("phase of a 1-tick segment %d, want 0", p)
	}

	// Two cameras fed the same stream (a keyframe every 2 s) close their
	// first segments apart: one whose phase leaves more than 2 s of the
	// 4 s segment, one whose phase leaves less.
	c := loadClip(t, testcam.ClipMain720)
	seg4 := ticks.FromDuration(4 * time.Second)
	var early, late string
	for i := 0; i < cameras && (early == "" || late == ""); i++ {
		cam := fmt.Sprintf("cam%04d", i)
		switch p := segmentPhase(cam, seg4); {
		case p < seg4*3/8 && late == "":
			late = cam
		case p > seg4*5/8 && early == "":
			early = cam
		}
	}
	if early == "" || late == "" {
		t.Fatalf("no two cameras of %d with phases apart: %q %q", cameras, early, late)
	}
	firstEnd := map[string]int64{}
	for _, cam := range []string{early, late} {
		env := newTestEnv(t, Config{Camera: cam, SegmentDuration: 4 * time.Second, FsyncInterval: time.Hour}, nil)
		s := newSegmenter(env.job.segmenterDeps())
		feedClip(t, s, c, 3, 0, t0)
		if err := s.endRun(); err != nil {
			t.Fatal(err)
		}
		segs, ends := env.log.all()
		if len(segs) < 2 {
			t.Fatalf("%s: %d segments, want at least 2", cam, len(segs))
		}
		firstEnd[cam] = ends[0] - segs[0][0].dts
	}
	if firstEnd[early] >= firstEnd[late] {
		t.Errorf("%s cut its first segment after %d ticks, %s after %d: want the first earlier", early, firstEnd[early], late, firstEnd[late])
	}
}

// TestDropHeldAudio: dropping the first n held frames keeps the rest in
// order and moves the dropped ones past the length, each buffer still
// owned by exactly one entry.
func TestDropHeldAudio(t *testing.T) {
	var s segmenter
	for i := range 6 {
		s.aHeld = append(s.aHeld, heldAudio{t90: int64(i), s: fmp4.AudioSample{Data: []byte{byte(i)}}})
	}
	s.dropHeldAudio(0)
	s.dropHeldAudio(2)
	s.dropHeldAudio(1)
	if len(s.aHeld) != 3 {
		t.Fatalf("%d held, want 3", len(s.aHeld))
	}
	for i, h := range s.aHeld {
		if h.t90 != int64(i+3) || h.s.Data[0] != byte(i+3) {
			t.Fatalf("held %d is frame %d", i, h.t90)
		}
	}
	seen := map[*byte]bool{}
	for _, h := range s.aHeld[:6] {
		if p := &h.s.Data[0]; seen[p] {
			t.Fatal("two entries share a buffer")
		} else {
			seen[p] = true
		}
	}
}
