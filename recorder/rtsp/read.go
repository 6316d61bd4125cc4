package rtsp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

// deadlineSlack: the media deadline is moved forward only when it has
// drifted by this fraction of MediaTimeout, not on every packet.
const deadlineSlack = 10

// errBusy is returned when ReadPackets is already running.
var errBusy = errors.New("ReadPackets is already running")

// ReadPackets calls fn for each RTP packet of the video track, in arrival
// order, until ctx is done, fn returns an error, the server closes, or no
// media arrives for MediaTimeout. The packet and its payload are valid only
// during fn. Keepalives (GET_PARAMETER, or OPTIONS when the server's Public
// lacks it) are sent at half the session timeout; RTCP receiver reports at
// most every 5s. Returns ctx.Err() on cancellation (also when Close is
// called meanwhile).
func (s *Session) ReadPackets(ctx context.Context, fn func(*rtp.Packet) error) error {
	return s.ReadTracks(ctx, func(t TrackKind, p *rtp.Packet) error {
		if t != TrackVideo {
			return nil
		}
		return fn(p)
	})
}

// TrackKind says which set-up track a packet belongs to.
type TrackKind int

// The tracks a session sets up.
const (
	TrackVideo TrackKind = iota
	TrackAudio           // Info.Audio, when Config.AudioTrack picked one
)

// ReadTracks is ReadPackets for every track set up: video and, when
// Info.Audio is set, audio. Only video keeps MediaTimeout at bay, so a
// camera whose video stalls while audio flows still times out.
func (s *Session) ReadTracks(ctx context.Context, fn func(TrackKind, *rtp.Packet) error) error {
	if s.closeCtx.Err() != nil {
		return context.Canceled // closed (or closing)
	}
	if !s.readMu.TryLock() {
		return &Error{Step: "read", Kind: ErrProtocol, Err: errBusy}
	}
	defer s.readMu.Unlock()
	if s.closeCtx.Err() != nil {
		return context.Canceled
	}
	ctx, cancel := context.WithCancel(ctx)
	defer afterFunc(s.closeCtx, cancel)()
	s.fatal.Store(nil)

	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		_ = s.conn.SetDeadline(time.Time{})
		if s.udpRTP != nil {
			_ = s.udpRTP.SetDeadline(time.Time{})
			_ = s.udpRTCP.SetDeadline(time.Time{})
		}
		if s.udpAudio != nil {
			_ = s.udpAudio.SetDeadline(time.Time{})
			_ = s.udpAudioRTCP.SetDeadline(time.Time{})
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.housekeeping(ctx)
	}()
	if !s.tcp {
		wg.Add(2)
		go func() {
			defer wg.Done()
			s.readControl(ctx)
		}()
		go func() {
			defer wg.Done()
			s.readRTCP(ctx, TrackVideo, s.udpRTCP, s.srcRTCPPort)
		}()
		if s.udpAudio != nil {
			// Two readers, one fn: calls to it never overlap.
			var mu sync.Mutex
			inner := fn
			fn = func(k TrackKind, p *rtp.Packet) error {
				mu.Lock()
				defer mu.Unlock()
				return inner(k, p)
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				s.readAudioUDP(ctx, fn)
			}()
			go func() {
				defer wg.Done()
				s.readRTCP(ctx, TrackAudio, s.udpAudioRTCP, s.srcAudioRTCPPort)
			}()
		}
	}

	var pkt rtp.Packet
	for _, b := range s.early {
		if _, err := s.handleRTP(b, &pkt, fn); err != nil {
			s.early = nil
			return err
		}
	}
	s.early, s.earlyBytes = nil, 0

	if s.tcp {
		return s.readTCP(ctx, &pkt, fn)
	}
	return s.readUDP(ctx, &pkt, fn)
}

// wake interrupts every blocking read of the session.
func (s *Session) wake() {
	past := time.Unix(1, 0)
	_ = s.conn.SetReadDeadline(past)
	if s.udpRTP != nil {
		_ = s.udpRTP.SetReadDeadline(past)
		_ = s.udpRTCP.SetReadDeadline(past)
	}
	if s.udpAudio != nil {
		_ = s.udpAudio.SetReadDeadline(past)
		_ = s.udpAudioRTCP.SetReadDeadline(past)
	}
}

