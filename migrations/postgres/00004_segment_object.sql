-- Segments on S3-compatible storage (../00005_segment_object.sql, whose
-- comments describe the column and the index).

-- +goose Up

ALTER TABLE segments ADD COLUMN object TEXT CHECK (object IS NULL OR length(object) BETWEEN 1 AND 1024);
CREATE INDEX segments_local ON segments (start_ns) WHERE object IS NULL AND state = 'complete';

-- +goose Down
DROP INDEX segments_local;
ALTER TABLE segments DROP COLUMN object;
