package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/s3test"
	"github.com/nvr-project/nvr/internal/segcheck"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
)

type uploadsInfo struct {
	Uploads *struct {
		BacklogSegments int64  `json:"backlog_segments"`
		BacklogBytes    int64  `json:"backlog_bytes"`
		Uploaded        uint64 `json:"uploaded"`
		Failures        uint64 `json:"failures"`
		LastError       string `json:"last_error"`
	} `json:"uploads"`
}

func (p *nvrProc) uploads() uploadsInfo {
	p.t.Helper()
	var in uploadsInfo
	if code := p.getJSON("/api/info", &in); code != 200 || in.Uploads == nil {
		p.t.Fatalf("GET /api/info: %d, uploads %v", code, in.Uploads)
	}
	return in
}

// body GETs path and returns the body, failing on another status than 200.
func (p *nvrProc) body(path string) []byte {
	p.t.Helper()
	resp, err := p.get(path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil || resp.StatusCode != 200 {
		p.t.Fatalf("GET %s: %d, %v: %.300s", path, resp.StatusCode, err, b)
	}
	return b
}

// metric returns the value of an unlabelled metric from /metrics (-1 if absent).
func (p *nvrProc) metric(name string) float64 {
	p.t.Helper()
	sc := bufio.NewScanner(strings.NewReader(string(p.body("/metrics"))))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				p.t.Fatalf("metric %s: %q", name, v)
			}
			return f
		}
	}
	return -1
}

