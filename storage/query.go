package storage

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

const (
	// DefaultListLimit is the page size when ListSegments gets limit <= 0.
	DefaultListLimit = 1000
	// MaxListLimit caps a page so one request cannot pull the whole index
	// into memory.
	MaxListLimit = 10000
	// maxCursorLen bounds the cursor accepted from a client; ours are about
	// 40 bytes.
	maxCursorLen = 128
	// DefaultTimelineGap merges segments separated by at most this much:
	// abutting segments of one run are exactly equal, 1 ms absorbs rounding.
	DefaultTimelineGap int64 = 1_000_000
	// maxTimelineSpans caps the spans of one Timeline answer (memory).
	maxTimelineSpans = 100_000
	// cursorPrefix versions the cursor format.
	cursorPrefix = "c1:"
)

// Span is a stretch of continuous recording, [StartNS, EndNS) in UTC ns.
type Span struct{ StartNS, EndNS int64 }

// CameraStats summarises the segments of one camera.
type CameraStats struct {
	Segments, Bytes int64
	FirstNS, LastNS int64 // start of the oldest, end of the newest (0 if none)
}

// overlapLowerBound is the smallest start_ns a segment overlapping
// [startNS, …) can have, given that no segment is longer than
// MaxSegmentDuration. It saturates instead of overflowing.
func overlapLowerBound(startNS int64) int64 {
	if startNS < math.MinInt64+int64(MaxSegmentDuration) {
		return math.MinInt64
	}
	return startNS - int64(MaxSegmentDuration)
}

// maybeCamera reports whether camera could have rows: an id that breaks
// ValidCameraID (the schema's CHECK) has none, so it is answered without a
// query. PostgreSQL would refuse such a value (a NUL byte, invalid UTF-8)
// with an error where SQLite finds nothing; both now find nothing.
func maybeCamera(camera string) bool { return ValidCameraID(camera) == nil }

func checkRange(startNS, endNS int64) error {
	if endNS <= startNS {
		return fmt.Errorf("%w: range end %d not after start %d", ErrInvalid, endNS, startNS)
	}
	return nil
}

// overlapWhere selects the segments of camera ?1's stream ?2 overlapping
// [?4, ?3) whose start is at least ?5. The index on (camera_id, start_ns)
// bounds the scan to starts in [max(?5, a - MaxSegmentDuration), b); end_ns
// > a then drops those that ended before a, stream those of the camera's
// other stream. Rows being deleted are invisible.
const overlapWhere = `camera_id = ? AND stream = ? AND start_ns < ? AND end_ns > ? AND start_ns >= ? AND state <> 'deleting'`

// checkStream validates a query's stream: "" is the main one.
func checkStream(stream string) (string, error) {
	stream = streamOf(stream)
	return stream, ValidStream(stream)
}

// FootageEnd returns the wall end of the last segment of camera's stream
// (StreamMain or StreamSub; "" is StreamMain), or 0 when it has none. A
// new recording of the stream starts no earlier.
func (s *Store) FootageEnd(ctx context.Context, camera, stream string) (int64, error) {
	var end int64
	err := s.r.QueryRowContext(ctx, s.q(`SELECT end_ns FROM segments WHERE camera_id = ? AND stream = ? AND state <> 'deleting'
		ORDER BY start_ns DESC, id DESC LIMIT 1`), camera, streamOf(stream)).Scan(&end)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("storage: footage end of %s: %w", camera, err)
	}
	return end, nil
}

// ListSegments returns the segments of camera's main stream overlapping
// [startNS, endNS), oldest first (by start, then id), at most limit of them,
// starting after cursor ("" for the first page). It returns the cursor of
// the next page, or "" when there is none. Segments still recording are
// included. An unknown camera simply has no segments.
func (s *Store) ListSegments(ctx context.Context, camera string, startNS, endNS int64, limit int, cursor string) ([]Segment, string, error) {
	return s.ListStreamSegments(ctx, camera, StreamMain, startNS, endNS, limit, cursor)
}

// ListStreamSegments is ListSegments for one stream of the camera
// (StreamMain or StreamSub; "" is StreamMain).
func (s *Store) ListStreamSegments(ctx context.Context, camera, stream string, startNS, endNS int64, limit int, cursor string) ([]Segment, string, error) {
	if err := checkRange(startNS, endNS); err != nil {
		return nil, "", err
	}
	stream, err := checkStream(stream)
	if err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	afterStart, afterID := int64(math.MinInt64), int64(-1)
	if cursor != "" {
		var err error
		if afterStart, afterID, err = parseCursor(cursor); err != nil {
			return nil, "", err
		}
	}
	if !maybeCamera(camera) {
		return nil, "", nil
	}
	lo := max(overlapLowerBound(startNS), afterStart)
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+segmentColumns+` FROM segments
		WHERE `+overlapWhere+` AND (start_ns > ? OR id > ?)
		ORDER BY start_ns, id LIMIT ?`),
		camera, stream, endNS, startNS, lo, afterStart, afterID, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("storage: list segments: %w", err)
	}
	defer rows.Close()
	segs := make([]Segment, 0, min(limit+1, 64))
	for rows.Next() {
		seg, err := scanSegment(rows)
		if err != nil {
			return nil, "", fmt.Errorf("storage: list segments: %w", err)
		}
		segs = append(segs, seg)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("storage: list segments: %w", err)
	}
	if len(segs) <= limit {
		return segs, "", nil
	}
	segs = segs[:limit]
	last := segs[limit-1]
	return segs, makeCursor(last.StartNS, last.ID), nil
}

