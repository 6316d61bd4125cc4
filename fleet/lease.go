package fleet

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"

	"github.com/nvr-project/nvr/storage"
)

// Lease timing on a shared PostgreSQL index (docs/scale-out.md, "Several
// nodes"). A dead node's cameras are free after DefaultLeaseTTL and taken
// at the others' next round, well within 30 s.
const (
	DefaultLeaseTTL = 12 * time.Second
)

// leaseTiming derives the renew interval and the local safety margin
// from the TTL: renew four times per TTL (so two lost renewals do not
// lose the lease), and stop a camera a quarter TTL before the database
// would let another node take it.
func leaseTiming(ttl time.Duration) (renew, margin time.Duration) {
	return ttl / 4, ttl / 4
}

// leaseLoop renews, releases and takes the node's camera leases every
// renew interval until ctx ends. It owns every lease call.
func (f *Fleet) leaseLoop(ctx context.Context) {
	renew, _ := leaseTiming(f.leaseTTL)
	t := time.NewTicker(renew)
	defer t.Stop()
	for {
		if !f.pauseRenew.Load() {
			f.leaseRound(ctx, renew)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leaseRound is one round: heartbeat, renew what is held, give back what
// should go elsewhere once its job ended, and take free cameras up to the
// fair share. Every call is bounded by the renew interval.
func (f *Fleet) leaseRound(parent context.Context, budget time.Duration) {
	ctx, cancel := context.WithTimeout(parent, budget)
	defer cancel()
	ttl := f.leaseTTL
	_, margin := leaseTiming(ttl)
	sent := time.Now() // local expiry counts from before the renewal left
	nodes, err := f.leases.Heartbeat(ctx, ttl)
	if err != nil {
		f.log.Error("lease heartbeat", slog.Any("err", err))
		return
	}
	renewed, err := f.leases.Renew(ctx, ttl)
	if err != nil {
		f.log.Error("renewing camera leases", slog.Any("err", err))
		return
	}
	until := sent.Add(ttl - margin)
	holders, err := f.store.Holders(ctx)
	if err != nil {
		f.log.Error("reading lease holders", slog.Any("err", err))
	}

	type cand struct {
		id, pin string
	}
	var release []struct {
		id    string
		lease storage.Lease
	}
	var cands []cand
	f.mu.Lock()
	if holders != nil {
		f.holders = holders
	}
	wanted, held := 0, 0
	for id, c := range f.cams {
		if l := c.lease; l.Token != 0 {
			if r, ok := renewed[id]; ok && r.Token == l.Token {
				f.holdUntil(c, until)
			} else {
				f.dropLease(id, c, "camera lease lost")
			}
		}
		if c.cfg.IsEnabled() && !c.removed && c.want {
			wanted++
		}
	}
	// Leases the database says are ours but no camera here holds (a
	// camera removed before its lease went back, or a previous process
	// under this node name): given back, or they would be renewed forever.
	for id, r := range renewed {
		if c := f.cams[id]; c == nil || c.lease.Token != r.Token {
			release = append(release, struct {
				id    string
				lease storage.Lease
			}{id, r})
		}
	}
	for _, c := range f.cams {
		if c.lease.Token != 0 {
			held++
		}
	}
	f.mu.Unlock()
	if nodes < 1 {
		nodes = 1
	}
	share := (wanted + nodes - 1) / nodes

	// Which pinned nodes are alive (asked outside f.mu).
	alive := map[string]bool{f.node: true}
	f.mu.Lock()
	pins := map[string]bool{}
	for _, c := range f.cams {
		if p := c.cfg.Node; p != "" && p != f.node {
			pins[p] = true
		}
	}
	f.mu.Unlock()
	for p := range pins {
		ok, err := f.leases.Alive(ctx, p)
		if err != nil {
			f.log.Error("lease round", slog.Any("err", err))
			return
		}
		alive[p] = ok
	}

	f.mu.Lock()
	over := held - share
	for id, c := range f.cams {
		wantIt := c.cfg.IsEnabled() && !c.removed && c.want
		pinnedAway := c.cfg.Node != "" && c.cfg.Node != f.node && alive[c.cfg.Node]
		if c.lease.Token != 0 && !c.giveBack {
			switch {
			case !wantIt, pinnedAway:
				c.giveBack = true
			case over > 0 && c.cfg.Node != f.node:
				c.giveBack = true
				over--
			}
		}
		if c.giveBack && c.run == nil && !c.sub.recording() {
			release = append(release, struct {
				id    string
				lease storage.Lease
			}{id, c.lease})
			c.lease, c.giveBack = storage.Lease{}, false
			held--
		}
		if c.lease.Token == 0 && wantIt && !pinnedAway {
			cands = append(cands, cand{id, c.cfg.Node})
		}
	}
	f.mu.Unlock()
	f.poke() // give-backs stop their jobs

	for _, r := range release {
		if err := f.leases.Release(ctx, r.id, r.lease); err != nil {
			f.log.Error("releasing camera lease", slog.String("camera", r.id), slog.Any("err", err))
		}
	}
	// Cameras pinned here first, then the rest in a stable order.
	sort.Slice(cands, func(i, j int) bool {
		pi, pj := cands[i].pin == f.node, cands[j].pin == f.node
		if pi != pj {
			return pi
		}
		return cands[i].id < cands[j].id
	})
	for _, cd := range cands {
		if cd.pin != f.node && held >= share {
			continue
		}
		l, ok, err := f.leases.Take(ctx, cd.id, ttl)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				f.log.Error("taking camera lease", slog.String("camera", cd.id), slog.Any("err", err))
			}
			return
		}
		if !ok {
			continue
		}
		held++
		f.takeovers.Add(1)
		f.mu.Lock()
		if c := f.cams[cd.id]; c != nil {
			c.lease = l
			f.holdUntil(c, until)
		}
		f.mu.Unlock()
		f.poke()
	}
}

// holdUntil notes a lease held until the local expiry t and arms a wake-up
// for it; the caller holds f.mu.
func (f *Fleet) holdUntil(c *camera, t time.Time) {
	c.leaseUntil = t
	if c.leaseTimer != nil {
		c.leaseTimer.Stop()
	}
	c.leaseTimer = time.AfterFunc(time.Until(t)+time.Millisecond, f.poke)
}

// dropLease forgets a camera's lease (lost or fenced): its job stops at
// the owner's next look. The caller holds f.mu.
func (f *Fleet) dropLease(id string, c *camera, why string) {
	f.log.Warn(why, slog.String("camera", id), slog.Int64("token", c.lease.Token))
	c.lease, c.giveBack = storage.Lease{}, false
	f.poke()
}

// holds reports whether the node may record camera c now: always on a
// single node; with leases, while its lease is held, not being given
// back, and before its local expiry. The caller holds f.mu.
func (f *Fleet) holds(c *camera) bool {
	if f.leases == nil {
		return true
	}
	return c.lease.Token != 0 && !c.giveBack && time.Now().Before(c.leaseUntil)
}

// fenced is called when a segment write was refused for a stale token.
func (f *Fleet) fenced(id string, token int64) {
	f.mu.Lock()
	if c := f.cams[id]; c != nil && c.lease.Token == token {
		f.dropLease(id, c, "camera lease fenced: another node holds it")
	}
	f.mu.Unlock()
}

// releaseAll gives back every lease and leaves (Close, once the jobs ended).
func (f *Fleet) releaseAll(ctx context.Context) {
	f.mu.Lock()
	held := map[string]storage.Lease{}
	for id, c := range f.cams {
		if c.lease.Token != 0 {
			held[id] = c.lease
		}
	}
	f.mu.Unlock()
	for id, l := range held {
		if err := f.leases.Release(ctx, id, l); err != nil {
			f.log.Error("releasing camera lease", slog.String("camera", id), slog.Any("err", err))
		}
	}
	if err := f.leases.Leave(ctx); err != nil {
		f.log.Error("leaving", slog.Any("err", err))
	}
}

// LeaseStats are the node's lease counters (metrics).
type LeaseStats struct {
	Held      int    // leases held now
	Takeovers uint64 // leases taken since start
}

// Leases returns the node's lease counters; zero on a single node.
func (f *Fleet) Leases() LeaseStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := LeaseStats{Takeovers: f.takeovers.Load()}
	for _, c := range f.cams {
		if f.leases != nil && f.holds(c) {
			st.Held++
		}
	}
	return st
}
