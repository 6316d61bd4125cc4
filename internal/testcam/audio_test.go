package testcam

import (
	"context"
	"encoding/binary"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/pion/rtp"
)

// TestULaw: every 16-bit sample encodes to the µ-law code that nvr's own
// G.711 decoder (checked against ffmpeg's in recorder/audio) turns back
// into the nearest level, so the beep survives the codec.
func TestULaw(t *testing.T) {
	dec, err := audio.NewG711("PCMU", 1)
	if err != nil {
		t.Fatal(err)
	}
	var levels [256]int16
	for c := range 256 {
		levels[c] = dec.Decode(nil, []byte{byte(c)})[0]
	}
	if ULaw(0) != 0xff || ULaw(32767) != 0x80 || ULaw(-32768) != 0x00 {
		t.Fatalf("ULaw(0, max, min) = %#x %#x %#x, want 0xff 0x80 0x00", ULaw(0), ULaw(32767), ULaw(-32768))
	}
	prev := levels[ULaw(-32768)]
	for s := -32768; s <= 32767; s++ {
		got := levels[ULaw(int16(s))]
		if got < prev {
			t.Fatalf("sample %d decodes to %d, below the previous sample's %d", s, got, prev)
		}
		prev = got
		// Within half a quantisation step (the decoder returns the
		// middle of the interval) up to G.711's largest level, 32124.
		if d := abs(int(got) - s); s >= -32124 && s <= 32124 && d > int(quantStep(got))/2 {
			t.Fatalf("sample %d: code %#x decodes to %d, %d off (step %d)", s, ULaw(int16(s)), got, d, quantStep(got))
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// quantStep is the µ-law step size around a decoded level.
func quantStep(v int16) int16 {
	x := abs(int(v)) + 0x84
	step := int16(8)
	for x >= 0x100 && step < 1024 {
		x >>= 1
		step <<= 1
	}
	return step
}

// TestAudioRTSP: with Options.Audio the SDP offers a PCMU track; SETUP of
// it joins the video's session (and is refused on the video's channels),
// RTP-Info names both tracks, and the audio packets come on their own
// channel with payload type 0, 160 samples apart, consecutive sequence
// numbers and their own SSRC. A camera without Audio has no such track.
func TestAudioRTSP(t *testing.T) {
	s := startServer(t, Options{Clip: ClipNumbered240, Audio: true, Speed: 4})
	c := dialRaw(t, s)
	r := c.do("DESCRIBE", c.base)
	sdp := string(r.Body)
	for _, want := range []string{"m=audio 0 RTP/AVP 0\r\n", "a=rtpmap:0 PCMU/8000\r\n", "a=control:trackID=1\r\n"} {
		if !strings.Contains(sdp, want) {
			t.Fatalf("SDP lacks %q:\n%s", want, sdp)
		}
	}
	r = c.do("SETUP", c.base+"/"+trackControl, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1")
	if r.Status != 200 {
		t.Fatalf("video SETUP: %d", r.Status)
	}
	sess := "Session: " + sessionID(r.Header["session"])
	if r := c.do("SETUP", c.base+"/"+audioControl, "Transport: RTP/AVP/TCP;unicast;interleaved=1-2", sess); r.Status != 461 {
		t.Fatalf("audio SETUP on the video's RTCP channel: %d, want 461", r.Status)
	}
	if r := c.do("SETUP", c.base+"/"+audioControl, "Transport: RTP/AVP;unicast;client_port=9000-9001", sess); r.Status != 461 {
		t.Fatalf("audio SETUP over UDP beside TCP video: %d, want 461", r.Status)
	}
	r = c.do("SETUP", c.base+"/"+audioControl, "Transport: RTP/AVP/TCP;unicast;interleaved=2-3", sess)
	if r.Status != 200 || !strings.Contains(r.Header["transport"], "interleaved=2-3") {
		t.Fatalf("audio SETUP: %d %q", r.Status, r.Header["transport"])
	}
	r = c.do("PLAY", c.base, sess)
	info := r.Header["rtp-info"]
	if r.Status != 200 || !strings.Contains(info, "/"+trackControl+";") || !strings.Contains(info, ",url=") || !strings.Contains(info, "/"+audioControl+";") {
		t.Fatalf("PLAY: %d, RTP-Info %q", r.Status, info)
	}
	var audioPkts []*rtp.Packet
	var videoSSRC uint32
	deadline := time.Now().Add(testWait)
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	for len(audioPkts) < 60 {
		ch, b, err := c.readFrame()
		if err != nil {
			t.Fatalf("after %d audio packets: %v", len(audioPkts), err)
		}
		var p rtp.Packet
		switch ch {
		case 0, 2:
			if err := p.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
		default:
			continue
		}
		if ch == 0 {
			videoSSRC = p.SSRC
			continue
		}
		audioPkts = append(audioPkts, &p)
	}
	first := audioPkts[0]
	if !strings.Contains(info, "seq="+strconv.Itoa(int(first.SequenceNumber))+";rtptime="+strconv.Itoa(int(first.Timestamp))) {
		t.Errorf("first audio packet seq %d ts %d not in RTP-Info %q", first.SequenceNumber, first.Timestamp, info)
	}
	want := audioLoop(s.main.clip.Duration)
	for i, p := range audioPkts {
		if p.PayloadType != 0 || p.SSRC == videoSSRC || len(p.Payload) != AudioPacketSamples ||
			p.SequenceNumber != first.SequenceNumber+uint16(i) || p.Timestamp != first.Timestamp+uint32(i*AudioPacketSamples) {
			t.Fatalf("audio packet %d: PT %d, SSRC %x (video %x), %d bytes, seq %d, ts %d (first seq %d ts %d)",
				i, p.PayloadType, p.SSRC, videoSSRC, len(p.Payload), p.SequenceNumber, p.Timestamp, first.SequenceNumber, first.Timestamp)
		}
		if string(p.Payload) != string(want[i]) {
			t.Fatalf("audio packet %d: payload differs from the loop's", i)
		}
	}
	if n := s.Stats().AudioPackets; n < int64(len(audioPkts)) {
		t.Errorf("Stats.AudioPackets %d, %d received", n, len(audioPkts))
	}

	plain := startServer(t, Options{Clip: ClipNumbered240})
	pc := dialRaw(t, plain)
	if r := pc.do("DESCRIBE", pc.base); strings.Contains(string(r.Body), "m=audio") {
		t.Fatalf("a camera without Audio offers audio:\n%s", r.Body)
	}
	if r := pc.do("SETUP", pc.base+"/"+audioControl, "Transport: RTP/AVP/TCP;unicast;interleaved=2-3"); r.Status != 404 {
		t.Fatalf("SETUP of audio without Audio: %d, want 404", r.Status)
	}
}

// TestAudioFFmpeg: ffmpeg, an independent client, plays the stream with
// both tracks over TCP and UDP and decodes the audio with its own G.711
// decoder: from the first beep on, the samples are exactly the loop's
// (beep, then silence) for two loops, so no packet is lost, doubled or
// out of place.
func TestAudioFFmpeg(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	dec, err := audio.NewG711("PCMU", 1)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Options{Clip: ClipNumbered240, Audio: true, Speed: 4})
	var loop []int16
	for _, p := range audioLoop(s.main.clip.Duration) {
		loop = dec.Decode(loop, p)
	}
	if len(loop) != 4*AudioRate {
		t.Fatalf("one loop is %d samples, want 4 s", len(loop))
	}
	for _, tr := range []string{"tcp", "udp"} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-v", "error", "-rtsp_transport", tr, "-i", s.URL(),
				"-map", "0:a", "-t", "10", "-f", "s16le", "-acodec", "pcm_s16le", "-").Output()
			if err != nil {
				t.Fatalf("ffmpeg: %v", err)
			}
			pcm := make([]int16, len(out)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(out[2*i:]))
			}
			// The first beep that starts after ffmpeg's first sample.
			start := -1
			for i := 1; i < len(pcm); i++ {
				if pcm[i] != 0 && pcm[i-1] == 0 && i+BeepSamples < len(pcm) && isBeep(pcm[i:i+BeepSamples]) {
					start = i
					break
				}
			}
			if start < 0 {
				t.Fatalf("no beep in %d samples", len(pcm))
			}
			// The loop starts with the beep's first sample, which is 0
			// (sin 0): the onset found is its second sample.
			start--
			if len(pcm)-start < 2*len(loop) {
				t.Fatalf("only %d samples after the first beep at %d, want two loops", len(pcm)-start, start)
			}
			for i := range 2 * len(loop) {
				if pcm[start+i] != loop[i%len(loop)] {
					t.Fatalf("sample %d after the first beep: %d, want %d", i, pcm[start+i], loop[i%len(loop)])
				}
			}
		})
	}
}

// isBeep reports whether pcm is loud all through: the 1 kHz tone at half
// scale has a peak above 10000 in every 1 ms.
func isBeep(pcm []int16) bool {
	for i := 0; i+8 <= len(pcm); i += 8 {
		peak := 0
		for _, v := range pcm[i : i+8] {
			peak = max(peak, abs(int(v)))
		}
		if peak < 10000 {
			return false
		}
	}
	return true
}
