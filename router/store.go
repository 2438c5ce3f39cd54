package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/amberrt/amber/store"
)

// StoreTable is a Table in a store (store.RouteStore): the table every
// worker on the store follows, changed by Set (the CLI's amber route
// set), every change recorded in the route's history.
type StoreTable struct {
	// S is the store that keeps the table.
	S store.RouteStore

	mu    sync.Mutex
	clock uint64
	cache map[string]Policy
}

// NewStoreTable returns the table of st, or an error if st keeps no
// routes.
func NewStoreTable(st store.Store) (*StoreTable, error) {
	rs, ok := st.(store.RouteStore)
	if !ok {
		return nil, fmt.Errorf("router: %T keeps no routes (not a store.RouteStore)", st)
	}
	return &StoreTable{S: rs}, nil
}

// Policies returns the stored policies (Table). It reads them again only
// when the store's route clock moved: polling it is one small read.
func (t *StoreTable) Policies(ctx context.Context) (map[string]Policy, error) {
	clock, err := t.S.RoutesClock(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.cache != nil && clock == t.clock {
		out := t.cache
		t.mu.Unlock()
		return out, nil
	}
	t.mu.Unlock()
	routes, err := t.S.Routes(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Policy, len(routes))
	for _, r := range routes {
		p, err := DecodePolicy(r.Policy)
		if err != nil {
			// One bad row must not stop routing the others: the
			// function runs its default version.
			continue
		}
		out[r.Function] = p
	}
	t.mu.Lock()
	t.clock, t.cache = clock, out
	t.mu.Unlock()
	return out, nil
}

// Get returns function's stored policy and the seq of its last change
// (ok false: none).
func (t *StoreTable) Get(ctx context.Context, function string) (p Policy, seq uint64, ok bool, err error) {
	routes, err := t.S.Routes(ctx)
	if err != nil {
		return Policy{}, 0, false, err
	}
	for _, r := range routes {
		if r.Function == function {
			p, err := DecodePolicy(r.Policy)
			return p, r.Seq, err == nil, err
		}
	}
	return Policy{}, 0, false, nil
}

// Set validates p against fn (the function as this build has it) and
// makes it function's route, if the route is still at prev (the seq Get
// returned): a change made meanwhile by someone else fails with
// store.ErrStaleRoute, and nothing changes. who and why go to the
// history.
func (t *StoreTable) Set(ctx context.Context, fn AnyFunction, p Policy, prev uint64, who, why string) (store.RouteChange, error) {
	if fn == nil {
		return store.RouteChange{}, ErrUnknownFunction
	}
	if err := p.Validate(fn); err != nil {
		return store.RouteChange{}, err
	}
	b, err := p.Encode()
	if err != nil {
		return store.RouteChange{}, err
	}
	return t.S.SetRoute(ctx, store.RouteChange{Function: fn.Name(), Policy: b, Prev: prev, Who: who, Why: why})
}

// Remove removes function's route (its calls run their default version
// again), if it is still at prev.
func (t *StoreTable) Remove(ctx context.Context, function string, prev uint64, who, why string) (store.RouteChange, error) {
	return t.S.SetRoute(ctx, store.RouteChange{Function: function, Prev: prev, Who: who, Why: why})
}

// StoreSink is a Sink that stores divergences (store.RouteStore).
type StoreSink struct {
	// S is the store that keeps the divergences.
	S store.RouteStore
}

// Record stores d.
func (s StoreSink) Record(ctx context.Context, d Divergence) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.S.AddDivergences(ctx, store.Divergence{Function: d.Function, Task: d.Task, At: d.At, Noise: d.Noise, Data: b})
}

// DecodeDivergence decodes a divergence that StoreSink stored.
func DecodeDivergence(b []byte) (Divergence, error) {
	var d Divergence
	if err := json.Unmarshal(b, &d); err != nil {
		return Divergence{}, fmt.Errorf("router: decoding a divergence: %w", err)
	}
	if d.Function == "" {
		return Divergence{}, errors.New("router: decoding a divergence: no function")
	}
	return d, nil
}

// StoredDivergences reads the first limit divergences of function from
// rs, with the counts.
func StoredDivergences(ctx context.Context, rs store.RouteStore, function string, limit int) (ds []Divergence, total, noise int, err error) {
	rows, total, noise, err := rs.Divergences(ctx, function, limit)
	if err != nil {
		return nil, 0, 0, err
	}
	for _, r := range rows {
		d, err := DecodeDivergence(r.Data)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("router: stored divergence %d of %s: %w", r.Seq, function, err)
		}
		ds = append(ds, d)
	}
	return ds, total, noise, nil
}
