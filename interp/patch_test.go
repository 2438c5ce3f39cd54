package interp_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/interp/interptest"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// The three builds of a program whose change is rolled out with a patch:
// before the change, with the patch, and after the patch is removed.
func charge(build string) *effect.Program[int, int] {
	return effect.NewProgram("charge", 1, func(n int) effect.Eff[int] {
		return effect.Do(func(e *effect.Ctx) int {
			var v int
			switch {
			case build == "before" || build == "patched" && !e.Patched("charge-first"):
				e.Log(slog.LevelInfo, "charging")
				v = effect.Call(e, interptest.Double{N: n})
			default: // the new code, patched or not
				v = effect.Call(e, interptest.Double{N: n})
				e.Log(slog.LevelInfo, "charged")
			}
			return v + len(effect.Await(e, effect.Receive[string]()))
		})
	})
}

// record runs build on the mock until it waits for its message, and
// returns the task's record.
func record(t *testing.T, build string) *task.Record {
	t.Helper()
	m := interp.NewMock()
	h, err := interp.StartProgram(m, charge(build), 5)
	require.NoError(t, err)
	m.RunUntilIdle()
	rec, err := h.Record()
	require.NoError(t, err)
	return rec
}

func TestPatched(t *testing.T) {
	ctx := context.Background()
	old, patched := record(t, "before"), record(t, "patched")

	// The patched build replays a task recorded before the change: it
	// takes the old branch, and says so.
	r, err := interp.Replay(ctx, charge("patched"), 5, old.Journal)
	require.NoError(t, err)
	require.Equal(t, []string{"charge-first"}, r.Unpatched)
	require.Len(t, r.Journal, 2, "no marker is added to an old journal")

	// Live, it takes the new branch, with a marker first.
	j := patched.Journal
	require.Len(t, j, 3)
	require.Equal(t, "effect.PatchOp", j[0].Kind)
	require.Equal(t, "interptest.Double", j[1].Kind)
	r, err = interp.Replay(ctx, charge("patched"), 5, j)
	require.NoError(t, err)
	require.Empty(t, r.Unpatched)

	// With the patch removed, a task that took the new branch still fits
	// (its marker is skipped), and one that took the old branch does not.
	r, err = interp.Replay(ctx, charge("after"), 5, j)
	require.NoError(t, err)
	require.Len(t, r.Journal, 3, "the skipped marker stays in the journal")
	_, err = interp.Replay(ctx, charge("after"), 5, old.Journal)
	var de *interp.DivergenceError
	require.ErrorAs(t, err, &de)
	require.Equal(t, uint64(1), de.Seq)

	// A task resumed across the change finishes on its branch, with the
	// same op numbering as the run that recorded it.
	for _, c := range []struct {
		build string
		rec   *task.Record
	}{{"patched", old}, {"patched", patched}, {"after", patched}} {
		reg := task.NewRegistry()
		require.NoError(t, task.Register(reg, charge(c.build)))
		m := interp.NewMock(interp.WithRegistry(reg))
		h, err := interp.Restore(m, c.rec)
		require.NoError(t, err)
		m.RunUntilIdle()
		require.NoError(t, m.Send(h.ID(), "ok"))
		v, err := h.Wait(ctx)
		require.NoError(t, err, "%s on %d entries", c.build, len(c.rec.Journal))
		require.Equal(t, 12, v)
	}
}
