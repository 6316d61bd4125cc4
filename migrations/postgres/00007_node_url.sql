-- Where the other nodes reach a node's API, to read the segments still on
-- its disk (docs/scale-out.md, "Reading another node's segments"). '' when
-- the node has no advertise_url.

-- +goose Up
ALTER TABLE nodes ADD COLUMN url text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE nodes DROP COLUMN url;
