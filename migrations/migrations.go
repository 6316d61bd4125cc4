// Package migrations holds nvr's index schema as goose migration files,
// embedded into the binary so a fresh or old index (SQLite's index.db, or a
// PostgreSQL database) is brought up to date at start without any file next
// to the executable. There is one folder per SQL dialect: the SQLite files
// at the root, their PostgreSQL counterparts under postgres/, with the same
// numbers and names (TestDialectsInStep), so both backends always hold the
// same schema.
//
// It owns only the SQL text; applying it (goose, pragmas, connections) is the
// job of package storage.
package migrations

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

// FS holds every SQLite migration file (NNNNN_name.sql, goose format) at
// its root.
//
//go:embed *.sql
var FS embed.FS

//go:embed postgres/*.sql
var postgres embed.FS

// PostgresFS holds the PostgreSQL migrations, the same numbers and names
// as FS, at its root.
var PostgresFS = mustSub(postgres, "postgres")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // dir is a constant embedded above
	}
	return sub
}

// Digest names the SQLite schema: a hash of every file of FS, so a data dir
// built for benchmarks is named after the schema it was built with.
func Digest() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(FS, p)
		h.Write([]byte(p))
		h.Write(data)
		return err
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
