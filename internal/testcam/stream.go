package testcam

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"time"

	"github.com/nvr-project/nvr/ticks"
)

const (
	// srInterval is the RTCP sender report period; RFC 3550 §6.2 suggests
	// about 5 s for a single sender.
	srInterval = 5 * time.Second
	// rtpHeaderLen is the fixed RTP header without CSRCs (RFC 3550 §5.1).
	rtpHeaderLen = 12
	// interleavedHeaderLen is '$', channel and 16-bit length (RFC 2326 §10.12).
	interleavedHeaderLen = 4
	// ntpEpochOffset is the seconds from 1900 (NTP) to 1970 (Unix).
	ntpEpochOffset = 2208988800
)

// streamer sends one session's media: it loops the clip, paced by decode
// time divided by Speed, and applies the media faults. It runs in one
// goroutine that the conn waits for.
type streamer struct {
	c      *conn
	s      *Server
	tcp    bool
	ch     [2]byte        // interleaved channels (RTP, RTCP)
	rtpTo  netip.AddrPort // UDP destinations
	rtcpTo netip.AddrPort

	ssrc   uint32
	seq    uint16
	tsBase uint32

	clip     *Clip
	pkts     [][]RTPPacketTemplate
	frame    int   // next frame to send
	offset   int64 // 90 kHz added to the clip's PTS and DTS (loops, clip switch)
	dts0     int64 // decode time of the first frame sent, the pacing origin
	switched bool

	video bool // the video track was set up; else only its timing runs

	// The audio track, when set up (Options.Audio): one loop of
	// payloads, sent one packet per AudioPacketSamples.
	audio [][]byte
	aCh   byte
	aTo   netip.AddrPort
	aSSRC uint32
	aSeq  uint16
	aTS   uint32 // RTP time of the first sample
	aNext int64  // index of the next audio packet since PLAY
	aBuf  []byte

	n       int // packets considered, for DropEvery/ReorderEvery
	held    bool
	heldHdr [rtpHeaderLen]byte
	heldPay []byte

	// Per-frame output, reused: with FrameWrites, TCP batches a frame
	// into one writev; otherwise frame holds one packet's frame at a time.
	hdrs []byte
	bufs net.Buffers
	out  net.Buffers
	udp  []byte
	pkt  []byte

	// Sender report state.
	sentPackets, sentOctets uint32
	lastTS                  uint32
	lastDue                 time.Time
}

func newStreamer(c *conn, sess *session) *streamer {
	st := &streamer{
		c: c, s: c.s, tcp: sess.tr.TCP, video: sess.videoSet,
		ch:   [2]byte{byte(sess.tr.Interleaved[0]), byte(sess.tr.Interleaved[1])},
		ssrc: sess.ssrc, seq: sess.seq, tsBase: sess.tsBase,
		clip: sess.stream.clip, pkts: sess.stream.packets,
		dts0: sess.stream.clip.Frames[0].DTS,
	}
	a := sess.audio
	if a != nil {
		st.audio = sess.stream.audio
		st.aCh = byte(a.tr.Interleaved[0])
		st.aSSRC, st.aSeq, st.aTS = a.ssrc, a.seq, a.tsBase
		st.aBuf = make([]byte, 0, interleavedHeaderLen+rtpHeaderLen+AudioPacketSamples)
		if !sess.videoSet {
			st.tcp = a.tr.TCP
		}
	}
	if !st.tcp {
		// Media goes only to the address the RTSP connection came from:
		// a SETUP cannot point the stream at a third party.
		ra, _ := netip.ParseAddrPort(c.nc.RemoteAddr().String())
		ip := ra.Addr().Unmap()
		st.rtpTo = netip.AddrPortFrom(ip, uint16(sess.tr.ClientRTP))
		st.rtcpTo = netip.AddrPortFrom(ip, uint16(sess.tr.ClientRTCP))
		st.udp = make([]byte, 0, rtpHeaderLen+c.s.opts.MaxPacketSize)
		if a != nil {
			st.aTo = netip.AddrPortFrom(ip, uint16(a.tr.ClientRTP))
		}
	}
	return st
}

// due returns when a frame with the given decode time (clip time plus
// offset) is to be sent.
func (st *streamer) due(start time.Time, dts int64) time.Time {
	return start.Add(time.Duration(float64(ticks.ToNS(dts-st.dts0)) / st.s.opts.Speed))
}

