package interp_test

// Regression tests of issue 9's points 3 to 7, each of which failed on the
// commit before it was fixed.

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// lostReply is a store whose next Commit carrying world writes commits,
// then fails as a whole, as a connection cut after the COMMIT was sent
// does: the worker cannot know the outcome and must ask (Landed).
type lostReply struct {
	store.Store
	armed atomic.Bool
	cuts  atomic.Int32
}

func (s *lostReply) Commit(ctx context.Context, steps []store.Step) ([]error, error) {
	errs, err := s.Store.Commit(ctx, steps)
	if err == nil && s.armed.Load() {
		for _, st := range steps {
			if len(st.World) > 0 && s.armed.CompareAndSwap(true, false) {
				s.cuts.Add(1)
				return nil, errors.New("connection reset by peer (the reply to COMMIT was lost)")
			}
		}
	}
	return errs, err
}

// TestDurableWorldCommitOfUnknownOutcome (issue 9, point 3): a world
// commit whose reply is lost after it landed is settled with the store
// (Landed), not failed: the task goes on, and the write counts once.
func TestDurableWorldCommitOfUnknownOutcome(t *testing.T) {
	w := world.New()
	counter := world.Named(w, "counter", 0)
	bump := effect.NewProgram("bump", 1, func(n int) effect.Eff[int] {
		return effect.Do(func(e *effect.Ctx) int {
			var v int
			for range n {
				v = effect.Await(e, effect.Atomically(func(tx *stm.Tx) (int, error) {
					return stm.Modify(tx, counter, func(c int) int { return c + 1 }), nil
				}))
			}
			return v
		})
	})
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, bump))
	st := &lostReply{Store: openSQLite(t, "")}
	st.armed.Store(true)
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithWorld(w), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d.Close()
	h, err := interp.StartProgram(d, bump, 3)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := h.Wait(ctx)
	require.NoError(t, err, "a lost reply must not fail the task")
	require.Equal(t, 3, v)
	require.Equal(t, int32(1), st.cuts.Load())
	require.Equal(t, 3, counter.Load())
	snap, err := st.World(ctx)
	require.NoError(t, err)
	row, ok := snap.Lookup("counter")
	require.True(t, ok)
	var stored int
	require.NoError(t, task.Unmarshal(row.Value, &stored))
	require.Equal(t, 3, stored, "the store has each write once")
	require.Equal(t, uint64(3), row.Version)
}

// TestDurableContinueAsNewAcrossRestart (issue 9, point 4): a task that
// spawns a child and continues as new, run after run, with the worker
// restarted between runs, gives every child its own ID and every activity
// its own idempotency key.
func TestDurableContinueAsNewAcrossRestart(t *testing.T) {
	child := effect.NewProgram("can.child", 1, func(n int) effect.Eff[int] { return effect.Pure(n) })
	parent := effect.NewProgram("can.parent", 1, func(n int) effect.Eff[[]string] {
		return effect.Do(func(e *effect.Ctx) []string {
			pid := effect.Await(e, effect.Spawn[effect.Unit](child, n))
			key := effect.Call(e, keyOf{N: n})
			effect.Await(e, effect.Receive[string]())
			if n == 2 {
				return []string{pid.ID, key}
			}
			return effect.Await(e, effect.ContinueAsNew[[]string](n+1))
		})
	})
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, child))
	require.NoError(t, task.Register(reg, parent))
	path := filepath.Join(t.TempDir(), "amber.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys.Clear()
	var id string
	for run := range 3 {
		st := openSQLite(t, path)
		d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
		require.NoError(t, err)
		if run == 0 {
			h, err := interp.StartProgram(d, parent, 0, interp.WithID("cyc"))
			require.NoError(t, err)
			id = h.ID()
		}
		poll.Eventually(t, func() (bool, error) {
			rec, _, err := st.Load(ctx, id)
			return err == nil && rec.Runs == uint64(run) && rec.Wait != nil && rec.Wait.Kind == task.WaitReceive, err
		}, "run %d waits for its message", run)
		require.NoError(t, d.Send(id, "next"))
		if run < 2 {
			poll.Eventually(t, func() (bool, error) {
				rec, _, err := st.Load(ctx, id)
				return err == nil && rec.Runs == uint64(run+1), err
			}, "run %d continues as new", run)
			require.NoError(t, d.Close())
			require.NoError(t, st.Close())
			continue
		}
		h, ok := d.Task(id)
		require.True(t, ok)
		v, err := h.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, "cyc.2-1", v.([]string)[0], "the third run's child")
		require.NoError(t, d.Close())
	}
	seen := map[string]bool{}
	keys.Range(func(k, _ any) bool {
		require.False(t, seen[k.(string)], "key %s given twice", k)
		seen[k.(string)] = true
		return true
	})
	require.Len(t, seen, 3, "one key per run: %v", seen)
}

// keyOf records the idempotency key it is given.
type keyOf struct {
	effect.Returns[string]
	N int
}

var keys sync.Map

func (k keyOf) Run(ctx context.Context) (string, error) {
	key := effect.IdempotencyKey(ctx)
	keys.Store(key, k.N)
	return key, nil
}

