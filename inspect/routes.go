package inspect

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// RouteSource is what the routes pages read: each routed function's
// route, the history of routing changes, and the divergences its shadows
// recorded. A store that keeps a routing table provides one
// (Options.Routes); without one, the pages say that routes are not
// available.
type RouteSource interface {
	// Routes returns every function's current route, by function name.
	Routes(ctx context.Context) ([]Route, error)
	// RouteChanges returns the changes of function's route ("" for every
	// function's), newest first, at most limit.
	RouteChanges(ctx context.Context, function string, limit int) ([]RouteChange, error)
	// RouteDivergences returns the first limit divergences of function,
	// oldest first, and how many it has in all and how many of those are
	// noise.
	RouteDivergences(ctx context.Context, function string, limit int) (ds []RouteDivergence, total, noise int, err error)
}

// Route is one function's route, in words.
type Route struct {
	// Function names the routed function.
	Function string
	// Primary is the version that runs a call nothing else claims.
	Primary string
	// Percent sends that percentage of tasks to another version.
	Percent map[string]int
	// Candidate, if not "", is the shadowed version, run on Sampling
	// (0 to 1) of the calls.
	Candidate string
	Sampling  float64
	// Overrides counts the tasks routed one by one.
	Overrides int
	// Changed is when the route was last set.
	Changed time.Time
	// Problem says why the stored route could not be read (then only
	// Function and Changed are set).
	Problem string
}

// RouteChange is one change of a route.
type RouteChange struct {
	// Seq numbers the change, At is when it was made.
	Seq uint64
	At  time.Time
	// Function is the function whose route changed; Old and New render
	// the route before and after ("" for none).
	Function string
	Old, New string
	// Who made the change and Why, as they said.
	Who, Why string
}

// RouteDivergence is one shadowed call whose candidate differed from the
// primary.
type RouteDivergence struct {
	// Task made the call at At; Primary and Candidate are the versions.
	Task               string
	At                 time.Time
	Primary, Candidate string
	// PrimaryOutput and CandidateOutput render both outcomes.
	PrimaryOutput, CandidateOutput string
	// PrimaryTrace and CandidateTrace render the ops of both sides;
	// FirstDiff is the index of the first op that differs (-1: the
	// traces are equal, the outputs differ).
	PrimaryTrace, CandidateTrace []string
	FirstDiff                    int
	// Noise reports that the primary did not reproduce itself (A/A).
	Noise bool
	// Problem says why the stored divergence could not be read (then
	// only Task, At and Noise are set).
	Problem string
}

type routesView struct {
	Available bool
	Problem   string
	Routes    []routeRow
	Changes   []RouteChange
}

type routeRow struct {
	Route
	URL string
}

type routeView struct {
	Function     string
	Available    bool
	Problem      string
	Route        *Route
	Changes      []RouteChange
	Divergences  []divergenceView
	Total, Noise int
}

type divergenceView struct {
	RouteDivergence
	Rows []traceRow
}

// traceRow is one line of a side-by-side trace.
type traceRow struct {
	N                  int
	Primary, Candidate string
	First, Differs     bool
}

// divergenceLimit is how many divergences a function's page shows.
const divergenceLimit = 20

func (s *Server) routesPage(w http.ResponseWriter, r *http.Request) {
	v := &routesView{}
	if src := s.o.Routes; src != nil {
		v.Available = true
		routes, err := src.Routes(r.Context())
		if err == nil {
			v.Changes, err = src.RouteChanges(r.Context(), "", changeLimit)
		}
		if err != nil {
			s.o.Logger.Error("inspect: reading routes", "err", err)
			v.Problem = "The store's routes could not be read: " + err.Error()
		}
		for _, rt := range routes {
			v.Routes = append(v.Routes, routeRow{Route: rt, URL: "/routes/" + url.PathEscape(rt.Function)})
		}
	}
	s.render(w, r, http.StatusOK, "routes", page{Title: "Routes", Active: "Routes", Data: v})
}

func (s *Server) routePage(w http.ResponseWriter, r *http.Request) {
	fn := r.PathValue("function")
	v := &routeView{Function: fn}
	p := page{Title: "Route " + fn, Active: "Routes", Data: v}
	src := s.o.Routes
	if src == nil {
		s.render(w, r, http.StatusOK, "route", p)
		return
	}
	v.Available = true
	ctx := r.Context()
	routes, err := src.Routes(ctx)
	if err == nil {
		v.Changes, err = src.RouteChanges(ctx, fn, changeLimit)
	}
	var ds []RouteDivergence
	if err == nil {
		ds, v.Total, v.Noise, err = src.RouteDivergences(ctx, fn, divergenceLimit)
	}
	if err != nil {
		s.o.Logger.Error("inspect: reading a route", "function", fn, "err", err)
		v.Problem = "The store's routes could not be read: " + err.Error()
	}
	for i := range routes {
		if routes[i].Function == fn {
			v.Route = &routes[i]
		}
	}
	if err == nil && v.Route == nil && len(v.Changes) == 0 && v.Total == 0 {
		s.fail(w, r, http.StatusNotFound, "No function "+fn+" has a route, a change or a divergence.")
		return
	}
	for _, d := range ds {
		dv := divergenceView{RouteDivergence: d}
		for i := range max(len(d.PrimaryTrace), len(d.CandidateTrace)) {
			tr := traceRow{N: i + 1, First: i == d.FirstDiff}
			if i < len(d.PrimaryTrace) {
				tr.Primary = d.PrimaryTrace[i]
			}
			if i < len(d.CandidateTrace) {
				tr.Candidate = d.CandidateTrace[i]
			}
			tr.Differs = tr.Primary != tr.Candidate
			dv.Rows = append(dv.Rows, tr)
		}
		v.Divergences = append(v.Divergences, dv)
	}
	s.render(w, r, http.StatusOK, "route", p)
}
