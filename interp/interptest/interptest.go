// Package interptest is the conformance suite for amber's interpreters, in
// the spirit of testing/fstest.TestFS: every interpreter (mock, live,
// replay, durable, simulation) runs the same programs and must give the
// same observable results and journals.
//
// # Program cases
//
// Run checks what one program does on its own: ops, handlers and
// activities, failures, timers, messages from outside, fibers, STM. An
// interpreter joins by providing a Runner that runs a Case to completion
// and reports its Outcome; Replay joins this way too (record under one
// interpreter, replay the journal):
//
//	func TestConformance(t *testing.T) {
//		interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
//			... run c.Program on c.Input with c.Handlers and c.Registry ...
//		})
//	}
//
// # Runtime cases
//
// RunRuntime checks what tasks do to each other and what a client does to
// them, through the public API of an interp.Runtime: links, monitors,
// names and Kill, ContinueAsNew, retried activities (attempt numbers and
// idempotency keys as the activity sees them), cancellation. It asks for
// a fresh Runtime per case, and replays every task a case started from
// its record:
//
//	interptest.RunRuntime(t, func(t *testing.T, s interptest.Setup) interp.Runtime {
//		d, err := interp.NewDurable(st, interp.WithRegistry(s.Registry), interp.WithHandlers(s.Handlers...))
//		...
//		t.Cleanup(func() { d.Close() })
//		return d
//	})
//
// A runner that knows a case fails on its interpreter because of a bug
// skips it by name (Setup.Name) with a t.Skip that names the bug, so that
// the case stays in the suite and runs again once the bug is fixed.
package interptest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/task"
)

// Case is one program of the suite, with what the interpreter needs to run
// it.
type Case struct {
	// Name names the case's subtest.
	Name string
	// Program runs on Input.
	Program effect.AnyProgram
	Input   any
	// Handlers must be installed for the run.
	Handlers []effect.Handler
	// Registry holds every program the case spawns, its message types and
	// its registered errors.
	Registry *task.Registry
	// Messages are sent to the task, in order, right after it starts.
	Messages []any
	check    func(t *testing.T, o Outcome)
}

// Outcome is what an interpreter reports of a run.
type Outcome struct {
	// Result and Err are the task's outcome.
	Result any
	Err    error
	// Journal is the task's journal as the interpreter recorded it.
	Journal task.Journal
}

// Runner runs one case to completion on the interpreter under test.
type Runner func(t *testing.T, c Case) Outcome

// Run runs every case of the suite with run, each as a subtest.
func Run(t *testing.T, run Runner) {
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			o := run(t, c)
			c.check(t, o)
			checkJournal(t, o.Journal)
		})
	}
}

// checkJournal checks what every journal must satisfy.
func checkJournal(t *testing.T, j task.Journal) {
	t.Helper()
	if err := j.Validate(); err != nil {
		t.Errorf("journal invalid: %v", err)
	}
	for _, en := range j {
		if en.Fingerprint != task.Fingerprint(en.Kind, en.Op) {
			t.Errorf("entry %d: fingerprint %x does not match its op", en.Seq, en.Fingerprint)
		}
	}
}

// Test errors and types used by the cases.
var (
	ErrQuota = errors.New("quota exceeded")
)

// GetUser is a user-defined op that needs a handler.
type GetUser struct {
	effect.Returns[User]
	// ID is the user to look up.
	ID string
}

// User is GetUser's result.
type User struct {
	// ID and Name describe the user.
	ID   string
	Name string
}

// Double is an activity: it knows how to perform itself.
type Double struct {
	effect.Returns[int]
	// N is the number to double.
	N int
}

// Run doubles N.
func (d Double) Run(context.Context) (int, error) { return 2 * d.N, nil }

// Reserve fails with ErrQuota when N is over 10.
type Reserve struct {
	effect.Returns[int]
	// N is how much to reserve.
	N int
}

// Run reserves.
func (r Reserve) Run(context.Context) (int, error) {
	if r.N > 10 {
		return 0, fmt.Errorf("reserve %d: %w", r.N, ErrQuota)
	}
	return r.N, nil
}

// Ping and Pong are the messages of the echo cases.
type Ping struct {
	// From is the ID of the task to answer.
	From string
	// N is echoed in the Pong.
	N int
}

// Pong answers a Ping.
type Pong struct {
	// N is the Ping's N.
	N int
}

// Note is a message of a second type, for selective receive.
type Note struct {
	// Text is the note's content.
	Text string
}

var userHandler = effect.Handle(func(_ context.Context, q GetUser) (User, error) {
	if q.ID == "" {
		return User{}, errors.New("empty id")
	}
	return User{ID: q.ID, Name: "user-" + q.ID}, nil
})

