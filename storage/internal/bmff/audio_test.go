package bmff

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nvr-project/nvr/internal/testaudio"
	"github.com/nvr-project/nvr/recorder/audio"
)

// audioMP4 writes a progressive audio-only MP4 with one track of entry:
// the smallest file that puts a sample entry in front of a real decoder.
func audioMP4(entry SampleEntry, timescale uint32, samples [][]byte, durs []uint32) []byte {
	var total uint64
	for _, d := range durs {
		total += uint64(d)
	}
	var w Writer
	w.Start("ftyp")
	w.Str("isom")
	w.U32(0x200)
	w.Str("isomiso2mp41")
	w.End()

	var mdat []byte
	for _, s := range samples {
		mdat = append(mdat, s...)
	}
	w.Start("mdat")
	dataAt := len(w.B)
	w.Bytes(mdat)
	w.End()

	w.Start("moov")
	w.StartFull("mvhd", 0, 0)
	w.U32(0)
	w.U32(0)
	w.U32(timescale)
	w.U32(uint32(total))
	w.U32(0x00010000)
	w.U16(0x0100)
	w.Zeros(10)
	w.Matrix()
	w.Zeros(24)
	w.U32(2)
	w.End()
	w.Start("trak")
	w.StartFull("tkhd", 0, 3)
	w.U32(0)
	w.U32(0)
	w.U32(1)
	w.U32(0)
	w.U32(uint32(total))
	w.Zeros(8)
	w.U16(0)
	w.U16(0)
	w.U16(0x0100)
	w.U16(0)
	w.Matrix()
	w.U32(0)
	w.U32(0)
	w.End()
	w.Start("mdia")
	w.StartFull("mdhd", 0, 0)
	w.U32(0)
	w.U32(0)
	w.U32(timescale)
	w.U32(uint32(total))
	w.U16(0x55c4) // "und"
	w.U16(0)
	w.End()
	w.StartFull("hdlr", 0, 0)
	w.U32(0)
	w.Str("soun")
	w.Zeros(12)
	w.Str("SoundHandler\x00")
	w.End()
	w.Start("minf")
	w.StartFull("smhd", 0, 0)
	w.U32(0)
	w.End()
	w.Start("dinf")
	w.StartFull("dref", 0, 0)
	w.U32(1)
	w.StartFull("url ", 0, 1)
	w.End()
	w.End()
	w.End()
	w.Start("stbl")
	w.StartFull("stsd", 0, 0)
	w.U32(1)
	entry.Append(&w)
	w.End()
	w.StartFull("stts", 0, 0)
	w.U32(uint32(len(durs)))
	for _, d := range durs {
		w.U32(1)
		w.U32(d)
	}
	w.End()
	w.StartFull("stsc", 0, 0)
	w.U32(1)
	w.U32(1)
	w.U32(uint32(len(samples)))
	w.U32(1)
	w.End()
	w.StartFull("stsz", 0, 0)
	w.U32(0)
	w.U32(uint32(len(samples)))
	for _, s := range samples {
		w.U32(uint32(len(s)))
	}
	w.End()
	w.StartFull("stco", 0, 0)
	w.U32(1)
	w.U32(uint32(dataAt))
	w.End()
	w.End() // stbl
	w.End() // minf
	w.End() // mdia
	w.End() // trak
	w.End() // moov
	return w.B
}

type probed struct {
	Streams []struct {
		CodecName  string `json:"codec_name"`
		SampleRate string `json:"sample_rate"`
		Channels   int    `json:"channels"`
		Duration   string `json:"duration"`
	} `json:"streams"`
}

