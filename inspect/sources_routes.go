package inspect

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/amberrt/amber/router"
	"github.com/amberrt/amber/store"
)

// storeRoutes is the RouteSource of a store that keeps a routing table
// (store.RouteStore). Policies and divergences are decoded as the router
// encoded them; a row that does not decode is shown with its problem.
type storeRoutes struct{ rs store.RouteStore }

var _ RouteSource = storeRoutes{}

func (s storeRoutes) Routes(ctx context.Context) ([]Route, error) {
	rows, err := s.rs.Routes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Route, 0, len(rows))
	for _, r := range rows {
		rt := Route{Function: r.Function, Changed: r.At}
		p, err := router.DecodePolicy(r.Policy)
		if err != nil {
			rt.Problem = fmt.Sprintf("the stored route does not decode (%v): %s", err, cut(string(r.Policy), maxCell))
			out = append(out, rt)
			continue
		}
		rt.Primary, rt.Percent, rt.Overrides = p.Primary, p.Percent, len(p.Tasks)
		if p.Shadow != nil {
			rt.Candidate, rt.Sampling = p.Shadow.Candidate, p.Shadow.Sampling
		}
		out = append(out, rt)
	}
	return out, nil
}

func (s storeRoutes) RouteChanges(ctx context.Context, function string, limit int) ([]RouteChange, error) {
	cs, err := s.rs.RouteHistory(ctx, function)
	if err != nil {
		return nil, err
	}
	return newestFirst(cs, limit, func(c store.RouteChange) RouteChange {
		return RouteChange{Seq: c.Seq, At: c.At, Function: c.Function, Old: policyWords(c.Old), New: policyWords(c.Policy), Who: c.Who, Why: c.Why}
	}), nil
}

func (s storeRoutes) RouteDivergences(ctx context.Context, function string, limit int) ([]RouteDivergence, int, int, error) {
	rows, total, noise, err := s.rs.Divergences(ctx, function, limit)
	if err != nil {
		return nil, 0, 0, err
	}
	out := make([]RouteDivergence, 0, len(rows))
	for _, r := range rows {
		d, err := router.DecodeDivergence(r.Data)
		if err != nil {
			out = append(out, RouteDivergence{Task: r.Task, At: r.At, Noise: r.Noise, FirstDiff: -1,
				Problem: fmt.Sprintf("stored divergence %d does not decode (%v): %s", r.Seq, err, cut(string(r.Data), maxCell))})
			continue
		}
		out = append(out, RouteDivergence{Task: d.Task, At: d.At, Primary: d.Primary, Candidate: d.Candidate,
			PrimaryOutput: d.PrimaryOutput, CandidateOutput: d.CandidateOutput, PrimaryTrace: d.PrimaryTrace,
			CandidateTrace: d.CandidateTrace, FirstDiff: d.FirstDiff, Noise: d.Noise})
	}
	return out, total, noise, nil
}

// policyWords renders a stored policy in a line: "primary v1, 10% → v2,
// shadow v3 on 25%, 2 tasks routed one by one"; "" for none.
func policyWords(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	p, err := router.DecodePolicy(b)
	if err != nil {
		return "(does not decode: " + cut(string(b), maxCell) + ")"
	}
	parts := []string{"primary " + p.Primary}
	vs := make([]string, 0, len(p.Percent))
	for v := range p.Percent {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	for _, v := range vs {
		parts = append(parts, fmt.Sprintf("%d%% → %s", p.Percent[v], v))
	}
	if p.Shadow != nil {
		parts = append(parts, fmt.Sprintf("shadow %s on %g%%", p.Shadow.Candidate, p.Shadow.Sampling*100))
	}
	if len(p.Tasks) > 0 {
		parts = append(parts, fmt.Sprintf("%d tasks routed one by one", len(p.Tasks)))
	}
	return strings.Join(parts, ", ")
}
