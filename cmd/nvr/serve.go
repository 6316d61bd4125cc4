package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nvr-project/nvr/api"
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

// serve runs the service with cfg until ctx ends.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, initData bool, reload <-chan struct{}, reloadFn func() (*config.Config, error)) error {
	// The config refuses a listen address beyond loopback unless
	// allow_remote is set with a token; this is the last line of defence.
	tokens := apiTokens(cfg)
	if len(tokens) == 0 {
		if !api.IsLoopback(cfg.Listen) {
			return fmt.Errorf("listen %s is not a loopback address and the API has no token: set api.token and api.allow_remote", cfg.Listen)
		}
		log.Info("API has no token: serving on loopback only", slog.String("listen", cfg.Listen))
	}
	if err := checkListen(cfg.Listen); err != nil {
		return err
	}
	svc, err := newService(ctx, cfg, log, initData)
	if err != nil {
		return err
	}
	return svc.run(ctx, reload, reloadFn)
}
