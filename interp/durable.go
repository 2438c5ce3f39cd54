package interp

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
	"github.com/fxamacker/cbor/v2"
)

// Durable is the interpreter for tasks that outlive their process: live
// execution plus a store.Store. Each step of a task (the ops it completes
// until it waits again) is committed in one store transaction with its
// journal entries, the messages it received and sent, the tasks it
// spawned, its STM world writes and its status; commits of many tasks are
// grouped. After a crash, every task resumes where its journal ends, on any
// worker: its program runs again from its input, fed the journaled
// results.
//
// # Guarantees
//
//   - Nothing outside a task observes the consequence of a journal entry
//     before it is durable: messages are delivered and tasks spawned by
//     the commit; an activity starts only after the step that decided to
//     call it is committed; an STM transaction's writes to world vars are
//     committed, with the op's journal entry and everything the task
//     journaled before it, before any other transaction can see them.
//   - Activities are at least once: an attempt cut short by a crash is run
//     again, under the same attempt number and idempotency key.
//   - A timer fires once, at its first deadline, across any number of
//     restarts; a waiting task is a row, not a goroutine, and leaves memory
//     when the cache of live tasks is full.
//   - A worker that lost its lease cannot commit (the store fences every
//     write with the lease's epoch).
//
// Only named programs can run durably: register them (WithRegistry) and
// start them with StartProgram. World vars (stm.Named in the World given
// to WithWorld) are durable; other stm vars are process-local.
type Durable struct {
	e     *engine
	st    store.Store
	owner string
	world *stm.World
	opts  DurableOptions

	// worldVer is the store version of each world var as this worker
	// last loaded or committed it: the Prev of its next write.
	worldMu  sync.Mutex
	worldVer map[string]uint64

	mu      sync.Mutex
	cache   map[string]*list.Element // of *Task
	lru     *list.List
	done    map[string]*waiter
	created map[string]*task.Record // created here, not yet stepped

	workq   chan *Task
	commitq chan *request[store.Step]
	createq chan *request[*task.Record]
	kick    chan struct{}
	wg      sync.WaitGroup
	quit    chan struct{}
	closed  bool
}

// DurableOptions tunes the durable interpreter. The zero value is usable.
type DurableOptions struct {
	// Owner names this worker in leases (default host-pid-random).
	Owner string
	// Workers is the number of goroutines that step tasks (default 64;
	// they mostly wait for group commits).
	Workers int
	// Lease is how long a claim lasts (default 30s).
	Lease time.Duration
	// Poll is how often the worker looks for ready tasks when nothing told
	// it to (default 200ms).
	Poll time.Duration
	// ActivityTimeout is how long after an attempt starts another worker
	// may take the task over and run the attempt again, if this worker has
	// not finished it (it crashed). Default 1 minute; an op's
	// StartToClose, if longer, wins.
	ActivityTimeout time.Duration
	// Cache is how many tasks are kept in memory (default 10,000); the
	// others are rebuilt by replay when they wake.
	Cache int
	// ParkRetry is how often a parked task (its program unknown here) is
	// looked at again (default 1 minute).
	ParkRetry time.Duration
}

// WithWorld makes the vars of w durable under the durable interpreter:
// their values are restored from the store on start, and every commit to
// them is stored atomically with the step that made it.
func WithWorld(w *stm.World) Option { return func(c *config) { c.world = w } }

// WithDurableOptions sets the durable interpreter's tuning.
func WithDurableOptions(o DurableOptions) Option { return func(c *config) { c.durable = o } }

type durableTask struct {
	d            *Durable
	lease        store.Lease
	steps        uint64 // committed steps of the task as this worker knows it
	committed    int    // journal entries already in the store
	seqs         []uint64
	lastSeq      uint64
	consumed     []uint64
	sends        []store.Outgoing
	spawns       []*task.Record
	world        []store.WorldWrite
	deferred     []func()
	journaled    bool   // the pending op's entry was committed by transact
	restartInput []byte // ContinueAsNew in this step: the new input
	proc         []store.ProcOp
	trap         bool   // the task traps exits
	name         string // the name the task registered

	leaseUntil time.Time    // when the current lease expires
	held       bool         // the last step kept the lease: activities are running here
	local      bool         // this step runs on a held lease, for a local event
	active     bool         // claimed and being stepped or committed
	again      bool         // woken while active
	nextLease  *store.Lease // a claim that arrived while active
}

