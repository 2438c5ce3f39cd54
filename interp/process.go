package interp

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/amberrt/amber/effect"
)

// Processes: links, monitors, names and exit signals (the ops of
// effect/process.go) for the Mock, Live and Sim interpreters.
//
// The state lives in the engine, not in a task's journal: a task's
// procState, guarded by engine.procMu, and the engine's table of names.
// A task that ends sends exit signals (procSignal) into the inboxes of
// the tasks linked to it and monitoring it, in the order the links and
// monitors were set up, so that the Mock and the Sim stay deterministic.
// The receiving task processes a signal when it next takes its inbox
// (Task.intake), on its own worker: it decides then, by its own flag,
// whether the signal kills it or becomes an Exit message, and whether the
// link or monitor still exists (an Unlink or Demonitor in between voids
// the signal, as in Erlang). Killing is thus never done to a task from
// another task's worker.

// procState is a task's process state.
type procState struct {
	links    map[string]uint64                  // linked task -> link number
	monitors map[effect.MonitorRef]monitorEntry // monitors of this task
	watching map[effect.MonitorRef]string       // monitors held by this task -> target
	name     string                             // registered name
	trap     bool                               // traps exits
}

type monitorEntry struct {
	watcher string
	seq     uint64
}

const (
	sigLink uint8 = iota // a linked task ended
	sigDown              // a monitored task ended
	sigKill              // Kill
)

// procSignal is an exit signal in a task's inbox.
type procSignal struct {
	kind   uint8
	from   string
	reason string
	seq    uint64            // sigLink: the link's number
	ref    effect.MonitorRef // sigDown
}

// ExitError is the error of a task ended by an exit signal (see
// effect.ExitError). A durable task's is stored with its fields, so that
// errors.As finds it after a restart too.
type ExitError = effect.ExitError

// exitReason is the reason a task that ended with err gives its links
// and monitors.
func exitReason(err error) string {
	if err == nil {
		return effect.ExitNormal
	}
	if ee, ok := errors.AsType[*ExitError](err); ok {
		return ee.Reason
	}
	return err.Error()
}

// procState returns t's process state, creating it. e.procMu held.
func (t *proc) procState() *procState {
	if t.ps == nil {
		t.ps = &procState{}
	}
	return t.ps
}

// markProc notes that t has process state for finish to release; it
// reports false if t has finished. e.procMu held.
func (t *proc) markProc() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished {
		return false
	}
	t.proc = true
	return true
}

// performProcess performs a process op of t and returns its result.
func (t *proc) performProcess(p effect.Pending, w *worker) (any, error) {
	e := t.e
	switch op := p.Op.(type) {
	case effect.LinkOp:
		return nil, e.link(t, op.ID)
	case effect.UnlinkOp:
		e.unlink(t, op.ID)
		return nil, nil
	case effect.TrapExitsOp:
		e.procMu.Lock()
		t.procState().trap = op.On
		e.procMu.Unlock()
		return nil, nil
	case effect.MonitorOp:
		ref := t.monitorRef()
		e.monitor(t, op.ID, ref)
		return ref, nil
	case effect.DemonitorOp:
		e.demonitor(t, op.Ref)
		return nil, nil
	case effect.TakeNameOp:
		return nil, e.register(t, op.Name)
	case effect.WhereIsOp:
		return e.whereIs(op.Name), nil
	case effect.KillOp:
		return nil, e.kill(t, op.ID, op.Reason, w)
	}
	return nil, &UnhandledOpError{Task: t.id, Op: p.Op}
}

// monitorRef names the monitor set up by t's next op: the task and the
// op's number (opNumber), deterministic across replays.
func (t *proc) monitorRef() effect.MonitorRef { return effect.MonitorRef(t.id + "#" + t.opNumber()) }

func (e *engine) link(t *proc, id string) error {
	if id == t.id {
		return nil
	}
	e.procMu.Lock()
	defer e.procMu.Unlock()
	peer := e.lookup(id)
	if peer == nil || !peer.markProc() {
		if t.ps != nil && t.ps.trap {
			t.mailbox = append(t.mailbox, effect.Exit{From: id, Reason: effect.ExitNoProc})
			return nil
		}
		return &NoTaskError{ID: id, Finished: peer != nil}
	}
	t.markProc()
	ps := t.procState()
	if _, ok := ps.links[id]; ok {
		return nil
	}
	e.procSeq++
	if ps.links == nil {
		ps.links = map[string]uint64{}
	}
	ps.links[id] = e.procSeq
	pps := peer.procState()
	if pps.links == nil {
		pps.links = map[string]uint64{}
	}
	pps.links[t.id] = e.procSeq
	return nil
}

