package interp

import (
	"fmt"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// durableTask is the port of a durable task: it collects what the task's
// step does outside the task (messages, spawns, world writes, process ops,
// activities to start) for the store commit that ends the step, and holds
// the task's lease.
type durableTask struct {
	d            *Durable
	lease        store.Lease
	steps        uint64 // committed steps of the task as this worker knows it
	committed    int    // journal entries already in the store
	seqs         []uint64
	lastSeq      uint64
	consumed     []uint64
	sends        []store.Outgoing
	spawns       []*task.Record
	world        []store.WorldWrite
	deferred     []func()
	restartInput []byte // ContinueAsNew in this step: the new input
	// restartVersion is the version the ContinueAsNew continues on.
	restartVersion int
	proc           []store.ProcOp
	trap           bool   // the task traps exits
	name           string // the name the task registered

	leaseUntil time.Time    // when the current lease expires
	held       bool         // the last step kept the lease: activities are running here
	local      bool         // this step runs on a held lease, for a local event
	born       bool         // created leased here (CreateClaimed), not stepped yet
	active     bool         // claimed and being stepped or committed
	again      bool         // woken while active
	nextLease  *store.Lease // a claim that arrived while active
}

var _ port = (*durableTask)(nil)

// dur returns the port of t, a task of the durable interpreter.
func dur(t *proc) *durableTask { return t.port.(*durableTask) }

// restarted records a ContinueAsNew: the step commits the new input and
// starts the journal over; effects of the old run made in this step
// (sends, spawns) still commit with it.
func (dt *durableTask) restarted(_ *proc, in []byte, version int) {
	dt.restartInput, dt.restartVersion = in, version
	dt.committed = 0
}

func (dt *durableTask) reset() {
	dt.consumed, dt.sends, dt.spawns, dt.world, dt.deferred, dt.restartInput, dt.proc = nil, nil, nil, nil, nil, nil, nil
}

// endStep ends the step: it resets the step's state and starts the attempts
// it deferred (startActivity), now that the step needs no commit or has
// one.
func (dt *durableTask) endStep() {
	deferred := dt.deferred
	dt.reset()
	for _, f := range deferred {
		f()
	}
}

// took consumes the message at index i of the task's mailbox: the step's
// commit deletes it from the store.
func (dt *durableTask) took(_ *proc, i int) {
	dt.consumed = append(dt.consumed, dt.seqs[i])
	dt.seqs = append(dt.seqs[:i], dt.seqs[i+1:]...)
}

// send stores the message with the step: the commit delivers it.
func (dt *durableTask) send(t *proc, to string, msg any, _ *worker) error {
	env, err := dt.d.e.cfg.registry.EncodeMessage(msg)
	if err != nil {
		return fmt.Errorf("task %s: send to %s: %w", t.id, to, err)
	}
	if err := dt.peer(to); err != nil {
		return err
	}
	dt.sends = append(dt.sends, store.Outgoing{To: to, Env: env})
	return nil
}

// signal is never called for a durable task: its exit signals are stored
// messages, delivered by the commit that ends it (store.Step.Exit).
func (dt *durableTask) signal(t *proc, to string, _ *procSignal, _ *worker) error {
	return fmt.Errorf("interp: task %s: an exit signal to %s outside the store", t.id, to)
}

// startActivity starts the attempt once the step is committed: the
// outside world must not see the consequence of journal entries that are
// not durable.
func (dt *durableTask) startActivity(_ *proc, start func()) {
	dt.deferred = append(dt.deferred, start)
}

// spawn stores the child with the step: the commit creates it.
func (dt *durableTask) spawn(t *proc, op effect.SpawnOp, _ *worker) (string, error) {
	version, _, err := dt.d.startVersion(op.Program, op.Version)
	if err != nil {
		return "", fmt.Errorf("task %s: spawn: %w", t.id, err)
	}
	in, err := task.Marshal(op.Input)
	if err != nil {
		return "", err
	}
	id := childID(t)
	now := dt.d.e.clock.Now()
	dt.spawns = append(dt.spawns, &task.Record{ID: id, Program: op.Program, Version: version, Input: in,
		Status: task.Running, Parent: t.id, Created: now, Updated: now})
	return id, nil
}
