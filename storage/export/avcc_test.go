package export

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	mp4 "github.com/abema/go-mp4"

	"github.com/nvr-project/nvr/internal/testcam"
)

// avcCBoxes returns the avcC boxes of the file b, whole (header included),
// and go-mp4's reading of the first.
func avcCBoxes(t *testing.T, b []byte) ([][]byte, *mp4.AVCDecoderConfiguration) {
	t.Helper()
	var raw [][]byte
	var first *mp4.AVCDecoderConfiguration
	_, err := mp4.ReadBoxStructure(bytes.NewReader(b), func(h *mp4.ReadHandle) (interface{}, error) {
		switch h.BoxInfo.Type {
		case mp4.BoxTypeMoov(), mp4.BoxTypeTrak(), mp4.BoxTypeMdia(), mp4.BoxTypeMinf(), mp4.BoxTypeStbl(), mp4.BoxTypeStsd(), mp4.BoxTypeAvc1():
			return h.Expand()
		case mp4.BoxTypeAvcC():
			off, size := int(h.BoxInfo.Offset), int(h.BoxInfo.Size)
			raw = append(raw, bytes.Clone(b[off:off+size]))
			if first == nil {
				box, _, err := h.ReadPayload()
				if err != nil {
					return nil, err
				}
				first = box.(*mp4.AVCDecoderConfiguration)
			}
		}
		return nil, nil
	})
	if err != nil {
		t.Fatalf("go-mp4: %v", err)
	}
	return raw, first
}

// TestExportAvcCMatchesSegment: segments and exports write their sample
// entry with one box writer, so the export of a High-profile stream carries
// the avcC of its segments byte for byte, chroma format and bit depths
// included (the export's own copy used to drop them, ISO/IEC 14496-15
// §5.3.3.1.2).
func TestExportAvcCMatchesSegment(t *testing.T) {
	c := loadClip(t, testcam.ClipHigh360BFrame)
	if c.SPS[1] != 100 {
		t.Fatalf("clip %s has profile_idc %d, want High (100)", c.Name, c.SPS[1])
	}
	dir := t.TempDir()
	in := segment(t, dir, c, t0)
	clip, err := New([]Input{in}, Options{StartNS: in.StartNS, EndNS: in.EndNS})
	if err != nil {
		t.Fatal(err)
	}
	exported := saveClip(t, clip, filepath.Join(dir, "clip.mp4"))

	seg, err := os.ReadFile(in.File.(*os.File).Name())
	if err != nil {
		t.Fatal(err)
	}
	segRaw, segCfg := avcCBoxes(t, seg)
	expRaw, expCfg := avcCBoxes(t, exported)
	if len(segRaw) != 1 || len(expRaw) != 1 {
		t.Fatalf("%d avcC in the segment, %d in the export; want one each", len(segRaw), len(expRaw))
	}
	if !segCfg.HighProfileFieldsEnabled || !expCfg.HighProfileFieldsEnabled {
		t.Fatalf("high-profile fields: segment %v, export %v; want both", segCfg.HighProfileFieldsEnabled, expCfg.HighProfileFieldsEnabled)
	}
	if segCfg.ChromaFormat != 1 || segCfg.BitDepthLumaMinus8 != 0 || segCfg.BitDepthChromaMinus8 != 0 {
		t.Errorf("segment avcC: chroma %d, depths %d/%d; want 4:2:0 8-bit (1, 0/0)", segCfg.ChromaFormat, segCfg.BitDepthLumaMinus8, segCfg.BitDepthChromaMinus8)
	}
	if !bytes.Equal(segRaw[0], expRaw[0]) {
		t.Errorf("export avcC differs from the segment's:\n export  %x\n segment %x", expRaw[0], segRaw[0])
	}
}
