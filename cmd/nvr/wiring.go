package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nvr-project/nvr/api"
	"github.com/nvr-project/nvr/fleet"
	"github.com/nvr-project/nvr/footage"
	"github.com/nvr-project/nvr/internal/config"
)

// wiring connects a fleet to the HTTP API: camera states, the index,
// exports and metrics, and an API handler rebuilt on each config.
type wiring struct {
	fl       *fleet.Fleet
	log      *slog.Logger
	registry *prometheus.Registry
	exporter *footage.Exporter
	apiH     swapHandler
}

func newWiring(fl *fleet.Fleet, log *slog.Logger) *wiring {
	w := &wiring{fl: fl, log: log, registry: prometheus.NewRegistry()}
	w.exporter = footage.New(fl.Store(), fl.Location)
	w.registry.MustRegister(fl.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return w
}

// apply makes cfg the configuration of the fleet and the API. Nothing
// changes unless every part accepts it.
func (w *wiring) apply(ctx context.Context, cfg *config.Config) error {
	if err := w.fl.Prepare(ctx, cfg); err != nil {
		return err
	}
	// Built after the fleet's checks: it takes over the API metrics of the
	// handler in force, so a config refused for a camera must not get here.
	h, err := api.New(api.Options{
		Store:      w.fl.Store(),
		Cameras:    apiCameras{w.fl},
		Exporter:   w.exporter,
		Events:     apiEvents{w.fl},
		Live:       w.fl,
		Uploads:    apiUploads{w.fl},
		Metrics:    promhttp.HandlerFor(w.registry, promhttp.HandlerOpts{}),
		Registerer: replacingRegisterer{w.registry},
		Tokens:     apiTokens(cfg),
		Users:      apiUsers(cfg),
		// Without tokens the API is on loopback: answer only to loopback
		// names, so a DNS-rebinding page cannot read it via a browser.
		AllowedHosts: loopbackHosts(cfg),
		MaxExport:    cfg.API.MaxExport.D(),
		Location:     cfg.Location(),
		Logger:       w.log,
	})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if err := w.fl.Apply(ctx, cfg); err != nil {
		return err
	}
	w.apiH.set(h)
	return nil
}

// apiUploads shows the fleet's uploads to the bucket to the API.
type apiUploads struct{ fl *fleet.Fleet }

func (a apiUploads) Uploads(ctx context.Context) (api.UploadStatus, bool, error) {
	st, ok, err := a.fl.Uploads(ctx)
	return api.UploadStatus{BacklogSegments: st.Backlog.Segments, BacklogBytes: st.Backlog.Bytes,
		Uploaded: st.Uploaded, Failures: st.Failures, LastError: st.LastError, LastErrorAt: st.LastErrorAt,
		Held: st.Held, HeldError: st.HeldError}, ok, err
}

// apiCameras shows the fleet's cameras to the API.
type apiCameras struct{ fl *fleet.Fleet }

func (a apiCameras) Cameras() []api.CameraStatus {
	cams := a.fl.Cameras()
	out := make([]api.CameraStatus, len(cams))
	for i, c := range cams {
		out[i] = api.CameraStatus{ID: c.ID, Name: c.Name, State: string(c.State), LastError: c.LastError,
			RecordingSince: c.RecordingSince, NextWindow: c.NextWindow, AudioCodec: c.AudioCodec, AudioNote: c.AudioNote, Node: c.Node}
		if c.Sub != nil {
			out[i].Sub = &api.SubStatus{State: string(c.Sub.State), LastError: c.Sub.LastError, Recorded: c.Sub.Recorded}
		}
	}
	return out
}

func apiTokens(cfg *config.Config) []api.Token {
	var out []api.Token
	if cfg.API.Token != "" {
		out = append(out, api.Token{Value: cfg.API.Token})
	}
	for _, t := range cfg.API.Tokens {
		out = append(out, api.Token{Value: t.Token, Cameras: t.Cameras})
	}
	return out
}

func apiUsers(cfg *config.Config) []api.User {
	var out []api.User
	for _, u := range cfg.Users {
		out = append(out, api.User{Name: u.Name, PasswordHash: u.PasswordHash, Cameras: u.Cameras})
	}
	return out
}

// loopbackHosts lists the Host names a token-less API answers to, with
// api.allowed_hosts and advertise_url's host; with tokens or users, nil
// (any Host) unless allowed_hosts is set.
func loopbackHosts(cfg *config.Config) []string {
	if (len(apiTokens(cfg)) > 0 || len(cfg.Users) > 0) && len(cfg.API.AllowedHosts) == 0 {
		return nil
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(cfg.Listen); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	// The other nodes reach this one by its advertise_url.
	if u, err := url.Parse(cfg.AdvertiseURL); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	return append(hosts, cfg.API.AllowedHosts...)
}

// swapHandler lets a reload replace the API handler atomically.
type swapHandler struct {
	mu sync.RWMutex
	h  http.Handler
}

func (s *swapHandler) set(h http.Handler) { s.mu.Lock(); s.h = h; s.mu.Unlock() }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	h := s.h
	s.mu.RUnlock()
	h.ServeHTTP(w, r)
}

// replacingRegisterer lets a reloaded API handler take over the metrics of
// the one it replaces (Prometheus sees a counter reset, not a clash).
type replacingRegisterer struct{ *prometheus.Registry }

func (r replacingRegisterer) Register(c prometheus.Collector) error {
	err := r.Registry.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		r.Registry.Unregister(are.ExistingCollector)
		err = r.Registry.Register(c)
	}
	return err
}

func (r replacingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// apiEvents feeds the API's live event stream from the fleet's events.
type apiEvents struct{ fl *fleet.Fleet }

// Subscribe subscribes to the fleet with buf events of room and converts
// them on a goroutine that the returned stop function ends and waits for.
// A slow reader is the fleet subscription's to handle: it drops and later
// says how many (fleet.Missed), never blocking recording.
func (a apiEvents) Subscribe(buf int) (<-chan api.Event, func()) {
	sub := a.fl.Subscribe(buf)
	out := make(chan api.Event)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(out)
		for {
			select {
			case <-done:
				return
			case ev, ok := <-sub.Events():
				if !ok {
					return
				}
				e, keep := apiEvent(ev)
				if !keep {
					continue
				}
				select {
				case out <- e:
				case <-done:
					return
				}
			}
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() {
			close(done)
			sub.Close()
			wg.Wait()
		})
	}
}

// apiEvent is the API's form of a fleet event; failures and time jumps
// reach the UI through the state they lead to.
func apiEvent(ev fleet.Event) (api.Event, bool) {
	switch e := ev.(type) {
	case fleet.StateChanged:
		return api.Event{Type: "state", Camera: e.Camera, State: string(e.State), LastError: e.LastError}, true
	case fleet.SubStateChanged:
		return api.Event{Type: "sub_state", Camera: e.Camera, State: string(e.State), LastError: e.LastError}, true
	case fleet.SegmentOpened:
		return api.Event{Type: "segment", Camera: e.Camera, Segment: &e.Segment}, true
	case fleet.SegmentGrew:
		return api.Event{Type: "segment", Camera: e.Camera, Segment: &e.Segment}, true
	case fleet.SegmentFinished:
		return api.Event{Type: "segment", Camera: e.Camera, Segment: &e.Segment}, true
	case fleet.SegmentDeleted:
		return api.Event{Type: "segment_deleted", Camera: e.Camera, Segment: &e.Segment}, true
	case fleet.Missed:
		return api.Event{Type: "missed", Missed: e.Count}, true
	}
	return api.Event{}, false
}
