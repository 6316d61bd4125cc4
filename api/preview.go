package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nvr-project/nvr/footage"
	"github.com/nvr-project/nvr/storage"
)

// Previewer finds the keyframe that shows a moment in one stream of a
// camera, for the timeline's scrub previews; the Exporter implements it
// when it can.
type Previewer interface {
	KeyframeAtStream(ctx context.Context, camera, stream string, ns int64) (startNS, endNS int64, err error)
}

// preview answers GET /api/cameras/{id}/preview?t=T[&stream=sub]: a
// one-frame MP4 of the keyframe that shows T (the last one at or before
// it), so the browser decodes the picture itself and the server only plans
// and sends bytes. With stream=sub the keyframe is the recorded sub
// stream's (a smaller picture), or the main stream's where the sub stream
// has no footage. X-Nvr-Keyframe names the keyframe's time, X-Nvr-Stream
// the stream it is from; the answer is cacheable, since the same keyframe
// serves every moment of its group of pictures.
func (h *handler) preview(w *streamWriter, r *http.Request) error {
	q, err := queryParams(r.URL.RawQuery)
	if err != nil {
		return err
	}
	t, err := parseTime("t", q.Get("t"))
	if err != nil {
		return err
	}
	stream, err := parseStream(q)
	if err != nil {
		return err
	}
	c, err := h.camera(r)
	if err != nil {
		return err
	}
	pv, ok := h.exporter.(Previewer)
	if !ok {
		return errNotFoundPath
	}
	startNS, endNS, err := pv.KeyframeAtStream(r.Context(), c.ID, stream, t)
	if stream == storage.StreamSub && errors.Is(err, footage.ErrNoFootage) {
		stream = storage.StreamMain
		startNS, endNS, err = pv.KeyframeAtStream(r.Context(), c.ID, stream, t)
	}
	if err != nil {
		return fmt.Errorf("preview %s: %w", c.ID, err)
	}
	// Half the keyframe's span: its presentation, and no frame after it.
	clip, err := h.exporter.ExportStream(r.Context(), c.ID, stream, startNS, startNS+max((endNS-startNS)/2, 1), false)
	if err != nil {
		return fmt.Errorf("preview %s: %w", c.ID, err)
	}
	defer clip.Close()
	hd := w.Header()
	hd.Set("Content-Type", "video/mp4")
	hd.Set("Cache-Control", "private, max-age=300")
	hd.Set("X-Nvr-Keyframe", formatNS(startNS))
	hd.Set("X-Nvr-Stream", stream)
	if tag := normalizeETag(clip.ETag()); tag != "" {
		hd.Set("ETag", tag)
	}
	http.ServeContent(w, r, "", time.Time{}, io.NewSectionReader(clip, 0, clip.Size()))
	return nil
}
