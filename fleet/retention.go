package fleet

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nvr-project/nvr/storage"
)

const (
	// retentionInterval is the regular retention pass (issue 5).
	retentionInterval = time.Minute
	// freeSpaceInterval is how often free space is checked between passes.
	freeSpaceInterval = 5 * time.Second
)

// wantsRetention reports whether an event may mean a limit was passed: a
// segment's size reached the index (every fsync interval and at its
// close), so max_bytes is checked as soon as it can have been exceeded
// without polling a sum over the index; the disk filled up; or events
// were missed.
func wantsRetention(ev Event) bool {
	switch ev := ev.(type) {
	case SegmentGrew, SegmentFinished, Missed:
		return true
	case JobFailed:
		return errors.Is(ev.Err, ErrDiskFull)
	}
	return false
}

// retentionLoop deletes the oldest segments whenever a limit is exceeded:
// every minute (age), whenever the events say a byte limit may have been
// passed, and at once when free space drops under min_free_bytes.
func (f *Fleet) retentionLoop(ctx context.Context, sub *Subscription) {
	defer sub.Close()
	tick := time.NewTicker(freeSpaceInterval)
	defer tick.Stop()
	var last time.Time
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.Events():
			if !ok {
				return
			}
			if !wantsRetention(ev) {
				continue
			}
			// One pass covers whatever else is queued.
			for len(sub.Events()) > 0 {
				<-sub.Events()
			}
			// Age and free space are checked on their own clock; a
			// kick matters when a byte limit is set.
			pol := f.retentionPolicy()
			force = pol.MaxBytes > 0 || pol.MinFreeBytes > 0
		case <-tick.C:
		}
		pol := f.retentionPolicy()
		if !force && time.Since(last) < retentionInterval {
			if pol.MinFreeBytes <= 0 {
				continue
			}
			_, free, err := f.store.DiskUsage(ctx)
			if err != nil || free >= pol.MinFreeBytes {
				continue
			}
		}
		last = time.Now()
		rep, err := f.store.ApplyRetention(ctx, pol, time.Now())
		if err != nil {
			if ctx.Err() == nil {
				f.log.Error("retention", slog.Any("err", err))
			}
			continue
		}
		if rep.Deleted > 0 {
			f.log.Info("retention deleted segments", slog.Any("report", rep))
		}
		if len(rep.Unmet) > 0 {
			f.log.Warn("retention limits still exceeded", slog.Any("unmet", rep.Unmet))
		}
	}
}

// retentionPolicy is the policy of the config in force; deleted segments
// are counted and published.
func (f *Fleet) retentionPolicy() storage.RetentionPolicy {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.cfg.Retention
	p := storage.RetentionPolicy{
		MaxAge:       r.MaxAge.D(),
		MaxBytes:     int64(r.MaxBytes),
		MinFreeBytes: int64(r.MinFreeBytes),
		Deleted:      f.segmentsDeleted,
	}
	for _, c := range f.cfg.Cameras {
		if c.MaxAge > 0 {
			if p.PerCameraMaxAge == nil {
				p.PerCameraMaxAge = map[string]time.Duration{}
			}
			p.PerCameraMaxAge[c.ID] = c.MaxAge.D()
		}
	}
	return p
}

func (f *Fleet) segmentsDeleted(segs []storage.Segment) {
	f.deleted.Add(uint64(len(segs)))
	now := time.Now()
	for _, seg := range segs {
		f.hub.publish(SegmentDeleted{Base: Base{Camera: seg.Camera, Time: now}, Segment: seg})
	}
}
