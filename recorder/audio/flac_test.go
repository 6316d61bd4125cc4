package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"os/exec"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testaudio"
)

// ffmpegFLAC decodes a native FLAC stream (header + frames) with ffmpeg,
// the independent decoder, to 16-bit samples.
func ffmpegFLAC(t *testing.T, info FLACInfo, frames [][]byte) []int16 {
	t.Helper()
	ff := testaudio.Tool(t, "ffmpeg")
	// "fLaC", then STREAMINFO as the last metadata block (RFC 9639 §8.2):
	// block sizes, unknown frame sizes, rate, channels, 16 bits, unknown
	// length and MD5.
	var stream bytes.Buffer
	stream.WriteString("fLaC")
	stream.Write([]byte{0x80, 0, 0, 34})
	binary.Write(&stream, binary.BigEndian, [2]uint16{uint16(info.BlockSize), uint16(info.BlockSize)})
	stream.Write(make([]byte, 6))
	binary.Write(&stream, binary.BigEndian, uint64(info.SampleRate)<<44|uint64(info.Channels-1)<<41|15<<36)
	stream.Write(make([]byte, 16))
	for _, f := range frames {
		stream.Write(f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ff, "-nostdin", "-v", "error", "-err_detect", "crccheck+explode", "-f", "flac", "-i", "-", "-f", "s16le", "-")
	cmd.Stdin = &stream
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg: %v %s", err, stderr.String())
	}
	pcm := make([]int16, out.Len()/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(out.Bytes()[2*i:]))
	}
	return pcm
}

// TestFLACLossLeavesSilence: packets of 20, 40 and 7.5 ms with one lost;
// the decoded stream has silence exactly where the lost packet was and
// every other sample at its RTP time; a duplicate changes nothing; a gap
// over a second restarts the timeline instead of filling it.
func TestFLACLossLeavesSilence(t *testing.T) {
	e, err := NewFLACEncoder(8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	var pts []int64
	emit := func(f *Frame) {
		frames = append(frames, append([]byte(nil), f.Data...))
		pts = append(pts, f.PTS)
		if f.Duration != 160 {
			t.Fatalf("frame of %d samples", f.Duration)
		}
	}
	// want is the expected timeline from ts 1000 on.
	var want []int16
	tone := func(n, seed int) []int16 {
		s := make([]int16, n)
		for i := range s {
			s[i] = int16((i*37+seed*1000)%2000 - 1000)
		}
		return s
	}
	ts := int64(1000)
	for i, n := range []int{160, 320, 60, 160, 160, 160, 320, 160} {
		s := tone(n, i+1)
		if i == 4 { // lost: silence of its length
			want = append(want, make([]int16, n)...)
			ts += int64(n)
			continue
		}
		if err := e.Push(ts, s, emit); err != nil {
			t.Fatal(err)
		}
		if i == 5 { // a duplicate of the packet just pushed
			if err := e.Push(ts, s, emit); err != nil {
				t.Fatal(err)
			}
		}
		want = append(want, s...)
		ts += int64(n)
	}
	if err := e.Flush(emit); err != nil {
		t.Fatal(err)
	}
	for len(want)%160 != 0 {
		want = append(want, 0)
	}
	for i, p := range pts {
		if p != 1000+int64(i)*160 {
			t.Fatalf("frame %d at %d", i, p)
		}
	}
	got := ffmpegFLAC(t, e.Info(), frames)
	if len(got) != len(want) {
		t.Fatalf("%d samples decoded, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sample %d: %d, want %d", i, got[i], want[i])
		}
	}

	// A two-second outage restarts at the next packet's time.
	frames, pts = nil, nil
	if err := e.Push(ts+16000, tone(160, 9), emit); err != nil {
		t.Fatal(err)
	}
	if len(pts) != 1 || pts[0] != ts+16000 {
		t.Fatalf("after outage: frames at %v, want one at %d", pts, ts+16000)
	}
	if err := e.Push(0, []int16{1}, emit); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFLACEncoder(8000, 3); err == nil {
		t.Fatal("3 channels accepted")
	}
	if e2, _ := NewFLACEncoder(8000, 2); e2.Push(0, []int16{1, 2, 3}, emit) == nil {
		t.Fatal("odd stereo accepted")
	}
}

