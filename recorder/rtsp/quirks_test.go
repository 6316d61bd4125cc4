package rtsp

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

type gotPacket struct {
	ssrc uint32
	seq  uint16
	pt   uint8
}

// runScript opens a session against the scripted camera, reads want
// packets (0: none) and closes it, checking no goroutine is left behind.
func runScript(t *testing.T, sc script, cfg Config, want int) (*Session, *fakeServer, []gotPacket) {
	t.Helper()
	srv := startFake(t, sc.handler())
	base := runtime.NumGoroutine()
	if cfg.URL == "" {
		cfg.URL = "rtsp://" + srv.addr + "/cam"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var got []gotPacket
	if want > 0 {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		err = s.ReadPackets(rctx, func(p *rtp.Packet) error {
			got = append(got, gotPacket{p.SSRC, p.SequenceNumber, p.PayloadType})
			if len(got) == want {
				rcancel()
			}
			return nil
		})
		rcancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ReadPackets = %v after %d packets, want %d packets", err, len(got), want)
		}
	}
	s.Close()
	waitGoroutines(t, base)
	return s, srv, got
}

func TestCameraQuirks(t *testing.T) {
	ssrcs := func(ps []gotPacket) []uint32 {
		var out []uint32
		for _, p := range ps {
			out = append(out, p.ssrc)
		}
		return out
	}
	cases := []struct {
		name  string
		sc    script
		want  int
		check func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket)
	}{
		{
			name: "well-behaved camera",
			sc:   script{afterPlay: rtpFrame(0, 1, 0x11) + srFrame(1, 0x11) + rtpFrame(0, 2, 0x11) + rtpFrame(0, 3, 0x11)},
			want: 3,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				if r := srv.find("DESCRIBE"); len(r) != 1 || r[0].header.Get("Accept") != "application/sdp" {
					t.Errorf("DESCRIBE = %+v", r)
				}
				if r := srv.find("SETUP"); len(r) != 1 || r[0].url != "rtsp://"+srv.addr+"/cam/trackID=1" ||
					!strings.Contains(r[0].header.Get("Transport"), "RTP/AVP/TCP;unicast;interleaved=0-1") {
					t.Errorf("SETUP = %+v", r)
				}
				if r := srv.find("PLAY"); len(r) != 1 || r[0].url != "rtsp://"+srv.addr+"/cam/" || r[0].session != "1234ABCD" {
					t.Errorf("PLAY = %+v", r)
				}
				if r := srv.find("TEARDOWN"); len(r) != 1 || r[0].session != "1234ABCD" {
					t.Errorf("TEARDOWN = %+v", r)
				}
				info := s.Info()
				if len(info.Tracks) != 2 || info.Tracks[1].Codec != "PCMA" || info.Tracks[1].ClockRate != 8000 {
					t.Errorf("tracks = %+v", info.Tracks)
				}
				if info.Server != "fakecam" || len(info.Methods) != 6 || info.SessionTimeout != 60*time.Second {
					t.Errorf("info = %+v", info)
				}
				if st := s.Stats(); st.RTCPPackets != 1 || st.Packets != 3 {
					t.Errorf("stats = %+v", st)
				}
			},
		},
		{
			name: "Content-Base without scheme (Anjvision)",
			sc: script{replies: map[string]string{"DESCRIBE": describeReply(testSDP, "Content-Base: {addr}/anj/\r\n")},
				afterPlay: rtpFrame(0, 1, 1)},
			want: 1,
			check: func(t *testing.T, s *Session, srv *fakeServer, _ []gotPacket) {
				if r := srv.find("SETUP"); r[0].url != "rtsp://"+srv.addr+"/anj/trackID=1" {
					t.Errorf("SETUP url = %q", r[0].url)
				}
			},
		},
		{
			name: "Content-Base with trailing space",
			sc: script{replies: map[string]string{"DESCRIBE": describeReply(testSDP, "Content-Base: rtsp://{addr}/sp/ \r\n")},
				afterPlay: rtpFrame(0, 1, 1)},
			want: 1,
			check: func(t *testing.T, s *Session, srv *fakeServer, _ []gotPacket) {
				if r := srv.find("SETUP"); r[0].url != "rtsp://"+srv.addr+"/sp/trackID=1" {
					t.Errorf("SETUP url = %q", r[0].url)
				}
			},
		},
		{
			name: "Content-Base rtsp://rtsp:// with credentials echoed",
			sc: script{replies: map[string]string{"DESCRIBE": describeReply(testSDP, "Content-Base: rtsp://rtsp://admin:pw@{addr}/dbl/\r\n")},
				afterPlay: rtpFrame(0, 1, 1)},
			want: 1,
			check: func(t *testing.T, s *Session, srv *fakeServer, _ []gotPacket) {
				if r := srv.find("SETUP"); r[0].url != "rtsp://"+srv.addr+"/dbl/trackID=1" {
					t.Errorf("SETUP url = %q", r[0].url)
				}
			},
		},
		{
			name: "Content-Location when there is no Content-Base",
			sc: script{replies: map[string]string{"DESCRIBE": describeReply(testSDP, "Content-Location: rtsp://{addr}/loc/\r\n")},
				afterPlay: rtpFrame(0, 1, 1)},
			want: 1,
			check: func(t *testing.T, s *Session, srv *fakeServer, _ []gotPacket) {
				if r := srv.find("SETUP"); r[0].url != "rtsp://"+srv.addr+"/loc/trackID=1" {
					t.Errorf("SETUP url = %q", r[0].url)
				}
			},
		},
		{
			name: "request URL when neither header, absolute media control",
			sc: script{replies: map[string]string{"DESCRIBE": describeReply(strings.Replace(testSDP, "a=control:trackID=1", "a=control:rtsp://{addr}/abs/v", 1), "")},
				afterPlay: rtpFrame(0, 1, 1)},
			want: 1,
			check: func(t *testing.T, s *Session, srv *fakeServer, _ []gotPacket) {
				if r := srv.find("SETUP"); r[0].url != "rtsp://"+srv.addr+"/abs/v" {
					t.Errorf("SETUP url = %q", r[0].url)
				}
				if r := srv.find("PLAY"); r[0].url != "rtsp://"+srv.addr+"/cam" {
					t.Errorf("PLAY url = %q", r[0].url)
				}
			},
		},
		{
			name: "SETUP Transport without /TCP (Escam Q6)",
			sc: script{replies: map[string]string{"SETUP": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP;unicast;interleaved=0-1\r\nSession: 1234ABCD\r\n\r\n"},
				afterPlay: rtpFrame(0, 1, 1) + rtpFrame(0, 2, 1)},
			want: 2,
		},
		{
			name: "SETUP Transport without channels",
			sc: script{replies: map[string]string{"SETUP": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast\r\nSession: 1234ABCD\r\n\r\n"},
				afterPlay: rtpFrame(0, 1, 1)},
			want: 1,
		},
		{
			name: "server picks other channels; data on unassigned channels dropped",
			sc: script{replies: map[string]string{"SETUP": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=4-5\r\nSession: 1234ABCD\r\n\r\n"},
				afterPlay: rtpFrame(0, 9, 1) + rtpFrame(4, 1, 1) + srFrame(5, 1) + frame(7, []byte("xx")) + rtpFrame(4, 2, 1)},
			want: 2,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				st := s.Stats()
				if st.DroppedUnknownChannel != 2 || st.RTCPPackets != 1 || got[0].seq != 1 {
					t.Errorf("stats = %+v, got %+v", st, got)
				}
			},
		},
		{
			name: "RTP-Info with bogus seq, negative rtptime and trailing ; (Hikvision, OMNY, Laureii)",
			sc: script{replies: map[string]string{"PLAY": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 1234ABCD\r\n" +
				"RTP-Info: url=rtsp://{addr}/cam/trackID=1;seq=0;rtptime=-1234;\r\n\r\n"},
				afterPlay: rtpFrame(0, 500, 7) + rtpFrame(0, 501, 8)},
			want: 2,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				if s.Stats().DroppedWrongSSRC != 0 {
					t.Errorf("no SSRC was announced, none may be dropped")
				}
			},
		},
		{
			name: "RTP-Info naming a wrong control URL (GW Security GW4089IP): one stream, its ssrc still applies",
			sc: script{replies: map[string]string{"PLAY": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 1234ABCD\r\n" +
				"RTP-Info: url=rtsp://{addr}/live/ch00_0;seq=1;rtptime=0;ssrc=00000022\r\n\r\n"},
				afterPlay: rtpFrame(0, 1, 0x99) + rtpFrame(0, 2, 0x22) + rtpFrame(0, 3, 0x22)},
			want: 2,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				if got[0].ssrc != 0x22 || got[1].ssrc != 0x22 {
					t.Errorf("ssrcs = %x", ssrcs(got))
				}
				if st := s.Stats(); st.DroppedWrongSSRC != 1 {
					t.Errorf("stats = %+v: the single RTP-Info entry's ssrc was not applied", st)
				}
			},
		},
		{
			name: "Session id with leading spaces (Hikvision)",
			sc: script{replies: map[string]string{"SETUP": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession:        9988;timeout=30\r\n\r\n"},
				afterPlay: rtpFrame(0, 1, 1)},
			want: 1,
			check: func(t *testing.T, s *Session, srv *fakeServer, _ []gotPacket) {
				if r := srv.find("PLAY"); r[0].session != "9988" {
					t.Errorf("PLAY Session = %q", r[0].session)
				}
				if s.Info().SessionTimeout != 30*time.Second {
					t.Errorf("timeout = %v", s.Info().SessionTimeout)
				}
			},
		},
		{
			name: "Session id changes between responses",
			sc: script{replies: map[string]string{"PLAY": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: NEWID\r\n\r\n"},
				afterPlay: rtpFrame(0, 1, 1)},
			want: 1,
			check: func(t *testing.T, s *Session, srv *fakeServer, _ []gotPacket) {
				if r := srv.find("TEARDOWN"); len(r) != 1 || r[0].session != "NEWID" {
					t.Errorf("TEARDOWN = %+v", r)
				}
			},
		},
		{
			name: "CSeq with trailing white space (Longse)",
			sc: script{replies: map[string]string{
				"OPTIONS":  strings.Replace(okOptions, "CSeq: {cseq}", "CSeq: {cseq} \t", 1),
				"DESCRIBE": strings.Replace(describeReply(testSDP, "Content-Base: rtsp://{addr}/cam/\r\n"), "CSeq: {cseq}", "CSeq: {cseq}  ", 1),
				"SETUP":    strings.Replace(okSetupTCP, "CSeq: {cseq}", "CSeq:  {cseq} ", 1),
				"PLAY":     strings.Replace(okPlay, "CSeq: {cseq}", "CSeq: {cseq}   ", 1),
			}, afterPlay: rtpFrame(0, 1, 1)},
			want: 1,
		},
		{
			name: "stale reply with an old CSeq is skipped",
			sc: script{replies: map[string]string{"PLAY": "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n" + okPlay},
				afterPlay: rtpFrame(0, 1, 1)},
			want: 1,
		},
		{
			name: "RTCP SR before the PLAY reply, SSRC only in RTP-Info (Reolink)",
			sc: script{beforePlay: srFrame(1, 0x22),
				replies: map[string]string{"PLAY": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 1234ABCD\r\n" +
					"RTP-Info: url=rtsp://{addr}/cam/trackID=1;seq=1;rtptime=0;ssrc=00000022\r\n\r\n"},
				afterPlay: rtpFrame(0, 1, 0x99) + rtpFrame(0, 2, 0x22) + rtpFrame(0, 3, 0x22)},
			want: 2,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				if got[0].ssrc != 0x22 || got[1].ssrc != 0x22 {
					t.Errorf("ssrcs = %x", ssrcs(got))
				}
				if st := s.Stats(); st.DroppedWrongSSRC != 1 || st.RTCPPackets != 1 {
					t.Errorf("stats = %+v", st)
				}
			},
		},
		{
			name: "RTP before the PLAY reply is kept (R5)",
			sc:   script{beforePlay: rtpFrame(0, 1, 5) + rtpFrame(0, 2, 5), afterPlay: rtpFrame(0, 3, 5)},
			want: 3,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				for i, p := range got {
					if p.seq != uint16(i+1) {
						t.Errorf("order: %+v", got)
					}
				}
			},
		},
		{
			name: "CRLF and junk before $ (R5)",
			sc: script{afterPlay: "\r\n" + rtpFrame(0, 1, 1) + "\r\n\r\n" + rtpFrame(0, 2, 1) + "xyz\x00\x01" +
				rtpFrame(0, 3, 1) + "RTSX/" + rtpFrame(0, 4, 1)},
			want: 4,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				if st := s.Stats(); st.JunkBytes != 2+4+5+5 {
					t.Errorf("junk = %d", st.JunkBytes)
				}
			},
		},
		{
			name: "stale live555 session data (Reolink F4): before SETUP and with another SSRC",
			sc: script{replies: map[string]string{
				"DESCRIBE": rtpFrame(0, 70, 0x1111) + describeReply(testSDP, "Content-Base: rtsp://{addr}/cam/\r\n"),
				"SETUP":    "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc= 0000ABCD;mode=\"play\"\r\nSession: 1234ABCD\r\n\r\n",
			},
				beforePlay: rtpFrame(0, 71, 0x1111),
				afterPlay:  rtpFrame(0, 72, 0x1111) + rtpFrame(0, 1, 0xABCD) + rtpFrame(0, 73, 0x1111) + rtpFrame(0, 2, 0xABCD)},
			want: 2,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				if got[0].ssrc != 0xABCD || got[1].ssrc != 0xABCD {
					t.Errorf("ssrcs = %x", ssrcs(got))
				}
				if st := s.Stats(); st.DroppedWrongSSRC != 3 || st.DroppedUnknownChannel != 1 {
					t.Errorf("stats = %+v", st)
				}
				if len(srv.find("TEARDOWN")) != 1 {
					t.Errorf("no TEARDOWN")
				}
			},
		},
		{
			name: "SSRC changes when none was announced (R17)",
			sc:   script{afterPlay: rtpFrame(0, 1, 1) + rtpFrame(0, 2, 2) + rtpFrame(0, 3, 3)},
			want: 3,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				if len(got) != 3 || got[2].ssrc != 3 {
					t.Errorf("got %+v", got)
				}
			},
		},
		{
			name: "server requests between frames are answered",
			sc: script{afterPlay: "GET_PARAMETER rtsp://{addr}/cam RTSP/1.0\r\nCSeq: 7\r\nSession: 1234ABCD\r\n\r\n" + rtpFrame(0, 1, 1) +
				"ANNOUNCE rtsp://{addr}/cam RTSP/1.0\r\nCSeq: 8 \r\nContent-Length: 4\r\n\r\nabcd" +
				"OPTIONS * RTSP/1.0\r\nCSeq: 9\r\n\r\n" + rtpFrame(0, 2, 1)},
			want: 2,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				want := map[string]int{"7": 200, "8": 501, "9": 200}
				deadline := time.Now().Add(2 * time.Second)
				for {
					srv.mu.Lock()
					n := len(srv.replies)
					srv.mu.Unlock()
					if n >= 3 || time.Now().After(deadline) {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				srv.mu.Lock()
				defer srv.mu.Unlock()
				if len(srv.replies) != 3 {
					t.Fatalf("client sent %d replies", len(srv.replies))
				}
				for _, r := range srv.replies {
					if want[r.Header.Get("CSeq")] != r.Status {
						t.Errorf("reply CSeq %q status %d", r.Header.Get("CSeq"), r.Status)
					}
				}
			},
		},
		{
			name: "extra pt=50 packets (Geovision) and malformed RTP are dropped",
			sc:   script{afterPlay: frame(0, rtpBytes(50, 1, 0, 1, 8)) + frame(0, []byte{0x80, 96}) + rtpFrame(0, 2, 1)},
			want: 1,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				if st := s.Stats(); st.DroppedPayloadType != 1 || st.DroppedMalformed != 1 || got[0].seq != 2 {
					t.Errorf("stats = %+v got %+v", st, got)
				}
			},
		},
		{
			name: "largest interleaved frame (65535 bytes)",
			sc:   script{afterPlay: frame(0, rtpBytes(96, 1, 0, 1, 65535-12))},
			want: 1,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				if st := s.Stats(); st.Bytes != 65535 {
					t.Errorf("bytes = %d", st.Bytes)
				}
			},
		},
		{
			name: "malformed SDP still yields the H.264 track (TP-Link, FLIR, Ubiquiti)",
			sc: script{replies: map[string]string{"DESCRIBE": describeReply("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=one\r\ns=two\r\nc=IN IP4 \r\nt=now-\r\n"+
				"m=application/TP-LINK 0 RTP/AVP smart/1/90000\r\na=rtpmap:95 smart/1/90000\r\n"+
				"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96\r\na=control:track1\r\n", "Content-Base: rtsp://{addr}/cam/\r\n")},
				afterPlay: rtpFrame(0, 1, 1)},
			want: 1,
			check: func(t *testing.T, s *Session, srv *fakeServer, got []gotPacket) {
				if r := srv.find("SETUP"); r[0].url != "rtsp://"+srv.addr+"/cam/track1" {
					t.Errorf("SETUP url = %q", r[0].url)
				}
				if len(s.Info().Tracks) != 2 || s.Info().Tracks[0].Type != "application" {
					t.Errorf("tracks = %+v", s.Info().Tracks)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, srv, got := runScript(t, tc.sc, Config{}, tc.want)
			if len(got) != tc.want {
				t.Fatalf("got %d packets, want %d", len(got), tc.want)
			}
			if tc.check != nil {
				tc.check(t, s, srv, got)
			}
		})
	}
}
