package interp

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// commitStep commits what t did since it was claimed.
func (d *Durable) commitStep(t *proc) {
	if de, ok := errors.AsType[*DivergenceError](t.failure); ok {
		d.diverge(t, de)
		d.release(t)
		return
	}
	dt := dur(t)
	step := d.newStep(t)
	t.mu.Lock()
	step.Append = t.entriesFrom(dt.committed)
	finished, res, ferr := t.finished, t.result, t.err
	t.mu.Unlock()
	step.Consumed, step.Sends, step.Spawns, step.World, step.Proc = dt.consumed, dt.sends, dt.spawns, dt.world, dt.proc
	if dt.restartInput != nil {
		step.Restart = &store.Restart{Input: dt.restartInput}
	}
	now := d.e.clock.Now()
	if finished {
		step.Status, step.Exit = t.status, exitReason(ferr)
		switch {
		case ferr == nil:
			b, err := task.Marshal(res)
			if err != nil {
				step.Status, step.Reason, step.Err = task.Failed, "result cannot be stored: "+err.Error(), &task.Error{Msg: err.Error()}
			} else {
				step.Result = b
			}
		case errors.Is(ferr, effect.ErrCancelled):
			step.Status, step.Reason = task.Cancelled, "cancelled"
		default:
			step.Err = d.e.cfg.registry.EncodeError(ferr)
			step.Reason = ferr.Error()
		}
	} else {
		step.Status = task.Waiting
		step.Wait, step.RunAt = d.waitOf(t, now)
		// While only activities run, and they run here, keep the lease:
		// their results need no new claim.
		step.Keep = onlyActivities(t) && now.Before(dt.leaseUntil.Add(-d.opts.Lease/2))
	}
	err := d.submit(step)
	if err != nil {
		// Lease lost or store down: this worker's view of t is no longer
		// the truth. The store still holds the last committed step.
		d.forget(t)
		d.release(t)
		if errors.Is(err, store.ErrNameTaken) {
			// Still ours: run the step again, from the journal; its
			// TakeName now sees the name taken.
			go d.retake(t.id)
		}
		return
	}
	dt.steps++
	dt.lease.Steps = dt.steps
	dt.committed += len(step.Append)
	dt.held = step.Keep
	deferred := dt.deferred
	local := dt.sends
	if len(step.Spawns) > 0 {
		d.mu.Lock()
		for _, r := range step.Spawns {
			d.created[r.ID] = r
		}
		d.mu.Unlock()
	}
	dt.reset()
	for _, f := range deferred {
		f()
	}
	if len(local) > 0 || len(step.Spawns) > 0 || len(step.Proc) > 0 || finished {
		// Messages, new tasks, exit signals (a finished task's links and
		// monitors) may have made tasks ready.
		d.poke()
	}
	if finished {
		d.mu.Lock()
		w, ok := d.done[t.id]
		delete(d.done, t.id)
		d.mu.Unlock()
		if ok {
			w.res, w.err = res, ferr
			if step.Status == task.Failed && ferr == nil {
				w.err = errors.New(step.Reason)
			}
			close(w.ch)
		}
		d.forget(t)
	}
	d.release(t)
}

// onlyActivities reports whether every op t waits on is an attempt running
// (or about to start) in this process.
func onlyActivities(t *proc) bool {
	pend := t.m.Pending()
	if len(pend) == 0 {
		return false
	}
	for _, p := range pend {
		i := t.flightIndex(p.ID)
		if i < 0 || !t.inflight[i].activity {
			return false
		}
	}
	return true
}

// waitOf describes what t waits for, and when it must be looked at again
// even if nothing wakes it.
func (d *Durable) waitOf(t *proc, now time.Time) (*task.Wait, time.Time) {
	w := &task.Wait{}
	var runAt time.Time
	earliest := func(at time.Time) {
		if !at.IsZero() && (runAt.IsZero() || at.Before(runAt)) {
			runAt = at
		}
	}
	for _, p := range t.m.Pending() {
		switch op := p.Op.(type) {
		case effect.Receiver:
			if w.Kind == "" {
				w.Kind = task.WaitReceive
			}
			if r, ok := op.(interface{ MessageGoType() reflect.Type }); ok {
				name, known := d.e.cfg.registry.MessageName(r.MessageGoType())
				if !known {
					name = r.MessageGoType().String()
				}
				w.Types = append(w.Types, name)
			}
		case effect.SleepOp:
			if w.Kind == "" {
				w.Kind = task.WaitSleep
			}
		case effect.Transactor:
			if w.Kind == "" {
				w.Kind = task.WaitSTM
			}
		default:
			if w.Kind == "" {
				w.Kind = task.WaitActivity
			}
			w.Detail = task.OpKind(p.Op)
		}
		st, ok := t.ops[uint32(p.Fiber)]
		if !ok {
			continue
		}
		w.Ops = append(w.Ops, *st)
		switch st.Phase {
		case task.PhaseTimer, task.PhaseBackoff:
			earliest(st.Until)
		case task.PhaseRunning:
			timeout := d.opts.ActivityTimeout
			if p := retryPolicy(p.Op); p.StartToClose > timeout {
				timeout = p.StartToClose
			}
			earliest(now.Add(timeout))
		}
	}
	if !runAt.IsZero() {
		w.Until = runAt
	}
	return w, runAt
}

func (d *Durable) committer() {
	defer d.wg.Done()
	batches(d.quit, d.commitq, 512, func(batch []*request[store.Step]) {
		steps := make([]store.Step, len(batch))
		for i, r := range batch {
			steps[i] = r.v
		}
		errs, err := d.st.Commit(context.Background(), steps)
		for i, r := range batch {
			switch {
			case err != nil:
				r.done <- err
			case i < len(errs) && errs[i] != nil:
				r.done <- errs[i]
			default:
				r.done <- nil
			}
		}
	})
}