// TestFLACExtremeSignals: signals that push each subframe choice to its
// edge (constant, full-scale noise that only verbatim holds, alternating
// extremes whose order-4 residuals pass 2^20, a slow ramp) decode in
// ffmpeg to exactly what went in, mono and stereo.
func TestFLACExtremeSignals(t *testing.T) {
	const n = 160 * 8
	gen := map[string]func(i int) int16{
		"silence":     func(int) int16 { return 0 },
		"constant":    func(int) int16 { return -1234 },
		"noise":       func(i int) int16 { return int16(uint32(i) * 2654435761 >> 13) },
		"alternating": func(i int) int16 { return []int16{32767, -32768}[i%2] },
		"ramp":        func(i int) int16 { return int16(i*3 - 2000) },
		"square":      func(i int) int16 { return []int16{20000, -20000}[i/37%2] },
	}
	for name, g := range gen {
		for _, ch := range []int{1, 2} {
			e, err := NewFLACEncoder(8000, ch)
			if err != nil {
				t.Fatal(err)
			}
			// Hours into a stream, frame numbers take several UTF-8
			// bytes (§9.1.5).
			e.num = map[string]uint64{"ramp": 0x7ff, "square": 1 << 30}[name]
			pcm := make([]int16, n*ch)
			for i := range pcm {
				pcm[i] = g(i + i%ch*7)
			}
			var frames [][]byte
			if err := e.Push(0, pcm, func(f *Frame) { frames = append(frames, append([]byte(nil), f.Data...)) }); err != nil {
				t.Fatal(err)
			}
			got := ffmpegFLAC(t, e.Info(), frames)
			if len(got) != len(pcm) {
				t.Fatalf("%s/%d: %d samples, want %d", name, ch, len(got), len(pcm))
			}
			for i := range pcm {
				if got[i] != pcm[i] {
					t.Fatalf("%s/%d: sample %d is %d, want %d", name, ch, i, got[i], pcm[i])
				}
			}
		}
	}
	if v := writeUTF8Bytes(0x7f); len(v) != 1 {
		t.Fatalf("UTF-8 of 0x7f: % x", v)
	}
	for _, c := range []struct {
		v    uint64
		want []byte
	}{{0x80, []byte{0xc2, 0x80}}, {0x7ff, []byte{0xdf, 0xbf}}, {0x800, []byte{0xe0, 0xa0, 0x80}}, {0xfffff, []byte{0xf3, 0xbf, 0xbf, 0xbf}}} {
		if got := writeUTF8Bytes(c.v); !bytes.Equal(got, c.want) {
			t.Fatalf("UTF-8 of %#x: % x, want % x", c.v, got, c.want)
		}
	}
}

func writeUTF8Bytes(v uint64) []byte {
	var w bitWriter
	writeUTF8(&w, v)
	w.flushBytes()
	return w.b
}

// TestCRC16: the table-driven CRC-16 of a FLAC frame equals the one
// computed bit by bit from its polynomial, x^16+x^15+x^2+1, for every
// length up to a few steps of eight bytes and for a frame-sized buffer.
func TestCRC16(t *testing.T) {
	bitwise := func(b []byte) uint16 {
		var c uint16
		for _, v := range b {
			c ^= uint16(v) << 8
			for range 8 {
				if c&0x8000 != 0 {
					c = c<<1 ^ 0x8005
				} else {
					c <<= 1
				}
			}
		}
		return c
	}
	b := make([]byte, 4096)
	for i := range b {
		b[i] = byte(i*131 + i>>3)
	}
	for n := 0; n <= 40; n++ {
		if got, want := crc16(b[:n]), bitwise(b[:n]); got != want {
			t.Fatalf("%d bytes: %04x, want %04x", n, got, want)
		}
	}
	if got, want := crc16(b), bitwise(b); got != want {
		t.Fatalf("%d bytes: %04x, want %04x", len(b), got, want)
	}
}
