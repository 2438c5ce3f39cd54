package interp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// Links, monitors, names and Kill under the Mock, Live, Sim and Durable
// interpreters (the Sim also with crashes and delayed messages).

type procRuntime struct {
	name string
	new  func(t *testing.T) interp.Runtime
}

func procRuntimes() []procRuntime {
	rts := []procRuntime{
		{"mock", func(*testing.T) interp.Runtime { return interp.NewMock() }},
		{"live", func(t *testing.T) interp.Runtime {
			l := interp.NewLive(interp.WithLogger(quiet), interp.WithJournal())
			t.Cleanup(func() { l.Close() })
			return l
		}},
		{"sim", func(*testing.T) interp.Runtime { return interp.NewSim(1) }},
	}
	for seed := range uint64(4) {
		rts = append(rts, procRuntime{fmt.Sprint("sim-faults-", seed), func(*testing.T) interp.Runtime {
			return interp.NewSim(seed, interp.WithSimOptions(interp.SimOptions{CrashProb: 0.2, CrashAllProb: 0.05, DelayProb: 0.5}))
		}})
	}
	rts = append(rts, procRuntime{"durable", func(t *testing.T) interp.Runtime {
		reg := task.NewRegistry()
		for _, p := range []effect.AnyProgram{crasher, idler, linker, chain, registrant, trapper} {
			require.NoError(t, reg.Add(p))
		}
		d, err := interp.NewDurable(openSQLite(t, ""), interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		durableRegs.Store(d, reg)
		return d
	}})
	return rts
}

// durableRegs holds the registry of each durable runtime of the tests, so
// that start can register the programs a test makes.
var durableRegs sync.Map // *interp.Durable -> *task.Registry

// start starts prog on rt, registering it first if rt is durable.
func start[I, O any](t *testing.T, rt interp.Runtime, prog *effect.Program[I, O], in I) *interp.Handle[O] {
	t.Helper()
	if reg, ok := durableRegs.Load(rt); ok {
		if err := task.Register(reg.(*task.Registry), prog); err != nil && !errors.Is(err, task.ErrDuplicate) {
			t.Fatal(err)
		}
	}
	tk, err := interp.StartProgram(rt, prog, in)
	require.NoError(t, err)
	return tk
}

func forRuntimes(t *testing.T, f func(t *testing.T, rt interp.Runtime)) {
	for _, r := range procRuntimes() {
		t.Run(r.name, func(t *testing.T) { f(t, r.new(t)) })
	}
}

func wait[O any](t *testing.T, tk *interp.Handle[O]) (O, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := tk.Wait(ctx)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "task %s", tk.ID())
	require.NotErrorIs(t, err, interp.ErrDeadlock, "task %s", tk.ID())
	return v, err
}

// spawned returns the ID of the n-th task (from 0) that tk spawned, from
// its journal.
func spawned[O any](t *testing.T, tk *interp.Handle[O], n int) string {
	t.Helper()
	for _, en := range journal(t, tk) {
		if en.Kind != "effect.SpawnOp" {
			continue
		}
		if n > 0 {
			n--
			continue
		}
		var id string
		require.NoError(t, task.Unmarshal(en.Result, &id))
		return id
	}
	_, err, fin := tk.Result()
	t.Fatalf("task %s spawned no task #%d (finished %v, %v): %v", tk.ID(), n, fin, err, journal(t, tk))
	return ""
}

func exitReason(t *testing.T, err error) string {
	t.Helper()
	var ee *interp.ExitError
	require.ErrorAs(t, err, &ee)
	return ee.Reason
}

// crasher waits for a message, then ends as its input says: "panic",
// "fail", or normally.
var crasher = effect.NewProgram("proc.crasher", 1, func(how string) effect.Eff[string] {
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
var idler = effect.NewProgram("proc.idler", 1, func(effect.Unit) effect.Eff[string] {
	return effect.Receive[string]()
})

type linkIn struct {
	How  string
	Trap bool
}

// linker spawns a crasher, links to it and monitors it, lets it end, and
// reports the Down (and, trapping exits, the Exit) it gets.
var linker = effect.NewProgram("proc.linker", 1, func(in linkIn) effect.Eff[string] {
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

func TestLinkCrash(t *testing.T) {
	cases := []struct {
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
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/trap=%v", c.how, c.trap), func(t *testing.T) {
			forRuntimes(t, func(t *testing.T, rt interp.Runtime) {
				tk := start(t, rt, linker, linkIn{c.how, c.trap})
				v, err := wait(t, tk)
				child, _ := rt.Task(spawned(t, tk, 0))
				_, cerr := wait(t, child)
				switch c.how {
				case "panic":
					var pe *effect.PanicError
					require.ErrorAs(t, cerr, &pe)
				case "fail":
					require.EqualError(t, cerr, "bad")
				default:
					require.NoError(t, cerr)
				}
				if c.killed != "" {
					require.Equal(t, c.killed, exitReason(t, err))
					st, serr := tk.Status()
					require.NoError(t, serr)
					require.Equal(t, task.Failed, st)
					var ee *interp.ExitError
					require.ErrorAs(t, err, &ee)
					require.Equal(t, child.ID(), ee.From)
					return
				}
				require.NoError(t, err)
				require.Equal(t, c.want, v)
			})
		})
	}
}

// chain spawns the next link of a chain and links to it; the last one
// fails. Every task of the chain is then killed with its reason.
var chain *effect.Program[int, string]

func init() {
	chain = effect.NewProgram("proc.chain", 1, chainBody)
}

func chainBody(n int) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		if n == 0 {
			effect.Await(e, effect.Receive[string]())
			effect.Await(e, effect.Fail[effect.Unit](errors.New("last link broke")))
		}
		pid := effect.Await(e, effect.Spawn[string](chain, n-1))
		effect.Await(e, effect.Link(pid.ID))
		effect.Await(e, effect.Send(pid, "go"))
		effect.Await(e, effect.Receive[int]()) // never comes
		return "survived"
	})
}

