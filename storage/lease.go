package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrFenced is returned by a segment write whose lease (Segment.Lease) is
// no longer the writer's: another node took the camera, or the lease
// expired. The writer must stop recording the camera.
var ErrFenced = errors.New("storage: camera lease lost (stale fencing token)")

// ErrNoLeases is returned by the lease methods on an SQLite index: a
// single node takes no lease.
var ErrNoLeases = errors.New("storage: leases need the PostgreSQL index")

// Lease is a node's hold on recording one camera. Token goes up by one at
// every take, so a write carrying an older token is refused.
type Lease struct {
	Holder string
	Token  int64
}

// Leases are the lease operations of a node on a shared PostgreSQL index
// (docs/scale-out.md, "Several nodes"). Expiry is always computed with the
// server's clock, so the nodes' clocks do not matter to the database; a
// node measures its own local expiry from before it sent the renewal.
type Leases struct {
	s    *Store
	node string
}

// Leases returns the lease operations of node, or ErrNoLeases on SQLite.
func (s *Store) Leases(node string) (*Leases, error) {
	if _, ok := s.idx.(*postgresIndex); !ok {
		return nil, ErrNoLeases
	}
	if node == "" {
		return nil, fmt.Errorf("storage: leases need a node name")
	}
	return &Leases{s: s, node: node}, nil
}

// checkLease runs inside a segment write's transaction: with a lease set,
// the camera's lease row must hold l's holder and token and not be expired.
// FOR SHARE makes a concurrent take (which locks the row FOR UPDATE) wait
// for this transaction, or this one wait for the take and then fail: a
// write never commits after another node's take did.
func (s *Store) checkLease(ctx context.Context, tx *sql.Tx, camera string, l Lease) error {
	if l.Token == 0 {
		return nil
	}
	var ok bool
	err := tx.QueryRowContext(ctx, s.q(`SELECT holder = ? AND token = ? AND expires_at > clock_timestamp()
		FROM leases WHERE camera_id = ? FOR SHARE`), l.Holder, l.Token, camera).Scan(&ok)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		ok = false
	case err != nil:
		return fmt.Errorf("storage: check lease of %s: %w", camera, err)
	}
	if !ok {
		return fmt.Errorf("%w: camera %s, token %d of %s", ErrFenced, camera, l.Token, l.Holder)
	}
	return nil
}

// interval renders d for the server ("1500 milliseconds").
func interval(d time.Duration) string { return fmt.Sprintf("%d milliseconds", d.Milliseconds()) }

// Heartbeat marks the node alive for ttl, with its Options.NodeURL, and
// returns how many nodes are alive, itself included.
func (l *Leases) Heartbeat(ctx context.Context, ttl time.Duration) (int, error) {
	s := l.s
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO nodes (name, seen_until, url) VALUES (?, clock_timestamp() + ?::interval, ?)
		ON CONFLICT (name) DO UPDATE SET seen_until = excluded.seen_until, url = excluded.url`), l.node, interval(ttl), s.nodeURL); err != nil {
		return 0, fmt.Errorf("storage: node heartbeat: %w", err)
	}
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE seen_until > clock_timestamp()`).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: count nodes: %w", err)
	}
	return n, nil
}

// Alive reports whether node has a heartbeat that has not expired.
func (l *Leases) Alive(ctx context.Context, node string) (bool, error) {
	var ok bool
	err := l.s.w.QueryRowContext(ctx, l.s.q(`SELECT EXISTS (SELECT 1 FROM nodes WHERE name = ? AND seen_until > clock_timestamp())`), node).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("storage: node %s alive: %w", node, err)
	}
	return ok, nil
}

// Leave removes the node's heartbeat (a clean shutdown), so the others
// count it out at once.
func (l *Leases) Leave(ctx context.Context) error {
	if _, err := l.s.w.ExecContext(ctx, l.s.q(`DELETE FROM nodes WHERE name = ?`), l.node); err != nil {
		return fmt.Errorf("storage: leave: %w", err)
	}
	return nil
}

