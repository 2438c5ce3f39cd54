package interp

import (
	"context"
	"errors"
	"fmt"

	"github.com/amberrt/amber/task"
)

// Check is the verdict on one task of a deploy check: does its journal
// replay to its end under another version of its program?
type Check struct {
	Task    string
	Program string
	// From is the version the task runs; To the version it was checked
	// against.
	From, To int
	// Entries is the number of journal entries the task has.
	Entries int
	// Fits reports that the journal replays to its end under To with no
	// divergence: the task can move to To.
	Fits bool
	// Divergence says where and how it does not fit (Fits false, Err nil).
	Divergence *DivergenceError
	// Unpatched names the patches (effect.Patched) whose old branch the
	// task takes under To.
	Unpatched []string
	// Err is set when the task could not be checked at all: its journal
	// or input does not decode, To is not registered, the program fails
	// to start.
	Err error
}

// A Checker replays stored tasks against versions of their programs,
// touching nothing: what `deploy check` runs over every in-flight task,
// and what a migration runs again under the task's lease. It reuses one
// interpreter for all the tasks it checks; use one per goroutine.
type Checker struct {
	cfg  config
	mock *Mock
}

// NewChecker returns a Checker that looks programs up in the registry
// given by WithRegistry.
func NewChecker(opts ...ReplayOption) *Checker {
	cfg := newConfig(opts, ReplayOption.replayOption)
	cfg.logger = nil
	return &Checker{cfg: cfg, mock: newMock(cfg)}
}

// Check replays rec's journal against version to of its program.
func (c *Checker) Check(ctx context.Context, rec *task.Record, to int) Check {
	out := Check{Task: rec.ID, Program: rec.Program, From: rec.Version, To: to, Entries: len(rec.Journal)}
	p, err := c.cfg.resolver.Program(rec.Program, to)
	if err != nil {
		out.Err = fmt.Errorf("task %s: %w", rec.ID, err)
		return out
	}
	in, err := task.DecodeInput(p, rec.Input)
	if err != nil {
		out.Err = fmt.Errorf("task %s: the input does not decode for %s v%d: %w", rec.ID, rec.Program, to, err)
		return out
	}
	m, err := p.Start(in)
	if err != nil {
		out.Err = fmt.Errorf("task %s: %w", rec.ID, err)
		return out
	}
	r, err := c.mock.replay(ctx, rec.ID, p, m, rec.Journal, false)
	var de *DivergenceError
	switch {
	case errors.As(err, &de):
		out.Divergence = de
	case err != nil:
		out.Err = err
	default:
		out.Fits = true
		out.Unpatched = r.Unpatched
	}
	return out
}