// makeCursor encodes a page position (the last row's start and id).
func makeCursor(startNS, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(startNS, 10) + ":" + strconv.FormatInt(id, 10)))
}

// parseCursor decodes a cursor from makeCursor; anything else is ErrInvalid.
func parseCursor(c string) (startNS, id int64, err error) {
	bad := fmt.Errorf("%w: malformed cursor", ErrInvalid)
	if len(c) > maxCursorLen {
		return 0, 0, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, 0, bad
	}
	rest, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok {
		return 0, 0, bad
	}
	a, z, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, 0, bad
	}
	if startNS, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, bad
	}
	if id, err = strconv.ParseInt(z, 10, 64); err != nil || id < 0 {
		return 0, 0, bad
	}
	return startNS, id, nil
}

// Timeline returns the recorded spans of camera's main stream within
// [startNS, endNS): segments that abut or overlap, or are at most
// DefaultTimelineGap apart, are merged; spans are clipped to the range,
// oldest first.
func (s *Store) Timeline(ctx context.Context, camera string, startNS, endNS int64) ([]Span, error) {
	return s.StreamTimelineGap(ctx, camera, StreamMain, startNS, endNS, DefaultTimelineGap)
}

// StreamTimeline is Timeline for one stream of the camera ("" is StreamMain).
func (s *Store) StreamTimeline(ctx context.Context, camera, stream string, startNS, endNS int64) ([]Span, error) {
	return s.StreamTimelineGap(ctx, camera, stream, startNS, endNS, DefaultTimelineGap)
}

// TimelineGap is Timeline with the merge tolerance gapNS (>= 0).
func (s *Store) TimelineGap(ctx context.Context, camera string, startNS, endNS, gapNS int64) ([]Span, error) {
	return s.StreamTimelineGap(ctx, camera, StreamMain, startNS, endNS, gapNS)
}

// StreamTimelineGap is TimelineGap for one stream of the camera.
func (s *Store) StreamTimelineGap(ctx context.Context, camera, stream string, startNS, endNS, gapNS int64) ([]Span, error) {
	if err := checkRange(startNS, endNS); err != nil {
		return nil, err
	}
	stream, err := checkStream(stream)
	if err != nil {
		return nil, err
	}
	if gapNS < 0 {
		return nil, fmt.Errorf("%w: negative timeline gap", ErrInvalid)
	}
	if !maybeCamera(camera) {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT start_ns, end_ns FROM segments WHERE `+overlapWhere+`
		ORDER BY start_ns, id`), camera, stream, endNS, startNS, overlapLowerBound(startNS))
	if err != nil {
		return nil, fmt.Errorf("storage: timeline: %w", err)
	}
	defer rows.Close()
	var spans []Span
	for rows.Next() {
		var a, b int64
		if err := rows.Scan(&a, &b); err != nil {
			return nil, fmt.Errorf("storage: timeline: %w", err)
		}
		a, b = max(a, startNS), min(b, endNS)
		if n := len(spans); n > 0 && a-spans[n-1].EndNS <= gapNS {
			spans[n-1].EndNS = max(spans[n-1].EndNS, b)
			continue
		}
		if len(spans) == maxTimelineSpans {
			return nil, fmt.Errorf("%w: more than %d spans; ask for a shorter range", ErrInvalid, maxTimelineSpans)
		}
		spans = append(spans, Span{a, b})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: timeline: %w", err)
	}
	return spans, nil
}

// lastEndQuery is the latest end of camera ?1's segments starting at ?2 or
// later.
const lastEndQuery = `SELECT coalesce(max(end_ns), 0) FROM segments
	WHERE camera_id = ? AND start_ns >= ? AND state <> 'deleting'`

// CameraStats counts the segments and bytes of camera and the time they
// cover (rows being deleted excluded). It costs a few index lookups whatever
// the size of the index: the counts are kept up to date by triggers.
func (s *Store) CameraStats(ctx context.Context, camera string) (CameraStats, error) {
	var st CameraStats
	if !maybeCamera(camera) {
		return st, nil
	}
	// FirstNS: the first key of the camera not being deleted. LastNS: only
	// segments starting within MaxSegmentDuration of the newest start can
	// end last. That bound is a parameter of a second query rather than a
	// subquery: PostgreSQL plans a subquery's value as unknown and would
	// scan the table instead of the index range.
	var newest sql.NullInt64
	err := s.r.QueryRowContext(ctx, s.q(`SELECT
		coalesce((SELECT segments FROM cameras WHERE id = ?), 0),
		coalesce((SELECT bytes FROM cameras WHERE id = ?), 0),
		coalesce((SELECT start_ns FROM segments WHERE camera_id = ? AND state <> 'deleting' ORDER BY start_ns LIMIT 1), 0),
		(SELECT max(start_ns) FROM segments WHERE camera_id = ?)`),
		camera, camera, camera, camera).Scan(&st.Segments, &st.Bytes, &st.FirstNS, &newest)
	if err != nil {
		return CameraStats{}, fmt.Errorf("storage: camera stats %s: %w", camera, err)
	}
	if !newest.Valid {
		return st, nil
	}
	err = s.r.QueryRowContext(ctx, s.q(lastEndQuery), camera, overlapLowerBound(newest.Int64)).Scan(&st.LastNS)
	if err != nil {
		return CameraStats{}, fmt.Errorf("storage: camera stats %s: %w", camera, err)
	}
	return st, nil
}
