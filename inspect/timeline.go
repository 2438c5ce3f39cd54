package inspect

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/amberrt/amber/task"
)

// The timeline is an SVG picture of a page of a task's journal: time runs
// left to right, each fiber has a lane, an activity is a bar from when it
// was issued to when its result was recorded, a wait (a receive, a sleep,
// an STM retry) is a thin line across the gap, and an instant op (the
// clock, a log line, a send) is a tick. A journal records when each result
// came, not when each op was issued; an op is taken to be issued when its
// fiber's previous result came (a program runs from one op to the next
// without waiting). A fiber's first op is taken to be issued with the
// first op of the fiber numbered just before it, when only that fiber
// and later ones have run since (fibers forked together by Par or Race;
// the root fiber 0 is no one's sibling), and otherwise when the last
// result of a fiber with a lower ID (fibers are numbered as they are
// forked) came before it, or when the task was created. The root fiber (0) waits
// while the fibers it forked run, so its next op is taken to be issued
// after their results. These are estimates: a fiber that forks others
// and goes on before they end is drawn as if it had waited. The ops the task
// waits on now are drawn up to the present (their deadlines are in their
// titles): a running attempt as a dashed bar, a backoff or a timer as a
// wait.

// timeline is the laid-out picture, drawn by the "timeline" template.
type timeline struct {
	Linear        bool // a linear axis, not one with shortened gaps
	Width, Height float64
	Lanes         []lane
	Items         []shape
	Ticks         []tick
	Empty         bool
}

type lane struct {
	Y     float64
	Label string
}

// shape is one op: a bar (Bar) or a line with an end mark, or a tick.
type shape struct {
	Class        string // activity, failed, wait, instant, pending, backoff, timer
	X, Y, W, H   float64
	Seq          uint64 // 0 for a pending op
	Title        string
	Bar, Instant bool
}

type tick struct {
	X             float64
	Label, Anchor string
}

// Geometry of the picture, in SVG user units.
const (
	tlWidth  = 1000.0
	tlLeft   = 70.0 // room for lane labels
	tlRight  = 16.0
	tlTop    = 8.0
	tlLane   = 26.0
	tlBar    = 14.0
	tlAxis   = 22.0
	tlMinBar = 3.0
)

// opClass sorts an op kind into how it is drawn.
func opClass(kind string) string {
	switch {
	case strings.HasPrefix(kind, "effect.ReceiveOp"), strings.HasPrefix(kind, "effect.SleepOp"),
		strings.HasPrefix(kind, "effect.AtomicallyOp"):
		return "wait"
	case strings.HasPrefix(kind, "effect."):
		return "instant"
	}
	return "activity"
}

// issueTimes returns, for each entry of j, when its op was issued (see
// the comment at the top of this file).
func issueTimes(j task.Journal, created time.Time) []time.Time {
	last := map[uint32]time.Time{}
	first := map[uint32]int{} // the index of each fiber's first entry
	out := make([]time.Time, len(j))
	for i, e := range j {
		if _, ok := first[e.Fiber]; !ok {
			first[e.Fiber] = i
			if k, ok := first[e.Fiber-1]; ok && e.Fiber > 1 && siblings(j[k:i], e.Fiber-1) {
				// Forked with the fiber before it (Par, Race): only that
				// group has run since, so it was issued with that
				// fiber's first op.
				out[i] = out[k]
				if out[i].After(e.Time) {
					out[i] = e.Time
				}
				last[e.Fiber] = e.Time
				continue
			}
		}
		start, ok := last[e.Fiber]
		if ok && e.Fiber == 0 {
			// The root fiber forks the others and waits for them (Par,
			// Race): its next op comes after their last results.
			for _, at := range last {
				if at.After(start) {
					start = at
				}
			}
		}
		if !ok {
			// A fiber's first op: forked by a fiber with a lower ID, after
			// that fiber's results so far.
			start = created
			for f, at := range last {
				if f < e.Fiber && at.After(start) {
					start = at
				}
			}
		}
		if start.IsZero() || start.After(e.Time) {
			start = e.Time
		}
		out[i] = start
		last[e.Fiber] = e.Time
	}
	return out
}

// siblings reports whether every entry of j comes from fiber f or a later
// one: nothing but f's group of forked fibers ran.
func siblings(j task.Journal, f uint32) bool {
	for _, e := range j {
		if e.Fiber < f {
			return false
		}
	}
	return true
}

