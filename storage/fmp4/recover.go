package fmp4

import (
	"fmt"
	"os"
)

// Recover scans the segment file at path and, if its tail is torn (a crash
// mid-fragment, RELIABILITY F9/F11), truncates it to the last complete
// fragment. It syncs the file either way, so the returned info describes
// bytes that are on disk. It returns an error wrapping ErrNoInit or
// ErrMalformed when not even ftyp+moov are usable; the caller then deletes
// or quarantines the file.
func Recover(path string) (*SegmentInfo, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("fmp4: recover: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("fmp4: recover %s: %w", path, err)
	}
	info, err := Scan(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("fmp4: recover %s: %w", path, err)
	}
	if info.ValidSize < st.Size() {
		if err := f.Truncate(info.ValidSize); err != nil {
			return nil, fmt.Errorf("fmp4: recover %s: truncate to %d: %w", path, info.ValidSize, err)
		}
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("fmp4: recover %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("fmp4: recover %s: close: %w", path, err)
	}
	return info, nil
}
