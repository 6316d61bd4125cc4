package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/nvr-project/nvr/internal/redact"
	"github.com/nvr-project/nvr/migrations"
)

const (
	// pgConnectTimeout bounds connecting to the server when the URL does
	// not say (connect_timeout): a server that is down fails Open instead
	// of hanging it.
	pgConnectTimeout = 10 * time.Second
	// pgStatementTimeout is the server-side bound of one statement when the
	// URL sets none: nvr's statements take milliseconds, so one still
	// running after this is stuck (a lock held by a forgotten session), and
	// failing it lets the recorder's error path run.
	pgStatementTimeout = "30s"
	// pgLockTimeout is the PostgreSQL counterpart of SQLite's busy_timeout.
	pgLockTimeout = "10s"
	// pgWritePoolSize caps the writing connections. Unlike SQLite's single
	// writer, PostgreSQL runs writes side by side under row locks, so a
	// slow retention batch does not hold up the cameras' commits.
	pgWritePoolSize = 4
)

// postgresIndex is the index in a PostgreSQL database, through pgx's
// database/sql driver (so the queries are the same code as SQLite's).
type postgresIndex struct {
	url string // as configured; never printed (String redacts it)
}

// pgConfig parses the URL and sets what the index relies on; readOnly
// makes every transaction of the connection read-only.
//
//   - synchronous_commit=on, always (not only when the URL omits it): a
//     commit is on the server's disk before it returns, which the
//     durability order needs, exactly like SQLite's synchronous=FULL. A
//     server configured with "off" for speed would otherwise lose the last
//     commits after a crash, after nvr already unlinked files.
//   - statement_timeout and lock_timeout, unless the URL sets them.
//   - application_name=nvr, unless set, so the server's views name us.
func (x *postgresIndex) pgConfig(readOnly bool) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(x.url)
	if err != nil {
		// pgx hides the password in its own message; redact anyway.
		return nil, fmt.Errorf("storage: index %s: %s", x, redact.Text(err.Error()))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	p := cfg.RuntimeParams
	p["synchronous_commit"] = "on"
	for k, v := range map[string]string{
		"statement_timeout": pgStatementTimeout,
		"lock_timeout":      pgLockTimeout,
		"application_name":  "nvr",
	} {
		if _, ok := p[k]; !ok {
			p[k] = v
		}
	}
	if readOnly {
		p["default_transaction_read_only"] = "on"
	}
	return cfg, nil
}

func (x *postgresIndex) open(ctx context.Context) (w, r *sql.DB, err error) {
	wc, err := x.pgConfig(false)
	if err != nil {
		return nil, nil, err
	}
	rc, err := x.pgConfig(true)
	if err != nil {
		return nil, nil, err
	}
	w = stdlib.OpenDB(*wc)
	w.SetMaxOpenConns(pgWritePoolSize)
	w.SetMaxIdleConns(pgWritePoolSize)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("storage: open index %s: %s", x, redact.Text(err.Error()))
	}
	r = stdlib.OpenDB(*rc)
	r.SetMaxOpenConns(readPoolSize)
	r.SetMaxIdleConns(readPoolSize)
	return w, r, nil
}

// CheckPostgres connects to the PostgreSQL index at url and pings it, for
// nvr check: it changes nothing (no migration, no row). The error names
// the index with its password redacted.
func CheckPostgres(ctx context.Context, url string) error {
	x := &postgresIndex{url: url}
	cfg, err := x.pgConfig(true)
	if err != nil {
		return err
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("storage: index %s: cannot connect: %s", x, redact.Text(err.Error()))
	}
	return nil
}

// migrations: goose takes a session advisory lock, so processes starting
// together against one database migrate it once.
func (x *postgresIndex) migrations() (goose.Dialect, fs.FS, []goose.ProviderOption, error) {
	l, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return "", nil, nil, fmt.Errorf("storage: migration lock: %w", err)
	}
	return goose.DialectPostgres, migrations.PostgresFS, []goose.ProviderOption{goose.WithSessionLocker(l)}, nil
}

func (x *postgresIndex) rebind(q string) string { return dollarPlaceholders(q) }

func (x *postgresIndex) nextSegmentID() string { return `SELECT nextval('segment_id')` }

// isConstraint: SQLSTATE class 23 is "integrity constraint violation".
func (x *postgresIndex) isConstraint(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && len(pe.Code) == 5 && pe.Code[:2] == "23"
}

func (x *postgresIndex) isPathTaken(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "segments_path_key"
}

// inDataDir: the server commits on its own disk; a full DATA_DIR does not
// stop the commits that free it.
func (x *postgresIndex) inDataDir() bool { return false }

func (x *postgresIndex) String() string { return redact.URL(x.url) }
