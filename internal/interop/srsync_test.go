package interop

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/ntp"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// srLate is how much later than its video a lateCam sends its audio.
const srLate = 300 * time.Millisecond

// TestLipSyncSenderReports records, through a real recorder.Job, a clip
// from gortsplib's server that plays like a camera buffering its audio:
// the audio goes out srLate after the video of the same instant, and the
// PLAY reply's RTP-Info has no rtptime (the stream starts after it). So
// arrival puts every beep 300 ms after its white frame; only the RTCP
// sender reports, which carry the true NTP time of both tracks' RTP
// clocks, relate them. ffmpeg decodes the segment: from the second white
// frame on (the first reports come a quarter second into the stream),
// each beep starts within 20 ms of its white frame. Over TCP
// (interleaved) and UDP (each track's RTCP port).
func TestLipSyncSenderReports(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	dir := t.TempDir()
	h264, mulaw := filepath.Join(dir, "v.h264"), filepath.Join(dir, "a.ulaw")
	// The clip of TestLipSync: a white frame and the onset of a 100 ms
	// 1 kHz beep on each second; G.711 µ-law, H.264 with delimiters.
	mk := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", "color=c=black:s=320x180:r=25,drawbox=c=white:t=fill:enable='lt(mod(t\\,1)\\,0.04)'",
		"-f", "lavfi", "-i", "aevalsrc='if(lt(mod(t\\,1)\\,0.1)\\,0.8*sin(2*PI*1000*t)\\,0)':s=8000",
		"-t", "7", "-map", "0:v", "-c:v", "libx264", "-bf", "0", "-g", "25", "-pix_fmt", "yuv420p",
		"-x264-params", "scenecut=0:aud=1", "-f", "h264", h264,
		"-map", "1:a", "-t", "7", "-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1", "-f", "mulaw", mulaw)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("making the clip: %v %s", err, out)
	}
	aus, sps, pps := readAnnexB(t, h264)
	pcm, err := os.ReadFile(mulaw)
	if err != nil {
		t.Fatal(err)
	}
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			cam := startLateCam(t, aus, sps, pps, pcm)
			path, row, st := recordJobStatus(t, cam.url, transport, 20*time.Second)
			if st.AudioSync != "sender reports" || st.AudioSyncNote != "" {
				t.Errorf("audio synced by %q (%s), want sender reports", st.AudioSync, st.AudioSyncNote)
			}
			t.Logf("segment %s, codecs %s", row.Path, row.Codecs)
			whites := whiteFrames(t, ffmpeg, path)
			onsets := beepOnsets(t, ffmpeg, path, 40) // 5 ms chunks at 8 kHz
			t.Logf("white frames at %v, beeps at %v", whites, onsets)
			// Before the first sender reports the audio is late.
			pairs := checkBeeps(t, whites, onsets, 0.9)
			if pairs < 4 {
				t.Fatalf("only %d white frames with a beep (whites %v, beeps %v)", pairs, whites, onsets)
			}
		})
	}
}

// readAnnexB splits an H.264 elementary stream with access unit
// delimiters into access units (without the delimiters).
func readAnnexB(t *testing.T, path string) (aus [][][]byte, sps, pps []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cur [][]byte
	for _, n := range splitAnnexB(b) {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case 9:
			if hasSlice(cur) {
				aus, cur = append(aus, cur), nil
			}
			continue
		case 7:
			sps = n
		case 8:
			pps = n
		}
		cur = append(cur, n)
	}
	if hasSlice(cur) {
		aus = append(aus, cur)
	}
	if len(aus) < 50 || sps == nil || pps == nil {
		t.Fatalf("clip: %d frames, SPS %v, PPS %v", len(aus), sps != nil, pps != nil)
	}
	return aus, sps, pps
}

// lateCam is gortsplib's server playing 25 fps H.264 and 8 kHz µ-law
// once, starting 200 ms after the first PLAY (so RTP-Info has no
// rtptime), the audio srLate behind the video in wall time, with a
// sender report on each track every 500 ms from 250 ms in. Each packet
// is sent with the NTP time of its content, so gortsplib's own reports
// (every 10 s) agree with the test's.
type lateCam struct {
	url    string
	srv    *gortsplib.Server
	stream *gortsplib.ServerStream
	video  *description.Media
	audio  *description.Media
	once   sync.Once
	wg     sync.WaitGroup
	ctx    context.Context
	aus    [][][]byte
	pcm    []byte
	venc   func([][]byte) ([]*rtp.Packet, error)
	aenc   func([]byte) ([]*rtp.Packet, error)
}

