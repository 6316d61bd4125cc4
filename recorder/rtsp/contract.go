// Package rtsp is nvr's RTSP client (RFC 2326).
package rtsp

// CONTRACT STUB: the agreed declarations with placeholder bodies. The rtsp
// helper replaces this file with the real implementation (same signatures).

import (
	"context"
	"errors"
	"time"

	"github.com/pion/rtp"
)

var (
	ErrRefused      = errors.New("connection refused")
	ErrTimeout      = errors.New("timed out")
	ErrAuth         = errors.New("authentication failed")
	ErrNotFound     = errors.New("stream not found")
	ErrNoH264       = errors.New("no H.264 video track")
	ErrProtocol     = errors.New("protocol error")
	ErrMediaTimeout = errors.New("no media")
	ErrClosed       = errors.New("server closed the connection")
)

type Config struct {
	URL             string
	Transport       string
	SDP             []byte
	SkipOptions     bool
	DialTimeout     time.Duration
	ResponseTimeout time.Duration
	MediaTimeout    time.Duration
	UserAgent       string
}

type Track struct {
	Type        string
	Codec       string
	ClockRate   int
	PayloadType uint8
	Control     string
	Fmtp        map[string]string
}

type VideoTrack struct {
	Track
	PacketizationMode  int
	ProfileLevelID     string
	SpropParameterSets string
}

type Info struct {
	URL            string
	Server         string
	Methods        []string
	Transport      string
	Tracks         []Track
	Video          VideoTrack
	SessionTimeout time.Duration
}

type Stats struct {
	Packets, Bytes, RTCPPackets             uint64
	DroppedWrongSSRC, DroppedUnknownChannel uint64
	DroppedWrongSource, KeepalivesSent      uint64
}

type Error struct {
	Step string
	Kind error
	Err  error
}

func (e *Error) Error() string   { return e.Step + ": " + e.Kind.Error() }
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

type Session struct{}

func Open(ctx context.Context, cfg Config) (*Session, error) {
	return nil, &Error{Step: "connect", Kind: ErrProtocol}
}
func (s *Session) Info() Info { return Info{} }
func (s *Session) ReadPackets(ctx context.Context, fn func(*rtp.Packet) error) error {
	return errors.New("todo")
}
func (s *Session) Stats() Stats { return Stats{} }
func (s *Session) Close() error { return nil }

func Redact(rawURL string) string { return rawURL }

func LoadSDP(ctx context.Context, src string) ([]byte, error) { return nil, errors.New("todo") }
