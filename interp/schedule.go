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
	t.news.Store(true) // before wake: see process
	wake := t.wake()
	t.mu.Unlock()
	if wake {
		e.sched.push(t, nil)
	}
}

// wake makes t scheduled, if it is not, and reports whether it did: the
// caller is then to push t. t.mu held.
func (t *proc) wake() bool {
	s := t.sleeps.Load()
	if t.woken == s {
		return false
	}
	t.woken = s
	return true
}

// unschedule leaves t: it is no longer scheduled, until a wake.
func (t *proc) unschedule() { t.sleeps.Add(1) }

// process runs t until it waits with nothing left to do.
func (e *engine) process(t *proc, w *worker) {
	t.stepMu.Lock()
	defer t.stepMu.Unlock() // the durable worker recovers a panic, and steps t again
	e.steps(t, w)
}

// steps runs t until it waits with nothing left to do. t.stepMu held.
// The live worker calls it without process's defer, which costs every
// step: a panic there takes the process down anyway.
func (e *engine) steps(t *proc, w *worker) {
	for {
		evs, live, _ := t.takeInbox()
		if !live {
			return
		}
		for _, ev := range evs {
			t.applyEvent(ev)
		}
		t.run(w)
		if t.finished {
			t.mu.Lock()
			t.unschedule()
			t.mu.Unlock()
			return
		}
		// t waits: leave it, without mu, unless something arrived. A
		// sender (deliver, post) sets news, then wakes t if it was left;
		// this leaves t (an atomic add: a full barrier), then reads
		// news. Whichever comes second sees the other's write: either a
		// sender wakes t and pushes it, or news is seen here and t is
		// taken back, under mu, unless a sender woke it meanwhile. Once
		// it has left t, this worker touches nothing of t's but news and
		// (under mu) its wake-up: a sender that wakes t may hand its
		// message straight to the mailbox.
		t.unschedule()
		if !t.news.Load() {
			return
		}
		t.mu.Lock()
		back := t.wake()
		t.mu.Unlock()
		if !back {
			return
		}
	}
}

// takeInbox moves what arrived for t (messages, exit signals) into its
// mailbox and returns its new events. live is false when the task is over,
// either already (ended false) or through a signal it just took (ended
// true); it is then no longer scheduled. t.stepMu is held.
func (t *proc) takeInbox() (evs []event, live, ended bool) {
	if !t.news.Load() && !t.finished {
		// Nothing arrived. (Only the goroutine that steps a task finishes
		// it: finished can be read without mu.) Something arriving now is
		// found at the end of the step, under mu.
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
	t.news.Store(false)
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
	t.spare = msgs[:0] // safe: only the holder of stepMu swaps inbox and spare
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
