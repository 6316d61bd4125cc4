package recorder

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/clock"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/recorder/video"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/ticks"
)

// t0 is a fixed start for the fake clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is clock.Fake (Now is the wall clock, which a test may step;
// a timer fires when Advance moves elapsed time past it) that also
// announces every timer made, for tests that wait until the job waits.
type fakeClock struct {
	*clock.Fake
	afters chan time.Duration // every timer made
}

func newFakeClock() *fakeClock {
	return &fakeClock{Fake: clock.NewFake(t0), afters: make(chan time.Duration, 1<<16)}
}

func (c *fakeClock) NewTimer(d time.Duration) clock.Timer {
	t := c.Fake.NewTimer(d)
	select {
	case c.afters <- d:
	default:
	}
	return t
}

// Step moves only the wall clock, by d (an NTP step, F12).
func (c *fakeClock) Step(d time.Duration) { c.Fake.Step(c.Now().Add(d)) }

// waitAfter waits for the next timer made with a duration accepted by ok.
func (c *fakeClock) waitAfter(t *testing.T, ok func(time.Duration) bool) time.Duration {
	t.Helper()
	timeout := time.After(10 * time.Second) // real time: a broken job must not hang the test
	for {
		select {
		case d := <-c.afters:
			if ok(d) {
				return d
			}
		case <-timeout:
			t.Fatal("timed out waiting for the job to wait on a timer")
		}
	}
}

// fakeStore keeps rows in memory and creates real files in a temp dir.
// Its files do what storage's do (count written and synced bytes, refuse
// a sync after a failed one), with the write and the fsync injectable.
type fakeStore struct {
	mu        sync.Mutex
	dir       string
	nextID    int64
	rows      map[int64]storage.Segment
	updates   []storage.Segment
	finished  []storage.Segment
	createErr error
	devNull   bool // files go to os.DevNull (long simulations)
	// write and sync are a file's write and fsync; tests tear writes
	// (F5) and fail or snapshot syncs (F7, F10) with them.
	write func(*os.File, []byte) (int, error)
	sync  func(*os.File) error
	// check, if set, sees every row write before it happens.
	check func(how string, seg storage.Segment)
}

func newFakeStore(t *testing.T) *fakeStore {
	return &fakeStore{dir: t.TempDir(), rows: map[int64]storage.Segment{},
		write: (*os.File).Write, sync: (*os.File).Sync}
}

func (s *fakeStore) CreateSegment(ctx context.Context, seg storage.Segment) (SegmentFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.createErr != nil {
		return nil, s.createErr
	}
	s.nextID++
	seg.ID = s.nextID
	name, flag := filepath.Join(s.dir, fmt.Sprintf("%d.seg", seg.ID)), os.O_RDWR|os.O_CREATE|os.O_EXCL
	if s.devNull {
		name, flag = os.DevNull, os.O_WRONLY
	}
	f, err := os.OpenFile(name, flag, 0o644)
	if err != nil {
		return nil, err
	}
	s.rows[seg.ID] = seg
	return &fakeFile{rows: s, f: f, id: seg.ID, write: s.write, sync: s.sync, devNull: s.devNull}, nil
}

// rowSink takes a fake segment file's row writes.
type rowSink interface {
	UpdateSegment(ctx context.Context, seg storage.Segment) error
	FinishSegment(ctx context.Context, seg storage.Segment) error
}

// fakeFile is a fake SegmentFile over a real file (or os.DevNull).
type fakeFile struct {
	rows                  rowSink
	f                     *os.File
	id                    int64
	write                 func(*os.File, []byte) (int, error)
	sync                  func(*os.File) error
	devNull               bool
	written, good, synced int64
	failed, closed        bool
}

func (f *fakeFile) ID() int64      { return f.id }
func (f *fakeFile) Written() int64 { return f.good }
func (f *fakeFile) Synced() int64  { return f.synced }

func (f *fakeFile) Write(p []byte) (int, error) {
	n, err := f.write(f.f, p)
	f.written += int64(n)
	if err == nil {
		f.good = f.written
	}
	return n, err
}

func (f *fakeFile) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }

func (f *fakeFile) Sync() error {
	if f.failed {
		return storage.ErrSync
	}
	if f.synced == f.written {
		return nil
	}
	if err := f.sync(f.f); err != nil {
		f.failed = true
		return fmt.Errorf("%w: %w", storage.ErrSync, err)
	}
	f.synced = f.written
	return nil
}

