-- The first schema of nvr's index on PostgreSQL: the same tables, columns,
-- units and rules as ../00001_initial.sql (SQLite), written in PostgreSQL's
-- dialect. Every time is UTC nanoseconds since the Unix epoch (bigint);
-- every range is half-open [start_ns, end_ns). Column comments are in the
-- SQLite file; only what differs is explained here.

-- +goose Up

CREATE TABLE cameras (
    -- storage.ValidCameraID: [a-z0-9_-], 1 to 64 characters.
    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9_-]{1,64}$'),
    name text NOT NULL DEFAULT '',
    created_ns bigint NOT NULL,
    -- Kept by the trigger below (rows not being deleted).
    segments bigint NOT NULL DEFAULT 0,
    bytes bigint NOT NULL DEFAULT 0
);

-- Segment ids are never reused (a client holding one never gets other
-- footage). A sequence gives that without a counter row every insert
-- would wait on; gaps (a rolled-back insert) are harmless.
CREATE SEQUENCE segment_id AS bigint MINVALUE 1;

-- PostgreSQL keeps rows in a heap, not in key order, so the time index is
-- a B-tree on (camera_id, start_ns, id): "segments of camera X overlapping
-- [a, b)" is one range scan of it over starts in [a - 7200 s, b), then one
-- heap fetch per row (a one-hour listing is about 61 rows).
CREATE TABLE segments (
    id bigint PRIMARY KEY CHECK (id > 0),
    camera_id text NOT NULL REFERENCES cameras (id),
    start_ns bigint NOT NULL,
    end_ns bigint NOT NULL,
    run_id bigint,
    path text NOT NULL UNIQUE,
    bytes bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    frames bigint NOT NULL DEFAULT 0 CHECK (frames >= 0),
    keyframes bigint NOT NULL DEFAULT 0 CHECK (keyframes >= 0 AND keyframes <= frames),
    codec text NOT NULL DEFAULT '',
    width integer NOT NULL DEFAULT 0 CHECK (width >= 0),
    height integer NOT NULL DEFAULT 0 CHECK (height >= 0),
    state text NOT NULL CHECK (state IN ('recording', 'complete', 'deleting')),
    CHECK (end_ns >= start_ns AND end_ns - start_ns <= 7200000000000)
);

CREATE UNIQUE INDEX segments_camera_start ON segments (camera_id, start_ns, id);
-- Retention across all cameras ("oldest first").
CREATE INDEX segments_start ON segments (start_ns, id);
-- Recovery of recording/deleting rows: only the few rows not complete.
CREATE INDEX segments_state ON segments (state) WHERE state <> 'complete';

-- Keep cameras.segments and cameras.bytes equal to the count and sum over
-- the camera's rows not in state deleting. (A row's camera_id never changes.)
-- +goose StatementBegin
CREATE FUNCTION segments_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state <> 'deleting' THEN
        UPDATE cameras SET segments = segments - 1, bytes = bytes - OLD.bytes WHERE id = OLD.camera_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.state <> 'deleting' THEN
        UPDATE cameras SET segments = segments + 1, bytes = bytes + NEW.bytes WHERE id = NEW.camera_id;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER segments_count_insert AFTER INSERT ON segments
    FOR EACH ROW EXECUTE FUNCTION segments_count();
CREATE TRIGGER segments_count_delete AFTER DELETE ON segments
    FOR EACH ROW EXECUTE FUNCTION segments_count();
CREATE TRIGGER segments_count_update AFTER UPDATE OF bytes, state ON segments
    FOR EACH ROW WHEN (OLD.bytes IS DISTINCT FROM NEW.bytes OR OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION segments_count();

-- 'data_dir_id' must equal the id in DATA_DIR/.nvr-data: the rows name
-- files of one data directory.
CREATE TABLE meta (
    key text PRIMARY KEY,
    value text NOT NULL
);

-- +goose Down
DROP TABLE meta;
DROP TRIGGER segments_count_update ON segments;
DROP TRIGGER segments_count_delete ON segments;
DROP TRIGGER segments_count_insert ON segments;
DROP FUNCTION segments_count();
DROP TABLE segments;
DROP SEQUENCE segment_id;
DROP TABLE cameras;
