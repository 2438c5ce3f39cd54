package inspect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
)

// The replay debugger steps through a task's journal entry by entry and
// replays it against a version of its program chosen from the registry
// (the versions this binary has: cli.Main passes the user's registry). It
// replays with interp.ReplayRecord, which performs nothing and writes
// nothing: the store is only read. Each step replays the journal up to
// that entry again (replay runs at millions of entries a second), so a
// step costs the journal's prefix, not a state kept between requests.

// replayView is the replay debugger's page.
type replayView struct {
	ID, Program, Input string
	Recorded, Version  int // the task's version, the one replayed
	Versions           []versionChoice
	Total              int
	Problem            string // why the task cannot be replayed at all

	// The verdict on the whole journal.
	Fits, Finished bool
	Failed         bool     // the program finished with an error
	Outcome        string   // the result or error where the program finished
	Pending        []string // what it waits on where the journal ends
	Unpatched      []string
	Diverged       *task.DivergenceError
	DivergedURL    string
	Step           *stepView
	// Replay + swap: the routed calls the journal holds, the function
	// swapped and its version, and what the swapped calls did.
	Routed            []routedCall
	Swap, SwapTo      string
	Swaps             []swapView
	Window            []windowRow // the entries around the step
	FirstURL, PrevURL string
	NextURL, LastURL  string
}

type versionChoice struct {
	Version            int
	Selected, Recorded bool
}

// stepView is one journal entry replayed: what the journal recorded and
// what the chosen version issued at that point.
type stepView struct {
	Seq           uint64
	Fiber         uint32
	Time          string
	Kind, Op      string // recorded
	Result, Error string
	Issued        string // the op the program issued for this entry's fiber
	Matches       bool
	DivergesHere  bool
	Before        string // an earlier divergence that keeps this step from being reached
	ReplayProblem string
}

type windowRow struct {
	Seq               uint64
	Fiber             uint32
	Kind, Op, Result  string
	URL               string
	Current, Diverged bool
}

// replayWindow is how many entries the page lists on each side of the step.
const replayWindow = 8