// Take tries to take camera's lease for ttl: it succeeds when the lease is
// free (never taken, expired or released) or already this node's, and
// returns the new lease with a token one above the last. A row another
// node is taking or writing under right now is skipped (FOR UPDATE SKIP
// LOCKED), as is a lease another node holds: ok is false then.
func (l *Leases) Take(ctx context.Context, camera string, ttl time.Duration) (lease Lease, ok bool, err error) {
	s := l.s
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO leases (camera_id) VALUES (?) ON CONFLICT (camera_id) DO NOTHING`), camera); err != nil {
		return Lease{}, false, fmt.Errorf("storage: take lease of %s: %w", camera, err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Lease{}, false, fmt.Errorf("storage: take lease of %s: %w", camera, err)
	}
	defer tx.Rollback()
	var holder string
	var free bool
	err = tx.QueryRowContext(ctx, s.q(`SELECT holder, expires_at <= clock_timestamp() FROM leases
		WHERE camera_id = ? FOR UPDATE SKIP LOCKED`), camera).Scan(&holder, &free)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, false, nil // locked by another node's take or write
	}
	if err != nil {
		return Lease{}, false, fmt.Errorf("storage: take lease of %s: %w", camera, err)
	}
	if !free && holder != l.node {
		return Lease{}, false, nil
	}
	lease.Holder = l.node
	if err := tx.QueryRowContext(ctx, s.q(`UPDATE leases SET holder = ?, token = token + 1, expires_at = clock_timestamp() + ?::interval
		WHERE camera_id = ? RETURNING token`), l.node, interval(ttl), camera).Scan(&lease.Token); err != nil {
		return Lease{}, false, fmt.Errorf("storage: take lease of %s: %w", camera, err)
	}
	if err := tx.Commit(); err != nil {
		return Lease{}, false, fmt.Errorf("storage: take lease of %s: %w", camera, err)
	}
	return lease, true, nil
}

// Renew extends, for ttl, every lease of this node that has not expired
// and returns them by camera. A lease missing from the result is lost.
func (l *Leases) Renew(ctx context.Context, ttl time.Duration) (map[string]Lease, error) {
	s := l.s
	rows, err := s.w.QueryContext(ctx, s.q(`UPDATE leases SET expires_at = clock_timestamp() + ?::interval
		WHERE holder = ? AND expires_at > clock_timestamp() RETURNING camera_id, token`), interval(ttl), l.node)
	if err != nil {
		return nil, fmt.Errorf("storage: renew leases: %w", err)
	}
	defer rows.Close()
	out := map[string]Lease{}
	for rows.Next() {
		var cam string
		var tok int64
		if err := rows.Scan(&cam, &tok); err != nil {
			return nil, fmt.Errorf("storage: renew leases: %w", err)
		}
		out[cam] = Lease{Holder: l.node, Token: tok}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: renew leases: %w", err)
	}
	return out, nil
}

// Release gives up camera's lease if it is still lease, so another node
// may take it at once. Call it once the camera's job has ended.
func (l *Leases) Release(ctx context.Context, camera string, lease Lease) error {
	if _, err := l.s.w.ExecContext(ctx, l.s.q(`UPDATE leases SET expires_at = '-infinity'
		WHERE camera_id = ? AND holder = ? AND token = ?`), camera, lease.Holder, lease.Token); err != nil {
		return fmt.Errorf("storage: release lease of %s: %w", camera, err)
	}
	return nil
}

// Holders returns, by camera, the node holding an unexpired lease.
func (s *Store) Holders(ctx context.Context) (map[string]string, error) {
	if _, ok := s.idx.(*postgresIndex); !ok {
		return map[string]string{}, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT camera_id, holder FROM leases WHERE expires_at > clock_timestamp()`)
	if err != nil {
		return nil, fmt.Errorf("storage: lease holders: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var cam, h string
		if err := rows.Scan(&cam, &h); err != nil {
			return nil, fmt.Errorf("storage: lease holders: %w", err)
		}
		out[cam] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: lease holders: %w", err)
	}
	return out, nil
}
