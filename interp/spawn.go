package interp

import (
	"fmt"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

func (e *engine) spawn(parent *proc, op effect.SpawnOp, w *worker) (string, error) {
	prog, err := e.cfg.spawned(op)
	if err != nil {
		return "", err
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

// continueAsNew restarts t's program on a new input with an empty journal:
// the same version, or (latest) the program's current one.
func (t *proc) continueAsNew(input any, latest bool) error {
	if t.prog == nil {
		return fmt.Errorf("task %s: ContinueAsNew needs a named program (start it with StartProgram)", t.id)
	}
	in, err := task.Marshal(input)
	if err != nil {
		return fmt.Errorf("task %s: ContinueAsNew: input: %w", t.id, err)
	}
	prog := t.prog
	if latest {
		if prog, err = t.e.cfg.programFor(t.prog, 0); err != nil {
			return fmt.Errorf("task %s: ContinueAsNew on the current version of %s: %w", t.id, t.prog.ProgramName(), err)
		}
	}
	m, err := prog.Start(input)
	if err != nil {
		return fmt.Errorf("task %s: ContinueAsNew: %w", t.id, err)
	}
	for _, fl := range t.inflight {
		if fl.stop != nil {
			fl.stop()
		}
	}
	t.m.Stop()
	t.prog, t.m, t.in, t.inflight, t.ops, t.completed = prog, m, in, nil, nil, 0
	if t.rare != nil {
		t.rare.stmWaits = nil // of the old machine's ops
	}
	t.mu.Lock()
	t.journal, t.more, t.moreLen = nil, nil, 0
	t.runs++
	t.mu.Unlock()
	t.port.restarted(t, in, prog.ProgramVersion())
	t.m.Run()
	return nil
}

// childID names a spawned task after its parent and the Spawn's op
// number in the parent (opNumber): deterministic across replays, and
// unique across the parent's ContinueAsNew runs.
func childID(parent *proc) string { return parent.id + "." + parent.opNumber() }
