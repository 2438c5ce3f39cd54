package interp

import (
	"context"
	"fmt"

	"github.com/amberrt/amber/task"
)

// Handle is a handle to a task, typed by its program's output: what
// Start, StartProgram and Attach return. A handle to a task of the durable
// interpreter reads the store, so it works for a task wherever it runs (in
// this process or another worker's); a handle to a task of an in-memory
// interpreter reads the task itself.
//
// Handle[any] is the untyped handle that Runtime.Task and Restore return.
type Handle[O any] struct{ t handle }

// handle is what a Handle needs of a task: a task in memory (*proc) or a
// task in a store (*storedTask).
type handle interface {
	taskID() string
	// programName is the name of the task's program ("" for an anonymous
	// one).
	programName() (string, error)
	// waitFor waits for the task to finish and returns its outcome.
	waitFor(ctx context.Context) (any, error)
	// outcome returns the task's outcome if it has finished; err without
	// finished is a failure to read the task.
	outcome() (v any, err error, finished bool)
	readStatus() (task.Status, error)
	readJournal() (task.Journal, error)
	snapshot() (*task.Record, error)
	requestCancel() error
}

// ID returns the task's ID.
func (h *Handle[O]) ID() string { return h.t.taskID() }

// Wait waits for the task to finish and returns its result. Under the
// Mock and the Sim it runs the simulation (advancing the virtual clock
// when every task is blocked) until the task finishes, and fails with
// ErrDeadlock if it never can.
func (h *Handle[O]) Wait(ctx context.Context) (O, error) {
	v, err := h.t.waitFor(ctx)
	return typed[O](h.t.taskID(), v, err)
}

// Result returns the task's result and error if it has finished; done is
// false while it runs. For a durable task they are read from the store:
// an error with done false means that the store could not be read.
func (h *Handle[O]) Result() (v O, err error, done bool) {
	r, err, done := h.t.outcome()
	if !done {
		return v, err, false
	}
	v, err = typed[O](h.t.taskID(), r, err)
	return v, err, true
}

// Status returns the task's status (for a durable task, as stored).
func (h *Handle[O]) Status() (task.Status, error) { return h.t.readStatus() }

// Journal returns a copy of the task's journal: the entries recorded so
// far (for a durable task, the stored journal). Live records journals only
// with WithJournal.
func (h *Handle[O]) Journal() (task.Journal, error) { return h.t.readJournal() }

// Record returns the task as a task.Record: its program and version,
// input, status, journal, mailbox and outcome; what the durable
// interpreter stores, and what Restore continues from. The task must run a
// named program (started with StartProgram or Spawn).
//
// Under Live, Record waits until no worker steps the task, and for a task
// queued to run, until a worker has stepped it: call it from outside the
// runtime's programs, not from a program's own code, which runs on a
// worker.
func (h *Handle[O]) Record() (*task.Record, error) { return h.t.snapshot() }

// Cancel asks for the task to be cancelled: its program stops where it
// waits and the task ends with status Cancelled and error
// effect.ErrCancelled. Cancelling a finished task does nothing.
func (h *Handle[O]) Cancel() error { return h.t.requestCancel() }

// typed converts a task's outcome to its program's output type.
func typed[O any](id string, v any, err error) (O, error) {
	var zero O
	if err != nil {
		return zero, err
	}
	if v == nil {
		return zero, nil
	}
	o, ok := v.(O)
	if !ok {
		return zero, fmt.Errorf("interp: task %s returned a %T, not a %T", id, v, zero)
	}
	return o, nil
}
