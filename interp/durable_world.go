package interp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// The world under the durable interpreter (WithWorld).
//
// A World var's value carries the store version it came from. Every
// commit that writes world vars is stored by the World's commit hook
// (worldHook) before it is published, with the versions it read and the
// ones it replaces (never a blind write): inside a task's state op, in one
// store transaction with the task's journal up to and including the op;
// from plain Go code, alone. The store refuses a commit whose versions are
// stale (another worker, or a dead one's late commit, changed a var since
// it was read); the World then installs the store's newer values and the
// transaction runs again on them. So every writing transaction is
// serializable across all the workers of one store, and across crashes.
//
// A store that other processes write too (PostgreSQL, a WorldNotifier)
// runs the World clocked: after each accepted commit the worker reads what
// landed since the cut it showed (WorldSince), so that the World never
// shows this commit without the ones before it, and it follows the
// store's notifications (with a polling fallback) to install the others'
// commits, which wakes the transactions waiting with Retry on the vars
// they changed. A SQLite file has one worker process, which alone writes
// its world: its World runs unclocked, with no read after a commit.
//
// A task waiting in a Retry is also woken by the store: its step names
// the world vars the transaction read, at the versions read
// (store.Step.WaitWorld), and the store makes it ready when a commit
// writes one of them. So the wait survives the worker that ran it (killed,
// or closed) and its eviction from the cache: any worker's write wakes
// it, and whoever claims it runs the transaction again.
//
// A commit whose fate is unknown (the connection failed around the
// COMMIT) is settled before the transaction moves on: accepted if the
// store has it, committed again if it does not. A task's commit that the
// store superseded voids the task's step: the worker lets the task go and
// whoever holds it runs it from the store.

type stepKey struct{}

type stepCtx struct {
	t        *proc
	p        effect.Pending
	result   any
	recorded bool // the hook stored the op's journal entry with the writes
	void     bool // the task's state in this worker is no longer the store's
}

// errStepVoid is what a port's transact returns when the task's step must
// be abandoned, not completed: the task is run again from the store.
var errStepVoid = errors.New("interp: the step is void; the task is reloaded from the store")

// transact runs a state op whose world writes must be stored with the
// op's journal entry, before anyone sees them: the World's commit hook
// (worldHook) commits them.
func (dt *durableTask) transact(t *proc, p effect.Pending, op effect.Transactor) (any, *stm.Wait, bool, error) {
	ct, ok := op.(effect.ContextTransactor)
	if !ok { // a read: nothing to store with it
		r, wait, err := op.Transact()
		return r, wait, false, err
	}
	sc := &stepCtx{t: t, p: p}
	ctx := context.WithValue(dt.d.e.ctx, stepKey{}, sc)
	r, wait, err := ct.TransactContext(ctx, func(r any) { sc.result = r })
	if sc.void {
		return nil, nil, false, errStepVoid
	}
	return r, wait, sc.recorded, err
}

