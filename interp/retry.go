package interp

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// startAttempt starts the next attempt of an activity or handled op, or
// waits out its backoff first. It reports whether the op completed.
func (t *proc) startAttempt(p effect.Pending, call func(ctx context.Context) (any, error)) bool {
	e := t.e
	now := e.clock.Now()
	st := t.opState(p, now)
	policy := retryPolicy(p.Op)
	if st.Phase == task.PhaseBackoff && st.Until.After(now) {
		id := p.ID
		stop := e.clock.AfterFunc(st.Until.Sub(now), func() { e.post(t, event{op: id, retry: true}) })
		t.inflight = append(t.inflight, flight{id: id, stop: stop})
		return false
	}
	if policy.ScheduleToClose > 0 && st.Attempt > 0 && now.Sub(st.Started) >= policy.ScheduleToClose {
		return t.complete(p, nil, effect.ErrScheduleTimeout)
	}
	if st.Phase != task.PhaseRunning {
		st.Attempt++ // a running attempt cut short by a crash is run again under its number
	}
	st.Phase, st.Until = task.PhaseRunning, time.Time{}
	ctx := effect.WithActivity(e.ctx, effect.ActivityInfo{Task: t.id, Key: t.idempotencyKey(p), Attempt: st.Attempt})
	var cancel context.CancelFunc = func() {}
	if policy.StartToClose > 0 {
		ctx, cancel = context.WithTimeout(ctx, policy.StartToClose)
	}
	run := func() (any, error) {
		v, err := safeCall(ctx, call)
		if err != nil && policy.StartToClose > 0 && ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("%w after %v: %w", effect.ErrAttemptTimeout, policy.StartToClose, err)
		}
		return v, err
	}
	if !e.async {
		v, err := run()
		cancel()
		return t.attemptDone(p, v, err)
	}
	id := p.ID
	t.inflight = append(t.inflight, flight{id: id, stop: cancel, activity: true})
	start := func() {
		go func() {
			v, err := run()
			cancel()
			e.post(t, event{op: id, v: v, err: err})
		}()
	}
	t.port.startActivity(t, start)
	return false
}

// attemptDone handles the outcome of an attempt: a retry after a backoff,
// or the op's completion. It reports whether the op completed.
func (t *proc) attemptDone(p effect.Pending, v any, err error) bool {
	e := t.e
	now := e.clock.Now()
	st := t.opState(p, now)
	if policy := retryPolicy(p.Op); err != nil && policy.Retryable(err, st.Attempt, now.Sub(st.Started)) {
		st.Phase, st.Until = task.PhaseBackoff, now.Add(policy.Backoff(st.Attempt))
		id := p.ID
		stop := e.clock.AfterFunc(st.Until.Sub(now), func() { e.post(t, event{op: id, retry: true}) })
		t.inflight = append(t.inflight, flight{id: id, stop: stop})
		return false
	}
	return t.complete(p, v, err)
}

func retryPolicy(op any) effect.RetryPolicy {
	if r, ok := op.(effect.Retrier); ok {
		return r.RetryPolicy()
	}
	return effect.RetryPolicy{MaximumAttempts: 1}
}

// opState returns the durable state of the op fiber p.Fiber waits on,
// creating it if the fiber had none for this op.
func (t *proc) opState(p effect.Pending, now time.Time) *task.OpState {
	if t.ops == nil {
		t.ops = map[uint32]*task.OpState{}
	}
	fiber := uint32(p.Fiber)
	st := t.ops[fiber]
	if st != nil && st.Fingerprint == t.fingerprint(p) {
		return st
	}
	st = &task.OpState{Fiber: fiber, Kind: task.OpKind(p.Op), Fingerprint: t.fingerprint(p), Started: now}
	t.ops[fiber] = st
	return st
}

// fingerprint identifies p's op for its timer or attempt state, which
// must hold across a rebuild of the task (a durable task loaded by another
// process, a task the Sim crashed): the op's journal fingerprint.
func (t *proc) fingerprint(p effect.Pending) uint64 {
	_, _, fp, err := t.enc.EncodeOp(p.Op)
	if err != nil {
		return 0
	}
	return fp
}

// idempotencyKey names the op p across retries and resumptions: the task,
// its run (after ContinueAsNew), how many ops had completed when it was
// issued, and its fiber.
func (t *proc) idempotencyKey(p effect.Pending) string {
	return t.id + "/" + t.opNumber() + "/" + strconv.FormatUint(uint64(p.Fiber), 10)
}

// opNumber names t's next op within the task: its run (after
// ContinueAsNew) and its position in the run, "7" in the first run and
// "2-7" in the third (a dash, not a dot: a child
// ID is its parent's ID, a dot and this number, so "t1.2.7" would be both
// the child of t1's third run's seventh op and a grandchild of t1): deterministic across replays, and never the same
// for two ops of one task.
func (t *proc) opNumber() string {
	n := strconv.FormatUint(t.completed+1, 10)
	if t.runs > 0 {
		n = strconv.FormatUint(t.runs, 10) + "-" + n
	}
	return n
}

func safeCall(ctx context.Context, call func(context.Context) (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("interp: handler panicked: %v", r)
		}
	}()
	return call(ctx)
}
