package testcam

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"strconv"
	"strings"
)

// The clips were made with ffmpeg's testsrc/testsrc2 sources and libx264
// (access unit delimiters on, fixed GOP). Each NAME.h264 is an Annex B
// elementary stream; NAME.frames lists its access units in decode order with
// their size and their 90 kHz presentation and decode times, so no H.264
// parsing is needed to replay them with correct RTP timing. The H.265 clips
// (NAME.h265, same index) were made with libx265 by clips/gen_NAME.sh.
//
//go:embed clips/*.h264 clips/*.h265 clips/*.frames
var clipFS embed.FS

// Clip names.
const (
	ClipMain720       = "main720"         // 1280x720 Main, 25 fps, GOP 2 s, no B-frames, ~4 Mbit/s, 4 s
	ClipHigh360BFrame = "high360_bframes" // 640x360 High, 25 fps, GOP 1 s, 2 B-frames, ~1 Mbit/s, 4 s
	ClipBase240       = "base240"         // 320x240 Baseline, 25 fps, GOP 1 s, ~300 kbit/s, 2 s
	// ClipNumbered240 shows each frame's number in its picture, so a test
	// can tell from pixels alone which frame is on screen: NumberedBits
	// blocks of NumberedBlock×NumberedBlockHeight pixels across the top,
	// bit i (least significant first) of the frame number white (luma 235)
	// or black (16). 320x240 Baseline, 25 fps, GOP 1 s, 4 s (100 frames),
	// made with ffmpeg's color source, a geq filter and libx264.
	ClipNumbered240 = "numbered240"
)

// The layout of ClipNumbered240's frame numbers.
const (
	NumberedBits        = 7
	NumberedBlock       = 40 // pixels wide
	NumberedBlockHeight = 96
)

// ClipHEVC270 is the H.265 clip: 480x270 Main (coded 480x272 with a
// conformance window), 25 fps, closed GOP 1 s, 3 B-frames, VPS/SPS/PPS before
// every IDR, ~240 kbit/s, 4 s.
const ClipHEVC270 = "hevc270"

// ClipNames lists every embedded H.264 clip.
var ClipNames = []string{ClipMain720, ClipHigh360BFrame, ClipBase240, ClipNumbered240}

// H265ClipNames lists every embedded H.265 clip.
var H265ClipNames = []string{ClipHEVC270}

// Frame is one access unit of a clip.
type Frame struct {
	AnnexB   []byte   // the access unit with start codes, as in the file
	NALUs    [][]byte // the same NAL units without start codes
	PTS      int64    // 90 kHz, relative to the clip start
	DTS      int64    // 90 kHz, may be negative with B-frames
	Keyframe bool
}

// Clip is a loaded clip. Frames share memory with the embedded file: treat
// them as read-only.
type Clip struct {
	Name     string
	Frames   []Frame
	Duration int64  // 90 kHz; the clip loops after this long
	H265     bool   // an H.265 clip (else H.264)
	VPS      []byte // H.265 only
	SPS, PPS []byte
}

// LoadClip returns the embedded clip with the given name.
func LoadClip(name string) (*Clip, error) {
	h265 := false
	for _, n := range H265ClipNames {
		h265 = h265 || n == name
	}
	ext := ".h264"
	if h265 {
		ext = ".h265"
	}
	data, err := clipFS.ReadFile("clips/" + name + ext)
	if err != nil {
		return nil, fmt.Errorf("testcam: clip %q: %w", name, err)
	}
	index, err := clipFS.ReadFile("clips/" + name + ".frames")
	if err != nil {
		return nil, fmt.Errorf("testcam: clip %q: %w", name, err)
	}
	c := &Clip{Name: name, H265: h265}
	off := 0
	sc := bufio.NewScanner(bytes.NewReader(index))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != 4 {
			return nil, fmt.Errorf("testcam: clip %q line %d: want 4 fields", name, line)
		}
		var v [4]int64
		for i, f := range fields {
			if v[i], err = strconv.ParseInt(f, 10, 64); err != nil {
				return nil, fmt.Errorf("testcam: clip %q line %d: %w", name, line, err)
			}
		}
		size := int(v[0])
		if size <= 0 || off+size > len(data) {
			return nil, fmt.Errorf("testcam: clip %q line %d: size %d past end of stream", name, line, size)
		}
		au := data[off : off+size : off+size]
		off += size
		f := Frame{AnnexB: au, NALUs: SplitAnnexB(au), PTS: v[1], DTS: v[2], Keyframe: v[3] == 1}
		for _, n := range f.NALUs {
			c.noteParam(n)
		}
		c.Frames = append(c.Frames, f)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("testcam: clip %q: %w", name, err)
	}
	if off != len(data) || len(c.Frames) < 2 {
		return nil, fmt.Errorf("testcam: clip %q: index covers %d of %d bytes", name, off, len(data))
	}
	// Frames are evenly spaced; the loop period is the frame count times
	// the spacing of the first two decode times.
	c.Duration = int64(len(c.Frames)) * (c.Frames[1].DTS - c.Frames[0].DTS)
	return c, nil
}

// noteParam keeps the first of each parameter set: NAL types 7 and 8 in
// H.264, 32, 33 and 34 in H.265 (whose type sits one bit lower).
func (c *Clip) noteParam(n []byte) {
	var p *[]byte
	switch {
	case !c.H265 && n[0]&0x1f == 7:
		p = &c.SPS
	case !c.H265 && n[0]&0x1f == 8:
		p = &c.PPS
	case c.H265 && n[0]>>1&0x3f == 32:
		p = &c.VPS
	case c.H265 && n[0]>>1&0x3f == 33:
		p = &c.SPS
	case c.H265 && n[0]>>1&0x3f == 34:
		p = &c.PPS
	}
	if p != nil && *p == nil {
		*p = n
	}
}

// SplitAnnexB splits an Annex B byte stream into NAL units (without start
// codes). Empty units are skipped.
func SplitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	i := 0
	for i+2 < len(b) {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 {
					end--
				}
				if end > start {
					out = append(out, b[start:end:end])
				}
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:len(b):len(b)])
	}
	return out
}

// FrameNumber reads the frame number from a decoded picture of
// ClipNumbered240: luma, one byte a pixel, rows of stride bytes. It samples
// the middle of each block and fails when a block is neither clearly white
// nor clearly black (not this clip, or a damaged picture).
func FrameNumber(luma []byte, stride int) (int, error) {
	n := 0
	for bit := range NumberedBits {
		x, y := bit*NumberedBlock+NumberedBlock/2, NumberedBlockHeight/2
		if y*stride+x >= len(luma) {
			return 0, fmt.Errorf("testcam: picture too small for %d number blocks", NumberedBits)
		}
		switch v := luma[y*stride+x]; {
		case v >= 180:
			n |= 1 << bit
		case v > 70:
			return 0, fmt.Errorf("testcam: number block %d has luma %d, neither white nor black", bit, v)
		}
	}
	return n, nil
}
