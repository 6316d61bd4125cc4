//go:build unix

package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A config path naming a FIFO, a directory or a device is refused at once:
// opening a FIFO would wait for a writer forever.
func TestLoadRefusesNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "nvr.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "is not a regular file (a named pipe)"},
		{dir, "is not a regular file (a directory)"},
		{"/dev/null", "is not a regular file (a device)"},
	} {
		done := make(chan error, 1)
		go func() { _, err := Load(tc.path); done <- err }()
		err := <-done // a hang here fails the test by its timeout
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nvr.yaml")
	_, err := Load(path)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path+" does not exist (name the file with -config)") {
		t.Errorf("Load(missing) = %v", err)
	}
}
