package fmp4

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/nvr-project/nvr/internal/testcam"
)

// scanBytes scans a segment held in memory.
func scanBytes(t testing.TB, b []byte) *SegmentInfo {
	t.Helper()
	info, err := Scan(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestIndexRoundTrip: the sample index of every test clip decodes to what
// Scan found in the file, field for field, and stays small.
func TestIndexRoundTrip(t *testing.T) {
	for _, name := range testcam.ClipNames {
		t.Run(name, func(t *testing.T) {
			c := loadClip(t, name)
			b, _ := writeClip(t, c, WriterOptions{})
			want := scanBytes(t, b)
			idx, err := want.MarshalIndex()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseIndex(idx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ParseIndex(MarshalIndex(info)) differs from info:\n got %+v\nwant %+v", got.Samples[:3], want.Samples[:3])
			}
			perSample := float64(len(idx)-len(want.Params.SPS)-len(want.Params.PPS)) / float64(len(want.Samples))
			t.Logf("%d samples, %d bytes, %.2f bytes/sample", len(want.Samples), len(idx), perSample)
			if perSample > 6 {
				t.Errorf("%.2f bytes a sample, want a compact index (at most 6)", perSample)
			}
		})
	}
}

// TestIndexGaps: samples that are not contiguous in the file or in decode
// time (other muxers' segments, several truns) keep their offsets and
// times.
func TestIndexGaps(t *testing.T) {
	info := &SegmentInfo{Timescale: Timescale, Params: TrackParams{SPS: []byte{0x67, 100, 0, 31}, PPS: []byte{0x68}, Width: 64, Height: 48},
		ValidSize: 10_000, Fragments: 2, Samples: []SampleInfo{
			{Offset: 100, DTS: 9000, Size: 50, Duration: 3000, Keyframe: true},
			{Offset: 150, DTS: 12000, Size: 20, Duration: 3000, CTO: -3000},
			{Offset: 500, DTS: 15000, Size: 30, Duration: 2999, CTO: 6000},
			{Offset: 530, DTS: 90000, Size: 40, Duration: 3001},
		}}
	info.Duration, info.Keyframes = 3000+3000+2999+3001, 1
	idx, err := info.MarshalIndex()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, info) {
		t.Fatalf("got %+v\nwant %+v", got, info)
	}
}

// TestIndexRejectsDamage: a cut or altered index is an error, never a
// different segment.
func TestIndexRejectsDamage(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	b, _ := writeClip(t, c, WriterOptions{})
	idx, err := scanBytes(t, b).MarshalIndex()
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(idx); n++ {
		if _, err := ParseIndex(idx[:n]); !errors.Is(err, ErrBadIndex) {
			t.Fatalf("index cut to %d of %d bytes: %v, want ErrBadIndex", n, len(idx), err)
		}
	}
	if _, err := ParseIndex(append(bytes.Clone(idx), 0)); !errors.Is(err, ErrBadIndex) {
		t.Errorf("trailing byte: %v", err)
	}
	bad := bytes.Clone(idx)
	bad[0] = 99
	if _, err := ParseIndex(bad); !errors.Is(err, ErrBadIndex) {
		t.Errorf("unknown version: %v", err)
	}
}

// FuzzParseIndex: any bytes decode without panic to an error or to a
// segment that encodes back to an index decoding to the same segment.
func FuzzParseIndex(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		if info, err := Scan(bytes.NewReader(seed), int64(len(seed))); err == nil {
			if idx, err := info.MarshalIndex(); err == nil {
				f.Add(idx)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseIndex(b)
		if err != nil {
			return
		}
		again, err := info.MarshalIndex()
		if err != nil {
			t.Fatalf("a parsed index does not encode: %v", err)
		}
		info2, err := ParseIndex(again)
		if err != nil || !reflect.DeepEqual(info, info2) {
			t.Fatalf("re-encoded index differs: %v", err)
		}
	})
}
