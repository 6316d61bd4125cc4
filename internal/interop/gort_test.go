package interop

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
)

// clipSpec says how ffmpeg's libx264 encodes a clip for the gortsplib
// server. Every field differs somewhere from the test camera's clips.
type clipSpec struct {
	Width, Height int
	Rate          string  // ffmpeg frame rate, e.g. "30000/1001"
	FPS           float64 // the same as a number
	Keyint        int     // frames from one IDR to the next
	Profile       string  // libx264 -profile:v
	BFrames       int
	Slices        int
	FixedB        bool // always BFrames B-frames, none of them references
	Seconds       int  // clip length; the server loops it
}

// wantProfile is the profile nvr probe should name.
func (c clipSpec) wantProfile() string {
	switch c.Profile {
	case "high":
		return "High"
	case "main":
		return "Main"
	}
	return "Constrained Baseline"
}

// gopSeconds is the time from one IDR to the next.
func (c clipSpec) gopSeconds() float64 { return float64(c.Keyint) / c.FPS }

func (c clipSpec) key() string {
	return fmt.Sprintf("%dx%d_%s_%d_%s_b%d_%v_s%d_%ds", c.Width, c.Height, strings.ReplaceAll(c.Rate, "/", "_"), c.Keyint, c.Profile, c.BFrames, c.FixedB, c.Slices, c.Seconds)
}

// accessUnit is one frame as libx264 wrote it, without its access unit
// delimiter.
type accessUnit struct {
	PTS, DTS int64 // 90 kHz, from the first frame's DTS
	NALUs    [][]byte
}

type clip struct {
	Spec     clipSpec
	AUs      []accessUnit
	Duration int64 // 90 kHz, one loop
	SPS, PPS []byte
	// H265 marks an H.265 clip (served as H265/90000 with sprop-vps,
	// sprop-sps and sprop-pps); VPS is its video parameter set.
	H265 bool
	VPS  []byte
}

// clipCache encodes each spec once per test binary run.
type clipCache struct {
	mu    sync.Mutex
	dir   string
	clips map[string]*clip
	errs  map[string]error
	once  map[string]*sync.Once
}

var clips = &clipCache{clips: map[string]*clip{}, errs: map[string]error{}, once: map[string]*sync.Once{}}

func (cc *clipCache) removeAll() {
	if cc.dir != "" {
		os.RemoveAll(cc.dir)
	}
}

// get returns the clip for spec, encoding it on first use.
func (cc *clipCache) get(t testing.TB, spec clipSpec) *clip {
	t.Helper()
	ffmpeg := needTool(t, "ffmpeg")
	cc.mu.Lock()
	if cc.dir == "" {
		d, err := os.MkdirTemp("", "nvr-interop-clips-")
		if err != nil {
			cc.mu.Unlock()
			t.Fatal(err)
		}
		cc.dir = d
	}
	k := spec.key()
	o := cc.once[k]
	if o == nil {
		o = new(sync.Once)
		cc.once[k] = o
	}
	cc.mu.Unlock()
	o.Do(func() {
		c, err := encodeClip(ffmpeg, filepath.Join(cc.dir, k+".ts"), spec)
		cc.mu.Lock()
		cc.clips[k], cc.errs[k] = c, err
		cc.mu.Unlock()
	})
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if err := cc.errs[k]; err != nil {
		t.Fatalf("encoding clip %s: %v", k, err)
	}
	return cc.clips[k]
}

