-- A node's API address (postgres/00007_node_url.sql, whose comment
-- describes it); kept so that both dialects hold the same schema.

-- +goose Up
ALTER TABLE nodes ADD COLUMN url TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE nodes DROP COLUMN url;
