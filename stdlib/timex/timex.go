// Package timex bounds effects in time with durable timers: a deadline
// survives a crash and a restart of the worker, because it is an
// effect.Sleep raced against the program it bounds (the timer's deadline is
// stored with the task), not a context.Context that lives in one process.
//
//	// direct style
//	quote, err := timex.WithTimeout(e, 30*time.Second, fetchQuote(item))
//	if errors.Is(err, timex.ErrDeadline) { ... }
//
//	// tree style
//	p := timex.Timeout(time.Hour, effect.Receive[Approval]())
//
// When the time runs out first, the program is cancelled (its pending ops
// are withdrawn: an activity in flight has its context cancelled and its
// result, if it comes, is dropped) and the bounded effect fails with a
// *DeadlineError, which matches ErrDeadline. Which came first, the program
// or the timer, is in the journal, so a replay decides the same way.
//
// Schedules that start a program at times of day are in package cron.
package timex

import (
	"errors"
	"fmt"
	"time"

	"github.com/amberrt/amber/effect"
)

// ErrDeadline is matched (errors.Is) by the failure of an effect whose
// time ran out.
var ErrDeadline = errors.New("timex: deadline exceeded")

// DeadlineError is the failure of an effect whose time ran out.
type DeadlineError struct {
	// Deadline is when the time ran out.
	Deadline time.Time
	// Timeout is the duration the effect was given (0 for Deadline).
	Timeout time.Duration
}

// Error says when the time ran out.
func (e *DeadlineError) Error() string {
	if e.Timeout > 0 {
		return fmt.Sprintf("timex: deadline exceeded: no result within %v (at %s)", e.Timeout, e.Deadline.Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("timex: deadline exceeded at %s", e.Deadline.Format(time.RFC3339Nano))
}

// Is reports whether target is ErrDeadline.
func (e *DeadlineError) Is(target error) bool { return target == ErrDeadline }

// Timeout bounds p to d from when it starts: it yields p's result if p
// finishes within d, and fails with a *DeadlineError otherwise. A d <= 0
// fails at once without starting p.
func Timeout[A any](d time.Duration, p effect.Eff[A]) effect.Eff[A] {
	return effect.Then(effect.Now(), func(now time.Time) effect.Eff[A] {
		return race(now, now.Add(d), d, p)
	})
}

// Deadline bounds p to the time t: it yields p's result if p finishes
// before t, and fails with a *DeadlineError otherwise. A t that has passed
// fails at once without starting p.
func Deadline[A any](t time.Time, p effect.Eff[A]) effect.Eff[A] {
	return effect.Then(effect.Now(), func(now time.Time) effect.Eff[A] {
		return race(now, t, 0, p)
	})
}

func race[A any](now, deadline time.Time, d time.Duration, p effect.Eff[A]) effect.Eff[A] {
	fail := effect.Fail[A](&DeadlineError{Deadline: deadline.UTC(), Timeout: d})
	left := deadline.Sub(now)
	if left <= 0 {
		return fail
	}
	return effect.Race(p, effect.Seq(effect.Sleep(left), fail))
}

// WithTimeout runs p, bounded to d, inside a direct-style body, and
// returns its result or its failure: a *DeadlineError if the time ran out.
// See Timeout.
func WithTimeout[A any](e *effect.Ctx, d time.Duration, p effect.Eff[A]) (A, error) {
	return effect.Try(e, Timeout(d, p))
}

// WithDeadline runs p, bounded to the time t, inside a direct-style body,
// and returns its result or its failure: a *DeadlineError if the time ran
// out. See Deadline.
func WithDeadline[A any](e *effect.Ctx, t time.Time, p effect.Eff[A]) (A, error) {
	return effect.Try(e, Deadline(t, p))
}
