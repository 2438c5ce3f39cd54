package task

import "fmt"

// DivergenceError reports a replay in which the program issued an op other
// than the one its journal recorded at that point: the program is not the
// one that made the journal (its code changed), or it is not
// deterministic. Under the durable interpreter the task is parked with
// status Diverged, holding this error, and every other task runs on. It is
// registered in every Registry (as "task.DivergenceError"), so it keeps its
// fields in a store.
type DivergenceError struct {
	Task     string // task ID
	Seq      uint64 // sequence number of the journal entry that did not match
	Fiber    uint32 // fiber the entry belongs to
	Recorded string // the op the journal holds, rendered
	Issued   string // the op the program issued, rendered ("nothing" if none)
}

func (e *DivergenceError) Error() string {
	return fmt.Sprintf("task %s diverged from its journal at seq %d (fiber %d):\n  recorded: %s\n  issued:   %s",
		e.Task, e.Seq, e.Fiber, e.Recorded, e.Issued)
}
