package interp_test

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// waiter waits for a string message and returns it.
var waiter = effect.NewProgram("waiter", 1, func(prefix string) effect.Eff[string] {
	return effect.Map(effect.Receive[string](), func(s string) string { return prefix + s })
})

// waitStatus waits until the stored status of task id is want.
func waitStatus(t *testing.T, st interface {
	Status(context.Context, string) (task.Status, error)
}, id string, want task.Status) {
	t.Helper()
	poll.Eventually(t, func() (bool, error) {
		s, err := st.Status(context.Background(), id)
		return s == want, err
	}, "task %s is %s", id, want)
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
		waitStatus(t, st, id, task.Waiting)
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
	logs := &logLines{}
	d, err = interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(slog.New(slog.NewTextHandler(logs, nil))), fastDurable)
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
	// The operator reads why in the worker's log too.
	require.Contains(t, logs.String(), `msg="amber: task ended without running" task=bad status=failed`)
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

// TestDurableUnknownVersionWaits: a worker does not claim a task whose
// program version it does not have: the task waits, visibly (the store's
// Versions says no live worker can run it), and nothing is lost; it runs
// when a worker that has the version starts.
func TestDurableUnknownVersionWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	full := task.NewRegistry()
	require.NoError(t, task.Register(full, waiter))
	st := openSQLite(t, path)
	d, err := interp.NewDurable(st, interp.WithRegistry(full), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	_, err = interp.StartProgram(d, waiter, "p:", interp.WithID("p"))
	require.NoError(t, err)
	waitStatus(t, st, "p", task.Waiting)
	require.NoError(t, d.Close())

	// A worker built without the program: its claims pass the task by.
	counted := &countedClaims{Store: st}
	other := effect.NewProgram("other", 1, func(string) effect.Eff[string] { return effect.Pure("") })
	without := task.NewRegistry()
	require.NoError(t, task.Register(without, other))
	d, err = interp.NewDurable(counted, interp.WithRegistry(without), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	require.NoError(t, st.Send(context.Background(), "p", mustEnvelope(t, full, "hello")))
	from := counted.n.Load()
	poll.Eventually(t, func() (bool, error) { return counted.n.Load() >= from+3, nil }, "three claims after the message")
	s, err := st.Status(context.Background(), "p")
	require.NoError(t, err)
	require.Equal(t, task.Waiting, s, "a worker without waiter v1 took the task")
	vs, err := st.Versions(context.Background(), "waiter")
	require.NoError(t, err)
	require.Len(t, vs, 1)
	require.Equal(t, 1, vs[0].InFlight[task.Waiting])
	require.Empty(t, vs[0].Workers, "no live worker can run waiter v1")
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

// countedClaims counts the calls of Claim.
type countedClaims struct {
	store.Store
	n atomic.Int32
}

func (s *countedClaims) Claim(ctx context.Context, owner string, max int, now time.Time, lease time.Duration, can ...task.ProgramVersion) ([]store.Lease, error) {
	s.n.Add(1)
	return s.Store.Claim(ctx, owner, max, now, lease, can...)
}

func mustEnvelope(t *testing.T, reg *task.Registry, msg any) task.Envelope {
	env, err := reg.EncodeMessage(msg)
	require.NoError(t, err)
	return env
}
