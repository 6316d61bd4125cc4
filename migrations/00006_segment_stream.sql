-- A camera's sub stream can be recorded too (issue 10, record_sub): each
-- segment belongs to one stream of its camera.

-- +goose Up

-- stream: which of the camera's streams the segment holds, 'main' (its url)
-- or 'sub' (its sub_url). Every row indexed before this migration is the
-- main stream's. Sub stream files live under <camera>/sub/, so the two
-- streams' paths never collide (storage.SegmentPath). Queries select one
-- stream inside the camera's key range: (camera_id, start_ns) still bounds
-- the scan, and a camera recording both streams has both streams' rows in
-- that range.
ALTER TABLE segments ADD COLUMN stream TEXT NOT NULL DEFAULT 'main' CHECK (stream IN ('main', 'sub'));

-- +goose Down
ALTER TABLE segments DROP COLUMN stream;
