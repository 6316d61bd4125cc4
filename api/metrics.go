package api

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// apiMetrics are the API's own counters (issue 5: export requests and
// bytes); the recorder's and storage's metrics come through Options.Metrics.
type apiMetrics struct {
	exports      *prometheus.CounterVec
	exportBytes  prometheus.Counter
	authFailures prometheus.Counter
}

func newAPIMetrics(reg prometheus.Registerer) (*apiMetrics, error) {
	m := &apiMetrics{
		exports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nvr_export_requests_total",
			Help: "Export requests by outcome (ok, no_footage, canceled, error).",
		}, []string{"outcome"}),
		exportBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nvr_export_bytes_total",
			Help: "Bytes of exported MP4 sent to clients.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nvr_api_auth_failures_total",
			Help: "API requests refused for a missing or invalid token or a lockout.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.exports, m.exportBytes, m.authFailures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register: %w", err)
		}
	}
	return m, nil
}
