package interp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/interp/interptest"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

type note struct{ N int }

// A step is one randomly chosen effect of a generated program.
type step struct {
	Kind int
	N    int
}

const stepKinds = 12

func genSteps(t *rapid.T) []step {
	return rapid.SliceOfN(rapid.Custom(func(t *rapid.T) step {
		return step{Kind: rapid.IntRange(0, stepKinds-1).Draw(t, "kind"), N: rapid.IntRange(0, 20).Draw(t, "n")}
	}), 0, 12).Draw(t, "steps")
}

// stepEff builds the effect of one step; its result describes what it saw,
// except for the clock, which differs between interpreters.
func stepEff(s step, v *stm.Var[int]) effect.Eff[string] {
	str := func(x int) string { return fmt.Sprint(x) }
	switch s.Kind {
	case 0:
		return effect.As(effect.Log(slog.LevelInfo, "step", "n", s.N), "log")
	case 1:
		return effect.As(effect.Now(), "now")
	case 2:
		return effect.Map(effect.Random(), func(r uint64) string { return fmt.Sprint(r % 1000) })
	case 3:
		return effect.As(effect.Sleep(time.Duration(s.N)*50*time.Microsecond), "slept")
	case 4:
		return effect.Map(effect.Perform(interptest.GetUser{ID: str(s.N)}), func(u interptest.User) string { return u.Name })
	case 5:
		return effect.Map(effect.Perform(interptest.Double{N: s.N}), str)
	case 6:
		return effect.Catch(effect.Map(effect.Perform(interptest.Reserve{N: s.N}), str), func(err error) effect.Eff[string] {
			return effect.Pure(fmt.Sprintf("quota:%v", errors.Is(err, interptest.ErrQuota)))
		})
	case 7:
		return effect.Seq(effect.WriteState(v, s.N), effect.Map(effect.ReadState(v), str))
	case 8:
		return effect.Atomically(func(tx *stm.Tx) (string, error) {
			n := v.Get(tx) + s.N
			v.Set(tx, n)
			return str(n), nil
		})
	case 9:
		return effect.Then(effect.Self[note](), func(self effect.PID[note]) effect.Eff[string] {
			return effect.Seq(effect.Send(self, note{s.N}), effect.Map(effect.Receive[note](), func(m note) string { return str(m.N) }))
		})
	case 10:
		return effect.Map(effect.Par2(effect.Perform(interptest.Double{N: s.N}), effect.Perform(interptest.GetUser{ID: "p"})),
			func(p effect.Pair[int, interptest.User]) string { return str(p.First) + p.Second.Name })
	default:
		return effect.Race(effect.As(effect.Sleep(time.Hour), "slow"), effect.Map(effect.Perform(interptest.Double{N: s.N}), str))
	}
}

// build makes a program of the steps in tree style, direct style, or a mix.
func build(steps []step, style int, v *stm.Var[int]) effect.Eff[string] {
	if style == 1 {
		return effect.Do(func(e *effect.Ctx) string {
			acc := ""
			for _, s := range steps {
				acc += effect.Await(e, stepEff(s, v)) + ";"
			}
			return acc
		})
	}
	acc := effect.Pure("")
	for i, s := range steps {
		next := stepEff(s, v)
		if style == 2 && i%2 == 1 {
			next = effect.Do(func(e *effect.Ctx) string { return effect.Await(e, stepEff(s, v)) })
		}
		acc = effect.Then(acc, func(a string) effect.Eff[string] {
			return effect.Map(next, func(x string) string { return a + x + ";" })
		})
	}
	return acc
}

var userHandler = effect.Handle(func(_ context.Context, q interptest.GetUser) (interptest.User, error) {
	return interptest.User{ID: q.ID, Name: "u" + q.ID}, nil
})

func testRegistry() *task.Registry {
	r := task.NewRegistry()
	_ = task.RegisterError(r, "interptest.ErrQuota", interptest.ErrQuota)
	return r
}

func runOn(t require.TestingT, rt interp.Runtime, p effect.Eff[string]) (string, error, task.Journal) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tk, err := interp.Start(rt, p)
	require.NoError(t, err)
	v, err := tk.Wait(ctx)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	return v, err, journal(t, tk)
}

// normalize removes what legitimately differs between interpreters: the
// clock's readings. It groups entries by fiber, since fibers run
// concurrently live and their entries interleave differently.
func normalize(j task.Journal) map[uint32][]string {
	out := map[uint32][]string{}
	for _, en := range j {
		res := task.Render(en.Result)
		if en.Kind == "effect.NowOp" {
			res = "<time>"
		}
		errMsg := ""
		if en.Err != nil {
			errMsg = en.Err.Msg
		}
		out[en.Fiber] = append(out[en.Fiber], fmt.Sprintf("%s %x %s %s", en.Kind, en.Fingerprint, res, errMsg))
	}
	return out
}

