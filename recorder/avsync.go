package recorder

import (
	"fmt"

	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/ticks"
)

// avSync places audio frames on the video's timeline: it turns an audio
// PTS (the audio track's extended RTP timestamp) into the audio clock
// units whose instant, divided by the clock rate, equals the video's
// DTS/90000 (fmp4.AudioSample.DTS). The relation is an offset: a frame
// plays at pts+off. Between changes every frame keeps its own RTP time,
// so loss and jitter never shift later audio.
//
// The offset comes from the best source the session has (docs/audio.md):
//
//  1. RTCP sender reports, once both tracks have sent one: each maps the
//     sender's wall clock (NTP) to the track's RTP clock, so the two RTP
//     times of one NTP instant are a reference pair (RFC 3550 §6.4.1);
//  2. RTP-Info (both tracks' rtptime at the start of play), when the
//     camera sends it;
//  3. arrival: the first audio frame is taken to play when it arrives,
//     measured from the last video access unit's arrival.
//
// Later sender reports re-anchor the audio when they disagree with the
// offset in use by more than srTolerance (see there): a forward move
// leaves a gap, as a lost packet does; a backward move drops the audio
// that would overlap what was placed already, so placed times never go
// back. Sender reports that cannot be right (srRejected) are ignored for
// the rest of the session. It is owned by the session's reading
// goroutine.
type avSync struct {
	rate    int64
	rtpInfo *rtsp.RTPInfoTimes
	// srs returns the session's last sender reports (nil: the session
	// keeps none).
	srs func() (video, audio rtsp.SenderReport)

	haveVideo    bool
	lastVideoPTS int64 // extended 90 kHz RTP time of the last access unit
	lastVideoNS  int64 // its arrival

	// The SSRCs of the tracks' RTP packets, set by the reader: a sender
	// report for another stream is not the track's.
	videoSSRC, audioSSRC uint32

	have   bool
	off    int64 // a frame of audio time pts plays at pts+off (audio clock units)
	source syncSource

	end    int64 // where the last placed frame ends
	placed bool  // a frame was placed
	floor  int64 // after a backward re-anchor: frames placed before it are dropped
	held   bool  // floor is set

	srSeenV, srSeenA uint64 // the reports' N last looked at
	pending          int64  // an SR offset off by more than srTolerance, waiting for the next to agree
	havePending      bool
	srOff            bool   // sender reports are ignored for the session
	note             string // why, for Status
	gen              int    // counts changes of source and note, for the job to report
	reanchors        int
}

// syncSource says where the audio's offset came from.
type syncSource int

const (
	syncNone syncSource = iota
	syncArrival
	syncRTPInfo
	syncSenderReports
)

func (s syncSource) String() string {
	switch s {
	case syncArrival:
		return "arrival"
	case syncRTPInfo:
		return "RTP-Info"
	case syncSenderReports:
		return "sender reports"
	}
	return ""
}

const (
	// srTolerance: a sender-report offset this close to the one in use
	// changes nothing. 10 ms is half the 20 ms lip-sync budget, so audio
	// left alone is never more than half the budget off the latest
	// report; and it is above what a report itself is off by on real
	// cameras (RTP times rounded to a packet clock, NTP to a millisecond
	// timer), so reports that agree do not churn the audio.
	srTolerance = 10 // ms
	// srMaxDisagreement: a sender-report offset further than this from
	// what arrival says is not two readings of one clock (a camera whose
	// audio and video reports come from different clocks, or an RTP time
	// from another stream): no buffering a camera does delays one track
	// by seconds. Sender reports are then ignored for the session.
	srMaxDisagreement = 2000 // ms
)

