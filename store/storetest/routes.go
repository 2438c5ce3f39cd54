package storetest

import (
	"errors"
	"fmt"
	"time"

	"github.com/amberrt/amber/store"
)

// routeStore returns the harness's store as a store.RouteStore; every
// store of this module is one.
func (h *harness) routeStore() store.RouteStore {
	h.t.Helper()
	rs, ok := h.s.(store.RouteStore)
	if !ok {
		h.t.Fatalf("%T is not a store.RouteStore", h.s)
	}
	return rs
}

// testRoutes: SetRoute sets and replaces routes, with a history that
// records old and new, compare-and-set on Prev, RoutesClock counts
// changes, a nil policy removes a route.
func testRoutes(h *harness) {
	rs := h.routeStore()
	if n, err := rs.RoutesClock(bg); err != nil || n != 0 {
		h.t.Errorf("RoutesClock of an empty store = %d, %v; want 0", n, err)
	}
	c1, err := rs.SetRoute(bg, store.RouteChange{Function: "f", Policy: []byte(`{"primary":"1"}`), Who: "ann", Why: "first"})
	if err != nil {
		h.t.Fatalf("SetRoute: %v", err)
	}
	if c1.Seq != 1 || c1.Old != nil || c1.At.IsZero() {
		h.t.Errorf("first change = %+v; want Seq 1, no Old, a time", c1)
	}
	if _, err := rs.SetRoute(bg, store.RouteChange{Function: "f", Policy: []byte(`{"primary":"2"}`)}); !errors.Is(err, store.ErrStaleRoute) {
		h.t.Errorf("SetRoute with Prev 0 over a route: %v; want ErrStaleRoute", err)
	}
	c2, err := rs.SetRoute(bg, store.RouteChange{Function: "f", Policy: []byte(`{"primary":"2"}`), Prev: c1.Seq, Who: "bob"})
	if err != nil {
		h.t.Fatalf("SetRoute: %v", err)
	}
	if c2.Seq != 2 || string(c2.Old) != `{"primary":"1"}` {
		h.t.Errorf("second change = %+v; want Seq 2, Old the first policy", c2)
	}
	if _, err := rs.SetRoute(bg, store.RouteChange{Function: "g", Policy: []byte(`{"primary":"1"}`)}); err != nil {
		h.t.Fatalf("SetRoute g: %v", err)
	}
	routes, err := rs.Routes(bg)
	if err != nil || len(routes) != 2 || routes[0].Function != "f" || string(routes[0].Policy) != `{"primary":"2"}` || routes[0].Seq != 2 || routes[1].Function != "g" {
		h.t.Errorf("Routes = %+v, %v", routes, err)
	}
	if n, err := rs.RoutesClock(bg); err != nil || n != 3 {
		h.t.Errorf("RoutesClock = %d, %v; want 3", n, err)
	}
	hist, err := rs.RouteHistory(bg, "f")
	if err != nil || len(hist) != 2 || hist[0].Who != "ann" || hist[0].Why != "first" || hist[1].Who != "bob" || string(hist[1].Policy) != `{"primary":"2"}` {
		h.t.Errorf("RouteHistory(f) = %+v, %v", hist, err)
	}
	if all, err := rs.RouteHistory(bg, ""); err != nil || len(all) != 3 {
		h.t.Errorf("RouteHistory() = %d changes, %v; want 3", len(all), err)
	}
	if _, err := rs.SetRoute(bg, store.RouteChange{Function: "g", Prev: 3}); err != nil {
		h.t.Fatalf("removing g: %v", err)
	}
	if routes, err := rs.Routes(bg); err != nil || len(routes) != 1 {
		h.t.Errorf("Routes after removing g = %+v, %v", routes, err)
	}
}

// testDivergences: stored in order, counted with their noise, limited.
func testDivergences(h *harness) {
	rs := h.routeStore()
	at := T0.Truncate(time.Microsecond) // PostgreSQL keeps microseconds
	var ds []store.Divergence
	for i := range 5 {
		ds = append(ds, store.Divergence{Function: "f", Task: fmt.Sprint("t", i), At: at, Noise: i == 4, Data: []byte{byte(i)}})
	}
	ds = append(ds, store.Divergence{Function: "other", Task: "x", At: at, Data: []byte("x")})
	if err := rs.AddDivergences(bg, ds...); err != nil {
		h.t.Fatalf("AddDivergences: %v", err)
	}
	got, total, noise, err := rs.Divergences(bg, "f", 3)
	if err != nil || total != 5 || noise != 1 || len(got) != 3 {
		h.t.Fatalf("Divergences = %d of %d (%d noise), %v; want 3 of 5 (1 noise)", len(got), total, noise, err)
	}
	for i, d := range got {
		if d.Task != fmt.Sprint("t", i) || d.Data[0] != byte(i) || !d.At.Equal(at) || d.Seq == 0 {
			h.t.Errorf("divergence %d = %+v", i, d)
		}
	}
	if _, total, _, err := rs.Divergences(bg, "none", 3); err != nil || total != 0 {
		h.t.Errorf("Divergences of an unknown function: %d, %v", total, err)
	}
}

// testRoutesReopen: routes and their history survive a restart.
func testRoutesReopen(h *harness) {
	rs := h.routeStore()
	if _, err := rs.SetRoute(bg, store.RouteChange{Function: "f", Policy: []byte(`{"primary":"1"}`)}); err != nil {
		h.t.Fatal(err)
	}
	h.reopen()
	rs = h.routeStore()
	if routes, err := rs.Routes(bg); err != nil || len(routes) != 1 {
		h.t.Errorf("Routes after reopen = %+v, %v", routes, err)
	}
	if n, err := rs.RoutesClock(bg); err != nil || n != 1 {
		h.t.Errorf("RoutesClock after reopen = %d, %v", n, err)
	}
}
