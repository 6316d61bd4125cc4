package export

import (
	"bytes"
	"io"
	"testing"

	mp4 "github.com/abema/go-mp4"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// FuzzNew plans clips over fake segments shaped by the fuzzer (sample
// sizes, durations, composition offsets, keyframes, wall spans and the
// requested range) and checks that New never panics and that a planned
// clip is a consistent file: go-mp4 parses its header, its size adds up,
// and reads return exactly the planned bytes.
func FuzzNew(f *testing.F) {
	// Seeds: the shapes of the table tests (whole, mid-GOP, B-frames, gap).
	f.Add([]byte{10, 25, 0, 1, 0, 0, 100, 100}, int64(0), int64(400), false)
	f.Add([]byte{10, 5, 1, 1, 2, 0, 50, 70, 30, 200}, int64(130), int64(290), true)
	f.Add([]byte{3, 2, 3, 0, 5, 4, 1, 9, 9, 9, 9}, int64(-100), int64(10000), true)
	f.Fuzz(func(t *testing.T, shape []byte, startMS, endMS int64, timestamps bool) {
		if len(shape) < 3 || len(shape) > 512 {
			return
		}
		const ms = int64(1e6)
		var inputs []Input
		at := t0
		seed := byte(0)
		for i := 0; i+2 < len(shape) && len(inputs) < 8; i += 3 {
			n := int(shape[i])%40 + 1
			gop := int(shape[i+1])%10 + 1
			gap := int64(shape[i+2]%4) * 1000 * ms
			in := fakeInput(seed, at+gap, n, uint32(shape[i+2])+5, gop)
			// Vary durations and composition offsets from the shape bytes.
			var dts int64
			for j := range in.Info.Samples {
				b := shape[(i+j)%len(shape)]
				s := &in.Info.Samples[j]
				s.DTS = dts
				s.Duration = uint32(b%5+1) * 900
				s.CTO = int32(b%3) * 3600
				dts += int64(s.Duration)
			}
			in.Info.Duration = dts
			// Audio in some segments, of two kinds (a codec change), with
			// lost frames where the shape says.
			if k := shape[i+1] % 3; k > 0 {
				a := &fmp4.AudioInfo{Params: fmp4.AudioParams{Codec: "opus", Timescale: 48000, SampleRate: 48000, Channels: 1}}
				step := int64(960)
				if k == 2 {
					a.Params = fmp4.AudioParams{Codec: "flac", Timescale: 8000, SampleRate: 8000, Channels: 1, FLACBlockSize: 160}
					step = 160
				}
				off := in.Info.ValidSize
				for at := int64(0); at*90000/int64(a.Params.Timescale) < dts+int64(shape[i]%7)*900; at += step {
					if shape[(i+int(at/step))%len(shape)]%11 == 0 {
						continue
					}
					a.Samples = append(a.Samples, fmp4.SampleInfo{Offset: off, DTS: at, Size: 3, Duration: uint32(step), Keyframe: true})
					a.Duration += step
					off += 3
				}
				in.Info.Audio = a
			}
			in.EndNS = in.StartNS + dts*1e9/90000 + int64(shape[i]%3)*ms
			if in.EndNS <= in.StartNS {
				in.EndNS = in.StartNS + 1
			}
			inputs = append(inputs, in)
			at = in.EndNS
			seed++
		}
		c, err := New(inputs, Options{StartNS: t0 + startMS*ms, EndNS: t0 + endMS*ms, Timestamps: timestamps})
		if err != nil {
			return
		}
		if c.Duration() <= 0 || c.Size() <= int64(len(c.header)) {
			t.Fatalf("duration %d size %d header %d", c.Duration(), c.Size(), len(c.header))
		}
		b, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
		if err != nil || int64(len(b)) != c.Size() {
			t.Fatalf("read %d of %d: %v", len(b), c.Size(), err)
		}
		var samples, stsz uint32
		_, err = mp4.ReadBoxStructure(bytes.NewReader(b), func(h *mp4.ReadHandle) (interface{}, error) {
			if h.BoxInfo.Type == mp4.BoxTypeMdat() || !h.BoxInfo.IsSupportedType() {
				return nil, nil
			}
			box, _, err := h.ReadPayload()
			if err != nil {
				return nil, err
			}
			if len(h.Path) == 6 && h.Path[1] == mp4.BoxTypeTrak() {
				switch v := box.(type) {
				case *mp4.Stts:
					for _, e := range v.Entries {
						samples += e.SampleCount
					}
				case *mp4.Stsz:
					stsz += v.SampleCount
				}
			}
			_, err = h.Expand()
			return nil, err
		})
		if err != nil {
			t.Fatalf("go-mp4: %v", err)
		}
		if samples != stsz {
			t.Fatalf("stts has %d samples, stsz %d", samples, stsz)
		}
		// The mdat payload is exactly the source bytes of the extents.
		for _, e := range c.extents {
			if e.src == textSource {
				continue
			}
			want := make([]byte, 4)
			n := min(int64(len(want)), e.length)
			c.files[e.src].ReadAt(want[:n], e.srcOff)
			if !bytes.Equal(b[e.outOff:e.outOff+n], want[:n]) {
				t.Fatalf("extent at %d holds other bytes", e.outOff)
			}
		}
	})
}
