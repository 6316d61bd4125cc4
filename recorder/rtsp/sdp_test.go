package rtsp

import (
	"strings"
	"testing"
)

// sdpCases are camera SDPs with their quirks; they also seed FuzzSDP.
var sdpCases = []struct {
	name     string
	sdp      string
	video    bool   // an H.264 or H.265 track is found
	codec    string // its codec when not H264
	control  string // its resolved control
	pt       uint8
	sprop    string
	pmode    int
	tracks   int
	describe string // describeTracks output when video is false
}{
	{
		name: "clean",
		sdp: "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=Session\r\nt=0 0\r\na=control:*\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" +
			"a=fmtp:96 packetization-mode=1; profile-level-id=640028; sprop-parameter-sets=Z2QAKKzZQHgCJ+WEAAADAAQAAAMAyDxgxlg=,aOvjyyLA\r\na=control:trackID=1\r\n",
		video: true, control: "rtsp://cam/base/trackID=1", pt: 96, pmode: 1, tracks: 1,
		sprop: "Z2QAKKzZQHgCJ+WEAAADAAQAAAMAyDxgxlg=,aOvjyyLA",
	},
	{
		name:  "repeated s= (go2rtc WebRTC#417)",
		sdp:   "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=Media Presentation\ns=Second\nt=0 0\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\na=control:track1\n",
		video: true, control: "rtsp://cam/base/track1", pt: 96, tracks: 1,
	},
	{
		name:  "broken c= (go2rtc#1426)",
		sdp:   "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nc=IN IP4 \r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\nc=IN IP4 garbage/\r\na=rtpmap:96 H264/90000\r\n",
		video: true, control: "rtsp://cam/base", pt: 96, tracks: 1,
	},
	{
		name:  "a=fmtp:96 without parameters (Ubiquiti)",
		sdp:   "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96\r\na=control:trackID=0\r\n",
		video: true, control: "rtsp://cam/base/trackID=0", pt: 96, tracks: 1,
	},
	{
		name:  "t=now- (FLIR)",
		sdp:   "v=0\r\no=- 0 0 IN IP4 10.0.0.2\r\ns=FLIR\r\nt=now-\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:ch0\r\n",
		video: true, control: "rtsp://cam/base/ch0", pt: 96, tracks: 1,
	},
	{
		name: "fmtp for another payload type",
		sdp: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" +
			"a=fmtp:97 packetization-mode=1;sprop-parameter-sets=Z0IAHpWoKA9puAgICBA=,aM48gA==\r\n",
		video: true, control: "rtsp://cam/base", pt: 96, pmode: 1, tracks: 1, sprop: "Z0IAHpWoKA9puAgICBA=,aM48gA==",
	},
	{
		name: "bad media type (TP-Link)",
		sdp: "v=0\r\no=- 14665860 31787219 1 IN IP4 192.168.0.60\r\ns=Session streamed by \"TP-LINK RTSP Server\"\r\nt=0 0\r\n" +
			"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:track1\r\n" +
			"m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:track2\r\n" +
			"m=application/TP-LINK 0 RTP/AVP smart/1/90000\r\na=rtpmap:95 TP-LINK/90000\r\na=control:track3\r\n",
		video: true, control: "rtsp://cam/base/track1", pt: 96, pmode: 1, tracks: 3,
	},
	{
		name: "empty sprop (HIK Media Server) and only SPS (Hikvision)",
		sdp: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" +
			"a=fmtp:96 profile-level-id=420029; packetization-mode=1; sprop-parameter-sets=\r\n",
		video: true, control: "rtsp://cam/base", pt: 96, pmode: 1, tracks: 1,
	},
	{
		name:  "audio first, video second, lower-case codec, multiple formats",
		sdp:   "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\nm=video 0 RTP/AVP 26 97\r\na=rtpmap:97 h264/90000\r\na=control:v\r\n",
		video: true, control: "rtsp://cam/base/v", pt: 97, tracks: 2,
	},
	{
		name:  "Reolink doorbell a=sendonlym=",
		sdp:   "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\na=sendonlym=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
		video: true, control: "rtsp://cam/base", pt: 96, tracks: 1,
	},
	{
		name:  "missing v= o= s= t= and CR-only line ends",
		sdp:   "m=video 0 RTP/AVP 96\ra=rtpmap:96 H264/90000\ra=control:x\r",
		video: true, control: "rtsp://cam/base/x", pt: 96, tracks: 1,
	},
	{
		name:  "H.265 and G.711",
		sdp:   "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\nm=audio 0 RTP/AVP 8\r\n",
		video: true, control: "rtsp://cam/base", pt: 96, tracks: 2, codec: "H265",
	},
	{
		name:  "H.265 listed before H.264 in one section: H.264 is chosen",
		sdp:   "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96 97\r\na=rtpmap:96 H265/90000\r\na=rtpmap:97 H264/90000\r\n",
		video: true, control: "rtsp://cam/base", pt: 97, tracks: 1,
	},
	{
		name:     "MPEG-4 part 2 and G.711 only",
		sdp:      "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 MP4V-ES/90000\r\nm=audio 0 RTP/AVP 8\r\n",
		tracks:   2,
		describe: "stream has: video MP4V-ES, audio PCMA",
	},
	{
		name:     "H264/0 clock rate (R13)",
		sdp:      "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/0\r\n",
		tracks:   1,
		describe: "stream has: video H264 with clock rate 0",
	},
	{
		name: "garbage", sdp: "\x00\x01garbage\r\n=\r\nx=y", tracks: 0, describe: "stream has no tracks",
	},
}

func TestSDP(t *testing.T) {
	req, _ := parseCameraURL("rtsp://cam/base")
	for _, tc := range sdpCases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseSDP([]byte(tc.sdp), req, "rtsp://cam/base")
			if err != nil {
				t.Fatalf("parseSDP: %v\ncleaned:\n%s", err, cleanSDP([]byte(tc.sdp)))
			}
			if len(d.tracks) != tc.tracks {
				t.Fatalf("tracks = %+v", d.tracks)
			}
			if (d.video >= 0) != tc.video {
				t.Fatalf("video = %d", d.video)
			}
			if !tc.video {
				if got := describeTracks(d.tracks); got != tc.describe {
					t.Errorf("describe = %q", got)
				}
				return
			}
			v := d.videoTrack
			if v.Control != tc.control || v.PayloadType != tc.pt || v.SpropParameterSets != tc.sprop ||
				v.PacketizationMode != tc.pmode || v.Codec != codecOr(tc.codec, "H264") || v.ClockRate != 90000 {
				t.Errorf("video = %+v", v)
			}
			if strings.Contains(tc.name, "clean") && v.ProfileLevelID != "640028" {
				t.Errorf("profile-level-id = %q", v.ProfileLevelID)
			}
		})
	}
}

func codecOr(c, def string) string {
	if c == "" {
		return def
	}
	return c
}