func (s *Server) replayPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	p := page{Title: "Replay " + id}
	rec, _, err := s.rm.Task(r.Context(), id)
	switch {
	case errors.Is(err, task.ErrCorrupt):
		p.Data = &replayView{ID: id, Problem: "The task's rows cannot be read, so it cannot be replayed: " + err.Error()}
		s.render(w, r, http.StatusOK, "replay", p)
		return
	case err != nil:
		s.storeFailed(w, r, "Task "+id, err)
		return
	}
	v := &replayView{ID: id, Program: rec.Program, Recorded: rec.Version, Version: rec.Version, Total: len(rec.Journal),
		Input: task.Render(rec.Input)}
	p.Data = v
	if vs := q.Get("version"); vs != "" {
		n, err := strconv.Atoi(vs)
		if err != nil || n < 0 {
			s.render(w, r, http.StatusBadRequest, "replay", page{Title: p.Title, Error: fmt.Sprintf("version=%q is not a version number.", vs), Data: v})
			return
		}
		v.Version = n
	}
	step := 1
	if ss := q.Get("step"); ss != "" {
		n, err := strconv.Atoi(ss)
		if err != nil || n < 1 {
			s.render(w, r, http.StatusBadRequest, "replay", page{Title: p.Title, Error: fmt.Sprintf("step=%q is not a journal position (1, 2, ...).", ss), Data: v})
			return
		}
		step = min(n, max(1, len(rec.Journal)))
	}
	for _, prog := range s.reg.Programs() {
		if prog.ProgramName() == rec.Program {
			pv := prog.ProgramVersion()
			v.Versions = append(v.Versions, versionChoice{Version: pv, Selected: pv == v.Version, Recorded: pv == rec.Version})
		}
	}
	if _, err := s.reg.Program(rec.Program, v.Version); err != nil {
		v.Problem = fmt.Sprintf("This binary does not register %s version %d, so it cannot replay it. Build your own amber command with cli.Main and the registry of your programs (see the versions listed, if any).", rec.Program, v.Version)
		s.render(w, r, http.StatusOK, "replay", p)
		return
	}
	link := func(n int) string {
		u := url.Values{"step": {strconv.Itoa(n)}}
		if v.Version != rec.Version {
			u.Set("version", strconv.Itoa(v.Version))
		}
		if v.Swap != "" {
			u.Set("swap", v.Swap)
			u.Set("to", v.SwapTo)
		}
		return "/tasks/" + url.PathEscape(id) + "/replay?" + u.Encode()
	}

	// Replay + swap: every call of one routed function under another
	// version (interp.WithRoute).
	v.Routed = routedCalls(rec.Journal)
	var extra []interp.ReplayOption
	if v.Swap, v.SwapTo = q.Get("swap"), q.Get("to"); v.Swap != "" {
		if v.SwapTo == "" {
			s.render(w, r, http.StatusBadRequest, "replay", page{Title: p.Title, Error: "Name the version to run " + v.Swap + " under (to=VERSION).", Data: v})
			return
		}
		extra = append(extra, interp.WithRoute(v.Swap, v.SwapTo))
	}
	ctx := r.Context()
	whole, err := s.replay(ctx, rec, len(rec.Journal), v.Version, extra)
	var de *task.DivergenceError
	switch {
	case errors.As(err, &de):
		v.Diverged, v.DivergedURL = de, link(int(de.Seq))
	case err != nil:
		v.Problem = "The replay failed: " + err.Error()
	default:
		v.Fits, v.Finished, v.Unpatched = true, whole.Done, whole.Unpatched
		if whole.Done {
			v.Outcome, v.Failed = s.outcome(whole), whole.Err != nil
		}
		for _, sw := range whole.Swaps {
			v.Swaps = append(v.Swaps, swapOf(sw))
		}
		for _, pd := range whole.Pending {
			v.Pending = append(v.Pending, fmt.Sprintf("fiber %d: %s", pd.Fiber, renderOp(pd.Op)))
		}
	}
	if len(rec.Journal) > 0 && v.Problem == "" {
		v.Step = s.replayStep(ctx, rec, step, v.Version, extra, v.Diverged)
		n := len(rec.Journal)
		if step > 1 {
			v.FirstURL, v.PrevURL = link(1), link(step-1)
		}
		if step < n {
			v.NextURL, v.LastURL = link(step+1), link(n)
		}
		for i := max(0, step-1-replayWindow); i < min(n, step+replayWindow); i++ {
			e := rec.Journal[i]
			row := windowRow{Seq: e.Seq, Fiber: e.Fiber, Kind: e.Kind, Op: cut(task.Render(e.Op), maxCell), URL: link(i + 1),
				Current: i+1 == step, Diverged: v.Diverged != nil && e.Seq == v.Diverged.Seq}
			if e.Err != nil {
				row.Result = cut("error "+e.Err.String(), maxCell)
			} else if len(e.Result) > 0 {
				row.Result = cut(task.Render(e.Result), maxCell)
			}
			v.Window = append(v.Window, row)
		}
	}
	s.render(w, r, http.StatusOK, "replay", p)
}

// replay replays the first n entries of rec's journal against version
// of its program. It writes nothing.
func (s *Server) replay(ctx context.Context, rec *task.Record, n, version int, extra []interp.ReplayOption) (*interp.ReplayResult, error) {
	prefix := *rec
	prefix.Journal = rec.Journal[:n]
	opts := append([]interp.ReplayOption{interp.WithRegistry(s.reg), interp.ReplayVersion(version)}, extra...)
	return interp.ReplayRecord(ctx, &prefix, opts...)
}

