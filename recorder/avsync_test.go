package recorder

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// avRig drives an avSync as the job does: video every 40 ms, G.711
// audio in 20 ms frames at 8 kHz arriving late by lateMS, and sender
// reports the test sends. Video RTP v0 and audio RTP a0 are the same
// instant, NTP ntp0: audio a0 belongs at 8 kHz time v0*8000/90000.
type avRig struct {
	t      *testing.T
	s      *avSync
	v, a   rtsp.SenderReport
	lateMS int64
	next   int   // the next audio frame
	vNext  int   // the next access unit
	last   int64 // the last placed time
	placed int   // frames placed
}

const (
	rigV0   = 900_000 // 80,000 at 8 kHz
	rigA0   = 50_000
	rigNTP0 = uint64(0xE000_0000) << 32
	rigSSRC = 0xC0FFEE
)

func newRig(t *testing.T, info *rtsp.RTPInfoTimes, lateMS int64) *avRig {
	r := &avRig{t: t, lateMS: lateMS}
	r.s = newAVSync(8000, info, func() (rtsp.SenderReport, rtsp.SenderReport) { return r.v, r.a })
	r.s.videoSSRC, r.s.audioSSRC = rigSSRC, rigSSRC+1
	return r
}

// ntpAt is the NTP time ms after ntp0.
func ntpAt(ms int64) uint64 { return rigNTP0 + uint64(ms)<<32/1000 }

// sr sends both tracks' reports for the instant ms after ntp0, with the
// audio late by shiftMS (the true relation when 0).
func (r *avRig) sr(ms, shiftMS int64) {
	r.v = rtsp.SenderReport{SSRC: rigSSRC, NTP: ntpAt(ms), RTPTime: uint32(rigV0 + ms*90), N: r.v.N + 1}
	r.a = rtsp.SenderReport{SSRC: rigSSRC + 1, NTP: ntpAt(ms), RTPTime: uint32(rigA0 + (ms-shiftMS)*8), N: r.a.N + 1}
}

// want is where frame i belongs if the audio is shiftMS late.
func want(i int, shiftMS int64) int64 { return 80_000 + int64(i)*160 + shiftMS*8 }

// frames feeds n audio frames (and the video before each) and returns
// the placed times, -1 for a frame not placed.
func (r *avRig) frames(n int) []int64 {
	var out []int64
	for range n {
		i := r.next
		r.next++
		arrival := int64(i)*20e6 + r.lateMS*1e6
		for int64(r.vNext)*40e6 <= arrival {
			r.s.video(rigV0+int64(r.vNext)*3600, int64(r.vNext)*40e6)
			r.vNext++
		}
		t, ok := r.s.place(rigA0+int64(i)*160, 160, arrival)
		if !ok {
			out = append(out, -1)
			continue
		}
		if r.placed > 0 && t < r.last+160 {
			r.t.Fatalf("frame %d placed at %d, overlapping the one at %d", i, t, r.last)
		}
		r.last = t
		r.placed++
		out = append(out, t)
	}
	return out
}

// TestAVSyncSenderReports: sender reports beat RTP-Info and arrival as
// soon as both tracks have one; until then the session syncs as before.
func TestAVSyncSenderReports(t *testing.T) {
	// RTP-Info 100 ms wrong (audio late), arrival 300 ms late.
	r := newRig(t, &rtsp.RTPInfoTimes{Video: rigV0, Audio: rigA0 - 800}, 300)
	got := r.frames(5)
	if got[0] != want(0, 100) || r.s.source != syncRTPInfo {
		t.Fatalf("before any SR: %v from %v, want RTP-Info's %d", got, r.s.source, want(0, 100))
	}
	r.v = rtsp.SenderReport{SSRC: rigSSRC, NTP: ntpAt(0), RTPTime: rigV0, N: 1}
	if got = r.frames(1); got[0] != want(5, 100) {
		t.Fatalf("with the video's SR only: %v", got)
	}
	r.sr(120, 0)
	// The offset moves back 100 ms: 5 frames (100 ms) overlap what was
	// placed, and are dropped.
	got = r.frames(10)
	for i, g := range got {
		if w := want(6+i, 0); (i < 5 && g != -1) || (i >= 5 && g != w) {
			t.Fatalf("after the SRs: %v, want 5 dropped then from %d", got, want(11, 0))
		}
	}
	if r.s.source != syncSenderReports || r.s.reanchors != 1 || r.s.srOff {
		t.Fatalf("source %v, %d re-anchors, off %v", r.s.source, r.s.reanchors, r.s.srOff)
	}

	// Without RTP-Info: arrival (300 ms late) until the SRs, which move
	// the audio back to where it belongs.
	r = newRig(t, nil, 300)
	if got = r.frames(3); got[0] != want(0, 300) || r.s.source != syncArrival {
		t.Fatalf("arrival: %v (%v), want %d", got, r.s.source, want(0, 300))
	}
	r.sr(0, 0)
	got = r.frames(30)
	if got[len(got)-1] != want(32, 0) || r.s.reanchors != 1 {
		t.Fatalf("after SRs: %v", got)
	}

	// SRs before the first audio frame: the first frame is placed by them.
	r = newRig(t, nil, 300)
	r.sr(0, 0)
	if got = r.frames(2); got[0] != want(0, 0) || got[1] != want(1, 0) || r.s.reanchors != 0 {
		t.Fatalf("SRs first: %v, %d re-anchors", got, r.s.reanchors)
	}
}

