package inspect_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/inspect"
	"github.com/amberrt/amber/router"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
	"github.com/stretchr/testify/require"
)

// fakeVersions and fakeRoutes stand for a store that keeps versions and
// routes.
type fakeVersions struct {
	vs  []inspect.ProgramVersion
	cs  []inspect.VersionChange
	err error
}

func (f fakeVersions) ProgramVersions(context.Context) ([]inspect.ProgramVersion, error) {
	return f.vs, f.err
}

func (f fakeVersions) VersionChanges(context.Context, int) ([]inspect.VersionChange, error) {
	return f.cs, f.err
}

type fakeRoutes struct {
	routes []inspect.Route
	cs     []inspect.RouteChange
	ds     []inspect.RouteDivergence
	err    error
}

func (f fakeRoutes) Routes(context.Context) ([]inspect.Route, error) { return f.routes, f.err }

func (f fakeRoutes) RouteChanges(_ context.Context, fn string, _ int) ([]inspect.RouteChange, error) {
	var out []inspect.RouteChange
	for _, c := range f.cs {
		if fn == "" || c.Function == fn {
			out = append(out, c)
		}
	}
	return out, f.err
}

func (f fakeRoutes) RouteDivergences(_ context.Context, fn string, _ int) ([]inspect.RouteDivergence, int, int, error) {
	if fn != "price" {
		return nil, 0, 0, f.err
	}
	return f.ds, len(f.ds), 1, f.err
}

// TestVersionsPage: without a source, the registered versions and "not
// available"; with one, the store's versions, drain states and changes.
func TestVersionsPage(t *testing.T) {
	st, _ := sqliteStore(t)
	reg := debugRegistry()
	r := get(newServer(t, st, inspect.Options{Registry: reg}), "/versions")
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.NotContains(t, r.body, `id="versions-unavailable"`, "the store keeps versions")
	require.Contains(t, r.body, "<h2>ask</h2>")
	require.Equal(t, 3, strings.Count(r.body, `href="/tasks?program=ask&amp;version=`), "ask's three registered versions")
	require.Contains(t, r.body, `class="active">Versions</a>`)
	require.Contains(t, r.body, "No change yet.")

	// The store's own: tasks in flight per version, the current version
	// and the change log.
	populate(t, st, registry(), 3)
	require.NoError(t, st.SetCurrent(context.Background(), "ask", 3))
	r = get(newServer(t, st, inspect.Options{Registry: reg}), "/versions")
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.Regexp(t, `v1</a></td>\s*<td>draining</td><td>4 <small>\(1 running, 3 waiting\)</small></td><td>1</td>`, r.body)
	require.Contains(t, r.body, `v3</a> <span class="badge status-done">current</span>`)
	require.Contains(t, r.body, "<td>set-current</td><td>ask</td><td>v3</td>")

	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	src := fakeVersions{
		vs: []inspect.ProgramVersion{
			{Program: "ask", Version: 1, InFlight: map[task.Status]int{task.Waiting: 3, task.Running: 1}, Finished: 7, Drain: "draining", Oldest: hostileID},
			{Program: "ask", Version: 3, Current: true, Drain: "active", Workers: []string{"w-1"}},
			{Program: "gone", Version: 4, Retired: true, Drain: "drained", Finished: 2},
		},
		cs: []inspect.VersionChange{{Seq: 2, At: at, Kind: "set-current", Program: "ask", Version: 3}, {Seq: 1, At: at, Kind: "migrate", Program: "ask", Version: 3, Detail: `{"task":"` + hostile + `"}`}},
	}
	r = get(newServer(t, st, inspect.Options{Registry: reg, Versions: src}), "/versions")
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.NotContains(t, r.body, `id="versions-unavailable"`)
	require.Contains(t, r.body, `<td>draining</td><td>4 <small>(1 running, 3 waiting)</small></td><td>7</td>`)
	require.Contains(t, r.body, `v3</a> <span class="badge status-done">current</span>`)
	require.Contains(t, r.body, "<code>w-1</code>")
	require.Contains(t, r.body, "<h2>gone</h2>")
	require.Contains(t, r.body, "not registered", "a version the store knows and this binary does not")
	require.Contains(t, r.body, "set-current")
	require.NotContains(t, r.body, hostile)

	r = get(newServer(t, st, inspect.Options{Registry: reg, Versions: fakeVersions{err: errors.New("disk on fire")}}), "/versions")
	require.Equal(t, http.StatusOK, r.code)
	require.Contains(t, r.body, "could not be read: disk on fire")
}