// housekeeping sends keepalives and receiver reports, and wakes the readers
// when ctx ends.
func (s *Session) housekeeping(ctx context.Context) {
	ka := time.NewTicker(s.keepaliveInterval)
	defer ka.Stop()
	rr := time.NewTicker(s.rrInterval)
	defer rr.Stop()
	for {
		select {
		case <-ctx.Done():
			s.wake()
			return
		case <-ka.C:
			s.sendKeepalive()
		case <-rr.C:
			s.sendRR()
		}
	}
}

// sendKeepalive refreshes the session (RFC 2326 §12.37). GET_PARAMETER
// only when the server lists it: some cameras drop the connection on a
// method they do not know (mediamtx#1403), and OPTIONS is always allowed.
// The reply is read (and ignored) by the reader.
func (s *Session) sendKeepalive() {
	if _, err := s.send(&rtspmsg.Request{Method: s.keepaliveMethod, URL: s.playURL}); err == nil {
		s.st.keepalives.Add(1)
	}
}

// finish turns a read error into the result of ReadPackets.
func (s *Session) finish(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if f := s.fatal.Load(); f != nil {
		return *f
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Step: "read", Kind: ErrMediaTimeout, Err: fmt.Errorf("no video RTP for %s", s.cfg.MediaTimeout)}
	}
	return stepErr(ctx, "read", err)
}

// mediaDeadline tracks when the media timeout fires and moves it forward
// lazily.
type mediaDeadline struct {
	set     func(time.Time) error
	timeout time.Duration
	at      time.Time
}

func (d *mediaDeadline) refresh(now time.Time) {
	if now.Add(d.timeout).Sub(d.at) < d.timeout/deadlineSlack {
		return
	}
	d.at = now.Add(d.timeout)
	_ = d.set(d.at)
}

func (s *Session) readTCP(ctx context.Context, pkt *rtp.Packet, fn func(TrackKind, *rtp.Packet) error) error {
	s.reads.begin(ctx)
	defer s.reads.end()
	dl := mediaDeadline{set: s.reads.setMediaDeadline, timeout: s.cfg.MediaTimeout}
	dl.refresh(time.Now())
	for {
		// Checked after the deadline is set: housekeeping sets a past
		// deadline after ctx ends, so one of the two always sees it.
		if ctx.Err() != nil {
			return ctx.Err()
		}
		it, err := s.rd.Next()
		if err != nil {
			return s.finish(ctx, err)
		}
		switch {
		case it.Msg != nil && !it.Msg.Response:
			s.answer(it.Msg)
		case it.Msg != nil:
			s.handleLateResponse(it.Msg)
		case it.Channel == s.rtpCh:
			ok, err := s.handleRTP(it.Payload, pkt, fn)
			if err != nil {
				return err
			}
			if ok {
				dl.refresh(time.Now())
			}
		case it.Channel == s.rtcpCh:
			s.handleRTCP(TrackVideo, it.Payload)
		case s.audioSet && it.Channel == s.audioCh:
			if err := s.handleAudio(it.Payload, pkt, fn); err != nil {
				return err
			}
		case s.audioSet && it.Channel == s.audioCh+1:
			// The audio track's RTCP: its sender reports relate its
			// clock to the video's (SenderReports).
			s.handleRTCP(TrackAudio, it.Payload)
		default:
			s.st.unknownCh.Add(1)
		}
	}
}

// handleLateResponse looks at replies to keepalives: a 401 renews the
// Digest nonce for the next keepalive; a Session header may carry a new id.
func (s *Session) handleLateResponse(m *rtspmsg.Message) {
	if m.Status == 401 {
		// The same policy as the handshake: a keepalive challenged with
		// Basic after Digest (or under auth: digest) is not answered.
		if !s.u.hasCreds {
			return
		}
		if a, err := s.mem.choose(s.u, s.cfg.Auth, parseChallenges(m.Header.Values("WWW-Authenticate"))); err == nil {
			s.wmu.Lock()
			s.auth = a
			s.wmu.Unlock()
		}
		return
	}
	if v := m.Header.Get("Session"); v != "" {
		if id, _ := parseSession(v); id != "" {
			s.wmu.Lock()
			s.sessionID = id
			s.wmu.Unlock()
		}
	}
}

