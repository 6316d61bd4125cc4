// Package testdisk gives tests a small filesystem of their own, to fill.
package testdisk

import (
	"os"
	"os/exec"
	"testing"
)

// Small mounts a tmpfs of the given size (mount's syntax: "6m") on a new
// temporary directory and returns it; it is unmounted when the test ends.
// Mounting needs root: without it the test skips on a developer machine
// and fails in CI.
func Small(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mounting a tmpfs (needed in CI): %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}
