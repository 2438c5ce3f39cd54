package interp_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// waiter waits for a string message and returns it.
var waiter = effect.NewProgram("waiter", 1, func(prefix string) effect.Eff[string] {
	return effect.Map(effect.Receive[string](), func(s string) string { return prefix + s })
})

func waitStatus(t *testing.T, d *interp.Durable, st interface {
	Status(context.Context, string) (task.Status, error)
}, id string, want task.Status) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		s, err := st.Status(ctx, id)
		require.NoError(t, err)
		if s == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("task %s is %s, want %s", id, s, want)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestDurableCorruptRow: a task whose stored journal is corrupt is marked
// failed with a readable reason; the other tasks keep running.
func TestDurableCorruptRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, waiter))
	st := openSQLite(t, path)
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	for _, id := range []string{"good", "bad"} {
		_, err := interp.StartProgram(d, waiter, id+":", interp.WithID(id))
		require.NoError(t, err)
		waitStatus(t, d, st, id, task.Waiting)
	}
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())

	// Damage the bad task's input behind the store's back.
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE tasks SET input = x'ffff00' WHERE id = 'bad'`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	st = openSQLite(t, path)
	d, err = interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Send("bad", "x"))
	require.NoError(t, d.Send("good", "y"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := waitID(ctx, d, "good")
	require.NoError(t, err)
	require.Equal(t, "good:y", v)
	_, err = waitID(ctx, d, "bad")
	require.Error(t, err)
	rec, _, err := st.Load(ctx, "bad")
	if err == nil {
		require.Equal(t, task.Failed, rec.Status)
		require.Contains(t, rec.Reason, "input")
	} else {
		require.ErrorIs(t, err, task.ErrCorrupt)
	}
	s, err := st.Status(ctx, "bad")
	require.NoError(t, err)
	require.Equal(t, task.Failed, s)
}

// TestDurableParkedUntilRegistered: a task whose program this worker does
// not know is parked with a status saying so, and resumes when a worker
// that knows it starts.
func TestDurableParkedUntilRegistered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	full := task.NewRegistry()
	require.NoError(t, task.Register(full, waiter))
	st := openSQLite(t, path)
	d, err := interp.NewDurable(st, interp.WithRegistry(full), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	_, err = interp.StartProgram(d, waiter, "p:", interp.WithID("p"))
	require.NoError(t, err)
	waitStatus(t, d, st, "p", task.Waiting)
	require.NoError(t, d.Close())

	// A worker built without the program: the task is parked on its next
	// wake-up, with a readable reason, and nothing is lost.
	d, err = interp.NewDurable(st, interp.WithRegistry(task.NewRegistry()), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	require.NoError(t, st.Send(context.Background(), "p", mustEnvelope(t, full, "hello")))
	waitStatus(t, d, st, "p", task.Parked)
	list, err := st.List(context.Background(), storeFilterParked)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Contains(t, list[0].Reason, "waiter v1 is not registered")
	require.NoError(t, d.Close())

	// A worker that knows it again picks it up.
	d, err = interp.NewDurable(st, interp.WithRegistry(full), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := waitID(ctx, d, "p")
	require.NoError(t, err)
	require.Equal(t, "p:hello", v)
}

func mustEnvelope(t *testing.T, reg *task.Registry, msg any) task.Envelope {
	env, err := reg.EncodeMessage(msg)
	require.NoError(t, err)
	return env
}

// counterLoop counts messages forever, continuing as new after each one so
// its journal stays short.
var counterLoop = effect.NewProgram("counter", 1, func(n int) effect.Eff[int] {
	return effect.Then(effect.Receive[string](), func(s string) effect.Eff[int] {
		if s == "stop" {
			return effect.Pure(n)
		}
		return effect.ContinueAsNew[int](n + 1)
	})
})

func TestContinueAsNew(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Run("mock", func(t *testing.T) {
		m := interp.NewMock()
		tk, err := interp.StartProgram(m, counterLoop, 0)
		require.NoError(t, err)
		for range 5 {
			require.NoError(t, m.Send(tk.ID(), "tick"))
		}
		require.NoError(t, m.Send(tk.ID(), "stop"))
		v, err := tk.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, 5, v)
		require.Len(t, journal(t, tk), 1, "only the last run's journal remains")
	})
	t.Run("durable", func(t *testing.T) {
		reg := task.NewRegistry()
		require.NoError(t, task.Register(reg, counterLoop))
		st := openSQLite(t, "")
		d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
		require.NoError(t, err)
		defer d.Close()
		tk, err := interp.StartProgram(d, counterLoop, 0, interp.WithID("c"))
		require.NoError(t, err)
		for range 5 {
			require.NoError(t, d.Send("c", "tick"))
		}
		require.NoError(t, d.Send("c", "stop"))
		v, err := tk.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, 5, v)
		rec, _, err := st.Load(ctx, "c")
		require.NoError(t, err)
		require.Len(t, rec.Journal, 1, "the stored journal is the last run's")
		var in int
		require.NoError(t, task.Unmarshal(rec.Input, &in))
		require.Equal(t, 5, in, "the stored input is the last run's")
	})
}

var storeFilterParked = storeFilter(task.Parked)
