package interp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// A Migrator moves in-flight tasks of a program from one version to
// another, each only if its journal proves it safe: the journal replays
// to its end under the new version (a Checker). Moving is a fenced re-pin
// under the task's lease (store.Store.Migrate): the migrator claims the
// task, loads it and checks it again under the lease, so that a step the
// task took after the first check is checked too, and the store refuses
// the move if the lease was lost meanwhile (a stale migrator moves
// nothing). The tasks that do not fit stay on their version to drain.
//
// A Migrator reads and claims like a worker: on SQLite, where only the
// worker process claims, run it in that process (or with the worker
// stopped).
type Migrator struct {
	st      store.Store
	checker *Checker
	opts    MigratorOptions
}

// MigratorOptions tunes a Migrator. The zero value is usable.
type MigratorOptions struct {
	// Owner names the migrator in the leases it takes (default
	// migrator-host-pid-random).
	Owner string
	// Lease is how long the migrator's claim of a task lasts (default
	// 30s): the check under the lease must end within it.
	Lease time.Duration
	// Now is the migrator's clock (default time.Now).
	Now func() time.Time
}

// NewMigrator returns a Migrator of the tasks in st, checking them
// against the programs of reg.
func NewMigrator(st store.Store, reg *task.Registry, o MigratorOptions) *Migrator {
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("migrator-%s-%d-%x", host, os.Getpid(), rand.Uint32())
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Migrator{st: st, checker: NewChecker(WithRegistry(reg)), opts: o}
}

// Move is what became of one task in a migration.
type Move struct {
	// Check is the last verdict on the task: the one made under its lease
	// when the migrator got that far.
	Check
	// Moved reports that the task now runs version Check.To.
	Moved bool
	// Skipped says why a task that fitted was not moved: it was leased
	// by a worker, it finished, or the migrator's lease was lost. ""
	// when it moved or did not fit.
	Skipped string
}

// Any is the from version of Tasks and Migrate that selects every
// version of the program but the one checked against.
const Any = -1

// Tasks calls each for every unfinished task of program at version from
// (Any: at any version but to), in ID order, with its record as stored.
// A task whose record does not load (a corrupt row) is given with a nil
// record and the error.
func (m *Migrator) Tasks(ctx context.Context, program string, from, to int, each func(id string, rec *task.Record, err error) error) error {
	f := store.Filter{Program: program, Limit: 500}
	if from != Any {
		f.Version = from // 0 matches every version: filtered below
	}
	for {
		page, err := m.st.List(ctx, f)
		if err != nil {
			return fmt.Errorf("interp: listing the tasks of %s: %w", program, err)
		}
		for _, s := range page {
			if s.Status.Final() || s.Version == to || from != Any && s.Version != from {
				continue
			}
			rec, _, err := m.st.Load(ctx, s.ID)
			if err != nil {
				rec = nil
				err = fmt.Errorf("task %s (%s v%d): %w", s.ID, s.Program, s.Version, err)
			}
			if err := each(s.ID, rec, err); err != nil {
				return err
			}
		}
		if len(page) < f.Limit {
			return nil
		}
		f.After = page[len(page)-1].Cursor()
	}
}

// CheckAll checks every unfinished task of program at version from (Any:
// every version but to) against version to, touching nothing, and calls
// each with the verdict. It fails before checking anything if this
// migrator's registry does not have version to.
func (m *Migrator) CheckAll(ctx context.Context, program string, from, to int, each func(Check)) error {
	if _, err := m.checker.cfg.resolver.Program(program, to); err != nil {
		return fmt.Errorf("interp: check %s against v%d: %w", program, to, err)
	}
	return m.Tasks(ctx, program, from, to, func(id string, rec *task.Record, err error) error {
		if err != nil {
			each(Check{Task: id, Program: program, To: to, Err: err})
			return ctx.Err()
		}
		each(m.checker.Check(ctx, rec, to))
		return ctx.Err()
	})
}

// Migrate moves every unfinished task of program at version from to
// version to, when its journal fits to, and calls each with what became
// of it. It fails before moving anything if this migrator's registry does
// not have version to.
func (m *Migrator) Migrate(ctx context.Context, program string, from, to int, each func(Move)) error {
	if from == to {
		return fmt.Errorf("interp: migrate %s from v%d to v%d: the same version", program, from, to)
	}
	if _, err := m.checker.cfg.resolver.Program(program, to); err != nil {
		return fmt.Errorf("interp: migrate %s to v%d: %w", program, to, err)
	}
	return m.Tasks(ctx, program, from, to, func(id string, rec *task.Record, err error) error {
		if err != nil {
			each(Move{Check: Check{Task: id, Program: program, From: from, To: to, Err: err}})
			return ctx.Err()
		}
		each(m.move(ctx, rec, to))
		return ctx.Err()
	})
}

// MigrateTask moves task id to version to if its journal fits it.
func (m *Migrator) MigrateTask(ctx context.Context, id string, to int) (Move, error) {
	rec, _, err := m.st.Load(ctx, id)
	if err != nil {
		return Move{}, fmt.Errorf("interp: migrate %s: %w", id, err)
	}
	if _, err := m.checker.cfg.resolver.Program(rec.Program, to); err != nil {
		return Move{}, fmt.Errorf("interp: migrate %s to v%d: %w", id, to, err)
	}
	return m.move(ctx, rec, to), nil
}

// move checks rec against to, and if it fits, claims the task, checks it
// again as it is under the lease, and moves it.
func (m *Migrator) move(ctx context.Context, rec *task.Record, to int) Move {
	mv := Move{Check: m.checker.Check(ctx, rec, to)}
	if !mv.Fits {
		return mv
	}
	from := rec.Version
	l, err := m.st.ClaimID(ctx, m.opts.Owner, rec.ID, m.opts.Now(), m.opts.Lease)
	switch {
	case errors.Is(err, store.ErrLeased):
		mv.Skipped = "a worker holds its lease (it is running): migrate again later"
		return mv
	case errors.Is(err, store.ErrFinished):
		mv.Skipped = "it finished"
		return mv
	case err != nil:
		mv.Skipped = fmt.Sprintf("claiming it: %v", err)
		return mv
	}
	release := true // the lease, unless the task moved or the lease was lost
	defer func() {
		if release {
			// Give the lease back, expired at once: the task is claimed
			// again as if it were ready (a spurious wake-up, which a task
			// survives), not left waiting out a lease.
			m.st.ClaimID(context.WithoutCancel(ctx), m.opts.Owner, rec.ID, m.opts.Now(), 0)
		}
	}()
	now, _, err := m.st.Load(ctx, rec.ID)
	if err != nil {
		mv.Skipped = fmt.Sprintf("loading it under the lease: %v", err)
		return mv
	}
	if now.Version != from {
		mv.Skipped = fmt.Sprintf("it moved to v%d meanwhile", now.Version)
		return mv
	}
	// Check it again as it is now, under the lease: it may have taken
	// steps since the first check, and none can commit until the move.
	mv.Check = m.checker.Check(ctx, now, to)
	if !mv.Fits {
		return mv
	}
	err = m.st.Migrate(ctx, store.Repin{ID: rec.ID, Owner: m.opts.Owner, Epoch: l.Epoch, Steps: l.Steps, From: from, To: to, At: m.opts.Now()})
	if err != nil {
		mv.Skipped = fmt.Sprintf("the store refused the move: %v", err)
		if errors.Is(err, store.ErrLeaseLost) {
			release = false // not ours to give back
		}
		return mv
	}
	release, mv.Moved = false, true
	return mv
}