// TestAVSyncReanchor: later SRs move the audio when two in a row
// disagree with the offset in use by more than srTolerance, forward
// (a gap) or back (frames dropped, never an overlap); SRs within the
// tolerance, or one alone, change nothing.
func TestAVSyncReanchor(t *testing.T) {
	r := newRig(t, nil, 0)
	r.sr(0, 0)
	r.frames(10)
	check := func(what string, got []int64, shiftMS int64) {
		t.Helper()
		for k, g := range got {
			if g != -1 && g != want(r.next-len(got)+k, shiftMS) {
				t.Fatalf("%s: frame %d at %d, want %d (%v)", what, r.next-len(got)+k, g, want(r.next-len(got)+k, shiftMS), got)
			}
		}
	}
	// Within the tolerance: nothing moves, ever.
	for k := range 5 {
		r.sr(int64(200+k*100), srTolerance-1)
		check("SRs within the tolerance", r.frames(5), 0)
	}
	r.sr(800, -srTolerance+1)
	check("SR within the tolerance, the other way", r.frames(5), 0)
	// One SR 40 ms off, then one that agrees again: jitter, no move.
	r.sr(1000, 40)
	check("a lone outlier", r.frames(5), 0)
	r.sr(1100, 0)
	check("back in line", r.frames(5), 0)
	if r.s.reanchors != 0 {
		t.Fatalf("%d re-anchors without a lasting change", r.s.reanchors)
	}
	// Forward 40 ms, twice: the audio moves on the second; a gap of
	// 40 ms, nothing dropped.
	r.sr(1200, 40)
	check("first SR forward", r.frames(5), 0)
	r.sr(1300, 40)
	got := r.frames(5)
	check("moved forward", got, 40)
	for _, g := range got {
		if g == -1 {
			t.Fatalf("a forward move dropped audio: %v", got)
		}
	}
	// Back 60 ms (to -20), twice: 60 ms of frames are dropped.
	r.sr(1400, -20)
	check("first SR back", r.frames(5), 40)
	r.sr(1500, -20)
	got = r.frames(6)
	check("moved back", got, -20)
	drops := 0
	for _, g := range got {
		if g == -1 {
			drops++
		}
	}
	if drops != 3 || r.s.reanchors != 2 {
		t.Fatalf("moving back: %d frames dropped (want 3), %d re-anchors: %v", drops, r.s.reanchors, got)
	}
	// The same SRs again change nothing.
	r.sr(1600, -20)
	check("agreeing SR", r.frames(5), -20)
	if r.s.reanchors != 2 || r.s.gen != 2 {
		t.Fatalf("%d re-anchors, gen %d", r.s.reanchors, r.s.gen)
	}
}

// TestAVSyncHostileSenderReports: SRs that cannot be right are ignored
// for the session, said once in the note; the offset in use stays.
func TestAVSyncHostileSenderReports(t *testing.T) {
	for _, c := range []struct {
		name string
		bad  func(r *avRig)
		note string
	}{
		{"NTP 0", func(r *avRig) { r.sr(0, 0); r.a.NTP = 0 }, "NTP time 0"},
		{"video NTP 0", func(r *avRig) { r.sr(0, 0); r.v.NTP = 0 }, "NTP time 0"},
		{"another SSRC", func(r *avRig) { r.sr(0, 0); r.v.SSRC = 0xBAD }, "SSRC 00000bad"},
		{"the audio's SSRC", func(r *avRig) { r.sr(0, 0); r.a.SSRC = 0xBAD }, "audio's sender report"},
		// The audio's NTP clock an hour from the video's.
		{"two clocks", func(r *avRig) { r.sr(0, 0); r.a.NTP += 3600 << 32 }, "not one clock"},
		{"2.5 s apart", func(r *avRig) { r.sr(0, 2500) }, "not one clock"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil, 300)
			r.frames(3)
			c.bad(r)
			got := r.frames(3)
			if got[0] != want(3, 300) || !r.s.srOff || !strings.Contains(r.s.note, c.note) || r.s.source != syncArrival {
				t.Fatalf("placed %v (want %d), off %v, note %q, source %v", got, want(3, 300), r.s.srOff, r.s.note, r.s.source)
			}
			gen := r.s.gen
			r.sr(1000, 0) // good ones later: ignored too
			if got = r.frames(3); got[0] != want(6, 300) || r.s.gen != gen {
				t.Fatalf("after a good SR: %v, gen %d then %d", got, gen, r.s.gen)
			}
		})
	}
	// 1.5 s late audio is a camera's buffering, within the bound.
	r := newRig(t, nil, 1500)
	r.frames(3)
	r.sr(0, 0)
	if r.frames(1); r.s.srOff || r.s.source != syncSenderReports {
		t.Fatalf("1.5 s from arrival refused: %q", r.s.note)
	}
}

