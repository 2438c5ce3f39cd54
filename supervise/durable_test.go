package supervise_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/supervise"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// pool is a named supervisor program: what a durable interpreter can
// rebuild after a restart (its spec is code, not input).
var pool = effect.NewProgram("pool", 1, func(effect.Unit) effect.Eff[effect.Unit] {
	return supervise.Supervisor(supervise.Spec{
		Strategy:  supervise.OneForOne,
		Intensity: 3,
		Period:    time.Hour,
		Children:  []supervise.Child{child("a", supervise.Permanent), child("b", supervise.Permanent)},
	})
})

func durableRegistry(t *testing.T) *task.Registry {
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, pool))
	require.NoError(t, task.Register(reg, worker))
	require.NoError(t, task.RegisterMessage[Cmd](reg, "supervise_test.Cmd"))
	require.NoError(t, task.RegisterError(reg, "supervise.ErrIntensity", supervise.ErrIntensity))
	return reg
}

// workers lists the worker tasks by status: running (waiting) and failed.
func workers(t *testing.T, st store.Store) (live, failed []string) {
	t.Helper()
	sums, err := st.List(context.Background(), store.Filter{Program: "worker"})
	require.NoError(t, err)
	for _, s := range sums {
		switch {
		case s.Status == task.Failed:
			failed = append(failed, s.ID)
		case !s.Status.Final():
			live = append(live, s.ID)
		}
	}
	return live, failed
}

// waitWorkers waits until the store holds nLive live and nFailed failed
// workers.
func waitWorkers(t *testing.T, st store.Store, nLive, nFailed int) (live []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		live, failed := workers(t, st)
		if len(live) == nLive && len(failed) == nFailed {
			return live
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers: live %v, failed %v; want %d live, %d failed", live, failed, nLive, nFailed)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDurableSupervision: a supervisor under the durable interpreter
// restarts crashed children, and goes on doing so in a new interpreter
// over the same store after the first one is gone (its links and the exit
// flag it set live in the store); too many crashes fail it with
// ErrIntensity, seen by a client in a third interpreter.
func TestDurableSupervision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	opts := []interp.DurableOption{interp.WithLogger(quiet),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond, Lease: time.Second})}
	open := func() (store.Store, *interp.Durable) {
		st, err := sqlite.Open(path, nil)
		require.NoError(t, err)
		d, err := interp.NewDurable(st, append(opts, interp.WithRegistry(durableRegistry(t)))...)
		require.NoError(t, err)
		return st, d
	}

	st, d := open()
	sup, err := interp.StartProgram(d, pool, effect.Unit{})
	require.NoError(t, err)
	first := waitWorkers(t, st, 2, 0)
	require.NoError(t, d.Send(first[0], Cmd("crash")))
	afterCrash := waitWorkers(t, st, 2, 1)
	require.NotContains(t, afterCrash, first[0])
	require.Contains(t, afterCrash, first[1])

	// The first interpreter goes away; a new one, knowing nothing in
	// memory, takes over the stored tasks.
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())
	st, d = open()
	require.NoError(t, d.Send(first[1], Cmd("crash")))
	now := waitWorkers(t, st, 2, 2)
	require.NotContains(t, now, first[1])
	// A normal exit of a permanent child restarts it too.
	require.NoError(t, d.Send(now[0], Cmd("exit")))
	deadline := time.Now().Add(10 * time.Second)
	for {
		live, _ := workers(t, st)
		if len(live) == 2 && !slices.Contains(live, now[0]) {
			now = live
			break
		}
		require.True(t, time.Now().Before(deadline), "the child that exited was not restarted: %v", live)
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())

	// One more crash passes the intensity (3 restarts in the hour: two
	// crashes and the normal exit): the supervisor kills its other child
	// and fails.
	st, d = open()
	defer st.Close()
	defer d.Close()
	require.NoError(t, d.Send(now[0], Cmd("crash")))
	h, ok := d.Task(sup.ID())
	require.True(t, ok)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = h.Wait(ctx)
	require.ErrorIs(t, err, supervise.ErrIntensity)
	live, failed := workers(t, st)
	require.Empty(t, live, "the supervisor terminated its other child before failing")
	require.Len(t, failed, 4)
	other, ok := d.Task(now[1])
	require.True(t, ok)
	_, err = other.Wait(ctx)
	ee, ok := errors.AsType[*interp.ExitError](err)
	require.True(t, ok, "the killed child's stored error is an *ExitError: %v", err)
	require.Equal(t, effect.ExitKilled, ee.Reason)
	require.Equal(t, sup.ID(), ee.From)
}
