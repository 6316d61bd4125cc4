package rtspmsg

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
)

// MaxFrameLen is the largest interleaved frame: the length field of RFC 2326
// §10.12 is 16 bits.
const MaxFrameLen = 65535

// Item is one thing read from the control connection: an interleaved frame
// or an RTSP message.
type Item struct {
	Frame   bool
	Channel uint8
	Payload []byte // valid until the next call to Next
	Msg     *Message
}

// Reader splits a TCP control connection into interleaved frames
// ('$', channel, 16-bit length, data; RFC 2326 §10.12) and RTSP messages,
// which servers mix freely: replies to keepalives and server requests
// arrive between frames.
type Reader struct {
	br *bufio.Reader
	// pending is the length of the frame last returned, still in br's
	// buffer (its Payload points there); it is discarded on the next call.
	pending int
	// junk counts bytes skipped while resynchronising, for stats.
	junk atomic.Uint64
}

// Junk returns how many bytes were skipped while resynchronising. It may
// be called from any goroutine.
func (r *Reader) Junk() uint64 { return r.junk.Load() }

// NewReader returns a Reader over r with its own buffering.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, ReadBufferSize)}
}

// requestPrefixes are the methods a server may send to a client
// (RFC 2326 §10: ANNOUNCE, GET_PARAMETER, OPTIONS, REDIRECT,
// SET_PARAMETER) plus the others, so any request line is recognised.
var requestPrefixes = [][]byte{
	[]byte("GET_PARAMETER "), []byte("SET_PARAMETER "), []byte("OPTIONS "),
	[]byte("ANNOUNCE "), []byte("REDIRECT "), []byte("DESCRIBE "), []byte("SETUP "),
	[]byte("PLAY "), []byte("PAUSE "), []byte("TEARDOWN "), []byte("RECORD "),
}

var (
	rtspPrefix = []byte("RTSP/")
	httpPrefix = []byte("HTTP/")
)

// Next returns the next frame or message. Bytes that start neither are
// skipped: CRLF between frames (Hikvision, Dahua and others pad with it),
// the tail of a frame the camera truncated, a bad magic byte. More than
// MaxJunk skipped bytes in a row is an error (R5).
func (r *Reader) Next() (Item, error) {
	if r.pending > 0 {
		if _, err := r.br.Discard(r.pending); err != nil {
			return Item{}, err
		}
		r.pending = 0
	}
	skipped := 0
	for {
		b, err := r.br.Peek(1)
		if err != nil {
			return Item{}, err
		}
		switch {
		case b[0] == '$':
			h, err := r.br.Peek(4)
			if err != nil {
				return Item{}, err
			}
			ch := h[1]
			n := int(binary.BigEndian.Uint16(h[2:4]))
			// The frame stays in the buffer (it fits: ReadBufferSize):
			// no copy on the hot path.
			f, err := r.br.Peek(4 + n)
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return Item{}, err
			}
			r.pending = 4 + n
			return Item{Frame: true, Channel: ch, Payload: f[4:]}, nil
		case (b[0] == 'R' && r.hasPrefix(rtspPrefix)) || (b[0] == 'H' && r.hasPrefix(httpPrefix)):
			m, err := ReadMessage(r.br)
			if err != nil {
				return Item{}, err
			}
			return Item{Msg: m}, nil
		case b[0] >= 'A' && b[0] <= 'Z' && r.isRequest():
			m, err := ReadMessage(r.br)
			if err != nil {
				return Item{}, err
			}
			return Item{Msg: m}, nil
		}
		if skipped == 0 && b[0] == '<' && r.isHTML() {
			// An HTTP/0.9-style answer (Python's http.server to a request
			// line it cannot parse): a page without a status line.
			return Item{}, fmt.Errorf("%w (an HTML page without a status line)", ErrHTTP)
		}
		if _, err := r.br.Discard(1); err != nil {
			return Item{}, err
		}
		skipped++
		r.junk.Add(1)
		if skipped > MaxJunk {
			return Item{}, fmt.Errorf("%w: %d bytes that are neither RTSP nor interleaved frames", ErrMalformed, skipped)
		}
	}
}

// hasPrefix peeks for p. A short read (the server stopped mid-junk) is
// "no" rather than an error; the caller skips a byte and tries again.
func (r *Reader) hasPrefix(p []byte) bool {
	b, err := r.br.Peek(len(p))
	return err == nil && bytes.Equal(b, p)
}

// htmlPrefixes start an HTML page, lower-cased.
var htmlPrefixes = []string{"<!doctype", "<html", "<head", "<body", "<?xml"}

// isHTML reports whether the buffered bytes start an HTML page.
func (r *Reader) isHTML() bool {
	for _, p := range htmlPrefixes {
		if b, err := r.br.Peek(len(p)); err == nil && strings.EqualFold(string(b), p) {
			return true
		}
	}
	return false
}

func (r *Reader) isRequest() bool {
	first, err := r.br.Peek(1)
	if err != nil {
		return false
	}
	for _, p := range requestPrefixes {
		if p[0] == first[0] && r.hasPrefix(p) {
			return true
		}
	}
	return false
}

// ReadRequest reads the next thing a client sends a server on its control
// connection. CR and LF between messages are skipped (RFC 2326 §4 lets a
// client pad with them); an interleaved frame (RFC 2326 §10.12: RTCP
// receiver reports from a TCP client) is discarded and returned as an Item
// with Frame and Channel set and no Payload. Anything else must be a
// request: unlike Reader, nothing is skipped as junk, so a server answers
// a broken request with 400 at once. The version is not checked (see
// ReadMessage).
func ReadRequest(br *bufio.Reader) (Item, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return Item{}, err
		}
		switch b[0] {
		case '$':
			var h [4]byte
			if _, err := io.ReadFull(br, h[:]); err != nil {
				return Item{}, fmt.Errorf("interleaved header: %w", err)
			}
			// The 16-bit length bounds the skip at MaxFrameLen.
			if _, err := br.Discard(int(binary.BigEndian.Uint16(h[2:4]))); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return Item{}, fmt.Errorf("interleaved body: %w", err)
			}
			return Item{Frame: true, Channel: h[1]}, nil
		case '\r', '\n':
			if _, err := br.ReadByte(); err != nil {
				return Item{}, err
			}
			continue
		}
		m, err := ReadMessage(br)
		if err != nil {
			return Item{}, err
		}
		if m.Response {
			return Item{}, fmt.Errorf("%w: a status line where a request was expected", ErrMalformed)
		}
		return Item{Msg: m}, nil
	}
}
