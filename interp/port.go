package interp

import (
	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
)

// A port is what one interpreter does where interpreters differ. The
// engine runs every task the same way (the machine, the journal, replay,
// timers, retries, mailboxes) and asks the task's port for everything that
// reaches outside the task: delivering a message or an exit signal,
// spawning, the process ops, STM transactions, starting an activity,
// taking a message, continuing as new. A port is attached to each task
// (t.port): the in-memory interpreters share one, the simulator is its own,
// and the durable interpreter gives each task a port that collects the
// task's step for its store commit.
type port interface {
	// send delivers msg, sent by t, to task to.
	send(t *proc, to string, msg any, w *worker) error
	// signal delivers an exit signal from t (a Kill, or t's end) to task
	// to.
	signal(t *proc, to string, sig *procSignal, w *worker) error
	// spawn starts the child task of t's Spawn op and returns its ID.
	spawn(t *proc, op effect.SpawnOp, w *worker) (string, error)
	// process performs a process op (Link, Monitor, TakeName, Kill, ...)
	// of t and returns its result.
	process(t *proc, p effect.Pending, w *worker) (any, error)
	// transact makes one attempt at a state op. recorded reports that the
	// port has already appended the op's journal entry (the durable port
	// stores it with the transaction's world writes).
	transact(t *proc, p effect.Pending, op effect.Transactor) (r any, wait *stm.Wait, recorded bool, err error)
	// startActivity starts an attempt of an activity or handled op: at
	// once, or (durable) once the step that decided it is committed.
	startActivity(t *proc, start func())
	// took tells the port that t took the message at index i of its
	// mailbox.
	took(t *proc, i int)
	// restarted tells the port that t continued as new on input in, at
	// version of its program.
	restarted(t *proc, in []byte, version int)
}

// memPort is the port of the interpreters that keep everything in memory
// (Mock, Live): messages and signals go straight into the target's inbox,
// children are tasks of the same engine, links and names live in the
// engine (process.go).
type memPort struct{ e *engine }

var _ port = memPort{}

func (m memPort) send(t *proc, to string, msg any, w *worker) error {
	return m.e.sendFrom(t, to, msg, w)
}

func (m memPort) signal(_ *proc, to string, sig *procSignal, w *worker) error {
	return m.e.send(to, sig, w)
}

func (m memPort) spawn(t *proc, op effect.SpawnOp, w *worker) (string, error) {
	return m.e.spawn(t, op, w)
}

func (m memPort) process(t *proc, p effect.Pending, w *worker) (any, error) {
	return t.performProcess(p, w)
}

func (memPort) transact(_ *proc, _ effect.Pending, op effect.Transactor) (any, *stm.Wait, bool, error) {
	r, wait, err := op.Transact()
	return r, wait, false, err
}

func (memPort) startActivity(_ *proc, start func()) { start() }

func (memPort) took(*proc, int) {}

func (memPort) restarted(*proc, []byte, int) {}
