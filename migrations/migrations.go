// Package migrations holds nvr's SQLite schema as goose migration files,
// embedded into the binary so a fresh or old index.db is brought up to date at
// start without any file next to the executable.
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

// FS holds every migration file (NNNNN_name.sql, goose format) at its root.
//
//go:embed *.sql
var FS embed.FS

// Digest names the schema: a hash of every migration file, so a data dir
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