func (st *streamer) run(ctx context.Context) {
	opts := &st.s.opts
	start := time.Now()
	var closeAt, stallAt, switchAt time.Time
	if opts.CloseAfter > 0 {
		closeAt = start.Add(opts.CloseAfter)
	}
	if opts.StallAfter > 0 {
		stallAt = start.Add(opts.StallAfter)
	}
	if opts.SPSChangeAfter > 0 {
		switchAt = start.Add(opts.SPSChangeAfter)
	}
	nextSR := start
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	stalled := false
	for {
		f := &st.clip.Frames[st.frame]
		due := st.due(start, f.DTS+st.offset)
		next := due
		if st.audio != nil && !stalled {
			if ad := st.audioDue(start); ad.Before(next) {
				next = ad
			}
		}
		if stalled {
			next = time.Time{}
		}
		if !closeAt.IsZero() && (next.IsZero() || closeAt.Before(next)) {
			next = closeAt
		}
		if !stalled && !stallAt.IsZero() && stallAt.Before(next) {
			next = stallAt
		}
		if next.IsZero() {
			<-ctx.Done() // stalled for good: only Close or the client ends it
			return
		}
		if wait := time.Until(next); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		now := time.Now()
		if !closeAt.IsZero() && !now.Before(closeAt) {
			// F1: the camera reboots; the client sees EOF.
			st.c.nc.Close()
			return
		}
		if !stalled && !stallAt.IsZero() && !now.Before(stallAt) {
			stalled = true // F2: keep the connection, send nothing more
			continue
		}
		if st.audio != nil {
			// Every audio packet whose time has come, before the frame:
			// behind schedule, the audio catches up as the video does.
			for !now.Before(st.audioDue(start)) {
				if err := st.sendAudio(); err != nil {
					st.c.nc.Close()
					return
				}
			}
		}
		if now.Before(due) {
			continue
		}
		if !switchAt.IsZero() && !st.switched && !now.Before(switchAt) && f.Keyframe {
			// R18: switch clips at a keyframe. The new clip's first
			// access unit carries its SPS/PPS in-band. Presentation time
			// continues where the old keyframe would have been.
			alt := st.s.alt
			st.offset = f.PTS + st.offset - alt.Frames[0].PTS
			st.clip, st.pkts, st.frame, st.switched = alt, st.s.altPkts, 0, true
			f = &st.clip.Frames[0]
		}
		if err := st.sendFrame(f); err != nil {
			st.c.nc.Close()
			return
		}
		st.lastDue = due
		if st.video && !now.Before(nextSR) {
			if err := st.sendSR(); err != nil {
				st.c.nc.Close()
				return
			}
			nextSR = now.Add(srInterval)
		}
		st.frame++
		if st.frame == len(st.clip.Frames) {
			st.frame = 0
			st.offset += st.clip.Duration
		}
	}
}

// audioDue returns when the next audio packet is to be sent: packet k
// starts k×20 ms after the clip's first frame, divided by Speed.
func (st *streamer) audioDue(start time.Time) time.Time {
	return start.Add(time.Duration(float64(st.aNext*AudioPacketSamples*int64(time.Second)/AudioRate) / st.s.opts.Speed))
}

// sendAudio sends the next audio packet (RFC 3551: PCMU, payload type 0,
// the timestamp counting samples, no marker since silence is sent too).
func (st *streamer) sendAudio() error {
	payload := st.audio[st.aNext%int64(len(st.audio))]
	size := rtpHeaderLen + len(payload)
	b := st.aBuf[:0]
	if st.tcp {
		b = append(b, '$', st.aCh, byte(size>>8), byte(size))
	}
	b = append(b, 0x80, audioPayloadType)
	b = binary.BigEndian.AppendUint16(b, st.aSeq)
	b = binary.BigEndian.AppendUint32(b, st.aTS+uint32(st.aNext*AudioPacketSamples))
	b = binary.BigEndian.AppendUint32(b, st.aSSRC)
	b = append(b, payload...)
	st.aBuf = b
	st.aSeq++
	st.aNext++
	st.s.stats.audioPackets.Add(1)
	if st.tcp {
		return st.c.write(b)
	}
	_, _ = st.s.rtp.WriteToUDPAddrPort(b, st.aTo)
	return nil
}

