-- Camera leases (postgres/00005_leases.sql, whose comments describe them).
-- A single node on SQLite takes no lease; the tables exist so that both
-- dialects hold the same schema.

-- +goose Up

CREATE TABLE leases (
	camera_id  TEXT PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
	holder     TEXT NOT NULL DEFAULT '',
	token      INTEGER NOT NULL DEFAULT 0,
	expires_at TEXT NOT NULL DEFAULT ''
);

CREATE TABLE nodes (
	name       TEXT PRIMARY KEY,
	seen_until TEXT NOT NULL
);

ALTER TABLE segments ADD COLUMN node TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE segments DROP COLUMN node;
DROP TABLE nodes;
DROP TABLE leases;
