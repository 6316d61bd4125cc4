package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/internal/redact"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/objstore"
)

const (
	// uploadBuffer is the uploader's event buffer: an event only means
	// "look again", so a few suffice (Missed says the same).
	uploadBuffer = 64
	// uploadBatch is how many segments one UploadPending call takes.
	uploadBatch = 16
	// uploadPoll is the look between events, for segments that finished
	// while the uploader was busy or before a restart.
	uploadPoll = 30 * time.Second
	// uploadRetryMin and uploadRetryMax bound the backoff while the
	// bucket fails.
	uploadRetryMin = time.Second
	uploadRetryMax = time.Minute
	// heldRetryMin and heldRetryMax bound the wait before a segment that
	// failed on its own (storage.ErrUploadSegment, or a failure followed
	// by a success) is tried again: it stays on the local disk, where
	// retention keeps its limits, and never holds up the others.
	heldRetryMin = 10 * time.Minute
	heldRetryMax = 6 * time.Hour
	// maxHeld bounds the held set: past it a segment's own failure is
	// treated as the bucket's (the pass stops and backs off), since that
	// many failing segments say more about the bucket than about them.
	maxHeld = 4096
)

// UploadStatus is the state of the uploads to the bucket (storage.s3).
type UploadStatus struct {
	// Bucket names the bucket (endpoint host and bucket, no keys).
	Bucket string
	// Backlog is what waits on the local disk (complete segments only).
	Backlog storage.Backlog
	// Uploaded and Failures count segments uploaded and failed upload
	// passes since start.
	Uploaded, Failures uint64
	// LastError is the last failure (redacted; "" after a pass that
	// succeeded) and LastErrorAt its time.
	LastError   string
	LastErrorAt time.Time
	// Held counts the segments passed over because their upload failed
	// on its own (their local file, or other bytes already at their key);
	// they stay on the local disk and are retried after a while.
	// HeldError is the latest of those failures (redacted).
	Held      int
	HeldError string
}

// uploader is the fleet's state of the uploads; nil without a bucket.
type uploader struct {
	objects  *objstore.Client
	uploaded atomic.Uint64
	failures atomic.Uint64

	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
	// held maps a segment id to when its upload may be tried again and
	// how long it waited last; heldErr is the latest reason.
	held    map[int64]heldSegment
	heldErr string
}

type heldSegment struct {
	retry time.Time
	wait  time.Duration
}

// skipped returns the ids held until after now.
func (u *uploader) skipped(now time.Time) map[int64]bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	skip := make(map[int64]bool, len(u.held))
	for id, h := range u.held {
		if now.Before(h.retry) {
			skip[id] = true
		}
	}
	return skip
}

// hold passes over seg until a retry time, doubling its wait each time it
// fails again; false when the held set is full.
func (u *uploader) hold(id int64, err error, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	h, ok := u.held[id]
	if !ok && len(u.held) >= maxHeld {
		return false
	}
	h.wait = min(max(2*h.wait, heldRetryMin), heldRetryMax)
	h.retry = now.Add(h.wait)
	if u.held == nil {
		u.held = make(map[int64]heldSegment)
	}
	u.held[id] = h
	u.heldErr = redact.Text(err.Error())
	return true
}

// release forgets a held segment once it was uploaded.
func (u *uploader) release(id int64) {
	u.mu.Lock()
	delete(u.held, id)
	u.mu.Unlock()
}

// OpenObjects builds the client of cfg's bucket (storage.s3) with the keys
// from the environment; nil without storage.s3. A missing key is an error
// naming the variables, never their values. It does not contact the server.
func OpenObjects(cfg *config.Config) (*objstore.Client, error) {
	s3 := cfg.Storage.S3
	if s3 == nil {
		return nil, nil
	}
	c, err := objstore.New(objstore.Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: s3.Prefix, Region: s3.Region, TLS: s3.TLS})
	if err != nil {
		return nil, fmt.Errorf("storage.s3: %w", err)
	}
	return c, nil
}

func sameS3(a, b *config.S3) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Uploads reports the uploads to the bucket; ok is false without one.
// ctx bounds the backlog query.
func (f *Fleet) Uploads(ctx context.Context) (UploadStatus, bool, error) {
	u := f.uploads
	if u == nil {
		return UploadStatus{}, false, nil
	}
	st := UploadStatus{Bucket: u.objects.String(), Uploaded: u.uploaded.Load(), Failures: u.failures.Load()}
	u.mu.Lock()
	st.LastError, st.LastErrorAt = u.lastErr, u.lastErrAt
	st.Held, st.HeldError = len(u.held), u.heldErr
	u.mu.Unlock()
	b, err := f.store.UploadBacklog(ctx)
	if err != nil {
		return st, true, err
	}
	st.Backlog = b
	return st, true, nil
}