// Echo answers every Ping with a Pong of the same number, n times.
var Echo = effect.NewProgram("interptest.echo", 1, func(n int) effect.Eff[int] {
	var loop func(i int) effect.Eff[int]
	loop = func(i int) effect.Eff[int] {
		if i == n {
			return effect.Pure(i)
		}
		return effect.Then(effect.Receive[Ping](), func(p Ping) effect.Eff[int] {
			return effect.Then(effect.Send(effect.PID[Pong]{ID: p.From}, Pong{p.N}), func(effect.Unit) effect.Eff[int] {
				return loop(i + 1)
			})
		})
	}
	return loop(0)
})

// Setter sets a var after a short sleep.
func setter(v *stm.Var[int]) *effect.Program[int, effect.Unit] {
	return effect.NewProgram("interptest.setter", 1, func(x int) effect.Eff[effect.Unit] {
		return effect.Seq(effect.Sleep(time.Millisecond), effect.WriteState(v, x))
	})
}

func newRegistry(ps ...effect.AnyProgram) *task.Registry {
	r := task.NewRegistry()
	_ = task.RegisterMessage[Ping](r, "interptest.Ping")
	_ = task.RegisterMessage[Pong](r, "interptest.Pong")
	_ = task.RegisterMessage[Note](r, "interptest.Note")
	_ = task.RegisterError(r, "interptest.ErrQuota", ErrQuota)
	_ = task.RegisterError(r, "interptest.ErrFlaky", ErrFlaky)
	for _, p := range ps {
		if err := r.Add(p); err != nil {
			panic(err)
		}
	}
	return r
}

var caseN atomic.Int64

func prog[O any](name string, body effect.Eff[O]) *effect.Program[effect.Unit, O] {
	return effect.NewProgram(fmt.Sprintf("interptest.%s", name), 1, func(effect.Unit) effect.Eff[O] { return body })
}

func kinds(j task.Journal) []string {
	out := make([]string, len(j))
	for i, en := range j {
		k, args, _ := strings.Cut(en.Kind, "[")
		if i := strings.LastIndex(k, "."); i >= 0 {
			k = k[i+1:]
		}
		if args != "" {
			if i := strings.LastIndex(args, "/"); i >= 0 {
				args = args[i+1:]
			}
			k += "[" + args
		}
		out[i] = k
	}
	return out
}

func decode[T any](t *testing.T, en task.Entry) T {
	t.Helper()
	var v T
	if err := task.Unmarshal(en.Result, &v); err != nil {
		t.Fatalf("entry %d: decoding result: %v", en.Seq, err)
	}
	return v
}

func wantKinds(t *testing.T, o Outcome, want ...string) {
	t.Helper()
	got := kinds(o.Journal)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("journal kinds:\n got  %v\n want %v", got, want)
	}
}

func wantResult(t *testing.T, o Outcome, want any) {
	t.Helper()
	if o.Err != nil {
		t.Fatalf("program failed: %v", o.Err)
	}
	if fmt.Sprint(o.Result) != fmt.Sprint(want) {
		t.Errorf("result: got %v (%T), want %v (%T)", o.Result, o.Result, want, want)
	}
}

