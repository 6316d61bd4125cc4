package rtsp

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Reading RTP over UDP in batches. The packets of a frame arrive in a
// burst (a 4 Mbit/s camera sends ~15 at each frame), and reading them one
// datagram a syscall costs a syscall each; x/net's ReadBatch (recvmmsg on
// Linux, one datagram a call elsewhere) takes the whole burst in one.
//
// recvmmsg needs a buffer for each datagram, and a datagram longer than
// its buffer is cut. The first buffer is always large enough for any
// datagram; the others are sized from what the camera sent while the
// batch was one datagram long (warmupDatagrams, an IDR burst included),
// twice the longest. A datagram that still does not fit (a camera whose
// packets grow mid-stream) is counted as malformed, and the buffers grow to
// the largest size for the rest of the session.
const (
	udpBatchLen     = 16
	warmupDatagrams = 256
	minBatchBuffer  = 2 << 10
)

// batchConn is what ipv4.PacketConn and ipv6.PacketConn have in common.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

type udpBatch struct {
	c       batchConn
	ms      []ipv4.Message
	warmup  int // datagrams still to read one at a time
	longest int // the longest datagram of the warm-up
	size    int // the datagram the buffers after the first hold; 0 during warm-up
	cut     bool
}

func newUDPBatch(c *net.UDPConn) *udpBatch {
	var bc batchConn = ipv4.NewPacketConn(c)
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil && len(a.IP) == net.IPv6len {
		bc = ipv6.NewPacketConn(c)
	}
	b := &udpBatch{c: bc, ms: make([]ipv4.Message, 1, udpBatchLen), warmup: warmupDatagrams}
	b.ms[0].Buffers = [][]byte{make([]byte, maxUDPPacket+1)}
	return b
}

// read waits for datagrams and returns them: ms[i].Buffers[0][:ms[i].N]
// from ms[i].Addr. They stay valid until the next read. A datagram cut
// short has N = -1.
func (b *udpBatch) read() ([]ipv4.Message, error) {
	switch {
	case b.warmup == 0 && b.size == 0:
		b.grow(max(minBatchBuffer, 2*b.longest))
	case b.cut:
		b.grow(maxUDPPacket) // the last batch's buffers were handed out: only now
	}
	b.cut = false
	n, err := b.c.ReadBatch(b.ms, 0)
	if err != nil {
		return nil, err
	}
	ms := b.ms[:n]
	for i := range ms {
		m := &ms[i]
		if m.N > len(m.Buffers[0])-1 {
			m.N = -1
			b.cut = true
			continue
		}
		if b.warmup > 0 {
			b.warmup--
			b.longest = max(b.longest, m.N)
		}
	}
	return ms, nil
}

// grow gives the batch its full length, with buffers of size bytes after
// the first (one byte more, to tell a datagram that fills one from one
// cut short).
func (b *udpBatch) grow(size int) {
	size = min(size, maxUDPPacket)
	b.size = size
	b.ms = b.ms[:udpBatchLen]
	for i := 1; i < udpBatchLen; i++ {
		b.ms[i].Buffers = [][]byte{make([]byte, size+1)}
	}
}
