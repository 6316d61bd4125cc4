package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nvr-project/nvr/api"
	"github.com/nvr-project/nvr/fleet"
	"github.com/nvr-project/nvr/internal/config"
)

const serveHelp = `usage: nvr serve -config nvr.yaml [flags]

Records the cameras of the config file on their schedules and serves the
HTTP API. The first start needs -init to create data_dir; later starts
refuse a data_dir without nvr's marker (an unmounted disk, say). SIGHUP reloads the config (a config with errors is refused and the
old one stays in force); SIGINT or SIGTERM finalises every segment and exits.`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveHelp, stdout, stderr)
	path := fs.String("config", "nvr.yaml", "config file (YAML)")
	initData := fs.Bool("init", false, "initialise data_dir if it is new (first start); without it nvr refuses a data_dir without its marker, e.g. an unmounted disk")
	logFormat := fs.String("log-format", "", "log format: text or json (default: the config's log.format, else text)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if *logFormat == "" {
		*logFormat = cfg.Log.Format
	}
	log := newLeveledLogger(stderr, *logFormat, cfg.Log.Level)
	log.Info("nvr starting", slog.String("version", version()), slog.String("config", *path))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	stopRelay := relaySignals(hup, reload)
	defer stopRelay()
	return serve(ctx, cfg, log, *initData, reload, func() (*config.Config, error) { return config.Load(*path) })
}

// relaySignals turns SIGHUPs into reload requests until the returned
// function is called; it waits for its goroutine.
func relaySignals(in <-chan os.Signal, out chan<- struct{}) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-in:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// Shutdown bounds: SIGTERM must end the process within 10 s (issue 5), so
// each step gets a share of that.
const (
	httpShutdownTimeout = 2 * time.Second      // in-flight API requests finish
	fleetCloseTimeout   = fleet.JobStopTimeout // every job finalises its segment and sends TEARDOWN
)

// serve records cfg's cameras and serves the API until ctx ends, reloading
// the config on each value from reload; then it shuts down in order: API,
// jobs (segments finalised), the index.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, initData bool, reload <-chan struct{}, reloadFn func() (*config.Config, error)) error {
	// The config refuses a listen address beyond loopback unless
	// allow_remote is set with a token; this is the last line of defence.
	if len(apiTokens(cfg)) == 0 && len(cfg.Users) == 0 {
		if !api.IsLoopback(cfg.Listen) {
			return fmt.Errorf("listen %s is not a loopback address and the API has no token or users: set api.token (or users) and api.allow_remote", cfg.Listen)
		}
		log.Info("API has no token: serving on loopback only", slog.String("listen", cfg.Listen))
	}
	// Listen first: an address in use must not cost a camera a session.
	var certs *certHolder
	if cfg.API.TLS() {
		certs = &certHolder{}
		if err := certs.load(cfg); err != nil {
			return err
		}
	}
	ln, err := listenAPI(cfg.Listen, certs)
	if err != nil {
		return err
	}
	fl, err := fleet.Open(ctx, cfg, fleet.Options{Logger: log, InitData: initData})
	if err != nil {
		ln.Close()
		return err
	}
	w := newWiring(fl, log)
	if err := w.apply(ctx, cfg); err != nil {
		ln.Close()
		closeFleet(fl, log)
		return err
	}
	log.Info("API listening", slog.String("addr", ln.Addr().String()))
	srv := api.NewServer(cfg.Listen, &w.apiH)
	errc := make(chan error, 1)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case serveErr = <-errc:
			break loop
		case <-reload:
			next, err := reloadFn()
			if err == nil && next.Listen != cfg.Listen {
				err = fmt.Errorf("listen cannot change without a restart")
			}
			if err == nil && next.API.TLS() != cfg.API.TLS() {
				err = fmt.Errorf("turning TLS on or off needs a restart")
			}
			if err == nil && certs != nil {
				err = certs.load(next) // a renewed certificate takes effect now
			}
			if err == nil {
				err = w.apply(ctx, next)
			}
			if err != nil {
				log.Error("config reload refused; the old config stays in force", slog.Any("err", err))
				continue
			}
			log.Info("config reloaded", slog.Int("cameras", len(next.Cameras)))
		}
	}

	log.Info("shutting down")
	shCtx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	_ = srv.Shutdown(shCtx)
	cancel()
	<-served
	if err := closeFleet(fl, log); err != nil && serveErr == nil {
		serveErr = err
	}
	if serveErr != nil {
		return serveErr
	}
	log.Info("stopped")
	return nil
}

// closeFleet stops every job and closes the index. Jobs slow to stop are
// logged, not an error: their segments are recovered at the next start.
func closeFleet(fl *fleet.Fleet, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), fleetCloseTimeout)
	defer cancel()
	err := fl.Close(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		log.Error("some camera jobs did not stop in time")
		return nil
	}
	return err
}
