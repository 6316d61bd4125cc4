package export

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	mp4 "github.com/abema/go-mp4"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// patternFile is a segment file that is never stored: byte i is a function
// of i and the file's seed, so reads at any offset can be checked without
// gigabytes of disk or memory.
type patternFile struct{ seed byte }

func (f patternFile) at(off int64) byte { return byte(off*7+off>>9) ^ f.seed }

func (f patternFile) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		p[i] = f.at(off + int64(i))
	}
	return len(p), nil
}

// fakeInput is an input of n samples of the given size, 25 fps, a keyframe
// every gop samples, stored contiguously from offset 1000 of a patternFile.
func fakeInput(seed byte, startNS int64, n int, size uint32, gop int) Input {
	info := &fmp4.SegmentInfo{
		Params:    fmp4.TrackParams{SPS: []byte{0x67, 0x64, 0x00, 0x1f, 0xac}, PPS: []byte{0x68, 0xee}, Width: 1920, Height: 1080},
		Timescale: fmp4.Timescale,
	}
	off := int64(1000)
	for i := 0; i < n; i++ {
		info.Samples = append(info.Samples, fmp4.SampleInfo{
			Offset: off, Size: size, DTS: int64(i) * frame90k, Duration: frame90k, Keyframe: i%gop == 0,
		})
		off += int64(size)
		info.Duration += frame90k
	}
	info.ValidSize = off
	return Input{Info: info, File: patternFile{seed}, StartNS: startNS, EndNS: startNS + int64(n)*frameNS}
}

// TestExportPast4GiB checks the >4 GiB path on the sample-table and offset
// math alone: co64 chunk offsets, a 64-bit mdat size, and ReadAt mapping
// offsets beyond 4 GiB to the right source bytes. No large file is made.
func TestExportPast4GiB(t *testing.T) {
	const big = fmp4.MaxSampleSize // 16 MiB samples
	cases := []struct {
		name     string
		perInput []int // samples of each input
		wantCo64 bool
	}{
		{"just under 4 GiB", []int{100, 100, 55}, false}, // 255 × 16 MiB = 4080 MiB
		{"just over 4 GiB", []int{100, 100, 57}, true},   // 4112 MiB
		{"8 GiB", []int{200, 200, 112}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var inputs []Input
			at := t0
			for i, n := range tc.perInput {
				in := fakeInput(byte(i+1), at, n, big, 25)
				inputs = append(inputs, in)
				at = in.EndNS
			}
			clip, err := New(inputs, Options{StartNS: t0, EndNS: at})
			if err != nil {
				t.Fatal(err)
			}
			var payload int64
			for _, n := range tc.perInput {
				payload += int64(n) * big
			}
			if clip.Size() != int64(len(clip.header))+payload {
				t.Fatalf("size %d, header %d + payload %d", clip.Size(), len(clip.header), payload)
			}
			// The mdat header at the end of the in-memory header.
			hdr := clip.header
			var mdatSize, dataStart int64
			if tc.wantCo64 {
				h := hdr[len(hdr)-16:]
				if binary.BigEndian.Uint32(h) != 1 || string(h[4:8]) != "mdat" {
					t.Fatalf("want a 64-bit mdat header, got % x", h)
				}
				mdatSize = int64(binary.BigEndian.Uint64(h[8:]))
				dataStart = int64(len(hdr))
				if mdatSize != payload+16 {
					t.Fatalf("mdat size %d, want %d", mdatSize, payload+16)
				}
			} else {
				h := hdr[len(hdr)-8:]
				if string(h[4:8]) != "mdat" || int64(binary.BigEndian.Uint32(h)) != payload+8 {
					t.Fatalf("want a 32-bit mdat header of %d, got % x", payload+8, h)
				}
				dataStart = int64(len(hdr))
			}
			// go-mp4 reads the virtual file (it seeks over the mdat).
			var offsets []int64
			var sawStco, sawCo64 bool
			_, err = mp4.ReadBoxStructure(io.NewSectionReader(clip, 0, clip.Size()), func(h *mp4.ReadHandle) (interface{}, error) {
				switch h.BoxInfo.Type {
				case mp4.BoxTypeMoov(), mp4.BoxTypeTrak(), mp4.BoxTypeMdia(), mp4.BoxTypeMinf(), mp4.BoxTypeStbl():
					_, err := h.Expand()
					return nil, err
				case mp4.BoxTypeCo64():
					b, _, err := h.ReadPayload()
					if err != nil {
						return nil, err
					}
					sawCo64 = true
					for _, o := range b.(*mp4.Co64).ChunkOffset {
						offsets = append(offsets, int64(o))
					}
				case mp4.BoxTypeStco():
					b, _, err := h.ReadPayload()
					if err != nil {
						return nil, err
					}
					sawStco = true
					for _, o := range b.(*mp4.Stco).ChunkOffset {
						offsets = append(offsets, int64(o))
					}
				case mp4.BoxTypeMdat():
					if int64(h.BoxInfo.Size) != payload+int64(h.BoxInfo.HeaderSize) {
						t.Errorf("go-mp4 sees an mdat of %d bytes", h.BoxInfo.Size)
					}
				}
				return nil, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if sawCo64 != tc.wantCo64 || sawStco == tc.wantCo64 {
				t.Fatalf("co64 %v stco %v, want co64 %v", sawCo64, sawStco, tc.wantCo64)
			}
			want := dataStart
			for i, n := range tc.perInput {
				if offsets[i] != want {
					t.Fatalf("chunk %d at %d, want %d", i, offsets[i], want)
				}
				// Bytes at the chunk start and deep inside come from the
				// right file and offset.
				for _, rel := range []int64{0, 5, int64(n)*big - 3} {
					var p [3]byte
					if _, err := clip.ReadAt(p[:], want+rel); err != nil && err != io.EOF {
						t.Fatal(err)
					}
					src := patternFile{byte(i + 1)}
					for j := range p {
						if off := want + rel + int64(j); off < clip.Size() && p[j] != src.at(1000+rel+int64(j)) {
							t.Fatalf("clip byte %d: %#x, want source %d byte %d", off, p[j], i, 1000+rel+int64(j))
						}
					}
				}
				want += int64(n) * big
			}
			if tc.wantCo64 && offsets[len(offsets)-1] <= math.MaxUint32 && len(tc.perInput) > 2 && tc.perInput[2] > 100 {
				t.Errorf("test does not reach past 4 GiB")
			}
		})
	}
}

// TestSelectRun pins the sample choice within one segment: the start
// keyframe (by presentation time, B-frames included) and the decode-order
// end.
func TestSelectRun(t *testing.T) {
	// 10 samples 40 ms apart, keyframes at 0 and 5, B-frames: display
	// order 0 3 1 2 4 | 5 8 6 7 9, shown one frame after decoding starts
	// (presentation 40 160 80 120 200 | 240 360 280 320 400 ms). The first
	// shown frame is the segment's start, so on the wall clock they are
	// shown at 0 120 40 80 160 | 200 320 240 280 360 ms.
	in := fakeInput(1, t0, 10, 100, 5)
	ctos := []int32{3600, 10800, 0, 0, 3600, 3600, 10800, 0, 0, 3600}
	for i := range in.Info.Samples {
		in.Info.Samples[i].CTO = ctos[i]
	}
	ms := int64(time.Millisecond)
	cases := []struct {
		name        string
		start, end  int64 // ms after t0
		first, last int
		ok          bool
	}{
		{"whole", 0, 400, 0, 10, true},
		{"just before the second keyframe is shown", 190, 400, 0, 10, true},
		{"at the second keyframe's presentation", 200, 400, 5, 10, true},
		{"end keeps a later-shown reference", 0, 260, 0, 8, true}, // 7 (240 ms) needs 6 (320 ms)
		{"end at the first frame", 0, 1, 0, 1, true},
		{"range ends where the segment starts", -100, 0, 0, 0, false},
		{"range after the segment", 400, 500, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, l, ok := selectRun(&in, Options{StartNS: t0 + tc.start*ms, EndNS: t0 + tc.end*ms})
			if ok != tc.ok || (ok && (f != tc.first || l != tc.last)) {
				t.Fatalf("got [%d,%d) %v, want [%d,%d) %v", f, l, ok, tc.first, tc.last, tc.ok)
			}
		})
	}
}

