package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
)

// TestDataDirMarker (RELIABILITY F6): nvr writes only into a directory it
// initialised itself, so an empty mount point or a wrong path is refused.
func TestDataDirMarker(t *testing.T) { EachBackend(t, testDataDirMarker) }

func testDataDirMarker(t *testing.T, be Backend) {
	ctx := context.Background()
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string, o Options) // dir does not exist yet
		require bool
		wantErr bool
	}{
		{"missing dir is created", func(t *testing.T, dir string, _ Options) {}, false, false},
		{"empty dir is initialised", func(t *testing.T, dir string, _ Options) { os.Mkdir(dir, 0o750) }, false, false},
		{"missing dir refused with RequireMarker", func(t *testing.T, dir string, _ Options) {}, true, true},
		{"empty dir refused with RequireMarker", func(t *testing.T, dir string, _ Options) { os.Mkdir(dir, 0o750) }, true, true},
		{"index.db without marker", func(t *testing.T, dir string, _ Options) {
			os.Mkdir(dir, 0o750)
			os.WriteFile(filepath.Join(dir, DBName), nil, 0o640)
		}, false, true},
		{"recordings without marker", func(t *testing.T, dir string, _ Options) {
			os.MkdirAll(filepath.Join(dir, RecordingsDirName, "cam"), 0o750)
		}, false, true},
		{"unrelated files", func(t *testing.T, dir string, _ Options) {
			os.Mkdir(dir, 0o750)
			os.WriteFile(filepath.Join(dir, "photo.jpg"), []byte("x"), 0o640)
		}, false, true},
		{"a file, not a dir", func(t *testing.T, dir string, _ Options) { os.WriteFile(dir, nil, 0o640) }, false, true},
		{"marker without id", func(t *testing.T, dir string, _ Options) {
			os.Mkdir(dir, 0o750)
			os.WriteFile(filepath.Join(dir, MarkerName), []byte("garbage"), 0o640)
		}, false, true},
		{"existing data dir with RequireMarker", func(t *testing.T, dir string, o Options) {
			s, err := OpenWithOptions(ctx, dir, o)
			must(t, err)
			s.Close()
		}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			o := be.Options(t)
			tc.setup(t, dir, o)
			o.RequireMarker = tc.require
			s, err := OpenWithOptions(ctx, dir, o)
			if tc.wantErr {
				if !errors.Is(err, ErrNotDataDir) {
					t.Fatalf("err = %v, want ErrNotDataDir", err)
				}
				if _, err := os.Stat(filepath.Join(dir, RecordingsDirName)); err == nil && tc.name != "recordings without marker" {
					t.Fatal("refused dir got a recordings dir anyway")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := os.Stat(filepath.Join(dir, MarkerName)); err != nil {
				t.Fatalf("no marker: %v", err)
			}
			if err := s.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDataDirMismatch: an index.db moved to another data dir (another disk)
// is refused rather than pointing at files that are not there.
func TestDataDirMismatch(t *testing.T) {
	ctx := context.Background()
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, d := range []string{a, b} {
		s, err := Open(ctx, d)
		must(t, err)
		must(t, s.Close())
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(b, DBName+suffix))
	}
	db, err := os.ReadFile(filepath.Join(a, DBName))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(b, DBName), db, 0o640))
	if _, err := Open(ctx, b); !errors.Is(err, ErrNotDataDir) {
		t.Fatalf("err = %v, want ErrNotDataDir", err)
	}
	// A lost index.db with the marker in place is rebuilt (recovery then
	// re-indexes the files).
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(b, DBName+suffix))
	}
	s, err := Open(ctx, b)
	must(t, err)
	must(t, s.Close())
}

// TestCloseLeavesNoGoroutines: Close ends everything Open started.
func TestCloseLeavesNoGoroutines(t *testing.T) { EachBackend(t, testCloseLeavesNoGoroutines) }

func testCloseLeavesNoGoroutines(t *testing.T, be Backend) {
	ctx := context.Background()
	before := runtime.NumGoroutine()
	for range 3 {
		s, err := OpenWithOptions(ctx, filepath.Join(t.TempDir(), "data"), be.Options(t))
		must(t, err)
		if _, _, err := s.ListSegments(ctx, "cam", 0, 1, 1, ""); err != nil {
			t.Fatal(err)
		}
		must(t, s.Close())
		must(t, s.Close()) // idempotent
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // database/sql goroutines exit asynchronously after Close
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
}

// TestMigrationsDownUp: the schema's Down section undoes Up exactly, so a
// later migration can be rolled back in an emergency.
func TestMigrationsDownUp(t *testing.T) { EachBackend(t, testMigrationsDownUp) }

func testMigrationsDownUp(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	dialect, fsys, opts, err := s.idx.migrations()
	must(t, err)
	p, err := goose.NewProvider(dialect, s.w, fsys, opts...)
	must(t, err)
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	// What is left of the schema besides goose's own table.
	objects := `SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'goose%' AND name NOT LIKE 'sqlite%'`
	if be.Postgres {
		objects = `SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relname NOT LIKE 'goose%')
			+ (SELECT count(*) FROM pg_proc WHERE pronamespace = current_schema()::regnamespace)`
	}
	var n int
	must(t, s.w.QueryRowContext(ctx, objects).Scan(&n))
	if n != 0 {
		t.Fatalf("%d schema objects left after down", n)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

// TestPragmas: the settings of docs/storage.md are in force on both
// connection kinds, and the read pool cannot write.
func TestPragmas(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, Backends[0])
	tests := []struct {
		pragma     string
		writer     string
		readerWant string // "" = not checked on readers
	}{
		{"journal_mode", "wal", "wal"},
		{"synchronous", "2", ""}, // FULL
		{"foreign_keys", "1", "1"},
		{"busy_timeout", "10000", "10000"},
	}
	for _, tc := range tests {
		var w, r string
		must(t, s.w.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&w))
		must(t, s.r.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&r))
		if w != tc.writer || (tc.readerWant != "" && r != tc.readerWant) {
			t.Errorf("%s: writer %q reader %q, want %q / %q", tc.pragma, w, r, tc.writer, tc.readerWant)
		}
	}
	if _, err := s.r.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('x', 'y')`); err == nil {
		t.Error("read pool accepted a write")
	}
}
