// Package storage owns nvr's SQLite index and the files on disk.
package storage

// CONTRACT STUB: the agreed declarations with placeholder bodies. The storage
// helper replaces this file with the real implementation (same signatures).

import (
	"context"
	"errors"
	"os"
	"time"
)

var ErrNotFound = errors.New("not found")

const (
	StateRecording = "recording"
	StateComplete  = "complete"
)

type Segment struct {
	ID                int64
	Camera            string
	StartNS, EndNS    int64
	Path              string
	Bytes             int64
	Frames, Keyframes int64
	Codec             string
	Width, Height     int
	State             string
}

type Span struct{ StartNS, EndNS int64 }

type CameraStats struct {
	Segments, Bytes int64
	FirstNS, LastNS int64
}

type Store struct{}

func Open(ctx context.Context, dataDir string) (*Store, error) { return nil, errors.New("todo") }
func (s *Store) Close() error                                  { return nil }
func (s *Store) Ping(ctx context.Context) error                { return nil }
func (s *Store) RecordingsDir() string                         { return "" }
func (s *Store) EnsureCamera(ctx context.Context, id, name string) error {
	return errors.New("todo")
}
func SegmentPath(camera string, t time.Time) string { return "" }
func (s *Store) CreateSegment(ctx context.Context, seg Segment) (int64, *os.File, error) {
	return 0, nil, errors.New("todo")
}
func (s *Store) UpdateSegment(ctx context.Context, seg Segment) error { return errors.New("todo") }
func (s *Store) FinishSegment(ctx context.Context, seg Segment) error { return errors.New("todo") }
func (s *Store) Segment(ctx context.Context, id int64) (Segment, error) {
	return Segment{}, errors.New("todo")
}
func (s *Store) OpenSegmentFile(seg Segment) (*os.File, error) { return nil, errors.New("todo") }
func (s *Store) ListSegments(ctx context.Context, camera string, startNS, endNS int64, limit int, cursor string) ([]Segment, string, error) {
	return nil, "", errors.New("todo")
}
func (s *Store) Timeline(ctx context.Context, camera string, startNS, endNS int64) ([]Span, error) {
	return nil, errors.New("todo")
}
func (s *Store) CameraStats(ctx context.Context, camera string) (CameraStats, error) {
	return CameraStats{}, errors.New("todo")
}
func (s *Store) Cameras(ctx context.Context) ([]string, error) { return nil, errors.New("todo") }
