package interp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/task"
)

// run steps the machine until every pending op is in flight.
func (t *proc) run(w *worker) {
	t.m.Run()
	for !t.m.Done() {
		if t.replayPos < len(t.replay) {
			if !t.replayNext() {
				break
			}
			continue
		}
		if t.replayEnd || !t.performOps(w) {
			break
		}
	}
	if t.m.Done() {
		if t.failure == nil && !t.cancelled && t.replayPos < len(t.replay) && !t.skipping() {
			en := t.replay[t.replayPos]
			issued := "nothing (the program finished)"
			if _, err := t.m.Result(); err != nil {
				issued = fmt.Sprintf("nothing (the program failed: %v)", err)
			}
			t.fail(&DivergenceError{Task: t.id, Seq: en.Seq, Fiber: en.Fiber,
				Recorded: render(en.Kind, en.Op), Issued: issued})
			return
		}
		if t.failure == nil {
			t.finish(nil)
		}
		return
	}
	t.dropStale()
}

// performOps performs the pending ops that can complete now, one at a
// time (the first that can, then the first that can of what the machine
// then waits on), until none can or the task is done. It reports whether
// run is to go on: only when journal entries remain to be replayed.
// Under the simulator (stepwise), it completes at most one op.
func (t *proc) performOps(w *worker) bool {
	pend := t.m.Pending()
	for i := 0; i < len(pend); i++ {
		p := pend[i]
		if j := t.flightIndex(p.ID); j >= 0 {
			if !t.inflight[j].receive {
				continue
			}
			msg, ok := t.takeMatch(p.Op.(effect.Receiver))
			if !ok {
				continue
			}
			t.landed(j)
			t.complete(p, msg, nil)
		} else if !t.perform(p, w) {
			if t.voided {
				return false
			}
			continue
		}
		// p completed: start again from the machine's first pending op
		// (what it waits on now), in this loop rather than run's, which
		// would call again for every op.
		if t.e.stepwise || t.m.Done() {
			return false
		}
		if t.replayPos < len(t.replay) {
			return true
		}
		pend, i = t.m.Pending(), -1
	}
	return false
}

// dropStale releases in-flight ops that are no longer pending: the losers
// of a Race. Its common cases return before dropStaleOps' loop.
func (t *proc) dropStale() {
	if len(t.inflight) == 0 {
		return
	}
	if len(t.inflight) == 1 && len(t.ops) == 0 {
		if pend := t.m.Pending(); len(pend) == 1 && t.inflight[0].id == pend[0].ID {
			return // a task that waits on one op, in flight (a Receive)
		}
	}
	t.dropStaleOps()
}

// dropStaleOps is dropStale's work, for a task that waits on several ops
// or keeps op state.
func (t *proc) dropStaleOps() {
	pend := t.m.Pending()
	keep := t.inflight[:0]
	for _, fl := range t.inflight {
		live := false
		for _, p := range pend {
			if p.ID == fl.id {
				live = true
				break
			}
		}
		if live {
			keep = append(keep, fl)
			continue
		}
		if fl.stop != nil {
			fl.stop()
		}
	}
	t.inflight = keep
	if len(t.ops) == 0 {
		return
	}
	for fiber := range t.ops {
		waiting := false
		for _, p := range pend {
			if uint32(p.Fiber) == fiber {
				waiting = true
				break
			}
		}
		if !waiting {
			delete(t.ops, fiber)
		}
	}
}

func (t *proc) takeMatch(r effect.Receiver) (any, bool) {
	for i, msg := range t.mailbox {
		if r.Accepts(msg) {
			// removeAt clears the vacated slot: no reference stays
			// behind in the array (takeInbox reuses it as the inbox).
			t.mailbox = removeAt(t.mailbox, i)
			if _, mem := t.port.(memPort); !mem {
				t.port.took(t, i) // the in-memory port's does nothing
			}
			return msg, true
		}
	}
	return nil, false
}

