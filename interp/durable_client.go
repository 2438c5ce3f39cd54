package interp

import (
	"context"
	"fmt"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// Task returns a handle to the stored task with the given ID, wherever it
// runs: its Wait, Result, Status, Journal and Record read the store.
func (d *Durable) Task(id string) (*Handle[any], bool) {
	if _, err := d.st.Status(d.e.ctx, id); err != nil {
		return nil, false
	}
	return &Handle[any]{&storedTask{d: d, id: id}}, true
}

// storedTask is a handle to a task in the durable interpreter's store.
type storedTask struct {
	d  *Durable
	id string
	// w hears of the task finishing in this process (a task started
	// here); nil for a handle to any stored task.
	w *waiter
}

var _ handle = (*storedTask)(nil)

func (s *storedTask) taskID() string { return s.id }

func (s *storedTask) programName() (string, error) {
	rec, _, err := s.d.st.Load(s.d.e.ctx, s.id)
	if err != nil {
		return "", err
	}
	return rec.Program, nil
}

func (s *storedTask) waitFor(ctx context.Context) (any, error) {
	if s.w != nil {
		// Started here: it most likely finishes here, and says so at
		// once; one that moved to another worker is found by polling.
		select {
		case <-s.w.ch:
			return s.w.res, s.w.err
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return s.d.wait(ctx, s.id, s.d.opts.Poll, true)
}

func (s *storedTask) outcome() (any, error, bool) {
	rec, _, err := s.d.st.Load(s.d.e.ctx, s.id)
	if err != nil {
		return nil, err, false
	}
	if !rec.Status.Final() {
		return nil, nil, false
	}
	v, err := s.d.outcome(rec)
	return v, err, true
}

func (s *storedTask) readStatus() (task.Status, error) { return s.d.st.Status(s.d.e.ctx, s.id) }

func (s *storedTask) readJournal() (task.Journal, error) {
	rec, _, err := s.d.st.Load(s.d.e.ctx, s.id)
	if err != nil {
		return nil, err
	}
	return rec.Journal, nil
}

// snapshot returns the stored record with its unreceived messages as its
// mailbox (exit signals, which are the interpreter's, left out).
func (s *storedTask) snapshot() (*task.Record, error) {
	rec, msgs, err := s.d.st.Load(s.d.e.ctx, s.id)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if m.Env.Type != task.SignalType {
			rec.Mailbox = append(rec.Mailbox, m.Env)
		}
	}
	return rec, nil
}

func (s *storedTask) requestCancel() error { return s.d.Cancel(s.id) }

// Send puts msg, whose type must be registered (task.RegisterMessage), in
// the mailbox of task to, durably.
func (d *Durable) Send(to string, msg any) error {
	env, err := d.e.cfg.registry.EncodeMessage(msg)
	if err != nil {
		return err
	}
	if err := d.st.Send(d.e.ctx, to, env); err != nil {
		return err
	}
	d.poke()
	return nil
}

// Cancel asks for task id to be cancelled; the worker that next claims it
// stops its program and marks it cancelled.
func (d *Durable) Cancel(id string) error {
	if err := d.st.Cancel(d.e.ctx, id); err != nil {
		return err
	}
	d.poke()
	return nil
}

// wait waits for task id; check says whether to look at the store before
// the first wait (a task just started here cannot have finished yet).
func (d *Durable) wait(ctx context.Context, id string, poll time.Duration, check bool) (any, error) {
	for {
		d.mu.Lock()
		w, ok := d.done[id]
		if !ok {
			w = &waiter{ch: make(chan struct{})}
			d.done[id] = w
		}
		t := d.heldTask(id)
		d.mu.Unlock()
		// A task held here ends here, and closes w, unless its end took
		// the waiters before w was registered: then its program has
		// ended, and w is new.
		if check && (t == nil || !ok && t.ended()) {
			status, err := d.st.Status(ctx, id)
			if err != nil {
				return nil, err
			}
			if status.Final() {
				d.unwait(id, w)
				rec, _, err := d.st.Load(ctx, id)
				if err != nil {
					return nil, err
				}
				return d.outcome(rec)
			}
		}
		check = true
		// A task that finishes in this process closes ch; one finished by
		// another worker is found by polling, ever less often.
		select {
		case <-w.ch:
			return w.res, w.err // finished here: the outcome is in memory
		case <-time.After(poll):
			poll = min(2*poll, time.Second)
		case <-ctx.Done():
			d.unwait(id, w)
			return nil, ctx.Err()
		}
	}
}

// heldTask returns task id if this worker holds it now (d.mu held): it is
// being stepped here, or its last step kept the lease (activities run
// here) and the lease has not expired. Then no other worker can end it,
// and its end here closes the waiters registered by then: wait need not
// read the store. (A task that leaves this worker stops being held;
// wait's next round reads the store.) held and leaseUntil are written
// while the task is active and read here only when it is not, after
// release: as push reads them.
func (d *Durable) heldTask(id string) *proc {
	el, ok := d.cache[id]
	if !ok {
		return nil
	}
	t := el.Value.(*proc)
	if dt := dur(t); dt.active || dt.held && d.e.clock.Now().Before(dt.leaseUntil) {
		return t
	}
	return nil
}

// ended reports whether t's program has ended (its end may be committing).
func (t *proc) ended() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.finished
}

// unwait forgets w, a waiter for task id that nobody waits on any more
// (the task finished elsewhere, or the caller gave up).
func (d *Durable) unwait(id string, w *waiter) {
	d.mu.Lock()
	if d.done[id] == w {
		delete(d.done, id)
	}
	d.mu.Unlock()
}

// waiter is how Wait hears of a task that finishes in this process.
type waiter struct {
	ch  chan struct{}
	res any
	err error
}

func (d *Durable) outcome(rec *task.Record) (any, error) {
	switch rec.Status {
	case task.Done:
		p, err := d.e.cfg.resolver.Program(rec.Program, rec.Version)
		if err != nil {
			return nil, err
		}
		out, err := task.DecodeOutput(p, rec.Result)
		if err != nil {
			return nil, fmt.Errorf("interp: task %s: %w", rec.ID, err)
		}
		return out, nil
	case task.Cancelled:
		return nil, effect.ErrCancelled
	}
	if rec.Err != nil {
		return nil, d.e.cfg.registry.DecodeError(rec.Err)
	}
	return nil, fmt.Errorf("interp: task %s %s: %s", rec.ID, rec.Status, rec.Reason)
}
