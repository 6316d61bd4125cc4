// Package s3test gives tests a real S3-compatible bucket: a fresh bucket
// per test, on the server named by NVR_TEST_S3 or, when that is unset, on a
// throwaway SeaweedFS ("weed mini") it starts itself for the test package
// from the weed binary on PATH, in NVR_WEED or in /work/cache/weed/bin
// (.ci/run builds it). Without a server a test is skipped, except when CI is
// set: then it fails.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/storage/objstore"
)

// EnvURL names the variable holding a server to use instead of starting
// one: http://ACCESS:SECRET@host:port (the key must be allowed to create
// buckets).
const EnvURL = "NVR_TEST_S3"

// EnvWeed names the variable holding the path of the weed binary.
const EnvWeed = "NVR_WEED"

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
	accessKey    = "nvrtest"
)

var (
	once   sync.Once
	srv    *Server
	srvErr error
)

// Server is a running S3 endpoint and the keys to it.
type Server struct {
	Endpoint       string // http://host:port
	Access, Secret string
	cmd            *exec.Cmd
	dir            string
	done           chan struct{}
}

// Shared returns the package's server, starting it on first use; it skips
// t (or fails it when CI is set) when none can be had.
func Shared(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { srv, srvErr = setup() })
	if srvErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("S3 server needed and CI is set: %v", srvErr)
		}
		t.Skipf("no S3 server (set %s or build weed: see .ci/run): %v", EnvURL, srvErr)
	}
	return srv
}

// Bucket returns a client of a new, empty bucket on the shared server. The
// bucket's objects stay until the server goes (throwaway servers live in a
// temporary directory).
func Bucket(t testing.TB) (*objstore.Client, objstore.Config) {
	t.Helper()
	s := Shared(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	cfg := objstore.Config{Endpoint: s.Endpoint, Bucket: "nvrtest-" + hex.EncodeToString(b[:]), Prefix: "segments/"}
	c, err := objstore.NewWithKeys(cfg, s.Access, s.Secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A fresh server may need a moment before its filer takes buckets.
	var last error
	for ctx.Err() == nil {
		if last = c.EnsureBucket(ctx); last == nil {
			return c, cfg
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("s3test: create bucket: %v", last)
	return nil, cfg
}

// Main runs the tests and then stops the server s3test started, if any.
// Call it from TestMain: os.Exit(s3test.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	Cleanup()
	return code
}

// Cleanup stops the server s3test started, if any, and removes its data;
// for a TestMain that runs m itself (with pgtest.Main, say).
func Cleanup() {
	if srv != nil && srv.cmd != nil {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "s3test:", err)
		}
		_ = os.RemoveAll(srv.dir)
	}
}

// Throwaway reports whether the server was started by s3test (and so can
// be stopped and started by a test).
func (s *Server) Throwaway() bool { return s.cmd != nil }

func setup() (*Server, error) {
	if u := os.Getenv(EnvURL); u != "" {
		pu, err := url.Parse(u)
		if err != nil || pu.User == nil {
			return nil, fmt.Errorf("%s: want http://ACCESS:SECRET@host:port", EnvURL)
		}
		sec, _ := pu.User.Password()
		return &Server{Endpoint: pu.Scheme + "://" + pu.Host, Access: pu.User.Username(), Secret: sec}, nil
	}
	bin, err := weedBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nvr-s3test-")
	if err != nil {
		return nil, err
	}
	var sb [12]byte
	if _, err := rand.Read(sb[:]); err != nil {
		return nil, err
	}
	s := &Server{Access: accessKey, Secret: hex.EncodeToString(sb[:]), dir: dir}
	if err := s.Start(bin); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func weedBinary() (string, error) {
	if p := os.Getenv(EnvWeed); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("weed"); err == nil {
		return p, nil
	}
	p := "/work/cache/weed/bin/weed"
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", errors.New("weed (SeaweedFS) not found")
}

// freeBase finds a port p such that p..p+5 and their gRPC twins
// (p+10000..) are free on loopback: weed mini's services take both.
func freeBase() (int, error) {
	for range 200 {
		n, err := rand.Int(rand.Reader, big.NewInt(20000))
		if err != nil {
			return 0, err
		}
		p := 20000 + int(n.Int64())
		ok := true
		for i := range 6 {
			for _, q := range []int{p + i, p + i + 10000} {
				l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q))
				if err != nil {
					ok = false
					break
				}
				l.Close()
			}
		}
		if ok {
			return p, nil
		}
	}
	return 0, errors.New("no free ports")
}

// Start runs the throwaway server (again, after Stop: same data, same
// port), and waits until its S3 endpoint answers.
func (s *Server) Start(bin string) error {
	if s.Endpoint == "" {
		p, err := freeBase()
		if err != nil {
			return err
		}
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(p)
		cfg := fmt.Sprintf(`{"identities":[{"name":"nvr","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","Write","List","Tagging"]}]}`, s.Access, s.Secret)
		if err := os.WriteFile(filepath.Join(s.dir, "s3.json"), []byte(cfg), 0o600); err != nil {
			return err
		}
	}
	if bin == "" {
		bin = s.cmd.Path
	}
	u, _ := url.Parse(s.Endpoint)
	p, _ := strconv.Atoi(u.Port())
	log, err := os.OpenFile(filepath.Join(s.dir, "weed.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(bin, "mini", "-dir="+filepath.Join(s.dir, "data"),
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false", "-admin.ui=false", "-admin.port.legacy=0",
		"-s3.port="+strconv.Itoa(p), "-master.port="+strconv.Itoa(p+1), "-volume.port="+strconv.Itoa(p+2),
		"-filer.port="+strconv.Itoa(p+3), "-webdav.port="+strconv.Itoa(p+4), "-admin.port="+strconv.Itoa(p+5),
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config="+filepath.Join(s.dir, "s3.json"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start weed: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("weed exited at start (log %s)", log.Name())
		default:
		}
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = s.Stop()
	return fmt.Errorf("weed did not answer within %v (log %s)", startTimeout, log.Name())
}

// Stop ends the throwaway server (SIGTERM, then SIGKILL after
// stopTimeout) and waits for it: the bucket is down until Start.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return errors.New("s3test: not a server s3test started")
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		return nil
	}
}