// TestPropertyMockLiveReplay: a random program mixing every op gives the
// same result and journal under the mock and live interpreters, and
// replaying the recorded journal reproduces both.
func TestPropertyMockLiveReplay(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		steps := genSteps(rt)
		style := rapid.IntRange(0, 2).Draw(rt, "style")
		seed := rapid.Uint64().Draw(rt, "seed")
		opts := []interp.Option{interp.WithHandlers(userHandler), interp.WithSeed(seed), interp.WithRegistry(testRegistry())}

		mock := interp.NewMock(asMock(opts)...)
		mres, merr, mj := runOn(rt, mock, build(steps, style, stm.NewVar(0)))
		require.NoError(rt, merr)

		live := interp.NewLive(append(asLive(opts), interp.WithJournal(), interp.WithLogger(quiet))...)
		lres, lerr, lj := runOn(rt, live, build(steps, style, stm.NewVar(0)))
		live.Close()
		require.NoError(rt, lerr)
		require.Equal(rt, mres, lres, "mock and live results")
		require.Equal(rt, normalize(mj), normalize(lj), "mock and live journals")

		r, err := replayEff(context.Background(), build(steps, style, stm.NewVar(0)), mj, interp.WithRegistry(testRegistry()))
		require.NoError(rt, err)
		require.True(rt, r.Done)
		require.Equal(rt, mres, r.Result)
		require.Equal(rt, mj, r.Journal)
	})
}

// TestPropertyDivergence: changing one recorded op makes the replay fail
// with a DivergenceError at exactly that sequence number.
func TestPropertyDivergence(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		steps := genSteps(rt)
		style := rapid.IntRange(0, 2).Draw(rt, "style")
		mock := interp.NewMock(interp.WithHandlers(userHandler), interp.WithRegistry(testRegistry()))
		_, err, j := runOn(rt, mock, build(steps, style, stm.NewVar(0)))
		require.NoError(rt, err)
		if len(j) == 0 {
			return
		}
		k := rapid.IntRange(0, len(j)-1).Draw(rt, "entry")
		changed := slices.Clone(j)
		other := interptest.GetUser{ID: fmt.Sprintf("not-%d", k)}
		kind, data, fp, err := task.EncodeOp(other)
		require.NoError(rt, err)
		changed[k].Kind, changed[k].Op, changed[k].Fingerprint = kind, data, fp

		_, err = replayEff(context.Background(), build(steps, style, stm.NewVar(0)), changed, interp.WithRegistry(testRegistry()))
		var de *interp.DivergenceError
		require.ErrorAs(rt, err, &de)
		require.Equal(rt, j[k].Seq, de.Seq, "divergence reported at the changed entry")
		require.Contains(rt, de.Recorded, "not-")
	})
}

// TestPropertyMonadLaws checks the monad laws as observed through results
// and journals under the mock.
func TestPropertyMonadLaws(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ms, fs, gs := genSteps(rt), genSteps(rt), genSteps(rt)
		a := rapid.String().Draw(rt, "a")
		run := func(p func(v *stm.Var[int]) effect.Eff[string]) (string, task.Journal) {
			mock := interp.NewMock(interp.WithHandlers(userHandler), interp.WithRegistry(testRegistry()))
			res, err, j := runOn(rt, mock, p(stm.NewVar(0)))
			require.NoError(rt, err)
			return res, j
		}
		kleisli := func(steps []step, v *stm.Var[int]) func(string) effect.Eff[string] {
			return func(x string) effect.Eff[string] {
				return effect.Map(build(steps, 0, v), func(s string) string { return x + "|" + s })
			}
		}
		same := func(name string, p, q func(v *stm.Var[int]) effect.Eff[string]) {
			r1, j1 := run(p)
			r2, j2 := run(q)
			require.Equal(rt, r1, r2, name+": results")
			require.Equal(rt, j1, j2, name+": journals")
		}
		same("left identity",
			func(v *stm.Var[int]) effect.Eff[string] { return effect.Then(effect.Pure(a), kleisli(fs, v)) },
			func(v *stm.Var[int]) effect.Eff[string] { return kleisli(fs, v)(a) })
		same("right identity",
			func(v *stm.Var[int]) effect.Eff[string] { return effect.Then(build(ms, 0, v), effect.Pure[string]) },
			func(v *stm.Var[int]) effect.Eff[string] { return build(ms, 0, v) })
		same("associativity",
			func(v *stm.Var[int]) effect.Eff[string] {
				return effect.Then(effect.Then(build(ms, 0, v), kleisli(fs, v)), kleisli(gs, v))
			},
			func(v *stm.Var[int]) effect.Eff[string] {
				return effect.Then(build(ms, 0, v), func(x string) effect.Eff[string] {
					return effect.Then(kleisli(fs, v)(x), kleisli(gs, v))
				})
			})
	})
}
