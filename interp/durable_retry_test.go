package interp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/pgtest"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/memstore"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// A Retry whose wait lived only in one worker's memory was lost when that
// worker let the task go: evicted from a small cache, or the worker gone.
// The store now keeps the wait (store.Step.WaitWorld) and the commit that
// writes a var wakes the tasks waiting on it, whichever worker makes it.

// withdrawer takes n from the world var "funds", waiting (Retry) until
// there is enough. Each test binds it to its World.
func withdrawer(w *world.World) *effect.Program[int, int] {
	funds := world.Named(w, "funds", 0)
	return effect.NewProgram("retry.withdraw", 1, func(n int) effect.Eff[int] {
		return effect.Atomically(func(tx *stm.Tx) (int, error) {
			bal := funds.Get(tx)
			if bal < n {
				tx.Retry()
			}
			funds.Set(tx, bal-n)
			return bal - n, nil
		})
	})
}

// deposit adds n to "funds" from plain Go code (stored by the World's
// hook, alone).
func deposit(t *testing.T, w *world.World, n int) {
	t.Helper()
	funds := world.Named(w, "funds", 0)
	_, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
		return stm.Modify(tx, funds, func(x int) int { return x + n }), nil
	})
	require.NoError(t, err)
}

// TestDurableRetryEvicted: a task waiting in a Retry, evicted from a cache
// of one task, is woken by the write it waits for.
func TestDurableRetryEvicted(t *testing.T) {
	w := world.New()
	prog := withdrawer(w)
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, prog))
	require.NoError(t, task.Register(reg, sleeper))
	st := openSQLite(t, "")
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithWorld(w), interp.WithLogger(quiet),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond, Cache: 1}))
	require.NoError(t, err)
	defer d.Close()
	h, err := interp.StartProgram(d, prog, 10)
	require.NoError(t, err)
	waitStatus(t, st, h.ID(), task.Waiting)
	for range 3 { // push the waiting task out of the cache
		s, err := interp.StartProgram(d, sleeper, time.Hour)
		require.NoError(t, err)
		waitStatus(t, st, s.ID(), task.Waiting)
	}
	require.Contains(t, d.String(), "(1 tasks in memory)")

	deposit(t, w, 25)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	left, err := h.Wait(ctx)
	require.NoError(t, err, "the evicted task was not woken by the deposit")
	require.Equal(t, 15, left)
}

// TestDurableRetryFailover: a task waiting in a Retry on a worker that
// stops is woken by a write made on another worker (memstore: two
// interpreters sharing a store, as workers share a database).
func TestDurableRetryFailover(t *testing.T) {
	st := memstore.New()
	t.Cleanup(func() { st.Close() })
	retryFailover(t, st, st)
}

// TestDurableRetryFailoverPostgres is TestDurableRetryFailover with two
// stores on one PostgreSQL schema.
func TestDurableRetryFailoverPostgres(t *testing.T) {
	url, schema := pgtest.Schema(t, "interp_retry_")
	open := func() store.Store {
		st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema, PollInterval: 50 * time.Millisecond})
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		return st
	}
	retryFailover(t, open(), open())
}

func retryFailover(t *testing.T, st1, st2 store.Store) {
	w1, w2 := world.New(), world.New()
	prog1, prog2 := withdrawer(w1), withdrawer(w2)
	reg1, reg2 := task.NewRegistry(), task.NewRegistry()
	require.NoError(t, task.Register(reg1, prog1))
	require.NoError(t, task.Register(reg2, prog2))
	d1, err := interp.NewDurable(st1, interp.WithRegistry(reg1), interp.WithWorld(w1), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	h, err := interp.StartProgram(d1, prog1, 10)
	require.NoError(t, err)
	waitStatus(t, st1, h.ID(), task.Waiting)
	rec, _, err := st1.Load(context.Background(), h.ID())
	require.NoError(t, err)
	require.Equal(t, task.WaitSTM, rec.Wait.Kind)
	require.True(t, strings.Contains(rec.Wait.Detail, "funds"), "the wait names the var: %q", rec.Wait.Detail)
	require.NoError(t, d1.Close()) // the worker that ran the task is gone

	d2, err := interp.NewDurable(st2, interp.WithRegistry(reg2), interp.WithWorld(w2), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d2.Close()
	deposit(t, w2, 25)
	h2, ok := d2.Task(h.ID())
	require.True(t, ok)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	left, err := h2.Wait(ctx)
	require.NoError(t, err, "the task was not woken by the other worker's deposit")
	require.Equal(t, 15, left)
}
