package interp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/interp/interptest"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// fifty is a program of 50 ops (25 activities and 25 clock reads) that
// then waits for a message: an in-flight task with a journal of 50.
func fifty(version int) *effect.Program[int, int] {
	return effect.NewProgram("fifty", version, func(n int) effect.Eff[int] {
		return effect.Do(func(e *effect.Ctx) int {
			sum := 0
			for i := range 25 {
				sum += effect.Call(e, interptest.Double{N: n + i})
				e.Now()
			}
			return sum + len(effect.Await(e, effect.Receive[string]()))
		})
	})
}

// fiftyRecords returns n in-flight records of fifty v1.
func fiftyRecords(t testing.TB, n int) []*task.Record {
	m := interp.NewMock()
	h, err := interp.StartProgram(m, fifty(1), 3)
	require.NoError(t, err)
	m.RunUntilIdle()
	rec, err := h.Record()
	require.NoError(t, err)
	require.Len(t, rec.Journal, 50)
	recs := make([]*task.Record, n)
	for i := range recs {
		r := *rec
		r.ID = fmt.Sprintf("fifty-%05d", i)
		recs[i] = &r
	}
	return recs
}

func TestChecker(t *testing.T) {
	reg := task.NewRegistry()
	require.NoError(t, task.Register(reg, fifty(1)))
	require.NoError(t, task.Register(reg, fifty(2)))
	changed := effect.NewProgram("fifty", 3, func(n int) effect.Eff[int] {
		return effect.Do(func(e *effect.Ctx) int {
			effect.Call(e, interptest.Double{N: n})
			effect.Call(e, interptest.Double{N: n}) // where a clock read was
			return 0
		})
	})
	require.NoError(t, task.Register(reg, changed))
	c := interp.NewChecker(interp.WithRegistry(reg))
	ctx := context.Background()
	for _, rec := range fiftyRecords(t, 3) {
		got := c.Check(ctx, rec, 2)
		require.True(t, got.Fits, "%+v", got)
		require.Equal(t, 50, got.Entries)
		got = c.Check(ctx, rec, 3)
		require.False(t, got.Fits)
		require.NoError(t, got.Err)
		require.Equal(t, uint64(2), got.Divergence.Seq)
		got = c.Check(ctx, rec, 4)
		require.ErrorIs(t, got.Err, task.ErrUnknownProgram)
	}
	bad := fiftyRecords(t, 1)[0]
	bad.Input = []byte{0xff}
	require.ErrorContains(t, c.Check(ctx, bad, 2).Err, "input does not decode")
}

// BenchmarkDeployCheck checks 10,000 in-flight tasks of 50 journal
// entries each against another version of their program, on one
// goroutine; BenchmarkReplay is the baseline of one long replay.
func BenchmarkDeployCheck(b *testing.B) {
	const tasks = 10_000
	reg := task.NewRegistry()
	if err := task.Register(reg, fifty(1)); err != nil {
		b.Fatal(err)
	}
	if err := task.Register(reg, fifty(2)); err != nil {
		b.Fatal(err)
	}
	recs := fiftyRecords(b, tasks)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		c := interp.NewChecker(interp.WithRegistry(reg))
		for _, rec := range recs {
			if r := c.Check(ctx, rec, 2); !r.Fits {
				b.Fatalf("%+v", r)
			}
		}
	}
	s := time.Since(start).Seconds()
	b.ReportMetric(float64(tasks*50*b.N)/s, "entries/s")
	b.ReportMetric(float64(tasks*b.N)/s, "tasks/s")
}