// sendFrame sends the packets of the current frame, applying DropEvery
// and ReorderEvery.
func (st *streamer) sendFrame(f *Frame) error {
	if !st.video {
		return nil // an audio-only session: the frames only keep time
	}
	opts := &st.s.opts
	ts := st.tsBase + uint32(f.PTS+st.offset)
	st.lastTS = ts
	st.hdrs = st.hdrs[:0]
	st.bufs = st.bufs[:0]
	if st.tcp && !opts.FrameWrites {
		// The packets are written one by one, under one lock and one
		// deadline for the frame.
		st.c.wmu.Lock()
		defer st.c.wmu.Unlock()
		if err := st.c.nc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
			return err
		}
	}
	for _, t := range st.pkts[st.frame] {
		var h [rtpHeaderLen]byte
		h[0] = 0x80 // version 2, no padding, no extension, no CSRC
		h[1] = payloadType
		if t.Marker {
			h[1] |= 0x80
		}
		binary.BigEndian.PutUint16(h[2:], st.seq)
		binary.BigEndian.PutUint32(h[4:], ts)
		binary.BigEndian.PutUint32(h[8:], st.ssrc)
		st.seq++
		st.n++
		if opts.DropEvery > 0 && st.n%opts.DropEvery == 0 {
			st.s.stats.dropped.Add(1)
			continue
		}
		if opts.ReorderEvery > 0 && st.n%opts.ReorderEvery == 0 && !st.held {
			st.held, st.heldHdr, st.heldPay = true, h, t.Payload
			continue
		}
		if err := st.emit(h, t.Payload); err != nil {
			return err
		}
		if st.held {
			st.held = false
			if err := st.emit(st.heldHdr, st.heldPay); err != nil {
				return err
			}
		}
	}
	if st.tcp && len(st.bufs) > 0 {
		if err := st.flushTCP(); err != nil {
			return err
		}
	}
	st.s.stats.frames.Add(1)
	return nil
}

// emit queues (TCP) or sends (UDP) one RTP packet.
func (st *streamer) emit(h [rtpHeaderLen]byte, payload []byte) error {
	size := rtpHeaderLen + len(payload)
	st.sentPackets++
	st.sentOctets += uint32(len(payload))
	st.s.stats.packets.Add(1)
	st.s.stats.bytes.Add(int64(size))
	if st.tcp && !st.s.opts.FrameWrites {
		// One write per packet, like real servers (Options.FrameWrites).
		b := append(st.pkt[:0], '$', st.ch[0], byte(size>>8), byte(size))
		b = append(b, h[:]...)
		b = append(b, payload...)
		st.pkt = b
		st.s.stats.mediaWrites.Add(1)
		_, err := st.c.nc.Write(b) // under c.wmu, taken by sendFrame
		return err
	}
	if st.tcp {
		off := len(st.hdrs)
		st.hdrs = append(st.hdrs, '$', st.ch[0], byte(size>>8), byte(size))
		st.hdrs = append(st.hdrs, h[:]...)
		// A reallocation of hdrs leaves earlier slices pointing at the
		// old array, which still holds their bytes: that is fine.
		st.bufs = append(st.bufs, st.hdrs[off:len(st.hdrs):len(st.hdrs)], payload)
		return nil
	}
	b := append(st.udp[:0], h[:]...)
	b = append(b, payload...)
	// A refused datagram (no listener yet, ICMP port unreachable) is not
	// fatal: cameras keep sending, and so do we.
	_, _ = st.s.rtp.WriteToUDPAddrPort(b, st.rtpTo)
	return nil
}

func (st *streamer) flushTCP() error {
	st.c.wmu.Lock()
	defer st.c.wmu.Unlock()
	if err := st.c.nc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	// WriteTo consumes its receiver: write through a second field so
	// st.bufs keeps its backing array, and nothing escapes per frame.
	st.out = st.bufs
	st.s.stats.mediaWrites.Add(1)
	_, err := st.out.WriteTo(st.c.nc)
	st.out = nil
	return err
}

// sendSR sends an RTCP sender report (RFC 3550 §6.4.1) tying the last
// frame's RTP timestamp to the wall time it was due.
func (st *streamer) sendSR() error {
	var p [28]byte
	p[0] = 0x80 // version 2, no reception reports
	p[1] = 200  // SR
	binary.BigEndian.PutUint16(p[2:], 6)
	binary.BigEndian.PutUint32(p[4:], st.ssrc)
	ns := st.lastDue.UnixNano()
	sec := uint64(ns/1e9) + ntpEpochOffset
	frac := uint64(ns%1e9) << 32 / 1e9
	binary.BigEndian.PutUint32(p[8:], uint32(sec))
	binary.BigEndian.PutUint32(p[12:], uint32(frac))
	binary.BigEndian.PutUint32(p[16:], st.lastTS)
	binary.BigEndian.PutUint32(p[20:], st.sentPackets)
	binary.BigEndian.PutUint32(p[24:], st.sentOctets)
	if !st.tcp {
		_, _ = st.s.rtcp.WriteToUDPAddrPort(p[:], st.rtcpTo)
		return nil
	}
	var b [interleavedHeaderLen + 28]byte
	b[0], b[1], b[2], b[3] = '$', st.ch[1], 0, 28
	copy(b[4:], p[:])
	return st.c.write(b[:])
}
