package store

import (
	"context"
	"errors"
	"time"
)

// RouteStore is implemented by the stores that keep a routing table
// (package router): every store of this module. It is a separate
// interface, discovered with a type assertion, so that a Store written
// against an older contract still runs tasks.
//
// Policies and divergences are opaque bytes here: the router encodes
// them. Every change of a route is recorded in its history in the same
// transaction as the change.
type RouteStore interface {
	// Routes returns every function's current route, by function name.
	Routes(ctx context.Context) ([]Route, error)
	// RoutesClock returns the number of route changes ever made: one
	// small read, cheap enough for every worker to poll.
	RoutesClock(ctx context.Context) (uint64, error)
	// SetRoute makes c.Policy the route of c.Function (nil Policy removes
	// it) if the route is still at c.Prev (the Seq of the route it
	// replaces, 0 for none), and records the change in the history. It
	// returns the change as stored (Seq, At and Old filled), or an error
	// matching ErrStaleRoute if another change came first (nothing
	// changed).
	SetRoute(ctx context.Context, c RouteChange) (RouteChange, error)
	// RouteHistory returns the changes of function's route, oldest first
	// ("" for every function's).
	RouteHistory(ctx context.Context, function string) ([]RouteChange, error)
	// AddDivergences stores divergences.
	AddDivergences(ctx context.Context, ds ...Divergence) error
	// Divergences returns the first limit divergences of function, oldest
	// first, and how many it has in all and how many of them are noise.
	Divergences(ctx context.Context, function string, limit int) (ds []Divergence, total, noise int, err error)
}

// ErrStaleRoute is matched by the error of a SetRoute whose Prev is not
// the route's current Seq.
var ErrStaleRoute = errors.New("store: the route changed meanwhile")

// Route is one function's current route.
type Route struct {
	// Function names the function; Policy is its route, as the router
	// encoded it.
	Function string
	Policy   []byte
	// Seq is the clock of the change that set it (RoutesClock's count
	// then); At is its time.
	Seq uint64
	At  time.Time
}

// RouteChange is one change of a route.
type RouteChange struct {
	// Function is the function whose route changed; Policy is the new
	// route (nil: removed) and Old the route it replaced (nil: none).
	Function string
	Policy   []byte
	Old      []byte
	// Prev is the Seq of the route the change replaces (0: none).
	Prev uint64
	// Who made the change and Why, as the caller says.
	Who, Why string
	// Seq numbers the change among all changes (1, 2, ...) and At is its
	// time: set by the store.
	Seq uint64
	At  time.Time
}

// Divergence is one stored divergence of a shadowed call.
type Divergence struct {
	// Seq numbers the divergences of the store (set by the store).
	Seq uint64
	// Function, Task and At locate the call; Noise reports that the
	// primary did not reproduce itself (A/A).
	Function string
	Task     string
	At       time.Time
	Noise    bool
	// Data is the divergence as the router encoded it.
	Data []byte
}
