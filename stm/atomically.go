package stm

import (
	"context"
	"errors"
	"fmt"
)

// ErrNested is returned (or, by Var.Store, raised) when a transaction is
// started on a goroutine that is already running one, or from an Owner's
// Prepare. Compose transactions by passing the *Tx down instead.
var ErrNested = errors.New("stm: transaction started inside a transaction")

// ErrRetryNoReads is returned when a transaction calls Retry without having
// read any var: nothing could ever wake it.
var ErrRetryNoReads = errors.New("stm: Retry before reading any var would wait forever")

func nestedError(op string) error {
	return fmt.Errorf("%w: %s on a goroutine already inside Atomically, Attempt or an Owner's Prepare; pass the *Tx down (and compose alternatives with OrElse)", ErrNested, op)
}

type outcome uint8

const (
	outRunning outcome = iota
	outReturned
	outConflict
	outRetry
)

// Atomically runs fn as one atomic transaction and returns its result.
//
// fn may run several times: it is rerun from the start when it would observe
// a value changed by a concurrent commit, or when its commit conflicts. It
// must therefore have no effect other than through its *Tx. fn only ever sees
// a consistent snapshot of the vars it reads.
//
// If fn calls Retry, Atomically blocks until a var fn read changes, then
// reruns it. If fn returns an error, nothing is committed and Atomically
// returns the zero T and that error. If fn panics, nothing is committed and
// the panic is raised again in the caller. If an Owner's Prepare refuses
// the commit, Atomically returns its error, unless it is a *Conflict: then
// fn is rerun.
//
// Calling Atomically inside fn returns an error wrapping ErrNested.
func Atomically[T any](fn func(tx *Tx) (T, error)) (T, error) {
	res, _, err := run(nil, "Atomically", fn, true)
	return res, err
}

// AtomicallyContext is Atomically with a context: a Retry wait is abandoned
// when ctx is done, and then ctx.Err() is returned. ctx is also handed to
// Owners (Commit.Context), which lets an interpreter tell which task
// step a commit belongs to.
func AtomicallyContext[T any](ctx context.Context, fn func(tx *Tx) (T, error)) (T, error) {
	res, _, err := run(ctx, "AtomicallyContext", fn, true)
	return res, err
}

// Attempt runs fn like Atomically but never blocks on Retry; it is meant
// for an interpreter that must not hold a goroutine while a task waits.
//
// If fn commits or returns an error (or an Owner refuses it), wait is nil
// and result and err are as for Atomically. If fn calls Retry (and no OrElse
// alternative succeeds), nothing is committed, result is the zero T, err is
// nil, and wait is non-nil: rerun the transaction once wait.Done() is closed,
// and call wait.Cancel when done with it. A conflict with a concurrent commit
// is not a wait: Attempt reruns fn at once, as Atomically does.
func Attempt[T any](fn func(tx *Tx) (T, error)) (result T, wait *Wait, err error) {
	return run(nil, "Attempt", fn, false)
}

// AttemptContext is Attempt with a context for Owners (Commit.Context).
func AttemptContext[T any](ctx context.Context, fn func(tx *Tx) (T, error)) (result T, wait *Wait, err error) {
	return run(ctx, "AttemptContext", fn, false)
}

func run[T any](ctx context.Context, op string, fn func(*Tx) (T, error), block bool) (T, *Wait, error) {
	var zero T
	tx := enter(ctx)
	if tx == nil {
		return zero, nil, nestedError(op)
	}
	defer func() {
		if tx != nil {
			leave(tx)
		}
	}()
	for attempt := 0; ; {
		tx.begin()
		res, err, out := once(tx, fn)
		switch out {
		case outReturned:
			if err != nil {
				return zero, nil, err
			}
			err := tx.commit()
			if err == nil {
				return res, nil, nil
			}
			if err != errConflict {
				var c *Conflict
				var h *Handoff
				switch {
				case errors.As(err, &h):
					// Refresh runs transactions: step out of this one.
					leave(tx)
					tx = nil
					if err := h.Refresh(); err != nil {
						return zero, nil, fmt.Errorf("stm: publishing a handed-off commit: %w", err)
					}
					return res, nil, nil
				case !errors.As(err, &c):
					return zero, nil, err
				case c.Refresh != nil:
					leave(tx)
					tx = nil
					if err := c.Refresh(); err != nil {
						return zero, nil, fmt.Errorf("%w (refreshing after: %v)", err, c.Err)
					}
					if tx = enter(ctx); tx == nil {
						return zero, nil, nestedError(op)
					}
				}
			}
		case outRetry:
			if len(tx.reads) == 0 {
				return zero, nil, ErrRetryNoReads
			}
			w := newWait(tx.reads)
			if !block {
				return zero, w, nil
			}
			if ctx == nil {
				<-w.done
			} else {
				select {
				case <-w.done:
				case <-ctx.Done():
					w.Cancel()
					return zero, nil, ctx.Err()
				}
			}
			w.Cancel()
			attempt = 0
			continue
		}
		if c := tx.blocked; c != nil {
			tx.blocked = nil
			// The attempt gave up on a var another commit held locked
			// (its Owner's Prepare is storing it): sleep until that
			// commit is published or refused, not in a rerun loop.
			c.park(tx.blockedWord)
			continue
		}
		backoff(attempt)
		attempt++
	}
}

// once runs one attempt of fn and reports how it ended. A panic of fn that
// is not one of the package's signals is raised again.
func once[T any](tx *Tx, fn func(*Tx) (T, error)) (res T, err error, out outcome) {
	defer func() {
		if out != outRunning {
			return
		}
		switch r := recover(); r {
		case nil: // runtime.Goexit: let it proceed
		case sigConflict:
			out = outConflict
		case sigRetry:
			out = outRetry
		default:
			panic(r)
		}
	}()
	res, err = fn(tx)
	switch tx.sig { // the body recovered one of our signals: honour it
	case sigConflict:
		var zero T
		return zero, nil, outConflict
	case sigRetry:
		var zero T
		return zero, nil, outRetry
	}
	return res, err, outReturned
}
