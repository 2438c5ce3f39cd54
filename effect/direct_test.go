package effect_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/stretchr/testify/require"
)

// Gate is an op whose handler runs a test's hook before it answers: the
// way to do something while a direct-style body is suspended.
type Gate struct{ effect.Returns[int] }

// Never is an op that a test expects never to be performed: its handlers
// count the times they are.
type Never struct{ effect.Returns[int] }

var nevers atomic.Int32

// directRunner runs a program to its end under one interpreter, performing
// Add and Boom as basic does and Gate with the hook.
type directRunner struct {
	name string
	run  func(t *testing.T, p effect.Eff[int], gate func()) (int, error)
}

func handlers(gate func()) []effect.Handler {
	return []effect.Handler{
		effect.Handle(func(_ context.Context, q Add) (int, error) { return q.A + q.B, nil }),
		effect.Handle(func(context.Context, Boom) (int, error) { return 0, errBoom }),
		effect.Handle(func(context.Context, Gate) (int, error) {
			if gate != nil {
				gate()
			}
			return 1, nil
		}),
		effect.Handle(func(context.Context, Never) (int, error) { nevers.Add(1); return 0, nil }),
	}
}

// runInterp runs p under rt with a deadline, so that a hang fails the test
// instead of blocking it; it is not a timed assertion.
func runInterp(t *testing.T, rt interp.Runtime, p effect.Eff[int]) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v, err := interp.Run(ctx, rt, p)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "the task hung")
	return v, err
}

var directRunners = []directRunner{
	{"machine", func(t *testing.T, p effect.Eff[int], gate func()) (int, error) {
		v, err, _ := drive(t, p, func(op any) (any, error) {
			switch op.(type) {
			case Gate:
				if gate != nil {
					gate()
				}
				return 1, nil
			case Never:
				nevers.Add(1)
				return 0, nil
			}
			return basic(op)
		})
		return v, err
	}},
	{"callresume", func(t *testing.T, p effect.Eff[int], gate func()) (int, error) {
		return driveCallResume(t, p, effect.NewHandlers(handlers(gate)...))
	}},
	{"mock", func(t *testing.T, p effect.Eff[int], gate func()) (int, error) {
		return runInterp(t, interp.NewMock(interp.WithHandlers(handlers(gate)...)), p)
	}},
	{"live", func(t *testing.T, p effect.Eff[int], gate func()) (int, error) {
		live := interp.NewLive(interp.WithHandlers(handlers(gate)...))
		defer func() { require.NoError(t, live.Close()) }()
		return runInterp(t, live, p)
	}},
}

// driveCallResume runs p to completion as the countdown benchmarks do:
// each pending op (the oldest first) with its handler in hs through
// CallResume, and an op without one with basic through Resume or Fail.
func driveCallResume(t *testing.T, p effect.Eff[int], hs *effect.Handlers) (int, error) {
	t.Helper()
	ctx := context.Background()
	v, err, _ := driveWith(t, p, func(m *effect.Machine, pp effect.Pending) {
		if h, ok := hs.Lookup(pp.Op); ok {
			require.NoError(t, h.CallResume(ctx, m, pp.ID, pp.Op))
			return
		}
		completeWith(t, m, pp, basic)
	})
	return v, err
}

// inGoroutine runs f on a new goroutine and waits for it: the misuse the
// goroutine check exists for.
func inGoroutine(f func()) {
	var wg sync.WaitGroup
	wg.Go(f)
	wg.Wait()
}

