// Package h264 turns RTP packets (RFC 6184) into H.264 access units.
package h264

// CONTRACT STUB: the agreed declarations with placeholder bodies. The h264
// helper replaces this file with the real implementation (same signatures).

import (
	"errors"

	"github.com/pion/rtp"
)

// Sentinel errors.
var (
	ErrPacketLoss = errors.New("h264: packet loss")
	ErrMalformed  = errors.New("h264: malformed packet")
	ErrTooLarge   = errors.New("h264: access unit too large")
	ErrNoParams   = errors.New("h264: no SPS/PPS yet")
)

type AccessUnit struct {
	NALUs         [][]byte
	PTS           int64
	DTS           int64
	Keyframe      bool
	SPS, PPS      []byte
	ParamsChanged bool
}

type Params struct {
	SPS, PPS            []byte
	Width, Height       int
	ProfileIDC          uint8
	LevelIDC            uint8
	Profile             string
	Level               string
	Codec               string
	FPS                 float64
	SARWidth, SARHeight int
}

func ParseParams(sps, pps []byte) (Params, error) { return Params{}, errors.New("todo") }

func ParseSprop(value string) (sps, pps []byte) { return nil, nil }

type Stats struct {
	Packets, Lost          uint64
	AccessUnits, Keyframes uint64
	DroppedAUs             uint64
	Rejected               uint64
}

type Depacketizer struct{ stats Stats }

func NewDepacketizer(sps, pps []byte) *Depacketizer { return &Depacketizer{} }

func (d *Depacketizer) Push(pkt *rtp.Packet, emit func(*AccessUnit)) error {
	return errors.New("todo")
}
func (d *Depacketizer) Flush(emit func(*AccessUnit)) {}
func (d *Depacketizer) Reset()                       {}
func (d *Depacketizer) Stats() Stats                 { return d.stats }