// perform starts the op p; it reports whether p completed at once.
func (t *proc) perform(p effect.Pending, w *worker) bool {
	e := t.e
	if t.rare != nil && t.rare.answer != nil {
		if v, err, ok := t.rare.answer.answer(t, p); ok {
			return t.complete(p, v, err)
		}
	}
	if op, ok := p.Op.(effect.SendOp); ok {
		// The hottest op goes first: one comparison, not the switch; and
		// under the in-memory port, straight to the engine, not through
		// the port's interface.
		if _, mem := t.port.(memPort); mem {
			return t.complete(p, nil, e.sendFrom(t, op.To, op.Msg, w))
		}
		return t.complete(p, nil, t.port.send(t, op.To, op.Msg, w))
	}
	switch op := p.Op.(type) {
	case RouteOp:
		return t.performRoute(p, op)
	case effect.LogOp:
		if l := e.cfg.logger; l != nil {
			l.LogAttrs(e.ctx, op.Level, op.Msg, append(op.SlogAttrs(), slog.String("task", t.id))...)
		}
		return t.complete(p, nil, nil)
	case effect.NowOp:
		return t.complete(p, e.clock.Now(), nil)
	case effect.RandomOp:
		return t.complete(p, t.random().Uint64(), nil)
	case effect.SelfOp:
		return t.complete(p, t.id, nil)
	case effect.PatchOp:
		return t.complete(p, true, nil) // live: the new branch, marked in the journal
	case effect.ContinueAsNewOp:
		if err := t.continueAsNew(op.Input, op.Latest); err != nil {
			return t.complete(p, nil, err)
		}
		return true
	case effect.SleepOp:
		if op.Duration <= 0 {
			return t.complete(p, nil, nil)
		}
		now := e.clock.Now()
		st := t.opState(p, now)
		if st.Phase != task.PhaseTimer {
			st.Phase, st.Until = task.PhaseTimer, now.Add(op.Duration)
		}
		id := p.ID
		stop := e.clock.AfterFunc(st.Until.Sub(now), func() { e.post(t, event{op: id}) })
		t.inflight = append(t.inflight, flight{id: id, stop: stop})
		return false
	case effect.LinkOp, effect.UnlinkOp, effect.TrapExitsOp, effect.MonitorOp, effect.DemonitorOp,
		effect.TakeNameOp, effect.WhereIsOp, effect.KillOp:
		v, err := t.port.process(t, p, w)
		return t.complete(p, v, err)
	case effect.SpawnOp:
		id, err := t.port.spawn(t, op, w)
		return t.complete(p, id, err)
	case effect.Receiver:
		// A task that took each message as it came finds its mailbox
		// empty: no call of takeMatch then.
		if len(t.mailbox) > 0 {
			if msg, ok := t.takeMatch(op); ok {
				return t.complete(p, msg, nil)
			}
		}
		t.inflight = append(t.inflight, flight{id: p.ID, receive: true})
		return false
	case effect.Transactor:
		r, wait, recorded, err := t.port.transact(t, p, op)
		if errors.Is(err, errStepVoid) {
			t.voided = true // the op stays pending; the port reloads the task
			return false
		}
		if wait == nil {
			if recorded {
				return t.resume(p, r, err)
			}
			return t.complete(p, r, err)
		}
		t.inflight = append(t.inflight, flight{id: p.ID, stop: e.watch(t, p.ID, wait)})
		t.keepWait(p.ID, wait)
		return false
	}
	var call func(ctx context.Context) (any, error)
	if h, ok := e.cfg.handlers.Lookup(p.Op); ok {
		call = func(ctx context.Context) (any, error) { return h.Call(ctx, p.Op) }
	} else if effect.IsActivity(p.Op) {
		call = func(ctx context.Context) (any, error) {
			r, err, _ := effect.RunActivity(ctx, p.Op)
			return r, err
		}
	} else {
		return t.complete(p, nil, &UnhandledOpError{Task: t.id, Op: p.Op})
	}
	return t.startAttempt(p, call)
}

// watch parks t's op on an STM wait: no goroutine waits; the committing
// writer's callback posts the wake-up.
func (e *engine) watch(t *proc, op uint64, w *stm.Wait) func() {
	w.OnDone(func() { e.post(t, event{op: op, retry: true}) })
	return w.Cancel
}
