package rtsp

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Bounds on an SDP (R1-style: the body is already capped at rtspmsg.MaxBodyLen).
const (
	// maxSDPMedia bounds the media sections; cameras have one to four.
	maxSDPMedia = 32
	// maxSDPLines bounds the lines kept; large SDPs are a few dozen lines.
	maxSDPLines = 1024
)

// sdpDescription is what we take from an SDP.
type sdpDescription struct {
	control string // session-level a=control, "" when absent
	tracks  []Track
	// video is the index in tracks of the first usable H.264 or H.265
	// video track, -1 when there is none.
	video int
	// videoMedia holds the codec specific fmtp fields of that track.
	videoTrack VideoTrack
}

// cleanSDP rewrites a camera's SDP into the strict line order and syntax
// pion/sdp accepts (RFC 4566 §5), keeping what matters for playback:
// the session-level control and every media section's m=, c= and a= lines.
// Each repair is a real camera's bug:
//   - repeated s= lines (reported on several Chinese NVRs, go2rtc WebRTC#417):
//     only the first is kept;
//   - broken c= lines (go2rtc#1426: "c=IN IP4 " with no address or with a
//     garbage address): dropped, RTSP does not need them;
//   - t=now- (FLIR): replaced by t=0 0;
//   - a media type pion does not know (TP-Link "m=application/TP-LINK"):
//     reduced to the part before '/' or to "application";
//   - missing v=, o=, s= or t= lines, lines out of order, bad b= lines.
func cleanSDP(raw []byte) string {
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	// Reolink doorbells glue "a=sendonlym=" together (go2rtc helpers.go).
	text = strings.ReplaceAll(text, "a=sendonlym=", "a=sendonly\nm=")

	var origin, name, timing string
	var sessAttrs []string
	type media struct {
		m     string
		c     string
		attrs []string
	}
	var medias []*media
	lines := 0
	for l := range strings.SplitSeq(text, "\n") {
		l = strings.TrimSpace(l)
		if len(l) < 2 || l[1] != '=' {
			continue
		}
		lines++
		if lines > maxSDPLines {
			break
		}
		k, v := l[0], strings.TrimSpace(l[2:])
		var cur *media
		if len(medias) > 0 {
			cur = medias[len(medias)-1]
		}
		switch k {
		case 'o':
			if origin == "" && validOrigin(v) {
				origin = v
			}
		case 's':
			if name == "" && v != "" {
				name = v
			}
		case 't':
			if timing == "" && validTiming(v) {
				timing = v
			}
		case 'c':
			if cur != nil && cur.c == "" && validConnection(v) {
				cur.c = v
			}
		case 'm':
			if len(medias) >= maxSDPMedia {
				continue
			}
			if m, ok := cleanMediaLine(v); ok {
				medias = append(medias, &media{m: m})
			}
		case 'a':
			if cur != nil {
				cur.attrs = append(cur.attrs, v)
			} else {
				sessAttrs = append(sessAttrs, v)
			}
		}
	}
	if origin == "" {
		origin = "- 0 0 IN IP4 0.0.0.0"
	}
	if name == "" {
		name = "-"
	}
	if timing == "" {
		timing = "0 0"
	}
	var b strings.Builder
	b.WriteString("v=0\r\no=" + origin + "\r\ns=" + name + "\r\nt=" + timing + "\r\n")
	for _, a := range sessAttrs {
		b.WriteString("a=" + a + "\r\n")
	}
	for _, m := range medias {
		b.WriteString("m=" + m.m + "\r\n")
		if m.c != "" {
			b.WriteString("c=" + m.c + "\r\n")
		}
		for _, a := range m.attrs {
			b.WriteString("a=" + a + "\r\n")
		}
	}
	return b.String()
}

func validOrigin(v string) bool {
	f := strings.Fields(v)
	if len(f) != 6 || f[3] != "IN" || (f[4] != "IP4" && f[4] != "IP6") {
		return false
	}
	_, e1 := strconv.ParseUint(f[1], 10, 64)
	_, e2 := strconv.ParseUint(f[2], 10, 64)
	return e1 == nil && e2 == nil
}

func validTiming(v string) bool {
	f := strings.Fields(v)
	if len(f) != 2 {
		return false
	}
	_, e1 := strconv.ParseUint(f[0], 10, 64)
	_, e2 := strconv.ParseUint(f[1], 10, 64)
	return e1 == nil && e2 == nil
}

