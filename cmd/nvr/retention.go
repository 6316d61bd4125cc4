package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/nvr-project/nvr/storage"
)

// kickRetention asks the retention loop for a pass now (free space low,
// or a camera hit ENOSPC).
func (s *service) kickRetention() {
	select {
	case s.retentionKick <- struct{}{}:
	default:
	}
}

// retentionTrigger asks for a retention pass whenever a segment's size is
// recorded in the index (every fsync interval and at its close), so the
// byte limit is checked as soon as it can have been passed, without polling
// a sum over the whole index.
type retentionTrigger struct {
	*storage.Store
	kick func()
}

func (r retentionTrigger) UpdateSegment(ctx context.Context, seg storage.Segment) error {
	err := r.Store.UpdateSegment(ctx, seg)
	r.kick()
	return err
}

func (r retentionTrigger) FinishSegment(ctx context.Context, seg storage.Segment) error {
	err := r.Store.FinishSegment(ctx, seg)
	r.kick()
	return err
}

// retentionLoop deletes the oldest segments whenever a limit is exceeded:
// every minute (age), whenever a segment grew or closed (bytes), and at
// once when free space drops under min_free_bytes.
func (s *service) retentionLoop(ctx context.Context) {
	tick := time.NewTicker(freeSpaceInterval)
	defer tick.Stop()
	var last time.Time
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case <-s.retentionKick:
			// Age and free space are checked on their own clock; a
			// kick matters when a byte limit is set.
			pol := s.retentionPolicy()
			force = pol.MaxBytes > 0 || pol.MinFreeBytes > 0
		case <-tick.C:
		}
		pol := s.retentionPolicy()
		if !force && time.Since(last) < retentionInterval {
			if pol.MinFreeBytes <= 0 {
				continue
			}
			_, free, err := s.store.DiskUsage(ctx)
			if err != nil || free >= pol.MinFreeBytes {
				continue
			}
		}
		last = time.Now()
		rep, err := s.store.ApplyRetention(ctx, pol, time.Now())
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("retention", slog.Any("err", err))
			}
			continue
		}
		if rep.Deleted > 0 {
			s.metrics.deleted.Add(uint64(rep.Deleted))
			s.log.Info("retention deleted segments", slog.Any("report", rep))
		}
		if len(rep.Unmet) > 0 {
			s.log.Warn("retention limits still exceeded", slog.Any("unmet", rep.Unmet))
		}
	}
}

func (s *service) retentionPolicy() storage.RetentionPolicy {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.cfg.Retention
	p := storage.RetentionPolicy{
		MaxAge:       r.MaxAge.D(),
		MaxBytes:     int64(r.MaxBytes),
		MinFreeBytes: int64(r.MinFreeBytes),
	}
	for _, c := range s.cfg.Cameras {
		if c.MaxAge > 0 {
			if p.PerCameraMaxAge == nil {
				p.PerCameraMaxAge = map[string]time.Duration{}
			}
			p.PerCameraMaxAge[c.ID] = c.MaxAge.D()
		}
	}
	return p
}
