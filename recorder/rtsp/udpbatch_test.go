package rtsp

import (
	"bytes"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestUDPBatch: after the warm-up, one read takes a queued burst of
// datagrams (on Linux: recvmmsg); each arrives whole and in order; one
// longer than the buffers sized from the warm-up is reported cut
// (N = -1), never handed out short, and the next one of that size fits.
func TestUDPBatch(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	_ = rx.SetReadBuffer(4 << 20)
	_ = rx.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := newUDPBatch(rx)
	dgram := func(i, n int) []byte { return bytes.Repeat([]byte{byte(i)}, n) }
	send := func(ps ...[]byte) {
		for _, p := range ps {
			if _, err := tx.Write(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got [][]byte
	readAll := func(n int) (reads int) {
		got = got[:0]
		for len(got) < n {
			ms, err := b.read()
			if err != nil {
				t.Fatal(err)
			}
			reads++
			for _, m := range ms {
				if m.N < 0 {
					got = append(got, nil)
					continue
				}
				got = append(got, bytes.Clone(m.Buffers[0][:m.N]))
			}
		}
		return reads
	}
	for i := range warmupDatagrams {
		send(dgram(i, 1400))
		readAll(1)
		if !bytes.Equal(got[0], dgram(i, 1400)) {
			t.Fatalf("warm-up datagram %d differs", i)
		}
	}
	var burst [][]byte
	for i := range udpBatchLen {
		burst = append(burst, dgram(i, 1000+i))
	}
	burst[3] = dgram(3, 9000) // longer than twice the warm-up's longest
	send(burst...)
	reads := readAll(len(burst))
	if runtime.GOOS == "linux" && reads != 1 {
		t.Errorf("%d reads for a burst of %d queued datagrams, want 1", reads, len(burst))
	}
	for i, p := range burst {
		switch {
		case i == 3 && got[i] != nil:
			t.Fatalf("a datagram longer than its buffer was handed out (%d bytes)", len(got[i]))
		case i != 3 && !bytes.Equal(got[i], p):
			t.Fatalf("datagram %d: %d bytes, want %d", i, len(got[i]), len(p))
		}
	}
	send(dgram(7, 1000), dgram(8, 60000))
	readAll(2)
	if !bytes.Equal(got[0], dgram(7, 1000)) || !bytes.Equal(got[1], dgram(8, 60000)) {
		t.Fatal("after a cut datagram the buffers did not grow")
	}
}
