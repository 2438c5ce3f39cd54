package interp_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

var errInsufficient = errors.New("insufficient funds")

// transfer moves amount from one account to another, failing (and rolling
// back) if the source lacks the funds.
func transfer(from, to *stm.Var[int], amount int) effect.Eff[int] {
	return effect.AtomicallyLabel("transfer", func(tx *stm.Tx) (int, error) {
		b := from.Get(tx)
		if b < amount {
			return 0, errInsufficient
		}
		from.Set(tx, b-amount)
		to.Set(tx, to.Get(tx)+amount)
		return b - amount, nil
	})
}

// payWhenFunded waits (Retry) until from holds amount, then pays it.
func payWhenFunded(from, to *stm.Var[int], amount int) effect.Eff[int] {
	return effect.Atomically(func(tx *stm.Tx) (int, error) {
		b := from.Get(tx)
		if b < amount {
			tx.Retry()
		}
		from.Set(tx, b-amount)
		to.Set(tx, to.Get(tx)+amount)
		return b - amount, nil
	})
}

func bankRegistry() *task.Registry {
	r := testRegistry()
	_ = task.RegisterError(r, "test.insufficient", errInsufficient)
	return r
}

type accounts struct{ a, b, c *stm.Var[int] }

func newAccounts() accounts { return accounts{stm.NewVar(100), stm.NewVar(0), stm.NewVar(0)} }

// bankProgram: a failed transfer is caught, a payer waits for funds that a
// depositor task provides, and the balances are read at the end.
func bankProgram(acc accounts) effect.Eff[[]int] {
	depositor := effect.NewProgram("depositor", 1, func(effect.Unit) effect.Eff[int] {
		return effect.Seq(effect.Sleep(time.Millisecond), transfer(acc.a, acc.b, 60))
	})
	return effect.Do(func(e *effect.Ctx) []int {
		if _, err := effect.Try(e, transfer(acc.b, acc.c, 50)); !errors.Is(err, errInsufficient) {
			panic("want insufficient funds, got " + err.Error())
		}
		effect.Await(e, effect.Spawn[effect.Unit](depositor, effect.Unit{}))
		left := effect.Await(e, payWhenFunded(acc.b, acc.c, 50))
		return []int{left, effect.Await(e, effect.ReadState(acc.a)), effect.Await(e, effect.ReadState(acc.b)), effect.Await(e, effect.ReadState(acc.c))}
	})
}

// TestSTMAcrossInterpreters: the same STM program gives the same results
// under mock and live, and a replay reads the journaled values, not the
// live world, which it leaves untouched.
func TestSTMAcrossInterpreters(t *testing.T) {
	want := []int{10, 40, 10, 50}
	ctx := context.Background()

	mockAcc := newAccounts()
	mock := interp.NewMock(interp.WithRegistry(bankRegistry()))
	tk, err := interp.Start(mock, bankProgram(mockAcc))
	require.NoError(t, err)
	got, err := tk.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, want, got)
	journal := journal(t, tk)

	liveAcc := newAccounts()
	live := interp.NewLive(interp.WithRegistry(bankRegistry()), interp.WithLogger(quiet))
	defer live.Close()
	lgot, err := interp.Run(ctx, live, bankProgram(liveAcc))
	require.NoError(t, err)
	require.Equal(t, want, lgot)
	require.Equal(t, 100, liveAcc.a.Load()+liveAcc.b.Load()+liveAcc.c.Load(), "money is conserved")

	// The world changes after the run; the replay still sees the recorded
	// values and writes nothing.
	mockAcc.a.Store(999)
	r, err := replayEff(ctx, bankProgram(mockAcc), journal, interp.WithRegistry(bankRegistry()))
	require.NoError(t, err)
	require.Equal(t, want, r.Result)
	require.Equal(t, []int{999, 10, 50}, []int{mockAcc.a.Load(), mockAcc.b.Load(), mockAcc.c.Load()})
}

// TestRetryHoldsNoGoroutine parks a thousand live tasks on an STM Retry and
// checks that none holds a goroutine, then releases them all.
func TestRetryHoldsNoGoroutine(t *testing.T) {
	live := interp.NewLive(interp.WithLogger(quiet))
	defer live.Close()
	gate := stm.NewVar(false)
	wait := effect.Atomically(func(tx *stm.Tx) (bool, error) {
		if !gate.Get(tx) {
			tx.Retry()
		}
		return true, nil
	})
	g0 := runtime.NumGoroutine()
	const n = 1000
	tasks := make([]*interp.Handle[bool], n)
	for i := range tasks {
		tk, err := interp.Start(live, wait)
		require.NoError(t, err)
		tasks[i] = tk
	}
	live.WaitIdle()
	require.Less(t, runtime.NumGoroutine()-g0, 10, "waiting tasks hold no goroutines")
	for _, tk := range tasks {
		_, _, done := tk.Result()
		require.False(t, done)
	}
	gate.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tk := range tasks {
		v, err := tk.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, true, v)
	}
}
