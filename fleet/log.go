package fleet

import (
	"log/slog"

	"github.com/nvr-project/nvr/recorder"
)

// logEvents writes the events worth a line to log until sub is closed:
// one line per change of a job's state or last error, never one per
// packet or segment.
func logEvents(log *slog.Logger, sub *Subscription) {
	type seen struct {
		job       recorder.State
		lastError string
	}
	last := map[string]seen{}
	for ev := range sub.Events() {
		switch ev := ev.(type) {
		case StateChanged:
			prev, ok := last[ev.Camera]
			if !ok {
				prev.job = recorder.StateStopped
			}
			cur := seen{ev.Job, ev.LastError}
			last[ev.Camera] = cur
			if cur == prev {
				continue
			}
			attrs := []any{slog.String("camera", ev.Camera), slog.String("state", string(ev.Job))}
			if ev.LastError != "" {
				attrs = append(attrs, slog.String("err", ev.LastError))
			}
			if ev.Job == recorder.StateRetrying {
				attrs = append(attrs, slog.Time("next_retry", ev.NextRetry))
				log.Warn("camera state", attrs...)
			} else {
				log.Info("camera state", attrs...)
			}
		case SubStateChanged:
			attrs := []any{slog.String("camera", ev.Camera), slog.String("state", string(ev.State))}
			if ev.LastError != "" {
				attrs = append(attrs, slog.String("err", ev.LastError))
				log.Warn("camera sub stream state", attrs...)
			} else {
				log.Info("camera sub stream state", attrs...)
			}
		case JobFailed:
			// The state line carries the error; this one is for debugging.
			log.Debug("camera job failure", slog.String("camera", ev.Camera), slog.Any("err", ev.Err))
		case TimeJumped:
			// RELIABILITY R15: the camera's RTP clock jumped; the recorder
			// closed the segment and started a new run.
			log.Warn("camera timestamps jumped; new run started", slog.String("camera", ev.Camera),
				slog.Uint64("jumps", ev.Jumps))
		case Missed:
			log.Warn("the log fell behind; camera events were not logged", slog.Uint64("missed", ev.Count))
		}
	}
}
