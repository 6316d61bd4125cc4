package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nvr-project/nvr/fleet"
	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/objstore"
)

const checkHelp = `usage: nvr check -config nvr.yaml [-skip-data-dir]

Validates a config file without recording: every problem by line and field,
as nvr serve would refuse it, then whether each camera's sdp file can be
read, whether data_dir is nvr's and writable, and, when configured, whether
index.postgres accepts a connection and storage.s3's bucket answers with
the keys in the environment (nothing is created or changed). Exits 0 when
all is well, 1 otherwise: for the CI of a config repository (with
-skip-data-dir on a machine without the data, the database or the bucket)
and before sending nvr a SIGHUP.`

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", checkHelp, stdout, stderr)
	path := fs.String("config", "nvr.yaml", "config file (YAML)")
	skipData := fs.Bool("skip-data-dir", false, "do not check data_dir, sdp files, the database or the bucket (the config is checked on another machine)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	var problems []string
	if !*skipData {
		problems = append(problems, checkDataDir(cfg.DataDir)...)
		for _, cam := range cfg.Cameras {
			if cam.SDP == "" || strings.Contains(cam.SDP, "://") {
				continue
			}
			if f, err := os.Open(cam.SDP); err != nil {
				problems = append(problems, fmt.Sprintf("camera %s: sdp: %v", cam.ID, err))
			} else {
				f.Close()
			}
		}
		problems = append(problems, checkServers(ctx, cfg)...)
		if cfg.API.TLS() {
			if err := (&certHolder{}).load(cfg); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", *path, strings.Join(problems, "; "))
	}
	fmt.Fprintf(stdout, "%s: ok (%d cameras, data_dir %s)\n", *path, len(cfg.Cameras), cfg.DataDir)
	return nil
}

// checkServers says whether index.postgres and storage.s3, when set,
// answer: each within checkServerTimeout, changing nothing.
func checkServers(ctx context.Context, cfg *config.Config) []string {
	var problems []string
	if cfg.Index.Postgres != "" {
		c, cancel := context.WithTimeout(ctx, checkServerTimeout)
		if err := storage.CheckPostgres(c, cfg.Index.Postgres); err != nil {
			problems = append(problems, "index.postgres: "+err.Error())
		}
		cancel()
	}
	if cfg.Storage.S3 != nil {
		if _, _, err := objstore.CredentialsFromEnv(); err != nil {
			return append(problems, "storage.s3: "+err.Error())
		}
		objects, err := fleet.OpenObjects(cfg)
		if err != nil {
			return append(problems, err.Error()) // it names storage.s3
		}
		c, cancel := context.WithTimeout(ctx, checkServerTimeout)
		if err := objects.CheckBucket(c); err != nil {
			problems = append(problems, "storage.s3: "+err.Error())
		}
		cancel()
	}
	return problems
}

// checkServerTimeout bounds each server check of nvr check: a database or
// a bucket on the site's network answers in milliseconds; an address that
// drops packets must not hang a config repository's CI.
const checkServerTimeout = 10 * time.Second

// checkDataDir says what would stop nvr serve from using dir, without
// creating or changing anything in it.
func checkDataDir(dir string) []string {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return []string{fmt.Sprintf("data_dir %s does not exist (nvr serve -init creates it; is the disk mounted?)", dir)}
	case err != nil:
		return []string{fmt.Sprintf("data_dir: %v", err)}
	case !st.IsDir():
		return []string{fmt.Sprintf("data_dir %s is not a directory", dir)}
	}
	var problems []string
	if _, err := os.Stat(filepath.Join(dir, storage.MarkerName)); err != nil {
		entries, _ := os.ReadDir(dir)
		if len(entries) == 0 {
			problems = append(problems, fmt.Sprintf("data_dir %s is empty: start nvr serve -init once to make it nvr's", dir))
		} else {
			problems = append(problems, fmt.Sprintf("data_dir %s holds files but not nvr's marker %s: not an nvr data directory (or the disk is not mounted)", dir, storage.MarkerName))
		}
	}
	f, err := os.CreateTemp(dir, ".nvr-check-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return append(problems, fmt.Sprintf("data_dir %s is not writable: %v", dir, err))
	}
	f.Close()
	os.Remove(f.Name())
	return problems
}