// TestRoutesPages: routes, their history, and divergences side by side
// with the first differing op marked.
func TestRoutesPages(t *testing.T) {
	st, _ := sqliteStore(t)
	// A store that keeps no routing table.
	h := newServer(t, struct{ store.Store }{st}, inspect.Options{})
	for _, target := range []string{"/routes", "/routes/price"} {
		r := get(h, target)
		require.Equal(t, http.StatusOK, r.code, target)
		require.Contains(t, r.body, `id="routes-unavailable"`, target)
	}

	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	src := fakeRoutes{
		routes: []inspect.Route{{Function: "price", Primary: "v1", Percent: map[string]int{"v2": 10}, Candidate: "v3", Sampling: 0.25, Changed: at}},
		cs:     []inspect.RouteChange{{Seq: 1, At: at, Function: "price", New: "primary v1", Who: "ann", Why: hostile}},
		ds: []inspect.RouteDivergence{{Task: hostileID, At: at, Primary: "v1", Candidate: "v3",
			PrimaryOutput: "42", CandidateOutput: "43",
			PrimaryTrace:   []string{"effect.NowOp {}", "shop.GetPrice {\"SKU\": \"a\"}"},
			CandidateTrace: []string{"effect.NowOp {}", "shop.GetPrice {\"SKU\": \"b\"}", "effect.LogOp {}"},
			FirstDiff:      1}},
	}
	h = newServer(t, st, inspect.Options{Routes: src})
	r := get(h, "/routes")
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.Contains(t, r.body, `<a class="route-link" href="/routes/price">price</a></td><td>v1</td>`)
	require.Contains(t, r.body, "10% → v2")
	require.Contains(t, r.body, "v3 on 25% of calls")
	require.Contains(t, r.body, "<td>ann</td>")
	require.NotContains(t, r.body, hostile)

	r = get(h, "/routes/price")
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.Contains(t, r.body, "1 in all, 1 noise")
	require.Contains(t, r.body, `<tr class="first-diff"><td>2</td>`)
	require.Contains(t, r.body, `<tr class="differs"><td>3</td><td><code></code></td><td><code>effect.LogOp {}</code></td>`)
	require.Contains(t, r.body, `<tr class=""><td>1</td>`, "equal ops are not marked")
	require.NotContains(t, r.body, hostile)

	r = get(h, "/routes/nothing")
	require.Equal(t, http.StatusNotFound, r.code)
	r = get(newServer(t, st, inspect.Options{Routes: fakeRoutes{err: errors.New("gone")}}), "/routes/price")
	require.Equal(t, http.StatusOK, r.code)
	require.Contains(t, r.body, "could not be read: gone")
}

// TestRoutesPagesStore: the routes pages read the store's routing table:
// a route set and changed, its history, divergences recorded by the
// router's sink, and a stored divergence that does not decode.
func TestRoutesPagesStore(t *testing.T) {
	st, _ := sqliteStore(t)
	ctx := context.Background()
	h := newServer(t, st, inspect.Options{})
	r := get(h, "/routes")
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.NotContains(t, r.body, `id="routes-unavailable"`)
	require.Contains(t, r.body, "No function is routed.")

	p1, err := router.Policy{Primary: "v1"}.Encode()
	require.NoError(t, err)
	c, err := st.SetRoute(ctx, store.RouteChange{Function: "price", Policy: p1, Who: "ann", Why: "first"})
	require.NoError(t, err)
	p2, err := router.Policy{Primary: "v1", Percent: map[string]int{"v2": 10}, Shadow: &router.Shadow{Candidate: "v3", Sampling: 0.5}}.Encode()
	require.NoError(t, err)
	_, err = st.SetRoute(ctx, store.RouteChange{Function: "price", Policy: p2, Prev: c.Seq, Who: "bob", Why: hostile})
	require.NoError(t, err)
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	require.NoError(t, router.StoreSink{S: st}.Record(ctx, router.Divergence{Function: "price", Primary: "v1", Candidate: "v3", Task: hostileID, At: at,
		PrimaryOutput: "42", CandidateOutput: "43", PrimaryTrace: []string{"a", "b"}, CandidateTrace: []string{"a", "c"}, FirstDiff: 1}))
	require.NoError(t, st.AddDivergences(ctx, store.Divergence{Function: "price", Task: "t-2", At: at, Data: []byte("not json")}))

	r = get(h, "/routes")
	require.Contains(t, r.body, `<a class="route-link" href="/routes/price">price</a></td><td>v1</td>`)
	require.Contains(t, r.body, "10% → v2")
	require.Contains(t, r.body, "v3 on 50% of calls")
	require.Contains(t, r.body, "<code>primary v1, 10% → v2, shadow v3 on 50%</code>")
	require.NotContains(t, r.body, hostile)

	r = get(h, "/routes/price")
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.Contains(t, r.body, "2 in all, 0 noise")
	require.Contains(t, r.body, `<tr class="first-diff"><td>2</td><td><code>b</code></td><td><code>c</code></td></tr>`)
	require.Contains(t, r.body, "stored divergence 2 does not decode")
	require.NotContains(t, r.body, hostile)
}
