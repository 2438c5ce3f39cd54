package interp

import (
	"errors"
	"fmt"

	"github.com/amberrt/amber/task"
)

// DivergenceError reports a replay in which the program issued an op
// other than the one its journal recorded (see task.DivergenceError).
type DivergenceError = task.DivergenceError

// UnhandledOpError reports an op that no handler performs and that is not
// an activity.
type UnhandledOpError struct {
	Task string
	Op   any
}

func (e *UnhandledOpError) Error() string {
	return fmt.Sprintf("task %s: no handler for op %T (register one with interp.WithHandlers(effect.Handle(...)), or give the op a Run method)", e.Task, e.Op)
}

// NoTaskError reports a message sent to a task that does not exist or has
// finished. amber never drops a message silently: the Send fails instead.
type NoTaskError struct {
	ID       string
	Finished bool
}

func (e *NoTaskError) Error() string {
	if e.Finished {
		return fmt.Sprintf("task %s has finished and accepts no messages", e.ID)
	}
	return fmt.Sprintf("no task %s", e.ID)
}

// Errors of the interpreters.
var (
	// ErrDeadlock is returned by the mock when a task being waited for is
	// blocked and nothing (no runnable task, no timer) can unblock it.
	ErrDeadlock = errors.New("interp: deadlock: every task is blocked and no timer is pending")
	// ErrClosed is returned by a closed interpreter.
	ErrClosed = errors.New("interp: interpreter closed")
	// ErrJournalEnded is the state of a replay whose program wants to go
	// on after its journal ends.
	ErrJournalEnded = errors.New("interp: journal ended before the program did")
)
