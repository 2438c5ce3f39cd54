package interp

import (
	"errors"
	"slices"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// Processes under the durable interpreter. The links, monitors and names
// live in the store, not in memory: a step's process ops (store.ProcOp)
// commit with its journal, and the step that ends a task delivers its exit
// signals (task.Signal) into the mailboxes of the tasks linked to it and
// monitoring it, in the same transaction. So supervision survives a crash
// of the whole process: a signal is a stored message like any other.
//
// The results of the ops are decided before the commit, from what the
// store holds then; what changes in between is settled by the commit as
// Erlang would settle it. A Link or Monitor whose peer ends meanwhile
// gets a noproc signal, as if the peer ended just after; a TakeName whose
// name another task took meanwhile refuses the step, which then runs
// again, from the journal, and sees the name taken.
//
// A task takes the signals in its mailbox when its step starts
// (addMessages): a Down becomes a message; a link signal becomes an Exit
// message if the task traps exits, is ignored if its reason is normal, and
// ends the task otherwise; a Kill ends it (or, trapped, becomes an Exit
// unless its reason is ExitKill). A signal that an Unlink or Demonitor
// voids is deleted from the mailbox by that op's commit, so every signal a
// task takes is live.

// process performs a process op of a durable task t: the step's commit
// applies it in the store.
func (dt *durableTask) process(t *proc, p effect.Pending, _ *worker) (any, error) {
	switch op := p.Op.(type) {
	case effect.LinkOp:
		if op.ID == t.id {
			return nil, nil
		}
		if err := dt.peer(op.ID); err != nil {
			if _, ok := errors.AsType[*NoTaskError](err); !ok || !dt.trap {
				return nil, err
			}
			// Trapped: the commit sends the task a noproc Exit.
		}
		dt.proc = append(dt.proc, store.ProcOp{Kind: store.ProcLink, Peer: op.ID})
		return nil, nil
	case effect.UnlinkOp:
		dt.proc = append(dt.proc, store.ProcOp{Kind: store.ProcUnlink, Peer: op.ID})
		return nil, nil
	case effect.TrapExitsOp:
		dt.trap = op.On
		dt.proc = append(dt.proc, store.ProcOp{Kind: store.ProcTrap, On: op.On})
		return nil, nil
	case effect.MonitorOp:
		// Whether or not the target lives, the commit settles it: a dead
		// one gets a noproc Down.
		ref := t.monitorRef()
		dt.proc = append(dt.proc, store.ProcOp{Kind: store.ProcMonitor, Peer: op.ID, Ref: string(ref)})
		return ref, nil
	case effect.DemonitorOp:
		dt.proc = append(dt.proc, store.ProcOp{Kind: store.ProcDemonitor, Ref: string(op.Ref)})
		if i := slices.IndexFunc(t.mailbox, func(m any) bool { d, ok := m.(effect.Down); return ok && d.Ref == op.Ref }); i >= 0 {
			t.mailbox = append(t.mailbox[:i], t.mailbox[i+1:]...)
			dt.took(t, i) // demonitor with flush
		}
		return nil, nil
	case effect.TakeNameOp:
		return nil, dt.register(t, op.Name)
	case effect.WhereIsOp:
		if dt.name == op.Name {
			return effect.Some(t.id), nil
		}
		id, err := dt.d.st.WhereIs(dt.d.e.ctx, op.Name)
		if err != nil || id == "" {
			return effect.Maybe[string]{}, err
		}
		return effect.Some(id), nil
	case effect.KillOp:
		if err := checkKill(t, op.ID, op.Reason); err != nil {
			return nil, err
		}
		if err := dt.peer(op.ID); err != nil {
			if nt, ok := errors.AsType[*NoTaskError](err); ok && nt.Finished {
				err = nil // it has ended already
			}
			return nil, err
		}
		dt.proc = append(dt.proc, store.ProcOp{Kind: store.ProcKill, Peer: op.ID, Reason: op.Reason})
		return nil, nil
	}
	return nil, &UnhandledOpError{Task: t.id, Op: p.Op}
}

// peer checks that task id exists and has not finished: it is spawned by
// this step, or the store says so.
func (dt *durableTask) peer(id string) error {
	for _, r := range dt.spawns {
		if r.ID == id {
			return nil
		}
	}
	status, err := dt.d.st.Status(dt.d.e.ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &NoTaskError{ID: id}
	case err != nil:
		return err
	case status.Final():
		return &NoTaskError{ID: id, Finished: true}
	}
	return nil
}

func (dt *durableTask) register(t *proc, name string) error {
	if err := checkName(t, name, dt.name, ""); err != nil {
		return err // checked before asking the store
	}
	holder, err := dt.d.st.WhereIs(dt.d.e.ctx, name)
	if err == nil {
		err = checkName(t, name, "", holder)
	}
	if err != nil {
		return err
	}
	dt.name = name
	dt.proc = append(dt.proc, store.ProcOp{Kind: store.ProcRegister, Name: name})
	return nil
}

// takeSignal turns an exit signal taken from t's mailbox into what t sees:
// a message to put in its mailbox, or the error that ends it, or neither.
func (dt *durableTask) takeSignal(t *proc, sig task.Signal) (msg any, end error) {
	if sig.Kind == task.SignalDown {
		return effect.Down{Ref: effect.MonitorRef(sig.Ref), ID: sig.From, Reason: sig.Reason}, nil
	}
	return exitOutcome(t.id, sig.Kind == task.SignalKill, sig.From, sig.Reason, dt.trap)
}
