// Package cron starts a program on a schedule, durably: a schedule is a
// task that runs forever, sleeping on a durable timer until the next tick,
// starting the program as a task of its own at each tick, and continuing
// as new after each wake-up so that its journal stays a few entries long.
// A schedule survives restarts of its worker; the ticks that passed while
// no worker ran are caught up by policy.
//
//	report := effect.NewProgram("report", 1, func(t cron.Tick) effect.Eff[string] { ... })
//	nightly := cron.Every("0 3 * * *", report, cron.Options{CatchUp: cron.CatchUpOnce})
//
//	task.Register(reg, report)
//	task.Register(reg, nightly)
//	interp.StartProgram(d, nightly, cron.State{}, interp.WithID("nightly-report"))
//
// # Ticks
//
// The schedule (see Parse) names the ticks. A tick is on time when the
// schedule wakes within Options.Grace of it (the timer fires late by a
// little on a busy worker); older ticks were missed, while no worker ran
// the schedule. The first run of a schedule starts at the first tick after
// it was started, not before.
//
// # Catch-up: the ticks missed while no worker ran
//
//   - CatchUpOnce (the default): the ticks that are due, missed or on
//     time, start one run, for the latest of them, with Tick.Missed
//     telling how many more it stands for.
//   - CatchUpSkip: missed ticks are dropped; an on-time tick runs.
//   - CatchUpAll: every due tick starts a run, in order, one after the
//     other (all at once under OverlapAllow); at most the latest
//     Options.MaxCatchUp missed ticks (default 100).
//
// # Overlap: a tick while a run is still running
//
// A tick that comes while a run is running, or while caught-up ticks wait
// their turn:
//
//   - OverlapSkip (the default): is dropped.
//   - OverlapBufferOne: is kept, and runs when the runs before it have
//     ended; a tick that comes while one is kept is dropped.
//   - OverlapAllow: runs at once, beside the others.
//
// A schedule watches its runs with effect.Monitor; a run that fails
// counts as ended (the schedule goes on; look at the run's task for its
// error).
//
// # Changing a schedule
//
// The spec and options are the program's code: a new spec for a running
// schedule is a new version of its program (Options.Version), which the
// schedule picks up at its next wake-up (it continues as new on the
// current version).
package cron

import (
	"fmt"
	"slices"
	"time"

	"github.com/amberrt/amber/effect"
)

// Tick is the input of a run: the time it was scheduled for.
type Tick struct {
	// At is the tick's time (UTC).
	At time.Time
	// Missed is the number of earlier ticks this run stands for
	// (CatchUpOnce); 0 otherwise.
	Missed int `cbor:",omitempty" json:",omitempty"`
}

// CatchUp is the policy for ticks that passed while no worker ran the
// schedule.
type CatchUp int

// The catch-up policies; see the package doc.
const (
	CatchUpOnce CatchUp = iota
	CatchUpSkip
	CatchUpAll
)

// String names the policy.
func (c CatchUp) String() string {
	switch c {
	case CatchUpOnce:
		return "once"
	case CatchUpSkip:
		return "skip"
	case CatchUpAll:
		return "all"
	}
	return fmt.Sprintf("CatchUp(%d)", int(c))
}

// Overlap is the policy for a tick that comes while a run is running.
type Overlap int

// The overlap policies; see the package doc.
const (
	OverlapSkip Overlap = iota
	OverlapBufferOne
	OverlapAllow
)

// String names the policy.
func (o Overlap) String() string {
	switch o {
	case OverlapSkip:
		return "skip"
	case OverlapBufferOne:
		return "buffer-one"
	case OverlapAllow:
		return "allow"
	}
	return fmt.Sprintf("Overlap(%d)", int(o))
}

// Options tune a schedule. The zero value is usable.
type Options struct {
	// Name of the schedule's program (default "cron:" and the run
	// program's name).
	Name string
	// Version of the schedule's program (default 1).
	Version int
	CatchUp CatchUp
	Overlap Overlap
	// Grace is how late a tick may be and still be on time (default one
	// minute, or the schedule's interval if that is shorter).
	Grace time.Duration
	// MaxCatchUp bounds the missed ticks CatchUpAll runs (default 100).
	MaxCatchUp int
}

// State is the input of a schedule's program: where the schedule stands,
// carried from one run to the next. Start a schedule with the zero State.
type State struct {
	// Last is the latest tick handled (run or dropped); zero before the
	// first run.
	Last time.Time `cbor:",omitzero" json:",omitzero"`
	// Running lists the tasks of the runs not known to have ended.
	Running []string `cbor:",omitempty" json:",omitempty"`
	// Queue holds the caught-up ticks (CatchUpAll) waiting their turn.
	Queue []Tick `cbor:",omitempty" json:",omitempty"`
	// Buffered is the tick kept by OverlapBufferOne, if any.
	Buffered *Tick `cbor:",omitempty" json:",omitempty"`
	// Started and Dropped count the ticks since the schedule started.
	Started int `cbor:",omitempty" json:",omitempty"`
	Dropped int `cbor:",omitempty" json:",omitempty"`
}

// countLimit bounds the ticks a wake-up counts (for Tick.Missed).
const countLimit = 100_000

