package interp

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/amberrt/amber/effect"
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
	tasks  map[string]*proc
	nextID int

	// Processes (process.go): links, monitors, names. procMu guards names,
	// procSeq and every task's ps; it is taken before any Task.mu.
	procMu  sync.Mutex
	names   map[string]*proc
	procSeq uint64

	// port is the port of the tasks the engine creates (Start,
	// StartProgram, Spawn): memPort, or the Sim. The durable interpreter
	// gives each task its own.
	port port
	// stepwise makes run complete at most one live op per activation, so
	// that the simulator can interleave tasks op by op.
	stepwise bool
}

type clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func())
}

type scheduler interface {
	// push makes t runnable; w is the worker that is running the code that
	// calls push, nil from outside the interpreter.
	push(t *proc, w *worker)
}

type worker struct {
	next     *proc // a task made runnable by this worker, run next (hand-off)
	handoffs int
	busy     bool
}

func newEngine(cfg config, clk clock, async bool) *engine {
	ctx, cancel := context.WithCancel(context.Background())
	e := &engine{cfg: cfg, clock: clk, async: async, ctx: ctx, stop: cancel, tasks: map[string]*proc{}}
	e.port = memPort{e}
	return e
}

func (e *engine) newTask(id string, prog effect.AnyProgram, input any, m *effect.Machine) (*proc, error) {
	t, err := e.newProc(prog, input, m)
	if err != nil {
		return nil, err
	}
	if err := e.addTasks([]*proc{t}, []string{id}); err != nil {
		return nil, err
	}
	return t, nil
}

// newProc builds a task, not yet registered (addTasks gives it its ID).
func (e *engine) newProc(prog effect.AnyProgram, input any, m *effect.Machine) (*proc, error) {
	// The task is scheduled from the start: a message sent to it before
	// launch makes it runnable waits in its inbox (launch pushes it), so
	// that no worker steps it before its creator has set it up.
	t := &proc{e: e, port: e.port, prog: prog, m: m, done: make(chan struct{}), status: task.Running, record: e.cfg.journal}
	if prog != nil {
		b, err := task.Marshal(input)
		if err != nil {
			return nil, fmt.Errorf("interp: encoding the input of %s: %w", prog.ProgramName(), err)
		}
		t.in = b
	}
	return t, nil
}

// addTasks gives each of ts its ID, ids[i] ("" or ids nil: the next of
// the engine's own), and registers them all, or none if an ID is taken
// (or given twice).
func (e *engine) addTasks(ts []*proc, ids []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		return ErrClosed
	}
	var named map[string]bool // the IDs of ids, when there are several
	if len(ids) > 1 {
		named = make(map[string]bool, len(ids))
	}
	for _, id := range ids {
		if id == "" {
			continue
		}
		if _, dup := e.tasks[id]; dup {
			return fmt.Errorf("interp: a task with ID %q exists", id)
		}
		if named[id] {
			return fmt.Errorf("interp: ID %q given twice", id)
		}
		if named != nil {
			named[id] = true
		}
	}
	for i, t := range ts {
		id := ""
		if ids != nil {
			id = ids[i]
		}
		for id == "" {
			e.nextID++
			id = "t" + strconv.Itoa(e.nextID)
			if _, taken := e.tasks[id]; taken || named[id] {
				id = ""
			}
		}
		t.id = id
		e.tasks[id] = t
	}
	return nil
}

func (e *engine) newRand(id string) *rand.Rand {
	if !e.cfg.seeded {
		return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return rand.New(rand.NewPCG(e.cfg.seed, h.Sum64()))
}

// forget removes t from the engine's tasks.
func (e *engine) forget(t *proc) {
	e.mu.Lock()
	if e.tasks[t.id] == t {
		delete(e.tasks, t.id)
	}
	e.mu.Unlock()
	t.mu.Lock()
	t.st.Or(stForgotten) // a sender that kept t as its peer looks up its ID again
	t.mu.Unlock()
}

func (e *engine) lookup(id string) *proc {
	e.mu.RLock()
	t := e.tasks[id]
	e.mu.RUnlock()
	return t
}

// send puts msg in the mailbox of task to.
func (e *engine) send(to string, msg any, w *worker) error { return e.sendFrom(nil, to, msg, w) }

// sendFrom puts msg, sent by task from (nil from outside the engine's
// tasks), in the mailbox of task to. from keeps to as its peer, so that
// its next send to the same task skips the lookup. from.stepMu held.
func (e *engine) sendFrom(from *proc, to string, msg any, w *worker) error {
	for {
		var t *proc
		if from != nil && from.peer != nil && from.peer.id == to {
			t = from.peer
		} else if t = e.lookup(to); t == nil {
			return &NoTaskError{ID: to}
		}
		err := e.deliver(t, msg, w)
		if err == errNotDelivered {
			// Forgotten since it was kept or looked up: its ID may name
			// another task now.
			from.forgetPeer()
			continue
		}
		if from != nil {
			switch {
			case err != nil:
				from.peer = nil
			case from.peer != t:
				// Written only when it changes: a pointer write costs a
				// write barrier while the GC marks.
				from.peer = t
			}
		}
		return err
	}
}

// forgetPeer drops the task t keeps as its peer; t may be nil.
func (t *proc) forgetPeer() {
	if t != nil {
		t.peer = nil
	}
}

// errNotDelivered is deliver's answer for a task forgotten by the engine:
// the ID may name another task now.
var errNotDelivered = errors.New("interp: the task was forgotten")

// deliver puts msg in the mailbox of t. It returns errNotDelivered if t
// has been forgotten (its ID is to be looked up again).
func (e *engine) deliver(t *proc, msg any, w *worker) error {
	_, sig := msg.(*procSignal)
	if !sig && w != nil && t.st.CompareAndSwap(stIdle, 0) {
		// The fast path, from a live worker's task to a task that waits
		// with its inbox empty (it is left only while news is clear),
		// not finished and not forgotten: that is all the word says. This
		// sender now holds t's schedule, so no one else steps t, writes
		// its mailbox or takes its schedule (a snapshot waits for it,
		// Live.hold) until the push hands t to a worker: the message goes
		// straight into the mailbox, with no lock. Only live workers take
		// this path (w is nil elsewhere): a snapshot under Mock or Sim
		// keeps senders away with mu alone.
		t.mailbox = append(t.mailbox, msg)
		e.sched.push(t, w)
		return nil
	}
	t.mu.Lock()
	if t.st.Load()&stForgotten != 0 {
		t.mu.Unlock()
		return errNotDelivered
	}
	if t.finished {
		t.mu.Unlock()
		return &NoTaskError{ID: t.id, Finished: true}
	}
	wake := t.wake()
	if wake && !sig {
		// t waits with an empty inbox, and this sender now holds its
		// schedule: the message goes straight into its mailbox, and its
		// next step takes nothing from its inbox.
		t.mailbox = append(t.mailbox, msg)
	} else {
		t.inbox = append(t.inbox, msg)
		t.sigs = t.sigs || sig
		t.st.Or(stNews)
		// The step of t may have left it since wake above, before it
		// could see news (see leave).
		wake = wake || t.wake()
	}
	t.mu.Unlock()
	if wake {
		e.sched.push(t, w)
	}
	return nil
}
