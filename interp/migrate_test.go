package interp_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/interp/interptest"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/memstore"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// renewAt is version v of a program that calls an activity and waits for
// a message. From version 2 on it logs a line before the activity in
// tasks of even inputs: the even tasks that recorded the activity under
// version 1 do not fit version 2; the odd ones do. Its result names the
// version that finished it.
func renewAt(v int) *effect.Program[int, string] {
	return effect.NewProgram("renew", v, func(n int) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			if v >= 2 && n%2 == 0 {
				e.Log(slog.LevelInfo, "renewing")
			}
			a := effect.Call(e, interptest.Double{N: n})
			msg := effect.Await(e, effect.Receive[string]())
			return fmt.Sprintf("v%d %d %s", v, a, msg)
		})
	})
}

func renewRegistry(t *testing.T, versions ...int) *task.Registry {
	reg := task.NewRegistry()
	for _, v := range versions {
		require.NoError(t, task.Register(reg, renewAt(v)))
	}
	return reg
}

// startRenew runs n tasks of renew v1 (IDs r0, r1, ...) on st until each
// waits for its message, and stops the worker.
func startRenew(t *testing.T, st store.Store, n int) []string {
	d, err := interp.NewDurable(st, interp.WithRegistry(renewRegistry(t, 1)), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("r%d", i)
		_, err := interp.StartProgram(d, renewAt(1), i, interp.WithID(ids[i]))
		require.NoError(t, err)
	}
	poll.Eventually(t, func() (bool, error) {
		for _, id := range ids {
			if rec, _, err := st.Load(context.Background(), id); err != nil || rec.Wait == nil || rec.Wait.Kind != task.WaitReceive {
				return false, err
			}
		}
		return true, nil
	}, "every task waits for its message")
	require.NoError(t, d.Close())
	return ids
}

// TestMigrator: the tasks whose journals fit version 2 move to it, each
// recorded; the others stay on version 1 to drain; a worker that has only
// version 2 finishes the moved ones and never touches the others.
func TestMigrator(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	ids := startRenew(t, st, 6)

	m := interp.NewMigrator(st, renewRegistry(t, 1, 2), interp.MigratorOptions{})
	var checks []interp.Check
	require.NoError(t, m.CheckAll(ctx, "renew", 1, 2, func(c interp.Check) { checks = append(checks, c) }))
	require.Len(t, checks, 6)
	for _, c := range checks {
		rec, _, err := st.Load(ctx, c.Task)
		require.NoError(t, err)
		require.Equal(t, 1, rec.Version, "a check moved %s", c.Task)
	}
	var moves []interp.Move
	require.NoError(t, m.Migrate(ctx, "renew", 1, 2, func(mv interp.Move) { moves = append(moves, mv) }))
	require.Len(t, moves, 6)
	for i, mv := range moves {
		require.Equal(t, ids[i], mv.Task)
		odd := i%2 == 1
		require.Equal(t, odd, mv.Moved, "task %s: %+v", mv.Task, mv)
		require.Equal(t, odd, mv.Fits)
		require.Empty(t, mv.Skipped)
		rec, _, err := st.Load(ctx, mv.Task)
		require.NoError(t, err)
		if odd {
			require.Equal(t, 2, rec.Version)
			require.Len(t, rec.Migrations, 1)
			require.Equal(t, 1, rec.Migrations[0].From)
			require.Equal(t, 2, rec.Migrations[0].To)
			require.False(t, rec.Migrations[0].At.IsZero())
		} else {
			require.Equal(t, 1, rec.Version)
			require.NotNil(t, mv.Divergence, "task %s", mv.Task)
			require.Equal(t, uint64(1), mv.Divergence.Seq)
		}
	}

	// A worker that has only version 2 finishes the moved tasks.
	d, err := interp.NewDurable(st, interp.WithRegistry(renewRegistry(t, 2)), interp.WithLogger(quiet), fastDurable)
	require.NoError(t, err)
	defer d.Close()
	reg := renewRegistry(t, 1)
	for _, id := range ids {
		env, err := reg.EncodeMessage("ok")
		require.NoError(t, err)
		require.NoError(t, st.Send(ctx, id, env))
	}
	for i, id := range ids {
		if i%2 == 0 {
			continue
		}
		waitStatus(t, st, id, task.Done)
		rec, _, err := st.Load(ctx, id)
		require.NoError(t, err)
		var out string
		require.NoError(t, task.Unmarshal(rec.Result, &out))
		require.Equal(t, fmt.Sprintf("v2 %d ok", 2*i), out)
	}
	vs, err := st.Versions(ctx, "renew")
	require.NoError(t, err)
	require.Len(t, vs, 2)
	require.Equal(t, store.Draining, vs[0].Drain, "v1 with its even tasks in flight")
	require.Equal(t, 3, vs[0].Total())
	require.Equal(t, 3, vs[1].Finished)
}

