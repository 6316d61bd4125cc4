package rtsp

import (
	"io"
	"sync/atomic"
)

// countingReader is the io.Reader under the session's rtspmsg.Reader: it
// counts the reads of the control connection (Stats.ControlReads), so RTP
// packets per read(2) — what a reader pays per wake-up — can be measured
// (issue 12, docs/cpu.md).
type countingReader struct {
	r     io.Reader
	reads atomic.Uint64
}

func (c *countingReader) Read(b []byte) (int, error) {
	c.reads.Add(1)
	return c.r.Read(b)
}