func validConnection(v string) bool {
	f := strings.Fields(v)
	if len(f) != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
		return false
	}
	host, _, _ := strings.Cut(f[2], "/")
	return net.ParseIP(host) != nil
}

var sdpMediaTypes = map[string]bool{"audio": true, "video": true, "text": true, "application": true, "message": true}

var sdpProtos = map[string]bool{
	"UDP": true, "RTP": true, "AVP": true, "SAVP": true, "SAVPF": true, "TLS": true, "DTLS": true,
	"SCTP": true, "AVPF": true, "TCP": true, "MSRP": true, "BFCP": true, "UDT": true, "IX": true,
	"MRCPv2": true, "FEC": true,
}

// cleanMediaLine normalises "m=<media> <port> <proto> <fmt>...".
func cleanMediaLine(v string) (string, bool) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return "", false
	}
	typ := strings.ToLower(f[0])
	if !sdpMediaTypes[typ] {
		// TP-Link: "m=application/TP-LINK 0 RTP/AVP smart/1/90000".
		before, _, _ := strings.Cut(typ, "/")
		typ = "application"
		if sdpMediaTypes[before] {
			typ = before
		}
	}
	port := f[1]
	if p, _, _ := strings.Cut(port, "/"); true {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			port = "0"
		}
	}
	proto := f[2]
	for p := range strings.SplitSeq(proto, "/") {
		if !sdpProtos[p] {
			proto = "RTP/AVP"
			break
		}
	}
	formats := f[3:]
	if len(formats) == 0 {
		formats = []string{"0"}
	}
	return typ + " " + port + " " + proto + " " + strings.Join(formats, " "), true
}

// staticPayloadTypes are the RTP/AVP static payload types of RFC 3551 §6
// a camera may use without an a=rtpmap line.
var staticPayloadTypes = map[uint8]struct {
	codec string
	clock int
}{
	0: {"PCMU", 8000}, 8: {"PCMA", 8000}, 14: {"MPA", 90000}, 26: {"JPEG", 90000},
	32: {"MPV", 90000}, 33: {"MP2T", 90000},
}

// parseSDP pre-cleans and parses an SDP with pion/sdp and extracts every
// track; control URLs are resolved against base.
func parseSDP(raw []byte, req cameraURL, base string) (*sdpDescription, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(cleanSDP(raw)); err != nil {
		return nil, fmt.Errorf("%w: SDP: %v", errMalformed, err)
	}
	d := &sdpDescription{video: -1}
	if v, ok := sd.Attribute("control"); ok {
		d.control = strings.TrimSpace(v)
	}
	for _, md := range sd.MediaDescriptions {
		t, vt := mediaTrack(md)
		ctl, _ := md.Attribute("control")
		t.Control = resolveControl(req, base, ctl)
		vt.Track = t
		d.tracks = append(d.tracks, t)
		if d.video < 0 && t.Type == "video" && isVideoCodec(t.Codec) && t.ClockRate > 0 {
			d.video = len(d.tracks) - 1
			d.videoTrack = vt
		}
	}
	return d, nil
}

// isVideoCodec reports whether nvr records video of this rtpmap encoding
// name: H.264 (RFC 6184) or H.265 (RFC 7798).
func isVideoCodec(c string) bool { return c == "H264" || c == "H265" }

