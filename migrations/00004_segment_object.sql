-- Segments on S3-compatible storage (issue 13): a finished segment is
-- uploaded, then its row points at the object, then the local file goes.

-- +goose Up

-- object: the key of the segment's object in the bucket (the configured
-- prefix plus path), or NULL while the segment is a file under recordings/.
-- It is set only after the object was uploaded and its checksum verified;
-- the local file is deleted only after this is committed (storage.md,
-- "Object storage").
ALTER TABLE segments ADD COLUMN object TEXT CHECK (object IS NULL OR length(object) BETWEEN 1 AND 1024);

-- Upload backlog and its oldest-first order without a full scan: only the
-- complete rows not uploaded yet are in this index.
CREATE INDEX segments_local ON segments (start_ns) WHERE object IS NULL AND state = 'complete';

-- +goose Down
DROP INDEX segments_local;
ALTER TABLE segments DROP COLUMN object;
