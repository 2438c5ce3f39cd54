package interptest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// The process cases: links, monitors, names and Kill, after Erlang/OTP.

// crasher waits for a message, then ends as its input says: "panic",
// "fail", or normally.
var crasher = effect.NewProgram("interptest.crasher", 1, func(how string) effect.Eff[string] {
	return effect.Then(effect.Receive[string](), func(string) effect.Eff[string] {
		switch how {
		case "panic":
			panic("boom")
		case "fail":
			return effect.Fail[string](errors.New("bad"))
		}
		return effect.Pure("ok")
	})
})

// idler waits forever.
var idler = effect.NewProgram("interptest.idler", 1, func(effect.Unit) effect.Eff[string] {
	return effect.Receive[string]()
})

type linkIn struct {
	How  string
	Trap bool
}

// linker spawns a crasher, links to it and monitors it, lets it end, and
// reports the Down (and, trapping exits, the Exit) it gets.
var linker = effect.NewProgram("interptest.linker", 1, func(in linkIn) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		pid := effect.Await(e, effect.Spawn[string](crasher, in.How))
		effect.Await(e, effect.TrapExits(in.Trap))
		effect.Await(e, effect.Link(pid.ID))
		ref := effect.Await(e, effect.Monitor(pid.ID))
		effect.Await(e, effect.Send(pid, "go"))
		d := effect.Await(e, effect.Receive[effect.Down]())
		if d.Ref != ref || d.ID != pid.ID {
			panic(fmt.Sprintf("Down %+v for ref %s", d, ref))
		}
		got := "down:" + d.Reason
		if in.Trap {
			x := effect.Await(e, effect.Receive[effect.Exit]())
			if x.From != pid.ID {
				panic(fmt.Sprintf("Exit %+v", x))
			}
			got = "exit:" + x.Reason + " " + got
		}
		return got
	})
})

// chain is a chain of links: each task waits for "go", spawns the next
// one, links to it and tells it to go; the last one fails. Every task of
// the chain is then killed with its reason. (A task waits for "go" so
// that its parent links to it before it can end: Link to a task that has
// ended fails.)
var chain *effect.Program[int, string]

func init() {
	chain = effect.NewProgram("interptest.chain", 1, func(n int) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			effect.Await(e, effect.Receive[string]())
			if n == 0 {
				effect.Await(e, effect.Fail[effect.Unit](errors.New("last link broke")))
			}
			pid := effect.Await(e, effect.Spawn[string](chain, n-1))
			effect.Await(e, effect.Link(pid.ID))
			effect.Await(e, effect.Send(pid, "go"))
			effect.Await(e, effect.Receive[int]()) // never comes
			return "survived"
		})
	})
}

// namer takes the name "svc", says so to its parent, and ends when told.
var namer = effect.NewProgram("interptest.namer", 1, func(parent string) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		effect.Await(e, effect.TakeName("svc"))
		effect.Await(e, effect.Send(effect.PID[string]{ID: parent}, "named"))
		return effect.Await(e, effect.Receive[string]())
	})
})

type trapIn struct {
	Parent string
	Trap   bool
}

// trapper traps exits (if told), tells its parent, and reports the first
// Exit it receives.
var trapper = effect.NewProgram("interptest.trapper", 1, func(in trapIn) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		effect.Await(e, effect.TrapExits(in.Trap))
		effect.Await(e, effect.Send(effect.PID[string]{ID: in.Parent}, "ready"))
		x := effect.Await(e, effect.Receive[effect.Exit]())
		return x.From + " " + x.Reason
	})
})

// unlinker links to a crasher and monitors it, unlinks, and reports the Down.
var unlinker = effect.NewProgram("interptest.unlinker", 1, func(effect.Unit) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		pid := effect.Await(e, effect.Spawn[string](crasher, "panic"))
		effect.Await(e, effect.Link(pid.ID))
		ref := effect.Await(e, effect.Monitor(pid.ID))
		effect.Await(e, effect.Unlink(pid.ID))
		effect.Await(e, effect.Send(pid, "go"))
		d := effect.Await(e, effect.ReceiveMatch(func(d effect.Down) bool { return d.Ref == ref }))
		return d.Reason
	})
})

