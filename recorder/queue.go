package recorder

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/recorder/video"
)

const (
	// maxQueueBytes bounds the access units waiting for the disk (F8: a
	// slow disk must not stall the network reader or grow memory): 2 MiB
	// holds about 4 s of a 4 Mbit/s camera and keeps a camera's memory
	// within the ~2 MB budget of issue 3.
	maxQueueBytes = 2 << 20

	// maxQueueItems bounds the number of waiting access units (the
	// channel's capacity): 10 s at 25 fps, so at normal bitrates the byte
	// bound is the one that binds.
	maxQueueItems = 512

	// audioReserve is the part of the queue's items audio may never take:
	// audio frames (about 50 a second) are queued only while fewer than
	// maxQueueItems-audioReserve items wait, so audio never crowds out
	// video (10 s at 25 fps stays for it).
	audioReserve = 256

	// maxFreeBytes bounds the buffer memory kept for reuse after the
	// queue drains (a burst behind a slow disk, an 8 MiB IDR), so an idle
	// camera does not pin its worst moment.
	maxFreeBytes = 1 << 20
)

// paramSet is an immutable set of parameter sets shared by every queued
// access unit that uses it, so only a change costs an allocation. parsed
// is the depacketizer's parse of them (video.AccessUnit.Params), carried
// along so the segmenter never parses them again; nil when they did not
// parse.
type paramSet struct {
	vps, sps, pps []byte
	parsed        *video.Params
}

// auItem is an access unit copied out of the depacketizer's buffers (they
// are reused after the callback) and queued for the disk writer.
type auItem struct {
	dts, pts  int64
	keyframe  bool
	arrivalNS int64 // local wall clock when the AU was complete
	params    *paramSet
	data      []byte   // the NAL units back to back
	nalus     [][]byte // slices of data
	size      int      // bytes counted against maxQueueBytes

	// audio is set on an audio frame instead of an access unit: pts is
	// then its time on the video's timeline in audio clock units (see
	// avSync), dur its own length, data the frame.
	audio *audio.Format
	dur   int64
}

// absorb appends o's NAL units to it: the two are parts of one picture
// (same timestamp). It refuses, returning false, when the result would
// pass the limits the depacketizers put on one access unit. it's queue size
// is unchanged: o's bytes are accounted for when o is released.
func (it *auItem) absorb(o *auItem) bool {
	if len(it.data)+len(o.data) > video.MaxAccessUnitSize || len(it.nalus)+len(o.nalus) > video.MaxNALUsPerAccessUnit {
		return false
	}
	it.data = append(it.data, o.data...)
	// The append may have moved data: re-point every NAL unit into it.
	off := 0
	for i, n := range it.nalus {
		it.nalus[i] = it.data[off : off+len(n) : off+len(n)]
		off += len(n)
	}
	for _, n := range o.nalus {
		it.nalus = append(it.nalus, it.data[off:off+len(n):off+len(n)])
		off += len(n)
	}
	it.keyframe = it.keyframe || o.keyframe
	return true
}

// auQueue is the bounded hand-off between the network reader (the only
// sender) and the disk writer. push never blocks: when the queue is full
// it drops the access unit and every following one up to the next
// keyframe, since a P-frame without its references cannot be decoded.
type auQueue struct {
	ch    chan *auItem
	bytes atomic.Int64

	// free holds written items for reuse, so steady-state queueing
	// allocates nothing; at most maxQueueItems+2 items ever exist.
	freeMu    sync.Mutex
	free      []*auItem
	freeBytes int

	dropping bool      // reader-owned: dropping until the next keyframe
	params   *paramSet // reader-owned: the last parameter sets seen
	dropped  *atomic.Uint64
}

func newQueue(dropped *atomic.Uint64) *auQueue {
	return &auQueue{
		ch:      make(chan *auItem, maxQueueItems),
		dropped: dropped,
	}
}

