package interp

// launch makes a new task runnable. newTask made it scheduled.
func (e *engine) launch(t *proc, w *worker) { e.sched.push(t, w) }

// post delivers the completion of an in-flight op (a timer, an activity,
// an STM wait) to t.
func (e *engine) post(t *proc, ev event) {
	t.mu.Lock()
	if t.finished {
		t.mu.Unlock()
		return
	}
	t.events = append(t.events, ev)
	t.st.Or(stNews) // before wake: see leave
	wake := t.wake()
	t.mu.Unlock()
	if wake {
		e.sched.push(t, nil)
	}
}

// The bits of a task's state word (proc.st). A task is scheduled
// (runnable, or being stepped) while stIdle is clear: whoever cleared it
// holds the task's schedule until it pushes the task to a worker, and
// the worker until it sets stIdle again (leave). The holder of the
// schedule owns t's mailbox: a sender that clears stIdle may append to
// it (deliver), and no one else writes it meanwhile.
const (
	// stIdle: t waits and no one holds its schedule.
	stIdle = 1 << iota
	// stNews: something arrived in t's inbox or events (set under mu,
	// cleared under mu by the holder when it takes them). A task is
	// left only while it is clear.
	stNews
	// stFinished: t has finished (set under mu by finish, never
	// cleared). Only deliver's fast path reads it: with it set, the
	// word is never stIdle alone.
	stFinished
	// stForgotten: the engine has forgotten t (forget; set under mu,
	// never cleared): deliver's fast path passes t over, as with
	// stFinished, and its slow path, under mu, tells the sender to look
	// t's ID up again.
	stForgotten
	// stWanted: a snapshot (Live.hold) waits for t's schedule: whoever
	// leaves t tells it (engine.left).
	stWanted
)

// wake makes t scheduled, if it is not, and reports whether it did: the
// caller then holds t's schedule and is to push t. t.mu held.
func (t *proc) wake() bool {
	for {
		s := t.st.Load()
		if s&stIdle == 0 {
			return false
		}
		if t.st.CompareAndSwap(s, s&^stIdle) {
			return true
		}
	}
}

// unschedule leaves t, whatever arrived: it is no longer scheduled, until
// a wake. For a task that has finished (nothing is delivered to it any
// more) or that the caller has checked under mu has nothing new.
func (t *proc) unschedule() {
	if s := t.st.Or(stIdle); s&stWanted != 0 {
		t.e.left(t)
	}
}

// leave leaves t, a task that waits, unless something arrived: it
// reports false, and t stays scheduled, if news is set. A sender sets
// news (an atomic or, under mu), then wakes t if it is left; leave sets
// stIdle only if news is clear, in one compare-and-swap on the same word:
// either the sender's or comes first and leave fails (the caller takes
// what arrived, and steps t again), or leave comes first and the
// sender's wake finds t left, and pushes it. No wake-up is lost, and no
// mutex is taken. Once it has left t, the caller touches nothing of t's.
func (t *proc) leave() bool {
	if t.st.CompareAndSwap(0, stIdle) {
		return true // the common case: nothing arrived, no one waits
	}
	for {
		s := t.st.Load()
		if s&stNews != 0 {
			return false
		}
		if t.st.CompareAndSwap(s, s|stIdle) {
			if s&stWanted != 0 {
				t.e.left(t)
			}
			return true
		}
	}
}

// left tells the scheduler that t, for whose schedule a snapshot waits,
// was left.
func (e *engine) left(t *proc) {
	if l, ok := e.sched.(*Live); ok {
		l.left(t)
	}
}

// process runs t until it waits with nothing left to do.
func (e *engine) process(t *proc, w *worker) {
	t.stepMu.Lock()
	defer t.stepMu.Unlock() // the durable worker recovers a panic, and steps t again
	e.steps(t, w)
}