// TestWrongGoroutine uses a body's Ctx from goroutines other than the
// body's, in every way a Ctx can be used, under every interpreter: the
// task fails with ErrWrongGoroutine naming the call, the other goroutine
// gets zero values and no panic, and nothing it asked for is performed.
func TestWrongGoroutine(t *testing.T) {
	type misuse struct {
		name string
		// body uses e wrongly and reports what the other goroutine saw
		// through saw; it returns only if the misuse did not stop it.
		body func(e *effect.Ctx, saw *atomic.Value, gate chan func()) int
		// want is in the error's text.
		want string
	}
	for _, mu := range []misuse{
		{"Call in a go statement", func(e *effect.Ctx, saw *atomic.Value, _ chan func()) int {
			inGoroutine(func() { saw.Store(effect.Call(e, Add{A: 1, B: 2})) })
			return 7
		}, "Call(effect_test.Add)"},
		{"Ctx method in a go statement", func(e *effect.Ctx, saw *atomic.Value, _ chan func()) int {
			inGoroutine(func() { saw.Store(e.Now()) })
			return 7
		}, "Call(effect.NowOp)"},
		{"Try in a go statement", func(e *effect.Ctx, saw *atomic.Value, _ chan func()) int {
			inGoroutine(func() {
				_, err := effect.Try(e, effect.Perform(Add{A: 1}))
				saw.Store(err)
			})
			return 7
		}, "Try(effect.Eff[int])"},
		{"Await in a go statement", func(e *effect.Ctx, saw *atomic.Value, _ chan func()) int {
			inGoroutine(func() { saw.Store(effect.Await(e, effect.Perform(Boom{}))) })
			return 7
		}, "Await(effect.Eff[int])"},
		{"Must with an error in a go statement", func(e *effect.Ctx, saw *atomic.Value, _ chan func()) int {
			inGoroutine(func() { saw.Store(effect.Must(e, 5, errBoom)) })
			return 7
		}, "Must(int)"},
		{"the outer Ctx in a nested body", func(e *effect.Ctx, saw *atomic.Value, _ chan func()) int {
			return effect.Await(e, effect.Do(func(*effect.Ctx) int {
				v := effect.Call(e, Add{A: 1, B: 2})
				saw.Store(v)
				return v
			}))
		}, "Call(effect_test.Add)"},
		{"effects after the misuse", func(e *effect.Ctx, saw *atomic.Value, _ chan func()) int {
			inGoroutine(func() { saw.Store(effect.Call(e, Add{A: 1, B: 2})) })
			return effect.Call(e, Never{}) // refused
		}, "Call(effect_test.Add)"},
		{"a call while the body is suspended", func(e *effect.Ctx, saw *atomic.Value, gate chan func()) int {
			// The op's handler runs the other goroutine's call while
			// the body waits on Gate.
			gate <- func() { inGoroutine(func() { saw.Store(effect.Call(e, Add{A: 1, B: 2})) }) }
			return effect.Call(e, Gate{})
		}, "Call(effect_test.Add)"},
	} {
		for _, r := range directRunners {
			t.Run(mu.name+"/"+r.name, func(t *testing.T) {
				var saw atomic.Value
				gate := make(chan func(), 1)
				nevers.Store(0)
				p := effect.Do(func(e *effect.Ctx) int {
					return mu.body(e, &saw, gate)
				})
				_, err := r.run(t, p, func() {
					select {
					case f := <-gate:
						f()
					default:
					}
				})
				require.ErrorIs(t, err, effect.ErrWrongGoroutine)
				require.ErrorContains(t, err, mu.want)
				require.Zero(t, nevers.Load(), "an op was performed after the misuse")
				switch v := saw.Load().(type) {
				case int:
					require.Zero(t, v, "the other goroutine got a zero value")
				case time.Time:
					require.True(t, v.IsZero(), "the other goroutine got a zero value")
				case error:
					require.ErrorIs(t, v, effect.ErrWrongGoroutine)
				default:
					t.Fatalf("the other goroutine saw %T %v", v, v)
				}
			})
		}
	}
}

// TestWrongGoroutineNotPerformed checks that a refused call issues no op
// and that the body's own next call after a misuse is not performed
// either.
func TestWrongGoroutineNotPerformed(t *testing.T) {
	var ops []any
	p := effect.Do(func(e *effect.Ctx) int {
		a := effect.Call(e, Add{A: 1})
		inGoroutine(func() { effect.Call(e, Add{A: 2}) })
		return a + effect.Call(e, Add{A: 3})
	})
	_, err, m := drive(t, p, func(op any) (any, error) {
		ops = append(ops, op)
		return basic(op)
	})
	require.ErrorIs(t, err, effect.ErrWrongGoroutine)
	require.Equal(t, []any{Add{A: 1}}, ops)
	require.Empty(t, m.Pending())
}

