package effect_test

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/stretchr/testify/require"
)

// drive runs p to completion, performing each pending op (the oldest first)
// with perform.
func drive[A any](t testing.TB, p effect.Eff[A], perform func(op any) (any, error)) (A, error, *effect.Machine) {
	t.Helper()
	return driveWith(t, p, func(m *effect.Machine, pp effect.Pending) { completeWith(t, m, pp, perform) })
}

// driveWith runs p to completion, handing each pending op (the oldest
// first) to complete, which completes it.
func driveWith[A any](t testing.TB, p effect.Eff[A], complete func(m *effect.Machine, pp effect.Pending)) (A, error, *effect.Machine) {
	t.Helper()
	m := effect.NewMachine(p)
	m.Run()
	for !m.Done() {
		pend := m.Pending()
		require.NotEmpty(t, pend, "machine not done but nothing pending")
		complete(m, pend[0])
	}
	r, err := m.Result()
	var a A
	if r != nil {
		a = r.(A)
	}
	return a, err, m
}

// completeWith performs pp with perform, and resumes m with the result or
// fails the op with the error.
func completeWith(t testing.TB, m *effect.Machine, pp effect.Pending, perform func(op any) (any, error)) {
	t.Helper()
	v, err := perform(pp.Op)
	if err != nil {
		require.NoError(t, m.Fail(pp.ID, err))
	} else {
		require.NoError(t, m.Resume(pp.ID, v))
	}
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type Add struct {
	effect.Returns[int]
	A, B int
}

type Boom struct{ effect.Returns[int] }

var errBoom = errors.New("boom")

func basic(op any) (any, error) {
	switch o := op.(type) {
	case effect.NowOp:
		return epoch, nil
	case Add:
		return o.A + o.B, nil
	case Boom:
		return nil, errBoom
	case effect.LogOp, effect.SleepOp:
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected op %T", op)
}

func TestPureThenMap(t *testing.T) {
	p := effect.Then(effect.Perform(Add{A: 1, B: 2}), func(x int) effect.Eff[string] {
		return effect.Map(effect.Now(), func(now time.Time) string {
			return fmt.Sprintf("%d at %d", x, now.Year())
		})
	})
	got, err, _ := drive(t, p, basic)
	require.NoError(t, err)
	require.Equal(t, "3 at 2026", got)
}

func TestFailCatch(t *testing.T) {
	p := effect.Catch(
		effect.Then(effect.Perform(Boom{}), func(int) effect.Eff[int] { return effect.Pure(1) }),
		func(err error) effect.Eff[int] {
			if errors.Is(err, errBoom) {
				return effect.Pure(42)
			}
			return effect.Fail[int](err)
		})
	got, err, _ := drive(t, p, basic)
	require.NoError(t, err)
	require.Equal(t, 42, got)

	_, err, _ = drive(t, effect.Then(effect.Perform(Boom{}), effect.Pure[int]), basic)
	require.ErrorIs(t, err, errBoom)
}

func TestPanicBecomesFailure(t *testing.T) {
	p := effect.Then(effect.Now(), func(time.Time) effect.Eff[int] { panic("oops") })
	_, err, _ := drive(t, p, basic)
	var pe *effect.PanicError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "oops", pe.Value)

	caught := effect.Catch(p, func(error) effect.Eff[int] { return effect.Pure(7) })
	got, err, _ := drive(t, caught, basic)
	require.NoError(t, err)
	require.Equal(t, 7, got)
}

func TestZeroEffFails(t *testing.T) {
	_, err, _ := drive(t, effect.Eff[int]{}, basic)
	require.ErrorIs(t, err, effect.ErrNilProgram)
	_, err, _ = drive(t, effect.Then(effect.Now(), func(time.Time) effect.Eff[int] { return effect.Eff[int]{} }), basic)
	require.ErrorIs(t, err, effect.ErrNilProgram)
}

func TestResumeWrongType(t *testing.T) {
	m := effect.NewMachine(effect.Perform(Add{A: 1}))
	m.Run()
	id := m.Pending()[0].ID
	var rte *effect.ResultTypeError
	require.ErrorAs(t, m.Resume(id, "not an int"), &rte)
	require.ErrorIs(t, m.Resume(id+1, 1), effect.ErrNotPending)
	require.NoError(t, m.Resume(id, 5))
	r, err := m.Result()
	require.NoError(t, err)
	require.Equal(t, 5, r)
}

func countOps(n int) effect.Eff[int] {
	p := effect.Pure(0)
	for i := 0; i < n; i++ {
		p = effect.Then(p, func(x int) effect.Eff[int] { return effect.Pure(x + 1) })
	}
	return p
}

func rightNested(i, n int) effect.Eff[int] {
	if i == n {
		return effect.Pure(i)
	}
	return effect.Then(effect.Pure(i), func(x int) effect.Eff[int] { return rightNested(x+1, n) })
}

// TestMillionBinds runs a million left-nested and a million right-nested
// binds, and a direct-style body that performs a million effects, with the
// Go stack capped far below what a recursive evaluator would need, and
// checks the work done is linear in the number of binds or effects.
func TestMillionBinds(t *testing.T) {
	old := debug.SetMaxStack(4 << 20)
	defer debug.SetMaxStack(old)
	const n = 1_000_000
	for _, tc := range []struct {
		name string
		p    func(n int) effect.Eff[int]
	}{
		{"left", countOps},
		{"right", func(n int) effect.Eff[int] { return rightNested(0, n) }},
		{"direct", func(n int) effect.Eff[int] {
			return effect.Do(func(e *effect.Ctx) int {
				sum := 0
				for range n {
					sum += effect.Call(e, Add{A: 1})
				}
				return sum
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err, m := drive(t, tc.p(n), basic)
			require.NoError(t, err)
			require.Equal(t, n, got)
			_, _, small := drive(t, tc.p(n/10), basic)
			// Linear: ten times the binds is ten times the steps (±1%).
			ratio := float64(m.Steps()) / float64(small.Steps())
			require.InDelta(t, 10, ratio, 0.1, "steps %d vs %d", m.Steps(), small.Steps())
		})
	}
}

func TestDirectStyle(t *testing.T) {
	p := effect.Do(func(e *effect.Ctx) string {
		now := e.Now()
		sum := effect.Call(e, Add{A: 20, B: 22})
		e.Log(0, "sum", "value", sum)
		// a tree-style sub-program inside direct style
		twice := effect.Await(e, effect.Map(effect.Perform(Add{A: sum, B: sum}), func(x int) int { return x }))
		return fmt.Sprintf("%d %d %d", now.Year(), sum, twice)
	})
	got, err, _ := drive(t, p, basic)
	require.NoError(t, err)
	require.Equal(t, "2026 42 84", got)

	// and a direct-style program inside tree style
	tree := effect.Then(p, func(s string) effect.Eff[string] { return effect.Pure("<" + s + ">") })
	got, err, _ = drive(t, tree, basic)
	require.NoError(t, err)
	require.Equal(t, "<2026 42 84>", got)
}

func TestDirectFailure(t *testing.T) {
	var deferred bool
	p := effect.Do(func(e *effect.Ctx) int {
		defer func() { deferred = true }()
		return effect.Call(e, Boom{})
	})
	_, err, _ := drive(t, p, basic)
	require.ErrorIs(t, err, errBoom)
	require.True(t, deferred, "deferred call in the body ran")

	tried := effect.Do(func(e *effect.Ctx) string {
		_, err := effect.Try(e, effect.Perform(Boom{}))
		return "handled: " + err.Error()
	})
	got, err, _ := drive(t, tried, basic)
	require.NoError(t, err)
	require.Equal(t, "handled: boom", got)

	caught := effect.Catch(p, func(error) effect.Eff[int] { return effect.Pure(-1) })
	n, err, _ := drive(t, caught, basic)
	require.NoError(t, err)
	require.Equal(t, -1, n)

	pan := effect.Do(func(e *effect.Ctx) int { panic(errBoom) })
	_, err, _ = drive(t, pan, basic)
	var pe *effect.PanicError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, errBoom)
}

func TestParAndRace(t *testing.T) {
	p := effect.Par(effect.Perform(Add{A: 1}), effect.Perform(Add{A: 2}), effect.Perform(Add{A: 3}))
	var order []int
	got, err, _ := drive(t, p, func(op any) (any, error) {
		order = append(order, op.(Add).A)
		return basic(op)
	})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3}, got)
	require.Equal(t, []int{1, 2, 3}, order, "fibers issue ops in creation order")

	// Complete the second branch first: it wins, the first is withdrawn.
	m := effect.NewMachine(effect.Race(effect.Perform(Add{A: 1}), effect.Perform(Add{A: 2})))
	m.Run()
	require.Len(t, m.Pending(), 2)
	require.Equal(t, effect.FiberID(2), m.Pending()[1].Fiber)
	require.NoError(t, m.Resume(m.Pending()[1].ID, 20))
	require.True(t, m.Done())
	require.Empty(t, m.Pending())
	r, err := m.Result()
	require.NoError(t, err)
	require.Equal(t, 20, r)

	// A failing Par branch cancels its siblings.
	m = effect.NewMachine(effect.Par(effect.Perform(Add{A: 1}), effect.Perform(Boom{})))
	m.Run()
	require.NoError(t, m.Fail(m.Pending()[1].ID, errBoom))
	require.True(t, m.Done())
	_, err = m.Result()
	require.ErrorIs(t, err, errBoom)
}

