package interp

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// step runs one step of a claimed task and commits it. Nothing a task
// does can take the worker down: a panic that escapes the machine's own
// recovery (a bug in an interpreter, a handler, a codec) parks the task
// with the panic as its reason, and the worker goes on.
func (d *Durable) step(t *proc) {
	defer d.recoverStep(t)
	ctx := d.e.ctx
	dt := dur(t)
	if t.m == nil || dt.steps != dt.lease.Steps {
		if !d.load(t) {
			d.release(t)
			return
		}
	} else if dt.local {
		dt.local = false
	} else if msgs, err := d.st.Messages(ctx, t.id, dt.lastSeq); err != nil {
		d.forget(t)
		d.release(t)
		return
	} else if err := d.addMessages(t, msgs); err != nil {
		d.park(t, err.Error())
		d.release(t)
		return
	}
	if dt.lease.Cancel && !t.finished {
		t.stop()
	}
	d.e.process(t, nil)
	d.commitStep(t)
}

// recoverStep, deferred by the goroutines that step and commit t, parks t
// if they panic, with the panic as its reason, and lets it go.
func (d *Durable) recoverStep(t *proc) {
	if r := recover(); r != nil {
		d.e.cfg.logger.Error("amber: stepping a task panicked; the task is parked", "task", t.id, "panic", r,
			"stack", string(debug.Stack()))
		d.park(t, fmt.Sprintf("the worker panicked while stepping the task: %v", r))
		d.release(t)
	}
}

// fresh returns t's record: from memory for a task this worker created
// and has not stepped yet (its journal is empty; only its messages are
// read, and none for a task created leased here: see activateAs), from
// the store otherwise.
func (d *Durable) fresh(t *proc) (*task.Record, []store.Message, error) {
	d.mu.Lock()
	rec, ok := d.created[t.id]
	delete(d.created, t.id)
	d.mu.Unlock()
	dt := dur(t)
	born := dt.born
	dt.born = false
	if ok && dt.lease.Steps == 0 {
		if born {
			return rec, nil, nil
		}
		msgs, err := d.st.Messages(d.e.ctx, t.id, 0)
		return rec, msgs, err
	}
	return d.st.Load(d.e.ctx, t.id)
}

// load rebuilds t from the store: its program runs again, fed the journal.
func (d *Durable) load(t *proc) bool {
	dt := dur(t)
	if t.m != nil {
		t.m.Stop()
	}
	rec, msgs, err := d.fresh(t)
	if err != nil {
		if errors.Is(err, task.ErrCorrupt) {
			d.commitFinal(t, task.Failed, fmt.Sprintf("the stored task is corrupt: %v", err))
		}
		return false
	}
	prog, err := d.e.cfg.resolver.Program(rec.Program, rec.Version)
	if err != nil {
		d.park(t, fmt.Sprintf("program %s v%d is not registered in worker %s", rec.Program, rec.Version, d.owner))
		return false
	}
	in, err := task.DecodeInput(prog, rec.Input)
	if err != nil {
		d.commitFinal(t, task.Failed, fmt.Sprintf("the stored input does not decode as %v: %v", prog.InputType(), err))
		return false
	}
	m, err := prog.Start(in)
	if err != nil {
		d.commitFinal(t, task.Failed, err.Error())
		return false
	}
	t.mu.Lock()
	t.prog, t.m, t.in, t.runs = prog, m, rec.Input, rec.Runs
	t.journal, t.replay, t.replayPos = nil, rec.Journal, 0
	t.inbox, t.events, t.finished, t.status = nil, nil, false, rec.Status
	t.mu.Unlock()
	t.record, t.mailbox, t.inflight, t.completed, t.failure, t.cancelled, t.voided = true, nil, nil, 0, nil, false, false
	if t.rare != nil {
		t.rare.unpatched, t.rare.stmWaits = nil, nil
	}
	t.rng = nil // made anew at the first Random
	t.ops = map[uint32]*task.OpState{}
	if rec.Wait != nil {
		for i := range rec.Wait.Ops {
			st := rec.Wait.Ops[i]
			t.ops[st.Fiber] = &st
		}
	}
	dt.steps, dt.committed, dt.seqs, dt.lastSeq = dt.lease.Steps, len(rec.Journal), nil, 0
	dt.trap, dt.name = rec.Trap, rec.Name
	dt.reset()
	if err := d.addMessages(t, msgs); err != nil {
		d.park(t, err.Error())
		return false
	}
	return true
}

