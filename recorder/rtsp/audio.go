package rtsp

import (
	"context"
	"errors"
	"fmt"
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
	if !s.tcp {
		s.info.AudioErr = "audio is recorded over TCP only (transport: tcp)"
		return nil
	}
	req := &rtspmsg.Request{Method: "SETUP", URL: t.Control}
	req.Add("Transport", fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d", audioRTPChannel, audioRTCPChannel))
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
	ch := uint8(audioRTPChannel)
	tr := parseTransport(resp.Header.Get("Transport"))
	if tr.hasChannels {
		ch = uint8(tr.interleaved[0])
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