// noProc monitors and links to tasks that have ended or never existed.
var noProc = effect.NewProgram("interptest.noproc", 1, func(effect.Unit) effect.Eff[[]string] {
	return effect.Do(func(e *effect.Ctx) []string {
		var got []string
		pid := effect.Await(e, effect.Spawn[string](crasher, "normal"))
		ref := effect.Await(e, effect.Monitor(pid.ID))
		effect.Await(e, effect.Send(pid, "go"))
		d := effect.Await(e, effect.Receive[effect.Down]())
		got = append(got, fmt.Sprint(d.Ref == ref, " ", d.Reason))
		// It has ended now.
		ref2 := effect.Await(e, effect.Monitor(pid.ID))
		d = effect.Await(e, effect.Receive[effect.Down]())
		got = append(got, fmt.Sprint(d.Ref == ref2, " ", d.ID == pid.ID, " ", d.Reason))
		ref3 := effect.Await(e, effect.Monitor("no-such-task"))
		d = effect.Await(e, effect.Receive[effect.Down]())
		got = append(got, fmt.Sprint(d.Ref == ref3, " ", d.ID, " ", d.Reason))
		// Link without trapping exits fails; with, an Exit arrives.
		_, err := effect.Try(e, effect.Link(pid.ID))
		got = append(got, fmt.Sprint(err))
		effect.Await(e, effect.TrapExits(true))
		effect.Await(e, effect.Link(pid.ID))
		x := effect.Await(e, effect.Receive[effect.Exit]())
		got = append(got, fmt.Sprint(x.From == pid.ID, " ", x.Reason))
		return got
	})
})

// demonitor removes monitors, before and after their Down.
var demonitor = effect.NewProgram("interptest.demonitor", 1, func(effect.Unit) effect.Eff[[]string] {
	return effect.Do(func(e *effect.Ctx) []string {
		pid := effect.Await(e, effect.Spawn[string](crasher, "fail"))
		ref1 := effect.Await(e, effect.Monitor(pid.ID))
		ref2 := effect.Await(e, effect.Monitor(pid.ID))
		effect.Await(e, effect.Demonitor(ref1))
		effect.Await(e, effect.Send(pid, "go"))
		d := effect.Await(e, effect.Receive[effect.Down]())
		got := []string{fmt.Sprint(d.Ref == ref2, " ", d.Reason)}
		// A Down already in the mailbox is flushed too.
		ref3 := effect.Await(e, effect.Monitor(pid.ID)) // noproc, at once
		effect.Await(e, effect.Demonitor(ref3))
		late := effect.Await(e, effect.ReceiveTimeout[effect.Down](shortly))
		return append(got, fmt.Sprint(late.OK))
	})
})

// names takes, looks up and releases names.
var names = effect.NewProgram("interptest.names", 1, func(effect.Unit) effect.Eff[[]string] {
	return effect.Do(func(e *effect.Ctx) []string {
		var got []string
		where := func() string {
			m := effect.Await(e, effect.WhereIs("svc"))
			if !m.OK {
				return "none"
			}
			return m.Value
		}
		self := effect.Await(e, effect.Self[string]())
		got = append(got, where())
		pid := effect.Await(e, effect.Spawn[string](namer, self.ID))
		effect.Await(e, effect.Receive[string]())
		got = append(got, fmt.Sprint(where() == pid.ID))
		_, err := effect.Try(e, effect.TakeName("svc"))
		got = append(got, fmt.Sprint(errors.Is(err, effect.ErrNameTaken)))
		ref := effect.Await(e, effect.Monitor(pid.ID))
		effect.Await(e, effect.Send(pid, "stop"))
		effect.Await(e, effect.ReceiveMatch(func(d effect.Down) bool { return d.Ref == ref }))
		got = append(got, where()) // released
		effect.Await(e, effect.TakeName("svc"))
		got = append(got, fmt.Sprint(where() == self.ID))
		_, err = effect.Try(e, effect.TakeName("other"))
		got = append(got, fmt.Sprint(errors.Is(err, effect.ErrNameTaken)))
		_, err = effect.Try(e, effect.TakeName(""))
		got = append(got, fmt.Sprint(err != nil))
		return got
	})
})

type killIn struct {
	Trap   bool
	Reason string
}

// killer spawns a trapper, kills it, and reports the reason of its Down.
var killer = effect.NewProgram("interptest.killer", 1, func(in killIn) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		self := effect.Await(e, effect.Self[string]())
		pid := effect.Await(e, effect.Spawn[string](trapper, trapIn{self.ID, in.Trap}))
		ref := effect.Await(e, effect.Monitor(pid.ID))
		effect.Await(e, effect.Receive[string]()) // the victim has set its flag
		effect.Await(e, effect.Kill(pid.ID, in.Reason))
		d := effect.Await(e, effect.Receive[effect.Down]())
		if d.Ref != ref {
			panic("wrong ref")
		}
		// Killing a task that has ended does nothing.
		effect.Await(e, effect.Kill(pid.ID, in.Reason))
		return d.Reason
	})
})

