package interp

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// commitStep commits what t did since it was claimed.
func (d *Durable) commitStep(t *proc) {
	if t.voided {
		// A world commit of the step was not stored and the store no
		// longer has the task as this worker does: let it go; whoever
		// holds it runs it from the store.
		d.forget(t)
		d.release(t)
		return
	}
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
		step.Wait, step.RunAt, step.WaitWorld = d.waitOf(t, now)
		// While only activities run, and they run here, keep the lease:
		// their results need no new claim.
		step.Keep = onlyActivities(t) && now.Before(dt.leaseUntil.Add(-d.opts.Lease/2))
		if dt.steps == 0 && step.Keep && storesNothing(&step) {
			d.skipStep(t)
			return
		}
	}
	if d.committing.Load() == 0 {
		// No other step is being committed: wait here, which costs
		// the latency of one task at a time nothing.
		d.finishStep(t, step, finished, res, ferr)
		return
	}
	// Others are: the commit and what follows it run on a goroutine of
	// their own, and the worker goes on to the next task. Workers that
	// waited for their steps' commits would bound the steps a group
	// commit gathers by their number. t stays active (no other worker
	// steps it) until finishStep releases it.
	d.wg.Add(1) // legal: this worker is counted in d.wg while it runs
	go func() {
		defer d.wg.Done()
		defer d.recoverStep(t)
		d.finishStep(t, step, finished, res, ferr)
	}()
}

// finishStep commits the step of t that commitStep made, then applies
// its consequences (the step's deferred work, its spawns, the waiter of a
// finished task) and releases t.
func (d *Durable) finishStep(t *proc, step store.Step, finished bool, res any, ferr error) {
	dt := dur(t)
	d.committing.Add(1)
	err := d.commit(step)
	d.committing.Add(-1)
	if err != nil {
		// Refused (lease lost, a name taken), superseded, or the worker
		// closes: this worker's view of t is no longer the truth. The
		// store holds the task as it is.
		if !errors.Is(err, ErrClosed) {
			d.e.cfg.logger.Warn("amber: a step was not committed; the task is reloaded from the store", "task", t.id, "err", err)
		}
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
	local := dt.sends
	if len(step.Spawns) > 0 {
		d.mu.Lock()
		for _, r := range step.Spawns {
			d.created[r.ID] = r
		}
		d.mu.Unlock()
	}
	dt.endStep()
	if len(local) > 0 || len(step.Spawns) > 0 || len(step.Proc) > 0 || (finished && !d.notified) {
		// Messages, new tasks, exit signals (a finished task's links and
		// monitors) may have made tasks ready. A store.Notifier signals
		// the exit signals it delivers itself: without that, every end
		// would cost a Claim that finds nothing, since few tasks have
		// links or monitors.
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

// storesNothing reports whether step would store nothing but the wait of
// its task (its status, its ops' states, their deadlines): no journal
// entry, no message taken or sent, no spawn, no world var read, written or
// waited on, no process op, no restart.
func storesNothing(step *store.Step) bool {
	return len(step.Append) == 0 && len(step.Consumed) == 0 && len(step.Sends) == 0 && len(step.Spawns) == 0 &&
		len(step.World) == 0 && len(step.WorldReads) == 0 && len(step.WaitWorld) == 0 && len(step.Proc) == 0 &&
		step.Restart == nil
}

// skipStep ends, without a commit, a step of t that only starts activity
// attempts while the store holds t as it was created (no step committed):
// the attempts start at once, and the commit of the step that takes their
// results records them. The store loses nothing it needs: t has no journal
// to lose, and after a crash it is run again from its start, where its
// attempts are the same (attempt 1 of each, under the same idempotency
// keys: at least once, as any attempt cut short). t keeps its lease, as a
// step that keeps it (store.Step.Keep) would, and the worker renews it as
// it renews a kept lease: another worker takes t over only if this one
// dies, when the lease runs out (see the Durable doc, # Commits).
func (d *Durable) skipStep(t *proc) {
	dt := dur(t)
	dt.held = true
	dt.endStep()
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

// waitOf describes what t waits for, when it must be looked at again
// even if nothing wakes it, and the world vars whose change wakes it (an
// STM Retry: the store keeps the wait, so that any worker's write wakes
// the task, even once this worker has let it go).
func (d *Durable) waitOf(t *proc, now time.Time) (*task.Wait, time.Time, []store.WorldRead) {
	w := &task.Wait{}
	var runAt time.Time
	var vars []store.WorldRead
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
			vars = d.worldWaits(t, p.ID, vars)
			if len(vars) > 0 && w.Kind == task.WaitSTM {
				names := make([]string, len(vars))
				for i, r := range vars {
					names[i] = r.Name
				}
				w.Detail = strings.Join(names, " ")
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
			// The attempt's deadline is stored in its state, where people
			// (task show) and the store look for it; the engine sets no
			// Until for a running attempt.
			w.Ops[len(w.Ops)-1].Until = now.Add(timeout)
			earliest(now.Add(timeout))
		}
	}
	if !runAt.IsZero() {
		w.Until = runAt
	}
	return w, runAt, vars
}

// worldWaits adds to vars the world vars that the STM wait of t's op id
// read, at the versions read (the World's stamps are store versions).
func (d *Durable) worldWaits(t *proc, id uint64, vars []store.WorldRead) []store.WorldRead {
	w := t.stmWait(id)
	if w == nil || d.world == nil {
		return vars
	}
	for _, r := range w.Reads() {
		name := r.Var.Name()
		if v, ok := d.world.Lookup(name); !ok || v != r.Var {
			continue // an owned var of another World
		}
		if !slices.ContainsFunc(vars, func(o store.WorldRead) bool { return o.Name == name }) {
			vars = append(vars, store.WorldRead{Name: name, Version: r.Stamp})
		}
	}
	return vars
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
				// The transaction as a whole failed: the database may
				// have committed it all the same (a connection cut after
				// the COMMIT was sent).
				r.done <- &unknownOutcome{err}
			case i < len(errs) && errs[i] != nil:
				r.done <- errs[i] // refused: nothing of the step landed
			default:
				r.done <- nil
			}
		}
	})
}

