package cron_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/stdlib/cron"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Seen records that a run started: its tick, and the time it started.
type Seen struct {
	effect.Returns[effect.Unit]
	Tick cron.Tick
	At   time.Time
}

// runs collects the Seen ops of a test's runs.
type runs struct {
	mu   sync.Mutex
	seen []Seen
}

func (r *runs) handler() effect.Handler {
	return effect.Handle(func(_ context.Context, s Seen) (effect.Unit, error) {
		r.mu.Lock()
		r.seen = append(r.seen, s)
		r.mu.Unlock()
		return effect.Unit{}, nil
	})
}

func (r *runs) ticks() []cron.Tick {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]cron.Tick, len(r.seen))
	for i, s := range r.seen {
		out[i] = s.Tick
	}
	return out
}

// job is the program a schedule starts: it records its tick, then works
// for d.
func job(d time.Duration) *effect.Program[cron.Tick, effect.Unit] {
	return effect.NewProgram("job", 1, func(t cron.Tick) effect.Eff[effect.Unit] {
		return effect.Do(func(e *effect.Ctx) effect.Unit {
			effect.Call(e, Seen{Tick: t, At: e.Now()})
			if d > 0 {
				e.Sleep(d)
			}
			return effect.Unit{}
		})
	})
}

var t0 = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

// world is a schedule on the mock, with what the tests look at.
type world struct {
	t     *testing.T
	reg   *task.Registry
	runs  *runs
	mock  *interp.Mock
	h     *interp.Handle[effect.Unit]
	sched *effect.Program[cron.State, effect.Unit]
}

func newWorld(t *testing.T, spec string, work time.Duration, o cron.Options) *world {
	w := &world{t: t, reg: task.NewRegistry(), runs: &runs{}}
	j := job(work)
	w.sched = cron.Every(spec, j, o)
	require.NoError(t, task.Register(w.reg, j))
	require.NoError(t, task.Register(w.reg, w.sched))
	w.mock = w.newMock(t0)
	h, err := interp.StartProgram(w.mock, w.sched, cron.State{}, interp.WithID("sched"))
	require.NoError(t, err)
	w.h = h
	return w
}

func (w *world) newMock(start time.Time) *interp.Mock {
	return interp.NewMock(interp.WithRegistry(w.reg), interp.WithHandlers(w.runs.handler()), interp.WithStartTime(start))
}

// advance runs the mock up to the time at and checks the schedule still
// runs.
func (w *world) advance(at time.Time) {
	w.t.Helper()
	w.mock.Advance(at.Sub(w.mock.Now()))
	if _, err, done := w.h.Result(); done {
		w.t.Fatalf("the schedule ended: %v", err)
	}
}

func hours(ts []cron.Tick) []string {
	var out []string
	for _, t := range ts {
		s := t.At.Sub(t0).String()
		if t.Missed > 0 {
			s += fmt.Sprintf("+%d", t.Missed)
		}
		out = append(out, s)
	}
	return out
}

func TestEvery(t *testing.T) {
	w := newWorld(t, "@every 1h", 0, cron.Options{})
	w.advance(t0.Add(5*time.Hour + time.Minute))
	require.Equal(t, []string{"1h0m0s", "2h0m0s", "3h0m0s", "4h0m0s", "5h0m0s"}, hours(w.runs.ticks()))
	// Each run started on time, and the schedule's journal stays short:
	// it continues as new at every wake-up.
	for _, s := range w.runs.seen {
		require.Equal(t, s.Tick.At, s.At)
	}
	j, err := w.h.Journal()
	require.NoError(t, err)
	require.LessOrEqual(t, len(j), 4, "%v", j)
}

