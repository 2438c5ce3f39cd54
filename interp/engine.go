package interp

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/task"
)

// engine is what the mock and live interpreters share: tasks, mailboxes,
// the op dispatch, the journal, and replay of a journal prefix. The two
// differ in their clock, in how tasks are scheduled onto goroutines, and in
// whether handlers and activities run inline or concurrently.
type engine struct {
	cfg   config
	clock clock
	sched scheduler
	async bool // run handlers and activities on their own goroutines
	ctx   context.Context
	stop  context.CancelFunc

	mu     sync.RWMutex // guards tasks and nextID
	tasks  map[string]*Task
	nextID int

	// Processes (process.go): links, monitors, names. procMu guards names,
	// procSeq and every task's ps; it is taken before any Task.mu.
	procMu  sync.Mutex
	names   map[string]*Task
	procSeq uint64

	// Hooks of the simulator (nil and false elsewhere): stepwise makes
	// Task.run complete at most one live op per activation, so that the
	// scheduler can interleave tasks op by op; transit, if set, takes the
	// messages tasks send each other instead of delivering them at once.
	stepwise bool
	transit  func(from *Task, to string, msg any) error
}

type clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func())
}

type scheduler interface {
	// push makes t runnable; w is the worker that is running the code that
	// calls push, nil from outside the interpreter.
	push(t *Task, w *worker)
}

type worker struct {
	next     *Task // a task made runnable by this worker, run next (hand-off)
	handoffs int
	busy     bool
}

func newEngine(cfg config, clk clock, async bool) *engine {
	ctx, cancel := context.WithCancel(context.Background())
	return &engine{cfg: cfg, clock: clk, async: async, ctx: ctx, stop: cancel, tasks: map[string]*Task{}}
}

// Task is a handle to a task of an interpreter.
type Task struct {
	e    *engine
	id   string
	prog effect.AnyProgram // nil for an anonymous program
	in   []byte            // the encoded input, for records
	m    *effect.Machine
	rng  *rand.Rand

	// Owned by the worker that is processing the task (stepMu held).
	stepMu    sync.Mutex
	mailbox   []any
	inflight  []flight
	record    bool
	replay    task.Journal
	replayPos int
	replayEnd bool // stop at the end of the replay journal instead of going live
	// decodeResult decodes replayData: one closure per task, not per entry.
	decodeResult func(ptr any) error
	replayData   []byte
	failure      error                    // the interpreter failed the task
	completed    uint64                   // ops completed, replayed ones included
	runs         int                      // ContinueAsNew restarts
	ops          map[uint32]*task.OpState // state of timers and attempts, by fiber
	dur          *durableTask             // nil unless the task is durable
	remote       *Durable                 // a handle to a task stored by a durable interpreter
	waiter       *waiter                  // how a handle hears its task finish here
	journal      task.Journal             // appended under mu too, for concurrent readers; see more
	ps           *procState               // links, monitors, name; guarded by e.procMu

	// A task that is not durable appends the entries that do not fit in
	// journal's capacity to chunks of growing size, so that a long journal
	// is not copied over and over as it grows: its journal is journal
	// followed by the chunks of more, moreLen entries in all (entries,
	// journalLen). Durable tasks use journal alone, and so does replay,
	// into a journal made to the replay's length: while a task replays,
	// more is empty. Under mu, like journal.
	more    []task.Journal
	moreLen int
	enc     task.Encoder // encodes the ops and results of journal entries
	// news is set (under mu) when a message or an event arrives, and
	// cleared when they are taken: a step that finds it clear takes
	// nothing, without locking mu.
	news atomic.Bool

	// Guarded by mu.
	mu        sync.Mutex
	inbox     []any
	events    []event
	spare     []any
	scheduled bool
	finished  bool
	proc      bool // ps may be set: finish must release it
	sigs      bool // inbox holds exit signals
	done      chan struct{}
	result    any
	err       error
	status    task.Status
}

