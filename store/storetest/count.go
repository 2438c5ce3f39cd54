package storetest

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// Tally is the write transactions a Counted store has run, by kind. A
// call that changed nothing (a Claim that found no ready task) is counted
// apart, in Idle: it costs a round trip but no write.
type Tally struct {
	// Create, Claim, ClaimID and Commit count the calls of those names
	// (Claim only those that claimed a task); Other counts Wake, Send and
	// Cancel.
	Create, Claim, ClaimID, Commit, Other int64
	// Idle counts the Claims that found nothing to claim.
	Idle int64
}

// Writes is the number of transactions that wrote something: every count
// but Idle.
func (c Tally) Writes() int64 { return c.Create + c.Claim + c.ClaimID + c.Commit + c.Other }

// Counted is a store.Store that counts the write transactions it passes
// on (Create and CreateClaimed, Claim, ClaimID, Commit; Wake, Send and
// Cancel as Other):
// how benchmarks report the commits a workload costs. Each call is one
// transaction of the store below it, except that a store may group the
// Commits of several callers into one transaction (then Counted counts
// more than the database ran).
type Counted struct {
	store.Store
	create, claim, claimID, commit, other, idle atomic.Int64
}

// Count wraps s. The result keeps s's optional capabilities
// (store.Notifier, store.WorldNotifier): an interpreter over it behaves as
// over s.
func Count(s store.Store) (store.Store, *Counted) {
	c := &Counted{Store: s}
	n, isN := s.(store.Notifier)
	w, isW := s.(store.WorldNotifier)
	switch {
	case isN && isW:
		return struct {
			*Counted
			store.Notifier
			store.WorldNotifier
		}{c, n, w}, c
	case isN:
		return struct {
			*Counted
			store.Notifier
		}{c, n}, c
	case isW:
		return struct {
			*Counted
			store.WorldNotifier
		}{c, w}, c
	}
	return c, c
}

// Tally returns the counts so far.
func (c *Counted) Tally() Tally {
	return Tally{Create: c.create.Load(), Claim: c.claim.Load(), ClaimID: c.claimID.Load(),
		Commit: c.commit.Load(), Other: c.other.Load(), Idle: c.idle.Load()}
}

// Create counts and passes on.
func (c *Counted) Create(ctx context.Context, recs ...*task.Record) error {
	c.create.Add(1)
	return c.Store.Create(ctx, recs...)
}

// CreateClaimed counts (as a Create) and passes on.
func (c *Counted) CreateClaimed(ctx context.Context, owner string, now time.Time, lease time.Duration, recs ...*task.Record) ([]store.Lease, error) {
	c.create.Add(1)
	return c.Store.CreateClaimed(ctx, owner, now, lease, recs...)
}

// Claim counts and passes on.
func (c *Counted) Claim(ctx context.Context, owner string, max int, now time.Time, lease time.Duration, can ...task.ProgramVersion) ([]store.Lease, error) {
	ls, err := c.Store.Claim(ctx, owner, max, now, lease, can...)
	if len(ls) == 0 {
		c.idle.Add(1)
	} else {
		c.claim.Add(1)
	}
	return ls, err
}

// ClaimID counts and passes on.
func (c *Counted) ClaimID(ctx context.Context, owner, id string, now time.Time, lease time.Duration) (store.Lease, error) {
	c.claimID.Add(1)
	return c.Store.ClaimID(ctx, owner, id, now, lease)
}

// Commit counts and passes on.
func (c *Counted) Commit(ctx context.Context, steps []store.Step) ([]error, error) {
	c.commit.Add(1)
	return c.Store.Commit(ctx, steps)
}

// Wake counts and passes on.
func (c *Counted) Wake(ctx context.Context, ids ...string) error {
	c.other.Add(1)
	return c.Store.Wake(ctx, ids...)
}

// Send counts and passes on.
func (c *Counted) Send(ctx context.Context, to string, env task.Envelope) error {
	c.other.Add(1)
	return c.Store.Send(ctx, to, env)
}

// Cancel counts and passes on.
func (c *Counted) Cancel(ctx context.Context, id string) error {
	c.other.Add(1)
	return c.Store.Cancel(ctx, id)
}
