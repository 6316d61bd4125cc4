package fleet

import (
	"io"

	"github.com/nvr-project/nvr/recorder/video"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/ticks"
)

// recoverSegment adapts fmp4.Scan to the index's recovery (which cuts the
// file back to what it finds).
func recoverSegment(r io.ReaderAt, size int64) (storage.RecoveredFile, error) {
	info, err := fmp4.Scan(r, size)
	if err != nil {
		return storage.RecoveredFile{}, err
	}
	rf := storage.RecoveredFile{
		Bytes:       info.ValidSize,
		Frames:      int64(len(info.Samples)),
		Keyframes:   int64(info.Keyframes),
		Duration90k: ticks.FromTimescale(info.Duration, info.Timescale),
		Width:       info.Params.Width,
		Height:      info.Params.Height,
	}
	// The codec string from the parsed SPS, as the recorder writes it
	// (recorder/h264 explains why not from the raw bytes).
	if p, err := video.ParseParams(info.Params.VPS, info.Params.SPS, info.Params.PPS); err == nil {
		rf.Codecs = p.Codec
	}
	return rf, nil
}
