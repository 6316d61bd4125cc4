// Package fmp4 writes and reads nvr's fragmented MP4 segments.
package fmp4

// CONTRACT STUB: the agreed declarations with placeholder bodies. The fmp4
// helper replaces this file with the real implementation (same signatures).

import (
	"errors"
	"io"
)

type TrackParams struct {
	SPS, PPS      []byte
	Width, Height int
}

type Sample struct {
	NALUs    [][]byte
	DTS, PTS int64
	Keyframe bool
}

type WriterOptions struct {
	FragmentDuration int64
}

type WriterStats struct {
	Bytes             int64
	Frames, Keyframes int64
	FirstDTS, EndDTS  int64
	Fragments         int64
}

type Writer struct{}

func NewWriter(w io.Writer, p TrackParams, opts WriterOptions) (*Writer, error) {
	return nil, errors.New("todo")
}
func (w *Writer) WriteSample(s Sample) error { return errors.New("todo") }
func (w *Writer) Flush() error               { return errors.New("todo") }
func (w *Writer) Close(endDTS int64) error   { return errors.New("todo") }
func (w *Writer) Stats() WriterStats         { return WriterStats{} }

type SampleInfo struct {
	Offset   int64
	Size     uint32
	DTS      int64
	Duration uint32
	CTO      int32
	Keyframe bool
}

type SegmentInfo struct {
	Params    TrackParams
	Timescale uint32
	Samples   []SampleInfo
	Duration  int64
	ValidSize int64
	Fragments int
	Keyframes int
}

func Scan(r io.ReaderAt, size int64) (*SegmentInfo, error) { return nil, errors.New("todo") }
func Recover(path string) (*SegmentInfo, error)            { return nil, errors.New("todo") }
