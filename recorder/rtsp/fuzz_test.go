package rtsp

import (
	"testing"
)

func FuzzSDP(f *testing.F) {
	for _, tc := range sdpCases {
		f.Add([]byte(tc.sdp))
	}
	req, _ := parseCameraURL("rtsp://cam/base")
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseSDP(data, req, "rtsp://cam/base")
		if err != nil {
			return
		}
		if len(d.tracks) > maxSDPMedia {
			t.Fatalf("%d tracks", len(d.tracks))
		}
		if d.video >= 0 {
			v := d.videoTrack
			if !isVideoCodec(v.Codec) || v.ClockRate <= 0 || v.Type != "video" {
				t.Fatalf("bad video track %+v", v)
			}
		}
		_ = describeTracks(d.tracks)
	})
}

// FuzzHeaders covers the small header parsers a camera feeds: Transport,
// Session, RTP-Info, WWW-Authenticate, and Redact.
func FuzzHeaders(f *testing.F) {
	for _, s := range []string{
		"RTP/AVP/TCP;unicast;interleaved=0-1;ssrc= 0000ABCD",
		"      12345678;timeout=20",
		"url=rtsp://h/cam/trackID=1;seq=0;rtptime=-1234;",
		`Digest realm="IP Camera", nonce="x", qop="auth,auth-int", Basic realm="y"`,
		"rtsp://admin:secret@h/x?password=secret",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		replyTransport(s)
		parseSession(s)
		rtpInfoSSRC(s, "rtsp://h/cam/trackID=1")
		rtpInfoTimes(s, "rtsp://h/cam/trackID=1", "rtsp://h/cam/trackID=2")
		if a := newAuthenticator("u", "p", parseChallenges([]string{s})); a != nil {
			a.header("DESCRIBE", "rtsp://h/")
		}
		u, err := parseCameraURL(s)
		if err == nil {
			resolveControl(u, baseURL(u, s, ""), s)
		}
	})
}
