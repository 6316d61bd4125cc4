package fmp4

import (
	"bytes"
	"testing"
)

// fuzzSeeds are real segments written by this package, whole and torn at
// interesting places, plus garbage: the same shapes the table tests use.
func fuzzSeeds(tb testing.TB) [][]byte {
	p, samples := synthetic(8)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, p, WriterOptions{FragmentDuration: 12000})
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range samples {
		if err := w.WriteSample(s); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(24000); err != nil {
		tb.Fatal(err)
	}
	b := buf.Bytes()
	ends := fragmentEnds(tb, b)
	seeds := [][]byte{b, nil, b[:36], b[:ends[0]], b[:ends[0]-1]}
	for _, e := range ends[1:] {
		seeds = append(seeds, b[:e-1], b[:e-7], b[:e+20])
	}
	seeds = append(seeds, append(bytes.Clone(b), 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 9))

	// The same with an Opus track: fragments with a second traf and audio
	// after the video in each mdat.
	buf.Reset()
	w, err = NewWriter(&buf, p, WriterOptions{FragmentDuration: 12000, Audio: &AudioParams{Codec: "opus", Timescale: 48000, SampleRate: 48000, Channels: 1}})
	if err != nil {
		tb.Fatal(err)
	}
	ai := int64(0)
	for _, s := range samples {
		for ; ai*960*Timescale/48000 <= s.DTS; ai++ {
			if err := w.WriteAudio(AudioSample{DTS: ai * 960, Duration: 960, Data: []byte{0xfc, byte(ai)}}); err != nil {
				tb.Fatal(err)
			}
		}
		if err := w.WriteSample(s); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(24000); err != nil {
		tb.Fatal(err)
	}
	a := bytes.Clone(buf.Bytes())
	seeds = append(seeds, a, a[:fragmentEnds(tb, a)[0]-3])
	return seeds
}

// FuzzScan: Scan never panics on any bytes, its ValidSize and samples lie
// within the file, and scanning the file cut at ValidSize (what Recover
// leaves) gives the same result.
func FuzzScan(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Scan(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if info.ValidSize < 0 || info.ValidSize > int64(len(data)) {
			t.Fatalf("valid size %d of %d", info.ValidSize, len(data))
		}
		var dur int64
		keys := 0
		for i, s := range info.Samples {
			if s.Offset < 0 || s.Offset+int64(s.Size) > info.ValidSize {
				t.Fatalf("sample %d at [%d,+%d) outside valid %d", i, s.Offset, s.Size, info.ValidSize)
			}
			dur += int64(s.Duration)
			if s.Keyframe {
				keys++
			}
		}
		if dur != info.Duration || keys != info.Keyframes {
			t.Fatalf("duration %d/%d keyframes %d/%d", dur, info.Duration, keys, info.Keyframes)
		}
		if a := info.Audio; a != nil {
			if err := checkAudio(a.Params); err != nil {
				t.Fatalf("scanned audio params: %v", err)
			}
			var adur int64
			for i, s := range a.Samples {
				if s.Offset < 0 || s.Offset+int64(s.Size) > info.ValidSize || !s.Keyframe {
					t.Fatalf("audio sample %d %+v outside valid %d", i, s, info.ValidSize)
				}
				adur += int64(s.Duration)
			}
			if adur != a.Duration {
				t.Fatalf("audio duration %d/%d", adur, a.Duration)
			}
		}
		again, err := Scan(bytes.NewReader(data[:info.ValidSize]), info.ValidSize)
		if err != nil {
			t.Fatalf("rescan of the valid part: %v", err)
		}
		if again.ValidSize != info.ValidSize || len(again.Samples) != len(info.Samples) || again.Fragments != info.Fragments {
			t.Fatalf("rescan differs: %d/%d bytes, %d/%d samples", again.ValidSize, info.ValidSize, len(again.Samples), len(info.Samples))
		}
	})
}
