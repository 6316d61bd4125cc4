package testcam

import "testing"

func TestLoadClips(t *testing.T) {
	for _, name := range ClipNames {
		c, err := LoadClip(name)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Frames[0].Keyframe {
			t.Errorf("%s: first frame is not a keyframe", name)
		}
		if len(c.SPS) == 0 || len(c.PPS) == 0 {
			t.Errorf("%s: no SPS/PPS", name)
		}
		if c.Duration != int64(len(c.Frames))*3600 {
			t.Errorf("%s: duration %d, want %d (25 fps)", name, c.Duration, len(c.Frames)*3600)
		}
		for i, f := range c.Frames {
			if len(f.NALUs) == 0 {
				t.Fatalf("%s frame %d: no NAL units", name, i)
			}
			idr, slices := 0, 0
			for _, n := range f.NALUs {
				switch n[0] & 0x1f {
				case 5:
					idr++
				case 1:
					slices++
				}
			}
			if f.Keyframe != (idr > 0) || idr+slices == 0 {
				t.Errorf("%s frame %d: keyframe=%v but %d IDR and %d non-IDR slices", name, i, f.Keyframe, idr, slices)
			}
		}
	}
}

func TestLoadH265Clips(t *testing.T) {
	for _, name := range H265ClipNames {
		c, err := LoadClip(name)
		if err != nil {
			t.Fatal(err)
		}
		if !c.H265 || c.VPS == nil || c.SPS == nil || c.PPS == nil {
			t.Fatalf("%s: H265 %v, VPS %x SPS %x PPS %x", name, c.H265, c.VPS, c.SPS, c.PPS)
		}
		if c.VPS[0]>>1 != 32 || c.SPS[0]>>1 != 33 || c.PPS[0]>>1 != 34 {
			t.Errorf("%s: parameter sets of the wrong NAL types", name)
		}
		keys := 0
		for _, f := range c.Frames {
			if f.Keyframe {
				keys++
			}
		}
		if len(c.Frames) != 100 || keys != 4 || c.Duration != 100*3600 || !c.Frames[0].Keyframe {
			t.Errorf("%s: %d frames, %d keyframes, duration %d", name, len(c.Frames), keys, c.Duration)
		}
	}
}
