// Package testaudio makes real audio for tests: ffmpeg encodes a tone to
// AAC, Opus or G.711, and the helpers split what it wrote into the frames
// a camera would packetize. It is for tests only; nvr never runs ffmpeg.
package testaudio

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Tool returns the path of an external tool, skipping the test when it is
// missing, except under CI where a missing tool is a broken environment.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found (required under CI): %v", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return p
}

// Run runs an external tool with a 30 s limit and returns its stdout; any
// failure fails the test with its stderr.
func Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, Tool(t, name), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	return stdout.Bytes()
}

// encode has ffmpeg write seconds of a sine tone with the given output
// arguments and returns the file's bytes.
func encode(t testing.TB, rate, channels int, seconds float64, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tone")
	in := fmt.Sprintf("sine=frequency=440:sample_rate=%d:duration=%g", rate, seconds)
	all := append([]string{"-nostdin", "-v", "error", "-f", "lavfi", "-i", in, "-ac", fmt.Sprint(channels)}, args...)
	Run(t, "ffmpeg", append(all, out)...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// AAC returns AAC-LC frames of a tone and their AudioSpecificConfig.
func AAC(t testing.TB, rate, channels int, seconds float64) (asc []byte, frames [][]byte) {
	t.Helper()
	return ADTSFrames(t, encode(t, rate, channels, seconds, "-c:a", "aac", "-b:a", "64k", "-f", "adts"))
}

// Opus returns the 20 ms Opus packets of a 48 kHz tone.
func Opus(t testing.TB, channels int, seconds float64) [][]byte {
	t.Helper()
	pkts := OggPackets(t, encode(t, 48000, channels, seconds, "-c:a", "libopus", "-frame_duration", "20", "-f", "ogg"))
	if len(pkts) < 3 || !bytes.HasPrefix(pkts[0], []byte("OpusHead")) {
		t.Fatalf("no Opus in Ogg (%d packets)", len(pkts))
	}
	return pkts[2:] // after OpusHead and OpusTags
}

// G711 returns an 8 kHz tone in µ-law ("mulaw") or A-law ("alaw").
func G711(t testing.TB, law string, seconds float64) []byte {
	t.Helper()
	return encode(t, 8000, 1, seconds, "-af", "volume=0.8", "-f", law)
}

// ADTSFrames splits an ADTS stream into raw frames and builds the
// AudioSpecificConfig from the first header (profile, rate index,
// channels).
func ADTSFrames(t testing.TB, b []byte) (asc []byte, frames [][]byte) {
	t.Helper()
	for len(b) >= 7 {
		if b[0] != 0xff || b[1]&0xf0 != 0xf0 {
			t.Fatalf("lost ADTS sync")
		}
		n := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
		hdr := 7
		if b[1]&1 == 0 {
			hdr = 9
		}
		if n <= hdr || n > len(b) {
			t.Fatalf("bad ADTS frame length %d", n)
		}
		if asc == nil {
			aot := b[2]>>6 + 1
			sfi := b[2] >> 2 & 0xf
			ch := (b[2]&1)<<2 | b[3]>>6
			asc = []byte{aot<<3 | sfi>>1, sfi<<7 | ch<<3}
		}
		frames = append(frames, b[hdr:n])
		b = b[n:]
	}
	return asc, frames
}

// OggPackets returns the packets of an Ogg stream (RFC 3533 §6: a lacing
// value of 255 continues a packet).
func OggPackets(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var pkts [][]byte
	var cur []byte
	for len(b) > 27 {
		if string(b[:4]) != "OggS" {
			t.Fatalf("lost Ogg sync")
		}
		nseg := int(b[26])
		if 27+nseg > len(b) {
			t.Fatalf("truncated Ogg page")
		}
		lace := b[27 : 27+nseg]
		body := b[27+nseg:]
		for _, l := range lace {
			if int(l) > len(body) {
				t.Fatalf("truncated Ogg page")
			}
			cur = append(cur, body[:l]...)
			body = body[l:]
			if l < 255 {
				pkts = append(pkts, cur)
				cur = nil
			}
		}
		b = body
	}
	return pkts
}
