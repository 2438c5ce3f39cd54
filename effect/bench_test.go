package effect_test

import (
	"context"
	"iter"
	"runtime"
	"testing"

	"github.com/amberrt/amber/effect"
)

// Decr is the countdown benchmarks' op: it decrements a counter held by the
// handler and yields the new value.
type Decr struct{ effect.Returns[int] }

type counter interface{ Decr() int }

type intCounter struct{ n int }

func (c *intCounter) Decr() int { c.n--; return c.n }

// measure runs f (which performs n effects) and reports per-effect metrics.
func measure(b *testing.B, f func(n int)) {
	b.Helper()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	f(b.N)
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/effect")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N), "allocs/effect")
}

// BenchmarkCountdownPlain is the baseline: the same loop calling a Go
// interface method instead of performing an effect.
func BenchmarkCountdownPlain(b *testing.B) {
	measure(b, func(n int) {
		var c counter = &intCounter{n}
		for c.Decr() > 0 {
		}
	})
}

func countdownTree() effect.Eff[int] {
	return effect.Then(effect.Perform(Decr{}), func(n int) effect.Eff[int] {
		if n <= 0 {
			return effect.Pure(n)
		}
		return countdownTree()
	})
}

var countdownDirect = effect.Do(func(e *effect.Ctx) int {
	for {
		if n := effect.Call(e, Decr{}); n <= 0 {
			return n
		}
	}
})

// runCountdown drives p with a typed handler for Decr, the way an
// interpreter that does not journal would.
func runCountdown(b *testing.B, p effect.Eff[int], n int) {
	c := &intCounter{n}
	h := effect.Handle(func(_ context.Context, _ Decr) (int, error) { return c.Decr(), nil })
	ctx := context.Background()
	m := effect.NewMachine(p)
	m.Run()
	for !m.Done() {
		pp := m.Pending()[0]
		if err := h.CallResume(ctx, m, pp.ID, pp.Op); err != nil {
			b.Fatal(err)
		}
	}
	if r, err := m.Result(); err != nil || r != 0 {
		b.Fatalf("countdown ended with %v, %v", r, err)
	}
}

// BenchmarkCountdownTree counts down with a tree-style program: one op and
// one bind per effect.
func BenchmarkCountdownTree(b *testing.B) {
	measure(b, func(n int) { runCountdown(b, countdownTree(), n) })
}

// BenchmarkCountdownDirect counts down with a direct-style program.
func BenchmarkCountdownDirect(b *testing.B) {
	measure(b, func(n int) { runCountdown(b, countdownDirect, n) })
}

// BenchmarkPullSwitch is the floor under direct style: one round trip
// between a driver and an iter.Pull coroutine (next, then yield), with no
// Machine at all.
func BenchmarkPullSwitch(b *testing.B) {
	measure(b, func(n int) {
		next, stop := iter.Pull(func(yield func(int) bool) {
			for i := 0; ; i++ {
				if !yield(i) {
					return
				}
			}
		})
		defer stop()
		for range n {
			next()
		}
	})
}
