package api

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/coder/websocket"

	"github.com/nvr-project/nvr/live"
	"github.com/nvr-project/nvr/storage"
)

// Live view, GET /api/cameras/{id}/live[?stream=main|sub][&audio=0]: a WebSocket
// that carries the live picture of the camera's main stream (default) or
// its sub stream (404 for a camera without one) as fragmented MP4 for the browser's Media Source
// Extensions. A WebSocket per tile, not an HTTP stream, because a browser
// allows about six HTTP/1.1 connections to a host and a grid has sixteen
// tiles. audio=0 asks for the picture alone (init segments without the
// audio track), for a browser that cannot play the camera's sound codec;
// audio=1 is the default.
//
// Messages from the server:
//   - text {"type":"init","codec":"avc1.640028","width":1280,"height":720},
//     then a binary message with the init segment (kind 0);
//   - binary frames (kind 1): one frame's moof+mdat.
//
// A binary message is [kind (1 byte)][arrival (8 bytes, Unix ns, when the
// frame reached nvr)][pts (8 bytes, 90 kHz)][payload]. The client sends
// nothing; whatever it sends is read and dropped, at most 1 KiB a message.

// LiveStreams finds a camera's live pictures (*fleet.Fleet has them); nil
// when the camera has none.
type LiveStreams interface {
	Live(camera string) *live.Stream    // the main stream's
	LiveSub(camera string) *live.Stream // the sub stream's
}

// Live view bounds.
const (
	// MaxLiveViewers bounds the live connections of one API handler:
	// sixteen tiles in each of eight tabs.
	MaxLiveViewers = 128
	// liveReadLimit bounds a message from the client, which has nothing to
	// say.
	liveReadLimit = 1 << 10
	liveHeaderLen = 1 + 8 + 8
)

var (
	errNoLive         = &httpError{status: http.StatusNotFound, msg: "no live picture for this camera"}
	errNoSub          = &httpError{status: http.StatusNotFound, msg: "this camera has no sub stream"}
	errTooManyViewers = &httpError{status: http.StatusServiceUnavailable, msg: "too many live viewers", retryAfter: 5}
)

type liveInit struct {
	Type   string `json:"type"`
	Codec  string `json:"codec"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

func (h *handler) live(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r.URL.RawQuery)
	if err != nil {
		return err
	}
	stream, err := parseStream(q)
	if err != nil {
		return err
	}
	sound := q.Get("audio")
	if sound != "" && sound != "0" && sound != "1" {
		return badRequest("audio must be 0 or 1")
	}
	cam, err := h.camera(r)
	if err != nil {
		return err
	}
	if h.lives == nil {
		return errNoLive
	}
	var s *live.Stream
	if stream == storage.StreamSub {
		if s = h.lives.LiveSub(cam.ID); s == nil {
			return errNoSub
		}
	} else if s = h.lives.Live(cam.ID); s == nil {
		return errNoLive
	}
	if h.liveViewers.Add(1) > MaxLiveViewers {
		h.liveViewers.Add(-1)
		return errTooManyViewers
	}
	defer h.liveViewers.Add(-1)
	watch := s.Watch
	if sound == "0" {
		watch = s.WatchVideo
	}
	v, err := watch()
	if errors.Is(err, live.ErrTooManyViewers) {
		return errTooManyViewers
	}
	if err != nil {
		return errNoLive
	}
	defer v.Close()
	// Accept checks that Origin names this host (a page elsewhere cannot
	// open the stream with the user's cookie), then takes the connection
	// over; its deadlines are cleared with the hijack.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil // Accept answered
	}
	defer c.CloseNow()
	c.SetReadLimit(liveReadLimit)
	ctx := c.CloseRead(r.Context()) // ends when the client closes or sends too much
	var hdr [liveHeaderLen]byte
	for {
		m, err := v.Next(ctx.Done())
		switch {
		case errors.Is(err, live.ErrCutOff):
			_ = c.Close(websocket.StatusPolicyViolation, "too far behind")
			return nil
		case errors.Is(err, live.ErrClosed):
			_ = c.Close(websocket.StatusGoingAway, "camera gone")
			return nil
		case err != nil:
			return nil
		}
		if m.Init {
			b, _ := json.Marshal(liveInit{Type: "init", Codec: m.Codec, Width: m.Width, Height: m.Height})
			if !h.liveWrite(ctx, c, websocket.MessageText, nil, b) {
				return nil
			}
			hdr[0] = 0
		} else {
			hdr[0] = 1
		}
		binary.BigEndian.PutUint64(hdr[1:], uint64(m.ArrivalNS))
		binary.BigEndian.PutUint64(hdr[9:], uint64(m.PTS))
		if !h.liveWrite(ctx, c, websocket.MessageBinary, hdr[:], m.Data) {
			return nil
		}
	}
}

// liveWrite writes one message of head and body, giving up after the
// stream stall timeout.
func (h *handler) liveWrite(ctx context.Context, c *websocket.Conn, typ websocket.MessageType, head, body []byte) bool {
	ctx, cancel := context.WithTimeout(ctx, h.streamStall)
	defer cancel()
	wr, err := c.Writer(ctx, typ)
	if err != nil {
		return false
	}
	if len(head) > 0 {
		if _, err := wr.Write(head); err != nil {
			return false
		}
	}
	if _, err := wr.Write(body); err != nil {
		return false
	}
	return wr.Close() == nil
}
