-- Camera leases for several nodes on one PostgreSQL index (issue 13;
-- docs/scale-out.md, "Several nodes").

-- +goose Up

-- One row per camera: the node recording it, until when (the server's
-- clock, so nodes' clocks never matter), and the fencing token, which goes
-- up by one on every take. Every segment write carries the token it was
-- started under and is refused once the row says otherwise.
CREATE TABLE leases (
	camera_id  text PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
	holder     text NOT NULL DEFAULT '',
	token      bigint NOT NULL DEFAULT 0,
	expires_at timestamptz NOT NULL DEFAULT '-infinity'
);

-- Nodes alive: each renews its row with its leases; the fair share of
-- cameras is counted over the rows not yet expired.
CREATE TABLE nodes (
	name       text PRIMARY KEY,
	seen_until timestamptz NOT NULL
);

-- The node whose data dir holds a segment's file: recovery and retention
-- of a node touch only its own rows. '' for rows written before.
ALTER TABLE segments ADD COLUMN node text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE segments DROP COLUMN node;
DROP TABLE nodes;
DROP TABLE leases;
