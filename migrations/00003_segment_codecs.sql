-- A segment's codec becomes the list of its tracks' codecs (issue 11):
-- H.265 video today, audio tracks next to the video later.

-- +goose Up

-- codecs: the RFC 6381 codec strings of the segment's tracks, video first,
-- comma-separated (RFC 6381 §3.2's list form without the quotes), e.g.
-- 'hvc1.1.6.L93.B0' or, with audio, 'avc1.640028,mp4a.40.2'. A string never
-- contains a comma. Existing rows keep their one video codec.
ALTER TABLE segments RENAME COLUMN codec TO codecs;

-- +goose Down
ALTER TABLE segments RENAME COLUMN codecs TO codec;