type flight struct {
	id       uint64
	stop     func()
	receive  bool
	activity bool // an attempt of an activity or handled op is running
}

type event struct {
	op    uint64
	v     any
	err   error
	retry bool // an STM wait ended: attempt the transaction again
}

// ID returns the task's ID.
func (t *Task) ID() string { return t.id }

// Done returns a channel closed when the task has finished. For a durable
// task it is closed when the task finishes in this process (use Wait for
// one that may finish elsewhere).
func (t *Task) Done() <-chan struct{} {
	if t.waiter != nil {
		return t.waiter.ch
	}
	return t.done
}

// Result returns the task's result and error, and whether it has finished.
// For a durable task they are read from the store (and a failure to read
// it is the error).
func (t *Task) Result() (any, error, bool) {
	if t.remote != nil {
		rec, err := t.remote.remoteRecord(t)
		if err != nil || !rec.Status.Final() {
			return nil, err, false
		}
		v, err := t.remote.outcome(rec)
		return v, err, true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.result, t.err, t.finished
}

// Status returns the task's status (for a durable task, as stored; empty if
// the store cannot be read).
func (t *Task) Status() task.Status {
	if t.remote != nil {
		st, _ := t.remote.st.Status(t.remote.e.ctx, t.id)
		return st
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status
}

// Journal returns a copy of the journal recorded so far (empty unless the
// interpreter records journals; for a durable task, the stored journal).
func (t *Task) Journal() task.Journal {
	if t.remote != nil {
		rec, err := t.remote.remoteRecord(t)
		if err != nil {
			return nil
		}
		return rec.Journal
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entries()
}

// Wait waits for the task to finish and returns its result. Under the mock
// it runs the simulation (advancing the virtual clock when every task is
// blocked) until the task finishes.
func (t *Task) Wait(ctx context.Context) (any, error) {
	if t.remote != nil {
		// A handle from StartProgram: its waiter hears of the task
		// finishing in this process; another worker's is found by polling.
		if t.waiter != nil {
			select {
			case <-t.waiter.ch:
				return t.waiter.res, t.waiter.err
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
		}
		return t.remote.Wait(ctx, t.id)
	}
	if w, ok := t.e.sched.(interface {
		await(ctx context.Context, t *Task) error
	}); ok {
		if err := w.await(ctx, t); err != nil {
			return nil, err
		}
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.result, t.err
}

// Record returns the task as a task.Record: what the durable interpreter
// stores, and what Resume continues from. The task must run a named
// program (started with StartProgram or Spawn).
func (t *Task) Record() (*task.Record, error) {
	if t.prog == nil {
		return nil, fmt.Errorf("interp: task %s runs an anonymous program; start it with StartProgram to snapshot it", t.id)
	}
	t.stepMu.Lock()
	defer t.stepMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	rec := &task.Record{
		ID:      t.id,
		Program: t.prog.ProgramName(),
		Version: t.prog.ProgramVersion(),
		Input:   t.in,
		Status:  t.status,
		Journal: t.entries(),
	}
	for _, msg := range append(append([]any(nil), t.mailbox...), t.inbox...) {
		if _, ok := msg.(*procSignal); ok {
			continue // exit signals are the interpreter's, not the task's
		}
		env, err := t.e.cfg.registry.EncodeMessage(msg)
		if err != nil {
			return nil, fmt.Errorf("interp: task %s: mailbox: %w", t.id, err)
		}
		rec.Mailbox = append(rec.Mailbox, env)
	}
	if t.finished {
		if t.err != nil {
			rec.Err = t.e.cfg.registry.EncodeError(t.err)
		} else if b, err := task.Marshal(t.result); err == nil {
			rec.Result = b
		}
	}
	return rec, nil
}

func (e *engine) newTask(id string, prog effect.AnyProgram, input any, m *effect.Machine) (*Task, error) {
	t := &Task{e: e, prog: prog, m: m, done: make(chan struct{}), status: task.Running, record: e.cfg.journal}
	if prog != nil {
		b, err := task.Marshal(input)
		if err != nil {
			return nil, fmt.Errorf("interp: encoding the input of %s: %w", prog.ProgramName(), err)
		}
		t.in = b
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if id == "" {
		e.nextID++
		id = "t" + strconv.Itoa(e.nextID)
	}
	if _, dup := e.tasks[id]; dup {
		return nil, fmt.Errorf("interp: a task with ID %q exists", id)
	}
	t.id = id
	t.rng = e.newRand(id)
	e.tasks[id] = t
	return t, nil
}

func (e *engine) newRand(id string) *rand.Rand {
	if !e.cfg.seeded {
		return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return rand.New(rand.NewPCG(e.cfg.seed, h.Sum64()))
}

// launch makes a new task runnable.
func (e *engine) launch(t *Task, w *worker) {
	t.mu.Lock()
	t.scheduled = true
	t.mu.Unlock()
	e.sched.push(t, w)
}

func (e *engine) lookup(id string) *Task {
	e.mu.RLock()
	t := e.tasks[id]
	e.mu.RUnlock()
	return t
}

// send puts msg in the mailbox of task to.
func (e *engine) send(to string, msg any, w *worker) error {
	t := e.lookup(to)
	if t == nil {
		return &NoTaskError{ID: to}
	}
	t.mu.Lock()
	if t.finished {
		t.mu.Unlock()
		return &NoTaskError{ID: to, Finished: true}
	}
	t.inbox = append(t.inbox, msg)
	if _, ok := msg.(*procSignal); ok {
		t.sigs = true
	}
	t.news.Store(true)
	wake := !t.scheduled
	t.scheduled = true
	t.mu.Unlock()
	if wake {
		e.sched.push(t, w)
	}
	return nil
}

// post delivers the completion of an in-flight op (a timer, an activity,
// an STM wait) to t.
func (e *engine) post(t *Task, ev event) {
	t.mu.Lock()
	if t.finished {
		t.mu.Unlock()
		return
	}
	t.events = append(t.events, ev)
	t.news.Store(true)
	wake := !t.scheduled
	t.scheduled = true
	t.mu.Unlock()
	if wake {
		e.sched.push(t, nil)
	}
}

// process runs t until it waits with nothing left to do.
func (e *engine) process(t *Task, w *worker) {
	t.stepMu.Lock()
	defer t.stepMu.Unlock()
	for {
		evs, live, _ := t.takeInbox()
		if !live {
			return
		}
		for _, ev := range evs {
			t.applyEvent(ev)
		}
		t.run(w)
		t.mu.Lock()
		if t.finished || len(t.inbox) == 0 && len(t.events) == 0 {
			t.scheduled = false
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
	}
}

// takeInbox moves what arrived for t (messages, exit signals) into its
// mailbox and returns its new events. live is false when the task is over,
// either already (ended false) or through a signal it just took (ended
// true); it is then no longer scheduled. t.stepMu is held.
func (t *Task) takeInbox() (evs []event, live, ended bool) {
	if t.dur == nil && !t.news.Load() && !t.finished {
		// Nothing arrived. (Only the holder of stepMu finishes a task that
		// is not durable: finished can be read without mu.) Something
		// arriving now is found at the end of the step, under mu.
		return nil, true, false
	}
	t.mu.Lock()
	if t.finished {
		t.scheduled = false
		t.mu.Unlock()
		return nil, false, false
	}
	msgs, evs, sigs := t.inbox, t.events, t.sigs
	t.inbox, t.events, t.sigs = t.spare, nil, false
	t.news.Store(false)
	t.mu.Unlock()
	ended = t.intake(msgs, sigs)
	clear(msgs)
	t.spare = msgs[:0] // safe: only the holder of stepMu swaps inbox and spare
	if ended {
		t.mu.Lock()
		t.scheduled = false
		t.mu.Unlock()
		return nil, false, true
	}
	return evs, true, false
}

func (t *Task) applyEvent(ev event) {
	i := t.flightIndex(ev.op)
	if i < 0 {
		return // the op was cancelled (a Race was decided) or already done
	}
	activity := t.inflight[i].activity
	t.inflight = append(t.inflight[:i], t.inflight[i+1:]...)
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

func (t *Task) flightIndex(id uint64) int {
	for i := range t.inflight {
		if t.inflight[i].id == id {
			return i
		}
	}
	return -1
}

// run steps the machine until every pending op is in flight.
func (t *Task) run(w *worker) {
	t.m.Run()
	for !t.m.Done() {
		if t.replayPos < len(t.replay) {
			if !t.replayNext() {
				break
			}
			continue
		}
		if t.replayEnd || !t.performOne(w) || t.e.stepwise {
			break
		}
	}
	if t.m.Done() {
		if t.failure == nil && t.replayPos < len(t.replay) {
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

// performOne performs the first pending op that can complete now; it
// reports whether one did.
func (t *Task) performOne(w *worker) bool {
	pend := t.m.Pending()
	for i := 0; i < len(pend); i++ {
		p := pend[i]
		if j := t.flightIndex(p.ID); j >= 0 {
			if t.inflight[j].receive {
				if msg, ok := t.takeMatch(p.Op.(effect.Receiver)); ok {
					t.inflight = append(t.inflight[:j], t.inflight[j+1:]...)
					t.complete(p, msg, nil)
					return true
				}
			}
			continue
		}
		if t.perform(p, w) {
			return true
		}
	}
	return false
}

// dropStale releases in-flight ops that are no longer pending: the losers
// of a Race.
func (t *Task) dropStale() {
	if len(t.inflight) == 0 {
		return
	}
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

func (t *Task) takeMatch(r effect.Receiver) (any, bool) {
	for i, msg := range t.mailbox {
		if r.Accepts(msg) {
			t.mailbox = append(t.mailbox[:i], t.mailbox[i+1:]...)
			if t.dur != nil {
				t.dur.consume(i)
			}
			return msg, true
		}
	}
	return nil, false
}

// perform starts the op p; it reports whether p completed at once.
func (t *Task) perform(p effect.Pending, w *worker) bool {
	e := t.e
	switch op := p.Op.(type) {
	case effect.LogOp:
		if l := e.cfg.logger; l != nil {
			l.LogAttrs(e.ctx, op.Level, op.Msg, append(op.SlogAttrs(), slog.String("task", t.id))...)
		}
		return t.complete(p, nil, nil)
	case effect.NowOp:
		return t.complete(p, e.clock.Now(), nil)
	case effect.RandomOp:
		return t.complete(p, t.rng.Uint64(), nil)
	case effect.SelfOp:
		return t.complete(p, t.id, nil)
	case effect.ContinueAsNewOp:
		if err := t.continueAsNew(op.Input); err != nil {
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
	case effect.SendOp:
		if t.dur != nil {
			return t.complete(p, nil, t.dur.send(t, op))
		}
		if e.transit != nil {
			return t.complete(p, nil, e.transit(t, op.To, op.Msg))
		}
		return t.complete(p, nil, e.send(op.To, op.Msg, w))
	case effect.LinkOp, effect.UnlinkOp, effect.TrapExitsOp, effect.MonitorOp, effect.DemonitorOp,
		effect.RegisterOp, effect.WhereIsOp, effect.KillOp:
		if t.dur != nil {
			return t.dur.performProcess(t, p)
		}
		return t.performProcess(p, w)
	case effect.SpawnOp:
		if t.dur != nil {
			id, err := t.dur.spawn(t, op)
			return t.complete(p, id, err)
		}
		id, err := e.spawn(t, op, w)
		return t.complete(p, id, err)
	case effect.Receiver:
		if msg, ok := t.takeMatch(op); ok {
			return t.complete(p, msg, nil)
		}
		t.inflight = append(t.inflight, flight{id: p.ID, receive: true})
		return false
	case effect.Transactor:
		var r any
		var wait *stm.Wait
		var err error
		if ct, ok := op.(effect.ContextTransactor); ok && t.dur != nil {
			r, wait, err = t.dur.transact(t, p, ct)
		} else {
			r, wait, err = op.Transact()
		}
		if wait == nil {
			return t.complete(p, r, err)
		}
		t.inflight = append(t.inflight, flight{id: p.ID, stop: e.watch(t, p.ID, wait)})
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

// startAttempt starts the next attempt of an activity or handled op, or
// waits out its backoff first. It reports whether the op completed.
func (t *Task) startAttempt(p effect.Pending, call func(ctx context.Context) (any, error)) bool {
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
	if t.dur != nil {
		// The outside world must not see the consequence of journal
		// entries that are not durable: start after the step commits.
		t.dur.deferred = append(t.dur.deferred, start)
	} else {
		start()
	}
	return false
}

// attemptDone handles the outcome of an attempt: a retry after a backoff,
// or the op's completion. It reports whether the op completed.
func (t *Task) attemptDone(p effect.Pending, v any, err error) bool {
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
func (t *Task) opState(p effect.Pending, now time.Time) *task.OpState {
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

// fingerprint identifies p's op for its durable state; only the durable
// interpreter, which keeps state across processes, needs a real one.
func (t *Task) fingerprint(p effect.Pending) uint64 {
	if t.dur == nil {
		return p.ID
	}
	_, fp, err := task.OpFingerprint(p.Op)
	if err != nil {
		return 0
	}
	return fp
}

// idempotencyKey names the op p across retries and resumptions: the task,
// how many ops had completed when it was issued, and its fiber.
func (t *Task) idempotencyKey(p effect.Pending) string {
	return t.id + "/" + strconv.FormatUint(t.completed, 10) + "/" + strconv.FormatUint(uint64(p.Fiber), 10)
}

func safeCall(ctx context.Context, call func(context.Context) (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("interp: handler panicked: %v", r)
		}
	}()
	return call(ctx)
}

// watch parks t's op on an STM wait: no goroutine waits; the committing
// writer's callback posts the wake-up.
func (e *engine) watch(t *Task, op uint64, w *stm.Wait) func() {
	w.OnDone(func() { e.post(t, event{op: op, retry: true}) })
	return w.Cancel
}

func (e *engine) spawn(parent *Task, op effect.SpawnOp, w *worker) (string, error) {
	prog := op.Prog()
	if prog == nil {
		p, err := e.cfg.registry.Program(op.Program, op.Version)
		if err != nil {
			return "", err
		}
		prog = p
	}
	m, err := prog.Start(op.Input)
	if err != nil {
		return "", err
	}
	child, err := e.newTask(childID(parent), prog, op.Input, m)
	if err != nil {
		return "", err
	}
	e.launch(child, w)
	return child.id, nil
}

// continueAsNew restarts t's program on a new input with an empty journal.
func (t *Task) continueAsNew(input any) error {
	if t.prog == nil {
		return fmt.Errorf("task %s: ContinueAsNew needs a named program (start it with StartProgram)", t.id)
	}
	in, err := task.Marshal(input)
	if err != nil {
		return fmt.Errorf("task %s: ContinueAsNew: input: %w", t.id, err)
	}
	m, err := t.prog.Start(input)
	if err != nil {
		return fmt.Errorf("task %s: ContinueAsNew: %w", t.id, err)
	}
	for _, fl := range t.inflight {
		if fl.stop != nil {
			fl.stop()
		}
	}
	t.m.Stop()
	t.m, t.in, t.inflight, t.ops, t.completed = m, in, nil, nil, 0
	t.mu.Lock()
	t.journal, t.more, t.moreLen = nil, nil, 0
	t.runs++
	t.mu.Unlock()
	if t.dur != nil {
		t.dur.restart(in)
	}
	t.m.Run()
	return nil
}

// childID names a spawned task after its parent and the sequence number
// of the Spawn in the parent's journal: deterministic across replays.
func childID(parent *Task) string {
	return parent.id + "." + strconv.FormatUint(parent.completed+1, 10)
}

// complete records the outcome of p in the journal and resumes the
// machine with it. It always returns true.
func (t *Task) complete(p effect.Pending, v any, err error) bool {
	t.completed++
	delete(t.ops, uint32(p.Fiber))
	if t.dur != nil && t.dur.journaled {
		t.dur.journaled = false // the op's entry was committed with its world writes
	} else if t.record {
		t.appendEntry(p, v, err)
	}
	var rerr error
	if err != nil {
		rerr = t.m.Fail(p.ID, err)
	} else {
		rerr = t.m.Resume(p.ID, v)
	}
	if rerr != nil {
		// A handler returned a value of the wrong type: fail the op, and
		// say so in the journal.
		if t.record {
			t.mu.Lock()
			last := t.lastEntry()
			last.Result, last.Err = nil, t.e.cfg.registry.EncodeError(rerr)
			t.mu.Unlock()
		}
		_ = t.m.Fail(p.ID, rerr)
	}
	return true
}

func (t *Task) appendEntry(p effect.Pending, v any, err error) {
	var en task.Entry
	t.fillEntry(&en, p, v, err)
	t.mu.Lock()
	t.appendJournal(&en)
	t.mu.Unlock()
}

// Journal chunks: the first holds minMore entries, each next one twice
// its predecessor's, up to maxMore.
const (
	minMore = 8
	maxMore = 256
)

// appendJournal appends en to t's journal: to journal while it has room
// (or the task is durable), to the chunks of more after. t.mu held.
func (t *Task) appendJournal(en *task.Entry) {
	if t.dur != nil || t.moreLen == 0 && len(t.journal) < cap(t.journal) {
		t.journal = append(t.journal, *en)
		return
	}
	k := len(t.more)
	if k == 0 || len(t.more[k-1]) == cap(t.more[k-1]) {
		size := minMore
		if k > 0 {
			size = min(2*cap(t.more[k-1]), maxMore)
		}
		t.more = append(t.more, make(task.Journal, 0, size))
		k++
	}
	t.more[k-1] = append(t.more[k-1], *en)
	t.moreLen++
}

// journalLen returns the number of entries in t's journal.
func (t *Task) journalLen() int { return len(t.journal) + t.moreLen }

// entries returns a copy of t's journal (nil if it is empty). t.mu held.
func (t *Task) entries() task.Journal {
	if t.moreLen == 0 {
		return append(task.Journal(nil), t.journal...)
	}
	out := make(task.Journal, 0, t.journalLen())
	out = append(out, t.journal...)
	for _, c := range t.more {
		out = append(out, c...)
	}
	return out
}

// lastEntry returns the last entry of t's journal, which is not empty.
// t.mu held.
func (t *Task) lastEntry() *task.Entry {
	if k := len(t.more); k > 0 && len(t.more[k-1]) > 0 {
		c := t.more[k-1]
		return &c[len(c)-1]
	}
	return &t.journal[len(t.journal)-1]
}

// newEntry builds the journal entry that records the outcome of p.
func (t *Task) newEntry(p effect.Pending, v any, err error) task.Entry {
	var en task.Entry
	t.fillEntry(&en, p, v, err)
	return en
}

// fillEntry fills en, a zero Entry, with the outcome of p.
func (t *Task) fillEntry(en *task.Entry, p effect.Pending, v any, err error) {
	kind, data, fp, encErr := t.enc.EncodeOp(p.Op)
	en.Seq = uint64(t.journalLen() + 1)
	en.Fiber = uint32(p.Fiber)
	en.Kind, en.Fingerprint, en.Op = kind, fp, data
	en.Time = t.e.clock.Now()
	if encErr != nil {
		err = fmt.Errorf("interp: op %T cannot be journaled: %w", p.Op, encErr)
	}
	if err == nil {
		res, mErr := t.enc.Marshal(v)
		if mErr != nil {
			err = fmt.Errorf("interp: result of %T cannot be journaled: %w", p.Op, mErr)
		} else {
			en.Result = res
		}
	}
	if err != nil {
		en.Err = t.e.cfg.registry.EncodeError(err)
	}
}

// replayNext feeds the next journal entry to the machine. It reports false
// if the task failed (divergence or a corrupt entry).
func (t *Task) replayNext() bool {
	en := t.replay[t.replayPos]
	var p effect.Pending
	found := false
	for _, q := range t.m.Pending() {
		if uint32(q.Fiber) == en.Fiber {
			p, found = q, true
			break
		}
	}
	if !found {
		t.fail(&DivergenceError{Task: t.id, Seq: en.Seq, Fiber: en.Fiber, Recorded: render(en.Kind, en.Op),
			Issued: fmt.Sprintf("nothing (fiber %d has no pending op)", en.Fiber)})
		return false
	}
	kind, fp, err := task.OpFingerprint(p.Op)
	if err != nil || fp != en.Fingerprint || kind != en.Kind {
		_, data, _, _ := task.EncodeOp(p.Op)
		issued := render(kind, data)
		if err != nil {
			issued = fmt.Sprintf("%T (cannot encode: %v)", p.Op, err)
		}
		t.fail(&DivergenceError{Task: t.id, Seq: en.Seq, Fiber: en.Fiber, Recorded: render(en.Kind, en.Op), Issued: issued})
		return false
	}
	t.replayPos++
	t.completed++
	if t.record {
		t.mu.Lock()
		if t.journal == nil && t.moreLen == 0 {
			t.journal = make(task.Journal, 0, len(t.replay))
		}
		t.appendJournal(&en)
		t.mu.Unlock()
	}
	if en.Err != nil {
		_ = t.m.Fail(p.ID, t.e.cfg.registry.DecodeError(en.Err))
		return true
	}
	if t.decodeResult == nil {
		t.decodeResult = func(ptr any) error { return task.Unmarshal(t.replayData, ptr) }
	}
	t.replayData = en.Result
	err = t.m.ResumeDecode(p.ID, t.decodeResult)
	t.replayData = nil
	if err != nil {
		t.fail(fmt.Errorf("task %s: journal entry %d (%s): cannot decode result: %w", t.id, en.Seq, en.Kind, err))
		return false
	}
	return true
}

// fail ends t with err, whatever its program is doing: the interpreter,
// not the program, failed (a divergence, a corrupt journal).
func (t *Task) fail(err error) {
	t.failure = err
	t.m.Stop()
	t.finish(err)
}

func (t *Task) finish(override error) {
	for _, fl := range t.inflight {
		if fl.stop != nil {
			fl.stop()
		}
	}
	t.inflight = nil
	res, err := t.m.Result()
	if override != nil {
		res, err = nil, override
	}
	t.mu.Lock()
	t.finished = true
	t.result, t.err = res, err
	switch {
	case err == nil:
		t.status = task.Done
	case err == effect.ErrCancelled:
		t.status = task.Cancelled
	default:
		t.status = task.Failed
	}
	proc := t.proc
	t.mu.Unlock()
	if proc {
		t.e.exitProcess(t, exitReason(err))
	}
	close(t.done)
}

// render shows an op readably: its kind and its fields.
func render(kind string, data []byte) string { return kind + " " + task.Render(data) }
