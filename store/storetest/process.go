package storetest

import (
	"errors"
	"slices"
	"strings"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// Process state: links, monitors, exit flags, names and the exit signals a
// commit delivers (store.ProcOp, store.Step.Exit).

// procStep commits one step of task id with the given process ops, status
// and exit reason (for a final status); it returns the step's error.
func (h *harness) procStep(id string, st task.Status, exit string, ops ...store.ProcOp) error {
	h.t.Helper()
	l := h.claimOneID("w", id, T0)
	s := step("w", l, st)
	s.Proc, s.Exit = ops, exit
	errs, err := h.s.Commit(bg, []store.Step{s})
	if err != nil {
		h.t.Fatalf("Commit: %v", err)
	}
	return errs[0]
}

// proc commits a step of task id that must be accepted.
func (h *harness) proc(id string, st task.Status, exit string, ops ...store.ProcOp) {
	h.t.Helper()
	if err := h.procStep(id, st, exit, ops...); err != nil {
		h.t.Fatalf("Commit of %s with %v: %v", id, ops, err)
	}
}

// idle claims every ready task and commits it as waiting, so that a later
// Claim shows only what became ready since.
func (h *harness) idle() {
	h.t.Helper()
	for _, l := range h.claim("w", 100, T0) {
		h.commit(step("w", l, task.Waiting))
	}
}

// signals renders task id's mailbox: signals as kind:from:reason[:ref],
// other messages by their type.
func (h *harness) signals(id string) []string {
	h.t.Helper()
	ms, err := h.s.Messages(bg, id, 0)
	if err != nil {
		h.t.Fatalf("Messages(%s): %v", id, err)
	}
	var out []string
	for _, m := range ms {
		if m.Env.Type != task.SignalType {
			out = append(out, "msg")
			continue
		}
		s, err := task.DecodeSignal(m.Env.Data)
		if err != nil {
			h.t.Errorf("task %s: message %d: %v", id, m.Seq, err)
			continue
		}
		kind := map[task.SignalKind]string{task.SignalLink: "link", task.SignalDown: "down", task.SignalKill: "kill"}[s.Kind]
		r := kind + ":" + s.From + ":" + s.Reason
		if s.Ref != "" {
			r += ":" + s.Ref
		}
		out = append(out, r)
	}
	return out
}

func (h *harness) wantSignals(id string, want ...string) {
	h.t.Helper()
	if got := h.signals(id); !slices.Equal(got, want) {
		h.t.Errorf("mailbox of %s = [%s], want [%s]", id, strings.Join(got, " "), strings.Join(want, " "))
	}
}

// wantReady checks which tasks a Claim takes now, and leaves them idle.
func (h *harness) wantReady(want ...string) {
	h.t.Helper()
	ls := h.claim("w", 100, T0)
	got := slices.Sorted(slices.Values(leaseIDs(ls)))
	if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		h.t.Errorf("ready tasks = %v, want %v", got, want)
	}
	for _, l := range ls {
		h.commit(step("w", l, task.Waiting))
	}
}

func link(peer string) store.ProcOp   { return store.ProcOp{Kind: store.ProcLink, Peer: peer} }
func unlink(peer string) store.ProcOp { return store.ProcOp{Kind: store.ProcUnlink, Peer: peer} }
func kill(peer, r string) store.ProcOp {
	return store.ProcOp{Kind: store.ProcKill, Peer: peer, Reason: r}
}
func monitor(peer, ref string) store.ProcOp {
	return store.ProcOp{Kind: store.ProcMonitor, Peer: peer, Ref: ref}
}
func demonitor(ref string) store.ProcOp { return store.ProcOp{Kind: store.ProcDemonitor, Ref: ref} }

func testProcLink(h *harness) {
	h.createIDs("a", "b", "c", "d")
	h.idle()
	h.proc("a", task.Waiting, "", link("b"), link("b"), link("a")) // twice, and to itself: one link
	h.proc("c", task.Waiting, "", link("d"))
	h.wantReady()

	// b ends abnormally: a gets the signal, once, and is made ready.
	h.proc("b", task.Failed, "boom")
	h.wantSignals("a", "link:b:boom")
	h.wantReady("a")
	// The link is gone: a's end signals nobody.
	h.proc("a", task.Failed, "later")
	h.wantSignals("b")

	// A normal exit is signalled too (the receiver decides what it means),
	// after what the ending step sent.
	l := h.claimOneID("w", "d", T0)
	s := step("w", l, task.Done)
	s.Exit = "normal"
	s.Sends = []store.Outgoing{{To: "c", Env: NewEnvelope("last words")}}
	h.commit(s)
	h.wantSignals("c", "msg", "link:d:normal")
}

func testProcLinkGone(h *harness) {
	h.createIDs("a", "done")
	h.idle()
	h.proc("done", task.Done, "normal")
	h.proc("a", task.Waiting, "", link("done"), link("ghost"))
	h.wantSignals("a", "link:done:noproc", "link:ghost:noproc")
	h.wantReady("a")
}

func testProcUnlink(h *harness) {
	h.createIDs("a", "b", "c", "d")
	h.idle()
	// Unlinked before the end: no signal.
	h.proc("a", task.Waiting, "", link("b"))
	h.proc("b", task.Waiting, "", unlink("a"))
	h.proc("b", task.Failed, "boom")
	h.wantSignals("a")
	// Unlinked after the signal came: it is voided, other messages stay.
	h.proc("c", task.Waiting, "", link("d"))
	l := h.claimOneID("w", "d", T0)
	s := step("w", l, task.Failed)
	s.Exit = "crash"
	s.Sends = []store.Outgoing{{To: "c", Env: NewEnvelope("hello")}}
	h.commit(s)
	h.wantSignals("c", "msg", "link:d:crash")
	h.proc("c", task.Waiting, "", unlink("d"))
	h.wantSignals("c", "msg")
}

