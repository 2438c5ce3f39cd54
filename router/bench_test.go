package router_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/router"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

var quiet = slog.New(slog.DiscardHandler)

// calls is the program that calls sub n times in a row.
func calls(n int, sub func(i int) effect.Eff[string]) effect.Eff[int] {
	var loop func(i int) effect.Eff[int]
	loop = func(i int) effect.Eff[int] {
		if i == n {
			return effect.Pure(n)
		}
		return effect.Then(sub(i), func(string) effect.Eff[int] { return loop(i + 1) })
	}
	return loop(0)
}

// BenchmarkRouterCall: b.N calls of a function through the router under a
// Primary policy, against b.N calls of the same sub-program directly, in
// one task each on Live, measured in the same run; x-direct is the ratio.
// "handlers": the function performs two handled ops (a read and a
// write), as a function that does something does; "inline": it performs
// one inline op (Now), the worst case for the router's one extra op.
func BenchmarkRouterCall(b *testing.B) {
	for _, kind := range []string{"handlers", "inline"} {
		b.Run(kind, func(b *testing.B) {
			fn := router.New[string, string]("f")
			var impl func(string) effect.Eff[string]
			if kind == "handlers" {
				impl = func(id string) effect.Eff[string] {
					return effect.Then(effect.Perform(GetUser{ID: id}), func(name string) effect.Eff[string] {
						return effect.As(effect.Perform(Notify{To: id}), name)
					})
				}
			} else {
				impl = func(id string) effect.Eff[string] {
					return effect.Map(effect.Now(), func(time.Time) string { return id })
				}
			}
			router.Register(fn, "1", impl)
			table := &router.MemTable{}
			_ = table.Set(fn, "f", router.Policy{Primary: "1"})
			rt := router.NewRouter(table, router.Options{})
			_ = rt.Refresh(context.Background())
			l := interp.NewLive(interp.WithLogger(quiet), interp.WithRoutes(rt), interp.WithHandlers(
				effect.Handle(func(_ context.Context, q GetUser) (string, error) { return q.ID, nil }),
				effect.Handle(func(_ context.Context, n Notify) (effect.Unit, error) { return effect.Unit{}, nil }),
			))
			defer l.Close()
			ctx := context.Background()
			timed := func(p effect.Eff[int]) time.Duration {
				start := time.Now()
				if _, err := interp.Run(ctx, l, p); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			// Ten alternating rounds of each, so that a change in the
			// machine's load falls on both sides.
			rounds := 10
			per := max(b.N/rounds, 1)
			var direct, routed time.Duration
			b.ResetTimer()
			for range rounds {
				direct += timed(calls(per, func(int) effect.Eff[string] { return impl("7") }))
				routed += timed(calls(per, func(int) effect.Eff[string] { return router.Run(fn, "7") }))
			}
			n := per * rounds
			b.ReportMetric(float64(direct.Nanoseconds())/float64(n), "direct-ns/call")
			b.ReportMetric(float64(routed.Nanoseconds())/float64(n), "routed-ns/call")
			b.ReportMetric(float64(routed)/float64(direct), "x-direct")
		})
	}
}

// shadowBench is a durable worker on SQLite serving requests that call a
// routed function, with or without a 100 % shadow.
type shadowBench struct {
	table *router.MemTable
	rt    *router.Router
	d     *interp.Durable
	st    *sqlite.Store
	fn    *router.Function[string, string]
	prog  *effect.Program[string, string]
	n     int
}

func newShadowBench(b *testing.B) *shadowBench {
	f := newFixture()
	sb := &shadowBench{table: &router.MemTable{}, fn: f.fn}
	sb.rt = router.NewRouter(sb.table, router.Options{Shadows: 8})
	sb.shadow(false)
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "amber.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	sb.st = st
	sb.prog = f.program()
	reg := task.NewRegistry()
	if err := task.Register(reg, sb.prog); err != nil {
		b.Fatal(err)
	}
	sb.d, err = interp.NewDurable(st, interp.WithRegistry(reg), interp.WithRoutes(sb.rt), interp.WithLogger(quiet), interp.WithHandlers(f.handler...))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sb.rt.Wait(); sb.d.Close(); st.Close() })
	return sb
}

func (sb *shadowBench) shadow(on bool) {
	p := router.Policy{Primary: "1"}
	if on {
		p.Shadow = &router.Shadow{Candidate: "same", Sampling: 1}
	}
	_ = sb.table.Set(sb.fn, "lookupUser", p)
	_ = sb.rt.Refresh(context.Background())
}

// request runs one request to its end and returns its latency.
func (sb *shadowBench) request(b *testing.B) time.Duration {
	sb.n++
	start := time.Now()
	h, err := interp.StartProgram(sb.d, sb.prog, fmt.Sprint(sb.n%3))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := h.Wait(context.Background()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func p50(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkShadowPrimaryLatency: one request at a time, durable on
// SQLite (synchronous=FULL), alternating blocks of requests with the
// shadow off and on (sampling 100 %, a candidate that reproduces the
// primary, compared and A/A-checked off the request's path); the p50 of
// each and their ratio.
func BenchmarkShadowPrimaryLatency(b *testing.B) {
	sb := newShadowBench(b)
	var off, on []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i += 10 {
		sb.shadow(false)
		for range 5 {
			off = append(off, sb.request(b))
		}
		sb.shadow(true)
		for range 5 {
			on = append(on, sb.request(b))
		}
	}
	b.StopTimer()
	sb.rt.Wait()
	b.ReportMetric(float64(p50(off).Microseconds()), "off-p50-µs")
	b.ReportMetric(float64(p50(on).Microseconds()), "on-p50-µs")
	b.ReportMetric(float64(p50(on))/float64(p50(off)), "x-off")
	s := sb.rt.Stats("lookupUser")
	b.ReportMetric(float64(s.Dropped), "dropped")
}

// BenchmarkShadowThroughput: requests per second of 64 concurrent
// clients, durable on SQLite, with the shadow off and on (sampling 100 %),
// alternating in one run (off, on, on, off); the ratio on/off. The rate
// counts the time until the shadows are done too.
func BenchmarkShadowThroughput(b *testing.B) {
	sb := newShadowBench(b)
	rate := func(n int) float64 {
		var wg sync.WaitGroup
		start := time.Now()
		per := max(n/64, 1)
		for range 64 {
			wg.Go(func() {
				for range per {
					sb.request(b)
				}
			})
		}
		wg.Wait()
		sb.rt.Wait() // the shadows' work counts against the rate
		return float64(64*per) / time.Since(start).Seconds()
	}
	b.ResetTimer()
	// Off, on, on, off: the store grows as requests run, and each side
	// gets as many early rounds as late ones.
	var off, on float64
	for _, shadow := range []bool{false, true, true, false} {
		sb.shadow(shadow)
		if shadow {
			on += rate(b.N)
		} else {
			off += rate(b.N)
		}
	}
	b.ReportMetric(off/2, "off-req/s")
	b.ReportMetric(on/2, "on-req/s")
	b.ReportMetric(on/off, "x-off")
	s := sb.rt.Stats("lookupUser")
	b.ReportMetric(float64(s.Dropped), "dropped")
}
