package interp

import (
	"context"
	"fmt"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// Runtime is an interpreter that runs tasks: *Mock, *Live or *Sim.
// Start, Run, StartProgram and Resume work with any of them.
type Runtime interface {
	// Send puts msg in the mailbox of the task with ID to. It fails with a
	// *NoTaskError if there is no such task or it has finished.
	Send(to string, msg any) error
	// Task returns the task with the given ID.
	Task(id string) (*Task, bool)
	base() *engine
	start(id string, prog effect.AnyProgram, in any, m *effect.Machine) (*Task, error)
}

// start starts a task in memory: the mock and live interpreters.
func (e *engine) start(id string, prog effect.AnyProgram, in any, m *effect.Machine) (*Task, error) {
	t, err := e.newTask(id, prog, in, m)
	if err != nil {
		return nil, err
	}
	e.launch(t, nil)
	return t, nil
}

func (m *Mock) start(id string, prog effect.AnyProgram, in any, mm *effect.Machine) (*Task, error) {
	return m.e.start(id, prog, in, mm)
}

func (l *Live) start(id string, prog effect.AnyProgram, in any, m *effect.Machine) (*Task, error) {
	return l.e.start(id, prog, in, m)
}

// Start starts a task running the anonymous program p.
func Start[A any](rt Runtime, p effect.Eff[A]) (*Task, error) {
	return rt.start("", nil, nil, effect.NewMachine(p))
}

// Run starts a task running p and waits for its result.
func Run[A any](ctx context.Context, rt Runtime, p effect.Eff[A]) (A, error) {
	var zero A
	t, err := Start(rt, p)
	if err != nil {
		return zero, err
	}
	v, err := t.Wait(ctx)
	if err != nil {
		return zero, err
	}
	a, _ := v.(A)
	return a, nil
}

// StartOption configures StartProgram.
type StartOption func(*startConfig)

type startConfig struct{ id string }

// WithID gives the new task an ID of the caller's choosing.
func WithID(id string) StartOption { return func(c *startConfig) { c.id = id } }

// StartProgram starts a task running the named program p on in.
func StartProgram[I, O any](rt Runtime, p *effect.Program[I, O], in I, opts ...StartOption) (*Task, error) {
	return StartAny(rt, p, in, opts...)
}

// StartAny starts a task running p on in, which must be of p's input type.
func StartAny(rt Runtime, p effect.AnyProgram, in any, opts ...StartOption) (*Task, error) {
	var c startConfig
	for _, o := range opts {
		o(&c)
	}
	m, err := p.Start(in)
	if err != nil {
		return nil, err
	}
	return rt.start(c.id, p, in, m)
}

// Resume continues a task from its record, in this interpreter: the
// program (looked up by name and version in the interpreter's registry)
// runs again from its input, fed the recorded results, and goes on live
// where the journal ends. The record's mailbox is restored. A journal that
// does not fit the program fails the task with a *DivergenceError.
func Resume(rt Runtime, rec *task.Record) (*Task, error) {
	e := rt.base()
	prog, err := e.cfg.registry.Program(rec.Program, rec.Version)
	if err != nil {
		return nil, fmt.Errorf("interp: resuming task %s: %w", rec.ID, err)
	}
	in, err := task.DecodeInput(prog, rec.Input)
	if err != nil {
		return nil, fmt.Errorf("interp: resuming task %s: input: %w", rec.ID, err)
	}
	if err := rec.Journal.Validate(); err != nil {
		return nil, fmt.Errorf("interp: resuming task %s: %w", rec.ID, err)
	}
	var mailbox []any
	for _, env := range rec.Mailbox {
		msg, err := e.cfg.registry.DecodeMessage(env)
		if err != nil {
			return nil, fmt.Errorf("interp: resuming task %s: mailbox: %w", rec.ID, err)
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
	t.replay = rec.Journal
	t.record = true
	t.mailbox = mailbox
	e.launch(t, nil)
	return t, nil
}