// TestWrongGoroutineAfterEnd uses a Ctx from another goroutine after its
// task has finished: the call is refused without a panic, and the task's
// outcome stands.
func TestWrongGoroutineAfterEnd(t *testing.T) {
	kept := make(chan *effect.Ctx, 1)
	p := effect.Do(func(e *effect.Ctx) int {
		kept <- e
		return effect.Call(e, Add{A: 1, B: 2})
	})
	got, err, m := drive(t, p, basic)
	require.NoError(t, err)
	require.Equal(t, 3, got)
	e := <-kept
	var v int
	inGoroutine(func() { v = effect.Call(e, Add{A: 5}) })
	require.Zero(t, v)
	r, err := m.Result()
	require.NoError(t, err)
	require.Equal(t, 3, r)
	require.Empty(t, m.Pending())
}

// TestDirectGoexit checks that a body calling runtime.Goexit (as
// t.FailNow does) fails its task and leaves the interpreter's goroutine
// running.
func TestDirectGoexit(t *testing.T) {
	var deferred atomic.Bool
	p := effect.Do(func(e *effect.Ctx) int {
		defer deferred.Store(true)
		effect.Call(e, Add{A: 1})
		runtime.Goexit()
		return 1
	})
	for _, r := range directRunners {
		t.Run(r.name, func(t *testing.T) {
			deferred.Store(false)
			_, err := r.run(t, p, nil)
			require.ErrorIs(t, err, effect.ErrGoexit)
			require.True(t, deferred.Load(), "the body's deferred calls ran")
		})
	}
}

// TestDirectGoexitWhileCancelled checks that a deferred call of a
// cancelled body that calls runtime.Goexit does not exit the goroutine that
// cancelled it.
func TestDirectGoexitWhileCancelled(t *testing.T) {
	m := effect.NewMachine(effect.Do(func(e *effect.Ctx) int {
		defer runtime.Goexit()
		e.Sleep(time.Hour)
		return 1
	}))
	m.Run()
	stopped := make(chan bool)
	go func() {
		defer close(stopped)
		m.Stop()
		stopped <- true
	}()
	require.True(t, <-stopped, "Stop exited its goroutine")
	_, err := m.Result()
	require.ErrorIs(t, err, effect.ErrCancelled)
}

// TestDirectFibers runs direct-style bodies as fibers of one task, with
// their ops completed out of order.
func TestDirectFibers(t *testing.T) {
	body := func(base int) effect.Eff[int] {
		return effect.Do(func(e *effect.Ctx) int {
			sum := 0
			for i := range 3 {
				sum += effect.Call(e, Add{A: base, B: i})
			}
			return sum
		})
	}
	m := effect.NewMachine(effect.Par(body(10), body(20)))
	m.Run()
	for !m.Done() {
		pend := m.Pending()
		require.NotEmpty(t, pend)
		p := pend[len(pend)-1] // the newest first
		add := p.Op.(Add)
		require.NoError(t, effect.Resume(m, p.ID, add.A+add.B))
	}
	r, err := m.Result()
	require.NoError(t, err)
	require.Equal(t, []int{33, 63}, r)
}