// TestLinkBothWays: a failure at the end of a chain of links kills every
// task of it, with the same reason, and the failure of a parent kills the
// child it linked to.
func TestLinkBothWays(t *testing.T) {
	forRuntimes(t, func(t *testing.T, rt interp.Runtime) {
		tk := start(t, rt, chain, 3)
		_, err := wait(t, tk)
		require.Equal(t, "last link broke", exitReason(t, err))
		id := spawned(t, tk, 0)
		for i := range 3 {
			next, ok := rt.Task(id)
			require.True(t, ok)
			_, err := wait(t, next)
			require.Error(t, err)
			require.Contains(t, err.Error(), "last link broke")
			if i < 2 {
				id = spawned(t, next, 0)
			}
		}
	})
	forRuntimes(t, func(t *testing.T, rt interp.Runtime) {
		parent := effect.NewProgram("proc.parent", 1, func(effect.Unit) effect.Eff[string] {
			return effect.Do(func(e *effect.Ctx) string {
				pid := effect.Await(e, effect.Spawn[string](idler, effect.Unit{}))
				effect.Await(e, effect.Link(pid.ID))
				panic("parent down")
			})
		})
		tk := start(t, rt, parent, effect.Unit{})
		_, err := wait(t, tk)
		var pe *effect.PanicError
		require.ErrorAs(t, err, &pe)
		child, _ := rt.Task(spawned(t, tk, 0))
		_, err = wait(t, child)
		require.Equal(t, "effect: panic: parent down", exitReason(t, err))
	})
}

// TestUnlink: after Unlink, the crash of the former partner does not
// reach the task.
func TestUnlink(t *testing.T) {
	forRuntimes(t, func(t *testing.T, rt interp.Runtime) {
		p := effect.NewProgram("proc.unlinker", 1, func(effect.Unit) effect.Eff[string] {
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
		tk := start(t, rt, p, effect.Unit{})
		v, err := wait(t, tk)
		require.NoError(t, err)
		require.Equal(t, "effect: panic: boom", v)
	})
}

// TestNoProc: monitoring a task that has ended, or never existed, gives a
// Down with reason noproc; linking to one fails, or, trapping exits,
// gives an Exit with reason noproc.
func TestNoProc(t *testing.T) {
	forRuntimes(t, func(t *testing.T, rt interp.Runtime) {
		prog := effect.NewProgram("proc.noproc", 1, func(effect.Unit) effect.Eff[[]string] {
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
		tk := start(t, rt, prog, effect.Unit{})
		v, err := wait(t, tk)
		require.NoError(t, err)
		child := spawned(t, tk, 0)
		require.Equal(t, []string{
			"true normal",
			"true true noproc",
			"true no-such-task noproc",
			"task " + child + " has finished and accepts no messages",
			"true noproc",
		}, v)
	})
}

// TestDemonitor: no Down arrives for a removed monitor, even one whose
// target had already ended.
func TestDemonitor(t *testing.T) {
	forRuntimes(t, func(t *testing.T, rt interp.Runtime) {
		prog := effect.NewProgram("proc.demonitor", 1, func(effect.Unit) effect.Eff[[]string] {
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
				late := effect.Await(e, effect.ReceiveTimeout[effect.Down](time.Millisecond))
				return append(got, fmt.Sprint(late.OK))
			})
		})
		tk := start(t, rt, prog, effect.Unit{})
		v, err := wait(t, tk)
		require.NoError(t, err)
		require.Equal(t, []string{"true bad", "false"}, v)
	})
}

// registrant registers a name, says so to its parent, and ends when told.
var registrant = effect.NewProgram("proc.registrant", 1, func(parent string) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		effect.Await(e, effect.TakeName("svc"))
		effect.Await(e, effect.Send(effect.PID[string]{ID: parent}, "registered"))
		return effect.Await(e, effect.Receive[string]())
	})
})