// stepBeforeClaim is a store in which the task takes a step (a journal
// entry no version of renew issues) between the migrator's check and its
// claim, as if a worker ran it then.
type stepBeforeClaim struct {
	store.Store
	t     *testing.T
	owner string
	done  atomic.Bool
}

func (s *stepBeforeClaim) ClaimID(ctx context.Context, owner, id string, now time.Time, lease time.Duration) (store.Lease, error) {
	if owner == s.owner && s.done.CompareAndSwap(false, true) {
		l, err := s.Store.ClaimID(ctx, "worker", id, now, lease)
		require.NoError(s.t, err)
		rec, _, err := s.Store.Load(ctx, id)
		require.NoError(s.t, err)
		errs, err := s.Store.Commit(ctx, []store.Step{{ID: id, Owner: "worker", Epoch: l.Epoch, Steps: l.Steps, Token: store.NewToken(),
			Append: storetest.NewEntries(uint64(len(rec.Journal))+1, 1), Status: task.Waiting, Wait: rec.Wait}})
		require.NoError(s.t, err)
		require.NoError(s.t, errs[0])
	}
	return s.Store.ClaimID(ctx, owner, id, now, lease)
}

// TestMigratorRechecksUnderTheLease: a task that takes a step between the
// check and the move is checked again under its lease, and stays where
// it is when it no longer fits.
func TestMigratorRechecksUnderTheLease(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	startRenew(t, st, 2)
	racy := &stepBeforeClaim{Store: st, t: t, owner: "migrator"}
	m := interp.NewMigrator(racy, renewRegistry(t, 1, 2), interp.MigratorOptions{Owner: "migrator"})
	mv, err := m.MigrateTask(ctx, "r1", 2)
	require.NoError(t, err)
	require.True(t, racy.done.Load(), "the step between check and claim was not taken")
	require.False(t, mv.Moved, "%+v", mv)
	require.False(t, mv.Fits)
	require.NotNil(t, mv.Divergence, "the check under the lease saw the new step")
	require.Equal(t, uint64(2), mv.Divergence.Seq, "the step after the activity's entry")
	rec, _, err := st.Load(ctx, "r1")
	require.NoError(t, err)
	require.Equal(t, 1, rec.Version)
	require.Empty(t, rec.Migrations)

	// Checked again later, r1 still does not fit: it stays on v1 to drain.
	mv, err = interp.NewMigrator(st, renewRegistry(t, 1, 2), interp.MigratorOptions{}).MigrateTask(ctx, "r1", 2)
	require.NoError(t, err)
	require.False(t, mv.Moved, "r1 took a step no version fits")
}

// stealBeforeMove is a store in which another worker takes the task over
// (the migrator's lease expired) just before the migrator moves it.
type stealBeforeMove struct {
	store.Store
	t *testing.T
}

func (s *stealBeforeMove) Migrate(ctx context.Context, r store.Repin) error {
	_, err := s.Store.ClaimID(ctx, "thief", r.ID, time.Now().Add(time.Hour), time.Minute)
	require.NoError(s.t, err)
	return s.Store.Migrate(ctx, r)
}