// TestDirectOneShot checks that a direct-style body's continuation runs
// once: completing its op a second time is refused, in every way an
// interpreter can complete it.
func TestDirectOneShot(t *testing.T) {
	for _, complete := range []struct {
		name string
		do   func(m *effect.Machine, id uint64) error
	}{
		{"Resume", func(m *effect.Machine, id uint64) error { return m.Resume(id, 1) }},
		{"typed Resume", func(m *effect.Machine, id uint64) error { return effect.Resume(m, id, 1) }},
		{"ResumeDecode", func(m *effect.Machine, id uint64) error {
			return m.ResumeDecode(id, func(ptr any) error { *ptr.(*int) = 1; return nil })
		}},
		{"Fail", func(m *effect.Machine, id uint64) error { return m.Fail(id, errBoom) }},
	} {
		t.Run(complete.name, func(t *testing.T) {
			var resumed int
			m := effect.NewMachine(effect.Do(func(e *effect.Ctx) int {
				v, _ := effect.Try(e, effect.Perform(Add{}))
				resumed++
				return v + effect.Call(e, Add{})
			}))
			m.Run()
			id := m.Pending()[0].ID
			require.NoError(t, complete.do(m, id))
			require.ErrorIs(t, complete.do(m, id), effect.ErrNotPending)
			require.Equal(t, 1, resumed)
			require.Len(t, m.Pending(), 1)
		})
	}
}

// ExampleDo_goroutine shows what happens to a body that performs an effect
// from a goroutine of its own: the call is refused, and the task fails.
func ExampleDo_goroutine() {
	p := effect.Do(func(e *effect.Ctx) string {
		done := make(chan time.Time)
		go func() { done <- e.Now() }() // wrong: e belongs to the body's goroutine
		return (<-done).String()
	})
	_, err := interp.Run(context.Background(), interp.NewMock(), p)
	fmt.Println(errors.Is(err, effect.ErrWrongGoroutine))
	// Output: true
}

// TestCallResumeCarriesOn drives one program with CallResume and another
// copy of it with Resume and Fail, in step: a body that CallResume resumes
// and that then awaits a tree-style program, fails or ends is carried on
// before any Machine method answers, so both Machines show the same ops
// pending, the same step counts and the same outcome at every step.
func TestCallResumeCarriesOn(t *testing.T) {
	newProgram := func() effect.Eff[int] {
		return effect.Map(effect.Do(func(e *effect.Ctx) int {
			a := effect.Call(e, Add{A: 1, B: 2})
			b := effect.Await(e, effect.Map(effect.Perform(Add{A: a, B: 10}), func(x int) int { return x * 2 }))
			c := effect.Call(e, Add{A: b, B: 1})
			if _, err := effect.Try(e, effect.Perform(Boom{})); !errors.Is(err, errBoom) {
				return -1
			}
			if _, err := effect.Try(e, effect.DoErr(func(e *effect.Ctx) (int, error) {
				return effect.Call(e, Add{A: c}), nil
			})); err != nil {
				return -2
			}
			return c + effect.Call(e, Add{A: 100})
		}), func(x int) int { return x + 1000 })
	}
	hs := effect.NewHandlers(
		effect.Handle(func(_ context.Context, q Add) (int, error) { return q.A + q.B, nil }),
		effect.Handle(func(context.Context, Boom) (int, error) { return 0, errBoom }),
	)
	ctx := context.Background()
	viaCall, viaResume := effect.NewMachine(newProgram()), effect.NewMachine(newProgram())
	viaCall.Run()
	viaResume.Run()
	ops := 0
	for !viaResume.Done() {
		require.False(t, viaCall.Done())
		pc, pr := viaCall.Pending(), viaResume.Pending()
		require.Len(t, pr, 1)
		require.Equal(t, pr[0].Op, pc[0].Op, "op %d", ops)
		require.Equal(t, viaResume.Steps(), viaCall.Steps(), "steps before op %d", ops)
		h, ok := hs.Lookup(pc[0].Op)
		require.True(t, ok)
		require.NoError(t, h.CallResume(ctx, viaCall, pc[0].ID, pc[0].Op))
		if v, err := h.Call(ctx, pr[0].Op); err != nil {
			require.NoError(t, viaResume.Fail(pr[0].ID, err))
		} else {
			require.NoError(t, viaResume.Resume(pr[0].ID, v))
		}
		ops++
	}
	require.Equal(t, 6, ops)
	require.True(t, viaCall.Done())
	require.Equal(t, viaResume.Steps(), viaCall.Steps())
	r, err := viaCall.Result()
	require.NoError(t, err)
	require.Equal(t, 1000+27+100, r)
}
