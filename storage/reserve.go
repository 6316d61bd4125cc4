package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mattn/go-sqlite3"
)

// ReserveName is a file in DATA_DIR that holds reserveSize bytes of the
// filesystem for the index. When the disk is full (RELIABILITY F5), freeing
// space needs an index commit first (rows are marked deleting before their
// files go), and SQLite needs room for it: WAL frames, and pages when a
// checkpoint grows index.db. Without the reserve a full disk can lock
// retention out for good. A deletion that fails for lack of space removes
// the reserve and tries again; the reserve is written back once the
// deletion has freed space. With the index on PostgreSQL there is no
// reserve: the server commits on its own disk.
const ReserveName = "index.reserve"

// reserveSize is far more than one retention commit needs (a page or two
// per row, and a few hundred rows at most).
const reserveSize = 4 << 20

// ensureReserve writes the reserve if it is missing or short. Best effort:
// without space it leaves no partial file and says why.
func (s *Store) ensureReserve() error {
	if !s.idx.inDataDir() {
		return nil // PostgreSQL: nothing to reserve on this disk
	}
	p := filepath.Join(s.dataDir, ReserveName)
	if fi, err := os.Stat(p); err == nil && fi.Size() >= reserveSize {
		return nil
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("storage: index reserve: %w", err)
	}
	// Zeros written, not a sparse file or a hole: the blocks must be taken.
	zeros := make([]byte, 256<<10)
	for n := 0; n < reserveSize && err == nil; n += len(zeros) {
		_, err = f.Write(zeros)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p)
		return fmt.Errorf("storage: index reserve: %w", err)
	}
	return nil
}

// releaseReserve removes the reserve and reports whether there was one.
func (s *Store) releaseReserve() bool {
	return os.Remove(filepath.Join(s.dataDir, ReserveName)) == nil
}

// IsFull reports whether err is the filesystem being full, as SQLite
// ("database or disk is full") or the kernel (ENOSPC, EDQUOT) says it: the
// one test of it, used by the fleet's ErrDiskFull too.
func IsFull(err error) bool {
	var se sqlite3.Error
	return (errors.As(err, &se) && se.Code == sqlite3.ErrFull) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