// addMessages takes the messages new to t. Exit signals among them are
// taken as they come (see takeSignal): one may end t, and then the
// messages after it stay in the store.
func (d *Durable) addMessages(t *proc, msgs []store.Message) error {
	dt := dur(t)
	for _, m := range msgs {
		if m.Seq <= dt.lastSeq {
			continue
		}
		var v any
		var end error
		var err error
		if m.Env.Type == task.SignalType {
			var sig task.Signal
			if sig, err = task.DecodeSignal(m.Env.Data); err == nil {
				v, end = dt.takeSignal(t, sig)
			}
		} else {
			v, err = d.e.cfg.registry.DecodeMessage(m.Env)
		}
		if err != nil {
			return fmt.Errorf("message %d in the mailbox cannot be decoded here: %w", m.Seq, err)
		}
		dt.lastSeq = m.Seq
		if v == nil {
			dt.consumed = append(dt.consumed, m.Seq) // taken, nothing to keep
		} else {
			t.mailbox = append(t.mailbox, v)
			dt.seqs = append(dt.seqs, m.Seq)
		}
		if end != nil {
			t.endBySignal(end)
			return nil
		}
	}
	return nil
}

// park sets t aside with a reason, to be looked at again later; or,
// if a cancel was asked for, ends it as cancelled: a task that cannot
// run here (a message that does not decode, a program this worker
// lacks, a panic) must not outlive its cancel by being parked again
// and again.
func (d *Durable) park(t *proc, reason string) {
	if dur(t).lease.Cancel {
		d.e.cfg.logger.Warn("amber: task cancelled without running", "task", t.id, "reason", reason)
		step := d.newStep(t)
		step.Status, step.Reason, step.Exit = task.Cancelled, "cancelled", exitReason(effect.ErrCancelled)
		d.submitAside(t, step)
		return
	}
	step := d.newStep(t)
	step.Status, step.Reason = task.Parked, reason
	step.RunAt = d.e.clock.Now().Add(d.opts.ParkRetry)
	d.submitAside(t, step)
}

// diverge parks t, whose program no longer fits its journal, as Diverged
// with the error: nothing of the step is committed (its journal stays as
// stored), and the task waits for a version that fits it (a fixed build,
// found at a worker's start, or a migration) or for a cancel.
func (d *Durable) diverge(t *proc, de *DivergenceError) {
	d.e.cfg.logger.Warn("amber: task diverged from its journal; it waits for a version that fits",
		"task", t.id, "seq", de.Seq, "recorded", de.Recorded, "issued", de.Issued)
	step := d.newStep(t)
	step.Status, step.Reason, step.Err = task.Diverged, de.Error(), d.e.cfg.registry.EncodeError(de)
	d.submitAside(t, step)
}

// commitFinal ends t with a status and reason, without running it.
func (d *Durable) commitFinal(t *proc, status task.Status, reason string) {
	d.e.cfg.logger.Warn("amber: task ended without running", "task", t.id, "status", status, "reason", reason)
	step := d.newStep(t)
	step.Status, step.Reason, step.Exit = status, reason, reason
	step.Err = &task.Error{Msg: reason}
	d.submitAside(t, step)
}

// submitAside commits step, which sets t aside (parked, diverged, ended
// without running), and forgets t. A refused commit is logged: the store
// still holds the task as it was, and whoever claims it next sees it
// again.
func (d *Durable) submitAside(t *proc, step store.Step) {
	if err := d.commit(step); err != nil && !errors.Is(err, ErrClosed) {
		d.e.cfg.logger.Error("amber: setting a task aside failed", "task", t.id, "status", step.Status, "err", err)
	}
	d.forget(t)
}

func (d *Durable) newStep(t *proc) store.Step {
	return store.Step{ID: t.id, Owner: d.owner, Epoch: dur(t).lease.Epoch, Steps: dur(t).lease.Steps}
}

func (d *Durable) submit(step store.Step) error { return call(d.quit, d.commitq, step) }