func (f *fakeFile) CutBack(n int64) error {
	if n < 0 || n > f.good {
		return fmt.Errorf("cut back to %d of %d", n, f.good)
	}
	if !f.devNull {
		if err := f.f.Truncate(n); err != nil {
			return err
		}
	}
	f.written, f.good, f.synced = n, n, min(f.synced, n)
	return nil
}

func (f *fakeFile) Update(ctx context.Context, seg storage.Segment) error {
	seg.ID, seg.Bytes = f.id, f.synced
	return f.rows.UpdateSegment(ctx, seg)
}

func (f *fakeFile) Finish(ctx context.Context, seg storage.Segment) error {
	if err := f.Sync(); err != nil {
		f.Abandon()
		return err
	}
	f.Abandon()
	seg.ID, seg.Bytes = f.id, f.synced
	return f.rows.FinishSegment(ctx, seg)
}

func (f *fakeFile) Abandon() error {
	if f.closed {
		return nil
	}
	f.closed = true
	return f.f.Close()
}

func (s *fakeStore) UpdateSegment(ctx context.Context, seg storage.Segment) error {
	if s.check != nil {
		s.check("update", seg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rows[seg.ID]; !ok {
		return storage.ErrNotFound
	}
	s.rows[seg.ID] = seg
	s.updates = append(s.updates, seg)
	return nil
}

func (s *fakeStore) FinishSegment(ctx context.Context, seg storage.Segment) error {
	if s.check != nil {
		s.check("finish", seg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rows[seg.ID]; !ok {
		return storage.ErrNotFound
	}
	s.rows[seg.ID] = seg
	s.finished = append(s.finished, seg)
	return nil
}

func (s *fakeStore) path(id int64) string { return filepath.Join(s.dir, fmt.Sprintf("%d.seg", id)) }

// segments returns every row, in id order.
func (s *fakeStore) segments() []storage.Segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Segment
	for _, r := range s.rows {
		out = append(out, r)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].ID < out[k].ID })
	return out
}

// The fake segment format: "FAKESEG1", then fragments
// "FRAG" n:u32 then per sample dts:i64 dur:u32 key:u8 size:u32 bytes.
var fakeHeader = []byte("FAKESEG1")

// fakeSample is what the fake writer saw.
type fakeSample struct {
	dts, pts int64
	key      bool
	size     int
}

// fakeWriter imitates fmp4.Writer: it holds samples back until their
// duration is known and writes each fragment with one Write call.
type fakeWriter struct {
	w       io.Writer
	fragDur int64
	pending []fakeSample
	log     *writerLog
	stats   fmp4.WriterStats
	gate    chan struct{} // when non-nil, WriteSample waits for a token
}

// writerLog collects what every writer of a test did.
type writerLog struct {
	mu       sync.Mutex
	segments [][]fakeSample // samples per writer, in order
	endDTS   []int64        // Close argument per writer (-1 if not closed)
	params   []fmp4.TrackParams
	gate     chan struct{}
}

func (l *writerLog) newWriter(w io.Writer, p fmp4.TrackParams, opts fmp4.WriterOptions) (SegmentWriter, error) {
	if len(p.SPS) == 0 || len(p.PPS) == 0 || p.Width <= 0 || p.Height <= 0 {
		return nil, errors.New("fake writer: bad params")
	}
	if _, err := w.Write(fakeHeader); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.segments = append(l.segments, nil)
	l.endDTS = append(l.endDTS, -1)
	l.params = append(l.params, p)
	l.mu.Unlock()
	return &fakeWriter{w: w, fragDur: opts.FragmentDuration, log: l, gate: l.gate}, nil
}

func (l *writerLog) all() ([][]fakeSample, []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	segs := make([][]fakeSample, len(l.segments))
	for i := range l.segments {
		segs[i] = append([]fakeSample(nil), l.segments[i]...)
	}
	return segs, append([]int64(nil), l.endDTS...)
}

func (f *fakeWriter) WriteSample(s fmp4.Sample) error {
	if f.gate != nil {
		<-f.gate
	}
	size := 0
	for _, n := range s.NALUs {
		size += len(n)
	}
	fs := fakeSample{dts: s.DTS, pts: s.PTS, key: s.Keyframe, size: size}
	if len(f.pending) > 0 && s.DTS-f.pending[0].dts >= f.fragDur {
		if err := f.emit(len(f.pending), s.DTS); err != nil {
			return err
		}
	}
	f.pending = append(f.pending, fs)
	f.log.mu.Lock()
	f.log.segments[len(f.log.segments)-1] = append(f.log.segments[len(f.log.segments)-1], fs)
	f.log.mu.Unlock()
	f.stats.Frames++
	return nil
}

// emit writes the first n pending samples as one fragment; next is the
// DTS after the last of them.
func (f *fakeWriter) emit(n int, next int64) error {
	if n == 0 {
		return nil
	}
	var b []byte
	b = append(b, "FRAG"...)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for i := 0; i < n; i++ {
		s := f.pending[i]
		end := next
		if i+1 < n {
			end = f.pending[i+1].dts
		}
		b = binary.BigEndian.AppendUint64(b, uint64(s.dts))
		b = binary.BigEndian.AppendUint32(b, uint32(end-s.dts))
		if s.key {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(s.size))
		b = append(b, make([]byte, s.size)...)
	}
	if _, err := f.w.Write(b); err != nil {
		return err
	}
	f.stats.Bytes += int64(len(b))
	f.stats.Fragments++
	f.pending = append(f.pending[:0], f.pending[n:]...)
	return nil
}

func (f *fakeWriter) Flush() error {
	if len(f.pending) < 2 {
		return nil
	}
	return f.emit(len(f.pending)-1, f.pending[len(f.pending)-1].dts)
}

func (f *fakeWriter) Close(endDTS int64) error {
	f.log.mu.Lock()
	f.log.endDTS[len(f.log.endDTS)-1] = endDTS
	f.log.mu.Unlock()
	return f.emit(len(f.pending), endDTS)
}

func (f *fakeWriter) Stats() fmp4.WriterStats { return f.stats }

// fakeScan reads the fake format up to the last complete fragment.
func fakeScan(r io.ReaderAt, size int64) (*fmp4.SegmentInfo, error) {
	b := make([]byte, size)
	if _, err := r.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if !bytes.HasPrefix(b, fakeHeader) {
		return nil, errors.New("fake scan: no header")
	}
	info := &fmp4.SegmentInfo{Timescale: 90000}
	off := len(fakeHeader)
	info.ValidSize = int64(off)
	for {
		p := off
		if p+8 > len(b) || string(b[p:p+4]) != "FRAG" {
			break
		}
		n := int(binary.BigEndian.Uint32(b[p+4:]))
		p += 8
		var samples []fmp4.SampleInfo
		ok := true
		for i := 0; i < n; i++ {
			if p+17 > len(b) {
				ok = false
				break
			}
			s := fmp4.SampleInfo{
				DTS:      int64(binary.BigEndian.Uint64(b[p:])),
				Duration: binary.BigEndian.Uint32(b[p+8:]),
				Keyframe: b[p+12] == 1,
				Size:     binary.BigEndian.Uint32(b[p+13:]),
			}
			p += 17
			if p+int(s.Size) > len(b) {
				ok = false
				break
			}
			p += int(s.Size)
			samples = append(samples, s)
		}
		if !ok {
			break
		}
		for _, s := range samples {
			info.Samples = append(info.Samples, s)
			info.Duration += int64(s.Duration)
			if s.Keyframe {
				info.Keyframes++
			}
		}
		info.Fragments++
		off = p
		info.ValidSize = int64(off)
	}
	return info, nil
}

// fakeSession replays RTP packets, then ends as told.
type fakeSession struct {
	info    rtsp.Info
	packets []*rtp.Packet
	end     error  // returned after the packets; nil means block until ctx is done
	pace    func() // called after each access unit's last packet
	closed  chan struct{}
	once    sync.Once
}

// Info is the session's info; an H.264 track unless the test set one, as
// recorder/rtsp never opens a session without a video track.
func (s *fakeSession) Info() rtsp.Info {
	info := s.info
	if info.Video.Codec == "" {
		info.Video.Codec = "H264"
	}
	return info
}
func (s *fakeSession) Stats() rtsp.Stats {
	return rtsp.Stats{Packets: uint64(len(s.packets))}
}

func (s *fakeSession) ReadPackets(ctx context.Context, fn func(*rtp.Packet) error) error {
	for _, p := range s.packets {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		if p.Marker && s.pace != nil {
			s.pace()
		}
	}
	if s.end != nil {
		return s.end
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *fakeSession) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

// packetize turns clip frames into RTP packets (single NAL units, FU-A
// above mtu; RFC 6184 §5.6, §5.8) with the marker on each access unit's
// last packet. loops repeats the clip with continuous timestamps.
func packetize(c *testcam.Clip, loops int, mtu int) []*rtp.Packet {
	var out []*rtp.Packet
	seq := uint16(1000)
	add := func(ts uint32, marker bool, payload []byte) {
		out = append(out, &rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 0x1234, Marker: marker},
			Payload: payload,
		})
		seq++
	}
	for l := 0; l < loops; l++ {
		for _, f := range c.Frames {
			ts := uint32(f.PTS + int64(l)*c.Duration + 90000)
			for i, n := range f.NALUs {
				last := i == len(f.NALUs)-1
				if len(n) <= mtu {
					add(ts, last, n)
					continue
				}
				// FU-A (RFC 6184 §5.8) or, for an H.265 clip, FU (RFC
				// 7798 §4.4.3): the unit's header becomes the FU's
				// indicator and header.
				hdr := n[0]
				body := n[1:]
				fuHdr := []byte{hdr&0xe0 | 28}
				h0 := hdr & 0x1f
				if c.H265 {
					body = n[2:]
					fuHdr = []byte{hdr&0x81 | 49<<1, n[1]}
					h0 = hdr >> 1 & 0x3f
				}
				for start := true; len(body) > 0; start = false {
					k := min(len(body), mtu-len(fuHdr)-1)
					fu := make([]byte, 0, k+len(fuHdr)+1)
					fu = append(fu, fuHdr...)
					h := h0
					if start {
						h |= 0x80
					}
					if k == len(body) {
						h |= 0x40
					}
					fu = append(fu, h)
					fu = append(fu, body[:k]...)
					body = body[k:]
					add(ts, last && len(body) == 0, fu)
				}
			}
		}
	}
	return out
}

