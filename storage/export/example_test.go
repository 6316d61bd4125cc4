package export_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage/export"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// Example records a clip into one segment, then serves seconds 1 to 3 of
// it over HTTP: http.ServeContent answers Range and HEAD from ReadAt.
func Example() {
	dir, err := os.MkdirTemp("", "export-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	clip, _ := testcam.LoadClip(testcam.ClipBase240)
	path := filepath.Join(dir, "seg.mp4")
	f, _ := os.Create(path)
	w, _ := fmp4.NewWriter(f, fmp4.TrackParams{SPS: clip.SPS, PPS: clip.PPS}, fmp4.WriterOptions{})
	for _, fr := range clip.Frames {
		if err := w.WriteSample(fmp4.Sample{NALUs: fr.NALUs, DTS: fr.DTS, PTS: fr.PTS, Keyframe: fr.Keyframe}); err != nil {
			panic(err)
		}
	}
	_ = w.Close(clip.Frames[len(clip.Frames)-1].DTS + 3600)
	_ = f.Close()

	seg, _ := os.Open(path) // kept open for the clip's life
	defer seg.Close()
	st, _ := seg.Stat()
	info, err := fmp4.Scan(seg, st.Size())
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	in := export.Input{Info: info, File: seg, StartNS: start, EndNS: start + info.Duration*1e9/90000}
	c, err := export.New([]export.Input{in}, export.Options{StartNS: start + 1e9/2, EndNS: start + 3e9})
	if err != nil {
		panic(err)
	}

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", c.ETag())
		http.ServeContent(w, r, "clip.mp4", time.Time{}, io.NewSectionReader(c, 0, c.Size()))
	})
	req := httptest.NewRequest("GET", "/clip.mp4", nil)
	req.Header.Set("Range", "bytes=4-11")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body.String(), float64(c.Duration())/90000, "s")
	// Output: 206 ftypisom 1.5 s
}
