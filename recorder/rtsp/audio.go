package rtsp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

// audioChannels are the interleaved channels asked for the audio track,
// after the video's 0-1.
const audioRTPChannel, audioRTCPChannel = 2, 3

// setupAudio sets up the first track Config.AudioTrack picks. Only a
// failure of the connection itself is returned: a refusal or a reply nvr
// cannot use leaves the session with its video and says why in
// Info.AudioErr, since audio never holds video hostage.
func (s *Session) setupAudio(ctx context.Context, tracks []Track) error {
	var t *Track
	for i := range tracks {
		if tracks[i].Type == "audio" && tracks[i].Control != "" && s.cfg.AudioTrack(tracks[i]) {
			t = &tracks[i]
			break
		}
	}
	if t == nil {
		return nil
	}
	req := &rtspmsg.Request{Method: "SETUP", URL: t.Control}
	var rtpConn, rtcpConn *net.UDPConn
	if s.tcp {
		req.Add("Transport", fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d", audioRTPChannel, audioRTCPChannel))
	} else {
		var err error
		if rtpConn, rtcpConn, err = s.listenUDP(); err != nil {
			s.info.AudioErr = "audio: " + err.Error()
			return nil
		}
		// Kept only if the track is set up; closed otherwise.
		defer func() {
			if s.udpAudio != rtpConn {
				_ = rtpConn.Close()
				_ = rtcpConn.Close()
			}
		}()
		p := rtpConn.LocalAddr().(*net.UDPAddr).Port
		req.Add("Transport", fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d", p, p+1))
	}
	resp, err := s.do(ctx, "SETUP", req)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind == ErrProtocol {
			s.info.AudioErr = "audio SETUP: " + err.Error()
			return nil
		}
		return err
	}
	if resp.Status != 200 {
		reason := resp.Reason
		if len(reason) > 64 {
			reason = reason[:64]
		}
		s.info.AudioErr = fmt.Sprintf("audio SETUP refused: %d %q", resp.Status, reason)
		return nil
	}
	tr := replyTransport(resp.Header.Get("Transport"))
	if !s.tcp {
		if tr.TCP() || tr.HasInterleaved {
			s.info.AudioErr = "audio SETUP answered a UDP request with an interleaved transport"
			return nil
		}
		// From the video's server (setUDPPeer), from its own port when
		// the reply names one.
		if tr.HasServerPort {
			s.srcAudioPort, s.srcAudioRTCPPort = uint16(tr.ServerPort[0]), uint16(tr.ServerPort[1])
		}
		s.udpAudio, s.udpAudioRTCP = rtpConn, rtcpConn
		a := *t
		s.info.Audio = &a
		return nil
	}
	ch := uint8(audioRTPChannel)
	if tr.HasInterleaved {
		ch = uint8(tr.Interleaved[0])
	} else if strings.Contains(strings.ToLower(resp.Header.Get("Transport")), "client_port") {
		s.info.AudioErr = "audio SETUP answered with a UDP transport"
		return nil
	}
	if ch == s.rtpCh || ch == s.rtcpCh || ch+1 == s.rtpCh || ch == 255 {
		s.info.AudioErr = fmt.Sprintf("audio SETUP gave channel %d, which the video uses", ch)
		return nil
	}
	s.audioCh, s.audioSet = ch, true
	a := *t
	s.info.Audio = &a
	return nil
}