// steps runs t, whose schedule the caller holds, until it waits with
// nothing left to do, and leaves it. t.stepMu held, except by the live
// worker: under Live, holding the schedule is what keeps everything else
// away from a task (snapshots too: Live.hold). The live worker also
// calls it without process's defer, which costs every step: a panic
// there takes the process down anyway.
func (e *engine) steps(t *proc, w *worker) {
	for {
		// Nothing arrived (the common case, a message handed straight
		// to the mailbox), or takeInbox takes it. (Only the holder of a
		// task's schedule finishes it: finished can be read without mu.)
		if t.st.Load()&stNews != 0 || t.finished {
			evs, live, _ := t.takeInbox()
			if !live {
				return
			}
			for _, ev := range evs {
				t.applyEvent(ev)
			}
		}
		t.run(w)
		if t.finished {
			t.unschedule() // nothing is delivered to it any more: no mu
			return
		}
		if t.leave() {
			return
		}
		// Something arrived during the step: t is still scheduled, and
		// this takes it.
	}
}

// takeInbox moves what arrived for t (messages, exit signals) into its
// mailbox and returns its new events. live is false when the task is over,
// either already (ended false) or through a signal it just took (ended
// true); it is then no longer scheduled. The caller holds t's schedule.
func (t *proc) takeInbox() (evs []event, live, ended bool) {
	if t.st.Load()&stNews == 0 && !t.finished {
		// Nothing arrived. (Only the holder of a task's schedule finishes
		// it: finished can be read without mu.) Something arriving now is
		// found when the step leaves t.
		return nil, true, false
	}
	t.mu.Lock()
	if t.finished {
		t.unschedule()
		t.mu.Unlock()
		return nil, false, false
	}
	msgs, evs, sigs := t.inbox, t.events, t.sigs
	t.inbox, t.events, t.sigs = t.spare, nil, false
	t.st.And(^uint32(stNews))
	t.mu.Unlock()
	if !sigs && len(t.mailbox) == 0 {
		// The common case, a task that had taken every message: what
		// arrived becomes its mailbox, and the mailbox's empty array (no
		// message left in it: takeMatch clears what it takes) the spare
		// inbox. Nothing is copied.
		t.mailbox, t.spare = msgs, t.mailbox[:0]
		return evs, true, false
	}
	ended = t.intake(msgs, sigs)
	clear(msgs)
	t.spare = msgs[:0] // safe: only the holder of t's schedule swaps inbox and spare
	if ended {
		t.mu.Lock()
		t.unschedule()
		t.mu.Unlock()
		return nil, false, true
	}
	return evs, true, false
}

func (t *proc) applyEvent(ev event) {
	if ev.cancel {
		t.stop()
		return
	}
	i := t.flightIndex(ev.op)
	if i < 0 {
		return // the op was cancelled (a Race was decided) or already done
	}
	activity := t.inflight[i].activity
	t.landed(i)
	if ev.retry {
		return // still pending and no longer in flight: run performs it again
	}
	for _, p := range t.m.Pending() {
		if p.ID == ev.op {
			if activity {
				t.attemptDone(p, ev.v, ev.err)
			} else {
				t.complete(p, ev.v, ev.err)
			}
			return
		}
	}
}

// landed removes in-flight op i: it completed. (Its stop function may
// hold memory: removeAt clears the slot.)
func (t *proc) landed(i int) { t.inflight = removeAt(t.inflight, i) }

// removeAt removes s[i] and clears the slot it frees, so that no
// reference stays behind in the array. When i is the last (nearly
// always: an op or a message taken alone) that is one store, where
// slices.Delete calls the runtime to copy nothing and to clear one slot.
func removeAt[E any](s []E, i int) []E {
	last := len(s) - 1
	if i < last {
		copy(s[i:], s[i+1:])
	}
	var zero E
	s[last] = zero
	return s[:last]
}

func (t *proc) flightIndex(id uint64) int {
	for i := range t.inflight {
		if t.inflight[i].id == id {
			return i
		}
	}
	return -1
}
