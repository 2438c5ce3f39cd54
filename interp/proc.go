package interp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/task"
)

// proc is a task of an interpreter, in memory: the engine runs it, its
// port connects it to the rest of its interpreter (port.go).
type proc struct {
	e    *engine
	port port
	id   string
	prog effect.AnyProgram // nil for an anonymous program
	in   []byte            // the encoded input, for records
	m    *effect.Machine
	rng  *rand.Rand // made at the first Random (random): an idle task carries none

	// Owned by the holder of the task's schedule (st), which is the
	// worker that is processing the task. That worker holds stepMu too,
	// except the live one: Live keeps snapshots away with the schedule
	// itself (Live.hold).
	stepMu sync.Mutex
	// mailbox is also written by a sender that wakes the task
	// (engine.deliver): it then holds the task's schedule, and no worker
	// steps the task. (A durable task gets its messages from its store,
	// never this way.)
	mailbox   []any
	inflight  []flight
	record    bool
	replayEnd bool // stop at the end of the replay journal instead of going live
	cancelled bool // stopped by Cancel
	voided    bool // the port voided the step: the task is to be reloaded
	replay    task.Journal
	replayPos int
	// decodeResult decodes replayData: one closure per task, not per entry.
	decodeResult func(ptr any) error
	replayData   []byte
	failure      error                    // the interpreter failed the task
	completed    uint64                   // ops completed, replayed ones included
	runs         uint64                   // ContinueAsNew restarts
	ops          map[uint32]*task.OpState // state of timers and attempts, by fiber
	journal      task.Journal             // appended under mu too, for concurrent readers; see more
	ps           *procState               // links, monitors, name; guarded by e.procMu
	rare         *procRare                // what few tasks need; nil until one does (rareState)
	// peer is the task t last sent a message to (memPort.send): a task
	// that sends to the same task again finds it without the engine's
	// map and its lock. A peer that has finished or was forgotten is
	// looked up again.
	peer *proc

	// A task that is not durable appends the entries that do not fit in
	// journal's capacity to chunks of growing size, so that a long journal
	// is not copied over and over as it grows: its journal is journal
	// followed by the chunks of more, moreLen entries in all (entries,
	// journalLen). Durable tasks use journal alone, and so does replay,
	// into a journal made to the replay's length: while a task replays,
	// more is empty. Under mu, like journal.
	more    []task.Journal
	moreLen int
	// enc encodes the ops and results of journal entries; made at the
	// first (a task that journals nothing, an idle live one, carries
	// none: an Encoder is 256 bytes).
	enc *task.Encoder
	// st is t's state word (stIdle, stNews, ...: schedule.go). The
	// holder of t's schedule is the only one to leave t (set stIdle),
	// without mu, and only while stNews is clear (leave); those who wake
	// t (clear stIdle), set stNews, and mark t finished or forgotten do
	// so under mu, except deliver's fast path, which wakes a task whose
	// word is stIdle and nothing else with one compare-and-swap, and a
	// Live snapshot (Live.hold, under the Live's mutex).
	st atomic.Uint32

	// Guarded by mu.
	mu       sync.Mutex
	inbox    []any
	events   []event
	spare    []any
	finished bool
	proc     bool // ps may be set: finish must release it
	sigs     bool // inbox holds exit signals
	done     chan struct{}
	result   any
	err      error
	status   task.Status
}

// procRare is the state of a task that few tasks need: routed calls
// (route.go), the sandbox's answers, patches replayed on their old
// branch. It lives behind a pointer so that every other task (an idle one
// above all) does without its bytes. Owned like the fields of proc that
// stepMu guards.
type procRare struct {
	taps      []*routeTap // shadowed calls in progress (route.go)
	skipping  bool        // replay: skipping the entries of a swapped call
	swaps     []Swap      // replay: the calls run under another version
	answer    answerer    // the sandbox port: answers ops before the engine performs them
	unpatched []string    // patches answered false in replay: the task takes their old branch
	stmWaits  []stmWait   // the STM waits (Retry) of ops in flight, for the durable port
}

// stmWait is the STM wait of an op in flight: a transaction that waits
// (Retry) for a var it read to change.
type stmWait struct {
	op   uint64
	wait *stm.Wait
}

