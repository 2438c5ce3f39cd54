package interp

import (
	"container/list"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
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
// # Commits: what a task costs the store
//
// Each store transaction a task costs guards something outside the task,
// so none can go without breaking a guarantee above:
//
//   - Creating it: StartProgram returns once the task is durable. The
//     worker that starts a task leases it in the same transaction
//     (store.CreateClaimed) and runs it at once: no claim of its own. (If
//     that worker stops before the task's first step commits, another
//     takes the task when the lease expires, DurableOptions.Lease later.)
//   - One per step that has something to store. A step runs until the
//     task waits (for activities, a message, a timer) or ends, and its
//     commit holds everything it did. The result of an activity must be
//     durable before the next activity starts (its input may depend on
//     it), before a message or a child it leads to is delivered, before a
//     world write is seen, and before Wait returns: so the result of one
//     activity and the start of the next share one commit, and the last
//     result and the task's end share one.
//   - While only activities run, in this process, the step keeps the
//     lease (store.Step.Keep): their results cost no claim. The worker
//     renews a kept lease (store.Store.Renew) while its attempts run, so
//     that no other worker takes over, and runs again, an attempt that
//     outlives a lease.
//
// The first step of a task, when all it does is start activity attempts
// (it journals nothing, takes, sends and spawns nothing, touches no world
// var and no process state, and keeps the lease), is not committed: its
// attempts start at once, and the commit of the step that takes their
// results records them. It has nothing the store needs: the task has no
// journal yet, and after a crash it runs again from its start, where its
// attempts are the same ones, attempt 1 under the same idempotency keys
// (at least once, as any attempt a crash cuts short).
//
// So a program of n sequential activities costs n+1 transactions
// (BenchmarkThreeStepLatency reports 4 for n = 3): the create, and one
// per result, the last one with the task's end. That is the least the
// guarantees allow: the create before StartProgram returns, and each
// result before what follows it.
//
// What the uncommitted first step trades. While the first attempts run,
// the store holds the task as created: running, leased, with no wait, no
// attempt and no deadline (task show and the inspector show it running,
// with no attempt and no deadline; a step that stores a wait shows them
// from then on). The worker renews that lease while the attempts run, as
// it renews any lease a step kept. If the worker dies, another takes the
// task over when the lease runs out (within DurableOptions.Lease of the
// last renewal; at once on a SQLite file whose worker died, since the
// next worker to open the file releases its leases); the
// ActivityTimeout deadline, stored with a step's wait, plays no part
// until a step is stored. A first attempt that fails is stored, in
// backoff and with its attempt number, by the step that takes the
// failure, before the retry waits.
//
// Only named programs can run durably: register them (WithRegistry) and
// start them with StartProgram. World vars (world.Named in the World given
// to WithWorld) are durable; other stm vars are process-local.
type Durable struct {
	e     *engine
	st    store.Store
	owner string
	world *world.World
	opts  DurableOptions

	// clocked: other processes write the store's world too (a
	// WorldNotifier), so the World is kept clocked (durable_world.go).
	clocked   bool
	worldKick chan struct{}
	// notified: the store is a store.Notifier, which signals the tasks
	// a commit makes ready (durable_claim.go).
	notified bool

	mu      sync.Mutex
	cache   map[string]*list.Element // of *proc
	lru     *list.List
	done    map[string]*waiter
	created map[string]*task.Record // created here, not yet stepped

	workq   chan *proc
	commitq chan *request[store.Step]
	// committing counts the steps being committed (finishStep).
	committing atomic.Int32
	createq    chan *request[[]*task.Record]
	kick       chan struct{}
	wg         sync.WaitGroup
	quit       chan struct{}
	closed     bool

	v versions // current versions, what this worker can run
}

// DurableOptions tunes the durable interpreter. The zero value is usable.
type DurableOptions struct {
	// Owner names this worker in leases (default host-pid-random).
	Owner string
	// Lease is how long a claim lasts (default 30s).
	Lease time.Duration
	// Poll is how often the worker looks for ready tasks when nothing told
	// it to (default 200ms).
	Poll time.Duration
	// ActivityTimeout is how long after an attempt starts another worker
	// may take the task over and run the attempt again, if this worker has
	// not finished it (it crashed). Default 1 minute; an op's
	// StartToClose, if longer, wins. It is stored with the step that
	// starts the attempt. A task whose worker kept its lease (and a task
	// whose first attempts run before any step of it is stored: see
	// Durable, # Commits) is held by that lease instead: the worker renews
	// it while the attempts run, however long they take, and if the
	// worker dies another takes the task over when the last renewal runs
	// out (within Lease).
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
func WithWorld(w *world.World) DurableOption { return durableOnly(func(c *config) { c.world = w }) }

// WithDurableOptions sets the durable interpreter's tuning.
func WithDurableOptions(o DurableOptions) DurableOption {
	return durableOnly(func(c *config) { c.durable = o })
}

// NewDurable starts a durable interpreter over st. It restores the world
// vars, and starts claiming ready tasks. Close it when done; Close does
// not close st.
func NewDurable(st store.Store, opts ...DurableOption) (*Durable, error) {
	cfg := newConfig(opts, DurableOption.durableOption)
	cfg.journal = true
	o := cfg.durable
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s-%d-%x", host, os.Getpid(), rand.Uint32())
	}
	workers := cfg.workers
	if workers <= 0 {
		workers = 64
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
		workq: make(chan *proc, 4096), commitq: make(chan *request[store.Step], 4096), createq: make(chan *request[[]*task.Record], 4096),
		kick: make(chan struct{}, 1), quit: make(chan struct{}), worldKick: make(chan struct{}, 1),
	}
	_, d.notified = st.(store.Notifier)
	d.e = newEngine(cfg, realClock{}, true)
	d.e.sched = d
	d.e.cfg.resolver = durableResolver{d: d, reg: cfg.registry}
	d.v.can = cfg.registry.Versions()
	ctx := context.Background()
	if err := startRead(ctx, func() error { return d.loadVersions(ctx) }); err != nil {
		return nil, fmt.Errorf("interp: reading the stored versions: %w", err)
	}
	if err := startRead(ctx, func() error { return d.heartbeat(ctx, false) }); err != nil {
		return nil, fmt.Errorf("interp: first heartbeat: %w", err)
	}
	if d.world != nil {
		var snap store.WorldSnapshot
		err := startRead(ctx, func() (err error) { snap, err = st.World(ctx); return err })
		if err != nil {
			return nil, fmt.Errorf("interp: loading the world: %w", err)
		}
		if err := d.world.Refresh(snap.Clock, worldValues(snap.Vars)); err != nil {
			return nil, fmt.Errorf("interp: restoring the world: %w", err)
		}
		d.world.OnCommit(d.worldHook)
		if n, ok := st.(store.WorldNotifier); ok {
			d.clocked = true
			d.wg.Add(1)
			go d.refreshLoop(n)
		}
	}
	// Several committers, so that a batch gathers while another one is
	// being written: the store groups them again (SQLite has one writer).
	const committers = 4
	d.wg.Add(3 + 2*committers + workers)
	go d.claimLoop()
	go d.versionLoop()
	go d.renewLoop()
	for range committers {
		go d.committer()
		go d.creator()
	}
	for range workers {
		go d.work()
	}
	return d, nil
}

func (d *Durable) base() *engine { return d.e }

// Close stops the workers and releases the leases it holds. Tasks in
// progress are left to be resumed, here or by another worker, from their
// last committed step.
func (d *Durable) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	// The World stays hooked until no worker runs: a transaction that
	// commits meanwhile is stored, or refused (ErrClosed) and not
	// published. Unhooked earlier, it would commit in memory only, while
	// its journal entry could still be committed: the journal would say
	// that it happened, and the store would not have it.
	close(d.quit)
	d.e.stop()
	d.wg.Wait()
	if d.world != nil {
		d.world.OnCommit(nil)
	}
	d.releaseLeases()
	return nil
}

// startRead runs one of the reads a worker makes as it starts, again after
// a failure (up to five tries, 50 ms to 800 ms apart): a connection that
// drops as a worker starts (a database restarting, a backend terminated)
// must not stop it. An error that persists is returned.
func startRead(ctx context.Context, read func() error) error {
	var err error
	for i := range 5 {
		if err = read(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond << i):
		}
	}
	return err
}

// String returns a readable one-line status of the durable worker.
func (d *Durable) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return "durable worker " + d.owner + " (" + strconv.Itoa(d.lru.Len()) + " tasks in memory)"
}
