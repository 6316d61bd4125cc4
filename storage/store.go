package storage

import (
	"github.com/nvr-project/nvr/storage/objstore"

	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/nvr-project/nvr/clock"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrNotFound: no such segment (or no such row in the state asked for).
	ErrNotFound = errors.New("storage: not found")
	// ErrInvalid: an argument is out of its domain (bad camera id, empty
	// range, malformed cursor, impossible segment times).
	ErrInvalid = errors.New("storage: invalid argument")
	// ErrNotDataDir: DATA_DIR does not look like an nvr data directory, so
	// nvr refuses to write there (RELIABILITY F6: unmounted disk).
	ErrNotDataDir = errors.New("storage: not an nvr data directory")
	// ErrUnsafePath: a stored path would leave the recordings directory
	// (RELIABILITY S1).
	ErrUnsafePath = errors.New("storage: unsafe segment path")
	// ErrRecording: the segment is still being recorded and may not be
	// deleted.
	ErrRecording = errors.New("storage: segment is recording")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("storage: store closed")
)

// Segment states as stored in segments.state.
const (
	StateRecording = "recording"
	StateComplete  = "complete"
	// StateDeleting marks a row whose file is being removed; such rows are
	// never returned by queries.
	StateDeleting = "deleting"
)

const (
	// MarkerName is the file whose presence says "this directory is an nvr
	// data directory" (RELIABILITY F6).
	MarkerName = ".nvr-data"
	// DBName is the SQLite index inside DATA_DIR (when the index is not in
	// PostgreSQL).
	DBName = "index.db"
	// RecordingsDirName holds the segment files inside DATA_DIR.
	RecordingsDirName = "recordings"

	// MaxSegmentDuration is the longest segment: it bounds end-start of
	// every row. The overlap query relies on it and the schema's CHECK
	// repeats it (7200e9 ns), so changing it takes a migration.
	MaxSegmentDuration = 2 * time.Hour

	// MaxSegmentTarget is the longest segment length a recorder may be
	// configured with (segment_duration). A segment closes only at the
	// first keyframe after its target and its wall length is slewed by up
	// to 0.5 %, so a segment is longer than its target: half of
	// MaxSegmentDuration leaves an hour for a long GOP before a row would
	// break the bound above. Longer segments would also lose more when a
	// disk fails and make exports read more than they send.
	MaxSegmentTarget = MaxSegmentDuration / 2

	// busyTimeout is how long SQLite waits on a lock held by another process
	// (an offline `nvr export`, the sqlite3 shell) before SQLITE_BUSY.
	busyTimeout = 10 * time.Second
	// readPoolSize caps concurrent read connections; extra readers wait for
	// a connection (bounded by their context) instead of opening more files.
	readPoolSize = 16
	// markerMaxBytes bounds the read of the marker file (it is a few lines).
	markerMaxBytes = 4096
)

// Options adjusts a Store for tests and special deployments. The zero value
// is the production behaviour.
type Options struct {
	// Clock gives the current time (default clock.System()).
	Clock clock.Clock
	// FreeSpace returns the bytes available to nvr on the filesystem holding
	// path (default: statfs). Tests inject a fake to simulate a full disk.
	FreeSpace func(path string) (int64, error)
	// RequireMarker refuses to initialise a fresh data directory: Open fails
	// unless DATA_DIR already carries the marker. Use it once the data
	// directory exists, so an empty mount point is never written to.
	RequireMarker bool
	// Postgres, if set, is the URL of the PostgreSQL database holding the
	// index (postgres://user:password@host:port/db?param=value, as libpq
	// takes it) instead of DATA_DIR/index.db. The segment files stay in
	// DATA_DIR either way.
	Postgres string
	// Objects, if set, is the bucket finished segments are uploaded to
	// (Store.UploadPending); nil keeps every segment on the local disk.
	Objects *objstore.Client
	// Node names this nvr among several sharing one PostgreSQL index
	// (config's node). With it the index records one data directory per
	// node, every segment row carries the node, and recovery and retention
	// touch only the node's own rows (the other nodes' files are on their
	// disks). Empty: the whole index is this data directory's.
	Node string
	// NodeURL is where the other nodes reach this node's API (config's
	// advertise_url), kept with its heartbeat.
	NodeURL string
	// Peer, if set, reads a segment that is still on another node's disk
	// from that node's API at base (its NodeURL): OpenSegment uses it
	// (storage/peer has the client). Nil: such a segment cannot be read
	// here (ErrOtherNode).
	Peer func(ctx context.Context, base string, seg Segment) (SegmentReader, error)
}

