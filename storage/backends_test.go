package storage

import (
	"os"
	"testing"

	"github.com/nvr-project/nvr/internal/pgtest"
	"github.com/nvr-project/nvr/internal/s3test"
)

// The storage suite runs against every index backend: a test that takes a
// Backend runs once per entry of Backends, as a subtest named after it.

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	s3test.Cleanup()
	os.Exit(code)
}

// Backend is one index implementation the suite runs against. (Exported so
// the package's external tests, package storage_test, use it too.)
type Backend struct {
	Name string
	// Postgres says whether Options selects a PostgreSQL index.
	Postgres bool
}

// Backends lists the index implementations.
var Backends = []Backend{{Name: "sqlite"}, {Name: "postgres", Postgres: true}}

// Options returns Options selecting b's index. Each call gives a new, empty
// index for PostgreSQL (a schema of its own, dropped when t ends); reuse the
// value to reopen the same index. SQLite's index lives in the data dir, so
// there a new data dir is a new index.
func (b Backend) Options(t testing.TB) Options {
	t.Helper()
	if !b.Postgres {
		return Options{}
	}
	return Options{Postgres: pgtest.URL(t)}
}

// EachBackend runs fn as a subtest for every backend.
func EachBackend(t *testing.T, fn func(t *testing.T, be Backend)) {
	for _, be := range Backends {
		t.Run(be.Name, func(t *testing.T) { fn(t, be) })
	}
}
