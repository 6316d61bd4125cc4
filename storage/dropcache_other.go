//go:build !linux

package storage

import "os"

// dropCache does nothing here: posix_fadvise is Linux's (see
// dropcache_linux.go).
func dropCache(*os.File, int64) {}