// push copies au into the queue, or counts it as dropped. Reader only.
func (q *auQueue) push(au *video.AccessUnit, arrivalNS int64) {
	size := 0
	for _, n := range au.NALUs {
		size += len(n)
	}
	if q.dropping && !au.Keyframe {
		q.dropped.Add(1)
		return
	}
	queued := q.bytes.Load()
	// A single access unit larger than the bound is let in when the
	// queue is empty (its size is already capped by video.MaxAccessUnitSize)
	// so a camera with huge keyframes still records.
	if len(q.ch) == cap(q.ch) || (queued > 0 && queued+int64(size) > maxQueueBytes) {
		q.dropping = true
		q.dropped.Add(1)
		return
	}
	q.dropping = false

	if q.params == nil || q.params.parsed != au.Params || !bytes.Equal(q.params.sps, au.SPS) || !bytes.Equal(q.params.pps, au.PPS) || !bytes.Equal(q.params.vps, au.VPS) {
		q.params = &paramSet{vps: bytes.Clone(au.VPS), sps: bytes.Clone(au.SPS), pps: bytes.Clone(au.PPS), parsed: au.Params}
	}
	it := q.get(size)
	it.dts, it.pts, it.keyframe, it.arrivalNS = au.DTS, au.PTS, au.Keyframe, arrivalNS
	it.params = q.params
	it.size = size
	if cap(it.data) < size {
		it.data = make([]byte, 0, size)
	}
	it.data = it.data[:0]
	it.nalus = it.nalus[:0]
	for _, n := range au.NALUs {
		off := len(it.data)
		it.data = append(it.data, n...)
		it.nalus = append(it.nalus, it.data[off:len(it.data):len(it.data)])
	}
	q.bytes.Add(int64(size))
	select {
	case q.ch <- it:
	default:
		// Unreachable: the reader is the only sender and checked the
		// length above; kept so a mistake drops instead of blocking.
		q.bytes.Add(-int64(size))
		q.dropping = true
		q.dropped.Add(1)
	}
}

// pushAudio copies an audio frame into the queue, or counts it in
// dropped. It never makes video wait or drop: audio is refused once the
// queue is past its share (audioReserve) or its bytes. Reader only.
func (q *auQueue) pushAudio(f *audio.Format, pts, dur int64, data []byte, arrivalNS int64, dropped *atomic.Uint64) {
	size := len(data)
	if len(q.ch) >= cap(q.ch)-audioReserve || q.bytes.Load()+int64(size) > maxQueueBytes/2 {
		dropped.Add(1)
		return
	}
	it := q.get(size)
	it.audio, it.pts, it.dts, it.dur, it.arrivalNS, it.keyframe, it.params = f, pts, pts, dur, arrivalNS, false, nil
	it.size = size
	it.data = append(it.data[:0], data...)
	it.nalus = it.nalus[:0]
	q.bytes.Add(int64(size))
	select {
	case q.ch <- it:
	default:
		q.bytes.Add(-int64(size))
		dropped.Add(1)
	}
}

// release returns a written item's memory. Writer only.
func (q *auQueue) release(it *auItem) {
	q.bytes.Add(-int64(it.size))
	it.params, it.audio = nil, nil
	q.freeMu.Lock()
	// Over budget: give up the buffers at the front of the list (mostly
	// the items idle longest), keeping the one just used, which is hot
	// and sized for the stream.
	for i := 0; i < len(q.free) && q.freeBytes+cap(it.data) > maxFreeBytes; i++ {
		q.freeBytes -= cap(q.free[i].data)
		q.free[i].data = nil
	}
	if q.freeBytes+cap(it.data) > maxFreeBytes {
		it.data = nil
	}
	q.freeBytes += cap(it.data)
	q.free = append(q.free, it)
	q.freeMu.Unlock()
}

// get returns a reusable item, or a new one.
func (q *auQueue) get(size int) *auItem {
	q.freeMu.Lock()
	defer q.freeMu.Unlock()
	n := len(q.free)
	if n == 0 {
		return &auItem{}
	}
	// The smallest buffer that holds size, else the largest (it grows):
	// reads come in batches of several frames, and a keyframe's buffer
	// handed to a P-frame would make the next keyframe allocate while
	// the trimming in release drops buffers again.
	best := 0
	for i := 1; i < n; i++ {
		c, b := cap(q.free[i].data), cap(q.free[best].data)
		if (c >= size && (b < size || c < b)) || (b < size && c > b) {
			best = i
		}
	}
	it := q.free[best]
	q.free[best] = q.free[n-1]
	q.free[n-1] = nil
	q.free = q.free[:n-1]
	q.freeBytes -= cap(it.data)
	return it
}

// close ends the queue; the writer drains what is left. Reader only.
func (q *auQueue) close() { close(q.ch) }