func testProcMonitor(h *harness) {
	h.createIDs("w1", "t1", "t2", "t3", "t4", "done")
	h.idle()
	h.proc("done", task.Done, "normal")
	h.proc("w1", task.Waiting, "", monitor("t1", "r1"), monitor("t2", "r2"), monitor("t3", "r3"),
		monitor("done", "r4"), monitor("ghost", "r5"))
	h.wantSignals("w1", "down:done:noproc:r4", "down:ghost:noproc:r5")
	h.proc("t1", task.Failed, "boom")
	h.wantSignals("w1", "down:done:noproc:r4", "down:ghost:noproc:r5", "down:t1:boom:r1")
	// Demonitor before the end: nothing comes; after: the Down is flushed.
	h.proc("w1", task.Waiting, "", demonitor("r2"), demonitor("r1"), demonitor("r5"))
	h.proc("t2", task.Done, "normal")
	h.wantSignals("w1", "down:done:noproc:r4")
	// One way: the watcher's end tells the target nothing, and the
	// monitors it held go with it.
	h.proc("w1", task.Failed, "gone")
	h.wantSignals("t3")
	h.idle()
	h.proc("t3", task.Failed, "boom")
	h.wantReady()
	// A monitor of a task that has ended: a Down with noproc at once.
	h.proc("t4", task.Waiting, "", monitor("t3", "x")) // t3 has ended
	h.wantSignals("t4", "down:t3:noproc:x")
}

func testProcTrap(h *harness) {
	h.createIDs("a")
	h.idle()
	if r, _ := h.load("a"); r.Trap {
		h.t.Errorf("a new task traps exits")
	}
	h.proc("a", task.Waiting, "", store.ProcOp{Kind: store.ProcTrap, On: true})
	if r, _ := h.load("a"); !r.Trap {
		h.t.Errorf("Load after TrapExits(true): Trap = false")
	}
	h.proc("a", task.Waiting, "", store.ProcOp{Kind: store.ProcTrap, On: false})
	if r, _ := h.load("a"); r.Trap {
		h.t.Errorf("Load after TrapExits(false): Trap = true")
	}
}

func testProcRegister(h *harness) {
	h.createIDs("a", "b")
	h.idle()
	whereIs := func(name, want string) {
		h.t.Helper()
		got, err := h.s.WhereIs(bg, name)
		if err != nil || got != want {
			h.t.Errorf("WhereIs(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	whereIs("svc", "")
	reg := store.ProcOp{Kind: store.ProcRegister, Name: "svc"}
	h.proc("a", task.Waiting, "", reg)
	whereIs("svc", "a")
	if r, _ := h.load("a"); r.Name != "svc" {
		h.t.Errorf("Load(a).Name = %q, want svc", r.Name)
	}
	h.proc("a", task.Waiting, "", reg) // again: a no-op

	// Taken: the whole step is refused.
	l := h.claimOneID("w", "b", T0)
	s := step("w", l, task.Waiting)
	s.Append = NewEntries(1, 1)
	s.Proc = []store.ProcOp{link("a"), reg}
	errs, err := h.s.Commit(bg, []store.Step{s})
	if err != nil {
		h.t.Fatal(err)
	}
	if !errors.Is(errs[0], store.ErrNameTaken) {
		h.t.Errorf("Commit registering a taken name = %v, want ErrNameTaken", errs[0])
	}
	h.checkJournal("b", 0)
	// Nothing of the refused step was applied: no link to a.
	h.proc("a", task.Failed, "boom")
	h.wantSignals("b")
	// The name went with a.
	whereIs("svc", "")
	h.proc("b", task.Waiting, "", reg)
	whereIs("svc", "b")
}

func testProcKill(h *harness) {
	h.createIDs("a", "b", "done")
	h.idle()
	h.proc("done", task.Done, "normal")
	h.proc("a", task.Waiting, "", kill("b", "stop"), kill("done", "stop"), kill("ghost", "stop"))
	h.wantSignals("b", "kill:a:stop")
	h.wantSignals("done")
	h.wantReady("b")
}

// testProcExitOrder: the signals of an end come in the order the links
// and monitors were made, after the ending step's own sends.
func testProcExitOrder(h *harness) {
	ids := []string{"x", "p1", "p2", "p3"}
	h.createIDs(ids...)
	h.idle()
	h.proc("p2", task.Waiting, "", link("x"))
	h.proc("p1", task.Waiting, "", monitor("x", "m1"))
	h.proc("p3", task.Waiting, "", link("x"), monitor("x", "m3"))
	h.proc("p1", task.Waiting, "", link("x"))
	h.proc("x", task.Failed, "boom")
	for id, want := range map[string][]string{
		"p1": {"down:x:boom:m1", "link:x:boom"},
		"p2": {"link:x:boom"},
		"p3": {"link:x:boom", "down:x:boom:m3"},
	} {
		h.wantSignals(id, want...)
	}
	h.wantReady("p1", "p2", "p3")
}

// testProcLinkAndEnd: a step that links and ends the task at once signals
// the peer it just linked to.
func testProcLinkAndEnd(h *harness) {
	h.createIDs("a", "b")
	h.idle()
	h.proc("a", task.Failed, "boom", link("b"), monitor("b", "m"))
	h.wantSignals("b", "link:a:boom")
	h.wantReady("b")
}
