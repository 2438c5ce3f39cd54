package interp_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/interp/interptest"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

func openSQLite(t *testing.T, path string) store.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "amber.db")
	}
	st, err := sqlite.Open(path, nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

var fastDurable = interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond})

func TestConformanceDurable(t *testing.T) {
	interptest.Run(t, func(t *testing.T, c interptest.Case) interptest.Outcome {
		st := openSQLite(t, "")
		d, err := interp.NewDurable(st, interp.WithHandlers(c.Handlers...), interp.WithRegistry(c.Registry), interp.WithLogger(quiet), fastDurable)
		require.NoError(t, err)
		defer d.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tk, err := interp.StartAny(d, c.Program, c.Input)
		require.NoError(t, err)
		for _, msg := range c.Messages {
			require.NoError(t, d.Send(tk.ID(), msg))
		}
		v, err := tk.Wait(ctx)
		require.NotErrorIs(t, err, context.DeadlineExceeded)
		rec, _, lerr := st.Load(ctx, tk.ID())
		require.NoError(t, lerr)
		return interptest.Outcome{Result: v, Err: err, Journal: rec.Journal}
	})
}

// sleeper sleeps for an hour of real time in steps the test cannot wait
// for, so it uses a short sleep and checks it fires once across restarts.
var sleeper = effect.NewProgram("sleeper", 1, func(d time.Duration) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		start := e.Now()
		e.Sleep(d)
		return "woke after " + e.Now().Sub(start).Round(100*time.Millisecond).String()
	})
})

func TestDurableTimerAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, sleeper))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Start the task and stop the worker twice while the timer runs; the
	// stored deadline must not move.
	var id string
	var deadline time.Time
	for i := 0; i < 2; i++ {
		st := openSQLite(t, path)
		d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
		require.NoError(t, err)
		if i == 0 {
			tk, err := interp.StartProgram(d, sleeper, 1500*time.Millisecond, interp.WithID("nap"))
			require.NoError(t, err)
			id = tk.ID()
		}
		time.Sleep(300 * time.Millisecond)
		require.NoError(t, d.Close())
		rec, _, err := st.Load(ctx, id)
		require.NoError(t, err)
		require.NotNil(t, rec.Wait)
		require.Len(t, rec.Wait.Ops, 1)
		if i == 0 {
			deadline = rec.Wait.Ops[0].Until
		}
		require.Equal(t, deadline, rec.Wait.Ops[0].Until, "the timer keeps its first deadline")
		require.NoError(t, st.Close())
	}
	st := openSQLite(t, path)
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d.Close()
	v, err := waitID(ctx, d, id)
	require.NoError(t, err)
	require.Contains(t, v, "woke after")
	slept, err := time.ParseDuration(strings.TrimPrefix(v.(string), "woke after "))
	require.NoError(t, err)
	require.GreaterOrEqual(t, slept, 1500*time.Millisecond)
	rec, _, err := st.Load(ctx, id)
	require.NoError(t, err)
	sleeps := 0
	for _, en := range rec.Journal {
		if strings.HasSuffix(en.Kind, "SleepOp") {
			sleeps++
		}
	}
	require.Equal(t, 1, sleeps, "the timer fired once")
}

// Order for the durable tests.
type Quota struct{ Limit int }

var provision = effect.NewProgram("provision", 1, func(n int) effect.Eff[string] {
	return effect.Do(func(e *effect.Ctx) string {
		for {
			q := effect.Await(e, effect.Receive[Quota]())
			if q.Limit >= n {
				return "provisioned " + strings.Repeat("x", n)
			}
		}
	})
})

// TestDurableMessagesAndWorld: a task waits for a message across a
// restart; STM world writes are stored with the step and restored.
func TestDurableMessagesAndWorld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, provision))
	require.NoError(t, task.RegisterMessage[Quota](reg, "test.Quota"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	st := openSQLite(t, path)
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	tk, err := interp.StartProgram(d, provision, 3, interp.WithID("prov"))
	require.NoError(t, err)
	require.NoError(t, d.Send(tk.ID(), Quota{Limit: 1}))
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())

	st = openSQLite(t, path)
	d, err = interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Send("prov", Quota{Limit: 5}))
	v, err := waitID(ctx, d, "prov")
	require.NoError(t, err)
	require.Equal(t, "provisioned xxx", v)
}

// bumpVar is the world var the bump program adds to; each simulated
// process sets it to the var of its own World.
var bumpVar *stm.Var[int]

var bump = effect.NewProgram("bump", 1, func(n int) effect.Eff[int] {
	return effect.Suspend(func() effect.Eff[int] {
		v := bumpVar
		return effect.AtomicallyLabel("bump", func(tx *stm.Tx) (int, error) {
			return stm.Modify(tx, v, func(x int) int { return x + n }), nil
		})
	})
})

// TestDurableWorld: STM world writes are stored with the step that made
// them and restored by the next process.
func TestDurableWorld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, bump))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run := func(n int) (int, int) {
		w := world.New()
		bumpVar = world.Named(w, "counter", 0)
		st := openSQLite(t, path)
		defer st.Close()
		d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithWorld(w), interp.WithLogger(quiet), fastDurable)
		require.NoError(t, err)
		defer d.Close()
		before := bumpVar.Load()
		tk, err := interp.StartProgram(d, bump, n)
		require.NoError(t, err)
		v, err := tk.Wait(ctx)
		require.NoError(t, err)
		return before, v
	}
	before, after := run(5)
	require.Equal(t, 0, before)
	require.Equal(t, 5, after)
	before, after = run(2)
	require.Equal(t, 5, before, "the world was restored from the store")
	require.Equal(t, 7, after)
}

func storeFilter(s task.Status) store.Filter { return store.Filter{Status: s} }