// encodeClip runs ffmpeg (testsrc2 → libx264 → MP4), copies the stream to
// Annex B with access unit delimiters to split it into frames, and takes
// each frame's timestamps from ffprobe's packet list of the MP4.
func encodeClip(ffmpeg, path string, s clipSpec) (*clip, error) {
	x264 := "scenecut=0:aud=1"
	if s.Slices > 1 {
		x264 += fmt.Sprintf(":slices=%d", s.Slices)
	}
	if s.FixedB {
		x264 += ":b-adapt=0:b-pyramid=none"
	}
	mp4 := path + ".mp4"
	args := []string{"-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%s", s.Width, s.Height, s.Rate),
		"-t", fmt.Sprint(s.Seconds), "-pix_fmt", "yuv420p",
		"-c:v", "libx264", "-preset", "veryfast", "-profile:v", s.Profile,
		"-bf", fmt.Sprint(s.BFrames), "-g", fmt.Sprint(s.Keyint), "-keyint_min", fmt.Sprint(s.Keyint),
		"-x264-params", x264, "-b:v", "1500k", mp4}
	if out, err := exec.Command(ffmpeg, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg encode: %w\n%s", err, out)
	}
	raw := path + ".h264"
	if out, err := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-y", "-i", mp4, "-c", "copy",
		"-bsf:v", "h264_mp4toannexb", "-f", "h264", raw).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg annexb: %w\n%s", err, out)
	}
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=pts_time,dts_time", "-of", "json", mp4).Output()
	if err != nil {
		return nil, fmt.Errorf("ffprobe packets: %w", err)
	}
	var doc struct {
		Packets []struct {
			PTS string `json:"pts_time"`
			DTS string `json:"dts_time"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("ffprobe packets: %w", err)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		return nil, err
	}
	c := &clip{Spec: s}
	var cur [][]byte
	var aus [][][]byte
	for _, n := range splitAnnexB(b) {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case 9: // delimiter: starts a frame; the stream is sent without them
			// The bitstream filter puts parameter sets ahead of a frame's
			// delimiter: they belong to the next frame, so a group with no
			// slice yet is kept.
			if hasSlice(cur) {
				aus = append(aus, cur)
				cur = nil
			}
			continue
		case 7:
			if c.SPS == nil {
				c.SPS = n
			}
		case 8:
			if c.PPS == nil {
				c.PPS = n
			}
		}
		cur = append(cur, n)
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	if len(aus) != len(doc.Packets) || len(aus) < 2 || c.SPS == nil || c.PPS == nil {
		return nil, fmt.Errorf("clip has %d frames, %d packets, SPS %v, PPS %v", len(aus), len(doc.Packets), c.SPS != nil, c.PPS != nil)
	}
	to90k := func(v string) (int64, error) {
		f, err := strconv.ParseFloat(v, 64)
		return int64(math.Round(f * 90000)), err
	}
	var first int64
	for i, p := range doc.Packets {
		pts, err1 := to90k(p.PTS)
		dts, err2 := to90k(p.DTS)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("packet %d: %w", i, err)
		}
		if i == 0 {
			first = dts
		}
		c.AUs = append(c.AUs, accessUnit{PTS: pts - first, DTS: dts - first, NALUs: aus[i]})
	}
	frame := c.AUs[1].DTS - c.AUs[0].DTS
	c.Duration = c.AUs[len(c.AUs)-1].DTS + frame
	return c, nil
}

// hasSlice says whether nalus hold a coded slice (NAL types 1-5).
func hasSlice(nalus [][]byte) bool {
	for _, n := range nalus {
		if t := n[0] & 0x1f; t >= 1 && t <= 5 {
			return true
		}
	}
	return false
}

// splitAnnexB cuts a byte stream at its 3- and 4-byte start codes
// (H.264 Annex B.1).
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				if end > start && b[end-1] == 0 {
					end--
				}
				out = append(out, b[start:end])
			}
			start = i + 3
			i += 2
		}
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// gortOptions configure a gortsplib server.
type gortOptions struct {
	Port           int // 0 picks one
	User, Password string
	Speed          float64 // media seconds per wall second; 0 means 1
	NoSprop        bool    // SDP without sprop-parameter-sets
	// Then is played after the clip, then the clip again, and so on, in
	// the same session: an in-band SPS change (MTX#4262) each time.
	Then *clip
	// TLS serves RTSPS (rtsps://, TCP only) with this configuration.
	TLS *tls.Config
}

// gortServer is gortsplib's RTSP server playing a clip in a loop at
// rtsp://127.0.0.1:port/live.
type gortServer struct {
	opts   gortOptions
	srv    *gortsplib.Server
	mu     sync.RWMutex // stream is set after the server starts answering
	stream *gortsplib.ServerStream
	cancel context.CancelFunc
	cut    chan cutMode // asks the player to stop at a chosen frame
	done   chan struct{}
	once   sync.Once
}

// cutMode says where Cut stops a stream.
type cutMode int

const (
	// cutClean stops before a frame shown after every frame sent so far:
	// no B-frame is left waiting.
	cutClean cutMode = iota
	// cutMidGOP stops after the first of the B-frames that follow a
	// reference frame in decode order and are shown before it: the rest
	// are never sent, as when a camera loses power or network there.
	cutMidGOP
)

// startGort starts a server on opts.Port (or a free one) playing c.
func startGort(t testing.TB, c *clip, opts gortOptions) *gortServer {
	t.Helper()
	if opts.Speed == 0 {
		opts.Speed = 1
	}
	if opts.Port == 0 {
		opts.Port = freePort(t)
	}
	g := &gortServer{opts: opts, done: make(chan struct{}), cut: make(chan cutMode, 1)}
	var f format.Format
	if c.H265 {
		h := &format.H265{PayloadTyp: 96}
		if !opts.NoSprop {
			h.VPS, h.SPS, h.PPS = c.VPS, c.SPS, c.PPS
		}
		f = h
	} else {
		h := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
		if !opts.NoSprop {
			h.SPS, h.PPS = c.SPS, c.PPS
		}
		f = h
	}
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{f}}}}
	var err error
	g.mu.Lock()
	defer g.mu.Unlock()
	// UDP needs a pair of server ports (RFC 3550 §11: RTP even, RTCP the
	// next one); retry a few random pairs in case one is taken.
	for try := 0; try < 20; try++ {
		rtpPort := 20000 + 2*rand.IntN(20000)
		g.srv = &gortsplib.Server{
			Handler:        g,
			RTSPAddress:    fmt.Sprintf("127.0.0.1:%d", opts.Port),
			UDPRTPAddress:  fmt.Sprintf("127.0.0.1:%d", rtpPort),
			UDPRTCPAddress: fmt.Sprintf("127.0.0.1:%d", rtpPort+1),
			AuthMethods:    []auth.VerifyMethod{auth.VerifyMethodDigestMD5},
			TLSConfig:      opts.TLS,
		}
		if err = g.srv.Start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("gortsplib server: %v", err)
	}
	stream := &gortsplib.ServerStream{Server: g.srv, Desc: desc}
	g.stream = stream
	if err := stream.Initialize(); err != nil {
		g.srv.Close()
		t.Fatal(err)
	}
	var encode func([][]byte) ([]*rtp.Packet, error)
	switch h := f.(type) {
	case *format.H264:
		enc, err := h.CreateEncoder()
		if err != nil {
			t.Fatal(err)
		}
		encode = enc.Encode
	case *format.H265:
		enc, err := h.CreateEncoder()
		if err != nil {
			t.Fatal(err)
		}
		encode = enc.Encode
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	seq := []*clip{c}
	if opts.Then != nil {
		seq = append(seq, opts.Then)
	}
	go g.play(ctx, stream, seq, encode)
	t.Cleanup(g.Close)
	return g
}

// URL is the stream's address with the configured credentials.
func (g *gortServer) URL() string {
	u := rtspURL(g.opts.Port, "live", g.opts.User, g.opts.Password)
	if g.opts.TLS != nil {
		u = "rtsps" + strings.TrimPrefix(u, "rtsp")
	}
	return u
}

// Close stops the stream and the server and waits for the player.
func (g *gortServer) Close() {
	g.once.Do(func() {
		g.cancel()
		<-g.done
		g.getStream().Close()
		g.srv.Close()
	})
}

// cutTimeout bounds Cut's wait for a frame where the cut is possible: a
// clip has such frames every few frames.
const cutTimeout = 5 * time.Second

// cutFlush is how long a mid-GOP cut waits after its last frame before
// closing: gortsplib writes packets from a queue, which Close discards.
const cutFlush = 300 * time.Millisecond

// Cut stops sending at the point mode chooses, then closes the server and
// the client's connection.
func (g *gortServer) Cut(t testing.TB, mode cutMode) {
	t.Helper()
	g.cut <- mode
	select {
	case <-g.done:
	case <-time.After(cutTimeout):
		t.Errorf("no frame to cut the stream at within %s", cutTimeout)
	}
	g.Close()
}

// play sends the clips' access units in turn, looping, in real time
// (scaled by Speed), with timestamps that keep counting across clips.
func (g *gortServer) play(ctx context.Context, stream *gortsplib.ServerStream, seq []*clip, encode func([][]byte) ([]*rtp.Packet, error)) {
	defer close(g.done)
	base := rand.Uint32()
	start := time.Now()
	cut, cutting := cutMode(0), false
	maxPTS := int64(-1) // the latest presentation time sent
	lastRef := false    // the last frame sent is shown after all before it
	var offset int64    // 90 kHz time of the current clip's first DTS
	for n := 0; ; n++ {
		c := seq[n%len(seq)]
		for _, au := range c.AUs {
			select {
			case cut = <-g.cut:
				cutting = true
			default:
			}
			pts := offset + au.PTS
			// A clean cut stops before a frame shown after all sent; a
			// mid-GOP cut sends one B-frame more (a receiver may wait for
			// the next frame to end the previous one) and stops.
			stop := cutting && maxPTS >= 0 && (cut == cutClean) == (pts > maxPTS) &&
				(cut == cutClean || lastRef)
			if stop && cut == cutClean {
				return
			}
			dts := offset + au.DTS
			due := start.Add(time.Duration(float64(dts) / 90000 / g.opts.Speed * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			} else if ctx.Err() != nil {
				return
			}
			pkts, err := encode(au.NALUs)
			if err != nil {
				return
			}
			// The RTP timestamp is the presentation time (RFC 6184 §5.1);
			// with B-frames it runs ahead of the decode time.
			ts := base + uint32(pts)
			lastRef = pts > maxPTS
			maxPTS = max(maxPTS, pts)
			for _, p := range pkts {
				p.Timestamp = ts
				_ = stream.WritePacketRTP(stream.Desc.Medias[0], p)
			}
			if stop {
				// Let the server's writer put the last frames on the wire
				// before the connection dies.
				time.Sleep(cutFlush)
				return
			}
		}
		// The next clip decodes after this one and is shown after it,
		// whatever either's B-frame delay.
		next := seq[(n+1)%len(seq)]
		offset += max(c.Duration, c.presEnd()-next.AUs[0].PTS)
	}
}

// presEnd is where the clip's last shown frame ends, from its first DTS.
func (c *clip) presEnd() int64 {
	var end int64
	for _, au := range c.AUs {
		end = max(end, au.PTS)
	}
	return end + c.AUs[1].DTS - c.AUs[0].DTS
}

func (g *gortServer) authorize(conn *gortsplib.ServerConn, req *base.Request) (*base.Response, error) {
	if g.opts.User == "" {
		return nil, nil
	}
	if !conn.VerifyCredentials(req, g.opts.User, g.opts.Password) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	return nil, nil
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (g *gortServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := g.authorize(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	if ctx.Path != "/live" {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, g.getStream(), nil
}

func (g *gortServer) getStream() *gortsplib.ServerStream {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.stream
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (g *gortServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := g.authorize(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, g.getStream(), nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (g *gortServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// rtspURL builds rtsp://[user:pass@]127.0.0.1:port/path with the
// credentials percent-encoded.
func rtspURL(port int, path, user, pass string) string {
	u := fmt.Sprintf("rtsp://127.0.0.1:%d/%s", port, path)
	if user != "" {
		u = fmt.Sprintf("rtsp://%s@127.0.0.1:%d/%s", urlUserinfo(user, pass), port, path)
	}
	return u
}
