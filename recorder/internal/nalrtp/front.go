package nalrtp

import "github.com/pion/rtp"

// Front is the public face a codec package gives its depacketizer: Push
// and Flush take the codec's own callback, and wrap turns each shared Frame
// into the codec's access unit. Embedding it gives recorder/h264 and
// recorder/h265 the same Push, Flush, Reset and Stats.
type Front[AU any] struct {
	d       *Depacketizer
	wrap    func(*Frame) *AU
	emit    func(*AU)    // the caller's callback during Push and Flush
	onFrame func(*Frame) // f.frame bound once: a method value made per Push would allocate
}

// Init binds the front to d; wrap is called for every emitted frame.
func (f *Front[AU]) Init(d *Depacketizer, wrap func(*Frame) *AU) {
	f.d, f.wrap = d, wrap
	f.onFrame = f.frame
}

func (f *Front[AU]) frame(fr *Frame) { f.emit(f.wrap(fr)) }

// Push feeds one RTP packet (already parsed by pion/rtp, payload valid only
// during the call) and calls emit for every access unit it completes (zero,
// one, or occasionally two). An error return describes a rejected packet or
// dropped AU (callers count/log it and keep going); it is never fatal. It
// wraps one of the codec package's sentinel errors.
func (f *Front[AU]) Push(pkt *rtp.Packet, emit func(*AU)) error {
	f.emit = emit
	err := f.d.Push(pkt, f.onFrame)
	f.emit = nil
	return err
}

// Flush emits a pending access unit (end of stream). An access unit with an
// unfinished fragmented unit is dropped, and so is one still waiting for
// its marker bit in a stream that sets them (cut mid-picture).
func (f *Front[AU]) Flush(emit func(*AU)) {
	f.emit = emit
	f.d.Flush(f.onFrame)
	f.emit = nil
}

// Reset forgets the partial access unit and the sequence state (used on
// SSRC change or reconnect) but keeps the parameter sets and the timestamp
// extension. Output resumes at the next keyframe, since nothing proves the
// packets before and after the reset join up.
func (f *Front[AU]) Reset() { f.d.Reset() }

// Stats returns the counters so far.
func (f *Front[AU]) Stats() Stats { return f.d.Stats() }
