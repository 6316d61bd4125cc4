package recorder

import (
	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/ticks"
)

// avSync places audio frames on the video's timeline: it turns an audio
// PTS (the audio track's extended RTP timestamp) into the audio clock
// units whose instant, divided by the clock rate, equals the video's
// DTS/90000 (fmp4.AudioSample.DTS). One reference pair — an audio and a
// video timestamp of the same instant — fixes the relation for the
// session; after it, every frame keeps its own RTP time, so loss and
// jitter never shift later audio.
//
// The pair comes from RTP-Info (both tracks' rtptime at the start of
// play) when the camera sends it, otherwise from arrival: the first audio
// frame is taken to play when it arrives, measured from the last video
// access unit's arrival. It is owned by the session's reading goroutine.
type avSync struct {
	rate    int64
	rtpInfo *rtsp.RTPInfoTimes

	haveVideo    bool
	lastVideoPTS int64 // extended 90 kHz RTP time of the last access unit
	lastVideoNS  int64 // its arrival

	have       bool
	aRef, vRef int64 // audio RTP time aRef is video time vRef (90 kHz)
}

func newAVSync(rate int, info *rtsp.RTPInfoTimes) *avSync {
	return &avSync{rate: int64(rate), rtpInfo: info}
}

// video notes an access unit's presentation time and arrival.
func (s *avSync) video(pts, arrivalNS int64) {
	s.haveVideo, s.lastVideoPTS, s.lastVideoNS = true, pts, arrivalNS
}

// extendNear extends a 32-bit RTP timestamp to the 64-bit value closest
// to near (an extended timestamp of the same stream).
func extendNear(raw uint32, near int64) int64 {
	return near + int64(int32(raw-uint32(near)))
}

// place returns the frame's time on the video's timeline in audio clock
// units, or false while no video has arrived to relate it to, or when
// it falls before the timeline's start.
func (s *avSync) place(pts, arrivalNS int64) (int64, bool) {
	if !s.have {
		if !s.haveVideo {
			return 0, false
		}
		if s.rtpInfo != nil {
			s.vRef = extendNear(s.rtpInfo.Video, s.lastVideoPTS)
			s.aRef = extendNear(s.rtpInfo.Audio, pts)
		} else {
			s.aRef = pts
			s.vRef = s.lastVideoPTS + ticks.FromNS(max(arrivalNS-s.lastVideoNS, 0))
		}
		s.have = true
	}
	t := s.vRef*s.rate/fmp4.Timescale + (pts - s.aRef)
	return t, t >= 0
}

// audioParams is the segment writer's description of an audio format.
func audioParams(f *audio.Format) *fmp4.AudioParams {
	p := &fmp4.AudioParams{Codec: f.Codec, Timescale: f.ClockRate, SampleRate: f.SampleRate, Channels: f.Channels}
	if f.AAC != nil {
		p.AACConfig, p.AACObjectType = f.AAC.Raw, f.AAC.ObjectType
	}
	if f.FLAC != nil {
		p.FLACBlockSize = f.FLAC.BlockSize
	}
	return p
}

// acceptAudio is the job's rtsp Config.AudioTrack: a track is set up
// when recorder/audio can record it.
func acceptAudio(t rtsp.Track) bool {
	_, err := audio.NewTrack(t.Codec, t.ClockRate, t.Channels, t.Fmtp)
	return err == nil
}
