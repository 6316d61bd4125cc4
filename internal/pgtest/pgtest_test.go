package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestURL: each URL is a schema of its own, empty, usable, and gone after
// its test.
func TestURL(t *testing.T) {
	ctx := context.Background()
	var first string
	t.Run("a", func(t *testing.T) {
		first = URL(t)
		c, err := pgx.Connect(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `CREATE TABLE x (a int); INSERT INTO x VALUES (1)`); err != nil {
			t.Fatal(err)
		}
	})
	u := URL(t)
	if u == first {
		t.Fatal("two tests got the same schema")
	}
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("new schema holds %d tables (%v)", n, err)
	}
	cfg, err := pgx.ParseConfig(first)
	if err != nil {
		t.Fatal(err)
	}
	var left int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`,
		cfg.RuntimeParams["search_path"]).Scan(&left); err != nil || left != 0 {
		t.Fatalf("the first test's schema is still there (%d, %v)", left, err)
	}
}
