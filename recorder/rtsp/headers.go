package rtsp

import (
	"strconv"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
	"strings"
	"time"
)

// Session timeout handling (RFC 2326 §12.37).
const (
	// defaultSessionTimeout applies when the Session header has no timeout.
	defaultSessionTimeout = 60 * time.Second
	// maxSessionTimeout caps a server's claim; a keepalive at least every
	// half hour costs nothing and protects against absurd values.
	maxSessionTimeout = time.Hour
	// minKeepaliveInterval stops a server's "timeout=0" from turning the
	// keepalive into a request flood.
	minKeepaliveInterval = 500 * time.Millisecond
)

// parseSession splits a Session header into the id and the timeout. Leading
// spaces in the id (Hikvision: "Session:       1234567;timeout=60") are
// trimmed. A missing, zero or unreadable timeout yields 0: the caller keeps
// what it had (the default, or an earlier response's value).
func parseSession(v string) (string, time.Duration) {
	id, params, _ := strings.Cut(v, ";")
	id = strings.TrimSpace(id)
	var timeout time.Duration
	for p := range strings.SplitSeq(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "timeout") {
			if n, err := strconv.Atoi(strings.TrimSpace(val)); err == nil && n > 0 {
				timeout = min(time.Duration(n)*time.Second, maxSessionTimeout)
			}
		}
	}
	return id, timeout
}

// replyTransport returns the spec of a SETUP reply's Transport header
// (RFC 2326 §12.39: the server answers with the one it chose). It is
// lenient: Escam Q6 answers a TCP request with
// "RTP/AVP;unicast;interleaved=0-1" (no "/TCP"), some servers omit
// server_port, and broken parameters are ignored (left unset).
func replyTransport(v string) rtspmsg.Transport {
	ts, _ := rtspmsg.ParseTransport(v)
	if len(ts) == 0 {
		return rtspmsg.Transport{}
	}
	return ts[0]
}

// rtpInfoEntry is one stream's part of a PLAY reply's RTP-Info header.
type rtpInfoEntry struct {
	url, ssrc, rtptime string
}

// parseRTPInfo splits an RTP-Info header into its streams' entries.
func parseRTPInfo(v string) []rtpInfoEntry {
	var entries []rtpInfoEntry
	for e := range strings.SplitSeq(v, ",") {
		var en rtpInfoEntry
		for p := range strings.SplitSeq(e, ";") {
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "url":
				en.url = strings.TrimSpace(val)
			case "ssrc":
				en.ssrc = strings.TrimSpace(val)
			case "rtptime":
				en.rtptime = strings.TrimSpace(val)
			}
		}
		if en.url != "" || en.ssrc != "" || en.rtptime != "" {
			entries = append(entries, en)
		}
		if len(entries) >= maxRTPInfoEntries {
			break
		}
	}
	return entries
}

// maxRTPInfoEntries bounds the entries read from one RTP-Info header.
const maxRTPInfoEntries = 16

// rtpInfoFor returns the entry of the track with control URL control; a
// lone entry without a URL counts as the video's when one is wanted.
func rtpInfoFor(entries []rtpInfoEntry, control string, lone bool) (rtpInfoEntry, bool) {
	for _, e := range entries {
		if e.url != "" && (stripUserinfo(e.url) == control || strings.HasSuffix(control, e.url)) {
			return e, true
		}
	}
	if lone && len(entries) == 1 {
		return entries[0], true
	}
	return rtpInfoEntry{}, false
}

// rtpInfoSSRC returns the ssrc announced in a PLAY reply's RTP-Info for our
// track (RFC 7826 §18.45 adds ssrc; Reolink sends it only there). Bogus
// seq and rtptime values (Hikvision seq=0, OMNY negative rtptime, Laureii
// trailing ';') are never an error.
func rtpInfoSSRC(v, control string) (uint32, bool) {
	e, ok := rtpInfoFor(parseRTPInfo(v), control, true)
	if !ok || e.ssrc == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(e.ssrc, 16, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

// rtpInfoTimes returns the rtptime values RTP-Info gives the video and
// the audio track: the RTP timestamps each stream has at the same instant,
// the start of play (RFC 2326 §12.33). ok is false unless both are there
// and parse as 32-bit numbers.
func rtpInfoTimes(v, videoControl, audioControl string) (video, audio uint32, ok bool) {
	entries := parseRTPInfo(v)
	ve, vok := rtpInfoFor(entries, videoControl, false)
	ae, aok := rtpInfoFor(entries, audioControl, false)
	if !vok || !aok || ve == ae {
		return 0, 0, false
	}
	vt, err1 := strconv.ParseUint(ve.rtptime, 10, 32)
	at, err2 := strconv.ParseUint(ae.rtptime, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uint32(vt), uint32(at), true
}

// parsePublic splits an OPTIONS reply's Public header into upper-case
// method names.
func parsePublic(vs []string) []string {
	var out []string
	for _, v := range vs {
		for m := range strings.SplitSeq(v, ",") {
			if m = strings.ToUpper(strings.TrimSpace(m)); m != "" {
				out = append(out, m)
			}
		}
	}
	return out
}