// Every returns the program of a schedule that starts run at each tick of
// spec (see Parse). A spec that does not parse gives a program that fails
// at once with an error naming the task and the spec (matching ErrSpec);
// check specs ahead with Parse.
func Every[O any](spec string, run *effect.Program[Tick, O], opts Options) *effect.Program[State, effect.Unit] {
	if opts.Name == "" {
		opts.Name = "cron:" + run.Name
	}
	if opts.Version <= 0 {
		opts.Version = 1
	}
	if opts.MaxCatchUp <= 0 {
		opts.MaxCatchUp = 100
	}
	sched, err := Parse(spec)
	if opts.Grace <= 0 && sched != nil {
		opts.Grace = time.Minute
		if sched.every > 0 && sched.every < opts.Grace {
			opts.Grace = sched.every
		}
	}
	return effect.NewProgram(opts.Name, opts.Version, func(st State) effect.Eff[effect.Unit] {
		return effect.Do(func(e *effect.Ctx) effect.Unit {
			if err != nil {
				effect.Must(e, 0, fmt.Errorf("cron: task %s: %w", e.Self(), err))
			}
			s := schedule[O]{spec: sched, run: run, opts: opts, st: st}
			s.wake(e)
			return effect.Await(e, effect.ContinueAsNew[effect.Unit](s.st))
		})
	})
}

type schedule[O any] struct {
	spec *Spec
	run  *effect.Program[Tick, O]
	opts Options
	st   State
}

// wake handles the ticks that are due, then waits for the next tick or
// for a run to end.
func (s *schedule[O]) wake(e *effect.Ctx) {
	now := e.Now()
	if s.st.Last.IsZero() {
		s.st.Last = now
	}
	s.due(e, now)
	next := s.spec.Next(now)
	if next.IsZero() {
		// The schedule never ticks again: wait for the runs only.
		if len(s.st.Running) == 0 {
			effect.Must(e, 0, fmt.Errorf("cron: task %s: schedule %q has no tick after %s", e.Self(), s.spec, now.Format(time.RFC3339)))
		}
		s.ended(e, effect.Await(e, s.down()))
		return
	}
	running := slices.Clone(s.st.Running)
	woke := effect.Await(e, effect.Race(
		effect.As(effect.Sleep(next.Sub(now)), effect.Down{}),
		s.downOf(running),
	))
	if woke.ID != "" {
		s.ended(e, woke)
	}
}

// due handles the ticks that are due now, by the catch-up policy, and
// moves Last past them.
func (s *schedule[O]) due(e *effect.Ctx, now time.Time) {
	keep := 1
	if s.opts.CatchUp == CatchUpAll {
		keep = s.opts.MaxCatchUp + 1
	}
	n, last := s.spec.ticks(s.st.Last, now, keep, countLimit)
	if n == 0 {
		return
	}
	latest := last[len(last)-1]
	s.st.Last = latest
	onTime := now.Sub(latest) <= s.opts.Grace
	switch {
	case s.opts.CatchUp == CatchUpOnce:
		s.offer(e, Tick{At: latest, Missed: n - 1})
		return
	case onTime && n == 1:
		s.offer(e, Tick{At: latest})
		return
	case s.opts.CatchUp == CatchUpSkip:
		s.st.Dropped += n
		if onTime {
			s.st.Dropped--
			s.offer(e, Tick{At: latest})
		}
		return
	}
	// CatchUpAll: the missed ticks, and the on-time one, in order.
	missed := last
	if onTime {
		missed = last[:len(last)-1]
	}
	if len(missed) > s.opts.MaxCatchUp {
		missed = missed[len(missed)-s.opts.MaxCatchUp:]
	}
	if onTime {
		missed = append(missed, latest)
	}
	s.st.Dropped += n - len(missed)
	for _, t := range missed {
		s.st.Queue = append(s.st.Queue, Tick{At: t})
	}
	s.pump(e)
}

// offer starts a run for t, by the overlap policy.
func (s *schedule[O]) offer(e *effect.Ctx, t Tick) {
	if len(s.st.Running) == 0 && len(s.st.Queue) == 0 || s.opts.Overlap == OverlapAllow {
		s.launch(e, t)
		return
	}
	if s.opts.Overlap == OverlapBufferOne && s.st.Buffered == nil {
		s.st.Buffered = &t
		return
	}
	s.st.Dropped += 1 + t.Missed
}

// pump starts the queued ticks, then the buffered one, while nothing runs
// (or all of them at once under OverlapAllow).
func (s *schedule[O]) pump(e *effect.Ctx) {
	for len(s.st.Running) == 0 || s.opts.Overlap == OverlapAllow {
		switch {
		case len(s.st.Queue) > 0:
			t := s.st.Queue[0]
			s.st.Queue = s.st.Queue[1:]
			s.launch(e, t)
		case s.st.Buffered != nil:
			t := *s.st.Buffered
			s.st.Buffered = nil
			s.launch(e, t)
		default:
			return
		}
	}
}

func (s *schedule[O]) launch(e *effect.Ctx, t Tick) {
	pid := effect.Await(e, effect.Spawn[effect.Unit](s.run, t))
	effect.Await(e, effect.Monitor(pid.ID))
	s.st.Running = append(s.st.Running, pid.ID)
	s.st.Started += 1 + t.Missed
}

// ended handles the end of a run: queued or buffered ticks may start.
func (s *schedule[O]) ended(e *effect.Ctx, d effect.Down) {
	s.st.Running = slices.DeleteFunc(s.st.Running, func(id string) bool { return id == d.ID })
	s.pump(e)
}

// downOf waits for the end of one of the runs (forever if there are none).
func (s *schedule[O]) downOf(running []string) effect.Eff[effect.Down] {
	return effect.ReceiveMatch(func(d effect.Down) bool { return slices.Contains(running, d.ID) })
}

func (s *schedule[O]) down() effect.Eff[effect.Down] { return s.downOf(slices.Clone(s.st.Running)) }