// request is one caller's share of a batch (a step to commit, a task to
// create): the batching goroutine answers on done.
type request[T any] struct {
	v    T
	done chan error
}

// call queues v on q and waits for the batch that takes it.
func call[T any](quit <-chan struct{}, q chan<- *request[T], v T) error {
	r := &request[T]{v: v, done: make(chan error, 1)}
	select {
	case q <- r:
	case <-quit:
		return ErrClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-quit:
		return ErrClosed
	}
}

// NewDurable starts a durable interpreter over st. It restores the world
// vars, and starts claiming ready tasks. Close it when done; Close does
// not close st.
func NewDurable(st store.Store, opts ...Option) (*Durable, error) {
	cfg := newConfig(opts)
	cfg.journal = true
	o := cfg.durable
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s-%d-%x", host, os.Getpid(), rand.Uint32())
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.ActivityTimeout <= 0 {
		o.ActivityTimeout = time.Minute
	}
	if o.Cache <= 0 {
		o.Cache = 10_000
	}
	if o.ParkRetry <= 0 {
		o.ParkRetry = time.Minute
	}
	d := &Durable{
		st: st, owner: o.Owner, world: cfg.world, opts: o,
		cache: map[string]*list.Element{}, lru: list.New(), done: map[string]*waiter{}, created: map[string]*task.Record{},
		workq: make(chan *Task, 4096), commitq: make(chan *request[store.Step], 4096), createq: make(chan *request[*task.Record], 4096),
		kick: make(chan struct{}, 1), quit: make(chan struct{}),
	}
	d.e = newEngine(cfg, realClock{}, true)
	d.e.sched = d
	if d.world != nil {
		snap, err := st.World(context.Background())
		if err != nil {
			return nil, fmt.Errorf("interp: loading the world: %w", err)
		}
		d.worldVer = make(map[string]uint64, len(snap.Vars))
		if len(snap.Vars) > 0 {
			raw := make(map[string]cbor.RawMessage, len(snap.Vars))
			for _, v := range snap.Vars {
				raw[v.Name] = v.Value
				d.worldVer[v.Name] = v.Version
			}
			snap, err := task.Marshal(raw)
			if err != nil {
				return nil, err
			}
			if err := d.world.Restore(snap); err != nil {
				return nil, fmt.Errorf("interp: restoring the world: %w", err)
			}
		}
		d.world.OnCommit(d.worldHook)
	}
	// Several committers, so that a batch gathers while another one is
	// being written: the store groups them again (SQLite has one writer).
	const committers = 4
	d.wg.Add(1 + 2*committers + o.Workers)
	go d.claimLoop()
	for range committers {
		go d.committer()
		go d.creator()
	}
	for range o.Workers {
		go d.work()
	}
	return d, nil
}

func (d *Durable) base() *engine { return d.e }

// Close stops the workers. Tasks in progress are left to be resumed, here
// or by another worker, from their last committed step.
func (d *Durable) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	if d.world != nil {
		d.world.OnCommit(nil)
	}
	close(d.quit)
	d.e.stop()
	d.wg.Wait()
	return nil
}

// Task returns a handle to the stored task with the given ID, wherever it
// runs: its Wait, Result, Status and Journal read the store.
func (d *Durable) Task(id string) (*Task, bool) {
	if _, err := d.st.Status(d.e.ctx, id); err != nil {
		return nil, false
	}
	return &Task{e: d.e, id: id, done: make(chan struct{}), remote: d}, true
}

// remoteRecord loads the record of the task behind the handle t.
func (d *Durable) remoteRecord(t *Task) (*task.Record, error) {
	rec, _, err := d.st.Load(d.e.ctx, t.id)
	return rec, err
}

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

