// Command refserver is the load test's external RTSP server: gortsplib's
// server (the library MediaMTX is built on, an implementation independent
// of ours) serving a testcam clip on many paths, in its own process, so the
// load test's CPU figure is the recorder's alone. Like MediaMTX and
// cameras it writes every RTP packet on its own (one TCP segment each),
// paced at real time by the clip's decode times.
//
// It is a test tool, built only for cmd/loadtest (-external): nvr never
// runs it and never links gortsplib.
//
//	refserver -streams 32 -duration 60s [-clip main720] [-udp]
//
// Each path /camNNNN (0000 to streams-1) starts its clip at the first
// keyframe a moment after a client's PLAY and stops sending -duration
// later, keeping the connection open (like testcam's StallAfter), so the
// load test can check that every frame sent was written. One client per
// path is expected.
//
// Protocol on stdin/stdout, one line each: it prints "ready URL-PREFIX"
// once listening (the stream URLs are URL-PREFIX/camNNNN); each line read
// from stdin is answered with one JSON object, {"cam0000": frames sent,
// ...}, plus "_cpu_s": its own user+system CPU seconds; it exits when
// stdin closes.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/ticks"
)

const (
	// maxStreams bounds -streams like the load test's maxCameras.
	maxStreams = 2000
	// playSettle is the pause between a PLAY and the first frame:
	// gortsplib marks the session as reading only after OnPlay returns,
	// and a packet written before that is not sent, so the first frame
	// would count as sent but never arrive.
	playSettle = 200 * time.Millisecond
	// writeQueueSize is gortsplib's per-session queue of packets waiting
	// for the socket (a power of two): a keyframe of the 720p clip is
	// about 150 packets, and the default 256 leaves little room.
	writeQueueSize = 1024
)

func main() {
	if err := run(); err != nil {
		slog.Error("refserver failed", "err", err)
		os.Exit(1)
	}
}

func run() error {
	streams := flag.Int("streams", 32, "number of paths /cam0000 …")
	clipName := flag.String("clip", testcam.ClipMain720, "testcam clip")
	duration := flag.Duration("duration", 30*time.Second, "how long each path sends after PLAY")
	udp := flag.Bool("udp", false, "also offer UDP transport")
	flag.Parse()
	if *streams < 1 || *streams > maxStreams {
		return fmt.Errorf("-streams must be 1..%d", maxStreams)
	}
	clip, err := testcam.LoadClip(*clipName)
	if err != nil {
		return err
	}
	h := &handler{clip: clip, duration: *duration, paths: map[string]*path{}, stop: make(chan struct{})}
	h.srv = &gortsplib.Server{Handler: h, RTSPAddress: "127.0.0.1:0", WriteQueueSize: writeQueueSize}
	if *udp {
		p, err := freeUDPPair()
		if err != nil {
			return err
		}
		h.srv.UDPRTPAddress = "127.0.0.1:" + strconv.Itoa(p)
		h.srv.UDPRTCPAddress = "127.0.0.1:" + strconv.Itoa(p+1)
	}
	if err := h.srv.Start(); err != nil {
		return err
	}
	defer h.srv.Close()
	for i := range *streams {
		p, err := h.newPath(fmt.Sprintf("cam%04d", i))
		if err != nil {
			return err
		}
		defer p.stream.Close()
	}
	defer h.wg.Wait()
	defer close(h.stop)

	fmt.Printf("ready rtsp://%s\n", h.srv.NetListener().Addr())
	sc := bufio.NewScanner(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		out := map[string]float64{}
		for name, p := range h.paths {
			out[name[1:]] = float64(p.sent.Load())
		}
		out["_cpu_s"] = cpuSeconds()
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return sc.Err()
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

type handler struct {
	srv      *gortsplib.Server
	clip     *testcam.Clip
	duration time.Duration
	paths    map[string]*path // by request path ("/cam0000"); filled before "ready" is printed
	stop     chan struct{}
	wg       sync.WaitGroup
}

// path is one stream and its sender.
type path struct {
	stream  *gortsplib.ServerStream
	media   *description.Media
	enc     *rtph264.Encoder
	started atomic.Bool
	sent    atomic.Int64 // frames whose packets were all handed to the stream
}

func (h *handler) newPath(name string) (*path, error) {
	forma := &format.H264{PayloadTyp: 96, SPS: h.clip.SPS, PPS: h.clip.PPS, PacketizationMode: 1}
	p := &path{media: &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}}
	p.stream = &gortsplib.ServerStream{Server: h.srv, Desc: &description.Session{Medias: []*description.Media{p.media}}}
	if err := p.stream.Initialize(); err != nil {
		return nil, err
	}
	enc, err := forma.CreateEncoder()
	if err != nil {
		return nil, err
	}
	p.enc = enc
	h.paths["/"+name] = p
	return p, nil
}

// lookup returns the path of a request ("/cam0000").
func (h *handler) lookup(name string) *path { return h.paths[name] }

func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	p := h.lookup(ctx.Path)
	if p == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
}

func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	p := h.lookup(ctx.Path)
	if p == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
}

func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if p := h.lookup(ctx.Path); p != nil && p.started.CompareAndSwap(false, true) {
		h.wg.Go(func() { h.send(p) })
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnGetParameter(*gortsplib.ServerHandlerOnGetParameterCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// send writes the clip in a loop at real time, each frame when its decode
// time has passed, until duration or stop.
func (h *handler) send(p *path) {
	timer := time.NewTimer(playSettle)
	defer timer.Stop()
	select {
	case <-h.stop:
		return
	case <-timer.C:
	}
	start := time.Now()
	end := start.Add(h.duration)
	frames := h.clip.Frames
	dts0 := frames[0].DTS
	var offset int64 // 90 kHz added per loop
	for i := 0; ; i++ {
		k := i % len(frames)
		if i > 0 && k == 0 {
			offset += h.clip.Duration
		}
		f := frames[k]
		due := start.Add(time.Duration(ticks.ToNS(f.DTS + offset - dts0)))
		if !due.Before(end) {
			return
		}
		timer.Reset(time.Until(due))
		select {
		case <-h.stop:
			return
		case <-timer.C:
		}
		pkts, err := p.enc.Encode(f.NALUs)
		if err != nil {
			slog.Error("refserver: encode", "err", err)
			return
		}
		ok := true
		for _, pkt := range pkts {
			pkt.Timestamp = uint32(f.PTS + offset)
			if err := p.stream.WritePacketRTP(p.media, pkt); err != nil {
				ok = false
			}
		}
		if ok {
			p.sent.Add(1)
		}
	}
}

// freeUDPPair finds an even port whose successor is free too.
func freeUDPPair() (int, error) {
	for range 50 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, err
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1})
		a.Close()
		if err == nil {
			b.Close()
			if p%2 == 0 {
				return p, nil
			}
		}
	}
	return 0, errors.New("no free UDP port pair")
}