// handleRTP parses one RTP packet and hands it to fn unless it is dropped:
// malformed; another SSRC than the announced one (stale data of an earlier
// session on old live555, F4); or another payload type (Geovision's extra
// pt=50 packets). It reports whether the packet was accepted.
func (s *Session) handleRTP(b []byte, pkt *rtp.Packet, fn func(TrackKind, *rtp.Packet) error) (bool, error) {
	if err := pkt.Unmarshal(b); err != nil {
		s.st.malformed.Add(1)
		return false, nil
	}
	if s.ssrcFixed {
		if pkt.SSRC == s.ssrc {
			s.ssrcSeen = true
		} else if !s.mismatchTooLong(s.ssrcSeen, &s.ssrcMiss) {
			s.st.wrongSSRC.Add(1)
			return false, nil
		} else {
			s.ssrcFixed = false // the announcement was wrong
		}
	}
	if pkt.PayloadType == s.info.Video.PayloadType {
		s.ptSeen = true
	} else if !s.ptAny {
		if !s.mismatchTooLong(s.ptSeen, &s.ptMiss) {
			s.st.wrongPT.Add(1)
			return false, nil
		}
		s.ptAny = true // the SDP's payload type was wrong
	}
	s.st.packets.Add(1)
	s.st.bytes.Add(uint64(len(b)))
	s.rr.received(pkt.SSRC, pkt.SequenceNumber)
	return true, fn(TrackVideo, pkt)
}

// handleAudio parses one RTP packet of the audio track and hands it to
// fn; malformed packets and other payload types are dropped and counted.
// Audio is not part of the receiver reports or the SSRC adoption: those
// keep the video alive, and audio must never decide that.
func (s *Session) handleAudio(b []byte, pkt *rtp.Packet, fn func(TrackKind, *rtp.Packet) error) error {
	if err := pkt.Unmarshal(b); err != nil || pkt.PayloadType != s.info.Audio.PayloadType {
		s.st.audioDropped.Add(1)
		return nil
	}
	s.st.audio.Add(1)
	return fn(TrackAudio, pkt)
}

// mismatchTooLong reports whether only mismatching packets have arrived
// for adoptAfter (never once a matching one was seen).
func (s *Session) mismatchTooLong(seenMatch bool, since *time.Time) bool {
	if seenMatch {
		return false
	}
	now := time.Now()
	if since.IsZero() {
		*since = now
		return false
	}
	return now.Sub(*since) >= s.adoptAfter
}

// handleRTCP counts an RTCP compound packet of track k and keeps its
// sender report, if it has one: for our receiver reports (the video's,
// RFC 3550 §6.4.1) and for SenderReports.
func (s *Session) handleRTCP(k TrackKind, b []byte) {
	s.st.rtcp.Add(1)
	sr, ok := parseSenderReport(b)
	if !ok {
		return
	}
	sr.Arrival = time.Now()
	if k == TrackVideo {
		s.rr.senderReport(uint32(sr.NTP>>16), sr.Arrival)
	}
	s.srMu.Lock()
	sr.N = s.srs[k].N + 1
	s.srs[k] = sr
	s.srMu.Unlock()
}

// SenderReport is the last RTCP sender report (RFC 3550 §6.4.1) of a
// track: the sender's wall clock and the track's RTP clock at one
// instant. Nothing in it is checked but its framing: the NTP time may be
// 0 (a sender without a wall clock) and the SSRC another stream's.
type SenderReport struct {
	SSRC    uint32    // the sender's SSRC (the track's RTP packets should carry it)
	NTP     uint64    // NTP timestamp: seconds since 1900 in the high 32 bits, the fraction in the low
	RTPTime uint32    // the track's RTP timestamp of the same instant
	Arrival time.Time // when it arrived (with a monotonic reading)
	N       uint64    // sender reports received for the track; 0: none yet, the rest is zero
}

// SenderReports returns the last sender report of the video and of the
// audio track. Safe from any goroutine, the ReadTracks callback
// included; it does not allocate.
func (s *Session) SenderReports() (video, audio SenderReport) {
	s.srMu.Lock()
	defer s.srMu.Unlock()
	return s.srs[TrackVideo], s.srs[TrackAudio]
}