// layoutTimeline draws entries j[from:to] of a journal whose issue times
// are starts; pending holds the ops the task waits on, drawn when the
// page is the journal's last.
// linear asks for a linear time axis instead of one with shortened gaps
// (see scale).
func layoutTimeline(j task.Journal, starts []time.Time, from, to int, pending []task.OpState, now time.Time, linear bool) timeline {
	tl := timeline{Linear: linear}
	type span struct {
		fiber      uint32
		start, end time.Time
		class      string
		seq        uint64
		title      string
	}
	var spans []span
	for i := from; i < to; i++ {
		e := j[i]
		class := opClass(e.Kind)
		if e.Err != nil && class == "activity" {
			class = "failed"
		}
		spans = append(spans, span{e.Fiber, starts[i], e.Time, class, e.Seq, e.String()})
	}
	for _, p := range pending {
		start := p.Started
		if start.IsZero() && to > 0 {
			start = j[to-1].Time
		}
		if start.IsZero() {
			start = now
		}
		end := p.Until
		class, title := "timer", fmt.Sprintf("fiber %d %s: timer until %s", p.Fiber, p.Kind, p.Until.Format(time.RFC3339))
		switch p.Phase {
		case task.PhaseRunning:
			class, end = "pending", now
			title = fmt.Sprintf("fiber %d %s: attempt %d running since %s", p.Fiber, p.Kind, p.Attempt, start.Format(time.RFC3339))
		case task.PhaseBackoff:
			class = "backoff"
			title = fmt.Sprintf("fiber %d %s: attempt %d failed; attempt %d at %s", p.Fiber, p.Kind, p.Attempt, p.Attempt+1, p.Until.Format(time.RFC3339))
		}
		// The axis ends at the present: a deadline an hour ahead must
		// not squash the history into its first pixels.
		if end.IsZero() || end.After(now) {
			end = now
		}
		if end.Before(start) {
			end = start
		}
		spans = append(spans, span{p.Fiber, start, end, class, 0, title})
	}
	if len(spans) == 0 {
		tl.Empty = true
		return tl
	}
	fibers := map[uint32]int{}
	var order []uint32
	times := make([]time.Time, 0, 2*len(spans))
	for _, s := range spans {
		times = append(times, s.start, s.end)
		if _, ok := fibers[s.fiber]; !ok {
			fibers[s.fiber] = 0
			order = append(order, s.fiber)
		}
	}
	slices.Sort(order)
	for i, f := range order {
		fibers[f] = i
		tl.Lanes = append(tl.Lanes, lane{Y: tlTop + float64(i)*tlLane, Label: fmt.Sprintf("fiber %d", f)})
	}
	plot := tlWidth - tlLeft - tlRight
	sc := newScale(times, tlLeft, plot, linear)
	x := sc.x
	for _, s := range spans {
		y := tlTop + float64(fibers[s.fiber])*tlLane
		x0, x1 := x(s.start), x(s.end)
		sh := shape{Class: s.class, X: x0, Y: y + (tlLane-tlBar)/2, W: x1 - x0, H: tlBar, Seq: s.seq, Title: s.title}
		switch s.class {
		case "activity", "failed", "pending":
			sh.Bar = true
			if sh.W < tlMinBar {
				sh.W = tlMinBar
				sh.X = min(sh.X, tlWidth-tlRight-tlMinBar)
			}
		case "instant":
			sh.Instant, sh.X, sh.Y, sh.W = true, x1, y+tlLane/2, 0
		default: // a wait: a line across the gap, ending in a mark at x1
			sh.Y = y + tlLane/2
		}
		tl.Items = append(tl.Items, sh)
	}
	axisY := tlTop + float64(len(order))*tlLane
	t0 := sc.ts[0]
	for i := 0; i <= 4; i++ {
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		at := tlLeft + plot*float64(i)/4
		tl.Ticks = append(tl.Ticks, tick{X: at, Label: "+" + shortDuration(sc.at(at).Sub(t0)), Anchor: anchor})
	}
	tl.Width, tl.Height = tlWidth, axisY+tlAxis
	return tl
}

// shortDuration rounds d for an axis label or a "3m ago".
func shortDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d == 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < 24*time.Hour:
		return d.Round(time.Second).String()
	}
	days := d / (24 * time.Hour)
	return fmt.Sprintf("%dd%s", days, (d - days*24*time.Hour).Round(time.Minute))
}

// scale maps times to x, piecewise linearly between the distinct times of
// a picture. On a linear axis each piece is as wide as its duration. By
// default gaps are shortened: a piece of duration g is as wide as
// log(1 + g/1ms), so that an hour's wait does not squash a millisecond's
// work to nothing, while the order of events and the ranking of gaps are
// kept. Tick labels give the real times.
type scale struct {
	ts []time.Time // distinct, increasing
	xs []float64   // their positions
}

func newScale(times []time.Time, left, width float64, linear bool) scale {
	times = slices.Clone(times)
	slices.SortFunc(times, time.Time.Compare)
	times = slices.CompactFunc(times, time.Time.Equal)
	s := scale{ts: times, xs: make([]float64, len(times))}
	cum := make([]float64, len(times))
	for i := 1; i < len(times); i++ {
		g := float64(times[i].Sub(times[i-1]))
		if !linear {
			g = math.Log1p(g / float64(time.Millisecond))
		}
		cum[i] = cum[i-1] + g
	}
	total := cum[len(cum)-1]
	for i := range times {
		s.xs[i] = left
		if total > 0 {
			s.xs[i] = left + width*cum[i]/total
		}
	}
	return s
}

// x is the position of t.
func (s scale) x(t time.Time) float64 {
	i, found := slices.BinarySearchFunc(s.ts, t, time.Time.Compare)
	switch {
	case found:
		return s.xs[i]
	case i == 0:
		return s.xs[0]
	case i == len(s.ts):
		return s.xs[i-1]
	}
	f := float64(t.Sub(s.ts[i-1])) / float64(s.ts[i].Sub(s.ts[i-1]))
	return s.xs[i-1] + f*(s.xs[i]-s.xs[i-1])
}

// at is the time at position x (the inverse of x, linear within a piece).
func (s scale) at(x float64) time.Time {
	i, _ := slices.BinarySearch(s.xs, x)
	switch {
	case i == 0:
		return s.ts[0]
	case i == len(s.xs):
		return s.ts[i-1]
	}
	w := s.xs[i] - s.xs[i-1]
	if w <= 0 {
		return s.ts[i]
	}
	f := (x - s.xs[i-1]) / w
	return s.ts[i-1].Add(time.Duration(f * float64(s.ts[i].Sub(s.ts[i-1]))))
}
