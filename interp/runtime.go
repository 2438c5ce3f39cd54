package interp

import (
	"context"
	"errors"
	"fmt"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// Runtime is an interpreter that runs tasks: *Mock, *Live, *Sim or
// *Durable. Start, Run, StartProgram, Attach and Restore work with any of
// them (the durable interpreter runs named programs only).
type Runtime interface {
	// Send puts msg in the mailbox of the task with ID to. It fails with a
	// *NoTaskError if there is no such task or it has finished (the
	// durable interpreter: an error matching store.ErrNotFound or
	// store.ErrFinished).
	Send(to string, msg any) error
	// Cancel asks for the task with the given ID to be cancelled: its
	// program stops where it waits and the task ends with status
	// Cancelled. Cancelling a finished task does nothing.
	Cancel(id string) error
	// Task returns an untyped handle to the task with the given ID (Attach
	// gives a typed one).
	Task(id string) (*Handle[any], bool)

	// start starts a task: of program p at version (0: its current
	// version) on input in, or (p nil) of the anonymous program m.
	start(id string, p effect.AnyProgram, version int, in any, m *effect.Machine) (handle, error)
	// startMany starts a task of program p at version (0: its current
	// version) on each of ins, the task of ins[i] under ids[i] ("" or ids
	// nil: an ID of the runtime's choosing), all or none (StartMany).
	startMany(ids []string, p effect.AnyProgram, version int, ins []any) ([]handle, error)
	restore(rec *task.Record) (handle, error)
}

// Start starts a task running the anonymous program p. The durable
// interpreter refuses it: a task that must outlive its process needs a
// program it can find again by name (StartProgram).
func Start[A any](rt Runtime, p effect.Eff[A]) (*Handle[A], error) {
	t, err := rt.start("", nil, 0, nil, effect.NewMachine(p))
	if err != nil {
		return nil, err
	}
	return &Handle[A]{t}, nil
}

// Run starts a task running the anonymous program p and waits for its
// result: Start, then Wait.
func Run[A any](ctx context.Context, rt Runtime, p effect.Eff[A]) (A, error) {
	h, err := Start(rt, p)
	if err != nil {
		var zero A
		return zero, err
	}
	return h.Wait(ctx)
}

// StartOption configures StartProgram.
type StartOption func(*startConfig)

type startConfig struct {
	ids     []string // nil: IDs of the runtime's choosing
	version int
}

// WithID gives the new task an ID of the caller's choosing. Starting a
// task under an ID that exists fails (the durable interpreter: with an
// error matching store.ErrExists). It is WithIDs(id): StartMany takes it
// only to start one task.
func WithID(id string) StartOption { return func(c *startConfig) { c.ids = []string{id} } }

// WithIDs gives the tasks that StartMany starts IDs of the caller's
// choosing: ids[i] to the task of the i-th input ("" lets the runtime
// choose that one). There must be one ID per input. An ID given twice,
// or one that exists, fails the whole StartMany (see there).
// StartProgram takes it with exactly one ID, as WithID.
func WithIDs(ids ...string) StartOption {
	return func(c *startConfig) { c.ids = append([]string(nil), ids...) }
}

// WithVersion starts the task on version v of the program instead of its
// current version.
func WithVersion(v int) StartOption { return func(c *startConfig) { c.version = v } }

// StartProgram starts a task running p's program on in, and returns a
// handle typed by p's output. The task runs the program's current version
// (task.Resolver): under the durable interpreter, the version marked
// current in its store; otherwise the highest version registered; p itself
// when the interpreter knows no version of p's program. WithVersion pins
// another.
func StartProgram[I, O any](rt Runtime, p *effect.Program[I, O], in I, opts ...StartOption) (*Handle[O], error) {
	if p == nil {
		return nil, effect.ErrNilProgram
	}
	h, err := StartAny(rt, p, in, opts...)
	if err != nil {
		return nil, err
	}
	return &Handle[O]{h.t}, nil
}

// StartAny starts a task running p on in, which must be of p's input type:
// StartProgram for a program known only at run time (an
// effect.AnyProgram, from a registry).
func StartAny(rt Runtime, p effect.AnyProgram, in any, opts ...StartOption) (*Handle[any], error) {
	if p == nil {
		return nil, effect.ErrNilProgram
	}
	var c startConfig
	for _, o := range opts {
		o(&c)
	}
	id := ""
	switch len(c.ids) {
	case 0:
	case 1:
		id = c.ids[0]
	default:
		return nil, fmt.Errorf("interp: %d IDs (WithIDs) to start one task of %s: use StartMany", len(c.ids), p.ProgramName())
	}
	t, err := rt.start(id, p, c.version, in, nil)
	if err != nil {
		return nil, err
	}
	return &Handle[any]{t}, nil
}

// StartMany starts one task running p's program on each of ins, and
// returns their handles in the order of ins: StartProgram for a batch.
// The options are StartProgram's: WithVersion applies to every task;
// WithIDs names them one by one (WithID, a single ID, only starts a
// batch of one).
//
// It is all or nothing. Under the durable interpreter the tasks are
// created in one store transaction (store.CreateClaimed: one round trip
// on PostgreSQL, one commit on SQLite), leased to this worker, which
// runs them at once, as StartProgram does one; StartMany returns once
// all of them are durable. The batch costs one transaction, where a
// StartProgram per task costs a hand-off and a share of a transaction
// each (BenchmarkOneStepPostgres in bench/: 2,000 tasks started in
// 117-424 ms, against 519-1,083 ms from 100 goroutines calling
// StartProgram, on a loaded machine). If any task cannot be created,
// none is, no task runs, and StartMany returns nil handles and the
// error. An ID that exists, or one given twice, fails the batch with an
// error matching store.ErrExists (the in-memory interpreters: an error
// naming the ID); an input that cannot be encoded, or a program version
// that is not registered, fails it too. The one exception is an error
// of the store itself whose outcome is unknown (a connection lost while
// the transaction committed), as for StartProgram: then the tasks were
// created either all or none; start them again under the same IDs to
// find out (store.ErrExists: they were).
//
// Mock, Live and Sim check every input, ID and version first and then
// start the tasks together, in the order of ins; on an error nothing was
// started. An empty ins starts nothing and returns no handles and no
// error.
func StartMany[I, O any](rt Runtime, p *effect.Program[I, O], ins []I, opts ...StartOption) ([]*Handle[O], error) {
	if p == nil {
		return nil, effect.ErrNilProgram
	}
	var c startConfig
	for _, o := range opts {
		o(&c)
	}
	if c.ids != nil && len(c.ids) != len(ins) {
		return nil, fmt.Errorf("interp: StartMany of %s: %d IDs (WithIDs) for %d inputs", p.ProgramName(), len(c.ids), len(ins))
	}
	if len(ins) == 0 {
		return nil, nil
	}
	anys := make([]any, len(ins))
	for i, in := range ins {
		anys[i] = in
	}
	ts, err := rt.startMany(c.ids, p, c.version, anys)
	if err != nil {
		return nil, err
	}
	hs := make([]*Handle[O], len(ts))
	for i, t := range ts {
		hs[i] = &Handle[O]{t}
	}
	return hs, nil
}

// Attach returns a handle, typed by p's output, to the existing task id,
// which must run program p (any version of it).
func Attach[I, O any](rt Runtime, p *effect.Program[I, O], id string) (*Handle[O], error) {
	h, ok := rt.Task(id)
	if !ok {
		return nil, &NoTaskError{ID: id}
	}
	name, err := h.t.programName()
	if err != nil {
		return nil, fmt.Errorf("interp: attaching to task %s: %w", id, err)
	}
	if name != p.ProgramName() {
		return nil, fmt.Errorf("interp: task %s runs program %q, not %q", id, name, p.ProgramName())
	}
	return &Handle[O]{h.t}, nil
}

// Restore continues a task from its record (Handle.Record, or a decoded
// task.EncodeRecord) in an in-memory interpreter (Mock, Live, Sim): the
// program, looked up by name and version in the interpreter's registry,
// runs again from its input, fed the recorded results, and goes on live
// where the journal ends; the record's mailbox is restored. A journal that
// does not fit the program fails the task with a *DivergenceError. (A
// durable task needs no Restore: its interpreter resumes it from the
// store.)
func Restore(rt Runtime, rec *task.Record) (*Handle[any], error) {
	t, err := rt.restore(rec)
	if err != nil {
		return nil, err
	}
	return &Handle[any]{t}, nil
}

// start starts a task in memory.
func (e *engine) start(id string, p effect.AnyProgram, version int, in any, m *effect.Machine) (handle, error) {
	var prog effect.AnyProgram
	if p != nil {
		var err error
		if prog, err = e.cfg.programFor(p, version); err != nil {
			return nil, err
		}
		if m, err = prog.Start(in); err != nil {
			return nil, err
		}
	}
	t, err := e.newTask(id, prog, in, m)
	if err != nil {
		return nil, err
	}
	e.launch(t, nil)
	return t, nil
}

// startMany starts tasks in memory, all or none: every task is built
// (its input encoded, its program started) and every ID checked before
// any is registered, and all are registered together.
func (e *engine) startMany(ids []string, p effect.AnyProgram, version int, ins []any) ([]handle, error) {
	prog, err := e.cfg.programFor(p, version)
	if err != nil {
		return nil, err
	}
	ts := make([]*proc, len(ins))
	for i, in := range ins {
		m, err := prog.Start(in)
		if err != nil {
			return nil, err
		}
		if ts[i], err = e.newProc(prog, in, m); err != nil {
			return nil, err
		}
	}
	if err := e.addTasks(ts, ids); err != nil {
		return nil, err
	}
	hs := make([]handle, len(ts))
	for i, t := range ts {
		e.launch(t, nil)
		hs[i] = t
	}
	return hs, nil
}

// restore starts a task in memory from its record.
func (e *engine) restore(rec *task.Record) (handle, error) {
	prog, err := e.cfg.resolver.Program(rec.Program, rec.Version)
	if err != nil {
		return nil, fmt.Errorf("interp: restoring task %s: %w", rec.ID, err)
	}
	in, err := task.DecodeInput(prog, rec.Input)
	if err != nil {
		return nil, fmt.Errorf("interp: restoring task %s: input: %w", rec.ID, err)
	}
	if err := rec.Journal.Validate(); err != nil {
		return nil, fmt.Errorf("interp: restoring task %s: %w", rec.ID, err)
	}
	var mailbox []any
	for _, env := range rec.Mailbox {
		msg, err := e.cfg.registry.DecodeMessage(env)
		if err != nil {
			return nil, fmt.Errorf("interp: restoring task %s: mailbox: %w", rec.ID, err)
		}
		mailbox = append(mailbox, msg)
	}
	m, err := prog.Start(in)
	if err != nil {
		return nil, err
	}
	t, err := e.newTask(rec.ID, prog, in, m)
	if err != nil {
		return nil, err
	}
	t.replay, t.runs = rec.Journal, rec.Runs
	t.record = true
	t.mailbox = mailbox
	e.launch(t, nil)
	return t, nil
}

// task returns a handle to the in-memory task id.
func (e *engine) task(id string) (*Handle[any], bool) {
	t := e.lookup(id)
	if t == nil {
		return nil, false
	}
	return &Handle[any]{t}, true
}

// cancel asks the in-memory task id to stop.
func (e *engine) cancel(id string) error {
	t := e.lookup(id)
	if t == nil {
		return &NoTaskError{ID: id}
	}
	return t.requestCancel()
}

func (m *Mock) start(id string, p effect.AnyProgram, v int, in any, mm *effect.Machine) (handle, error) {
	return m.e.start(id, p, v, in, mm)
}
func (m *Mock) restore(rec *task.Record) (handle, error) { return m.e.restore(rec) }
func (m *Mock) startMany(ids []string, p effect.AnyProgram, v int, ins []any) ([]handle, error) {
	return m.e.startMany(ids, p, v, ins)
}

// Task returns a handle to the task with the given ID.
func (m *Mock) Task(id string) (*Handle[any], bool) { return m.e.task(id) }

// Cancel asks for task id to be cancelled (see Runtime).
func (m *Mock) Cancel(id string) error { return m.e.cancel(id) }

func (l *Live) start(id string, p effect.AnyProgram, v int, in any, m *effect.Machine) (handle, error) {
	return l.e.start(id, p, v, in, m)
}
func (l *Live) restore(rec *task.Record) (handle, error) { return l.e.restore(rec) }
func (l *Live) startMany(ids []string, p effect.AnyProgram, v int, ins []any) ([]handle, error) {
	return l.e.startMany(ids, p, v, ins)
}

// Task returns a handle to the task with the given ID.
func (l *Live) Task(id string) (*Handle[any], bool) { return l.e.task(id) }

// Cancel asks for task id to be cancelled (see Runtime).
func (l *Live) Cancel(id string) error { return l.e.cancel(id) }

func (s *Sim) start(id string, p effect.AnyProgram, v int, in any, m *effect.Machine) (handle, error) {
	return s.e.start(id, p, v, in, m)
}
func (s *Sim) restore(rec *task.Record) (handle, error) { return s.e.restore(rec) }
func (s *Sim) startMany(ids []string, p effect.AnyProgram, v int, ins []any) ([]handle, error) {
	return s.e.startMany(ids, p, v, ins)
}

// Task returns a handle to the task with the given ID.
func (s *Sim) Task(id string) (*Handle[any], bool) { return s.e.task(id) }

// Cancel asks for task id to be cancelled (see Runtime).
func (s *Sim) Cancel(id string) error { return s.e.cancel(id) }

// errRestoreDurable is Restore's error under the durable interpreter.
var errRestoreDurable = errors.New("interp: Restore continues a task in memory; the durable interpreter resumes its tasks from its store")

func (d *Durable) restore(*task.Record) (handle, error) { return nil, errRestoreDurable }