func newAVSync(rate int, info *rtsp.RTPInfoTimes, srs func() (video, audio rtsp.SenderReport)) *avSync {
	return &avSync{rate: int64(rate), rtpInfo: info, srs: srs}
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

// ntpTo90k converts a signed difference of NTP timestamps (2^-32 s) to
// 90 kHz ticks, for any difference.
func ntpTo90k(d int64) int64 {
	return (d>>32)*ticks.PerSecond + (d&0xFFFF_FFFF)*ticks.PerSecond>>32
}

// place returns the frame's time on the video's timeline in audio clock
// units, or false while no video has arrived to relate it to, when it
// falls before the timeline's start, or when a backward re-anchor put it
// under audio already placed. dur is the frame's duration.
func (s *avSync) place(pts, dur, arrivalNS int64) (int64, bool) {
	if !s.haveVideo {
		return 0, false
	}
	if !s.have {
		if s.rtpInfo != nil {
			s.off = extendNear(s.rtpInfo.Video, s.lastVideoPTS)*s.rate/ticks.PerSecond - extendNear(s.rtpInfo.Audio, pts)
			s.setSource(syncRTPInfo)
		} else {
			s.off = s.arrivalOffset(pts, arrivalNS)
			s.setSource(syncArrival)
		}
		s.have = true
	}
	s.senderReports(pts, arrivalNS)
	t := pts + s.off
	if s.held {
		if t < s.floor {
			return t, false
		}
		s.held = false
	}
	s.end, s.placed = t+dur, true
	return t, t >= 0
}

// arrivalOffset is the offset that plays the frame when it arrives.
func (s *avSync) arrivalOffset(pts, arrivalNS int64) int64 {
	v := s.lastVideoPTS + ticks.FromNS(max(arrivalNS-s.lastVideoNS, 0))
	return v*s.rate/ticks.PerSecond - pts
}

// senderReports looks at the session's sender reports when a new one
// came in and moves the offset to theirs (see avSync).
func (s *avSync) senderReports(pts, arrivalNS int64) {
	if s.srs == nil || s.srOff {
		return
	}
	v, a := s.srs()
	if v.N == 0 || a.N == 0 || (v.N == s.srSeenV && a.N == s.srSeenA) {
		return
	}
	s.srSeenV, s.srSeenA = v.N, a.N
	switch {
	case v.NTP == 0 || a.NTP == 0:
		s.rejectSRs("a sender report has no wall clock (NTP time 0)")
		return
	case v.SSRC != s.videoSSRC:
		s.rejectSRs(fmt.Sprintf("the video's sender report is for SSRC %08x, its RTP for %08x", v.SSRC, s.videoSSRC))
		return
	case a.SSRC != s.audioSSRC:
		s.rejectSRs(fmt.Sprintf("the audio's sender report is for SSRC %08x, its RTP for %08x", a.SSRC, s.audioSSRC))
		return
	}
	// The video's RTP time at the audio report's NTP instant.
	vAt := extendNear(v.RTPTime, s.lastVideoPTS) + ntpTo90k(int64(a.NTP-v.NTP))
	off := vAt*s.rate/ticks.PerSecond - extendNear(a.RTPTime, pts)
	ms := func(d int64) int64 { return d * 1000 / s.rate }
	if d := ms(off - s.arrivalOffset(pts, arrivalNS)); d > srMaxDisagreement || d < -srMaxDisagreement {
		s.rejectSRs(fmt.Sprintf("the sender reports put the audio %d ms from its arrival: not one clock", d))
		return
	}
	if s.source != syncSenderReports {
		// The first pair: better than RTP-Info or arrival at once.
		s.setSource(syncSenderReports)
		s.move(off)
		return
	}
	if d := ms(off - s.off); d <= srTolerance && d >= -srTolerance {
		s.havePending = false
		return
	}
	// One report off alone may be a sender's jitter: the next must agree.
	if !s.havePending || ms(off-s.pending) > srTolerance || ms(off-s.pending) < -srTolerance {
		s.pending, s.havePending = off, true
		return
	}
	s.havePending = false
	s.move(off)
}

// move re-anchors later audio to off when it is more than srTolerance
// from the offset in use. Moving back, frames that would start before
// the end of the last placed one are dropped.
func (s *avSync) move(off int64) {
	d := (off - s.off) * 1000 / s.rate
	if d <= srTolerance && d >= -srTolerance {
		return
	}
	if !s.placed {
		s.off = off // nothing to move yet
		return
	}
	if off < s.off {
		s.floor, s.held = s.end, true
	}
	s.off = off
	s.reanchors++
}

// rejectSRs stops using sender reports for the session; the offset in
// use stays.
func (s *avSync) rejectSRs(why string) {
	s.srOff = true
	s.note = "sender reports ignored: " + why
	s.gen++
}

func (s *avSync) setSource(src syncSource) {
	if s.source != src {
		s.source = src
		s.gen++
	}
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
