// Package durabench holds the durable interpreter's benchmark workloads,
// so that every store runs the same ones (store/sqlite and store/postgres
// call them from their benchmarks) and reports the same metrics: a
// program of n sequential trivial activities, started from many
// goroutines or one at a time, with the store transactions it cost.
package durabench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// Step is a trivial activity: it returns N+1.
type Step struct {
	effect.Returns[int]
	// N is the input: the result of the step before.
	N int
}

// Run returns N+1.
func (s Step) Run(context.Context) (int, error) { return s.N + 1, nil }

// Steps is the program "steps<n>": n sequential Steps, each fed the result
// of the one before.
func Steps(n int) *effect.Program[int, int] {
	return effect.NewProgram(fmt.Sprintf("steps%d", n), 1, func(int) effect.Eff[int] {
		var loop func(i, acc int) effect.Eff[int]
		loop = func(i, acc int) effect.Eff[int] {
			if i == n {
				return effect.Pure(acc)
			}
			return effect.Then(effect.Perform(Step{N: acc}), func(v int) effect.Eff[int] { return loop(i+1, v) })
		}
		return loop(0, 0)
	})
}

// Env is a durable interpreter over a counted store.
type Env struct {
	// D runs the tasks; Count counts the store's write transactions.
	D     *interp.Durable
	Count *storetest.Counted
}

// Open starts a durable interpreter with 128 workers over st (counted),
// closed when b ends (st is not).
func Open(b testing.TB, st store.Store, progs ...effect.AnyProgram) *Env {
	b.Helper()
	reg := task.NewRegistry()
	for _, p := range progs {
		if err := reg.Add(p); err != nil {
			b.Fatal(err)
		}
	}
	counted, c := storetest.Count(st)
	d, err := interp.NewDurable(counted, interp.WithRegistry(reg), interp.WithWorkers(128),
		interp.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 20 * time.Millisecond}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return &Env{D: d, Count: c}
}

// RunAll starts n tasks of p, from 64 goroutines as a server taking
// requests would, and waits for them all.
func RunAll(b testing.TB, env *Env, p effect.AnyProgram, n int, prefix string) {
	ctx := context.Background()
	tasks := make([]*interp.Handle[any], n)
	var starters sync.WaitGroup
	for g := range 64 {
		starters.Go(func() {
			for i := g; i < n; i += 64 {
				t, err := interp.StartAny(env.D, p, 0, interp.WithID(fmt.Sprintf("%s-%d", prefix, i)))
				if err != nil {
					b.Error(err)
					return
				}
				tasks[i] = t
			}
		})
	}
	starters.Wait()
	if b.Failed() {
		b.FailNow()
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, t := range tasks {
		wg.Go(func() {
			if _, err := t.Wait(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// LatencyRuns is the least number of tasks Latency times: with fewer, its
// 99th percentile would be the slowest one or two (a single stall of a
// shared machine), not a percentile.
const LatencyRuns = 1000

// LatencyWarmUp is the number of tasks Latency runs, untimed, before it
// times any: the first connections, statements and plans are made then.
const LatencyWarmUp = 10

// Latency runs tasks of p one at a time, from start to result, at least
// LatencyRuns of them after LatencyWarmUp untimed ones, and reports the
// median and 99th percentile (p50-ms, p99-ms) and the store transactions
// that wrote something per task (commits/workflow; each one, on a durable
// store, waits for the disk).
func Latency(b *testing.B, env *Env, p effect.AnyProgram, prefix string) {
	ctx := context.Background()
	run := func(id string) time.Duration {
		start := time.Now()
		t, err := interp.StartAny(env.D, p, 0, interp.WithID(id))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := t.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	for i := range LatencyWarmUp {
		run(fmt.Sprint(prefix, "warm", i))
	}
	var lat []time.Duration
	before := env.Count.Tally()
	b.ResetTimer()
	n := max(b.N, LatencyRuns)
	for i := range n {
		lat = append(lat, run(fmt.Sprint(prefix, i)))
	}
	b.StopTimer()
	after := env.Count.Tally()
	p50, p99 := Percentiles(lat)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(float64(after.Writes()-before.Writes())/float64(n), "commits/workflow")
}

// Percentiles sorts lat and returns its median and 99th percentile, in ms.
func Percentiles(lat []time.Duration) (p50, p99 float64) {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100])
}