// replayStep replays up to entry step (1-based) and says whether the
// chosen version issued the op the journal recorded there.
func (s *Server) replayStep(ctx context.Context, rec *task.Record, step, version int, extra []interp.ReplayOption, whole *task.DivergenceError) *stepView {
	e := rec.Journal[step-1]
	sv := &stepView{Seq: e.Seq, Fiber: e.Fiber, Kind: e.Kind, Op: task.Render(e.Op)}
	if !e.Time.IsZero() {
		sv.Time = e.Time.UTC().Format("2006-01-02 15:04:05.000Z")
	}
	if e.Err != nil {
		sv.Error = e.Err.String()
	} else if len(e.Result) > 0 {
		sv.Result = task.Render(e.Result)
	}
	if whole != nil && whole.Seq < e.Seq {
		sv.Before = fmt.Sprintf("The replay diverged earlier, at entry %d: this entry is not reached.", whole.Seq)
		return sv
	}
	// What the program issued on this entry's fiber, with the entries
	// before it replayed.
	before, err := s.replay(ctx, rec, step-1, version, extra)
	var de *task.DivergenceError
	switch {
	case errors.As(err, &de):
		sv.Before = fmt.Sprintf("The replay diverged earlier, at entry %d: this entry is not reached.", de.Seq)
		return sv
	case err != nil:
		sv.ReplayProblem = err.Error()
		return sv
	case before.Done:
		sv.Issued = "nothing: the program finished (" + s.outcome(before) + ")"
	default:
		sv.Issued = fmt.Sprintf("nothing: fiber %d has no pending op", e.Fiber)
		for _, pd := range before.Pending {
			if uint32(pd.Fiber) == e.Fiber {
				sv.Issued = renderOp(pd.Op)
			}
		}
	}
	// Whether the entry itself replays: the engine's own comparison
	// (fingerprints, patches).
	_, err = s.replay(ctx, rec, step, version, extra)
	switch {
	case errors.As(err, &de) && de.Seq == e.Seq:
		sv.DivergesHere = true
		sv.Issued = de.Issued
	case err != nil && !errors.As(err, &de):
		sv.ReplayProblem = err.Error()
	case err == nil:
		sv.Matches = true
	}
	return sv
}

// outcome renders where a replay finished: its result or its error.
func (s *Server) outcome(r *interp.ReplayResult) string {
	if r.Err != nil {
		return "error: " + r.Err.Error()
	}
	if b, err := task.Marshal(r.Result); err == nil {
		return "result " + task.Render(b)
	}
	return fmt.Sprintf("result %+v", r.Result)
}

// renderOp renders an op as the journal would record it.
func renderOp(op any) string {
	kind, data, _, err := task.EncodeOp(op)
	if err != nil {
		return fmt.Sprintf("%T (cannot encode: %v)", op, err)
	}
	return kind + " " + task.Render(data)
}

// routedCall is a routed function the journal calls: its first call.
type routedCall struct {
	Seq               uint64
	Function, Version string
	Calls             int
}

// routeKind is the op kind of the routing decision a routed call journals.
var routeKind = task.OpKind(interp.RouteOp{})

// routedCalls lists the routed functions j calls, by first call.
func routedCalls(j task.Journal) []routedCall {
	var out []routedCall
	seen := map[string]int{}
	for _, e := range j {
		if e.Kind != routeKind {
			continue
		}
		var op struct{ Function string }
		var res struct{ Version string }
		if task.Unmarshal(e.Op, &op) != nil || op.Function == "" {
			continue
		}
		if i, ok := seen[op.Function]; ok {
			out[i].Calls++
			continue
		}
		_ = task.Unmarshal(e.Result, &res)
		seen[op.Function] = len(out)
		out = append(out, routedCall{Seq: e.Seq, Function: op.Function, Version: res.Version, Calls: 1})
	}
	return out
}

// swapView is one call a replay ran under the swapped version.
type swapView struct {
	Function, Version, Outcome string
	Trace                      []string
	Captured                   int
}

func swapOf(sw interp.Swap) swapView {
	out := swapView{Function: sw.Function, Version: sw.Version}
	if sb := sw.Sandbox; sb != nil {
		switch {
		case !sb.Done:
			out.Outcome = "did not finish"
		case sb.Err != nil:
			out.Outcome = "error: " + sb.Err.Error()
		default:
			out.Outcome = "result " + renderValue(sb.Result)
		}
		for _, op := range sb.Trace {
			out.Trace = append(out.Trace, cut(op.String(), maxCell))
		}
		out.Captured = sb.Captured
	}
	return out
}

// renderValue renders a value in CBOR diagnostic notation.
func renderValue(v any) string {
	if b, err := task.Marshal(v); err == nil {
		return task.Render(b)
	}
	return fmt.Sprintf("%+v", v)
}