func (e *engine) unlink(t *proc, id string) {
	e.procMu.Lock()
	defer e.procMu.Unlock()
	if t.ps == nil {
		return
	}
	seq, ok := t.ps.links[id]
	if !ok {
		return
	}
	delete(t.ps.links, id)
	if peer := e.lookup(id); peer != nil && peer.ps != nil && peer.ps.links[t.id] == seq {
		delete(peer.ps.links, t.id)
	}
}

func (e *engine) monitor(t *proc, id string, ref effect.MonitorRef) {
	e.procMu.Lock()
	defer e.procMu.Unlock()
	peer := e.lookup(id)
	if peer == nil || !peer.markProc() {
		t.mailbox = append(t.mailbox, effect.Down{Ref: ref, ID: id, Reason: effect.ExitNoProc})
		return
	}
	t.markProc()
	e.procSeq++
	ps := t.procState()
	if ps.watching == nil {
		ps.watching = map[effect.MonitorRef]string{}
	}
	ps.watching[ref] = id
	pps := peer.procState()
	if pps.monitors == nil {
		pps.monitors = map[effect.MonitorRef]monitorEntry{}
	}
	pps.monitors[ref] = monitorEntry{watcher: t.id, seq: e.procSeq}
}

func (e *engine) demonitor(t *proc, ref effect.MonitorRef) {
	e.procMu.Lock()
	if t.ps != nil {
		if id, ok := t.ps.watching[ref]; ok {
			delete(t.ps.watching, ref)
			if peer := e.lookup(id); peer != nil && peer.ps != nil {
				delete(peer.ps.monitors, ref)
			}
		}
	}
	e.procMu.Unlock()
	// A Down still in the inbox is voided by its missing entry; one
	// already in the mailbox is removed (demonitor with flush).
	t.mailbox = slices.DeleteFunc(t.mailbox, func(msg any) bool {
		d, ok := msg.(effect.Down)
		return ok && d.Ref == ref
	})
}

// checkName checks t's TakeName of name: current is the name t holds,
// holder the task that holds name ("" for none).
func checkName(t *proc, name, current, holder string) error {
	switch {
	case name == "":
		return fmt.Errorf("task %s: TakeName: empty name", t.id)
	case current != "":
		return fmt.Errorf("task %s: %w: the task is already registered as %q", t.id, effect.ErrNameTaken, current)
	case holder != "" && holder != t.id:
		return fmt.Errorf("task %s: %w: %q is held by task %s", t.id, effect.ErrNameTaken, name, holder)
	}
	return nil
}

func (e *engine) register(t *proc, name string) error {
	e.procMu.Lock()
	defer e.procMu.Unlock()
	var current, holder string
	if t.ps != nil {
		current = t.ps.name
	}
	if h := e.names[name]; h != nil && h.running() {
		holder = h.id
	}
	if err := checkName(t, name, current, holder); err != nil {
		return err
	}
	t.markProc()
	t.procState().name = name
	if e.names == nil {
		e.names = map[string]*proc{}
	}
	e.names[name] = t
	return nil
}

func (e *engine) whereIs(name string) effect.Maybe[string] {
	e.procMu.Lock()
	defer e.procMu.Unlock()
	if holder := e.names[name]; holder != nil && holder.running() {
		return effect.Some(holder.id)
	}
	return effect.Maybe[string]{}
}

func (t *proc) running() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.finished
}

// checkKill checks the arguments of t's Kill of task id.
func checkKill(t *proc, id, reason string) error {
	if id == t.id {
		return fmt.Errorf("task %s: Kill cannot end the calling task (return effect.Fail instead)", t.id)
	}
	if reason == "" || reason == effect.ExitNormal {
		return fmt.Errorf("task %s: Kill of task %s: the reason must be abnormal, not %q", t.id, id, reason)
	}
	return nil
}

