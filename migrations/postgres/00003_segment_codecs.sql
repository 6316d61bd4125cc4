-- A segment's codec becomes the list of its tracks' codecs
-- (../00003_segment_codecs.sql, whose comment describes the column).

-- +goose Up

ALTER TABLE segments RENAME COLUMN codec TO codecs;

-- +goose Down
ALTER TABLE segments RENAME COLUMN codecs TO codec;
