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
