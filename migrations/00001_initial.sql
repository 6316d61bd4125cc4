-- The first schema of nvr's index. Every time is UTC nanoseconds since the
-- Unix epoch (INTEGER, int64: good until the year 2262); every range is
-- half-open [start_ns, end_ns). STRICT tables so a wrong type is an error
-- rather than a silently stored string.

-- +goose Up

-- One row per camera that has ever recorded. Rows are never deleted by nvr:
-- a camera removed from the config keeps its footage until retention ends it.
CREATE TABLE cameras (
    -- The id from the config; also the folder name under recordings/. The
    -- CHECK is the database's own guard and states the same rule as
    -- storage.ValidCameraID, which config, recorder and API apply:
    -- [a-z0-9_-], 1 to 64 characters (storage.MaxCameraIDLen).
    id TEXT PRIMARY KEY
        CHECK (length(id) BETWEEN 1 AND 64 AND id NOT GLOB '*[^a-z0-9_-]*'),
    -- A human-readable name (free text, may be empty).
    name TEXT NOT NULL DEFAULT '',
    -- When the row was created (UTC ns).
    created_ns INTEGER NOT NULL,
    -- Number of this camera's segments not being deleted, and the sum of
    -- their bytes; kept by the triggers below so the camera list does not
    -- scan millions of rows.
    segments INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One row per MP4 segment file under recordings/.
--
-- WITHOUT ROWID, keyed by (camera_id, start_ns, id): the rows of one camera
-- are stored in time order next to each other, so "segments of camera X
-- overlapping [a, b)" reads a few consecutive pages even at tens of millions
-- of rows, instead of one page per segment (cameras record at the same
-- time, so in insertion order their rows interleave).
CREATE TABLE segments (
    camera_id TEXT NOT NULL REFERENCES cameras (id),
    -- Wall-clock time of the first frame (UTC ns).
    start_ns INTEGER NOT NULL,
    -- Stable id, used in the HTTP API (/api/segments/{id}). Taken from
    -- counters.segment_id, so an id is never reused, even after the newest
    -- rows were deleted: a client holding an id never gets other footage.
    id INTEGER NOT NULL UNIQUE CHECK (id > 0),
    -- Wall-clock time just after the last frame (UTC ns): start_ns plus the
    -- media duration. While recording it is the time written so far.
    -- Bounded length (7200 s, storage.MaxSegmentDuration) so that the key
    -- answers "which segments overlap [a, b)": only segments starting in
    -- [a - 7200 s, b) can.
    end_ns INTEGER NOT NULL,
    -- The recording session (run) this segment belongs to, if the recorder
    -- tracks one: segments of one run abut exactly. NULL when unknown (for
    -- example a file indexed by recovery).
    run_id INTEGER,
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
    -- deleting: the file is being removed; the row goes once it is gone.
    state TEXT NOT NULL CHECK (state IN ('recording', 'complete', 'deleting')),
    CHECK (end_ns >= start_ns AND end_ns - start_ns <= 7200000000000),
    PRIMARY KEY (camera_id, start_ns, id)
) STRICT, WITHOUT ROWID;

-- Retention across all cameras ("oldest first").
CREATE INDEX segments_start ON segments (start_ns);
-- Recovery of recording/deleting rows without a full scan: only the few
-- rows not complete are in this index.
CREATE INDEX segments_state ON segments (state) WHERE state <> 'complete';

-- Monotonic counters. segment_id: the last segment id handed out.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO counters (name, value) VALUES ('segment_id', 0);

-- Keep cameras.segments and cameras.bytes equal to the count and sum over
-- the camera's rows not in state deleting. (A row's camera_id never changes.)
-- +goose StatementBegin
CREATE TRIGGER segments_count_insert AFTER INSERT ON segments
WHEN NEW.state <> 'deleting'
BEGIN
    UPDATE cameras SET segments = segments + 1, bytes = bytes + NEW.bytes WHERE id = NEW.camera_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER segments_count_delete AFTER DELETE ON segments
WHEN OLD.state <> 'deleting'
BEGIN
    UPDATE cameras SET segments = segments - 1, bytes = bytes - OLD.bytes WHERE id = OLD.camera_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER segments_count_update AFTER UPDATE OF bytes, state ON segments
BEGIN
    UPDATE cameras SET
        segments = segments - (OLD.state <> 'deleting') + (NEW.state <> 'deleting'),
        bytes = bytes - iif(OLD.state <> 'deleting', OLD.bytes, 0) + iif(NEW.state <> 'deleting', NEW.bytes, 0)
    WHERE id = NEW.camera_id;
END;
-- +goose StatementEnd

-- Facts about this data directory (key/value). 'data_dir_id' must equal the
-- id in DATA_DIR/.nvr-data, so an index.db never serves another disk's files.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE meta;
DROP TRIGGER segments_count_update;
DROP TRIGGER segments_count_delete;
DROP TRIGGER segments_count_insert;
DROP TABLE counters;
DROP INDEX segments_state;
DROP INDEX segments_start;
DROP TABLE segments;
DROP TABLE cameras;
