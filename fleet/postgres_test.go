package fleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/internal/pgtest"
	"github.com/nvr-project/nvr/internal/s3test"
	"github.com/nvr-project/nvr/internal/segcheck"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	s3test.Cleanup()
	os.Exit(code)
}

// TestRecordsOnPostgres: with index.postgres the fleet records a camera as
// with SQLite: its segments are in the PostgreSQL index, complete, and
// match their files in data_dir (no index.db is made); a reload that
// changes the index is refused.
func TestRecordsOnPostgres(t *testing.T) {
	pg := pgtest.URL(t)
	cam := startCam(t, testcam.Options{Clip: testcam.ClipBase240})
	dir := filepath.Join(t.TempDir(), "data")
	yml := fmt.Sprintf("data_dir: %s\nsegment_duration: 1s\nnode: node-a\nindex:\n  postgres: %q\ncameras:\n  - id: shop\n    url: %s\n", dir, pg, cam.URL())
	cfg, err := config.Parse([]byte(yml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	svc, err := Open(ctx, cfg, Options{Logger: discardLog(), InitData: true})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		st, err := svc.Store().CameraStats(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if st.Segments >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d segments after 15 s", st.Segments)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sqlite := *cfg
	sqlite.Index = config.Index{}
	if err := svc.Apply(ctx, &sqlite); err == nil {
		t.Error("a reload moving the index to SQLite was applied")
	}
	if err := svc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, storage.DBName)); err == nil {
		t.Errorf("%s made although the index is on PostgreSQL", storage.DBName)
	}
	segs := segcheck.IndexWith(t, dir, storage.Options{Postgres: pg}, "shop")
	if len(segs) < 3 {
		t.Fatalf("%d segments indexed", len(segs))
	}
}