func startLateCam(t *testing.T, aus [][][]byte, sps, pps, pcm []byte) *lateCam {
	t.Helper()
	port := freePort(t)
	c := &lateCam{url: rtspURL(port, "live", "", ""), aus: aus, pcm: pcm}
	vf := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: sps, PPS: pps}
	af := &format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1}
	c.video = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{vf}}
	c.audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{af}}
	var err error
	for range 20 {
		rtpPort := 20000 + 2*rand.IntN(20000)
		c.srv = &gortsplib.Server{
			Handler:        c,
			RTSPAddress:    fmt.Sprintf("127.0.0.1:%d", port),
			UDPRTPAddress:  fmt.Sprintf("127.0.0.1:%d", rtpPort),
			UDPRTCPAddress: fmt.Sprintf("127.0.0.1:%d", rtpPort+1),
		}
		if err = c.srv.Start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("gortsplib server: %v", err)
	}
	c.stream = &gortsplib.ServerStream{Server: c.srv, Desc: &description.Session{Medias: []*description.Media{c.video, c.audio}}}
	if err := c.stream.Initialize(); err != nil {
		c.srv.Close()
		t.Fatal(err)
	}
	venc, err := vf.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	aenc, err := af.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	c.venc, c.aenc = venc.Encode, aenc.Encode
	ctx, cancel := context.WithCancel(context.Background())
	c.ctx = ctx
	t.Cleanup(func() {
		cancel()
		c.wg.Wait()
		c.stream.Close()
		c.srv.Close()
	})
	return c
}

// play sends the clip once; see lateCam.
func (c *lateCam) play() {
	defer c.wg.Done()
	select {
	case <-c.ctx.Done():
		return
	case <-time.After(200 * time.Millisecond):
	}
	start := time.Now()
	vBase, aBase := rand.Uint32(), rand.Uint32()
	var vSSRC, aSSRC uint32
	const frame, packet = 40 * time.Millisecond, 20 * time.Millisecond
	nAudio := len(c.pcm) / 160
	vi, ai, si := 0, 0, 0
	for vi < len(c.aus) || ai < nAudio {
		// The next event: a video frame, an audio packet (srLate
		// behind its content) or a pair of sender reports.
		vDue := start.Add(time.Duration(vi) * frame)
		aDue := start.Add(time.Duration(ai)*packet + srLate)
		sDue := start.Add(250*time.Millisecond + time.Duration(si)*500*time.Millisecond)
		due := sDue
		if vi < len(c.aus) && vDue.Before(due) {
			due = vDue
		}
		if ai < nAudio && aDue.Before(due) {
			due = aDue
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(time.Until(due)):
		}
		switch {
		case due.Equal(sDue):
			si++
			if vSSRC == 0 || aSSRC == 0 {
				continue
			}
			// The reports of both tracks for one instant: now.
			now := time.Now()
			d := now.Sub(start)
			_ = c.stream.WritePacketRTCP(c.video, &rtcp.SenderReport{SSRC: vSSRC, NTPTime: ntp.Encode(now),
				RTPTime: vBase + uint32(d.Seconds()*90000)})
			_ = c.stream.WritePacketRTCP(c.audio, &rtcp.SenderReport{SSRC: aSSRC, NTPTime: ntp.Encode(now),
				RTPTime: aBase + uint32(d.Seconds()*8000)})
		case vi < len(c.aus) && due.Equal(vDue):
			pkts, err := c.venc(c.aus[vi])
			if err != nil {
				return
			}
			for _, p := range pkts {
				p.Timestamp = vBase + uint32(vi*3600)
				_ = c.stream.WritePacketRTPWithNTP(c.video, p, vDue)
				vSSRC = p.SSRC // gortsplib sets its own
			}
			vi++
		default:
			pkts, err := c.aenc(c.pcm[ai*160 : ai*160+160])
			if err != nil {
				return
			}
			for _, p := range pkts {
				p.Timestamp = aBase + uint32(ai*160)
				_ = c.stream.WritePacketRTPWithNTP(c.audio, p, start.Add(time.Duration(ai)*packet))
				aSSRC = p.SSRC
			}
			ai++
		}
	}
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (c *lateCam) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (c *lateCam) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay: the first PLAY starts
// the clip.
func (c *lateCam) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	c.once.Do(func() {
		c.wg.Add(1)
		go c.play()
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}
