package migrations

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestFiles: every embedded file is a goose migration with both directions,
// numbered without gaps from 1.
func TestFiles(t *testing.T) {
	names, err := fs.Glob(FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no migrations embedded: %v", err)
	}
	re := regexp.MustCompile(`^(\d{5})_[a-z0-9_]+\.sql$`)
	for i, name := range names {
		m := re.FindStringSubmatch(name)
		if m == nil {
			t.Errorf("%s: want NNNNN_name.sql", name)
			continue
		}
		if want := fmt.Sprintf("%05d", i+1); m[1] != want {
			t.Errorf("%s: expected number %s", name, want)
		}
		b, _ := fs.ReadFile(FS, name)
		if !strings.Contains(string(b), "-- +goose Up") || !strings.Contains(string(b), "-- +goose Down") {
			t.Errorf("%s: missing goose Up or Down section", name)
		}
	}
}

// TestDialectsInStep: every SQLite migration has its PostgreSQL counterpart
// with the same file name and the other way round, so a column added for
// one backend cannot be forgotten for the other.
func TestDialectsInStep(t *testing.T) {
	lite, err := fs.Glob(FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := fs.Glob(PostgresFS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(lite, " ") != strings.Join(pg, " ") {
		t.Fatalf("SQLite migrations %v, PostgreSQL migrations %v: want the same files", lite, pg)
	}
	for _, name := range pg {
		b, _ := fs.ReadFile(PostgresFS, name)
		if !strings.Contains(string(b), "-- +goose Up") || !strings.Contains(string(b), "-- +goose Down") {
			t.Errorf("postgres/%s: missing goose Up or Down section", name)
		}
	}
}