// parseSenderReport returns the first sender report of an RTCP compound
// packet (RFC 3550 §6.1: a compound starts with an SR or RR, but some
// senders lead with something else, so every packet is looked at). A
// packet whose header or length does not fit ends the walk.
func parseSenderReport(b []byte) (SenderReport, bool) {
	for len(b) >= 4 {
		if b[0]>>6 != 2 {
			return SenderReport{}, false
		}
		n := 4 * (int(binary.BigEndian.Uint16(b[2:4])) + 1)
		if n > len(b) {
			return SenderReport{}, false
		}
		// SR: V/P/RC, PT=200, length, SSRC, NTP (64 bits), RTP
		// timestamp, packet and octet counts: 28 bytes before any
		// report blocks.
		if b[1] == 200 && n >= 28 {
			return SenderReport{
				SSRC:    binary.BigEndian.Uint32(b[4:8]),
				NTP:     binary.BigEndian.Uint64(b[8:16]),
				RTPTime: binary.BigEndian.Uint32(b[16:20]),
			}, true
		}
		b = b[n:]
	}
	return SenderReport{}, false
}

// rrState is what a receiver report needs (RFC 3550 §6.4.2, App. A.1).
type rrState struct {
	mu       sync.Mutex
	ssrc     uint32
	have     bool
	maxSeq   uint16
	cycles   uint32
	lastSR   uint32
	lastSRAt time.Time
}

func (r *rrState) received(ssrc uint32, seq uint16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.have || ssrc != r.ssrc {
		r.ssrc, r.have, r.maxSeq, r.cycles = ssrc, true, seq, 0
		return
	}
	// A packet with a lower sequence number but within half the space
	// ahead is a wrap (RFC 3550 App. A.1).
	if d := seq - r.maxSeq; d != 0 && d < 1<<15 {
		if seq < r.maxSeq {
			r.cycles += 1 << 16
		}
		r.maxSeq = seq
	}
}

func (r *rrState) senderReport(mid uint32, at time.Time) {
	r.mu.Lock()
	r.lastSR, r.lastSRAt = mid, at
	r.mu.Unlock()
}

func (r *rrState) report(local uint32, now time.Time) *rtcp.ReceiverReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rr := &rtcp.ReceiverReport{SSRC: local}
	if !r.have {
		return rr
	}
	rep := rtcp.ReceptionReport{SSRC: r.ssrc, LastSequenceNumber: r.cycles | uint32(r.maxSeq), LastSenderReport: r.lastSR}
	if !r.lastSRAt.IsZero() {
		// DLSR in units of 1/65536 s.
		rep.Delay = uint32(now.Sub(r.lastSRAt).Seconds() * 65536)
	}
	rr.Reports = []rtcp.ReceptionReport{rep}
	return rr
}

// sendRR sends a receiver report on the RTCP channel or port.
func (s *Session) sendRR() {
	b, err := s.rr.report(s.localSSRC, time.Now()).Marshal()
	if err != nil {
		return
	}
	if s.tcp {
		frame := make([]byte, 4+len(b))
		frame[0], frame[1] = '$', s.rtcpCh
		binary.BigEndian.PutUint16(frame[2:], uint16(len(b)))
		copy(frame[4:], b)
		s.wmu.Lock()
		_ = s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, _ = s.conn.Write(frame)
		s.wmu.Unlock()
		return
	}
	if s.serverRTCPAddr != nil {
		_, _ = s.udpRTCP.WriteToUDP(b, s.serverRTCPAddr)
	}
}

// udpReadBuffer is the socket receive buffer asked for the RTP port: an
// IDR frame of a 4K camera arrives as a burst of several hundred kilobytes,
// more than the usual 208 KiB default, and UDP drops what does not fit.
const udpReadBuffer = 4 << 20

// listenUDP binds an even RTP port and the next odd RTCP port
// (RFC 3550 §11) on the local address of the control connection.
// (One pair for the video, another for an audio track.)
func (s *Session) listenUDP() (rtpConn, rtcpConn *net.UDPConn, err error) {
	ip := s.conn.LocalAddr().(*net.TCPAddr).IP
	var lastErr error
	for range maxPortAttempts {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			lastErr = err
			continue
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 || p+1 > 65535 {
			_ = a.Close()
			continue
		}
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: p + 1})
		if err != nil {
			lastErr = err
			_ = a.Close()
			continue
		}
		// Best effort: the kernel caps the size at net.core.rmem_max.
		_ = a.SetReadBuffer(udpReadBuffer)
		return a, b, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no free even port")
	}
	return nil, nil, fmt.Errorf("binding UDP ports: %w", lastErr)
}

