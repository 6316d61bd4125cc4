package live

import (
	"bytes"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/video"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// feeder publishes a test clip's frames, looping, as the recorder would.
type feeder struct {
	clip *testcam.Clip
	n    int
}

func newFeeder(t testing.TB, name string) *feeder {
	t.Helper()
	c, err := testcam.LoadClip(name)
	if err != nil {
		t.Fatal(err)
	}
	return &feeder{clip: c}
}

// next returns the next access unit (a fresh copy each time, as the
// depacketizer reuses its buffers).
func (f *feeder) next() *video.AccessUnit {
	c := f.clip
	fr := c.Frames[f.n%len(c.Frames)]
	off := int64(f.n/len(c.Frames)) * c.Duration
	f.n++
	nalus := make([][]byte, len(fr.NALUs))
	for i, n := range fr.NALUs {
		nalus[i] = bytes.Clone(n)
	}
	return &video.AccessUnit{NALUs: nalus, DTS: fr.DTS + off + 90000, PTS: fr.PTS + off + 90000, Keyframe: fr.Keyframe, VPS: c.VPS, SPS: c.SPS, PPS: c.PPS}
}

// publish sends n frames, waiting for the muxer to take each (a real
// camera's frame interval).
func publish(s *Stream, f *feeder, n int) {
	for range n {
		before := s.Stats().Frames
		s.Frame(f.next(), time.Now().UnixNano())
		deadline := time.Now().Add(2 * time.Second)
		for s.Stats().Frames == before && s.Stats().Dropped == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// drain reads what is queued for v, up to n messages.
func drain(t *testing.T, v *Viewer, n int) []*Message {
	t.Helper()
	var out []*Message
	done := make(chan struct{})
	timer := time.AfterFunc(2*time.Second, func() { close(done) })
	defer timer.Stop()
	for len(out) < n {
		m, err := v.Next(done)
		if err != nil {
			break
		}
		out = append(out, m)
	}
	return out
}

// TestViewerGetsPlayableFMP4: what a viewer receives, concatenated, is a
// fragmented MP4 that our own reader (and so a browser's MSE) accepts:
// an init segment, then one frame a fragment, starting at a keyframe.
func TestViewerGetsPlayableFMP4(t *testing.T) {
	s := NewStream(nil)
	defer s.Close()
	f := newFeeder(t, testcam.ClipBase240)
	v, err := s.Watch()
	if err != nil {
		t.Fatal(err)
	}
	publish(s, f, 60)
	msgs := drain(t, v, 59)
	if len(msgs) < 50 || !msgs[0].Init || msgs[0].Codec == "" || msgs[1].Init || !msgs[1].Keyframe {
		t.Fatalf("%d messages; first %+v", len(msgs), msgs[0])
	}
	var file []byte
	for _, m := range msgs {
		file = append(file, m.Data...)
	}
	info, err := fmp4.Scan(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if info.Fragments != len(msgs)-1 || len(info.Samples) != len(msgs)-1 || !info.Samples[0].Keyframe {
		t.Fatalf("scan: %d fragments, %d samples for %d messages", info.Fragments, len(info.Samples), len(msgs))
	}
	for _, m := range msgs[1:] {
		if m.ArrivalNS == 0 {
			t.Fatal("a fragment without its arrival time")
		}
	}
}

// An H.265 camera's live view is hvc1: the init message names the hvc1
// codec string the browser checks with MediaSource.isTypeSupported, and
// the fragments read back as the H.265 track with its VPS, SPS and PPS.
func TestViewerGetsH265(t *testing.T) {
	s := NewStream(nil)
	defer s.Close()
	f := newFeeder(t, testcam.ClipHEVC270)
	v, err := s.Watch()
	if err != nil {
		t.Fatal(err)
	}
	publish(s, f, 30)
	msgs := drain(t, v, 29)
	if len(msgs) < 20 || !msgs[0].Init || msgs[0].Codec != "hvc1.1.6.L63.90" || msgs[0].Width != 480 || msgs[0].Height != 270 {
		t.Fatalf("%d messages; first %+v", len(msgs), msgs[0])
	}
	var file []byte
	for _, m := range msgs {
		file = append(file, m.Data...)
	}
	info, err := fmp4.Scan(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if !info.Params.H265() || !bytes.Equal(info.Params.VPS, f.clip.VPS) || len(info.Samples) != len(msgs)-1 || !info.Samples[0].Keyframe {
		t.Fatalf("scan: H265 %v, %d samples for %d messages", info.Params.H265(), len(info.Samples), len(msgs))
	}
}

// A viewer that joins mid-stream starts at the last keyframe, at once.
func TestLateViewerStartsAtLastKeyframe(t *testing.T) {
	s := NewStream(nil)
	defer s.Close()
	f := newFeeder(t, testcam.ClipBase240)
	publish(s, f, 37) // into the second GOP of the clip
	v, err := s.Watch()
	if err != nil {
		t.Fatal(err)
	}
	msgs := drain(t, v, 2)
	if len(msgs) != 2 || !msgs[0].Init || !msgs[1].Keyframe {
		t.Fatalf("late viewer got %d messages: init=%v key=%v", len(msgs), len(msgs) > 0 && msgs[0].Init, len(msgs) > 1 && msgs[1].Keyframe)
	}
}

// TestRejoinStartsAtOnce: a viewer that comes after the last one left
// (a page reloaded mid-GOP) still starts at the last keyframe, with every
// frame since it, although nothing was muxed while nobody watched.
func TestRejoinStartsAtOnce(t *testing.T) {
	s := NewStream(nil)
	defer s.Close()
	f := newFeeder(t, testcam.ClipBase240)
	publish(s, f, 3)
	v1, err := s.Watch()
	if err != nil {
		t.Fatal(err)
	}
	publish(s, f, 4)
	if msgs := drain(t, v1, 7); len(msgs) != 7 || !msgs[0].Init {
		t.Fatalf("first viewer got %d messages", len(msgs))
	}
	v1.Close()
	publish(s, f, 5) // nobody watches
	v2, err := s.Watch()
	if err != nil {
		t.Fatal(err)
	}
	publish(s, f, 1)
	// Frames 0..12 are one GOP of the clip; the last one published leaves
	// with the next frame.
	if !f.clip.Frames[0].Keyframe {
		t.Fatal("the clip does not start with a keyframe")
	}
	for _, fr := range f.clip.Frames[1:13] {
		if fr.Keyframe {
			t.Fatal("the clip's first GOP is shorter than 13 frames")
		}
	}
	msgs := drain(t, v2, 13)
	if len(msgs) != 13 || !msgs[0].Init || !msgs[1].Keyframe {
		t.Fatalf("rejoining viewer got %d messages, want the init and frames 0..11", len(msgs))
	}
	for i, m := range msgs[2:] {
		if m.Keyframe || m.Init {
			t.Fatalf("message %d: key=%v init=%v", i+2, m.Keyframe, m.Init)
		}
		if m.PTS <= msgs[i+1].PTS {
			t.Fatalf("message %d: PTS %d after %d", i+2, m.PTS, msgs[i+1].PTS)
		}
	}
}

// TestNoViewersNoAllocs: while nobody watches, a frame costs a copy into
// the buffer reused from keyframe to keyframe — no allocation (before, two
// a frame, and a goroutine hand-off).
func TestNoViewersNoAllocs(t *testing.T) {
	s := NewStream(nil)
	defer s.Close()
	f := newFeeder(t, testcam.ClipMain720)
	aus := make([]*video.AccessUnit, 3*len(f.clip.Frames))
	for i := range aus {
		aus[i] = f.next()
	}
	for _, au := range aus[:2*len(f.clip.Frames)] {
		s.Frame(au, 1) // two loops: the buffers reach their size
	}
	rest, i := aus[2*len(f.clip.Frames):], 0
	allocs := testing.AllocsPerRun(len(rest)-1, func() {
		s.Frame(rest[i], 1)
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations a frame with no viewer", allocs)
	}
	if st := s.Stats(); st.Frames != uint64(len(aus)) || st.Dropped != 0 {
		t.Fatalf("stats %+v, want %d frames kept", st, len(aus))
	}
}

// A viewer that stops reading: publishing goes on without waiting, the
// viewer's queue stays within its bound, and after MaxBehind it is cut off;
// one that resumes in time restarts at a keyframe.
func TestStalledViewer(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	s := NewStream(clock)
	defer s.Close()
	f := newFeeder(t, testcam.ClipMain720)
	stalled, _ := s.Watch()
	resumer, _ := s.Watch()
	// 60 s at 25 fps of a 720p camera, 40 ms of clock a frame.
	for i := range 1500 {
		publish(s, f, 1)
		advance(40 * time.Millisecond)
		if i == 200 {
			// resumer reads a little, then stalls for under MaxBehind.
			drain(t, resumer, 1000)
		}
		s.mu.Lock()
		if stalled.bytes > MaxViewerBytes || resumer.bytes > MaxViewerBytes {
			s.mu.Unlock()
			t.Fatalf("frame %d: a queue passed its bound", i)
		}
		s.mu.Unlock()
		if i == 400 {
			msgs := drain(t, resumer, 1000)
			var sawKey bool
			for _, m := range msgs {
				if m.Keyframe {
					sawKey = true
				}
			}
			if len(msgs) == 0 || !sawKey {
				t.Fatalf("resumed viewer got %d messages", len(msgs))
			}
		}
	}
	st := s.Stats()
	if st.Frames+st.Dropped != 1500 || st.Dropped != 0 {
		t.Fatalf("stats %+v: frames were dropped before the muxer", st)
	}
	if _, err := stalled.Next(nil); !errors.Is(err, ErrCutOff) {
		t.Fatalf("stalled viewer: %v, want ErrCutOff", err)
	}
	if st.CutOff == 0 {
		t.Fatal("no viewer counted as cut off")
	}
}

// 100 viewers come and go: nothing is left behind.
func TestViewersComeAndGo(t *testing.T) {
	before := runtime.NumGoroutine()
	s := NewStream(nil)
	f := newFeeder(t, testcam.ClipBase240)
	for i := range 100 {
		v, err := s.Watch()
		if err != nil {
			t.Fatal(err)
		}
		publish(s, f, 2)
		if i%2 == 0 {
			drain(t, v, 1)
		}
		v.Close()
	}
	if n := s.Stats().Viewers; n != 0 {
		t.Fatalf("%d viewers left", n)
	}
	var views []*Viewer
	for range MaxViewers {
		v, err := s.Watch()
		if err != nil {
			t.Fatal(err)
		}
		views = append(views, v)
	}
	if _, err := s.Watch(); !errors.Is(err, ErrTooManyViewers) {
		t.Fatalf("viewer %d: %v", MaxViewers+1, err)
	}
	s.Close()
	for _, v := range views {
		if _, err := v.Next(nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if runtime.NumGoroutine() > before {
		t.Fatalf("goroutines %d > %d", runtime.NumGoroutine(), before)
	}
}

// A parameter change sends a new init segment before the next keyframe.
func TestParamsChangeSendsInit(t *testing.T) {
	s := NewStream(nil)
	defer s.Close()
	a, b := newFeeder(t, testcam.ClipBase240), newFeeder(t, testcam.ClipHigh360BFrame)
	v, _ := s.Watch()
	publish(s, a, 30)
	b.n = 0
	for range 30 {
		au := b.next()
		au.DTS += 10 * 90000
		au.PTS += 10 * 90000
		s.Frame(au, time.Now().UnixNano())
		time.Sleep(time.Millisecond)
	}
	msgs := drain(t, v, 58)
	inits := 0
	var codecs []string
	for _, m := range msgs {
		if m.Init {
			inits++
			codecs = append(codecs, m.Codec)
		}
	}
	if inits != 2 || codecs[0] == codecs[1] {
		t.Fatalf("%d init segments %v in %d messages", inits, codecs, len(msgs))
	}
}

// BenchmarkFanOut: one 720p camera's frames muxed once and handed to 50
// viewers that keep up. cpu-s/GB is the process CPU time (user+system) per
// GB of video: at 4 Mbit/s a camera sends 0.5 MB/s, so 50 viewers cost
// cpu-s/GB × 0.0005 of a core.
func BenchmarkFanOut(b *testing.B) {
	s := NewStream(nil)
	defer s.Close()
	f := newFeeder(b, testcam.ClipMain720)
	var views []*Viewer
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		v, _ := s.Watch()
		views = append(views, v)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := v.Next(done); err != nil {
					return
				}
			}
		}()
	}
	aus := make([]*video.AccessUnit, 500)
	var bytesIn int64
	for i := range aus {
		aus[i] = f.next()
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		au := aus[i%len(aus)]
		if i >= len(aus) {
			// Keep time moving on as the clip loops.
			c := *au
			c.DTS += int64(i/len(aus)) * 500 * 3600
			c.PTS += int64(i/len(aus)) * 500 * 3600
			au = &c
		}
		for _, n := range au.NALUs {
			bytesIn += int64(len(n))
		}
		for len(s.in) > cap(s.in)/2 {
			time.Sleep(20 * time.Microsecond) // the muxer's pace, without spinning
		}
		s.Frame(au, 1)
	}
	for s.Stats().Frames+s.Stats().Dropped < uint64(b.N) {
		time.Sleep(20 * time.Microsecond)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	close(done)
	for _, v := range views {
		v.Close()
	}
	wg.Wait()
	b.ReportMetric(cpu.Seconds()/(float64(bytesIn)/1e9), "cpu-s/GB")
}

// BenchmarkNoViewers: what every recording camera pays for live view while
// nobody watches — a copy of each frame kept until the next keyframe.
func BenchmarkNoViewers(b *testing.B) {
	s := NewStream(nil)
	defer s.Close()
	f := newFeeder(b, testcam.ClipMain720)
	aus := make([]*video.AccessUnit, 500)
	for i := range aus {
		aus[i] = f.next()
	}
	var bytesIn int64
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		au := aus[i%len(aus)]
		for _, n := range au.NALUs {
			bytesIn += int64(len(n))
		}
		for len(s.in) > cap(s.in)/2 {
			time.Sleep(20 * time.Microsecond)
		}
		s.Frame(au, 1)
	}
	for s.Stats().Frames+s.Stats().Dropped < uint64(b.N) {
		time.Sleep(20 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/(float64(bytesIn)/1e9), "cpu-s/GB")
}
