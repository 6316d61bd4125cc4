package storage

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// Group commit. With SQLite every write goes through one connection, and
// every commit waits for an fsync of the WAL (synchronous=FULL): a hundred
// cameras each committing their own row queue behind each other at every
// segment boundary. The writes that arrive while one transaction runs are
// gathered and the next caller to lead runs them all in one transaction,
// one fsync: each in a savepoint of its own, so one that fails (a lease
// lost, a path taken, a row gone) rolls back alone and the others commit.
// Each caller returns after the commit that holds its write, as before.
//
// There is no goroutine: the first caller to find nobody leading leads;
// after its transaction, it hands the lead to the oldest waiting caller.
// PostgreSQL has a pool of writer connections and commits in parallel;
// its writes run one transaction each, as before.

// maxGroup bounds the writes of one transaction.
const maxGroup = 256

type groupCommit struct {
	mu      sync.Mutex
	pending []*groupWrite
	leading bool
	// txs counts the transactions run (tests).
	txs uint64
}

type groupWrite struct {
	what string // for errors: "insert segment"
	fn   func(ctx context.Context, tx *sql.Tx) error
	err  error
	done chan struct{} // closed when err is final
	lead chan struct{} // closed when this caller is to run the next group
}

// inTx runs fn in a write transaction and returns once it is committed,
// or fn's error (its writes then undone). fn runs with ctx's values but
// not its cancellation: a statement cancelled inside a shared transaction
// would roll back the others' writes. A caller whose ctx ends before its
// write runs gets ctx's error and nothing is written.
func (s *Store) inTx(ctx context.Context, what string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if _, ok := s.idx.(*sqliteIndex); !ok {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("storage: %s: %w", what, err)
		}
		defer tx.Rollback()
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("storage: %s: %w", what, err)
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	g := &s.group
	w := &groupWrite{what: what, done: make(chan struct{}), lead: make(chan struct{})}
	w.fn = func(bctx context.Context, tx *sql.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(context.WithoutCancel(ctx), tx)
	}
	g.mu.Lock()
	g.pending = append(g.pending, w)
	if g.leading {
		g.mu.Unlock()
		select {
		case <-w.done:
			return w.err
		case <-w.lead:
		}
		g.mu.Lock()
	}
	g.leading = true
	n := min(len(g.pending), maxGroup)
	batch := append([]*groupWrite(nil), g.pending[:n]...)
	g.pending = append(g.pending[:0], g.pending[n:]...)
	g.txs++
	g.mu.Unlock()
	s.runGroup(batch)
	g.mu.Lock()
	if len(g.pending) > 0 {
		close(g.pending[0].lead)
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	<-w.done // w was in the batch it ran
	return w.err
}

// runGroup runs the writes of batch in one transaction and closes their
// done channels.
func (s *Store) runGroup(batch []*groupWrite) {
	ctx := context.Background() // not a caller's: see inTx
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	// fail gives err to every write that has no error of its own: the
	// transaction holding them is rolled back.
	fail := func(step string, err error) {
		for _, w := range batch {
			if w.err == nil {
				w.err = fmt.Errorf("storage: %s: %s: %w", w.what, step, err)
			}
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		fail("begin", err)
		return
	}
	defer tx.Rollback()
	if len(batch) == 1 {
		// Alone: no savepoint; its error rolls the transaction back.
		w := batch[0]
		if w.err = w.fn(ctx, tx); w.err != nil {
			return
		}
	} else {
		for _, w := range batch {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
				fail("savepoint", err)
				return
			}
			if w.err = w.fn(ctx, tx); w.err != nil {
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO w`); err != nil {
					fail("undoing another write of its group", err)
					return
				}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE w`); err != nil {
				fail("release savepoint", err)
				return
			}
		}
	}
	if err := tx.Commit(); err != nil {
		fail("commit", err)
	}
}
