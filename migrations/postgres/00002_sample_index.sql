-- The sample index of each complete segment (../00002_sample_index.sql).

-- +goose Up

CREATE TABLE segment_samples (
    segment_id bigint PRIMARY KEY REFERENCES segments (id) ON DELETE CASCADE,
    -- fmp4.SegmentInfo.MarshalIndex. Already compact varints: no TOAST
    -- compression to spend CPU on.
    data bytea NOT NULL
);
ALTER TABLE segment_samples ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE segment_samples;
