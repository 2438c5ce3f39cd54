package interp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/interp/interptest"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// renew is a program that calls an activity and waits for a message.
// Its edited build logs a line before the activity in tasks of even
// inputs, as a user adds a log line to a running program without changing
// its version: the even tasks that have recorded the activity no longer
// fit their journals; the odd ones do.
func renew(edited bool) *effect.Program[int, string] {
	return effect.NewProgram("renew", 1, func(n int) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			if edited && n%2 == 0 {
				e.Log(slog.LevelInfo, "renewing")
			}
			a := effect.Call(e, interptest.Double{N: n})
			msg := effect.Await(e, effect.Receive[string]())
			return fmt.Sprint(a, " ", msg)
		})
	})
}

// statusOf reads a task's stored status.
func statusOf(t *testing.T, st store.Store, id string) task.Status {
	s, err := st.Status(context.Background(), id)
	require.NoError(t, err)
	return s
}

// TestDurableDivergenceParksTheTask: a same-version edit that no longer
// fits some journals parks exactly those tasks as Diverged, with the
// sequence number and both ops; every other task finishes; the worker
// stays up; the original build resumes the diverged tasks.
func TestDurableDivergenceParksTheTask(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func(edited bool) (store.Store, *interp.Durable) {
		st := openSQLite(t, path)
		reg := task.NewRegistry()
		require.NoError(t, task.Register(reg, renew(edited)))
		d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
		require.NoError(t, err)
		return st, d
	}
	const n = 6
	ids := make([]string, n)

	// Version 1 runs every task up to its Receive.
	st, d := open(false)
	for i := range n {
		h, err := interp.StartProgram(d, renew(false), i)
		require.NoError(t, err)
		ids[i] = h.ID()
	}
	poll.Eventually(t, func() (bool, error) {
		for _, id := range ids {
			if rec, _, err := st.Load(ctx, id); err != nil || rec.Wait == nil || rec.Wait.Kind != task.WaitReceive {
				return false, err
			}
		}
		return true, nil
	}, "every task waits for its message")
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())

	// The edited build: the even tasks diverge at seq 1, the odd finish.
	st, d = open(true)
	for _, id := range ids {
		require.NoError(t, d.Send(id, "go"))
	}
	for i, id := range ids {
		if i%2 == 1 {
			h, ok := d.Task(id)
			require.True(t, ok)
			v, err := h.Wait(ctx)
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint(2*i, " go"), v)
			continue
		}
		poll.Eventually(t, func() (bool, error) { return statusOf(t, st, id) == task.Diverged, nil }, "task %s diverges", id)
		rec, _, err := st.Load(ctx, id)
		require.NoError(t, err)
		require.Len(t, rec.Journal, 1, "the journal stays as stored")
		var de *interp.DivergenceError
		require.True(t, errors.As(task.NewRegistry().DecodeError(rec.Err), &de), "stored error: %v", rec.Err)
		require.Equal(t, id, de.Task)
		require.Equal(t, uint64(1), de.Seq)
		require.Contains(t, de.Recorded, "Double")
		require.Contains(t, de.Issued, "LogOp")
	}
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())

	// The original build fits them again: they take their message and
	// finish.
	st, d = open(false)
	defer st.Close()
	defer d.Close()
	for i := 0; i < n; i += 2 {
		h, ok := d.Task(ids[i])
		require.True(t, ok)
		v, err := h.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(2*i, " go"), v)
	}
}

// slowStep is an activity that takes a little while and counts its runs.
type slowStep struct {
	effect.Returns[int]
	N int
}

var slowRuns sync.Map // N -> *atomic.Int32

func (s slowStep) Run(ctx context.Context) (int, error) {
	c, _ := slowRuns.LoadOrStore(s.N, new(atomic.Int32))
	c.(*atomic.Int32).Add(1)
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return s.N, nil
}

// TestDurableSmallCache: with a cache of one task and many tasks whose
// activities run at once, no task waits for its attempt to time out: a
// task with an attempt running is not evicted (that lost the attempt's
// outcome, and the task sat until ActivityTimeout), and every attempt runs
// once.
func TestDurableSmallCache(t *testing.T) {
	slowRuns.Clear()
	prog := effect.NewProgram("slow", 1, func(n int) effect.Eff[int] {
		return effect.Then(effect.Perform(slowStep{N: n}), func(v int) effect.Eff[int] {
			return effect.Perform(slowStep{N: 1000 + v})
		})
	})
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, prog))
	st := openSQLite(t, "")
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond, Cache: 1, ActivityTimeout: time.Hour}))
	require.NoError(t, err)
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 20
	hs := make([]*interp.Handle[int], n)
	for i := range hs {
		hs[i], err = interp.StartProgram(d, prog, i)
		require.NoError(t, err)
	}
	for i, h := range hs {
		v, err := h.Wait(ctx)
		require.NoError(t, err, "task %d", i)
		require.Equal(t, 1000+i, v)
	}
	for i := range n {
		for _, k := range []int{i, 1000 + i} {
			c, ok := slowRuns.Load(k)
			require.True(t, ok)
			require.Equal(t, int32(1), c.(*atomic.Int32).Load(), "attempt %d ran once", k)
		}
	}
}
