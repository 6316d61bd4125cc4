// Package pgtest gives tests a real PostgreSQL database: a fresh, empty
// schema per test, on the server named by NVR_TEST_POSTGRES or, when that is
// unset, on a throwaway server it starts itself from the binaries of
// Debian's postgresql package (/usr/lib/postgresql/<version>/bin), so the
// tests need no service started beforehand.
//
// The throwaway server lives in a temporary directory, listens only on a
// Unix socket there (no port to collide with), trusts local connections and
// runs with fsync=off: it holds test data only. initdb refuses to run as
// root, so under root (CI) the server runs as the "postgres" user (or
// "nobody"). Without PostgreSQL a test is skipped, except when CI is set:
// then it fails.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the URL of a server to use
// instead of starting one (postgres://user@host:port/db; the role must be
// allowed to create schemas).
const EnvURL = "NVR_TEST_POSTGRES"

const (
	// startTimeout bounds initdb plus the server's start.
	startTimeout = 60 * time.Second
	// stopTimeout bounds a fast shutdown before the server is killed.
	stopTimeout = 10 * time.Second
	// opTimeout bounds creating or dropping one test schema.
	opTimeout = 30 * time.Second
)

var (
	once    sync.Once
	base    string // URL of the server's database
	baseErr error
	srv     *server
)

// URL returns the URL of a new empty schema (the URL's search_path) that
// is dropped when t ends. It skips t when no PostgreSQL can be had, and
// fails it instead when the environment variable CI is set.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { base, baseErr = setup() })
	if baseErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL needed and CI is set: %v", baseErr)
		}
		t.Skipf("no PostgreSQL (set %s or install postgresql): %v", EnvURL, baseErr)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "nvrtest_" + hex.EncodeToString(b[:])
	if err := run(base, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := run(base, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Main runs the tests and then stops the server pgtest started, if any.
// Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if srv != nil {
		if err := srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// run executes one statement on the database at u.
func run(u, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, stmt)
	return err
}

func setup() (string, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return u, nil
	}
	bin, err := findBin()
	if err != nil {
		return "", err
	}
	s, err := start(bin)
	if err != nil {
		return "", err
	}
	srv = s
	return s.url, nil
}

// findBin returns the bin directory of the newest PostgreSQL installed
// Debian's way, or the directory of initdb on PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no initdb in /usr/lib/postgresql/*/bin or on PATH")
}

func version(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}

type server struct {
	dir  string
	cmd  *exec.Cmd
	done chan error
	url  string
}

// start runs initdb and the server in a new temporary directory.
func start(bin string) (*server, error) {
	dir, err := os.MkdirTemp("", "nvr-pgtest-")
	if err != nil {
		return nil, err
	}
	cred, err := credential(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, tail(out))
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=64MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: a test binary that dies (a timeout panic) takes the
	// server with it, immediately (SIGQUIT).
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &server{dir: dir, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	s.url = (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres",
		RawQuery: url.Values{"host": {dir}, "sslmode": {"disable"}}.Encode()}).String()
	for {
		if err := run(s.url, "SELECT 1"); err == nil {
			return s, nil
		}
		select {
		case err := <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres exited: %v: %s", err, tail(log))
		case <-ctx.Done():
			s.stop()
			return nil, fmt.Errorf("postgres did not accept connections within %v", startTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// credential returns who the server runs as: nil (this process's user)
// unless we are root, whom initdb refuses; then the postgres user (or
// nobody), who is given the directory.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("running as root and no postgres or nobody user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// stop shuts the server down (fast shutdown, then kill) and removes its
// directory.
func (s *server) stop() error {
	defer os.RemoveAll(s.dir)
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
		return nil
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("postgres did not stop within %v; killed", stopTimeout)
	}
}

// tail keeps the end of a tool's output for an error message.
func tail(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return b
}
