package effect_test

import (
	"context"
	"iter"
	"runtime"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
)

// Decr is the countdown benchmarks' op: it decrements a counter held by the
// handler and yields the new value.
type Decr struct{ effect.Returns[int] }

type counter interface{ Decr() int }

type intCounter struct{ n int }

// Decr is not inlined, so that the baseline below performs a real call.
//
//go:noinline
func (c *intCounter) Decr() int { c.n--; return c.n }

// plainCounter holds the baseline's counter in a global, so that the
// compiler cannot see its dynamic type and devirtualize the call.
var plainCounter counter

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

// baseline is what a benchmark is measured against in the same run: run
// does n of what unit counts; ratio names the benchmark's time over the
// baseline's.
type baseline struct {
	run         func(n int)
	unit, ratio string
}

// measureAgainst is measure with baselines in the same run: f and each
// baseline run in alternating rounds, so that noise from the shared
// machine falls on all alike. It reports f's time and allocations per
// effect (ns/op is f's alone), each baseline's time per unit, and f's time
// over each baseline's.
func measureAgainst(b *testing.B, f func(n int), bases ...baseline) {
	b.Helper()
	const rounds = 8
	var ms0, ms1 runtime.MemStats
	var fNs int64
	baseNs := make([]int64, len(bases))
	var mallocs uint64
	runtime.GC()
	b.ResetTimer()
	b.StopTimer()
	for r := range rounds {
		n := b.N / rounds
		if r < b.N%rounds {
			n++
		}
		if n == 0 {
			continue
		}
		for i, base := range bases {
			start := time.Now()
			base.run(n)
			baseNs[i] += time.Since(start).Nanoseconds()
		}
		runtime.ReadMemStats(&ms0)
		b.StartTimer()
		start := time.Now()
		f(n)
		fNs += time.Since(start).Nanoseconds()
		b.StopTimer()
		runtime.ReadMemStats(&ms1)
		mallocs += ms1.Mallocs - ms0.Mallocs
	}
	perEffect := func(x int64) float64 { return float64(x) / float64(b.N) }
	b.ReportMetric(perEffect(fNs), "ns/effect")
	b.ReportMetric(float64(mallocs)/float64(b.N), "allocs/effect")
	for i, base := range bases {
		b.ReportMetric(perEffect(baseNs[i]), base.unit)
		if baseNs[i] > 0 {
			b.ReportMetric(float64(fNs)/float64(baseNs[i]), base.ratio)
		}
	}
}

// countdownPlain counts n down with an interface call per step. The
// method is not inlined and the interface sits in a global, so every
// step loads the interface, calls through its method table and returns
// (go test -c, then go tool objdump -s CountdownPlain, shows the CALL).
func countdownPlain(n int) {
	plainCounter = &intCounter{n}
	for plainCounter.Decr() > 0 {
	}
}

// pullRoundTrips makes n round trips between the caller and an iter.Pull
// coroutine (next, then yield), with nothing else around them: the floor
// under direct style.
func pullRoundTrips(n int) {
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
}

// pullRoundTripsFramed is pullRoundTrips with one frame between each side's
// loop and the switch, as when an interpreter calls into the Machine to
// resume a body and a body calls a function to perform an effect. Each
// frame is a return the CPU mispredicts after every switch (its
// return-address stack holds the other goroutine's calls). effect.Call is
// inlined into the body, so the body's side has no such frame: see
// pullRoundTripsResumed for the floor.
func pullRoundTripsFramed(n int) {
	next, stop := iter.Pull(func(yield func(int) bool) {
		for i := 0; framedYield(yield, i); i++ {
		}
	})
	defer stop()
	for range n {
		framedNext(next)
	}
}

// pullRoundTripsResumed is pullRoundTrips with one frame on the
// interpreter's side only: the depth at which an interpreter resumes a
// direct-style body through Machine.Resume, or through CallResume before
// CallResume was inlined into the interpreter's loop (it now switches from
// the loop's own frame, as pullRoundTrips does), with a body that performs
// its effect through Call, which is inlined into the body.
func pullRoundTripsResumed(n int) {
	next, stop := iter.Pull(func(yield func(int) bool) {
		for i := 0; yield(i); i++ {
		}
	})
	defer stop()
	for range n {
		framedNext(next)
	}
}

//go:noinline
func framedNext(next func() (int, bool)) { next() }

//go:noinline
func framedYield(yield func(int) bool, i int) bool { return yield(i) }

// BenchmarkCountdownPlain is the baseline of the countdowns: the same loop
// calling a Go interface method instead of performing an effect.
func BenchmarkCountdownPlain(b *testing.B) { measure(b, countdownPlain) }

// BenchmarkPullSwitch is the floor under direct style: one bare iter.Pull
// round trip per effect, with no Machine at all.
func BenchmarkPullSwitch(b *testing.B) { measure(b, pullRoundTrips) }

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
// one bind per effect. Its baseline is the plain countdown.
func BenchmarkCountdownTree(b *testing.B) {
	measureAgainst(b, func(n int) { runCountdown(b, countdownTree(), n) },
		baseline{countdownPlain, "plain-ns/call", "x-plain"})
}

// BenchmarkCountdownDirect counts down with a direct-style program. Its
// baselines are one bare iter.Pull round trip per effect (what
// BenchmarkPullSwitch measures alone; x-pull is the ratio), one round trip
// with a frame on each side (x-framed; see pullRoundTripsFramed), and one
// round trip with a frame on the interpreter's side (x-floor; see
// pullRoundTripsResumed). CallResume and Call are both inlined, so the
// countdown switches at the depth of the bare round trip: x-pull is the
// ratio that measures the Machine's own work.
func BenchmarkCountdownDirect(b *testing.B) {
	measureAgainst(b, func(n int) { runCountdown(b, countdownDirect, n) },
		baseline{pullRoundTrips, "pull-ns/switch", "x-pull"},
		baseline{pullRoundTripsFramed, "framed-ns/switch", "x-framed"},
		baseline{pullRoundTripsResumed, "floor-ns/switch", "x-floor"})
}
