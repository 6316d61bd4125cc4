package recorder

import (
	"errors"
	"fmt"
	"time"

	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/storage"
)

// Defaults for Config fields left zero.
const (
	DefaultSegmentDuration  = 60 * time.Second
	DefaultFragmentDuration = 500 * time.Millisecond
	DefaultReadLatency      = 500 * time.Millisecond
	// MaxReadLatency bounds ReadLatency: media unread in a socket is lost
	// in a crash as the fragment being built is.
	MaxReadLatency       = time.Second
	DefaultFsyncInterval = 10 * time.Second
	DefaultFrameTimeout  = 10 * time.Second
	DefaultMinBackoff    = time.Second
	DefaultMaxBackoff    = 30 * time.Second
)

// Config is one camera's recording job. Zero durations take the defaults
// above; Validate reports every problem.
type Config struct {
	Camera           string        // camera id (also the folder name): see storage.ValidCameraID
	RTSP             rtsp.Config   // URL, transport, out-of-band SDP, timeouts
	SegmentDuration  time.Duration // default 60s: close at the first keyframe after this much media time
	FragmentDuration time.Duration // default 500ms: MP4 fragment length
	FsyncInterval    time.Duration // default 10s of media time: flush + fsync the open segment this often
	FrameTimeout     time.Duration // default 10s: no access unit for this long while connected => reconnect
	MinBackoff       time.Duration // default 1s: first pause after a failure
	MaxBackoff       time.Duration // default 30s: the pause doubles up to this
	// ReadLatency (default 500ms; negative: none) is how long media may
	// wait in the socket while nobody watches live: reads come in batches
	// (latency.go). A crash loses the fragment being built and what was
	// not read yet: FragmentDuration + ReadLatency, a second by default.
	ReadLatency time.Duration
	// LiveOnly feeds Deps.Live and records nothing: live view of a camera
	// outside its recording windows.
	LiveOnly bool
	// Stream is the camera's stream the job records, storage.StreamMain
	// ("" is the same) or storage.StreamSub: its segments' rows and file
	// names (storage.StreamSegmentPath).
	Stream string
	// NoAudio records video only: no audio track is set up (config
	// audio: false). By default the first audio track recorder/audio can
	// record is set up (RTSP.AudioTrack) and recorded beside the video.
	NoAudio bool
	// FootageUntilNS is the wall end of the stream's footage before this
	// job (the index's last segment): the job's first run is anchored no
	// earlier, so a job started right after another one ended (a restart
	// on reload, a lease moving between nodes) cannot overlap it.
	FootageUntilNS int64
}

// WithDefaults returns c with zero durations replaced by their defaults.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.SegmentDuration, DefaultSegmentDuration)
	def(&c.FragmentDuration, DefaultFragmentDuration)
	def(&c.ReadLatency, DefaultReadLatency)
	def(&c.FsyncInterval, DefaultFsyncInterval)
	def(&c.FrameTimeout, DefaultFrameTimeout)
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	return c
}

// Validate returns every problem with c, each naming its field, joined with
// errors.Join; nil when c is usable. Call it on a config with defaults filled.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("recorder: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.Camera == "":
		bad("Camera", "empty")
	case len(c.Camera) > storage.MaxCameraIDLen:
		bad("Camera", "longer than %d characters", storage.MaxCameraIDLen)
	case storage.ValidCameraID(c.Camera) != nil:
		bad("Camera", "%q: only a-z, 0-9, '_' and '-' are allowed", c.Camera)
	}
	if c.Stream != "" && storage.ValidStream(c.Stream) != nil {
		bad("Stream", "%q is not %q or %q", c.Stream, storage.StreamMain, storage.StreamSub)
	}
	if c.RTSP.URL == "" {
		bad("RTSP.URL", "empty")
	}
	positive := func(field string, d time.Duration) {
		if d <= 0 {
			bad(field, "must be positive, got %v", d)
		}
	}
	positive("SegmentDuration", c.SegmentDuration)
	positive("FragmentDuration", c.FragmentDuration)
	positive("FsyncInterval", c.FsyncInterval)
	positive("FrameTimeout", c.FrameTimeout)
	positive("MinBackoff", c.MinBackoff)
	positive("MaxBackoff", c.MaxBackoff)
	if c.FragmentDuration > 0 && c.SegmentDuration > 0 && c.FragmentDuration > c.SegmentDuration {
		bad("FragmentDuration", "%v is longer than SegmentDuration %v", c.FragmentDuration, c.SegmentDuration)
	}
	if c.ReadLatency > MaxReadLatency {
		bad("ReadLatency", "%v is longer than the %v limit", c.ReadLatency, MaxReadLatency)
	}
	if c.MinBackoff > 0 && c.MaxBackoff > 0 && c.MinBackoff > c.MaxBackoff {
		bad("MinBackoff", "%v is longer than MaxBackoff %v", c.MinBackoff, c.MaxBackoff)
	}
	if c.SegmentDuration > storage.MaxSegmentTarget {
		bad("SegmentDuration", "%v is longer than the %v limit", c.SegmentDuration, storage.MaxSegmentTarget)
	}
	return errors.Join(errs...)
}