// Cases returns the suite's cases. Each call builds fresh programs and
// state.
func Cases() []Case {
	caseN.Add(1)
	var cs []Case
	add := func(c Case) {
		if c.Registry == nil {
			c.Registry = newRegistry(c.Program)
		} else if _, err := c.Registry.Program(c.Program.ProgramName(), c.Program.ProgramVersion()); err != nil {
			_ = c.Registry.Add(c.Program)
		}
		cs = append(cs, c)
	}

	add(Case{
		Name:    "Pure",
		Program: prog("pure", effect.Pure(42)),
		check: func(t *testing.T, o Outcome) {
			wantResult(t, o, 42)
			wantKinds(t, o)
		},
	})

	add(Case{
		Name: "LogNowRandom",
		Program: prog("lognowrandom", effect.Then(effect.Log(slog.LevelInfo, "hello", "k", 1), func(effect.Unit) effect.Eff[string] {
			return effect.Then(effect.Now(), func(now time.Time) effect.Eff[string] {
				return effect.Map(effect.Random(), func(r uint64) string {
					return fmt.Sprintf("%d/%d", now.UnixNano(), r)
				})
			})
		})),
		check: func(t *testing.T, o Outcome) {
			wantKinds(t, o, "LogOp", "NowOp", "RandomOp")
			if len(o.Journal) == 3 {
				now := decode[time.Time](t, o.Journal[1])
				r := decode[uint64](t, o.Journal[2])
				wantResult(t, o, fmt.Sprintf("%d/%d", now.UnixNano(), r))
			}
		},
	})

	add(Case{
		Name: "HandlerAndActivity",
		Program: prog("handler", effect.Then(effect.Perform(GetUser{ID: "7"}), func(u User) effect.Eff[string] {
			return effect.Map(effect.Perform(Double{N: 21}), func(n int) string { return fmt.Sprintf("%s %d", u.Name, n) })
		})),
		Handlers: []effect.Handler{userHandler},
		check: func(t *testing.T, o Outcome) {
			wantResult(t, o, "user-7 42")
			wantKinds(t, o, "GetUser", "Double")
			if len(o.Journal) == 2 {
				if u := decode[User](t, o.Journal[0]); u.Name != "user-7" {
					t.Errorf("journaled user %+v", u)
				}
			}
		},
	})

	add(Case{
		Name: "FailureAndCatch",
		Program: prog("catch", effect.Catch(
			effect.Perform(Reserve{N: 11}),
			func(err error) effect.Eff[int] {
				if errors.Is(err, ErrQuota) {
					return effect.Perform(Reserve{N: 10})
				}
				return effect.Fail[int](err)
			})),
		check: func(t *testing.T, o Outcome) {
			wantResult(t, o, 10)
			wantKinds(t, o, "Reserve", "Reserve")
			if len(o.Journal) == 2 && (o.Journal[0].Err == nil || !strings.Contains(o.Journal[0].Err.Msg, "quota exceeded")) {
				t.Errorf("first entry should record the quota error, got %+v", o.Journal[0].Err)
			}
		},
	})

	add(Case{
		Name:    "UncaughtFailure",
		Program: prog("uncaught", effect.Perform(Reserve{N: 99})),
		check: func(t *testing.T, o Outcome) {
			if !errors.Is(o.Err, ErrQuota) {
				t.Errorf("want an error that Is ErrQuota, got %v", o.Err)
			}
		},
	})

	add(Case{
		Name:    "Panic",
		Program: prog("panic", effect.Then(effect.Now(), func(time.Time) effect.Eff[int] { panic("kaboom") })),
		check: func(t *testing.T, o Outcome) {
			// In memory the error is a *effect.PanicError; an interpreter
			// that stores the outcome keeps its message.
			var pe *effect.PanicError
			if errors.As(o.Err, &pe) && pe.Value != "kaboom" || o.Err == nil || !strings.Contains(o.Err.Error(), "panic: kaboom") {
				t.Errorf("want a panic failure with kaboom, got %v", o.Err)
			}
		},
	})

	add(Case{
		Name:    "Unhandled",
		Program: prog("unhandled", effect.Perform(GetUser{ID: "1"})),
		check: func(t *testing.T, o Outcome) {
			if o.Err == nil || !strings.Contains(o.Err.Error(), "no handler") {
				t.Errorf("want a no-handler error, got %v", o.Err)
			}
		},
	})

	add(Case{
		Name: "Sleep",
		Program: prog("sleep", effect.Then(effect.Now(), func(a time.Time) effect.Eff[time.Duration] {
			return effect.Seq(effect.Sleep(5*time.Millisecond), effect.Map(effect.Now(), func(b time.Time) time.Duration { return b.Sub(a) }))
		})),
		check: func(t *testing.T, o Outcome) {
			wantKinds(t, o, "NowOp", "SleepOp", "NowOp")
			if d, ok := o.Result.(time.Duration); !ok || d < 5*time.Millisecond {
				t.Errorf("slept %v, want at least 5ms", o.Result)
			}
		},
	})

	echoPing := effect.Then(effect.Self[Pong](), func(self effect.PID[Pong]) effect.Eff[int] {
		return effect.Then(effect.Spawn[Ping](Echo, 2), func(echo effect.PID[Ping]) effect.Eff[int] {
			round := func(n int) effect.Eff[int] {
				return effect.Seq(effect.Send(echo, Ping{From: self.ID, N: n}),
					effect.Map(effect.Receive[Pong](), func(p Pong) int { return p.N }))
			}
			return effect.Then(round(1), func(a int) effect.Eff[int] {
				return effect.Map(round(2), func(b int) int { return 10*a + b })
			})
		})
	})
	add(Case{
		Name:     "SpawnSendReceive",
		Program:  prog("pingpong", echoPing),
		Registry: newRegistry(Echo),
		check: func(t *testing.T, o Outcome) {
			wantResult(t, o, 12)
			wantKinds(t, o, "SelfOp", "SpawnOp", "SendOp", "ReceiveOp[interptest.Pong]", "SendOp", "ReceiveOp[interptest.Pong]")
		},
	})

	add(Case{
		Name: "SelectiveReceive",
		Program: prog("selective", effect.Then(effect.Receive[Note](), func(n Note) effect.Eff[string] {
			return effect.Map(effect.ReceiveMatch(func(p Ping) bool { return p.N == 2 }), func(p Ping) string {
				return fmt.Sprintf("%s %d", n.Text, p.N)
			})
		})),
		Messages: []any{Ping{N: 1}, Ping{N: 2}, Note{Text: "note"}},
		check: func(t *testing.T, o Outcome) {
			wantResult(t, o, "note 2")
		},
	})

	add(Case{
		Name:    "ReceiveTimeout",
		Program: prog("timeout", effect.ReceiveTimeout[Note](2*time.Millisecond)),
		check: func(t *testing.T, o Outcome) {
			if m, ok := o.Result.(effect.Maybe[Note]); !ok || m.OK {
				t.Errorf("want a timed-out Maybe, got %#v (err %v)", o.Result, o.Err)
			}
			wantKinds(t, o, "SleepOp")
		},
	})

	add(Case{
		Name:    "Par",
		Program: prog("par", effect.Par(effect.Perform(Double{N: 1}), effect.Perform(Double{N: 2}), effect.Perform(Double{N: 3}))),
		check: func(t *testing.T, o Outcome) {
			wantResult(t, o, []int{2, 4, 6})
			if len(o.Journal) != 3 {
				t.Errorf("want 3 entries, got %d", len(o.Journal))
			}
			fibers := map[uint32]bool{}
			for _, en := range o.Journal {
				fibers[en.Fiber] = true
			}
			if len(fibers) != 3 {
				t.Errorf("want entries from 3 fibers, got %v", fibers)
			}
		},
	})

	add(Case{
		Name:    "Race",
		Program: prog("race", effect.Race(effect.As(effect.Sleep(time.Hour), "slow"), effect.Map(effect.Perform(Double{N: 4}), func(n int) string { return fmt.Sprint(n) }))),
		check: func(t *testing.T, o Outcome) {
			wantResult(t, o, "8")
			wantKinds(t, o, "Double")
		},
	})

	counter := stm.NewVar(0)
	add(Case{
		Name: "State",
		Program: prog("state", effect.Then(effect.WriteState(counter, 5), func(effect.Unit) effect.Eff[int] {
			return effect.Then(effect.Atomically(func(tx *stm.Tx) (int, error) {
				n := counter.Get(tx) + 1
				counter.Set(tx, n)
				return n, nil
			}), func(int) effect.Eff[int] { return effect.ReadState(counter) })
		})),
		check: func(t *testing.T, o Outcome) {
			wantResult(t, o, 6)
			wantKinds(t, o, "WriteStateOp[int]", "AtomicallyOp[int]", "ReadStateOp[int]")
		},
	})

	gate := stm.NewVar(0)
	set := setter(gate)
	add(Case{
		Name:     "RetryWakesOnWrite",
		Registry: newRegistry(set),
		Program: prog("retry", effect.Then(effect.Spawn[effect.Unit](set, 7), func(effect.PID[effect.Unit]) effect.Eff[int] {
			return effect.Atomically(func(tx *stm.Tx) (int, error) {
				v := gate.Get(tx)
				if v == 0 {
					tx.Retry()
				}
				return v, nil
			})
		})),
		check: func(t *testing.T, o Outcome) {
			wantResult(t, o, 7)
			wantKinds(t, o, "SpawnOp", "AtomicallyOp[int]")
		},
	})

	add(Case{
		Name: "DirectStyle",
		Program: prog("direct", effect.Do(func(e *effect.Ctx) string {
			e.Log(slog.LevelInfo, "start")
			u := effect.Call(e, GetUser{ID: "9"})
			n := effect.Await(e, effect.Perform(Double{N: 5}))
			if _, err := effect.Try(e, effect.Perform(Reserve{N: 50})); !errors.Is(err, ErrQuota) {
				return "expected quota error, got " + fmt.Sprint(err)
			}
			e.Sleep(time.Millisecond)
			return fmt.Sprintf("%s %d", u.Name, n)
		})),
		Handlers: []effect.Handler{userHandler},
		check: func(t *testing.T, o Outcome) {
			wantResult(t, o, "user-9 10")
			wantKinds(t, o, "LogOp", "GetUser", "Double", "Reserve", "SleepOp")
		},
	})
	return cs
}