// mediaTrack extracts one track. For a media section with several formats
// it prefers an H.264 one, then an H.265 one, so a video section listing
// "96 97" with H.264 on 97 is still found.
func mediaTrack(md *sdp.MediaDescription) (Track, VideoTrack) {
	rtpmaps := map[uint8]string{}
	fmtps := map[uint8]string{}
	var fmtpOrder []uint8
	for _, a := range md.Attributes {
		switch strings.ToLower(a.Key) {
		case "rtpmap":
			pt, rest, ok := splitPT(a.Value)
			if ok {
				rtpmaps[pt] = rest
			}
		case "fmtp":
			// "a=fmtp:96" with no parameters (Ubiquiti) yields an empty map.
			pt, rest, ok := splitPT(a.Value)
			if ok {
				if _, dup := fmtps[pt]; !dup {
					fmtpOrder = append(fmtpOrder, pt)
				}
				fmtps[pt] = rest
			}
		}
	}
	t := Track{Type: md.MediaName.Media}
	var pts []uint8
	for _, f := range md.MediaName.Formats {
		if n, err := strconv.ParseUint(f, 10, 8); err == nil && n < 128 {
			pts = append(pts, uint8(n))
		}
	}
	chosen, found := uint8(0), false
	for _, want := range []string{"H264", "H265"} {
		for _, pt := range pts {
			if codec, _ := parseRtpmap(rtpmaps[pt]); codec == want && !found {
				chosen, found = pt, true
			}
		}
	}
	if !found && len(pts) > 0 {
		chosen, found = pts[0], true
	}
	if !found {
		return t, VideoTrack{}
	}
	t.PayloadType = chosen
	if m, ok := rtpmaps[chosen]; ok {
		t.Codec, t.ClockRate = parseRtpmap(m)
		t.Channels = rtpmapChannels(m)
	} else if st, ok := staticPayloadTypes[chosen]; ok {
		t.Codec, t.ClockRate = st.codec, st.clock
	}
	fm, ok := fmtps[chosen]
	if !ok && len(fmtpOrder) == 1 {
		// Some cameras put the fmtp on a payload type the m= line does not
		// list ("a=fmtp:97" for an "m=video 0 RTP/AVP 96" track); with a single
		// fmtp in the section there is no doubt whose it is.
		fm, ok = fmtps[fmtpOrder[0]], true
	}
	if ok {
		t.Fmtp = parseFmtp(fm)
	}
	vt := VideoTrack{Track: t}
	if t.Codec == "H264" {
		// RFC 6184 §8.1: packetization-mode defaults to 0.
		if v, err := strconv.Atoi(t.Fmtp["packetization-mode"]); err == nil {
			vt.PacketizationMode = v
		}
		vt.ProfileLevelID = t.Fmtp["profile-level-id"]
		vt.SpropParameterSets = t.Fmtp["sprop-parameter-sets"]
	}
	return t, vt
}

func splitPT(v string) (uint8, string, bool) {
	v = strings.TrimSpace(v)
	ptStr, rest, _ := strings.Cut(v, " ")
	n, err := strconv.ParseUint(strings.TrimSpace(ptStr), 10, 8)
	if err != nil || n > 127 {
		return 0, "", false
	}
	return uint8(n), strings.TrimSpace(rest), true
}

// parseRtpmap parses "H264/90000" or "MPEG4-GENERIC/48000/2". A clock rate
// of 0 or garbage yields 0, which makes an H.264 track unusable (R13).
func parseRtpmap(v string) (string, int) {
	if v == "" {
		return "", 0
	}
	name, rest, _ := strings.Cut(v, "/")
	rateStr, _, _ := strings.Cut(rest, "/")
	rate, err := strconv.Atoi(strings.TrimSpace(rateStr))
	if err != nil || rate < 0 {
		rate = 0
	}
	return strings.ToUpper(strings.TrimSpace(name)), rate
}

// rtpmapChannels is the encoding parameters of an audio rtpmap, the
// channel count (RFC 4566 §6); 0 when absent or not a small number.
func rtpmapChannels(v string) int {
	parts := strings.Split(v, "/")
	if len(parts) < 3 {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(parts[2]))
	if err != nil || n < 1 || n > 8 {
		return 0
	}
	return n
}

// parseFmtp parses "k=v;k=v" with keys lower-cased. Values keep their '='
// (base64 padding in sprop-parameter-sets). A trailing ';' and spaces are
// tolerated.
func parseFmtp(v string) map[string]string {
	out := map[string]string{}
	for p := range strings.SplitSeq(v, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, val, _ := strings.Cut(p, "=")
		out[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
	}
	return out
}

// describeTracks lists what a stream has, for ErrNoH264's message.
func describeTracks(ts []Track) string {
	if len(ts) == 0 {
		return "stream has no tracks"
	}
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		c := t.Codec
		if c == "" {
			c = "unknown codec"
		}
		if isVideoCodec(c) && t.ClockRate == 0 {
			c += " with clock rate 0"
		}
		parts = append(parts, t.Type+" "+c)
	}
	return "stream has: " + strings.Join(parts, ", ")
}