func TestRegister(t *testing.T) {
	forRuntimes(t, func(t *testing.T, rt interp.Runtime) {
		prog := effect.NewProgram("proc.names", 1, func(effect.Unit) effect.Eff[[]string] {
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
				pid := effect.Await(e, effect.Spawn[string](registrant, self.ID))
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
		tk := start(t, rt, prog, effect.Unit{})
		v, err := wait(t, tk)
		require.NoError(t, err)
		require.Equal(t, []string{"none", "true", "true", "none", "true", "true", "true"}, v)
	})
}

type trapIn struct {
	Parent string
	Trap   bool
}

// trapper traps exits (if told), tells its parent, and reports the first
// Exit it receives.
var trapper = effect.NewProgram("proc.trapper", 1, func(in trapIn) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		effect.Await(e, effect.TrapExits(in.Trap))
		effect.Await(e, effect.Send(effect.PID[string]{ID: in.Parent}, "ready"))
		x := effect.Await(e, effect.Receive[effect.Exit]())
		return x.From + " " + x.Reason
	})
})

func TestKill(t *testing.T) {
	cases := []struct {
		trap   bool
		reason string
		down   string // the reason in the killer's Down
		result string // the victim's result, if it survives; "" if killed
	}{
		{false, "shutdown", "shutdown", ""},
		{false, effect.ExitKill, effect.ExitKilled, ""},
		{true, "shutdown", effect.ExitNormal, "<killer> shutdown"},
		{true, effect.ExitKill, effect.ExitKilled, ""},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("trap=%v/%s", c.trap, c.reason), func(t *testing.T) {
			forRuntimes(t, func(t *testing.T, rt interp.Runtime) {
				killer := effect.NewProgram("proc.killer", 1, func(effect.Unit) effect.Eff[string] {
					return effect.Do(func(e *effect.Ctx) string {
						self := effect.Await(e, effect.Self[string]())
						pid := effect.Await(e, effect.Spawn[string](trapper, trapIn{self.ID, c.trap}))
						ref := effect.Await(e, effect.Monitor(pid.ID))
						effect.Await(e, effect.Receive[string]()) // the victim has set its flag
						effect.Await(e, effect.Kill(pid.ID, c.reason))
						d := effect.Await(e, effect.Receive[effect.Down]())
						if d.Ref != ref {
							panic("wrong ref")
						}
						// Killing a task that has ended does nothing.
						effect.Await(e, effect.Kill(pid.ID, c.reason))
						return d.Reason
					})
				})
				tk := start(t, rt, killer, effect.Unit{})
				v, err := wait(t, tk)
				require.NoError(t, err)
				require.Equal(t, c.down, v)
				victim, _ := rt.Task(spawned(t, tk, 0))
				res, err := wait(t, victim)
				if c.result != "" {
					require.NoError(t, err)
					require.Equal(t, strings.ReplaceAll(c.result, "<killer>", tk.ID()), res)
					return
				}
				require.Equal(t, c.down, exitReason(t, err))
			})
		})
	}
}

func TestKillRefused(t *testing.T) {
	forRuntimes(t, func(t *testing.T, rt interp.Runtime) {
		prog := effect.NewProgram("proc.killrefused", 1, func(effect.Unit) effect.Eff[[]string] {
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
		tk := start(t, rt, prog, effect.Unit{})
		v, err := wait(t, tk)
		require.NoError(t, err)
		require.Equal(t, []string{"true", "true", "true", "true", "false"}, v)
	})
}

// TestProcessOpsJournaled: the process ops are journaled like any op, and
// the journal replays.
func TestProcessOpsJournaled(t *testing.T) {
	m := interp.NewMock()
	tk, err := interp.StartProgram(m, linker, linkIn{"panic", true})
	require.NoError(t, err)
	_, err = wait(t, tk)
	require.NoError(t, err)
	var kinds []string
	for _, en := range journal(t, tk) {
		kinds = append(kinds, en.Kind)
	}
	require.Equal(t, []string{"effect.SpawnOp", "effect.TrapExitsOp", "effect.LinkOp", "effect.MonitorOp",
		"effect.SendOp", "effect.ReceiveOp[github.com/amberrt/amber/effect.Down]",
		"effect.ReceiveOp[github.com/amberrt/amber/effect.Exit]"}, kinds)
	// The journal replays.
	r, err := interp.Replay(context.Background(), linker, linkIn{"panic", true}, journal(t, tk))
	require.NoError(t, err)
	require.True(t, r.Done)
	require.Equal(t, "exit:effect: panic: boom down:effect: panic: boom", r.Result)
}

// TestProcessSimDeterminism: the same seed gives byte-identical journals.
func TestProcessSimDeterminism(t *testing.T) {
	run := func() string {
		sim := interp.NewSim(7, interp.WithSimOptions(interp.SimOptions{CrashProb: 0.2, DelayProb: 0.5}))
		tk, err := interp.StartProgram(sim, chain, 4)
		require.NoError(t, err)
		_, _ = wait(t, tk)
		var b strings.Builder
		for _, x := range sim.Tasks() {
			_, err, _ := x.Result()
			fmt.Fprintf(&b, "%s %v\n", x.ID(), err)
			for _, en := range journal(t, x) {
				fmt.Fprintf(&b, "  %s\n", en)
			}
		}
		return b.String() + sim.Schedule()
	}
	first := run()
	for range 2 {
		require.Equal(t, first, run())
	}
}