func loadClip(t testing.TB, name string) *testcam.Clip {
	t.Helper()
	c, err := testcam.LoadClip(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testJob builds a job with fakes; mutate cfg/deps via the callbacks.
type testEnv struct {
	clock *fakeClock
	store *fakeStore
	log   *writerLog
	job   *Job
}

func newTestEnv(t *testing.T, cfg Config, open OpenFunc) *testEnv {
	t.Helper()
	env := &testEnv{clock: newFakeClock(), store: newFakeStore(t), log: &writerLog{}}
	if cfg.Camera == "" {
		cfg.Camera = "cam-1"
	}
	if cfg.RTSP.URL == "" {
		cfg.RTSP.URL = "rtsp://admin:s3cret@127.0.0.1:1/stream"
	}
	j, err := NewJob(cfg, Deps{
		Store:     env.store,
		Open:      open,
		NewWriter: env.log.newWriter,
		Scan:      fakeScan,
		Clock:     env.clock,
		Rand:      func() float64 { return 0.5 },
	})
	if err != nil {
		t.Fatal(err)
	}
	env.job = j
	return env
}

// waitDrained paces a fake camera at the speed of the fake disk: it waits
// until every access unit that arrived was written or dropped, as a real
// camera's frame interval would. Bounded in real time.
func (env *testEnv) waitDrained() {
	j := env.job
	deadline := time.Now().Add(10 * time.Second)
	// The writer holds one access unit back (segmenter.run), so one may
	// be pending.
	for j.auCount.Load() > j.frames.Load()+j.droppedFrames.Load()+1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Microsecond)
	}
}

// item builds a queued access unit from a clip frame with a DTS offset.
func item(f testcam.Frame, ps *paramSet, dtsOff int64, arrival time.Time) *auItem {
	it := &auItem{dts: f.DTS + dtsOff, pts: f.PTS + dtsOff, keyframe: f.Keyframe, arrivalNS: arrival.UnixNano(), params: ps}
	for _, n := range f.NALUs {
		it.size += len(n)
	}
	it.nalus = f.NALUs
	return it
}

// clipParams is a clip's parameter sets as the queue carries them: the
// bytes and their parse, as the depacketizer hands them out.
func clipParams(t testing.TB, c *testcam.Clip) *paramSet {
	t.Helper()
	p, err := video.ParseParams(c.VPS, c.SPS, c.PPS)
	if err != nil {
		t.Fatal(err)
	}
	return &paramSet{vps: c.VPS, sps: c.SPS, pps: c.PPS, parsed: &p}
}

// framesPerFragment is the most frames of a 25 fps clip a default
// fragment holds: it takes frames until it reaches its duration, so a part
// of a frame counts whole.
func framesPerFragment() int {
	const frame = ticks.PerSecond / 25
	return int((ticks.FromNS(int64(DefaultFragmentDuration)) + frame - 1) / frame)
}