// worldHook stores a commit to world vars before it is published. Inside
// a task's state op, the commit carries the task's uncommitted journal and
// the op's own entry; otherwise (plain Go code) just the writes.
func (d *Durable) worldHook(c *world.Commit) error {
	var step store.Step
	sc, _ := c.Context.Value(stepKey{}).(*stepCtx)
	var en task.Entry
	if sc != nil {
		t, dt := sc.t, dur(sc.t)
		en = t.newEntry(sc.p, sc.result, nil)
		step = d.newStep(t)
		t.mu.Lock()
		step.Append = append(t.entriesFrom(dt.committed), en)
		t.mu.Unlock()
		step.Consumed, step.Sends, step.Spawns, step.Proc = dt.consumed, dt.sends, dt.spawns, dt.proc
		if dt.restartInput != nil {
			step.Restart = &store.Restart{Input: dt.restartInput}
		}
		step.Status, step.Keep = task.Running, true
	}
	step.World = make([]store.WorldWrite, len(c.Writes))
	for i, w := range c.Writes {
		step.World[i] = store.WorldWrite{Name: w.Name, Value: w.Value, Prev: w.Prev}
	}
	for _, r := range c.Reads {
		step.WorldReads = append(step.WorldReads, store.WorldRead{Name: r.Name, Version: r.Version})
	}
	step.Token = store.NewToken()

	err := d.commit(step)
	if errors.Is(err, store.ErrStale) {
		// Refused, nothing of it stored: install what the store holds
		// since the World's cut, and the transaction runs again.
		cut, cerr := d.st.WorldSince(c.Context, c.Synced)
		if cerr != nil {
			return d.abandon(sc, fmt.Errorf("reading the world after a stale commit: %w", cerr))
		}
		return &world.StaleError{Clock: cut.Clock, Fresh: worldValues(cut.Vars)}
	}
	if err != nil {
		return d.abandon(sc, err)
	}
	if d.clocked {
		cut, cerr := d.st.WorldSince(c.Context, c.Synced)
		if cerr == nil {
			c.Landed(cut.Clock, worldValues(cut.Vars))
		} else {
			// Published as it is; the refresh loop installs the others'
			// commits at its next turn.
			d.e.cfg.logger.Warn("amber: reading the world after a commit", "err", cerr)
			d.refreshSoon()
		}
	}
	if sc != nil {
		t, dt := sc.t, dur(sc.t)
		t.mu.Lock()
		t.appendJournal(&en)
		dt.committed = t.journalLen()
		t.mu.Unlock()
		dt.steps++
		dt.lease.Steps = dt.steps
		deferred := dt.deferred
		dt.reset()
		dt.deferred = deferred
		sc.recorded = true
	}
	return nil
}

// abandon fails a world commit that was not stored: a task's step is
// voided (the task is run again from the store), plain Go code gets the
// error.
func (d *Durable) abandon(sc *stepCtx, err error) error {
	if sc != nil {
		sc.void = true
		return fmt.Errorf("task %s: storing an STM commit: %w", sc.t.id, err)
	}
	return fmt.Errorf("interp: storing an STM commit: %w", err)
}

// refreshSoon makes the refresh loop look at the store's world now.
func (d *Durable) refreshSoon() {
	select {
	case d.worldKick <- struct{}{}:
	default:
	}
}

// refreshLoop installs into the World the commits other processes make:
// when the store says so (WorldNotifier), and at every poll in case a
// notification was lost.
func (d *Durable) refreshLoop(n store.WorldNotifier) {
	defer d.wg.Done()
	tick := time.NewTicker(d.opts.Poll)
	defer tick.Stop()
	for {
		var clock uint64
		select {
		case <-d.quit:
			return
		case clock = <-n.WorldCommitted():
		case <-d.worldKick:
		case <-tick.C:
			c, err := n.WorldClock(d.e.ctx)
			if err != nil {
				if d.e.ctx.Err() == nil {
					d.e.cfg.logger.Warn("amber: reading the world clock", "err", err)
				}
				continue
			}
			clock = c
		}
		if clock != 0 && clock <= d.world.Synced() {
			continue
		}
		d.refresh()
	}
}

// refresh installs what the store's world holds after the World's cut.
func (d *Durable) refresh() {
	cut, err := d.st.WorldSince(d.e.ctx, d.world.Synced())
	if err != nil {
		if d.e.ctx.Err() == nil {
			d.e.cfg.logger.Warn("amber: refreshing the world", "err", err)
		}
		return
	}
	if err := d.world.Refresh(cut.Clock, worldValues(cut.Vars)); err != nil {
		d.e.cfg.logger.Error("amber: refreshing the world", "err", err)
	}
}

// worldValues converts the store's world rows to the World's.
func worldValues(vs []store.WorldValue) []world.Value {
	out := make([]world.Value, len(vs))
	for i, v := range vs {
		out[i] = world.Value{Name: v.Name, Value: v.Value, Version: v.Version}
	}
	return out
}
