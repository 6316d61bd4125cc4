package fleet

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metricsTimeout bounds the disk usage query of one scrape.
const metricsTimeout = 2 * time.Second

// collector reads the fleet when Prometheus scrapes it, so the recording
// path never touches a metric.
type collector struct {
	f *Fleet

	bytes, frames, lost, segments, reconnects, dropped *prometheus.Desc
	timeJumps                                          *prometheus.Desc
	state, sinceFrame                                  *prometheus.Desc
	used, free                                         *prometheus.Desc
	retentionDeleted, eventsDropped                    *prometheus.Desc
	leasesHeld, takeovers                              *prometheus.Desc
	backlogSegments, backlogBytes                      *prometheus.Desc
	uploaded, uploadFailures, uploadHeld               *prometheus.Desc
}

// Collector returns the fleet's Prometheus metrics: per-camera counters
// and state, storage use, retention and event delivery.
func (f *Fleet) Collector() prometheus.Collector {
	cam := []string{"camera"}
	return &collector{
		f:                f,
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
		leasesHeld:       prometheus.NewDesc("nvr_leases_held", "Camera leases this node holds (several nodes on PostgreSQL; 0 on SQLite).", nil, nil),
		takeovers:        prometheus.NewDesc("nvr_lease_takeovers_total", "Camera leases this node has taken.", nil, nil),
		eventsDropped:    prometheus.NewDesc("nvr_events_dropped_total", "Camera events dropped because a subscriber did not keep up.", nil, nil),
		backlogSegments:  prometheus.NewDesc("nvr_upload_backlog_segments", "Finished segments waiting on the local disk for the bucket (storage.s3 only).", nil, nil),
		backlogBytes:     prometheus.NewDesc("nvr_upload_backlog_bytes", "Bytes of the segments waiting for the bucket (storage.s3 only).", nil, nil),
		uploaded:         prometheus.NewDesc("nvr_uploaded_segments_total", "Segments uploaded to the bucket (storage.s3 only).", nil, nil),
		uploadFailures:   prometheus.NewDesc("nvr_upload_failures_total", "Upload passes that failed, e.g. the bucket unreachable (storage.s3 only).", nil, nil),
		uploadHeld:       prometheus.NewDesc("nvr_upload_held_segments", "Segments passed over because their own upload failed (local file unreadable, other bytes at their key); they stay local and are retried later (storage.s3 only).", nil, nil),
	}
}

func (m *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.bytes, m.frames, m.lost, m.segments, m.reconnects, m.dropped, m.timeJumps,
		m.state, m.sinceFrame, m.used, m.free, m.retentionDeleted, m.eventsDropped, m.leasesHeld, m.takeovers,
		m.backlogSegments, m.backlogBytes, m.uploaded, m.uploadFailures, m.uploadHeld} {
		ch <- d
	}
}

func (m *collector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, cs := range m.f.Cameras() {
		tot, _ := m.f.Stats(cs.ID)
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
		for _, st := range States {
			v := 0.0
			if cs.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(m.state, prometheus.GaugeValue, v, cs.ID, string(st))
		}
		if !tot.LastFrame.IsZero() {
			ch <- prometheus.MustNewConstMetric(m.sinceFrame, prometheus.GaugeValue, now.Sub(tot.LastFrame).Seconds(), cs.ID)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), metricsTimeout)
	defer cancel()
	if used, free, err := m.f.store.DiskUsage(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(m.used, prometheus.GaugeValue, float64(used))
		ch <- prometheus.MustNewConstMetric(m.free, prometheus.GaugeValue, float64(free))
	}
	ch <- prometheus.MustNewConstMetric(m.retentionDeleted, prometheus.CounterValue, float64(m.f.deleted.Load()))
	ch <- prometheus.MustNewConstMetric(m.eventsDropped, prometheus.CounterValue, float64(m.f.hub.droppedTotal()))
	if st, ok, err := m.f.Uploads(ctx); ok {
		if err == nil {
			ch <- prometheus.MustNewConstMetric(m.backlogSegments, prometheus.GaugeValue, float64(st.Backlog.Segments))
			ch <- prometheus.MustNewConstMetric(m.backlogBytes, prometheus.GaugeValue, float64(st.Backlog.Bytes))
		}
		ch <- prometheus.MustNewConstMetric(m.uploaded, prometheus.CounterValue, float64(st.Uploaded))
		ch <- prometheus.MustNewConstMetric(m.uploadFailures, prometheus.CounterValue, float64(st.Failures))
		ch <- prometheus.MustNewConstMetric(m.uploadHeld, prometheus.GaugeValue, float64(st.Held))
	}
	ls := m.f.Leases()
	ch <- prometheus.MustNewConstMetric(m.leasesHeld, prometheus.GaugeValue, float64(ls.Held))
	ch <- prometheus.MustNewConstMetric(m.takeovers, prometheus.CounterValue, float64(ls.Takeovers))
}
