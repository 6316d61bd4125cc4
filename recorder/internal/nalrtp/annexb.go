package nalrtp

import (
	"bytes"
	"encoding/base64"
	"strings"
)

var (
	startCode3 = []byte{0, 0, 1}
	startCode4 = []byte{0, 0, 0, 1}
)

// TrimStartCode drops an Annex B start code that begins p (some cameras
// send byte stream as RTP payload) when a NAL unit follows it.
func TrimStartCode(p []byte) []byte {
	switch {
	case bytes.HasPrefix(p, startCode4) && len(p) > 4:
		return p[4:]
	case bytes.HasPrefix(p, startCode3) && len(p) > 3:
		return p[3:]
	}
	return p
}

// DecodeBase64 accepts padded and unpadded standard base64 and, since some
// firmware uses it, the URL-safe alphabet: sprop values of RFC 6184 §8.1
// and RFC 7798 §7.1.
func DecodeBase64(s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, false
	}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) > 0 {
			return b, true
		}
	}
	return nil, false
}

// SplitStartCodes splits b at Annex B start codes (ITU-T H.264 B.1, H.265
// B.2). A valid NAL unit never contains 00 00 01 (emulation prevention,
// H.264 7.4.1, H.265 7.4.2), so a start code inside one means several
// units were sent as one. Zero bytes before a
// start code are the 4-byte form or trailing_zero_8bits and are trimmed.
// Returns b itself when it holds no start code, and never empty units.
func SplitStartCodes(b []byte) [][]byte {
	if indexStartCode(b) < 0 {
		if len(b) == 0 {
			return nil
		}
		return [][]byte{b}
	}
	var out [][]byte
	forEachStartCodePiece(b, func(start, end int) { out = append(out, b[start:end:end]) })
	return out
}

// forEachStartCodePiece calls fn with the bounds of every non-empty NAL unit
// in b, where units are separated by 00 00 01 and zero bytes around start
// codes are trimmed.
func forEachStartCodePiece(b []byte, fn func(start, end int)) {
	pos := 0
	for pos < len(b) {
		i := indexStartCode(b[pos:])
		end, next := len(b), len(b)
		if i >= 0 {
			end, next = pos+i, pos+i+3
		}
		e := end
		for e > pos && b[e-1] == 0 {
			e--
		}
		if e > pos {
			fn(pos, e)
		}
		pos = next
	}
}

// indexStartCode returns the index of the first 00 00 01 in b, or -1. It
// looks for the 01 byte first: in coded slices zero bytes are several times
// more common than 01 bytes, so this beats bytes.Index (measured 3.8x on
// the Baseline clip, 1.2x on the Main and High ones).
func indexStartCode(b []byte) int {
	for off := 2; off < len(b); {
		i := bytes.IndexByte(b[off:], 1)
		if i < 0 {
			return -1
		}
		j := off + i
		if b[j-1] == 0 && b[j-2] == 0 {
			return j - 2
		}
		off = j + 1
	}
	return -1
}