// killRefused tries the kills that must fail.
var killRefused = effect.NewProgram("interptest.killrefused", 1, func(effect.Unit) effect.Eff[[]string] {
	return effect.Do(func(e *effect.Ctx) []string {
		self := effect.Await(e, effect.Self[string]())
		var got []string
		try := func(id, reason string) {
			_, err := effect.Try(e, effect.Kill(id, reason))
			got = append(got, fmt.Sprint(err != nil))
		}
		try(self.ID, "shutdown")
		pid := effect.Await(e, effect.Spawn[string](idler, effect.Unit{}))
		try(pid.ID, effect.ExitNormal)
		try(pid.ID, "")
		try("no-such-task", "shutdown")
		try(pid.ID, effect.ExitKill)
		return got
	})
})

// one is a case with no handlers whose programs are progs.
func one(name string, drive func(h *harness), progs ...effect.AnyProgram) runtimeCase {
	return runtimeCase{name: name, build: func() ([]effect.AnyProgram, []effect.Handler, func(*harness)) {
		return progs, nil, drive
	}}
}

func processCases() []runtimeCase {
	var cs []runtimeCase
	for _, c := range []struct {
		how    string
		trap   bool
		want   string // the linker's result, if it survives
		killed string // the reason it is killed with, if not
	}{
		{how: "panic", killed: "effect: panic: boom"},
		{how: "fail", killed: "bad"},
		{how: "normal", want: "down:normal"},
		{how: "panic", trap: true, want: "exit:effect: panic: boom down:effect: panic: boom"},
		{how: "fail", trap: true, want: "exit:bad down:bad"},
		{how: "normal", trap: true, want: "exit:normal down:normal"},
	} {
		cs = append(cs, one(fmt.Sprintf("Link/%s/trap=%v", c.how, c.trap), func(h *harness) {
			testLink(h, linkIn{c.how, c.trap}, c.want, c.killed)
		}, linker, crasher))
	}
	cs = append(cs,
		one("LinkChain", testLinkChain, chain),
		one("LinkParent", testLinkParent, parent, idler),
		one("Unlink", testUnlink, unlinker, crasher),
		one("NoProc", testNoProc, noProc, crasher),
		one("Demonitor", testDemonitor, demonitor, crasher),
		one("TakeName", testTakeName, names, namer),
		one("KillRefused", testKillRefused, killRefused, idler),
	)
	for _, c := range []struct {
		trap   bool
		reason string
		down   string // the reason in the killer's Down
		result string // the victim's result, if it survives; "" if killed
	}{
		{false, "shutdown", "shutdown", ""},
		{false, effect.ExitKill, effect.ExitKilled, ""},
		{true, "shutdown", effect.ExitNormal, "<killer> shutdown"},
		{true, effect.ExitKill, effect.ExitKilled, ""},
	} {
		cs = append(cs, one(fmt.Sprintf("Kill/trap=%v/%s", c.trap, c.reason), func(h *harness) {
			testKill(h, c.trap, c.reason, c.down, c.result)
		}, killer, trapper))
	}
	return cs
}

// testLink: a task linked to and monitoring a child that ends gets a Down
// with the child's reason; an abnormal end kills it unless it traps exits,
// and then it gets an Exit too.
func testLink(h *harness, in linkIn, want, killed string) {
	tk := start(h, linker, in)
	v, err := wait(h, tk)
	child := spawned(h, tk, 0)
	_, cerr := wait(h, child)
	switch in.How {
	case "panic":
		var pe *effect.PanicError
		if !errors.As(cerr, &pe) {
			h.t.Errorf("child: want an *effect.PanicError, got %v", cerr)
		}
	case "fail":
		if cerr == nil || cerr.Error() != "bad" {
			h.t.Errorf("child: want error bad, got %v", cerr)
		}
	default:
		if cerr != nil {
			h.t.Errorf("child: %v", cerr)
		}
	}
	if killed == "" {
		if err != nil || v != want {
			h.t.Errorf("linker: got %q, %v; want %q", v, err, want)
		}
		// The process ops are journaled like any op.
		kinds := []string{"SpawnOp", "TrapExitsOp", "LinkOp", "MonitorOp", "SendOp", "ReceiveOp[effect.Down]"}
		if in.Trap {
			kinds = append(kinds, "ReceiveOp[effect.Exit]")
		}
		wantKinds(h.t, Outcome{Journal: journal(h, tk)}, kinds...)
		return
	}
	if got := exitReason(h, err); got != killed {
		h.t.Errorf("linker killed with %q, want %q", got, killed)
	}
	if s := status(h, tk); s != task.Failed {
		h.t.Errorf("linker status %s, want %s", s, task.Failed)
	}
	var ee *effect.ExitError
	if errors.As(err, &ee) && ee.From != child.ID() {
		h.t.Errorf("linker killed by %s, want its child %s", ee.From, child.ID())
	}
}