// wantsUpload reports whether an event may mean a segment is ready.
func wantsUpload(ev Event) bool {
	switch ev.(type) {
	case SegmentFinished, Missed:
		return true
	}
	return false
}

// uploadLoop moves finished segments to the bucket: at start (what an
// earlier run left), when a segment finishes, and every uploadPoll. While
// the bucket fails it retries with a backoff from uploadRetryMin doubling
// to uploadRetryMax, and events do not shorten the wait; recording and
// retention go on meanwhile, the segments stay on the local disk.
func (f *Fleet) uploadLoop(ctx context.Context, sub *Subscription) {
	defer sub.Close()
	u := f.uploads
	timer := time.NewTimer(0)
	defer timer.Stop()
	var backoff time.Duration
	ensured := false
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.Events():
			if !ok {
				return
			}
			if !wantsUpload(ev) || backoff > 0 {
				continue
			}
			for len(sub.Events()) > 0 {
				<-sub.Events()
			}
		case <-timer.C:
		}
		err := f.uploadPass(ctx, &ensured)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			u.failures.Add(1)
			msg := redact.Text(err.Error())
			u.mu.Lock()
			first := u.lastErr == ""
			u.lastErr, u.lastErrAt = msg, time.Now()
			u.mu.Unlock()
			backoff = min(max(2*backoff, uploadRetryMin), uploadRetryMax)
			if first {
				f.log.Warn("upload to bucket failed; segments stay on the local disk and are retried", slog.String("bucket", u.objects.String()), slog.String("err", msg))
			} else {
				f.log.Debug("upload retry failed", slog.String("err", msg), slog.Duration("next", backoff))
			}
			resetTimer(timer, backoff)
			continue
		}
		u.mu.Lock()
		recovered := u.lastErr != ""
		u.lastErr = ""
		u.mu.Unlock()
		if recovered {
			f.log.Info("uploads to bucket resumed", slog.String("bucket", u.objects.String()))
		}
		backoff = 0
		resetTimer(timer, uploadPoll)
	}
}

// uploadPass creates the bucket if it is missing (once) and uploads until
// no complete local segment is left or one fails.
func (f *Fleet) uploadPass(ctx context.Context, ensured *bool) error {
	u := f.uploads
	if !*ensured {
		if err := u.objects.EnsureBucket(ctx); err != nil {
			return fmt.Errorf("bucket %s: %w", u.objects, err)
		}
		*ensured = true
	}
	for {
		segs, err := f.store.UploadQueue(ctx, uploadBatch, u.skipped(time.Now()))
		if err != nil {
			return err
		}
		// suspect is a segment whose upload failed for no reason of its
		// own that we know of: when the next one succeeds the bucket is
		// up and the failure was the segment's; when the next one fails
		// too, the bucket is what fails.
		var suspect *storage.Segment
		var suspectErr error
		for i := range segs {
			seg := &segs[i]
			err := f.store.Upload(ctx, *seg)
			switch {
			case err == nil:
				u.uploaded.Add(1)
				u.release(seg.ID)
				if suspect != nil {
					if !f.holdSegment(*suspect, suspectErr) {
						return suspectErr
					}
					suspect = nil
				}
				continue
			case ctx.Err() != nil:
				return err
			case errors.Is(err, storage.ErrUploadSegment):
				if !f.holdSegment(*seg, err) {
					return err
				}
				continue
			case suspect != nil:
				return suspectErr
			}
			suspect, suspectErr = seg, err
		}
		if suspect != nil {
			return suspectErr
		}
		if len(segs) < uploadBatch {
			return nil
		}
	}
}

// holdSegment passes over a segment whose upload failed on its own and
// says so once per attempt; false when too many are held already.
func (f *Fleet) holdSegment(seg storage.Segment, err error) bool {
	if !f.uploads.hold(seg.ID, err, time.Now()) {
		return false
	}
	f.log.Warn("segment cannot be uploaded; it stays on the local disk and is retried later",
		slog.String("camera", seg.Camera), slog.Int64("segment", seg.ID), slog.String("path", seg.Path),
		slog.String("err", redact.Text(err.Error())))
	return true
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}
