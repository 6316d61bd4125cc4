package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/storage"
)

const migrateHelp = `usage: nvr migrate-index -config nvr.yaml

Moves a single box's index from SQLite to PostgreSQL, so that the box
becomes a node of a shared index and keeps its footage. First stop nvr and
add index.postgres and node to the config; then this command copies the
cameras and every segment row (with its sample index) of DATA_DIR/index.db
into the database as that node's, in one transaction, and renames index.db
to index.db.migrated. The segment files stay where they are. It refuses
(and changes nothing) when segments are still recording (start nvr serve
once on the old config, or stop it cleanly) or when the database already
has footage of one of the cameras.`

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("migrate-index", migrateHelp, stdout, stderr)
	path := flags.String("config", "nvr.yaml", "config file (YAML) with index.postgres and node")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if cfg.Index.Postgres == "" {
		return fmt.Errorf("%s: set index.postgres (and node) to the database the index moves to", *path)
	}
	db := filepath.Join(cfg.DataDir, storage.DBName)
	if _, err := os.Stat(db); err != nil {
		return fmt.Errorf("no SQLite index to move: %w", err)
	}
	rep, err := migrateIndex(ctx, cfg)
	if err != nil {
		return err
	}
	// The SQLite files go out of the way, so that nothing reads the old
	// index by mistake; they stay for a while as a backup.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(db+suffix, db+".migrated"+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("the index was copied, but renaming %s: %w", db+suffix, err)
		}
	}
	fmt.Fprintf(stdout, "copied %d cameras and %d segments (%d bytes) into %s as node %s; %s is now %s.migrated\n",
		rep.Cameras, rep.Segments, rep.Bytes, cfg.Index, cfg.Node, db, db)
	return nil
}

// migrateIndex opens both indexes of cfg's data dir and copies the first
// into the second.
func migrateIndex(ctx context.Context, cfg *config.Config) (storage.CopyReport, error) {
	src, err := storage.OpenWithOptions(ctx, cfg.DataDir, storage.Options{RequireMarker: true})
	if err != nil {
		return storage.CopyReport{}, fmt.Errorf("opening the SQLite index: %w", err)
	}
	defer src.Close()
	dst, err := storage.OpenWithOptions(ctx, cfg.DataDir, storage.Options{RequireMarker: true, Postgres: cfg.Index.Postgres, Node: cfg.Node})
	if err != nil {
		return storage.CopyReport{}, fmt.Errorf("opening the PostgreSQL index: %w", err)
	}
	defer dst.Close()
	return src.CopyIndex(ctx, dst)
}
