package storage

import (
	"context"
	"database/sql"
	"io/fs"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
)

// index is the database half of a Store: where the rows live. There are two
// implementations, sqliteIndex (index.db in DATA_DIR, the default) and
// postgresIndex (a PostgreSQL database named by Options.Postgres). The
// segment-file half (os.Root, the durability order, recovery of files,
// retention) is the Store's own and the same for both.
//
// The queries themselves are standard SQL that both engines run, written
// once in the Store's methods with '?' placeholders; an index owns what
// differs: its connections and their settings, its migrations, the
// placeholder style, how it hands out segment ids and how its errors are
// classified. (docs/storage.md, "Index backends".)
type index interface {
	// open connects and returns the pool that writes and the pool that
	// reads (read-only where the engine can enforce it).
	open(ctx context.Context) (w, r *sql.DB, err error)
	// migrations are the goose dialect, the migration files and the
	// provider options (a lock, where several processes may migrate).
	migrations() (goose.Dialect, fs.FS, []goose.ProviderOption, error)
	// rebind turns the '?' placeholders of q into the engine's style.
	rebind(q string) string
	// nextSegmentID is a statement run inside the insert's transaction
	// that returns a new, never reused segment id.
	nextSegmentID() string
	// isConstraint reports whether err is a violated constraint (a CHECK,
	// NOT NULL, foreign or unique key): bad input, not a broken database.
	isConstraint(err error) bool
	// isPathTaken reports whether err is the unique key on segments.path.
	isPathTaken(err error) bool
	// inDataDir reports whether the index's files share DATA_DIR's
	// filesystem, so that a full disk stops its commits too and it needs
	// the reserve (reserve.go).
	inDataDir() bool
	// String names the index for errors and logs, without credentials.
	String() string
}

// dollarPlaceholders rewrites the '?' placeholders of q as $1, $2, …
// (PostgreSQL's style). nvr's queries hold no '?' inside string literals or
// identifiers, so every '?' is a placeholder.
func dollarPlaceholders(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' {
			b.WriteByte(q[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}
