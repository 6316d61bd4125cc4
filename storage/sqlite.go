package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/mattn/go-sqlite3"
	"github.com/pressly/goose/v3"

	"github.com/nvr-project/nvr/migrations"
)

// sqliteIndex is the index in DATA_DIR/index.db: the default, which needs
// no server.
type sqliteIndex struct {
	path string // absolute path of index.db
}

// dsn builds the SQLite connection string. All pragmas live here.
//
//   - journal_mode=WAL: readers never block the writer nor each other, so
//     listings and exports run during recording.
//   - synchronous=FULL: every commit is on disk before it returns. The
//     durability order (file synced, then row committed; row marked deleting,
//     then file unlinked) only holds across a power cut if commits are
//     durable; with NORMAL the last commits may roll back after the unlink.
//     The cost is one WAL fsync per commit, and nvr commits a few times per
//     camera per minute.
//   - busy_timeout: waits rather than failing when another process holds a
//     lock; inside this process there is only one writer connection.
//   - foreign_keys=ON: a segment cannot name an unknown camera.
//   - _txlock=immediate (writer): BEGIN IMMEDIATE takes the write lock at the
//     start, so a transaction never fails upgrading a read lock
//     (mattn/go-sqlite3#274, RELIABILITY F13).
//   - mode=ro (readers): a reader can never write by mistake.
//
// No cache=shared: it brings table-level locking and SQLITE_LOCKED errors.
func dsn(path string, write bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "on")
	if write {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_txlock", "immediate")
		q.Set("mode", "rwc")
	} else {
		q.Set("mode", "ro")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

func (x *sqliteIndex) open(ctx context.Context) (w, r *sql.DB, err error) {
	if w, err = sql.Open("sqlite3", dsn(x.path, true)); err != nil {
		return nil, nil, fmt.Errorf("storage: open index: %w", err)
	}
	// One writer connection: writes are serialised in Go, never by
	// SQLITE_BUSY. Kept open forever so the WAL and its -shm stay mapped.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("storage: open index %s: %w", x.path, err)
	}
	// The readers open only once the writer exists: mode=ro cannot create
	// the file.
	if r, err = sql.Open("sqlite3", dsn(x.path, false)); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("storage: open index readers: %w", err)
	}
	r.SetMaxOpenConns(readPoolSize)
	r.SetMaxIdleConns(readPoolSize)
	return w, r, nil
}

func (x *sqliteIndex) migrations() (goose.Dialect, fs.FS, []goose.ProviderOption, error) {
	return goose.DialectSQLite3, migrations.FS, nil, nil
}

// rebind: SQLite takes '?' as it is.
func (x *sqliteIndex) rebind(q string) string { return q }

// nextSegmentID: SQLite has no sequences; a counter row is bumped inside
// the insert's BEGIN IMMEDIATE transaction (the one writer connection
// serialises it anyway).
func (x *sqliteIndex) nextSegmentID() string {
	return `UPDATE counters SET value = value + 1 WHERE name = 'segment_id' RETURNING value`
}

func (x *sqliteIndex) isConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

func (x *sqliteIndex) isPathTaken(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique && strings.Contains(se.Error(), "segments.path")
}

func (x *sqliteIndex) inDataDir() bool { return true }

func (x *sqliteIndex) String() string { return x.path }
