package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nvr-project/nvr/footage"
	"github.com/nvr-project/nvr/storage"
)

// streamWriter is the ResponseWriter of a download. It extends the write
// deadline on every write (a slow download may take hours, a stalled one is
// cut after StreamStallTimeout), counts the bytes sent, and turns the plain
// text errors of http.ServeContent (416, 412) into the API's JSON errors.
type streamWriter struct {
	http.ResponseWriter
	rc          *http.ResponseController
	stall       time.Duration
	deadlineSet time.Time // when the write deadline was last pushed
	wroteHeader bool
	swallow     bool // an error body was written; drop ServeContent's text
	n           int64
}

func (s *streamWriter) WriteHeader(code int) {
	if s.wroteHeader {
		return
	}
	s.wroteHeader = true
	if code >= 400 {
		msg := http.StatusText(code)
		if code == http.StatusRequestedRangeNotSatisfiable {
			msg = "range not satisfiable"
		}
		hd := s.Header()
		hd.Set("Content-Type", "application/json; charset=utf-8")
		hd.Del("Content-Disposition")
		body := `{"error":` + strconv.Quote(strings.ToLower(msg)) + "}\n"
		hd.Set("Content-Length", strconv.Itoa(len(body)))
		s.ResponseWriter.WriteHeader(code)
		_, _ = io.WriteString(s.ResponseWriter, body)
		s.swallow = true
		return
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	if s.swallow {
		return len(p), nil
	}
	// Push the deadline at most every stall/8: the connection still gets
	// at least 7/8 of the stall time after its last progress, and a fast
	// download does not reset a timer on every write.
	if now := time.Now(); now.Sub(s.deadlineSet) > s.stall/8 {
		_ = s.rc.SetWriteDeadline(now.Add(s.stall))
		s.deadlineSet = now
	}
	n, err := s.ResponseWriter.Write(p)
	s.n += int64(n)
	return n, err
}

// streamChunk is the copy buffer of a download: 8 times io.Copy's default,
// for fewer write calls; pooled, so memory stays bounded per download.
const streamChunk = 256 << 10

var chunkPool = sync.Pool{New: func() any { return new([streamChunk]byte) }}

// ReadFrom copies a download's body (io.Copy in http.ServeContent uses it)
// through Write in streamChunk pieces.
func (s *streamWriter) ReadFrom(r io.Reader) (int64, error) {
	buf := chunkPool.Get().(*[streamChunk]byte)
	defer chunkPool.Put(buf)
	var total int64
	for {
		n, rerr := r.Read(buf[:])
		if n > 0 {
			w, werr := s.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// stream adapts a download handler. Errors returned before the handler
// starts the response are answered as JSON like any other.
func (h *handler) stream(fn func(*streamWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No read deadline to lift: net/http clears it once a bodiless
		// request is read (connReader.startBackgroundRead), so ReadTimeout
		// never reaches into a long download (TestLongDownloadOutlivesReadTimeout).
		sw := &streamWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: h.streamStall}
		if err := fn(sw, r); err != nil && !sw.wroteHeader {
			h.writeError(w, r, err)
		}
	})
}

func (h *handler) export(w *streamWriter, r *http.Request) error {
	q, err := queryParams(r.URL.RawQuery)
	if err != nil {
		return err
	}
	tr, err := parseRange(q, h.maxExport, "export")
	if err != nil {
		return err
	}
	timestamps := false
	if s := q.Get("timestamps"); s != "" {
		if timestamps, err = strconv.ParseBool(s); err != nil {
			return badRequest("timestamps must be true or false")
		}
	}
	stream, err := parseStream(q)
	if err != nil {
		return err
	}
	c, err := h.camera(r)
	if err != nil {
		return err
	}
	// The request context: a client that disconnects stops the export.
	clip, err := h.exporter.ExportStream(r.Context(), c.ID, stream, tr.startNS, tr.endNS, timestamps)
	if err != nil {
		h.m.exports.WithLabelValues(exportOutcome(err)).Inc()
		return fmt.Errorf("export %s: %w", c.ID, err)
	}
	defer clip.Close()

	hd := w.Header()
	hd.Set("Content-Type", "video/mp4")
	hd.Set("Content-Disposition", attachment(h.exportName(c.ID, stream, tr)))
	hd.Set("Cache-Control", "private")
	if tag := normalizeETag(clip.ETag()); tag != "" {
		hd.Set("ETag", tag)
	}
	setGapsHeader(hd, clip.Gaps())
	setAudioHeader(hd, clip)
	// ServeContent answers Range, If-Range, If-None-Match and HEAD from the
	// ETag set above and the fixed size (RFC 9110 §13, §14).
	http.ServeContent(w, r, "", time.Time{}, io.NewSectionReader(clip, 0, clip.Size()))
	h.m.exportBytes.Add(float64(w.n))
	h.m.exports.WithLabelValues("ok").Inc()
	return nil
}

func exportOutcome(err error) string {
	switch {
	case errors.Is(err, footage.ErrNoFootage):
		return "no_footage"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "error"
	}
}

// segmentFile serves one segment's file, opened from its index row only.
func (h *handler) segmentFile(w *streamWriter, r *http.Request) error {
	if _, err := queryParams(r.URL.RawQuery); err != nil {
		return err
	}
	id, err := parseSegmentID(r.PathValue("id"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.storeTimeout)
	seg, err := h.store.Segment(ctx, id)
	cancel()
	if errors.Is(err, storage.ErrNotFound) {
		return errUnknownSegment
	}
	if err != nil {
		return fmt.Errorf("segment %d: %w", id, err)
	}
	// S7: a token scoped to other cameras may not fetch this camera's
	// segments by guessing ids.
	if !principalFrom(r.Context()).mayView(seg.Camera) {
		return errForbidden
	}
	// The request's context bounds the reads: each is one ranged GET for
	// a segment in the bucket.
	f, err := h.store.OpenSegment(r.Context(), seg)
	if err != nil {
		return fmt.Errorf("segment %d: open: %w", id, err)
	}
	defer f.Close()
	// A segment being recorded grows; serving a fixed prefix keeps one
	// response consistent, and the ETag changes as the file does. An
	// uploaded segment's object never changes.
	size := f.Size()
	var mod time.Time
	tag := fmt.Sprintf(`"seg-%d-%d-object"`, seg.ID, size)
	if st, ok := f.(interface{ Stat() (os.FileInfo, error) }); ok {
		fi, err := st.Stat()
		if err != nil {
			return fmt.Errorf("segment %d: stat: %w", id, err)
		}
		mod = fi.ModTime()
		tag = fmt.Sprintf(`"seg-%d-%d-%d"`, seg.ID, size, mod.UnixNano())
	}
	hd := w.Header()
	hd.Set("Content-Type", "video/mp4")
	hd.Set("Content-Disposition", attachment(fmt.Sprintf("%s_%d_%s.mp4", safeFileName(seg.Camera), seg.ID,
		time.Unix(0, seg.StartNS).In(h.loc).Format(fileTimeLayout))))
	hd.Set("Cache-Control", "private")
	hd.Set("ETag", tag)
	http.ServeContent(w, r, "", mod, io.NewSectionReader(f, 0, size))
	return nil
}

// fileTimeLayout is RFC 3339 with '-' for ':' (not allowed in Windows file
// names) and the UTC offset, so names stay unambiguous across DST changes.
const fileTimeLayout = "2006-01-02T15-04-05-0700"

// exportName is the file name of an export: <camera>_<start>_<end>.mp4, with
// ".sub" after the camera for its sub stream (a camera id has no '.', so
// no main stream's name is a sub stream's).
func (h *handler) exportName(camera, stream string, tr timeRange) string {
	format := func(ns int64) string {
		t := time.Unix(0, ns).In(h.loc)
		if t.Nanosecond() == 0 {
			return t.Format(fileTimeLayout)
		}
		return t.Format("2006-01-02T15-04-05.000-0700")
	}
	name := safeFileName(camera)
	if stream == storage.StreamSub {
		name += "." + storage.StreamSub
	}
	return name + "_" + format(tr.startNS) + "_" + format(tr.endNS) + ".mp4"
}

// attachment is the Content-Disposition of a download (RFC 6266). The
// name is built from safeFileName and digits, '+', '-', '.', so it needs no
// escaping inside the quotes.
func attachment(name string) string {
	return `attachment; filename="` + name + `"`
}

// safeFileName keeps letters, digits, '.', '-' and '_' of a camera id and
// replaces everything else, so the name is safe on every file system.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// audioClip is what a clip tells of its audio (*footage.ClipFiles, from
// storage/export.Clip).
type audioClip interface {
	HasAudio() bool
	AudioSkipped() int
}

var _ audioClip = (*footage.ClipFiles)(nil)

// setAudioHeader says whether the export has sound: X-Nvr-Audio is "yes"
// or "none", and X-Nvr-Audio-Skipped counts the segments whose audio is
// not in it because its codec or parameters differ from the export's
// audio track (the first segment's with audio); their time is silent.
func setAudioHeader(hd http.Header, clip Clip) {
	a, ok := clip.(audioClip)
	if !ok {
		return
	}
	if !a.HasAudio() {
		hd.Set("X-Nvr-Audio", "none")
		return
	}
	hd.Set("X-Nvr-Audio", "yes")
	if n := a.AudioSkipped(); n > 0 {
		hd.Set("X-Nvr-Audio-Skipped", strconv.Itoa(n))
	}
}

// setGapsHeader lists the gaps inside an export as start/end pairs in
// RFC 3339 UTC, at most MaxGapsInHeader of them; X-Nvr-Gaps-Total gives the
// full count when the list was cut (the timeline endpoint has them all).
func setGapsHeader(hd http.Header, gaps []footage.Span) {
	if len(gaps) == 0 {
		return
	}
	var b strings.Builder
	for i, g := range gaps {
		if i == MaxGapsInHeader {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(formatNS(g.StartNS))
		b.WriteByte('/')
		b.WriteString(formatNS(g.EndNS))
	}
	hd.Set("X-Nvr-Gaps", b.String())
	hd.Set("X-Nvr-Gaps-Total", strconv.Itoa(len(gaps)))
}

// normalizeETag returns a valid entity tag (RFC 9110 §8.8.3) for the
// exporter's value: kept when already valid, quoted when it only lacks the
// quotes, otherwise replaced by a digest of it.
func normalizeETag(v string) string {
	if v == "" {
		return ""
	}
	etagc := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c == '"' || c < 0x21 || c == 0x7f {
				return false
			}
		}
		return true
	}
	opaque := strings.TrimPrefix(v, "W/")
	if len(opaque) >= 2 && opaque[0] == '"' && opaque[len(opaque)-1] == '"' && etagc(opaque[1:len(opaque)-1]) {
		return v
	}
	if etagc(v) {
		return `"` + v + `"`
	}
	sum := sha256.Sum256([]byte(v))
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}