// TestServeUploadsToBucket runs nvr serve with storage.s3 on a real
// SeaweedFS and a real RTSP camera: finished segments move to the bucket
// and their local files go; the API downloads and exports uploaded
// footage (decoded by ffmpeg); with the bucket stopped, recording goes on,
// the backlog shows in /api/info and /metrics; started again, it drains,
// and the index has every segment, back to back, each where its row says.
func TestServeUploadsToBucket(t *testing.T) {
	srv := s3test.Shared(t)
	if !srv.Throwaway() {
		t.Skip("needs the server s3test starts, to stop it (NVR_TEST_S3 is set)")
	}
	needTool(t, "ffmpeg")
	client, bcfg := s3test.Bucket(t)
	t.Setenv("S3_ACCESS_KEY_ID", srv.Access)
	t.Setenv("S3_SECRET_ACCESS_KEY", srv.Secret)
	cam := startCam(t, testcam.Options{})
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	listen := freeAddr(t)
	cfgPath := filepath.Join(dir, "nvr.yaml")
	writeConfig(t, cfgPath, fmt.Sprintf(`data_dir: %s
listen: %s
segment_duration: 2s
fsync_interval: 1s
storage:
  s3:
    endpoint: %s
    bucket: %s
    prefix: %s
cameras:
  - id: cam
    url: %s
`, dataDir, listen, srv.Endpoint, bcfg.Bucket, bcfg.Prefix, cam.URL()))

	p := startServe(t, cfgPath, listen)
	p.waitFor(90*time.Second, "three segments uploaded", func() bool { return p.uploads().Uploads.Uploaded >= 3 })

	// The oldest segments went first: download the first one and export
	// the first three, from the bucket.
	var list struct {
		Segments []struct {
			ID         int64
			Start, End string
			Frames     int64
		} `json:"segments"`
	}
	q := "?start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"
	if code := p.getJSON("/api/cameras/cam/segments"+q, &list); code != 200 || len(list.Segments) < 4 {
		t.Fatalf("segments: %d %+v", code, list)
	}
	seg0 := filepath.Join(dir, "seg0.mp4")
	if err := os.WriteFile(seg0, p.body(fmt.Sprintf("/api/segments/%d", list.Segments[0].ID)), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := ffprobeFrames(t, seg0); int64(n) != list.Segments[0].Frames {
		t.Errorf("downloaded uploaded segment decodes to %d frames, index says %d", n, list.Segments[0].Frames)
	}
	s0, _ := time.Parse(time.RFC3339Nano, list.Segments[0].Start)
	e2, _ := time.Parse(time.RFC3339Nano, list.Segments[2].End)
	clip := filepath.Join(dir, "export.mp4")
	exp := fmt.Sprintf("/api/cameras/cam/export?start=%s&end=%s", s0.UTC().Format(time.RFC3339Nano), e2.UTC().Format(time.RFC3339Nano))
	if err := os.WriteFile(clip, p.body(exp), 0o600); err != nil {
		t.Fatal(err)
	}
	want := list.Segments[0].Frames + list.Segments[1].Frames + list.Segments[2].Frames
	if n := ffprobeFrames(t, clip); int64(n) < want*9/10 {
		t.Errorf("export of three uploaded segments decodes to %d frames, want about %d", n, want)
	}

	// The bucket goes down for a minute: recording goes on, the backlog
	// grows.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = srv.Start("")
		}
	})
	before := p.camera("cam").Segments
	p.waitFor(90*time.Second, "a backlog of 3 segments and an error", func() bool {
		u := p.uploads().Uploads
		return u.BacklogSegments >= 3 && u.LastError != "" && u.Failures > 0
	})
	if c := p.camera("cam"); c.State != "recording" || c.Segments <= before {
		t.Errorf("during the outage camera is %q (%s) with %d segments, had %d", c.State, c.LastError, c.Segments, before)
	}
	if v := p.metric("nvr_upload_backlog_segments"); v < 3 {
		t.Errorf("nvr_upload_backlog_segments = %v during the outage, want >= 3", v)
	}
	if v := p.metric("nvr_upload_failures_total"); v < 1 {
		t.Errorf("nvr_upload_failures_total = %v during the outage", v)
	}
	for _, path := range []string{"/api/info", "/metrics", "/api/cameras"} {
		// (s3test's access key is also the start of its bucket names.)
		if b := p.body(path); strings.Contains(string(b), srv.Secret) {
			t.Errorf("GET %s carries the S3 secret key", path)
		}
	}

	time.Sleep(time.Until(down.Add(time.Minute)))
	if c := p.camera("cam"); c.State != "recording" || c.Segments < before+20 {
		t.Errorf("after a minute without the bucket camera is %q (%s) with %d segments, had %d", c.State, c.LastError, c.Segments, before)
	}

	// Back: the backlog drains.
	if err := srv.Start(""); err != nil {
		t.Fatal(err)
	}
	restarted = true
	p.waitFor(120*time.Second, "the backlog to drain", func() bool {
		u := p.uploads().Uploads
		return u.BacklogSegments == 0 && u.LastError == ""
	})
	if v := p.metric("nvr_uploaded_segments_total"); v < 6 {
		t.Errorf("nvr_uploaded_segments_total = %v, want >= 6", v)
	}
	if code := p.stop(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("nvr exit code %d", code)
	}
	if b, err := os.ReadFile(p.log.Name()); err != nil || strings.Contains(string(b), srv.Secret) {
		t.Errorf("the log carries the S3 secret key (or cannot be read: %v)", err)
	}

	// Every segment is indexed once, complete, readable where its row
	// says, and back to back with the previous one: nothing was lost.
	segs := segcheck.IndexWith(t, dataDir, storage.Options{Objects: client}, "cam")
	st, err := storage.OpenWithOptions(context.Background(), dataDir, storage.Options{Objects: client})
	if err != nil {
		t.Fatal(err)
	}
	recDir := st.RecordingsDir()
	st.Close()
	uploaded := 0
	for i, s := range segs {
		_, err := os.Stat(filepath.Join(recDir, filepath.FromSlash(s.Path)))
		switch {
		case s.Object != "":
			uploaded++
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("uploaded segment %d still has its local file (%v)", s.ID, err)
			}
		case err != nil:
			t.Errorf("local segment %d: %v", s.ID, err)
		}
		if i > 0 {
			if gap := time.Duration(s.StartNS - segs[i-1].EndNS); gap > 200*time.Millisecond {
				t.Errorf("gap of %v before segment %d", gap, s.ID)
			}
		}
	}
	if uploaded < 6 || uploaded < len(segs)-2 {
		t.Errorf("%d of %d segments uploaded", uploaded, len(segs))
	}

	// nvr export reads uploaded segments from the bucket too.
	cli := filepath.Join(dir, "cli.mp4")
	code, _, errOut := runBin(t, nil, "export", "-config", cfgPath, "-camera", "cam",
		"-start", s0.UTC().Format(time.RFC3339Nano), "-end", e2.UTC().Format(time.RFC3339Nano), "-o", cli)
	if code != 0 {
		t.Fatalf("nvr export of uploaded segments: exit %d: %s", code, errOut)
	}
	if n := ffprobeFrames(t, cli); int64(n) < want*9/10 {
		t.Errorf("nvr export of three uploaded segments decodes to %d frames, want about %d", n, want)
	}
}

// With storage.s3 and a key missing from the environment, nvr check and
// nvr serve say which variables to set, and never show the key that is set.
func TestS3KeysMissing(t *testing.T) {
	for _, k := range []string{"S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	data := newDataDir(t)
	cfg := filepath.Join(dir, "nvr.yaml")
	writeConfig(t, cfg, "data_dir: "+data+"\nlisten: "+freeAddr(t)+"\nstorage:\n  s3:\n    endpoint: http://127.0.0.1:1\n    bucket: nvr\ncameras:\n  - id: a\n    url: rtsp://192.0.2.1/x\n")
	env := []string{"S3_SECRET_ACCESS_KEY=Top-Secret-9"}
	for _, args := range [][]string{{"check", "-config", cfg}, {"serve", "-config", cfg}} {
		code, out, errOut := runBin(t, env, args...)
		if code == 0 || !strings.Contains(errOut, "storage.s3") || !strings.Contains(errOut, "S3_ACCESS_KEY_ID") {
			t.Errorf("nvr %s: exit %d, stderr %q; want a failure naming storage.s3 and S3_ACCESS_KEY_ID", args[0], code, errOut)
		}
		if strings.Contains(out+errOut, "Top-Secret") {
			t.Errorf("nvr %s shows the secret key: %s", args[0], out+errOut)
		}
	}
}
