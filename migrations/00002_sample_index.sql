-- The sample index of each complete segment, so an export is planned
-- without opening the files (docs/storage.md, "Sample index").

-- +goose Up

-- One row per complete segment whose file storage could scan when it
-- finished the segment (or recovery did). A segment without a row (indexed
-- before this table existed, or its file did not scan) is planned from its
-- file instead. The row goes with its segment.
CREATE TABLE segment_samples (
    segment_id INTEGER PRIMARY KEY REFERENCES segments (id) ON DELETE CASCADE,
    -- fmp4.SegmentInfo.MarshalIndex: parameter sets, then per sample its
    -- size, duration (90 kHz), composition offset, keyframe flag and file
    -- offset as varint differences, about 2 to 3 bytes a frame.
    data BLOB NOT NULL
) STRICT;

-- +goose Down
DROP TABLE segment_samples;