func TestRaceCancelsDirectBranch(t *testing.T) {
	var unwound bool
	slow := effect.Do(func(e *effect.Ctx) int {
		defer func() { unwound = true }()
		e.Sleep(time.Hour)
		return 1
	})
	m := effect.NewMachine(effect.Race(slow, effect.Perform(Add{A: 2})))
	m.Run()
	require.Len(t, m.Pending(), 2)
	require.NoError(t, m.Resume(m.Pending()[1].ID, 2))
	require.True(t, m.Done())
	require.True(t, unwound, "the losing coroutine was unwound")
}

func TestStop(t *testing.T) {
	var unwound bool
	m := effect.NewMachine(effect.Do(func(e *effect.Ctx) int {
		defer func() { unwound = true }()
		e.Sleep(time.Hour)
		return 1
	}))
	m.Run()
	m.Stop()
	require.True(t, unwound)
	require.True(t, m.Done())
	_, err := m.Result()
	require.ErrorIs(t, err, effect.ErrCancelled)
}

func TestHandlers(t *testing.T) {
	hs := effect.NewHandlers(effect.Handle(func(_ context.Context, q Add) (int, error) { return q.A * q.B, nil }))
	h, ok := hs.Lookup(Add{})
	require.True(t, ok)
	v, err := h.Call(context.Background(), Add{A: 3, B: 4})
	require.NoError(t, err)
	require.Equal(t, 12, v)
	_, ok = hs.Lookup(Boom{})
	require.False(t, ok)
}

// TestCheckInputAgreesWithStart: CheckInput accepts exactly the inputs
// that Start accepts, for a concrete and for an interface input type.
func TestCheckInputAgreesWithStart(t *testing.T) {
	concrete := effect.NewProgram("c", 1, func(n int) effect.Eff[int] { return effect.Pure(n) })
	iface := effect.NewProgram("i", 1, func(s fmt.Stringer) effect.Eff[int] { return effect.Pure(0) })
	for _, p := range []effect.AnyProgram{concrete, iface} {
		for _, in := range []any{nil, 1, int64(1), "x", time.Second, struct{}{}} {
			_, startErr := p.Start(in)
			checkErr := effect.CheckInput(p, in)
			require.Equal(t, startErr == nil, checkErr == nil, "%v with %T: Start %v, CheckInput %v", p, in, startErr, checkErr)
			if startErr != nil {
				require.Equal(t, startErr.Error(), checkErr.Error())
			}
		}
	}
}
