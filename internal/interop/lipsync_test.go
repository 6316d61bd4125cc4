package interop

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/storage"
)

// TestLipSync records, through a real recorder.Job, a clip from
// GStreamer's RTSP server whose video shows a white frame once a second
// and whose audio beeps (a 1 kHz tone of 100 ms) starting on the same
// instants; ffmpeg decodes the segment nvr wrote, and each beep's onset
// is measured against its white frame. GStreamer picks random RTP
// timestamp offsets per track, so the audio lines up only if nvr relates
// the two clocks (here from RTP-Info). The offset must stay within 20 ms,
// also for a clip with B-frames (pcmu-bframes), whose picture the edit
// list shifts by its first composition offset.
func TestLipSync(t *testing.T) {
	py := needGst(t)
	ffmpeg := needTool(t, "ffmpeg")
	dir := t.TempDir()
	makeClip := func(name, bframes string) string {
		clip := filepath.Join(dir, name)
		// 0.8 s of lead-in: the recorder starts at the first keyframe it
		// gets, which need not be the clip's first frame.
		mk := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-y",
			"-f", "lavfi", "-i", "color=c=black:s=320x180:r=25,drawbox=c=white:t=fill:enable='lt(mod(t\\,1)\\,0.04)'",
			"-f", "lavfi", "-i", "aevalsrc='if(lt(mod(t\\,1)\\,0.1)\\,0.8*sin(2*PI*1000*t)\\,0)':s=48000",
			"-t", "6", "-c:v", "libx264", "-bf", bframes, "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", clip)
		if out, err := mk.CombinedOutput(); err != nil {
			t.Fatalf("making the clip: %v %s", err, out)
		}
		return clip
	}
	clip := makeClip("beeps.mkv", "0")
	// With B-frames the video's presentation is shifted by its first
	// composition offset (the edit list); the audio must move with it.
	clipB := makeClip("beeps-bframes.mkv", "2")
	for _, c := range []struct {
		name, audio, codec string
		elems              []string
		chunk              int // samples per level measurement: 5 ms
		clip               string
	}{
		{"pcmu", "pcmu", "flac", []string{"mulawenc", "rtppcmupay"}, 40, clip},
		{"aac", "aac", "mp4a.40.2", []string{"voaacenc", "rtpmp4gpay"}, 240, clip},
		{"opus", "opus", "opus", []string{"opusenc", "rtpopuspay"}, 240, clip},
		{"pcmu-bframes", "pcmu", "flac", []string{"mulawenc", "rtppcmupay"}, 40, clipB},
	} {
		t.Run(c.name, func(t *testing.T) {
			needGstElements(t, py, append([]string{"matroskademux", "h264parse", "audioresample"}, c.elems...)...)
			g := startGst(t, gstOptions{Audio: c.audio, Clip: c.clip})
			path, row := recordJob(t, g.URL(), "tcp", 8*time.Second)
			if !strings.HasSuffix(row.Codecs, ","+c.codec) {
				t.Fatalf("segment codecs %q, want the audio's %s", row.Codecs, c.codec)
			}
			whites := whiteFrames(t, ffmpeg, path)
			onsets := beepOnsets(t, ffmpeg, path, c.chunk)
			t.Logf("white frames at %v, beeps at %v", whites, onsets)
			// The segment's first audio frame is the first one that
			// starts after its first picture: a beep there is cut, its
			// onset not measurable.
			pairs := checkBeeps(t, whites, onsets, 0.1)
			if pairs < 3 {
				t.Fatalf("only %d white frames with a beep (whites %v, beeps %v)", pairs, whites, onsets)
			}
		})
	}
}

// TestTestcamBeeps records nvr's own test camera with its audio track
// (G.711 made in Go: a beep where each loop starts, that is on frame
// number 0 of the numbered clip) through a real recorder.Job, and ffmpeg
// decodes the segment: each beep starts within 20 ms of the picture of
// frame 0, so the UI's sound tests can rely on the camera. Over TCP
// (interleaved) and over UDP (a port pair for each track).
func TestTestcamBeeps(t *testing.T) {
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) { testTestcamBeeps(t, transport) })
	}
}

