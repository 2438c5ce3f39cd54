package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/amberrt/amber/store"
)

var _ store.RouteStore = (*Store)(nil)

// routing is the store's routing table, under Store.mu.
type routing struct {
	routes  map[string]store.Route
	history []store.RouteChange
	divs    []store.Divergence
}

// Routes returns the current routes (store.RouteStore).
func (s *Store) Routes(context.Context) ([]store.Route, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := make([]store.Route, 0, len(s.routing.routes))
	for _, r := range s.routing.routes {
		r.Policy = bytes.Clone(r.Policy)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b store.Route) int { return cmpString(a.Function, b.Function) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// RoutesClock returns the number of route changes (store.RouteStore).
func (s *Store) RoutesClock(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	return uint64(len(s.routing.history)), nil
}

// SetRoute changes a route (store.RouteStore).
func (s *Store) SetRoute(_ context.Context, c store.RouteChange) (store.RouteChange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.RouteChange{}, ErrClosed
	}
	if c.Function == "" {
		return store.RouteChange{}, fmt.Errorf("memstore: set route: empty function name")
	}
	cur, ok := s.routing.routes[c.Function]
	if cur.Seq != c.Prev {
		return store.RouteChange{}, fmt.Errorf("memstore: set route of %s at %d: %w (now at %d)", c.Function, c.Prev, store.ErrStaleRoute, cur.Seq)
	}
	c.Seq = uint64(len(s.routing.history)) + 1
	c.At = time.Now().UTC()
	c.Old = nil
	if ok {
		c.Old = bytes.Clone(cur.Policy)
	}
	c.Policy = bytes.Clone(c.Policy)
	if s.routing.routes == nil {
		s.routing.routes = map[string]store.Route{}
	}
	if c.Policy == nil {
		delete(s.routing.routes, c.Function)
	} else {
		s.routing.routes[c.Function] = store.Route{Function: c.Function, Policy: c.Policy, Seq: c.Seq, At: c.At}
	}
	s.routing.history = append(s.routing.history, c)
	return c, nil
}

// RouteHistory returns the changes of a route (store.RouteStore).
func (s *Store) RouteHistory(_ context.Context, function string) ([]store.RouteChange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []store.RouteChange
	for _, c := range s.routing.history {
		if function == "" || c.Function == function {
			out = append(out, c)
		}
	}
	return out, nil
}

// AddDivergences stores divergences (store.RouteStore).
func (s *Store) AddDivergences(_ context.Context, ds ...store.Divergence) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, d := range ds {
		d.Seq = uint64(len(s.routing.divs)) + 1
		d.Data = bytes.Clone(d.Data)
		s.routing.divs = append(s.routing.divs, d)
	}
	return nil
}

// Divergences returns a function's divergences (store.RouteStore).
func (s *Store) Divergences(_ context.Context, function string, limit int) ([]store.Divergence, int, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, 0, ErrClosed
	}
	var out []store.Divergence
	total, noise := 0, 0
	for _, d := range s.routing.divs {
		if d.Function != function {
			continue
		}
		total++
		if d.Noise {
			noise++
		}
		if len(out) < limit {
			out = append(out, d)
		}
	}
	return out, total, noise, nil
}