// BenchmarkExportPlanOneHour: time to first byte of a one-hour export is
// New() over 60 one-minute segments at 25 fps plus the first read.
func BenchmarkExportPlanOneHour(b *testing.B) {
	var inputs []Input
	at := t0
	for i := 0; i < 60; i++ {
		in := fakeInput(byte(i), at, 1500, 20000, 50)
		for j := range in.Info.Samples {
			if in.Info.Samples[j].Keyframe {
				in.Info.Samples[j].Size = 150000
			}
		}
		inputs = append(inputs, in)
		at = in.EndNS
	}
	opts := Options{StartNS: t0 + int64(1500*time.Millisecond), EndNS: at - int64(time.Second), Timestamps: true}
	b.ReportAllocs()
	var first [32 << 10]byte
	for i := 0; i < b.N; i++ {
		c, err := New(inputs, opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.ReadAt(first[:], 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExportRead: sequential ReadAt throughput from the page cache,
// in the 32 KiB reads io.Copy makes under http.ServeContent and in 1 MiB
// reads (a file export).
func BenchmarkExportRead(b *testing.B) {
	main720 := loadClip(b, "main720")
	dir := b.TempDir()
	var inputs []Input
	at := t0
	for i := 0; i < 8; i++ {
		in := segment(b, dir, main720, at)
		inputs = append(inputs, in)
		at = in.EndNS
	}
	c, err := New(inputs, Options{StartNS: t0, EndNS: at})
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{32 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("read=%dKiB", size>>10), func(b *testing.B) {
			buf := make([]byte, size)
			b.SetBytes(c.Size())
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := io.CopyBuffer(io.Discard, onlyReader{io.NewSectionReader(c, 0, c.Size())}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// onlyReader hides WriterTo so io.CopyBuffer uses the given buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
