package rtsp

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Reading the control connection in batches (issue 12, docs/cpu.md).
//
// A server writes each RTP packet on its own, and a reader that takes
// whatever has arrived wakes ~45 times a second for a 4 Mbit/s camera,
// each wake-up a netpoll round, a read(2) and, on the receiving side, a
// window update. Recording does not need the packets at once: a fragment
// is written a second of media at a time. So while nobody waits for them
// (SetReadLatency; live view sets it to zero), the reader asks the kernel
// not to wake it before about half the latency's worth of bytes has
// arrived (SO_RCVLOWAT, sized from the measured byte rate), and takes
// whatever is there when the latency has passed without that (a read
// deadline as the floor: a camera that lowers its bitrate, a keepalive
// reply). The kernel's own check makes the wake-up, not a timer, so a
// steady stream costs one wake-up a batch.
//
// Only a plain TCP connection on Linux batches: crypto/tls reads a record
// at a time, and elsewhere the option is not set.
const (
	// maxLowat bounds the batch (the kernel grows the socket's receive
	// buffer to hold it). A batch larger than the rtspmsg.Reader's buffer
	// is taken in two reads after one wake-up.
	maxLowat = 128 << 10
	// rateWindow is how long bytes are counted before the rate is
	// updated.
	rateWindow = time.Second
)

// connReader is the io.Reader under the session's rtspmsg.Reader. It counts
// the reads of the control connection (Stats.ControlReads) and batches them
// while readTCP runs.
type connReader struct {
	conn    net.Conn
	reads   atomic.Uint64
	latency atomic.Int64 // SetReadLatency; 0: read at once
	rate    atomic.Int64 // bytes a second, from the last full window

	// mu guards the socket option: SetReadLatency lowers it from another
	// goroutine, so that a viewer who comes does not wait for a batch.
	mu    sync.Mutex
	raw   syscall.RawConn // nil: cannot batch
	lowat int             // SO_RCVLOWAT as set; 0: the default

	// The rest belongs to the reading goroutine.
	batching bool            // readTCP is running
	ctx      context.Context // readTCP's: its end ends a wait
	mediaAt  time.Time       // the media deadline readTCP wants
	connAt   time.Time       // the deadline last set on conn by Read
	winStart time.Time
	winBytes int
}

func newConnReader(conn net.Conn) *connReader {
	r := &connReader{conn: conn}
	if tc, ok := conn.(*net.TCPConn); ok && canSetLowat {
		if raw, err := tc.SyscallConn(); err == nil {
			r.raw = raw
		}
	}
	return r
}

// begin starts batching for readTCP; end stops it and puts the socket
// back as it was, so replies read afterwards (TEARDOWN's) come at once.
func (r *connReader) begin(ctx context.Context) {
	r.mu.Lock()
	r.batching = r.raw != nil
	r.mu.Unlock()
	r.ctx, r.connAt = ctx, time.Time{}
	r.winStart, r.winBytes = time.Now(), 0
	r.rate.Store(0)
}

func (r *connReader) end() {
	r.batching, r.ctx = false, nil
	r.mu.Lock()
	r.setLowat(0)
	r.mu.Unlock()
}

// setLatency is SetReadLatency: it takes effect at the next read, and at
// once when it lowers the batch (the kernel then wakes a reader that has
// enough).
func (r *connReader) setLatency(d time.Duration) {
	r.latency.Store(int64(d))
	r.mu.Lock()
	defer r.mu.Unlock()
	if want := r.wantLowat(d); want < r.lowat {
		r.setLowat(want)
	}
}

// setMediaDeadline is readTCP's media timeout.
func (r *connReader) setMediaDeadline(at time.Time) error {
	r.mediaAt = at
	if r.batching {
		return nil // Read sets the connection's deadline
	}
	return r.conn.SetReadDeadline(at)
}

func (r *connReader) Read(b []byte) (int, error) {
	r.reads.Add(1)
	if !r.batching {
		return r.conn.Read(b)
	}
	lat := time.Duration(r.latency.Load())
	r.mu.Lock()
	r.setLowat(r.wantLowat(lat))
	batch := r.lowat > 0
	r.mu.Unlock()
	if !batch {
		// Not batching now: the media deadline alone.
		if err := r.setDeadline(r.mediaAt); err != nil {
			return 0, err
		}
		return r.count(r.conn.Read(b))
	}
	for {
		now := time.Now()
		at := now.Add(lat)
		if r.mediaAt.Before(at) {
			at = r.mediaAt
		}
		if err := r.setDeadline(at); err != nil {
			return 0, err
		}
		n, err := r.conn.Read(b)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() || !time.Now().Before(r.mediaAt) {
			return r.count(n, err)
		}
		// The latency passed with less than a batch waiting. The next
		// conn.Read takes it: it tries read(2) before it waits, and a
		// non-blocking read returns what there is, below SO_RCVLOWAT too.
	}
}

// setDeadline sets conn's read deadline to at unless Read set it so
// last. ctx is checked after it is set, as in readTCP: a past deadline
// set when ctx ended (Session.wake) is not overwritten unseen.
func (r *connReader) setDeadline(at time.Time) error {
	if !at.Equal(r.connAt) {
		if err := r.conn.SetReadDeadline(at); err != nil {
			return err
		}
		r.connAt = at
	}
	return r.ctx.Err()
}

// count notes n bytes read for the rate.
func (r *connReader) count(n int, err error) (int, error) {
	r.winBytes += n
	if now := time.Now(); now.Sub(r.winStart) >= rateWindow {
		r.rate.Store(int64(float64(r.winBytes) / now.Sub(r.winStart).Seconds()))
		r.winStart, r.winBytes = now, 0
	}
	return n, err
}

// wantLowat is the batch for latency lat at the measured rate: half of
// what arrives in lat, so the kernel's wake-up comes well before the
// deadline; 0 (no batching) below a few packets' worth. The caller holds
// mu.
func (r *connReader) wantLowat(lat time.Duration) int {
	v := int(float64(r.rate.Load()) * lat.Seconds() / 2)
	if v < 4<<10 {
		return 0
	}
	return min(v, maxLowat)
}

// setLowat sets SO_RCVLOWAT to v bytes (0: the default of one byte),
// unless it is set already. Lowering it wakes a reader that now has
// enough. A failure leaves the connection reading at once. The caller
// holds mu.
func (r *connReader) setLowat(v int) {
	if v == r.lowat || r.raw == nil {
		return
	}
	var serr error
	err := r.raw.Control(func(fd uintptr) { serr = setLowat(int(fd), max(v, 1)) })
	if err != nil || serr != nil {
		r.raw = nil // the option is not to be had: read at once
		r.lowat = 0
		return
	}
	r.lowat = v
}
