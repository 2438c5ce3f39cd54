// Package storetest checks that a store.Store keeps the contract written in
// the documentation of package store, in the spirit of testing/fstest.TestFS:
// every store runs the same suite.
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := mystore.Open(filepath.Join(t.TempDir(), "amber.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// # What the suite pins down
//
// Besides what the store documentation says, the suite checks these choices,
// which the durable interpreter relies on:
//
//   - Create stores a record's journal and mailbox as given (its messages get
//     sequence numbers 1, 2, ...); Load returns the mailbox as messages.
//   - Claim and ClaimID clear the task's readiness; a message, a Wake or a
//     Cancel that arrives while the task is leased makes it ready again, so
//     that it is claimed once more after the step that missed it commits.
//   - A step that commits status Running and releases its lease leaves the
//     task ready; a final status makes it never ready again (Wake and Send
//     do not revive it). A parked or waiting task is claimed when woken or
//     when its RunAt is due.
//   - A step whose entries do not continue the journal (Seq = length+1, ...)
//     is refused, with an error of its own, and nothing of it is applied.
//   - A message sent by a step to a finished task is kept in its mailbox
//     (the task is not made ready); one to an unknown task is dropped.
//   - Cancel of an unknown task fails with store.ErrNotFound; of a finished
//     one does nothing.
//   - Claim orders the tasks made ready by Create, Send, Wake or Cancel in
//     the order they were made ready, and due timers by RunAt.
//   - A step is refused alone, whatever the reason (lease lost, entries that
//     do not continue the journal, a spawn of an existing task, a name
//     taken, stale world vars, a message nested too deep, a malformed step):
//     the other steps of the same Commit commit.
//   - World writes make version Prev+1 and are refused (ErrStale, with the
//     fresh rows) if the var is not at Prev; reads alone are checked the
//     same way and move no clock; within one Commit a step sees the steps
//     before it; WorldSince(c) holds exactly the vars written after c.
//   - A task waiting on world vars (Step.WaitWorld) is made ready by the
//     next commit that writes one of them, or at once if one is no longer
//     at the version named (the steps before it in its Commit included);
//     a task that took a step since, or finished, is not woken.
//   - Landed tells Landed, NotLanded or Superseded from the step's Token.
//   - A restart counts a run; Load returns Runs and RunAt; Updated is the
//     clock of the last claim; List pages by keyset in both orders and
//     filters as Filter.Match says; Counts counts by status.
//   - A message nested deeper than a receiver can decode is refused when
//     it is sent (task.ErrUnstorable); the deepest allowed comes back.
//
// With Reopen, the suite also checks what survives a restart: world
// versions and the clock, Landed, run counts.
//
// Time is passed to the store (Claim's now), so the suite never sleeps.
package storetest

import (
	"context"
	"fmt"
	"time"

	"github.com/amberrt/amber/task"
)

// T0 is the clock reading at which the suite starts its tasks.
var T0 = time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)

// Program is the program name of the records made by NewRecord.
const Program = "storetest.Program"

// OpKind is the op kind of the entries made by NewEntry.
const OpKind = "storetest.Op"

// NewRecord returns a valid new record with the given ID: a running task of
// Program version 1 with a small input, created at T0.
func NewRecord(id string) *task.Record {
	in, err := task.Marshal(map[string]string{"id": id})
	if err != nil {
		panic(err)
	}
	return &task.Record{
		ID:      id,
		Program: Program,
		Version: 1,
		Input:   in,
		Status:  task.Running,
		Created: T0,
		Updated: T0,
	}
}

// NewEntry returns a valid journal entry with the given sequence number, of
// about the size of a real one (a hundred bytes encoded).
func NewEntry(seq uint64) task.Entry {
	op, err := task.Marshal(map[string]any{"n": seq, "key": fmt.Sprintf("storetest-key-%08d", seq)})
	if err != nil {
		panic(err)
	}
	res, err := task.Marshal(map[string]any{"ok": true, "n": seq * 7})
	if err != nil {
		panic(err)
	}
	return task.Entry{
		Seq:         seq,
		Kind:        OpKind,
		Fingerprint: task.Fingerprint(OpKind, op),
		Op:          op,
		Result:      res,
		Time:        T0.Add(time.Duration(seq) * time.Millisecond),
	}
}

// NewEntries returns NewEntry(from), NewEntry(from+1), ... n entries.
func NewEntries(from uint64, n int) []task.Entry {
	es := make([]task.Entry, n)
	for i := range es {
		es[i] = NewEntry(from + uint64(i))
	}
	return es
}

// NewEnvelope returns a message carrying s.
func NewEnvelope(s string) task.Envelope {
	data, err := task.Marshal(s)
	if err != nil {
		panic(err)
	}
	return task.Envelope{Type: "string", Data: data}
}

var bg = context.Background()