// unknownOutcome is the error of a step whose commit failed as a whole:
// whether it landed is not known until the store is asked (commit).
type unknownOutcome struct{ err error }

func (u *unknownOutcome) Error() string {
	return "the outcome of the commit is unknown: " + u.err.Error()
}
func (u *unknownOutcome) Unwrap() error { return u.err }

// errSuperseded is the error of a step whose fate was unknown and that
// another step of its task has since replaced: the store, not this
// worker, knows the task now.
var errSuperseded = errors.New("interp: the step was superseded in the store")

// commit commits step and settles its fate: nil when it landed (at once,
// or as the store says after a failure whose outcome was unknown: then it
// is accepted, or committed again as it is); the store's refusal
// (store.ErrLeaseLost, store.ErrStale, ...) when nothing of it landed;
// errSuperseded when the task moved on without it; ErrClosed. No caller
// moves on from a step whose fate is unknown.
func (d *Durable) commit(step store.Step) error {
	if step.Token == 0 {
		step.Token = store.NewToken()
	}
	for attempt := 0; ; attempt++ {
		err := d.submit(step)
		var u *unknownOutcome
		if !errors.As(err, &u) {
			return err
		}
		out, lerr := d.landed(step)
		switch {
		case lerr != nil:
			return lerr
		case out == store.Landed:
			return nil
		case out == store.Superseded:
			return errSuperseded
		}
		d.e.cfg.logger.Warn("amber: a commit did not land; committing it again", "task", step.ID, "err", u.err)
		if !d.pause(attempt) {
			return ErrClosed
		}
	}
}

// landed asks the store whether step landed, until it can answer or the
// worker closes.
func (d *Durable) landed(step store.Step) (store.Outcome, error) {
	for attempt := 0; ; attempt++ {
		out, err := d.st.Landed(d.e.ctx, step)
		if err == nil {
			return out, nil
		}
		d.e.cfg.logger.Warn("amber: asking the store whether a commit landed", "task", step.ID, "err", err)
		if !d.pause(attempt) {
			return 0, ErrClosed
		}
	}
}

// pause waits a little longer at each attempt (up to a second); it
// reports false if the worker closes meanwhile.
func (d *Durable) pause(attempt int) bool {
	wait := min(time.Duration(1<<min(attempt, 10))*time.Millisecond, time.Second)
	select {
	case <-time.After(wait):
		return true
	case <-d.quit:
		return false
	}
}