// Runs take 100 minutes; ticks come every hour.
func TestOverlap(t *testing.T) {
	for _, c := range []struct {
		o     cron.Overlap
		ticks []string // ticks started by 5h30
		at    []string // when each started
	}{
		{cron.OverlapSkip, []string{"1h0m0s", "3h0m0s", "5h0m0s"}, []string{"1h0m0s", "3h0m0s", "5h0m0s"}},
		{cron.OverlapBufferOne, []string{"1h0m0s", "2h0m0s", "3h0m0s"}, []string{"1h0m0s", "2h40m0s", "4h20m0s"}},
		{cron.OverlapAllow, []string{"1h0m0s", "2h0m0s", "3h0m0s", "4h0m0s", "5h0m0s"}, []string{"1h0m0s", "2h0m0s", "3h0m0s", "4h0m0s", "5h0m0s"}},
	} {
		t.Run(c.o.String(), func(t *testing.T) {
			w := newWorld(t, "@every 1h", 100*time.Minute, cron.Options{Overlap: c.o})
			w.advance(t0.Add(5*time.Hour + 30*time.Minute))
			require.Equal(t, c.ticks, hours(w.runs.ticks()))
			var at []string
			for _, s := range w.runs.seen {
				at = append(at, s.At.Sub(t0).String())
			}
			require.Equal(t, c.at, at)
		})
	}
}

// A spec that does not parse fails the schedule's task, naming it.
func TestBadSpec(t *testing.T) {
	reg := task.NewRegistry()
	sched := cron.Every("61 * * * *", job(0), cron.Options{})
	h, err := interp.StartProgram(interp.NewMock(interp.WithRegistry(reg)), sched, cron.State{}, interp.WithID("nightly"))
	require.NoError(t, err)
	_, err = h.Wait(context.Background())
	require.ErrorIs(t, err, cron.ErrSpec)
	require.EqualError(t, err, `cron: task nightly: cron: bad schedule "61 * * * *": minute "61": "61" is not a minute in 0..59`)
}

// downtime is a window in which no worker runs the schedule.
type downtime struct{ from, to time.Time }

// restart stops the schedule's worker at d.from and starts a fresh one,
// from the schedule's record, at d.to. The mock re-arms a restored timer
// from its own clock, where a durable worker keeps the stored deadline
// and fires it at once if it has passed; the new mock's clock starts so
// that the timer fires when a durable worker's would: at the later of
// its deadline and the restart.
func (w *world) restart(spec *cron.Spec, d downtime) {
	w.t.Helper()
	w.advance(d.from)
	rec, err := w.h.Record()
	require.NoError(w.t, err)
	var woke time.Time
	require.Equal(w.t, "effect.NowOp", rec.Journal[0].Kind)
	require.NoError(w.t, task.Unmarshal(rec.Journal[0].Result, &woke))
	deadline := spec.Next(woke)
	start := woke
	if !d.to.Before(deadline) {
		start = d.to.Add(-deadline.Sub(woke))
	}
	w.mock = w.newMock(start)
	h, err := interp.Restore(w.mock, rec)
	require.NoError(w.t, err)
	w.h, err = interp.Attach(w.mock, w.sched, h.ID())
	require.NoError(w.t, err)
	w.advance(d.to)
}

// expect is the model: the ticks a schedule starts (runs end at once),
// given its downtimes, up to end.
func expect(spec *cron.Spec, o cron.Options, downs []downtime, end time.Time) []cron.Tick {
	grace := o.Grace
	if grace == 0 {
		grace = time.Minute
	}
	maxCatchUp := o.MaxCatchUp
	if maxCatchUp == 0 {
		maxCatchUp = 100
	}
	var out []cron.Tick
	last, woke := t0, t0
	for {
		deadline := spec.Next(woke)
		if deadline.IsZero() || deadline.After(end) {
			return out
		}
		woke = deadline
		for _, d := range downs {
			if deadline.After(d.from) && deadline.Before(d.to) {
				woke = d.to // the timer fires at the restart
			}
		}
		if woke.After(end) {
			return out
		}
		var due []time.Time
		for t := spec.Next(last); !t.IsZero() && !t.After(woke); t = spec.Next(t) {
			due = append(due, t)
		}
		if len(due) == 0 {
			continue
		}
		latest := due[len(due)-1]
		last = latest
		onTime := woke.Sub(latest) <= grace
		switch o.CatchUp {
		case cron.CatchUpOnce:
			out = append(out, cron.Tick{At: latest, Missed: len(due) - 1})
		case cron.CatchUpSkip:
			if onTime {
				out = append(out, cron.Tick{At: latest})
			}
		case cron.CatchUpAll:
			keep := due
			if onTime {
				keep = due[max(0, len(due)-maxCatchUp-1):]
			} else if len(due) > maxCatchUp {
				keep = due[len(due)-maxCatchUp:]
			}
			for _, t := range keep {
				out = append(out, cron.Tick{At: t})
			}
		}
	}
}