func testTestcamBeeps(t *testing.T, transport string) {
	ffmpeg := needTool(t, "ffmpeg")
	// Speed 4: 10 s of media in 2.5 s; the camera then drops the
	// connection, which ends the segment.
	cam, err := testcam.Start(testcam.Options{Clip: testcam.ClipNumbered240, Audio: true, Speed: 4, CloseAfter: 2500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	path, row := recordJob(t, cam.URL(), transport, 30*time.Second)
	if !strings.HasSuffix(row.Codecs, ",flac") {
		t.Fatalf("segment codecs %q, want G.711 recorded as flac", row.Codecs)
	}
	// Frame 0 is the only picture whose number blocks are all black.
	crop := fmt.Sprintf("crop=%d:%d:0:0", testcam.NumberedBits*testcam.NumberedBlock, testcam.NumberedBlockHeight)
	var zeros []float64
	for _, v := range ffmpegMetadata(t, ffmpeg, path, "0:v:0", "-vf", crop+",signalstats,metadata=print:key=lavfi.signalstats.YMAX:file=-") {
		if v.value < 100 {
			zeros = append(zeros, v.pts)
		}
	}
	onsets := beepOnsets(t, ffmpeg, path, 40) // 5 ms chunks at 8 kHz
	t.Logf("frame 0 at %v, beeps at %v", zeros, onsets)
	if len(onsets) == 0 {
		t.Fatal("no beep in the recorded audio")
	}
	pairs := 0
	for _, z := range zeros {
		if z < 0.1 {
			continue // the segment's audio starts with its first whole frame after the picture
		}
		best := math.Inf(1)
		for _, o := range onsets {
			if math.Abs(o-z) < math.Abs(best) {
				best = o - z
			}
		}
		pairs++
		t.Logf("frame 0 at %.3f s: beep %+.1f ms", z, best*1000)
		if math.Abs(best) >= 0.020 {
			t.Errorf("frame 0 at %.3f s, beep %+.1f ms off (limit 20 ms)", z, best*1000)
		}
	}
	if pairs < 2 || len(onsets) != pairs {
		t.Fatalf("%d pictures of frame 0 after the start, %d beeps (frame 0 %v, beeps %v)", pairs, len(onsets), zeros, onsets)
	}
}

// recordJob runs a recorder.Job on url until its first segment is
// complete (the clip ends, the job's frame timeout closes the segment)
// and returns the segment's path and row. transport is the RTSP
// client's (tcp or udp).
func recordJob(t *testing.T, url, transport string, limit time.Duration) (string, storage.Segment) {
	t.Helper()
	path, row, _ := recordJobStatus(t, url, transport, limit)
	return path, row
}

// recordJobStatus is recordJob that also returns the job's Status when
// the segment was complete.
func recordJobStatus(t *testing.T, url, transport string, limit time.Duration) (string, storage.Segment, recorder.Status) {
	t.Helper()
	store, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	j, err := recorder.NewJob(recorder.Config{
		Camera: "lipsync", RTSP: rtsp.Config{URL: url, Transport: transport}, SegmentDuration: 60 * time.Second,
		FrameTimeout: time.Second, MinBackoff: 5 * time.Second, MaxBackoff: 5 * time.Second,
	}, recorder.Deps{Store: recorder.Segments(store)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		rows, _, err := store.ListSegments(context.Background(), "lipsync", 0, math.MaxInt64, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) > 0 && rows[0].State == storage.StateComplete {
			st := j.Status()
			t.Logf("status: audio %q (%s), synced by %q %s, %d frames, %d audio frames, %d audio dropped", st.AudioCodec, st.AudioNote, st.AudioSync, st.AudioSyncNote, st.Frames, st.AudioFrames, st.AudioDropped)
			if st.AudioCodec == "" {
				t.Fatalf("no audio: %s", st.AudioNote)
			}
			return filepath.Join(store.RecordingsDir(), filepath.FromSlash(rows[0].Path)), rows[0], st
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no complete segment within %v; status %+v", limit, j.Status())
	return "", storage.Segment{}, recorder.Status{}
}

// whiteFrames returns the presentation times of the video's white frames.
func whiteFrames(t *testing.T, ffmpeg, path string) []float64 {
	t.Helper()
	var times []float64
	prevWhite := false
	for _, v := range ffmpegMetadata(t, ffmpeg, path, "0:v:0", "-vf", "signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-") {
		white := v.value > 128
		if white && !prevWhite {
			times = append(times, v.pts)
		}
		prevWhite = white
	}
	return times
}

// beepOnsets returns the times at which the audio's level rises above
// -20 dBFS after being below it, measured in chunks of n samples.
func beepOnsets(t *testing.T, ffmpeg, path string, n int) []float64 {
	t.Helper()
	var times []float64
	// A beep already sounding where the audio starts has no onset.
	loud := true
	for _, v := range ffmpegMetadata(t, ffmpeg, path, "0:a:0",
		"-af", "asetnsamples=n="+strconv.Itoa(n)+",astats=metadata=1:reset=1,ametadata=print:key=lavfi.astats.Overall.Peak_level:file=-") {
		l := v.value > -20
		if l && !loud {
			times = append(times, v.pts)
		}
		loud = l
	}
	return times
}

// ffmpegMetadata decodes one stream of path through a filter (args) that
// prints one metadata value per frame, and returns them.
func ffmpegMetadata(t *testing.T, ffmpeg, path, stream string, filter ...string) []metaValue {
	t.Helper()
	args := append([]string{"-nostdin", "-v", "error", "-i", path, "-map", stream}, filter...)
	out, err := exec.Command(ffmpeg, append(args, "-f", "null", "-")...).Output()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v", filter, err)
	}
	return metadataLines(out)
}

type metaValue struct{ pts, value float64 }

// metadataLines reads ffmpeg's metadata=print output: a "frame:N pts:P
// pts_time:T" line followed by "key=value".
func metadataLines(out []byte) []metaValue {
	var vals []metaValue
	var pts float64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "pts_time:"); i >= 0 {
			pts, _ = strconv.ParseFloat(strings.Fields(line[i+len("pts_time:"):])[0], 64)
			continue
		}
		if _, v, ok := strings.Cut(line, "="); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				f = math.Inf(-1) // "-inf" for silence
			}
			vals = append(vals, metaValue{pts, f})
		}
	}
	return vals
}

// checkBeeps pairs each white frame from the time from on (seconds) with
// the nearest beep onset, and fails the test for a pair 20 ms or more
// apart; a white frame with no beep within half a second (outside the
// recording) is not paired. It returns the number of pairs.
func checkBeeps(t *testing.T, whites, onsets []float64, from float64) int {
	t.Helper()
	pairs := 0
	for _, w := range whites {
		if w < from {
			continue
		}
		best := math.Inf(1)
		for _, o := range onsets {
			if math.Abs(o-w) < math.Abs(best) {
				best = o - w
			}
		}
		if math.Abs(best) > 0.5 {
			continue
		}
		pairs++
		t.Logf("white frame %.3f s: beep %+.1f ms", w, best*1000)
		if math.Abs(best) >= 0.020 {
			t.Errorf("white frame at %.3f s, beep %+.1f ms off (limit 20 ms)", w, best*1000)
		}
	}
	return pairs
}
