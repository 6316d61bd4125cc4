package rtsp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

// loopReader replays the same bytes forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if l.off == len(l.data) {
		l.off = 0
	}
	n := copy(p, l.data[l.off:])
	l.off += n
	return n, nil
}

// BenchmarkInterleavedRTP measures the TCP receive path after the socket:
// interleaved framing, RTP parsing, filtering and counting, per packet of
// 1400 bytes (a typical FU-A fragment).
func BenchmarkInterleavedRTP(b *testing.B) {
	var stream bytes.Buffer
	for i := range 64 {
		stream.WriteString(frame(0, rtpBytes(96, uint16(i), 0, 1, 1388)))
		if i%16 == 0 {
			stream.WriteString("\r\n") // padding some cameras send
		}
	}
	s := &Session{rd: rtspmsg.NewReader(&loopReader{data: stream.Bytes()}), rtpCh: 0, rtcpCh: 1}
	s.info.Video.PayloadType = 96
	var pkt rtp.Packet
	fn := func(TrackKind, *rtp.Packet) error { return nil }
	b.ReportAllocs()
	b.SetBytes(1400)
	b.ResetTimer()
	for range b.N {
		it, err := s.rd.Next()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.handleRTP(it.Payload, &pkt, fn); err != nil {
			b.Fatal(err)
		}
	}
}

var _ io.Reader = (*loopReader)(nil)

// BenchmarkReadPacketsTCP measures the whole receive path over a loopback
// TCP connection: socket reads, framing, RTP parsing, the media deadline.
func BenchmarkReadPacketsTCP(b *testing.B) {
	var burst bytes.Buffer
	for i := range 256 {
		burst.WriteString(frame(0, rtpBytes(96, uint16(i), 0, 1, 1388)))
	}
	sc := script{}
	base := sc.handler()
	srv := startFake(b, func(c *fakeConn, r *fakeReq) bool {
		ok := base(c, r)
		if r.method == "PLAY" {
			c.srv.wg.Add(1)
			go func() {
				defer c.srv.wg.Done()
				for {
					if _, err := c.Write(burst.Bytes()); err != nil {
						return
					}
				}
			}()
		}
		return ok
	})

	s, err := Open(context.Background(), Config{URL: "rtsp://" + srv.addr + "/cam"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	b.ReportAllocs()
	b.SetBytes(1404)
	b.ResetTimer()
	err = s.ReadPackets(ctx, func(*rtp.Packet) error {
		if n++; n >= b.N {
			cancel()
		}
		return nil
	})
	b.StopTimer()
	if !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
}
