package main

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nvr-project/nvr/recorder"
)

// metrics reads the service's state when Prometheus scrapes it, so the
// recording path never touches a metric.
type metrics struct {
	s *service

	bytes, frames, lost, segments, reconnects, dropped *prometheus.Desc
	timeJumps                                          *prometheus.Desc
	state, sinceFrame                                  *prometheus.Desc
	used, free                                         *prometheus.Desc
	retentionDeleted                                   *prometheus.Desc

	deleted atomic.Uint64 // segments deleted by retention
}

func newMetrics(s *service) *metrics {
	cam := []string{"camera"}
	return &metrics{
		s:                s,
		bytes:            prometheus.NewDesc("nvr_camera_received_bytes_total", "RTP payload bytes received from the camera.", cam, nil),
		frames:           prometheus.NewDesc("nvr_camera_frames_total", "Frames written to segments.", cam, nil),
		lost:             prometheus.NewDesc("nvr_camera_packets_lost_total", "RTP packets missing from the camera's stream.", cam, nil),
		segments:         prometheus.NewDesc("nvr_camera_segments_written_total", "Segments finalised.", cam, nil),
		reconnects:       prometheus.NewDesc("nvr_camera_reconnects_total", "Sessions started after a failure.", cam, nil),
		dropped:          prometheus.NewDesc("nvr_camera_dropped_frames_total", "Frames not written (slow disk, damaged stream).", cam, nil),
		timeJumps:        prometheus.NewDesc("nvr_camera_time_jumps_total", "RTP timestamp jumps that started a new run.", cam, nil),
		state:            prometheus.NewDesc("nvr_camera_state", "1 for the camera's current state.", []string{"camera", "state"}, nil),
		sinceFrame:       prometheus.NewDesc("nvr_camera_seconds_since_last_frame", "Seconds since the last frame arrived (absent before the first).", cam, nil),
		used:             prometheus.NewDesc("nvr_storage_used_bytes", "Bytes used by recordings.", nil, nil),
		free:             prometheus.NewDesc("nvr_storage_free_bytes", "Free bytes on the data directory's filesystem.", nil, nil),
		retentionDeleted: prometheus.NewDesc("nvr_retention_deleted_segments_total", "Segments deleted by retention.", nil, nil),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.bytes, m.frames, m.lost, m.segments, m.reconnects, m.dropped, m.timeJumps, m.state, m.sinceFrame, m.used, m.free, m.retentionDeleted} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, cs := range m.s.Cameras() {
		tot, last := m.s.cameraTotals(cs.ID)
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), cs.ID)
		}
		counter(m.bytes, tot.BytesReceived)
		counter(m.frames, tot.Frames)
		counter(m.lost, tot.PacketsLost)
		counter(m.segments, tot.SegmentsWritten)
		counter(m.reconnects, tot.Reconnects)
		counter(m.dropped, tot.DroppedFrames)
		counter(m.timeJumps, tot.TimeJumps)
		for _, st := range []string{"recording", "retrying", "idle", "disabled"} {
			v := 0.0
			if cs.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(m.state, prometheus.GaugeValue, v, cs.ID, st)
		}
		if !last.IsZero() {
			ch <- prometheus.MustNewConstMetric(m.sinceFrame, prometheus.GaugeValue, now.Sub(last).Seconds(), cs.ID)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if used, free, err := m.s.store.DiskUsage(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(m.used, prometheus.GaugeValue, float64(used))
		ch <- prometheus.MustNewConstMetric(m.free, prometheus.GaugeValue, float64(free))
	}
	ch <- prometheus.MustNewConstMetric(m.retentionDeleted, prometheus.CounterValue, float64(m.deleted.Load()))
}

// cameraTotals returns a camera's counters over all its jobs, and the
// arrival time of its last frame.
func (s *service) cameraTotals(id string) (recorder.Status, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cams[id]
	if c == nil {
		return recorder.Status{}, time.Time{}
	}
	tot := c.totals
	if c.job != nil {
		st := c.job.Status()
		tot = addTotals(tot, st)
		return tot, st.LastFrame
	}
	return tot, time.Time{}
}

// addTotals adds the counters of a job's status to a running total.
func addTotals(a, b recorder.Status) recorder.Status {
	a.BytesReceived += b.BytesReceived
	a.Frames += b.Frames
	a.Keyframes += b.Keyframes
	a.PacketsLost += b.PacketsLost
	a.SegmentsWritten += b.SegmentsWritten
	a.Reconnects += b.Reconnects
	a.DroppedFrames += b.DroppedFrames
	a.TimeJumps += b.TimeJumps
	return a
}

// isDiskFull reports whether a job's error says the disk is full.
func isDiskFull(msg string) bool {
	return strings.Contains(msg, "no space left on device")
}