// keepWait remembers the STM wait of op, which is in flight, forgetting
// those of ops no longer in flight (so that they are never more than the
// ops in flight). They are kept apart from flight, whose size every idle
// task pays.
func (t *proc) keepWait(op uint64, w *stm.Wait) {
	rs := t.rareState()
	keep := rs.stmWaits[:0]
	for _, sw := range rs.stmWaits {
		if t.flightIndex(sw.op) >= 0 && sw.op != op {
			keep = append(keep, sw)
		}
	}
	rs.stmWaits = append(keep, stmWait{op, w})
}

// stmWait returns the STM wait of op in flight, or nil.
func (t *proc) stmWait(op uint64) *stm.Wait {
	if t.rare == nil || t.flightIndex(op) < 0 {
		return nil
	}
	for _, sw := range t.rare.stmWaits {
		if sw.op == op {
			return sw.wait
		}
	}
	return nil
}

// rareState returns t's procRare, made at the first call.
func (t *proc) rareState() *procRare {
	if t.rare == nil {
		t.rare = new(procRare)
	}
	return t.rare
}

// skipping reports whether t's replay skips the entries of a swapped call.
func (t *proc) skipping() bool { return t.rare != nil && t.rare.skipping }

type flight struct {
	id       uint64
	stop     func()
	receive  bool
	activity bool // an attempt of an activity or handled op is running
}

type event struct {
	op     uint64
	v      any
	err    error
	retry  bool // an STM wait ended: attempt the transaction again
	cancel bool // the task is asked to stop (Cancel)
}

var _ handle = (*proc)(nil)

func (t *proc) taskID() string { return t.id }

// random returns t's random source, made at the first call: seeded by
// the task's ID under a seeded interpreter, so when it is made does not
// matter.
func (t *proc) random() *rand.Rand {
	if t.rng == nil {
		t.rng = t.e.newRand(t.id)
	}
	return t.rng
}

// encoder returns t's journal encoder, made at the first call.
func (t *proc) encoder() *task.Encoder {
	if t.enc == nil {
		t.enc = new(task.Encoder)
	}
	return t.enc
}

func (t *proc) programName() (string, error) {
	if t.prog == nil {
		return "", nil
	}
	return t.prog.ProgramName(), nil
}

func (t *proc) outcome() (any, error, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.result, t.err, t.finished
}

func (t *proc) readStatus() (task.Status, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status, nil
}

func (t *proc) readJournal() (task.Journal, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entries(), nil
}

// awaiter is implemented by the interpreters that run their tasks only
// when asked (Mock, Sim): wait runs them until t finishes.
type awaiter interface {
	await(ctx context.Context, t *proc) error
}

func (t *proc) waitFor(ctx context.Context) (any, error) {
	if w, ok := t.e.sched.(awaiter); ok {
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

func (t *proc) requestCancel() error {
	t.e.post(t, event{cancel: true})
	return nil
}

func (t *proc) snapshot() (*task.Record, error) {
	if t.prog == nil {
		return nil, fmt.Errorf("interp: task %s runs an anonymous program; start it with StartProgram to snapshot it", t.id)
	}
	if l, ok := t.e.sched.(*Live); ok && l.hold(t) {
		defer l.unhold(t)
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
		Runs:    t.runs,
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
		} else {
			b, err := task.Marshal(t.result)
			if err != nil {
				return nil, fmt.Errorf("interp: task %s: result: %w", t.id, err)
			}
			rec.Result = b
		}
	}
	return rec, nil
}

// stop stops t's program where it is: the task ends cancelled when it
// next runs, whether or not it has replayed its journal. t.stepMu held.
func (t *proc) stop() {
	t.cancelled = true
	t.keepUnreplayed()
	t.m.Stop()
}

// keepUnreplayed moves the entries t has not replayed yet into its
// journal: t ends (cancelled, killed by a signal) before it replayed what
// it was rebuilt from (a store, or the Sim's model of one), and its
// journal is still what the store holds. t.stepMu held.
func (t *proc) keepUnreplayed() {
	if !t.record || t.replayPos >= len(t.replay) {
		return
	}
	t.mu.Lock()
	for i := t.replayPos; i < len(t.replay); i++ {
		t.appendJournal(&t.replay[i])
	}
	t.mu.Unlock()
	t.replayPos = len(t.replay)
}

// fail ends t with err, whatever its program is doing: the interpreter,
// not the program, failed (a divergence, a corrupt journal).
func (t *proc) fail(err error) {
	t.failure = err
	t.m.Stop()
	t.finish(err)
}

func (t *proc) finish(override error) {
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
	t.st.Or(stFinished)
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
