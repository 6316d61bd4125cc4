-- The first schema of nvr's index. Every time is UTC nanoseconds since the
-- Unix epoch (INTEGER, int64: good until the year 2262); every range is
-- half-open [start_ns, end_ns). STRICT tables so a wrong type is an error
-- rather than a silently stored string.

-- +goose Up

-- One row per camera that has ever recorded. Rows are never deleted by nvr:
-- a camera removed from the config keeps its footage until retention ends it.
CREATE TABLE cameras (
    -- The id from the config; also the folder name under recordings/, hence
    -- the same alphabet as config validation: [a-z0-9_-], 1 to 64 characters.
    id TEXT PRIMARY KEY
        CHECK (length(id) BETWEEN 1 AND 64 AND id NOT GLOB '*[^a-z0-9_-]*'),
    -- A human-readable name (free text, may be empty).
    name TEXT NOT NULL DEFAULT '',
    -- When the row was created (UTC ns).
    created_ns INTEGER NOT NULL
) STRICT;

-- One row per MP4 segment file under recordings/.
CREATE TABLE segments (
    -- Stable id, used in the HTTP API (/api/segments/{id}). AUTOINCREMENT:
    -- an id is never reused, even after the newest rows were deleted, so a
    -- client holding an id never gets another segment's footage.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    camera_id TEXT NOT NULL REFERENCES cameras (id),
    -- The recording session (run) this segment belongs to, if the recorder
    -- tracks one: segments of one run abut exactly. NULL when unknown (for
    -- example a file indexed by recovery).
    run_id INTEGER,
    -- Wall-clock time of the first frame (UTC ns).
    start_ns INTEGER NOT NULL,
    -- Wall-clock time just after the last frame (UTC ns): start_ns plus the
    -- media duration. While recording it is the time written so far.
    -- Bounded length (7200 s, storage.MaxSegmentDuration) so that an index
    -- on start_ns alone answers "which segments overlap [a, b)": only
    -- segments starting in [a - 7200 s, b) can.
    end_ns INTEGER NOT NULL,
    -- File path relative to DATA_DIR/recordings, '/'-separated:
    -- <camera>/<YYYY>/<MM>/<DD>/<HH-MM-SS.mmm>[-N].mp4 (UTC).
    path TEXT NOT NULL UNIQUE,
    -- File size in bytes (while recording: bytes written so far).
    bytes INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    -- Number of video frames (samples), and how many of them are keyframes.
    frames INTEGER NOT NULL DEFAULT 0 CHECK (frames >= 0),
    keyframes INTEGER NOT NULL DEFAULT 0 CHECK (keyframes >= 0 AND keyframes <= frames),
    -- RFC 6381 codec string, e.g. 'avc1.640028'.
    codec TEXT NOT NULL DEFAULT '',
    -- Coded picture size in pixels (after SPS cropping).
    width INTEGER NOT NULL DEFAULT 0 CHECK (width >= 0),
    height INTEGER NOT NULL DEFAULT 0 CHECK (height >= 0),
    -- recording: the file is open and growing (or was, before a crash);
    -- complete: the file was synced and the row finalised;
    -- deleting: retention is removing the file; the row goes once it is gone.
    state TEXT NOT NULL CHECK (state IN ('recording', 'complete', 'deleting')),
    CHECK (end_ns >= start_ns AND end_ns - start_ns <= 7200000000000)
) STRICT;

-- "Segments of camera X overlapping [a, b), oldest first": a range scan of
-- (camera_id, start_ns) between a - 7200 s and b. Index entries are ordered
-- by (camera_id, start_ns, rowid), so ORDER BY start_ns, id and the
-- pagination cursor (start_ns, id) need no sort.
CREATE INDEX segments_camera_start ON segments (camera_id, start_ns);

-- Retention across all cameras ("oldest first"), and recovery of
-- recording/deleting rows, without a full table scan.
CREATE INDEX segments_start ON segments (start_ns);
CREATE INDEX segments_state ON segments (state) WHERE state <> 'complete';

-- Facts about this data directory (key/value). 'data_dir_id' must equal the
-- id in DATA_DIR/.nvr-data, so an index.db never serves another disk's files.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE meta;
DROP INDEX segments_state;
DROP INDEX segments_start;
DROP INDEX segments_camera_start;
DROP TABLE segments;
DROP TABLE cameras;