// Wait waits for task id to finish and returns its result, decoded as its
// program's output type.
func (d *Durable) Wait(ctx context.Context, id string) (any, error) {
	return d.wait(ctx, id, d.opts.Poll, true)
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
		d.mu.Unlock()
		if check {
			status, err := d.st.Status(ctx, id)
			if err != nil {
				return nil, err
			}
			if status.Final() {
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
			return nil, ctx.Err()
		}
	}
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
		p, err := d.e.cfg.registry.Program(rec.Program, rec.Version)
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

func (d *Durable) start(id string, prog effect.AnyProgram, in any, _ *effect.Machine) (*Task, error) {
	if prog == nil {
		return nil, errors.New("interp: the durable interpreter runs named programs only: use StartProgram")
	}
	if _, err := d.e.cfg.registry.Program(prog.ProgramName(), prog.ProgramVersion()); err != nil {
		return nil, fmt.Errorf("interp: register %s v%d (task.Register) before starting it durably: %w", prog.ProgramName(), prog.ProgramVersion(), err)
	}
	b, err := task.Marshal(in)
	if err != nil {
		return nil, err
	}
	if id == "" {
		id = fmt.Sprintf("%s-%x", prog.ProgramName(), rand.Uint64())
	}
	now := d.e.clock.Now()
	rec := &task.Record{ID: id, Program: prog.ProgramName(), Version: prog.ProgramVersion(), Input: b, Status: task.Running, Created: now, Updated: now}
	// The waiter is registered before the task can run, so that its
	// outcome is caught even if it finishes before anyone waits.
	w := &waiter{ch: make(chan struct{})}
	d.mu.Lock()
	d.created[id] = rec
	d.done[id] = w
	d.mu.Unlock()
	if err := d.create(rec); err != nil {
		d.mu.Lock()
		delete(d.created, id)
		delete(d.done, id)
		d.mu.Unlock()
		return nil, err
	}
	d.poke()
	return &Task{e: d.e, id: id, prog: prog, done: make(chan struct{}), remote: d, waiter: w}, nil
}

// create stores a new task. Concurrent starts are grouped into one
// store.Create call: one transaction, one flush, one wake-up.
func (d *Durable) create(rec *task.Record) error { return call(d.quit, d.createq, rec) }

func (d *Durable) creator() {
	defer d.wg.Done()
	batches(d.quit, d.createq, 1024, func(batch []*request[*task.Record]) {
		recs := make([]*task.Record, len(batch))
		for i, r := range batch {
			recs[i] = r.v
		}
		err := d.st.Create(d.e.ctx, recs...)
		if err == nil || len(batch) == 1 {
			for _, r := range batch {
				r.done <- err
			}
			return
		}
		// One bad record (an ID that exists) fails the whole call: say
		// which, by creating them one by one.
		for _, r := range batch {
			r.done <- d.st.Create(d.e.ctx, r.v)
		}
	})
}

// batches calls fn with what q holds, as soon as it holds anything: a
// request that arrives while fn runs joins the next batch. It is how
// concurrent callers share one store transaction.
func batches[T any](quit <-chan struct{}, q <-chan T, max int, fn func([]T)) {
	var batch []T
	for {
		select {
		case <-quit:
			return
		case r := <-q:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < max {
			select {
			case r := <-q:
				batch = append(batch, r)
			default:
				break more
			}
		}
		fn(batch)
	}
}

// poke makes the claim loop look for ready tasks now.
func (d *Durable) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *Durable) claimLoop() {
	defer d.wg.Done()
	var ready <-chan struct{}
	if n, ok := d.st.(store.Notifier); ok {
		ready = n.Ready()
	}
	tick := time.NewTicker(d.opts.Poll)
	defer tick.Stop()
	d.wakeParked()
	for {
		for {
			leases, err := d.st.Claim(d.e.ctx, d.owner, 256, d.e.clock.Now(), d.opts.Lease)
			if err != nil {
				if d.e.ctx.Err() == nil {
					d.e.cfg.logger.Error("amber: claiming tasks", "err", err)
				}
				break
			}
			for _, l := range leases {
				d.activate(l)
			}
			if len(leases) < 256 {
				break
			}
		}
		select {
		case <-d.quit:
			return
		case <-d.kick:
		case <-ready:
		case <-tick.C:
		}
	}
}

// wakeParked wakes the parked tasks whose program this worker has.
func (d *Durable) wakeParked() {
	parked, err := d.st.List(d.e.ctx, store.Filter{Status: task.Parked})
	if err != nil {
		return
	}
	var ids []string
	for _, s := range parked {
		if _, err := d.e.cfg.registry.Program(s.Program, s.Version); err == nil {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) > 0 {
		_ = d.st.Wake(d.e.ctx, ids...)
	}
}

// activate hands a claimed task to the workers.
func (d *Durable) activate(l store.Lease) {
	d.mu.Lock()
	var t *Task
	if el, ok := d.cache[l.ID]; ok {
		t = el.Value.(*Task)
		d.lru.MoveToFront(el)
		if t.dur.active {
			t.dur.again, t.dur.nextLease = true, &l
			d.mu.Unlock()
			return
		}
	} else {
		t = &Task{e: d.e, id: l.ID, done: make(chan struct{}), dur: &durableTask{d: d}}
		d.cache[l.ID] = d.lru.PushFront(t)
		d.evict()
	}
	t.dur.active, t.dur.lease, t.dur.held = true, l, false
	t.dur.leaseUntil = d.e.clock.Now().Add(d.opts.Lease)
	d.mu.Unlock()
	d.enqueue(t)
}

func (d *Durable) enqueue(t *Task) {
	select {
	case d.workq <- t:
	case <-d.quit:
	}
}

// evict drops the least recently used inactive tasks beyond the cache
// size. d.mu is held.
func (d *Durable) evict() {
	for el := d.lru.Back(); el != nil && d.lru.Len() > d.opts.Cache; {
		prev := el.Prev()
		t := el.Value.(*Task)
		if !t.dur.active {
			d.lru.Remove(el)
			delete(d.cache, t.id)
			t.drop()
		}
		el = prev
	}
}

// forget drops t from memory: its state is no longer trusted.
func (d *Durable) forget(t *Task) {
	d.mu.Lock()
	if el, ok := d.cache[t.id]; ok && el.Value == t {
		d.lru.Remove(el)
		delete(d.cache, t.id)
	}
	d.mu.Unlock()
	t.drop()
}

// drop releases what an in-memory task holds: timers, running attempts,
// a direct-style coroutine.
func (t *Task) drop() {
	t.stepMu.Lock()
	defer t.stepMu.Unlock()
	for _, fl := range t.inflight {
		if fl.stop != nil {
			fl.stop()
		}
	}
	t.inflight = nil
	if t.m != nil {
		t.m.Stop()
		t.m = nil // a later step must rebuild it from the store
	}
}

// push is the scheduler hook: a local event (a timer, an activity, an STM
// wake-up) made t runnable. The task must be claimed again to run.
func (d *Durable) push(t *Task, _ *worker) {
	d.mu.Lock()
	if el, ok := d.cache[t.id]; !ok || el.Value != t || t.dur == nil {
		d.mu.Unlock()
		return // forgotten or evicted: the store wakes it
	}
	if t.dur.active {
		t.dur.again = true
		d.mu.Unlock()
		return
	}
	t.dur.active = true
	if t.dur.held && d.e.clock.Now().Before(t.dur.leaseUntil.Add(-d.opts.Lease/4)) {
		// The last step kept the lease for this: no claim needed, and no
		// message read: messages that came meanwhile made the task ready
		// in the store, and it is claimed again once it lets the lease go.
		t.dur.held, t.dur.local = false, true
		d.mu.Unlock()
		d.enqueue(t)
		return
	}
	t.dur.held = false
	d.mu.Unlock()
	go d.reclaim(t)
}

// retake claims task id again, to run it from the store.
func (d *Durable) retake(id string) {
	l, err := d.st.ClaimID(d.e.ctx, d.owner, id, d.e.clock.Now(), d.opts.Lease)
	if err == nil {
		d.activate(l)
	}
}

// reclaim leases t again for a local event.
func (d *Durable) reclaim(t *Task) {
	l, err := d.st.ClaimID(d.e.ctx, d.owner, t.id, d.e.clock.Now(), d.opts.Lease)
	if err != nil {
		// Leased elsewhere, finished, or the store failed: whoever has it
		// will run it; the event is dropped (an activity's attempt will be
		// run again when its deadline comes).
		d.mu.Lock()
		t.dur.active = false
		d.mu.Unlock()
		return
	}
	t.dur.lease = l
	t.dur.leaseUntil = d.e.clock.Now().Add(d.opts.Lease)
	d.enqueue(t)
}

func (d *Durable) work() {
	defer d.wg.Done()
	for {
		select {
		case <-d.quit:
			return
		case t := <-d.workq:
			d.step(t)
		}
	}
}

// step runs one step of a claimed task and commits it.
func (d *Durable) step(t *Task) {
	ctx := d.e.ctx
	dt := t.dur
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
		t.m.Stop()
	}
	d.e.process(t, nil)
	d.commitStep(t)
}

// fresh returns t's record: from memory for a task this worker created
// and has not stepped yet (its journal is empty; only its messages are
// read), from the store otherwise.
func (d *Durable) fresh(t *Task) (*task.Record, []store.Message, error) {
	d.mu.Lock()
	rec, ok := d.created[t.id]
	delete(d.created, t.id)
	d.mu.Unlock()
	if ok && t.dur.lease.Steps == 0 {
		msgs, err := d.st.Messages(d.e.ctx, t.id, 0)
		return rec, msgs, err
	}
	return d.st.Load(d.e.ctx, t.id)
}

// load rebuilds t from the store: its program runs again, fed the journal.
func (d *Durable) load(t *Task) bool {
	dt := t.dur
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
	prog, err := d.e.cfg.registry.Program(rec.Program, rec.Version)
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
	t.prog, t.m, t.in = prog, m, rec.Input
	t.journal, t.replay, t.replayPos = nil, rec.Journal, 0
	t.inbox, t.events, t.finished, t.status = nil, nil, false, rec.Status
	t.mu.Unlock()
	t.record, t.mailbox, t.inflight, t.completed, t.failure = true, nil, nil, 0, nil
	t.rng = d.e.newRand(t.id)
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
func (d *Durable) addMessages(t *Task, msgs []store.Message) error {
	dt := t.dur
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

// park sets t aside with a reason, to be looked at again later.
func (d *Durable) park(t *Task, reason string) {
	step := d.newStep(t)
	step.Status, step.Reason = task.Parked, reason
	step.RunAt = d.e.clock.Now().Add(d.opts.ParkRetry)
	step.Append = nil
	d.submit(step)
	d.forget(t)
}

// commitFinal ends t with a status and reason, without running it.
func (d *Durable) commitFinal(t *Task, status task.Status, reason string) {
	step := d.newStep(t)
	step.Status, step.Reason, step.Exit = status, reason, reason
	step.Err = &task.Error{Msg: reason}
	d.submit(step)
	d.forget(t)
}

func (d *Durable) newStep(t *Task) store.Step {
	return store.Step{ID: t.id, Owner: d.owner, Epoch: t.dur.lease.Epoch, Steps: t.dur.lease.Steps}
}

func (d *Durable) submit(step store.Step) error { return call(d.quit, d.commitq, step) }

// release lets t go after a step that could not run.
func (d *Durable) release(t *Task) {
	d.mu.Lock()
	t.dur.active = false
	again := t.dur.again
	t.dur.again = false
	next := t.dur.nextLease
	t.dur.nextLease = nil
	if next != nil && next.Epoch < t.dur.lease.Epoch {
		// A claim that lost to a later one of ours (a timer's reclaim
		// raced the claim loop): running under it would fail to commit
		// and forget the task, dropping the activity it just started.
		next, again = nil, true
	}
	d.mu.Unlock()
	if next != nil {
		d.activate(*next)
	} else if again {
		d.push(t, nil)
	}
}

// commitStep commits what t did since it was claimed.
func (d *Durable) commitStep(t *Task) {
	dt := t.dur
	step := d.newStep(t)
	t.mu.Lock()
	step.Append = append([]task.Entry(nil), t.journal[dt.committed:]...)
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
			// Register now sees the name taken.
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
func onlyActivities(t *Task) bool {
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
func (d *Durable) waitOf(t *Task, now time.Time) (*task.Wait, time.Time) {
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
	return w, runAt
}

// restart records a ContinueAsNew: the step commits the new input and
// starts the journal over; effects of the old run made in this step
// (sends, spawns) still commit with it.
func (dt *durableTask) restart(in []byte) {
	dt.restartInput = in
	dt.committed = 0
}

func (dt *durableTask) reset() {
	dt.consumed, dt.sends, dt.spawns, dt.world, dt.deferred, dt.restartInput, dt.proc = nil, nil, nil, nil, nil, nil, nil
}

func (dt *durableTask) consume(i int) {
	dt.consumed = append(dt.consumed, dt.seqs[i])
	dt.seqs = append(dt.seqs[:i], dt.seqs[i+1:]...)
}

func (dt *durableTask) send(t *Task, op effect.SendOp) error {
	env, err := dt.d.e.cfg.registry.EncodeMessage(op.Msg)
	if err != nil {
		return fmt.Errorf("task %s: send to %s: %w", t.id, op.To, err)
	}
	if err := dt.peer(op.To); err != nil {
		return err
	}
	dt.sends = append(dt.sends, store.Outgoing{To: op.To, Env: env})
	return nil
}

func (dt *durableTask) spawn(t *Task, op effect.SpawnOp) (string, error) {
	reg := dt.d.e.cfg.registry
	if _, err := reg.Program(op.Program, op.Version); err != nil {
		return "", fmt.Errorf("task %s: spawn: %w", t.id, err)
	}
	in, err := task.Marshal(op.Input)
	if err != nil {
		return "", err
	}
	id := childID(t)
	now := dt.d.e.clock.Now()
	dt.spawns = append(dt.spawns, &task.Record{ID: id, Program: op.Program, Version: op.Version, Input: in,
		Status: task.Running, Parent: t.id, Created: now, Updated: now})
	return id, nil
}

type stepKey struct{}

type stepCtx struct {
	t      *Task
	p      effect.Pending
	result any
	err    error
}

// transact runs a state op whose world writes must be stored with the
// op's journal entry, before anyone sees them: the World's commit hook
// (worldHook) commits them.
func (dt *durableTask) transact(t *Task, p effect.Pending, op effect.ContextTransactor) (any, *stm.Wait, error) {
	sc := &stepCtx{t: t, p: p}
	ctx := context.WithValue(dt.d.e.ctx, stepKey{}, sc)
	return op.TransactContext(ctx, func(r any) { sc.result = r })
}

// worldHook stores a commit to world vars before it is published. Inside
// a task's state op, the commit carries the task's uncommitted journal and
// the op's own entry; otherwise (plain Go code) just the writes.
func (d *Durable) worldHook(c stm.Commit) error {
	writes := make([]store.WorldWrite, len(c.Writes))
	d.worldMu.Lock()
	for i, w := range c.Writes {
		writes[i] = store.WorldWrite{Name: w.Name, Value: w.Value, Prev: d.worldVer[w.Name]}
	}
	d.worldMu.Unlock()
	committed := func() {
		d.worldMu.Lock()
		for _, w := range writes {
			d.worldVer[w.Name] = w.Prev + 1
		}
		d.worldMu.Unlock()
	}
	sc, _ := c.Context.Value(stepKey{}).(*stepCtx)
	if sc == nil {
		errs, err := d.st.Commit(c.Context, []store.Step{{World: writes}})
		if err == nil && len(errs) > 0 {
			err = errs[0]
		}
		if err == nil {
			committed()
		}
		return err
	}
	t, dt := sc.t, sc.t.dur
	en := t.newEntry(sc.p, sc.result, nil)
	step := d.newStep(t)
	t.mu.Lock()
	step.Append = append(append([]task.Entry(nil), t.journal[dt.committed:]...), en)
	t.mu.Unlock()
	step.Consumed, step.Sends, step.Spawns, step.World, step.Proc = dt.consumed, dt.sends, dt.spawns, writes, dt.proc
	if dt.restartInput != nil {
		step.Restart = &store.Restart{Input: dt.restartInput}
	}
	step.Status, step.Keep = task.Running, true
	if err := d.submit(step); err != nil {
		return fmt.Errorf("task %s: storing an STM commit: %w", t.id, err)
	}
	committed()
	t.mu.Lock()
	t.journal = append(t.journal, en)
	t.mu.Unlock()
	dt.steps++
	dt.lease.Steps = dt.steps
	dt.committed = len(t.journal)
	deferred := dt.deferred
	dt.reset()
	dt.deferred = deferred
	dt.journaled = true
	return nil
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

// String returns a readable one-line status of the durable worker.
func (d *Durable) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return "durable worker " + d.owner + " (" + strconv.Itoa(d.lru.Len()) + " tasks in memory)"
}