// TestDurableDeepMessageRefusedAtSend (issue 9, point 5): a message nested
// deeper than any receiver could decode is refused at Send, with a clear
// error the sender can catch, instead of poisoning the receiver.
func TestDurableDeepMessageRefusedAtSend(t *testing.T) {
	deep := func(n int) any {
		var v any = "leaf"
		for range n {
			v = []any{v}
		}
		return v
	}
	sink := effect.NewProgram("deep.sink", 1, func(effect.Unit) effect.Eff[int] {
		return effect.Map(effect.Receive[[]any](), func([]any) int { return 1 })
	})
	sender := effect.NewProgram("deep.sender", 1, func(depth int) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			pid := effect.Await(e, effect.Spawn[[]any](sink, effect.Unit{}))
			_, err := effect.Try(e, effect.Send(pid, deep(depth).([]any)))
			if err != nil {
				return "refused: " + err.Error()
			}
			return "sent"
		})
	})
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, sink))
	require.NoError(t, task.Register(reg, sender))
	require.NoError(t, task.RegisterMessage[[]any](reg, "deep.list"))
	d, err := interp.NewDurable(openSQLite(t, ""), interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := interp.StartProgram(d, sender, 200)
	require.NoError(t, err)
	v, err := h.Wait(ctx)
	require.NoError(t, err)
	require.Contains(t, v, "refused: ")
	require.True(t, strings.Contains(v, "nest") || strings.Contains(v, "deep"), "the error says why: %s", v)
	h, err = interp.StartProgram(d, sender, 10)
	require.NoError(t, err)
	v, err = h.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "sent", v)
}

// TestDurableCorruptEntry (issue 9, point 6): a flipped byte in a stored
// journal entry's result fails its task with "journal seq N is corrupt",
// never replays a wrong value; and a time in a world var keeps its
// nanoseconds across a restart.
func TestDurableCorruptEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	w := world.New()
	when := world.Named(w, "when", time.Time{})
	at := time.Date(2026, 11, 30, 10, 0, 0, 123456789, time.UTC)
	prog := effect.NewProgram("corrupt", 1, func(n int) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			v := effect.Call(e, keyOf{N: n})
			effect.Await(e, effect.WriteState(when, at))
			effect.Await(e, effect.Receive[string]())
			return v
		})
	})
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, prog))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := openSQLite(t, path)
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithWorld(w), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	_, err = interp.StartProgram(d, prog, 7, interp.WithID("c"))
	require.NoError(t, err)
	poll.Eventually(t, func() (bool, error) {
		rec, _, err := st.Load(ctx, "c")
		return err == nil && rec.Wait != nil && rec.Wait.Kind == task.WaitReceive, err
	}, "the task waits")
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())

	// The world var's time keeps its nanoseconds.
	w2 := world.New()
	when2 := world.Named(w2, "when", time.Time{})
	st = openSQLite(t, path)
	d, err = interp.NewDurable(st, interp.WithRegistry(reg), interp.WithWorld(w2), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	require.True(t, at.Equal(when2.Load()), "restored %v, want %v", when2.Load(), at)
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())

	// Flip a bit of the first entry's result (the activity's string,
	// "c/1/0": its last byte), as a disk might.
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	var entry []byte
	require.NoError(t, db.QueryRow(`SELECT entry FROM journal WHERE task_id = 'c' AND seq = 1`).Scan(&entry))
	i := strings.LastIndex(string(entry), "c/1/0")
	require.GreaterOrEqual(t, i, 0, "the result is in the entry")
	entry[i+4] ^= 0x01
	_, err = db.Exec(`UPDATE journal SET entry = ? WHERE task_id = 'c' AND seq = 1`, entry)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	st = openSQLite(t, path)
	d, err = interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Send("c", "go"))
	h2, ok := d.Task("c")
	require.True(t, ok)
	_, err = h2.Wait(ctx)
	require.ErrorContains(t, err, "journal seq 1 is corrupt")
	status, serr := st.Status(ctx, "c")
	require.NoError(t, serr)
	require.Equal(t, task.Failed, status)
}

// TestDurableHandleRecord (issue 9, point 7): Record on a durable handle
// returns the stored task, its journal and mailbox, not an empty record.
func TestDurableHandleRecord(t *testing.T) {
	prog := effect.NewProgram("rec", 1, func(n int) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			effect.Call(e, keyOf{N: n})
			return effect.Await(e, effect.Receive[string]())
		})
	})
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, prog))
	st := openSQLite(t, "")
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d.Close()
	h, err := interp.StartProgram(d, prog, 1)
	require.NoError(t, err)
	ctx := context.Background()
	poll.Eventually(t, func() (bool, error) {
		rec, _, err := st.Load(ctx, h.ID())
		return err == nil && len(rec.Journal) == 1 && rec.Wait != nil && rec.Wait.Kind == task.WaitReceive, err
	}, "the task waits")
	rec, err := h.Record()
	require.NoError(t, err)
	require.Equal(t, "rec", rec.Program)
	require.Len(t, rec.Journal, 1)
	require.Equal(t, task.Waiting, rec.Status)
	require.NoError(t, d.Send(h.ID(), "hello"))
	v, err := h.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "hello", v)
	rec, err = h.Record()
	require.NoError(t, err)
	require.Equal(t, task.Done, rec.Status)
	require.Equal(t, `"hello"`, task.Render(rec.Result))

}