// Store is the index and the recordings directory of one DATA_DIR. It is safe
// for concurrent use.
type Store struct {
	dataDir string
	recDir  string
	root    *os.Root // the recordings dir: every file access goes through it
	idx     index    // where the rows live (SQLite or PostgreSQL)
	w       *sql.DB  // all writes (SQLite: one connection, BEGIN IMMEDIATE)
	r       *sql.DB  // read-only pool
	now     func() time.Time
	free    func(string) (int64, error)
	// fsync syncs a segment file; tests replace it to inject EIO (F7).
	fsync func(*os.File) error
	// dirSync syncs a directory under root; tests count or fail it.
	dirSync func(root *os.Root, dir string) error
	// objects is the bucket (nil: local disk only).
	objects *objstore.Client
	// uploadStep, if set, is called after each step of an upload and may
	// stop it there; crash tests use it.
	uploadStep func(step string) error
	// node is Options.Node: written in each segment row, and the scope
	// of recovery and retention.
	node string
	// nodeURL and peer are Options.NodeURL and Options.Peer.
	nodeURL string
	peer    func(ctx context.Context, base string, seg Segment) (SegmentReader, error)

	// group gathers SQLite's writes into shared transactions (inTx).
	group groupCommit

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating on first use) the data directory: the recordings
// directory, the marker, index.db with its pragmas, and the schema migrations.
// (OpenWithOptions with Options.Postgres keeps the index in PostgreSQL.)
// It does not run recovery; call Recover before recording starts.
func Open(ctx context.Context, dataDir string) (*Store, error) {
	return OpenWithOptions(ctx, dataDir, Options{})
}

// OpenWithOptions is Open with test and deployment options.
func OpenWithOptions(ctx context.Context, dataDir string, o Options) (*Store, error) {
	if o.Clock == nil {
		o.Clock = clock.System()
	}
	if o.FreeSpace == nil {
		o.FreeSpace = statfsFree
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("storage: data dir %q: %w", dataDir, err)
	}
	markerID, err := prepareDataDir(abs, o.RequireMarker)
	if err != nil {
		return nil, err
	}
	s := &Store{
		dataDir: abs,
		recDir:  filepath.Join(abs, RecordingsDirName),
		now:     o.Clock.Now,
		free:    o.FreeSpace,
		fsync:   (*os.File).Sync,
		dirSync: syncRootDir,
		objects: o.Objects,
		node:    o.Node,
		nodeURL: o.NodeURL,
		peer:    o.Peer,
	}
	if err := os.Mkdir(s.recDir, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("storage: create recordings dir: %w", err)
	}
	if s.root, err = os.OpenRoot(s.recDir); err != nil {
		return nil, fmt.Errorf("storage: open recordings dir: %w", err)
	}
	if o.Postgres != "" {
		s.idx = &postgresIndex{url: o.Postgres}
	} else {
		s.idx = &sqliteIndex{path: filepath.Join(abs, DBName)}
	}
	if s.w, s.r, err = s.idx.open(ctx); err != nil {
		s.closeAll()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.closeAll()
		return nil, err
	}
	if err := s.checkDataDirID(ctx, markerID); err != nil {
		s.closeAll()
		return nil, err
	}
	if err := s.r.PingContext(ctx); err != nil {
		s.closeAll()
		return nil, fmt.Errorf("storage: open index readers %s: %w", s.idx, err)
	}
	// Without space for it now, the next deletion writes it.
	_ = s.ensureReserve()
	return s, nil
}

// migrate applies the index's embedded goose migrations.
func (s *Store) migrate(ctx context.Context) error {
	dialect, fsys, opts, err := s.idx.migrations()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(dialect, s.w, fsys, opts...)
	if err != nil {
		return fmt.Errorf("storage: load migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("storage: apply migrations: %w", err)
	}
	return nil
}

// prepareDataDir applies the data-directory rules of docs/storage.md
// (RELIABILITY F6) and returns the id stored in the marker:
//
//   - DATA_DIR missing: created (its parent must exist), then initialised;
//   - DATA_DIR empty: initialised (marker written) unless requireMarker;
//   - marker present: used as is;
//   - anything else (files but no marker, e.g. an index.db or recordings/
//     without the marker): refused with ErrNotDataDir.
func prepareDataDir(dir string, requireMarker bool) (string, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if requireMarker {
			return "", fmt.Errorf("%w: %s does not exist (is the disk mounted?)", ErrNotDataDir, dir)
		}
		if err := os.Mkdir(dir, 0o750); err != nil {
			return "", fmt.Errorf("storage: create data dir: %w", err)
		}
	case err != nil:
		return "", fmt.Errorf("storage: data dir: %w", err)
	case !fi.IsDir():
		return "", fmt.Errorf("%w: %s is not a directory", ErrNotDataDir, dir)
	}
	marker := filepath.Join(dir, MarkerName)
	id, err := readMarker(marker)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("storage: data dir: %w", err)
	}
	if len(entries) > 0 {
		return "", fmt.Errorf("%w: %s has files but no %s marker (wrong directory, or the disk holding it is not mounted); refusing to write there",
			ErrNotDataDir, dir, MarkerName)
	}
	if requireMarker {
		return "", fmt.Errorf("%w: %s is empty and has no %s marker (is the disk mounted?)", ErrNotDataDir, dir, MarkerName)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("storage: marker id: %w", err)
	}
	id = hex.EncodeToString(b[:])
	if err := writeFileSynced(marker, []byte("nvr data directory\nid: "+id+"\n")); err != nil {
		return "", fmt.Errorf("storage: write marker: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("storage: write marker: %w", err)
	}
	return id, nil
}

