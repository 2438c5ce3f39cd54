package interp

import (
	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// RouteOp asks which version of a routed function a call runs (package
// router builds it; see NewRouteOp). Its result, the Route, is journaled as
// the chosen version only, so that replay answers the same version the live
// run chose, whatever the routing table says by then.
type RouteOp struct {
	effect.Returns[Route]
	// Function is the routed function's name.
	Function string
	// def is the version a call runs when no routes are set (WithRoutes)
	// or they have no opinion: not part of the op's identity, so that a
	// build registering a new version replays the old journals.
	def string
}

// NewRouteOp returns the op that routes a call of function, which runs
// version def when the interpreter has no routes.
func NewRouteOp(function, def string) RouteOp { return RouteOp{Function: function, def: def} }

// Route is the answer to a RouteOp: the version the call runs. Only
// Version is journaled; the rest is the interpreter's, for the call in
// progress.
type Route struct {
	// Version is the version of the function that runs the call.
	Version string
	tap     *routeTap
	swap    *routeSwap
}

// Shadow returns the candidate version the routes asked to shadow this
// call with, and whether they did. A shadowed call's ops are recorded
// until Recording is called.
func (r Route) Shadow() (candidate string, ok bool) {
	if r.tap == nil {
		return "", false
	}
	return r.tap.candidate, true
}

// Recording ends the recording of a shadowed call and returns the ops the
// call performed, with their results, in order: what the candidate's
// sandbox is answered from. It must be called by the program that made
// the call (from its continuation), once; it returns nil for a call that
// is not shadowed.
func (r Route) Recording() task.Journal {
	tp := r.tap
	if tp == nil || tp.closed {
		return nil
	}
	tp.closed = true
	t := tp.t
	rs := t.rareState()
	for i, x := range rs.taps {
		if x == tp {
			rs.taps = append(rs.taps[:i], rs.taps[i+1:]...)
			break
		}
	}
	return tp.entries
}

// Swapped reports whether a replay swapped this call's version
// (WithRoute), and returns the rest of the journal, from the call on:
// the recording that the swapped version's sandbox is answered from.
func (r Route) Swapped() (task.Journal, bool) {
	if r.swap == nil {
		return nil, false
	}
	return r.swap.rest, true
}

// ReportSwap hands the outcome of a swapped call's sandbox to the replay,
// which lists it in ReplayResult.Swaps.
func (r Route) ReportSwap(function string, res *SandboxResult) {
	if r.swap == nil {
		return
	}
	t := r.swap.t
	rs := t.rareState()
	rs.swaps = append(rs.swaps, Swap{Function: function, Version: r.Version, Sandbox: res})
}

// Swap is one call that a replay ran under another version (WithRoute).
type Swap struct {
	// Function and Version name the call and the version it ran.
	Function, Version string
	// Sandbox is what the version did: its result and its trace (its
	// logs among them).
	Sandbox *SandboxResult
}

// Routes decides which version of a routed function a task's call runs.
// Package router's Router implements it over a routing table. Decide is
// called on a worker, for every routed call that runs live (never in
// replay): it must be fast and must not block.
type Routes interface {
	// Decide decides task taskID's call of function.
	Decide(taskID, function string) Decision
}

// Decision is what Routes decides for one call.
type Decision struct {
	// Version runs the call; "" leaves it to the call's default.
	Version string
	// Shadow, if not "", is a candidate version to run beside the call in
	// a sandbox: the call's ops are recorded for it (Route.Recording).
	Shadow string
}

// WithRoutes sets the routes that decide the version of every routed
// call (package router). Without routes a call runs its default version.
func WithRoutes(r Routes) Option { return setting(func(c *config) { c.routes = r }) }

// WithRoute makes a replay run every call of function under version
// instead of the version its journal recorded: "replay + swap". The
// swapped calls run in a sandbox answered from the journal (their writes
// are captured, never performed), every other op is replayed exactly, and
// the journal entries of the swapped calls are skipped up to the next op
// the program issues after the call. ReplayResult.Swaps holds what the
// swapped calls did.
func WithRoute(function, version string) ReplayOption {
	return replayOnly(func(c *config) {
		if c.swaps == nil {
			c.swaps = map[string]string{}
		}
		c.swaps[function] = version
	})
}

// routeTap records the ops of a shadowed call.
type routeTap struct {
	t         *proc
	candidate string
	entries   task.Journal
	closed    bool
}

type routeSwap struct {
	t    *proc
	rest task.Journal
}

// route decides a live call's version.
func (t *proc) route(op RouteOp) Route {
	rs := t.e.cfg.routes
	if rs == nil {
		return Route{Version: op.def}
	}
	d := rs.Decide(t.id, op.Function)
	r := Route{Version: d.Version}
	if r.Version == "" {
		r.Version = op.def
	}
	if d.Shadow != "" {
		r.tap = &routeTap{t: t, candidate: d.Shadow}
	}
	return r
}

// performRoute completes a live RouteOp; the tap, if any, starts after
// the route's own entry.
func (t *proc) performRoute(p effect.Pending, op RouteOp) bool {
	r := t.route(op)
	if t.record {
		t.appendEntry(p, r, nil)
	}
	t.resume(p, r, nil)
	if r.tap != nil && !r.tap.closed {
		rs := t.rareState()
		rs.taps = append(rs.taps, r.tap)
	}
	return true
}

// tapEntry records the outcome of p in the open taps.
func (t *proc) tapEntry(p effect.Pending, v any, err error) {
	en := t.newEntry(p, v, err)
	for _, tp := range t.rare.taps {
		en.Seq = uint64(len(tp.entries) + 1)
		tp.entries = append(tp.entries, en)
	}
}

// replayRoute answers a journaled RouteOp during replay: the recorded
// version, or the one WithRoute swaps in.
func (t *proc) replayRoute(p effect.Pending, op RouteOp, en task.Entry) (bool, error) {
	v, ok := t.e.cfg.swaps[op.Function]
	if !ok {
		return false, nil
	}
	r := Route{Version: v, swap: &routeSwap{t: t, rest: append(task.Journal(nil), t.replay[t.replayPos:]...)}}
	t.rareState().skipping = true
	return true, t.m.Resume(p.ID, r)
}

// Routes returns the routes that decided a shadowed call (nil for a call
// that is not shadowed): where the program hands the candidate's run.
func (r Route) Routes() Routes {
	if r.tap == nil {
		return nil
	}
	return r.tap.t.e.cfg.routes
}

// SandboxOptions returns the options a sandbox of this call needs from
// the interpreter that made it: its registry (to decode the recorded
// errors into their sentinels).
func (r Route) SandboxOptions() []MockOption {
	t := r.caller()
	if t == nil {
		return nil
	}
	return []MockOption{WithRegistry(t.e.cfg.registry)}
}

// Task returns the ID of the task that made a shadowed or swapped call
// ("" otherwise).
func (r Route) Task() string {
	if t := r.caller(); t != nil {
		return t.id
	}
	return ""
}

// caller is the task that made a shadowed or swapped call (nil
// otherwise).
func (r Route) caller() *proc {
	switch {
	case r.tap != nil:
		return r.tap.t
	case r.swap != nil:
		return r.swap.t
	}
	return nil
}