// TestNTPTo90k: signed NTP differences to 90 kHz ticks.
func TestNTPTo90k(t *testing.T) {
	for _, c := range []struct {
		d    int64
		want int64
	}{
		{0, 0},
		{1 << 32, 90000},
		{-1 << 32, -90000},
		{1 << 31, 45000},
		{-1 << 31, -45000},
		{3600 << 32, 3600 * 90000},
		{-(3<<32 + 1<<30), -(3*90000 + 22500)},
		{1<<63 - 1, (1<<31-1)*90000 + 89999},
	} {
		if got := ntpTo90k(c.d); got != c.want {
			t.Errorf("ntpTo90k(%d) = %d, want %d", c.d, got, c.want)
		}
	}
}

// srSession is an avSession whose camera sends sender reports.
type srSession struct {
	*avSession
	v, a rtsp.SenderReport
}

func (s *srSession) SenderReports() (video, audio rtsp.SenderReport) { return s.v, s.a }

// TestJobAudioSync: the job relates the clocks from the session's sender
// reports and says so in Status; sender reports it refuses are named in
// AudioSyncNote, reported once, and the session syncs by arrival.
func TestJobAudioSync(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	pcmu := rtsp.Track{Type: "audio", Codec: "PCMU", ClockRate: 8000, PayloadType: 0, Control: "rtsp://h/a"}
	good := func() (rtsp.SenderReport, rtsp.SenderReport) {
		// The clip's first video packet and the first audio packet at
		// one instant.
		return rtsp.SenderReport{SSRC: 0x1234, NTP: rigNTP0, RTPTime: 0, N: 1},
			rtsp.SenderReport{SSRC: 0x5678, NTP: rigNTP0, RTPTime: 0xfffff000, N: 1}
	}
	for _, tc := range []struct {
		name       string
		srs        func() (rtsp.SenderReport, rtsp.SenderReport)
		sync, note string
	}{
		{"sender reports", good, "sender reports", ""},
		{"NTP 0", func() (rtsp.SenderReport, rtsp.SenderReport) { v, a := good(); a.NTP = 0; return v, a }, "arrival", "NTP time 0"},
		{"wrong SSRC", func() (rtsp.SenderReport, rtsp.SenderReport) { v, a := good(); v.SSRC = 1; return v, a }, "arrival", "SSRC 00000001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := rtsp.Info{Tracks: []rtsp.Track{{Type: "video", Codec: "H264"}, pcmu}, Audio: &pcmu}
			av := &avSession{fakeSession: &fakeSession{info: info, packets: packetize(c, 2, 1400), end: errors.New("camera closed"), closed: make(chan struct{})},
				audio: pcmuPackets(200)}
			sess := &srSession{avSession: av}
			sess.v, sess.a = tc.srs()
			var mu sync.Mutex
			notes := 0
			prev := ""
			store, log := newFakeStore(t), &audioLog{}
			j, err := NewJob(Config{Camera: "av", RTSP: rtsp.Config{URL: "rtsp://h/"}, MinBackoff: time.Hour, MaxBackoff: time.Hour},
				Deps{Store: store, Open: func(context.Context, rtsp.Config) (Session, error) { return sess, nil },
					NewWriter: log.newWriter, Scan: fmp4.Scan, Clock: newFakeClock(), Rand: func() float64 { return 0.5 },
					OnChange: func(ch Change) {
						mu.Lock()
						defer mu.Unlock()
						if n := ch.Status.AudioSyncNote; n != "" && n != prev {
							notes++
						}
						prev = ch.Status.AudioSyncNote
					}})
			if err != nil {
				t.Fatal(err)
			}
			stop := startJob(t, j)
			waitFor(t, "the session to end", func() bool { return j.Status().State == StateRetrying })
			stop()
			st := j.Status()
			mu.Lock()
			defer mu.Unlock()
			if st.AudioSync != tc.sync || !strings.Contains(st.AudioSyncNote, tc.note) || (tc.note == "") != (st.AudioSyncNote == "") || notes != min(len(tc.note), 1) {
				t.Fatalf("sync %q note %q (reported %d times), want %q / %q", st.AudioSync, st.AudioSyncNote, notes, tc.sync, tc.note)
			}
			if st.AudioFrames < 150 {
				t.Fatalf("%d audio frames", st.AudioFrames)
			}
		})
	}
}