// TestMigratorStaleCannotMove: a migrator whose lease was lost cannot
// move the task.
func TestMigratorStaleCannotMove(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	startRenew(t, st, 2)
	m := interp.NewMigrator(&stealBeforeMove{Store: st, t: t}, renewRegistry(t, 1, 2), interp.MigratorOptions{Lease: time.Nanosecond})
	mv, err := m.MigrateTask(ctx, "r1", 2)
	require.NoError(t, err)
	require.True(t, mv.Fits)
	require.False(t, mv.Moved)
	require.Contains(t, mv.Skipped, "lease lost")
	rec, _, err := st.Load(ctx, "r1")
	require.NoError(t, err)
	require.Equal(t, 1, rec.Version)
	require.Empty(t, rec.Migrations)
}

// TestMigratorBadInput: a version the migrator's registry does not have
// is refused before anything is touched; a task leased by a running
// worker is skipped, not waited for.
func TestMigratorBadInput(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	startRenew(t, st, 2)
	m := interp.NewMigrator(st, renewRegistry(t, 1, 2), interp.MigratorOptions{})
	err := m.Migrate(ctx, "renew", 1, 3, func(interp.Move) { t.Error("a move to an unknown version") })
	require.ErrorIs(t, err, task.ErrUnknownProgram)
	require.ErrorContains(t, err, "renew")
	err = m.CheckAll(ctx, "nope", interp.Any, 1, func(interp.Check) { t.Error("a check of an unknown program") })
	require.ErrorIs(t, err, task.ErrUnknownProgram)
	_, err = st.ClaimID(ctx, "busy", "r1", time.Now(), time.Hour)
	require.NoError(t, err)
	var moves []interp.Move
	require.NoError(t, m.Migrate(ctx, "renew", 1, 2, func(mv interp.Move) { moves = append(moves, mv) }))
	require.Len(t, moves, 2)
	require.True(t, slices.ContainsFunc(moves, func(mv interp.Move) bool {
		return mv.Task == "r1" && !mv.Moved && mv.Fits && mv.Skipped != ""
	}), "%+v", moves)
	rec, _, err := st.Load(ctx, "r1")
	require.NoError(t, err)
	require.Equal(t, 1, rec.Version)
}

// TestDurableHonoursStoredCurrent: a worker starts new tasks on the
// version stored as current, and follows a change without a restart; it
// heartbeats the versions it has, and says it stopped when closed.
func TestDurableHonoursStoredCurrent(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	require.NoError(t, st.SetCurrent(ctx, "renew", 1))
	d, err := interp.NewDurable(st, interp.WithRegistry(renewRegistry(t, 1, 2)), interp.WithLogger(quiet),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond, Owner: "w1"}))
	require.NoError(t, err)
	version := func() int {
		h, err := interp.StartProgram(d, renewAt(2), 1)
		require.NoError(t, err)
		rec, _, err := st.Load(ctx, h.ID())
		require.NoError(t, err)
		return rec.Version
	}
	require.Equal(t, 1, version(), "the stored current version, not the highest registered")
	require.NoError(t, st.SetCurrent(ctx, "renew", 2))
	poll.Eventually(t, func() (bool, error) { return version() == 2, nil }, "a new task starts on v2")
	ws, err := st.Workers(ctx)
	require.NoError(t, err)
	require.Len(t, ws, 1)
	require.Equal(t, "w1", ws[0].ID)
	require.Equal(t, []task.ProgramVersion{{Program: "renew", Version: 1}, {Program: "renew", Version: 2}}, ws[0].Versions)
	require.True(t, ws[0].Live(time.Now()))
	require.NoError(t, d.Close())
	ws, err = st.Workers(ctx)
	require.NoError(t, err)
	require.False(t, ws[0].Live(time.Now()), "a closed worker is not live")
}
