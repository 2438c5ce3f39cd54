package supervise_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stm"
	"github.com/amberrt/amber/stm/world"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/supervise"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// BenchmarkSupervisedRestart crashes a supervised worker b.N times under
// the mock interpreter and reports restarts per second: the supervisor's
// Exit handling, the intensity bookkeeping and a fresh spawn and link per
// crash.
func BenchmarkSupervisedRestart(b *testing.B) {
	h := start(&testing.T{}, supervise.Spec{Strategy: supervise.OneForOne, Intensity: 100, Period: 10 * time.Millisecond,
		Children: []supervise.Child{child("w", supervise.Permanent)}})
	id := h.id("w")
	b.ResetTimer()
	for range b.N {
		if err := h.m.Send(id, Cmd("crash")); err != nil {
			b.Fatal(err)
		}
		h.m.RunUntilIdle()
		b.StopTimer()
		next := h.id("w")
		if next == id {
			b.Fatal("not restarted")
		}
		id = next
		h.m.Advance(time.Millisecond) // keep the restart window short
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "restarts/s")
}

// BenchmarkSupervisedRestartDurable is BenchmarkSupervisedRestart under
// the durable interpreter over SQLite (synchronous=FULL): every restart is
// the crashed child's final step committing its exit signal, the
// supervisor's step taking it and spawning and linking the new child, and
// the new child's first step, each a durable commit. The child counts its
// starts in a world var and crashes until it has been restarted b.N times.
func BenchmarkSupervisedRestartDurable(b *testing.B) {
	w := world.New()
	starts := world.Named(w, "starts", 0)
	crashy := effect.NewProgram("crashy", 1, func(limit int) effect.Eff[effect.Unit] {
		return effect.Do(func(e *effect.Ctx) effect.Unit {
			n := effect.Await(e, effect.Atomically(func(tx *stm.Tx) (int, error) {
				return stm.Modify(tx, starts, func(n int) int { return n + 1 }), nil
			}))
			if n <= limit {
				panic("crash")
			}
			return effect.Unit{}
		})
	})
	benchPool := effect.NewProgram("benchpool", 1, func(limit int) effect.Eff[effect.Unit] {
		return supervise.Supervisor(supervise.Spec{Strategy: supervise.OneForOne, Intensity: limit + 10, Period: time.Hour,
			Children: []supervise.Child{{Name: "c", Start: supervise.Worker(crashy), Input: limit, Restart: supervise.Transient}}})
	})
	reg := task.NewRegistry()
	require.NoError(b, task.Register(reg, crashy))
	require.NoError(b, task.Register(reg, benchPool))
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "amber.db"), nil)
	require.NoError(b, err)
	defer st.Close()
	d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithWorld(w), interp.WithLogger(quiet),
		interp.WithDurableOptions(interp.DurableOptions{Poll: time.Millisecond}))
	require.NoError(b, err)
	defer d.Close()
	b.ResetTimer()
	_, err = interp.StartProgram(d, benchPool, b.N)
	require.NoError(b, err)
	for {
		done, err := st.List(context.Background(), store.Filter{Program: "crashy", Status: task.Done})
		require.NoError(b, err)
		if len(done) == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	failed, err := st.List(context.Background(), store.Filter{Program: "crashy", Status: task.Failed})
	require.NoError(b, err)
	require.Len(b, failed, b.N, "one crashed child per restart")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "restarts/s")
}