func (e *engine) kill(t *proc, id, reason string, w *worker) error {
	if err := checkKill(t, id, reason); err != nil {
		return err
	}
	err := t.port.signal(t, id, &procSignal{kind: sigKill, from: t.id, reason: reason}, w)
	if nt, ok := errors.AsType[*NoTaskError](err); ok && nt.Finished {
		return nil // it has ended already
	}
	return err
}

// exitProcess releases the process state of t, which has just ended with
// reason: its name is freed, the tasks linked to it and monitoring it are
// sent exit signals, and the monitors it held are removed.
func (e *engine) exitProcess(t *proc, reason string) {
	type out struct {
		to  string
		seq uint64
		sig *procSignal
	}
	var outs []out
	e.procMu.Lock()
	ps := t.ps
	t.ps = nil
	if ps == nil {
		e.procMu.Unlock()
		return
	}
	if ps.name != "" && e.names[ps.name] == t {
		delete(e.names, ps.name)
	}
	for peer, seq := range ps.links {
		// The peer's side of the link stays until it takes the signal.
		outs = append(outs, out{peer, seq, &procSignal{kind: sigLink, from: t.id, reason: reason, seq: seq}})
	}
	for ref, m := range ps.monitors {
		outs = append(outs, out{m.watcher, m.seq, &procSignal{kind: sigDown, from: t.id, reason: reason, ref: ref}})
	}
	for ref, id := range ps.watching {
		if peer := e.lookup(id); peer != nil && peer.ps != nil {
			delete(peer.ps.monitors, ref)
		}
	}
	e.procMu.Unlock()
	slices.SortFunc(outs, func(a, b out) int { return cmp.Compare(a.seq, b.seq) })
	for _, o := range outs {
		_ = t.port.signal(t, o.to, o.sig, nil) // a task that has ended needs no signal
	}
}

// intake moves the messages taken from t's inbox to its mailbox,
// processing the exit signals among them; it reports whether one ended t.
// t.stepMu held.
func (t *proc) intake(msgs []any, sigs bool) bool {
	if !sigs {
		t.mailbox = append(t.mailbox, msgs...)
		return false
	}
	for _, msg := range msgs {
		sig, ok := msg.(*procSignal)
		if !ok {
			t.mailbox = append(t.mailbox, msg)
			continue
		}
		if err := t.e.receiveSignal(t, sig); err != nil {
			t.endBySignal(err)
			return true
		}
	}
	return false
}

// endBySignal ends t, which an exit signal killed, with err. t.stepMu held.
func (t *proc) endBySignal(err error) {
	t.keepUnreplayed()
	t.m.Stop()
	t.finish(err)
}

// receiveSignal processes an exit signal for t: it returns the error that
// ends t, or nil if the signal was voided, ignored, or became a message.
func (e *engine) receiveSignal(t *proc, sig *procSignal) error {
	e.procMu.Lock()
	defer e.procMu.Unlock()
	ps := t.ps
	switch sig.kind {
	case sigDown:
		if ps == nil {
			return nil
		}
		if _, ok := ps.watching[sig.ref]; !ok {
			return nil // demonitored
		}
		delete(ps.watching, sig.ref)
		t.mailbox = append(t.mailbox, effect.Down{Ref: sig.ref, ID: sig.from, Reason: sig.reason})
		return nil
	case sigLink:
		if ps == nil || ps.links[sig.from] != sig.seq {
			return nil // unlinked
		}
		delete(ps.links, sig.from)
	}
	msg, end := exitOutcome(t.id, sig.kind == sigKill, sig.from, sig.reason, ps != nil && ps.trap)
	if msg != nil {
		t.mailbox = append(t.mailbox, msg)
	}
	return end
}

// exitOutcome is what a live link signal or a kill from task from, with
// reason, does to task id, which traps exits or not: the Exit message it
// becomes, or the error that ends the task, or neither (a normal exit,
// not trapped). Every interpreter decides it here.
func exitOutcome(id string, kill bool, from, reason string, trap bool) (msg any, end error) {
	switch {
	case kill && reason == effect.ExitKill:
		return nil, &ExitError{Task: id, From: from, Reason: effect.ExitKilled}
	case trap:
		return effect.Exit{From: from, Reason: reason}, nil
	case reason == effect.ExitNormal:
		return nil, nil
	}
	return nil, &ExitError{Task: id, From: from, Reason: reason}
}
