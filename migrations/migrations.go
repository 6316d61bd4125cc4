// Package migrations holds nvr's SQLite schema as goose migration files,
// embedded into the binary so a fresh or old index.db is brought up to date at
// start without any file next to the executable.
//
// It owns only the SQL text; applying it (goose, pragmas, connections) is the
// job of package storage.
package migrations

import "embed"

// FS holds every migration file (NNNNN_name.sql, goose format) at its root.
//
//go:embed *.sql
var FS embed.FS
