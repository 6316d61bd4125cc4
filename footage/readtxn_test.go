package footage

import (
	"context"
	"database/sql"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
)

// checkpoint runs PRAGMA wal_checkpoint(TRUNCATE) on db and returns its
// busy flag (1: a reader's snapshot kept the WAL from being reset) and the
// WAL frames left.
func checkpoint(t *testing.T, db *sql.DB) (busy, logFrames int) {
	t.Helper()
	var done int
	if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
		t.Fatalf("wal_checkpoint: %v", err)
	}
	return busy, logFrames
}

// TestExportHoldsNoReadTransaction (RELIABILITY F14, long-export): while an
// export clip is open and half sent (a slow one-hour download), the
// recorder keeps committing and a checkpoint can still reset the WAL to
// zero: the exporter read its rows before serving and holds no read
// snapshot, so the WAL stays bounded. The control case opens a read
// transaction by hand and shows the same check catches one.
func TestExportHoldsNoReadTransaction(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := storage.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clip, err := testcam.LoadClip(testcam.ClipMain720)
	if err != nil {
		t.Fatal(err)
	}
	first := recordSegment(t, st, clip, t0, 0, 50, true)
	last := recordSegment(t, st, clip, t0.Add(2*time.Second), 50, 100, true)

	// An outside connection to the same index, as sqlite3(1) would open it;
	// a short busy timeout so a blocked checkpoint answers at once.
	q := url.Values{"_busy_timeout": {"50"}}
	dsn := "file:" + filepath.Join(dir, storage.DBName) + "?" + q.Encode()
	checker, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer checker.Close()
	checker.SetMaxOpenConns(1)

	walSize := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, storage.DBName+"-wal"))
		if err != nil {
			return 0
		}
		return fi.Size()
	}

	t.Run("control: an open read transaction blocks the checkpoint", func(t *testing.T) {
		reader, err := sql.Open("sqlite3", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()
		tx, err := reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM segments").Scan(&n); err != nil {
			t.Fatal(err)
		}
		// A commit after the reader's snapshot: the checkpoint cannot
		// pass the snapshot, so the WAL cannot be reset.
		recordSegment(t, st, clip, t0.Add(time.Hour), 0, 50, true)
		if busy, _ := checkpoint(t, checker); busy != 1 {
			t.Fatalf("checkpoint not blocked by an open read transaction: the check below proves nothing")
		}
		_ = tx.Rollback()
	})

	e := New(st, nil)
	c, err := e.Plan(ctx, "cam", first.StartNS, last.EndNS, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	half := c.Size() / 2
	if _, err := io.Copy(io.Discard, io.NewSectionReader(c, 0, half)); err != nil {
		t.Fatal(err)
	}

	// Mid-download: the recorder commits more segments.
	for i := range 5 {
		recordSegment(t, st, clip, t0.Add(2*time.Hour+time.Duration(i)*2*time.Second), 0, 50, true)
	}
	if walSize() == 0 {
		t.Fatal("no WAL written by the commits: the test checks nothing")
	}
	if busy, frames := checkpoint(t, checker); busy != 0 || frames != 0 {
		t.Fatalf("checkpoint during an export: busy=%d, %d WAL frames left: the export holds a read snapshot", busy, frames)
	}
	if n := walSize(); n != 0 {
		t.Errorf("WAL is %d bytes after a TRUNCATE checkpoint", n)
	}

	// The rest of the clip still reads.
	rest, err := io.Copy(io.Discard, io.NewSectionReader(c, half, c.Size()-half))
	if err != nil || rest != c.Size()-half {
		t.Fatalf("rest of the clip: %d bytes, %v", rest, err)
	}
}