// genSpec draws a schedule whose ticks fall on whole minutes.
func genSpec(t *rapid.T) string {
	if rapid.Bool().Draw(t, "every") {
		return fmt.Sprintf("@every %dm", rapid.IntRange(1, 240).Draw(t, "minutes"))
	}
	minute := rapid.SampledFrom([]string{
		fmt.Sprintf("*/%d", rapid.IntRange(5, 59).Draw(t, "minute step")),
		fmt.Sprint(rapid.IntRange(0, 59).Draw(t, "minute")),
		fmt.Sprintf("%d,%d", rapid.IntRange(0, 29).Draw(t, "m1"), rapid.IntRange(30, 59).Draw(t, "m2")),
	}).Draw(t, "minute field")
	hour := rapid.SampledFrom([]string{"*", fmt.Sprintf("*/%d", rapid.IntRange(2, 12).Draw(t, "hour step")),
		fmt.Sprintf("%d-%d", rapid.IntRange(0, 11).Draw(t, "h1"), rapid.IntRange(12, 23).Draw(t, "h2"))}).Draw(t, "hour field")
	dow := rapid.SampledFrom([]string{"*", "1-5", "0,6", "3"}).Draw(t, "dow")
	return fmt.Sprintf("%s %s * * %s", minute, hour, dow)
}

// The schedule starts the ticks the model says, for random specs,
// downtimes and catch-up policies, on the virtual clock.
func TestCatchUpProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		spec := genSpec(rt)
		o := cron.Options{CatchUp: cron.CatchUp(rapid.IntRange(0, 2).Draw(rt, "catch-up")), MaxCatchUp: rapid.IntRange(0, 20).Draw(rt, "max catch-up")}
		end := t0.Add(3*24*time.Hour + 17*time.Second)
		// Downtimes start and end 17 seconds past a minute: never on a
		// tick.
		var downs []downtime
		from := t0
		for range rapid.IntRange(0, 4).Draw(rt, "downtimes") {
			start := from.Add(time.Duration(rapid.IntRange(1, 24*60).Draw(rt, "up (min)"))*time.Minute + 17*time.Second)
			stop := start.Add(time.Duration(rapid.IntRange(1, 36*60).Draw(rt, "down (min)")) * time.Minute)
			if stop.After(end) {
				break
			}
			downs = append(downs, downtime{start, stop})
			from = stop.Add(-17 * time.Second)
		}
		s, err := cron.Parse(spec)
		if err != nil {
			rt.Fatal(err)
		}
		w := newWorld(t, spec, 0, o)
		for _, d := range downs {
			w.restart(s, d)
		}
		w.advance(end)
		want := expect(s, o, downs, end)
		if got := w.runs.ticks(); fmt.Sprint(got) != fmt.Sprint(want) {
			rt.Fatalf("spec %q, catch-up %s, downtimes %v:\n got %v\nwant %v", spec, o.CatchUp, downs, hours(got), hours(want))
		}
	})
}

func TestOptionsStrings(t *testing.T) {
	require.Equal(t, "once skip all CatchUp(7)", strings.Join([]string{cron.CatchUpOnce.String(), cron.CatchUpSkip.String(), cron.CatchUpAll.String(), cron.CatchUp(7).String()}, " "))
	require.Equal(t, "skip buffer-one allow Overlap(7)", strings.Join([]string{cron.OverlapSkip.String(), cron.OverlapBufferOne.String(), cron.OverlapAllow.String(), cron.Overlap(7).String()}, " "))
}
