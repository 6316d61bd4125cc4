-- The stream of a segment (../00006_segment_stream.sql, whose comments
-- describe the column).

-- +goose Up

ALTER TABLE segments ADD COLUMN stream text NOT NULL DEFAULT 'main' CHECK (stream IN ('main', 'sub'));

-- +goose Down
ALTER TABLE segments DROP COLUMN stream;
