package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/nvr-project/nvr/internal/redact"
	"github.com/nvr-project/nvr/storage"
)

// The live event stream, GET /api/events (Server-Sent Events): what the UI
// needs to follow recording without polling — camera states, segments as
// they open, grow and finish, segments retention deleted. The binary feeds
// it from the fleet's events; a stream only ever carries the cameras its
// client may see.

// Event is one live change. Type is "state", "sub_state", "segment", "segment_deleted"
// or "missed" (events were dropped for this client: refetch what is shown).
type Event struct {
	Type      string
	Camera    string
	State     string           // "state": the camera's state; "sub_state": its sub stream's
	LastError string           // "state", "sub_state": redacted before it is sent
	Segment   *storage.Segment // "segment", "segment_deleted"
	Missed    uint64           // "missed": how many
}

// Events hands out live events. Subscribe returns a channel of events and a
// function that ends the subscription (and waits for whatever feeds the
// channel); the channel closes when the source ends. A subscriber that
// reads slowly loses events (and gets a "missed" one), never blocks the
// source.
type Events interface {
	Subscribe(buffer int) (<-chan Event, func())
}

// Stream bounds.
const (
	// MaxEventStreams bounds the open event streams: each holds a
	// connection and a subscription.
	MaxEventStreams = 64
	// EventBuffer is each stream's queue of events not yet written.
	EventBuffer = 256
	// EventHeartbeat keeps proxies from closing an idle stream and finds
	// clients that went away.
	EventHeartbeat = 15 * time.Second
)

var errTooManyStreams = &httpError{status: http.StatusServiceUnavailable, msg: "too many event streams", retryAfter: 5}

type eventJSON struct {
	Type      string       `json:"type"`
	Camera    string       `json:"camera,omitempty"`
	State     string       `json:"state,omitempty"`
	LastError string       `json:"last_error,omitempty"`
	Segment   *segmentLive `json:"segment,omitempty"`
	Missed    uint64       `json:"missed,omitempty"`
}

type segmentLive struct {
	ID int64 `json:"id"`
	// Stream is "main" or "sub" (a recorded sub stream's segment): a
	// timeline of the main stream skips the sub stream's.
	Stream   string  `json:"stream"`
	Start    string  `json:"start"`
	End      *string `json:"end"`
	Bytes    int64   `json:"bytes"`
	Frames   int64   `json:"frames"`
	Complete bool    `json:"complete"`
	Width    int     `json:"width,omitempty"`
	Height   int     `json:"height,omitempty"`
}

func (h *handler) events(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r.URL.RawQuery); err != nil {
		return err
	}
	if h.eventSrc == nil {
		return errNotFoundPath
	}
	if h.streams.Add(1) > MaxEventStreams {
		h.streams.Add(-1)
		return errTooManyStreams
	}
	defer h.streams.Add(-1)
	p := principalFrom(r.Context())
	ch, stop := h.eventSrc.Subscribe(EventBuffer)
	defer stop()

	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not hold the stream back
	rc := http.NewResponseController(w)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(h.streamStall))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte(": nvr events\nretry: 2000\n\n")) {
		return nil
	}
	beat := time.NewTicker(EventHeartbeat)
	defer beat.Stop()
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-beat.C:
			if !write([]byte(": heartbeat\n\n")) {
				return nil
			}
		case ev, ok := <-ch:
			if !ok {
				return nil
			}
			if ev.Type != "missed" && !p.mayView(ev.Camera) {
				continue
			}
			b, err := json.Marshal(toEventJSON(ev))
			if err != nil {
				continue
			}
			if !write(append(append([]byte("data: "), b...), '\n', '\n')) {
				return nil
			}
		}
	}
}

func toEventJSON(ev Event) eventJSON {
	out := eventJSON{Type: ev.Type, Camera: ev.Camera, State: ev.State, LastError: redact.Text(ev.LastError), Missed: ev.Missed}
	if s := ev.Segment; s != nil {
		seg := &segmentLive{ID: s.ID, Stream: s.StreamName(), Start: formatNS(s.StartNS), Bytes: s.Bytes, Frames: s.Frames,
			Complete: s.State == storage.StateComplete, Width: s.Width, Height: s.Height}
		if s.EndNS > s.StartNS {
			e := formatNS(s.EndNS)
			seg.End = &e
		}
		out.Segment = seg
	}
	return out
}