// setUDPPeer records where media may come from (R19): the server's IP (and
// the Transport source= address if it named one) and its ports when it gave
// server_port; without server_port any port of that IP is accepted.
func (s *Session) setUDPPeer(tr rtspmsg.Transport) {
	remote := s.conn.RemoteAddr().(*net.TCPAddr)
	ip, _ := netip.AddrFromSlice(remote.IP)
	s.srcIPs = []netip.Addr{ip.Unmap()}
	if a, err := netip.ParseAddr(tr.Source); err == nil {
		s.srcIPs = append(s.srcIPs, a.Unmap())
	}
	if tr.HasServerPort {
		s.srcRTPPort, s.srcRTCPPort = uint16(tr.ServerPort[0]), uint16(tr.ServerPort[1])
		s.serverRTCPAddr = &net.UDPAddr{IP: remote.IP, Port: tr.ServerPort[1]}
	}
}

func (s *Session) fromServer(a netip.AddrPort, port uint16) bool {
	if port != 0 && a.Port() != port {
		return false
	}
	return slices.Contains(s.srcIPs, a.Addr().Unmap())
}

func (s *Session) readUDP(ctx context.Context, pkt *rtp.Packet, fn func(TrackKind, *rtp.Packet) error) error {
	batch := newUDPBatch(s.udpRTP)
	dl := mediaDeadline{set: s.udpRTP.SetReadDeadline, timeout: s.cfg.MediaTimeout}
	dl.refresh(time.Now())
	for {
		if ctx.Err() != nil || s.fatal.Load() != nil {
			return s.finish(ctx, nil)
		}
		ms, err := batch.read()
		if err != nil {
			return s.finish(ctx, err)
		}
		media := false
		for i := range ms {
			m := &ms[i]
			from, _ := m.Addr.(*net.UDPAddr)
			if from == nil || !s.fromServer(from.AddrPort(), s.srcRTPPort) {
				s.st.wrongSrc.Add(1)
				continue
			}
			if m.N < 0 {
				s.st.malformed.Add(1) // longer than its buffer: cut short
				continue
			}
			ok, err := s.handleRTP(m.Buffers[0][:m.N], pkt, fn)
			if err != nil {
				return err
			}
			media = media || ok
		}
		if media {
			dl.refresh(time.Now())
		}
	}
}

// readAudioUDP reads the audio track's RTP port while the video is read
// over UDP; fn is serialised with the video's by the caller. An error from
// fn ends the read as the video's would. Audio takes no part in receiver
// reports (handleAudio); its RTCP port is read by readRTCP for the
// track's sender reports.
func (s *Session) readAudioUDP(ctx context.Context, fn func(TrackKind, *rtp.Packet) error) {
	buf := make([]byte, maxUDPPacket+1)
	var pkt rtp.Packet
	for ctx.Err() == nil && s.fatal.Load() == nil {
		n, from, err := s.udpAudio.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				continue
			}
			return
		}
		if !s.fromServer(from, s.srcAudioPort) {
			s.st.wrongSrc.Add(1)
			continue
		}
		if err := s.handleAudio(buf[:n], &pkt, fn); err != nil {
			s.fatal.CompareAndSwap(nil, &err)
			s.wake()
			return
		}
	}
}

// readRTCP reads the RTCP port of track k (conn) while media flows over
// UDP; only datagrams from the server's port (0: any) count.
func (s *Session) readRTCP(ctx context.Context, k TrackKind, conn *net.UDPConn, port uint16) {
	buf := make([]byte, maxUDPPacket+1)
	for ctx.Err() == nil && s.fatal.Load() == nil {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				continue
			}
			return
		}
		if !s.fromServer(from, port) {
			s.st.wrongSrc.Add(1)
			continue
		}
		s.handleRTCP(k, buf[:n])
	}
}

// readControl reads the TCP control connection while media flows over UDP:
// keepalive replies, server requests, and the server closing the session.
func (s *Session) readControl(ctx context.Context) {
	for ctx.Err() == nil {
		it, err := s.rd.Next()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e := error(stepErr(ctx, "read", err))
			s.fatal.CompareAndSwap(nil, &e)
			s.wake()
			return
		}
		switch {
		case it.Msg != nil && !it.Msg.Response:
			s.answer(it.Msg)
		case it.Msg != nil:
			s.handleLateResponse(it.Msg)
		case it.Frame:
			s.st.unknownCh.Add(1)
		}
	}
}