// testLinkChain: a failure at the end of a chain of links kills every
// task of it, with the same reason.
func testLinkChain(h *harness) {
	tk := start(h, chain, 3)
	if err := h.rt.Send(tk.ID(), "go"); err != nil {
		h.t.Fatalf("Send: %v", err)
	}
	_, err := wait(h, tk)
	if got := exitReason(h, err); got != "last link broke" {
		h.t.Errorf("head of the chain killed with %q", got)
	}
	next := spawned(h, tk, 0)
	for i := range 3 {
		_, err := wait(h, next)
		if err == nil || !strings.Contains(err.Error(), "last link broke") {
			h.t.Errorf("link %d (%s): want an error with the chain's reason, got %v", i+1, next.ID(), err)
		}
		if i < 2 {
			next = spawned(h, next, 0)
		}
	}
}

// parent links to a child and panics.
var parent = effect.NewProgram("interptest.parent", 1, func(effect.Unit) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		pid := effect.Await(e, effect.Spawn[string](idler, effect.Unit{}))
		effect.Await(e, effect.Link(pid.ID))
		panic("parent down")
	})
})

// testLinkParent: the failure of a parent kills the child it linked to.
func testLinkParent(h *harness) {
	tk := start(h, parent, effect.Unit{})
	_, err := wait(h, tk)
	var pe *effect.PanicError
	if !errors.As(err, &pe) {
		h.t.Errorf("parent: want an *effect.PanicError, got %v", err)
	}
	_, err = wait(h, spawned(h, tk, 0))
	if got := exitReason(h, err); got != "effect: panic: parent down" {
		h.t.Errorf("child killed with %q", got)
	}
}

// testUnlink: after Unlink, the crash of the former partner does not
// reach the task.
func testUnlink(h *harness) {
	v, err := wait(h, start(h, unlinker, effect.Unit{}))
	if err != nil || v != "effect: panic: boom" {
		h.t.Errorf("got %q, %v; want the Down of the crash and no exit", v, err)
	}
}

// testNoProc: monitoring a task that has ended, or never existed, gives a
// Down with reason noproc; linking to one fails, or, trapping exits,
// gives an Exit with reason noproc.
func testNoProc(h *harness) {
	tk := start(h, noProc, effect.Unit{})
	v, err := wait(h, tk)
	child := spawned(h, tk, 0).ID()
	want := []string{
		"true normal",
		"true true noproc",
		"true no-such-task noproc",
		"task " + child + " has finished and accepts no messages",
		"true noproc",
	}
	if err != nil || fmt.Sprint(v) != fmt.Sprint(want) {
		h.t.Errorf("got %q, %v;\nwant %q", v, err, want)
	}
}

// testDemonitor: no Down arrives for a removed monitor, even one whose
// target had already ended.
func testDemonitor(h *harness) {
	v, err := wait(h, start(h, demonitor, effect.Unit{}))
	if want := []string{"true bad", "false"}; err != nil || fmt.Sprint(v) != fmt.Sprint(want) {
		h.t.Errorf("got %q, %v; want %q", v, err, want)
	}
}

// testTakeName: a task takes a name, WhereIs finds it, another task
// cannot take it, and it is released when its holder ends.
func testTakeName(h *harness) {
	v, err := wait(h, start(h, names, effect.Unit{}))
	want := []string{"none", "true", "true", "none", "true", "true", "true"}
	if err != nil || fmt.Sprint(v) != fmt.Sprint(want) {
		h.t.Errorf("got %q, %v; want %q", v, err, want)
	}
}

// testKill: Kill ends a task with the reason given, unless it traps exits
// (then it gets an Exit), and ExitKill ends it even then, as killed.
func testKill(h *harness, trap bool, reason, down, result string) {
	tk := start(h, killer, killIn{trap, reason})
	v, err := wait(h, tk)
	if err != nil || v != down {
		h.t.Errorf("killer: got %q, %v; want the Down reason %q", v, err, down)
	}
	victim := spawned(h, tk, 0)
	res, err := wait(h, victim)
	if result != "" {
		if want := strings.ReplaceAll(result, "<killer>", tk.ID()); err != nil || res != want {
			h.t.Errorf("victim: got %v, %v; want %q", res, err, want)
		}
		return
	}
	if got := exitReason(h, err); got != down {
		h.t.Errorf("victim killed with %q, want %q", got, down)
	}
}

// testKillRefused: a task cannot kill itself, kill with reason normal or
// no reason, or kill a task that does not exist.
func testKillRefused(h *harness) {
	v, err := wait(h, start(h, killRefused, effect.Unit{}))
	if want := []string{"true", "true", "true", "true", "false"}; err != nil || fmt.Sprint(v) != fmt.Sprint(want) {
		h.t.Errorf("got %q, %v; want %q", v, err, want)
	}
}
