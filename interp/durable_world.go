package interp

import (
	"context"
	"fmt"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

type stepKey struct{}

type stepCtx struct {
	t        *proc
	p        effect.Pending
	result   any
	recorded bool // the hook stored the op's journal entry with the writes
}

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
	return r, wait, sc.recorded, err
}

// worldHook stores a commit to world vars before it is published. Inside
// a task's state op, the commit carries the task's uncommitted journal and
// the op's own entry; otherwise (plain Go code) just the writes.
func (d *Durable) worldHook(c *world.Commit) error {
	writes := make([]store.WorldWrite, len(c.Writes))
	for i, w := range c.Writes {
		writes[i] = store.WorldWrite{Name: w.Name, Value: w.Value}
	}
	sc, _ := c.Context.Value(stepKey{}).(*stepCtx)
	if sc == nil {
		errs, err := d.st.Commit(c.Context, []store.Step{{World: writes}})
		if err == nil && len(errs) > 0 {
			err = errs[0]
		}
		return err
	}
	t, dt := sc.t, dur(sc.t)
	en := t.newEntry(sc.p, sc.result, nil)
	step := d.newStep(t)
	t.mu.Lock()
	step.Append = append(t.entriesFrom(dt.committed), en)
	t.mu.Unlock()
	step.Consumed, step.Sends, step.Spawns, step.World, step.Proc = dt.consumed, dt.sends, dt.spawns, writes, dt.proc
	if dt.restartInput != nil {
		step.Restart = &store.Restart{Input: dt.restartInput}
	}
	step.Status, step.Keep = task.Running, true
	if err := d.submit(step); err != nil {
		return fmt.Errorf("task %s: storing an STM commit: %w", t.id, err)
	}
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
	return nil
}
