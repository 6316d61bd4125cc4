package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
)

const (
	// indexWindow widens the query around the run: segments start after
	// the run started, and end (wall clock, slewed) near its end.
	indexWindow = time.Hour

	// maxRSSKiB bounds a VmRSS value (1 PiB): anything larger is a
	// misread line, and the shift to bytes must not overflow.
	maxRSSKiB = 1 << 40

	// maxErrorsPerRun bounds the problems verifyIndex lists, so a broken
	// run of 1000 cameras gives a readable report.
	maxErrorsPerRun = 20
)

// verifyIndex reads every camera's segments from the index after the run,
// fills Segments and IndexFrames, and checks each segment: state complete,
// the file passes fmp4.Scan with as many samples as the row's frames, the
// first sample is a keyframe, the file holds nothing after its last
// complete fragment, and consecutive segments of a run abut.
func verifyIndex(ctx context.Context, store *storage.Store, cams []Camera, runStart time.Time) error {
	var errs []error
	fail := func(format string, args ...any) {
		if len(errs) < maxErrorsPerRun {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	from := runStart.Add(-indexWindow).UnixNano()
	to := time.Now().Add(indexWindow).UnixNano()
	for i := range cams {
		c := &cams[i]
		var segs []storage.Segment
		cursor := ""
		for {
			page, next, err := store.ListSegments(ctx, c.ID, from, to, storage.MaxListLimit, cursor)
			if err != nil {
				return fmt.Errorf("loadtest: %s: %w", c.ID, err)
			}
			segs = append(segs, page...)
			if next == "" {
				break
			}
			cursor = next
		}
		c.Segments = len(segs)
		for k, seg := range segs {
			c.IndexFrames += uint64(seg.Frames)
			if seg.State != storage.StateComplete {
				fail("%s: segment %s is %s, not complete", c.ID, seg.Path, seg.State)
			}
			if k > 0 && segs[k-1].RunID == seg.RunID && seg.RunID != 0 && segs[k-1].EndNS != seg.StartNS {
				fail("%s: segment %s starts at %d, the previous one of its run ended at %d", c.ID, seg.Path, seg.StartNS, segs[k-1].EndNS)
			}
			if err := scanSegment(store, seg); err != nil {
				fail("%s: %w", c.ID, err)
			}
		}
		if c.IndexFrames != c.FramesWritten {
			fail("%s: the index holds %d frames, the job wrote %d", c.ID, c.IndexFrames, c.FramesWritten)
		}
	}
	return errors.Join(errs...)
}

// scanSegment checks one segment file against its row with fmp4.Scan.
func scanSegment(store *storage.Store, seg storage.Segment) error {
	f, err := store.OpenSegmentFile(seg)
	if err != nil {
		return fmt.Errorf("open %s: %w", seg.Path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", seg.Path, err)
	}
	info, err := fmp4.Scan(f, fi.Size())
	if err != nil {
		return fmt.Errorf("scan %s: %w", seg.Path, err)
	}
	switch {
	case int64(len(info.Samples)) != seg.Frames:
		return fmt.Errorf("%s: %d samples in the file, %d frames in the index", seg.Path, len(info.Samples), seg.Frames)
	case int64(info.Keyframes) != seg.Keyframes:
		return fmt.Errorf("%s: %d keyframes in the file, %d in the index", seg.Path, info.Keyframes, seg.Keyframes)
	case len(info.Samples) == 0 || !info.Samples[0].Keyframe:
		return fmt.Errorf("%s: does not start with a keyframe", seg.Path)
	case info.ValidSize != fi.Size() || fi.Size() != seg.Bytes:
		return fmt.Errorf("%s: %d bytes on disk, %d complete, %d in the index", seg.Path, fi.Size(), info.ValidSize, seg.Bytes)
	}
	return nil
}

// parseVmRSS returns the VmRSS line of /proc/self/status in bytes.
func parseVmRSS(status []byte) (uint64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("loadtest: malformed VmRSS line %q", bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || kb > maxRSSKiB {
			return 0, fmt.Errorf("loadtest: malformed VmRSS value %q", f[0])
		}
		return kb << 10, nil
	}
	return 0, errors.New("loadtest: no VmRSS line")
}

// firstFields returns the first n space-separated fields of s.
func firstFields(s string, n int) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(n, len(f))], " ")
}
