package router_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/router"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/task"
)

// Read and Write are the property's outside world: a read and a write
// whose handlers count their calls.
type Read struct {
	effect.Returns[int]
	K int
}

type Write struct {
	effect.Returns[effect.Unit]
	K, V int
}

// step is one op of a generated function version.
type step struct {
	Kind int // 0 read, 1 write, 2 send, 3 write state, 4 log
	K, V int
}

func genSteps(t *rapid.T, label string) []step {
	return rapid.SliceOfN(rapid.Custom(func(t *rapid.T) step {
		return step{Kind: rapid.IntRange(0, 4).Draw(t, "kind"), K: rapid.IntRange(0, 3).Draw(t, "k"), V: rapid.IntRange(0, 9).Draw(t, "v")}
	}), 0, 8).Draw(t, label)
}

// world is one run's outside world.
type world struct {
	reads, writes int
	v             *stm.Var[int]
	collector     string
}

func version(steps []step, w *world) func(int) effect.Eff[int] {
	return func(in int) effect.Eff[int] {
		return effect.Do(func(e *effect.Ctx) int {
			acc := in
			for _, s := range steps {
				switch s.Kind {
				case 0:
					acc += effect.Call(e, Read{K: s.K})
				case 1:
					effect.Call(e, Write{K: s.K, V: s.V + acc})
				case 2:
					effect.Await(e, effect.Send(effect.PID[int]{ID: w.collector}, s.V))
				case 3:
					effect.Await(e, effect.WriteState(w.v, s.V+acc))
				case 4:
					e.Log(0, "step", "v", s.V)
				}
			}
			return acc
		})
	}
}

// TestPropertyShadowCannotWrite: for random primaries and candidates of
// reads and writes, the shadow changes nothing the world can see (handler
// calls, the collector's mailbox, the state var), and the primary's
// result and journal are the same with and without it.
func TestPropertyShadowCannotWrite(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		primary, candidate := genSteps(rt, "primary"), genSteps(rt, "candidate")
		in := rapid.IntRange(0, 5).Draw(rt, "in")
		type run struct {
			result   int
			journal  task.Journal
			w        *world
			received int
			state    int
			stats    router.Stats
		}
		do := func(shadow bool) run {
			w := &world{v: stm.NewVar(0), collector: "collector"}
			fn := router.New[int, int]("f")
			router.Register(fn, "1", version(primary, w))
			router.Register(fn, "2", version(candidate, w))
			table := &router.MemTable{}
			p := router.Policy{Primary: "1"}
			if shadow {
				p.Shadow = &router.Shadow{Candidate: "2", Sampling: 1}
			}
			if err := table.Set(fn, "f", p); err != nil {
				rt.Fatal(err)
			}
			r := router.NewRouter(table, router.Options{Shadows: 2})
			_ = r.Refresh(context.Background())
			mock := interp.NewMock(interp.WithRoutes(r), interp.WithHandlers(
				effect.Handle(func(_ context.Context, q Read) (int, error) { w.reads++; return q.K * 10, nil }),
				effect.Handle(func(_ context.Context, q Write) (effect.Unit, error) { w.writes++; return effect.Unit{}, nil }),
			))
			col, err := interp.Start(mock, effect.Do(func(e *effect.Ctx) int {
				n := 0
				for {
					effect.Await(e, effect.Receive[int]())
					n++
				}
			}))
			if err != nil {
				rt.Fatal(err)
			}
			w.collector = col.ID()
			prog := effect.NewProgram("p", 1, func(in int) effect.Eff[int] {
				return effect.Do(func(e *effect.Ctx) int { return router.Call(e, fn, in) + 1 })
			})
			h, _ := interp.StartProgram(mock, prog, in)
			res, err := h.Wait(context.Background())
			if err != nil {
				rt.Fatalf("primary failed: %v", err)
			}
			r.Wait()
			mock.RunUntilIdle()
			j, _ := h.Journal()
			cj, _ := col.Journal()
			return run{result: res, journal: j, w: w, received: len(cj), state: w.v.Load(), stats: r.Stats("f")}
		}
		off, on := do(false), do(true)
		if on.stats.Shadowed != 1 || on.stats.Failed != 0 {
			rt.Fatalf("the shadow did not run: %+v", on.stats)
		}
		if off.result != on.result {
			rt.Fatalf("result %d without the shadow, %d with it", off.result, on.result)
		}
		if off.w.reads != on.w.reads || off.w.writes != on.w.writes {
			rt.Fatalf("handler calls: %d reads %d writes without the shadow, %d %d with it", off.w.reads, off.w.writes, on.w.reads, on.w.writes)
		}
		if off.received != on.received || off.state != on.state {
			rt.Fatalf("world: %d messages, state %d without the shadow; %d, %d with it", off.received, off.state, on.received, on.state)
		}
		if len(off.journal) != len(on.journal) {
			rt.Fatalf("journal of %d entries without the shadow, %d with it", len(off.journal), len(on.journal))
		}
		for i := range off.journal {
			a, b := off.journal[i], on.journal[i]
			if a.Kind != b.Kind || a.Fingerprint != b.Fingerprint || !bytes.Equal(a.Result, b.Result) || !a.Time.Equal(b.Time) {
				rt.Fatalf("journal entry %d: %s without the shadow, %s with it", i+1, fmt.Sprint(a), fmt.Sprint(b))
			}
		}
	})
}