// readMarker returns the id in the marker file.
func readMarker(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("storage: read marker: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, markerMaxBytes))
	if err != nil {
		return "", fmt.Errorf("storage: read marker: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "id: "); ok && v != "" {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%w: marker %s has no id line", ErrNotDataDir, path)
}

// checkDataDirID ties the index to the marker: an index.db copied from
// another data directory, a marker from another disk, or a PostgreSQL
// database that already indexes another data directory is refused. The
// first Open records the id; the insert and the comparison are one rule for
// both backends, and two processes racing to record theirs cannot both win.
//
// With a node name, the id is the node's (key data_dir_id/<node>): each
// node of a shared index has its own data directory.
func (s *Store) checkDataDirID(ctx context.Context, markerID string) error {
	key := "data_dir_id"
	if s.node != "" {
		key += "/" + s.node
		if err := s.adoptLegacyRows(ctx, markerID); err != nil {
			return err
		}
	}
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`), key, markerID); err != nil {
		return fmt.Errorf("storage: record data dir id: %w", err)
	}
	var dbID string
	if err := s.w.QueryRowContext(ctx, s.q(`SELECT value FROM meta WHERE key = ?`), key).Scan(&dbID); err != nil {
		return fmt.Errorf("storage: read data dir id: %w", err)
	}
	if dbID != markerID {
		return fmt.Errorf("%w: index %s belongs to data dir %s but the marker says %s", ErrNotDataDir, s.idx, dbID, markerID)
	}
	return nil
}

// adoptLegacyRows: an index written before rows carried a node (one data
// directory per database, key data_dir_id) becomes the node's whose data
// directory it is: its rows get the node's name, so that recovery and
// retention scoped to the node still see them. One transaction.
func (s *Store) adoptLegacyRows(ctx context.Context, markerID string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: adopt rows: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(`DELETE FROM meta WHERE key = 'data_dir_id' AND value = ?`), markerID)
	if err != nil {
		return fmt.Errorf("storage: adopt rows: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err // not this data dir's index (or none): nothing to adopt
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`), "data_dir_id/"+s.node, markerID); err != nil {
		return fmt.Errorf("storage: adopt rows: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE segments SET node = ? WHERE node = ''`), s.node); err != nil {
		return fmt.Errorf("storage: adopt rows: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: adopt rows: %w", err)
	}
	return nil
}

// q adapts a query written with '?' placeholders to the index's engine.
func (s *Store) q(query string) string { return s.idx.rebind(query) }

// Close closes the database connections and the recordings root. Open files
// returned earlier stay valid.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.closeAll() })
	return s.closeErr
}

func (s *Store) closeAll() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if s.root != nil {
		errs = append(errs, s.root.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// Ping checks that the index answers a query (for /healthz).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("storage: ping: %w", err)
	}
	return nil
}

// RecordingsDir returns the absolute path of DATA_DIR/recordings.
func (s *Store) RecordingsDir() string { return s.recDir }

// DataDir returns the absolute path of DATA_DIR.
func (s *Store) DataDir() string { return s.dataDir }

// EnsureCamera creates the camera row or updates its name. The id must pass
// ValidCameraID: it becomes a folder name.
func (s *Store) EnsureCamera(ctx context.Context, id, name string) error {
	if err := ValidCameraID(id); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO cameras (id, name, created_ns) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name`), id, name, s.now().UnixNano())
	if err != nil {
		return fmt.Errorf("storage: ensure camera %s: %w", id, err)
	}
	return nil
}

// Cameras returns the ids of all cameras in the index, sorted.
func (s *Store) Cameras(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM cameras ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("storage: cameras: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("storage: cameras: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: cameras: %w", err)
	}
	return ids, nil
}

// MaxCameraIDLen bounds a camera id: it is a folder name and appears in
// file names and URLs.
const MaxCameraIDLen = 64

// ValidCameraID is the camera-id rule, the one every package applies (the
// config file, the recorder, the index and the API): 1 to MaxCameraIDLen
// characters from [a-z0-9_-], because the id names the camera's folder
// under recordings/ and appears in file names and URLs. The schema's CHECK
// on cameras.id states the same rule as the database's own guard.
func ValidCameraID(id string) error {
	if len(id) == 0 || len(id) > MaxCameraIDLen {
		return fmt.Errorf("%w: camera id must be 1 to %d characters", ErrInvalid, MaxCameraIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: camera id %q: only a-z, 0-9, '_' and '-' allowed", ErrInvalid, id)
		}
	}
	return nil
}