// probe returns ffprobe's view of the one stream of path and checks that
// ffmpeg decodes all of it without an error message.
func probe(t *testing.T, path string) (codec string, rate, channels int, dur float64) {
	t.Helper()
	var p probed
	out := testaudio.Run(t, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels,duration", "-of", "json", path)
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 1 {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	s := p.Streams[0]
	rate, _ = strconv.Atoi(s.SampleRate)
	dur, _ = strconv.ParseFloat(s.Duration, 64)
	if msg := testaudio.Run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"); len(msg) > 0 {
		t.Fatalf("ffmpeg decode: %s", msg)
	}
	return s.CodecName, rate, s.Channels, dur
}

func TestMP4AWithFFmpeg(t *testing.T) {
	dir := t.TempDir()
	asc, frames := testaudio.AAC(t, 44100, 2, 2)
	cfg, err := audio.ParseAACConfig(asc)
	if err != nil {
		t.Fatal(err)
	}
	durs := make([]uint32, len(frames))
	for i := range durs {
		durs[i] = uint32(cfg.FrameLength)
	}
	entry := MP4A{Config: cfg.Raw, SampleRate: cfg.OutputRate, Channels: cfg.Channels, ObjectType: cfg.ObjectType}
	out := filepath.Join(dir, "aac.mp4")
	if err := os.WriteFile(out, audioMP4(entry, uint32(cfg.SampleRate), frames, durs), 0o644); err != nil {
		t.Fatal(err)
	}
	codec, rate, ch, dur := probe(t, out)
	if codec != "aac" || rate != 44100 || ch != 2 || math.Abs(dur-float64(len(frames))*1024/44100) > 0.001 {
		t.Fatalf("ffprobe: %s %d Hz %d ch %.3f s; want aac 44100 Hz 2 ch %.3f s", codec, rate, ch, dur, float64(len(frames))*1024/44100)
	}
	if cfg.Codec() != "mp4a.40.2" {
		t.Fatalf("codec string %q", cfg.Codec())
	}
}

func TestOpusWithFFmpeg(t *testing.T) {
	dir := t.TempDir()
	pkts := testaudio.Opus(t, 1, 2)
	durs := make([]uint32, len(pkts))
	var total int64
	for i, p := range pkts {
		d, err := audio.OpusDuration(p)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		durs[i] = uint32(d)
		total += d
	}
	out := filepath.Join(dir, "opus.mp4")
	entry := Opus{Channels: 1, InputSampleRate: 48000}
	if err := os.WriteFile(out, audioMP4(entry, 48000, pkts, durs), 0o644); err != nil {
		t.Fatal(err)
	}
	codec, rate, ch, dur := probe(t, out)
	if codec != "opus" || rate != 48000 || ch != 1 || math.Abs(dur-float64(total)/48000) > 0.001 {
		t.Fatalf("ffprobe: %s %d Hz %d ch %.3f s; want opus 48000 Hz 1 ch %.3f s", codec, rate, ch, dur, float64(total)/48000)
	}
}

// TestFLACFromG711WithFFmpeg records ffmpeg's µ-law as nvr does (G.711
// decoded by our tables, FLAC by our encoder, fLaC entry) and checks that
// ffmpeg decodes the MP4 to exactly the PCM ffmpeg itself decodes from the
// µ-law: the tables and the lossless path both match an independent
// decoder sample for sample.
func TestFLACFromG711WithFFmpeg(t *testing.T) {
	for _, codec := range []string{"PCMU", "PCMA"} {
		t.Run(codec, func(t *testing.T) {
			dir := t.TempDir()
			fmtName := map[string]string{"PCMU": "mulaw", "PCMA": "alaw"}[codec]
			g711 := testaudio.G711(t, fmtName, 2)
			src := filepath.Join(dir, "in.g711")
			if err := os.WriteFile(src, g711, 0o644); err != nil {
				t.Fatal(err)
			}
			want := testaudio.Run(t, "ffmpeg", "-nostdin", "-v", "error", "-f", fmtName, "-ar", "8000", "-ac", "1", "-i", src, "-f", "s16le", "-")

			dec, err := audio.NewG711(codec, 1)
			if err != nil {
				t.Fatal(err)
			}
			pcm := dec.Decode(nil, g711)
			if got := int16le(pcm); !bytes.Equal(got, want) {
				t.Fatalf("our %s decode differs from ffmpeg's (%d vs %d bytes)", codec, len(got), len(want))
			}
			enc, err := audio.NewFLACEncoder(8000, 1)
			if err != nil {
				t.Fatal(err)
			}
			var frames [][]byte
			var durs []uint32
			emit := func(f *audio.Frame) {
				frames = append(frames, append([]byte(nil), f.Data...))
				durs = append(durs, uint32(f.Duration))
			}
			// Packets of 20 ms, as cameras send.
			for i := 0; i < len(pcm); i += 160 {
				if err := enc.Push(int64(i), pcm[i:min(i+160, len(pcm))], emit); err != nil {
					t.Fatal(err)
				}
			}
			if err := enc.Flush(emit); err != nil {
				t.Fatal(err)
			}
			info := enc.Info()
			entry := FLAC{BlockSize: info.BlockSize, SampleRate: info.SampleRate, Channels: info.Channels, BitsPerSample: info.BitsPerSample}
			out := filepath.Join(dir, "flac.mp4")
			if err := os.WriteFile(out, audioMP4(entry, 8000, frames, durs), 0o644); err != nil {
				t.Fatal(err)
			}
			c, rate, ch, dur := probe(t, out)
			if c != "flac" || rate != 8000 || ch != 1 || math.Abs(dur-2) > 0.001 {
				t.Fatalf("ffprobe: %s %d Hz %d ch %.3f s; want flac 8000 Hz 1 ch 2 s", c, rate, ch, dur)
			}
			got := testaudio.Run(t, "ffmpeg", "-nostdin", "-v", "error", "-err_detect", "crccheck+explode", "-i", out, "-f", "s16le", "-")
			if !bytes.Equal(got, want) {
				t.Fatalf("FLAC in MP4 decodes to %d bytes differing from the µ-law's %d", len(got), len(want))
			}
			var size int
			for _, f := range frames {
				size += len(f)
			}
			t.Logf("%s: %d G.711 bytes -> %d FLAC bytes (%.0f%%)", codec, len(g711), size, 100*float64(size)/float64(len(g711)))
		})
	}
}

func int16le(s []int16) []byte {
	b := make([]byte, 0, 2*len(s))
	for _, v := range s {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}
