package router_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/router"
	"github.com/amberrt/amber/task"
)

// GetUser reads a user's name (a read: its handler counts its calls).
type GetUser struct {
	effect.Returns[string]
	ID string
}

// Notify is a write.
type Notify struct {
	effect.Returns[effect.Unit]
	To string
}

type fixture struct {
	fn      *router.Function[string, string]
	reads   atomic.Int64
	writes  atomic.Int64
	handler []effect.Handler
}

func newFixture() *fixture {
	f := &fixture{fn: router.New[string, string]("lookupUser")}
	router.Register(f.fn, "1", func(id string) effect.Eff[string] {
		return effect.Then(effect.Perform(GetUser{ID: id}), func(name string) effect.Eff[string] {
			return effect.Seq(effect.Perform(Notify{To: id}), effect.Pure("v1:"+name))
		})
	})
	router.Register(f.fn, "2", func(id string) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			e.Log(slog.LevelInfo, "v2 looking up", "id", id)
			name := effect.Call(e, GetUser{ID: id})
			effect.Call(e, Notify{To: id})
			effect.Call(e, Notify{To: "audit"}) // a write the primary never does
			return "v2:" + name
		})
	})
	router.Register(f.fn, "same", func(id string) effect.Eff[string] {
		return effect.Then(effect.Perform(GetUser{ID: id}), func(name string) effect.Eff[string] {
			return effect.Seq(effect.Perform(Notify{To: id}), effect.Pure("v1:"+name))
		})
	})
	f.handler = []effect.Handler{
		effect.Handle(func(_ context.Context, q GetUser) (string, error) { f.reads.Add(1); return "ann-" + q.ID, nil }),
		effect.Handle(func(_ context.Context, n Notify) (effect.Unit, error) { f.writes.Add(1); return effect.Unit{}, nil }),
	}
	return f
}

func (f *fixture) program() *effect.Program[string, string] {
	return effect.NewProgram("handle", 1, func(id string) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			return "got " + router.Call(e, f.fn, id)
		})
	})
}

func TestPrimaryAndReplay(t *testing.T) {
	f := newFixture()
	table := &router.MemTable{}
	if err := table.Set(f.fn, "lookupUser", router.Policy{Primary: "1"}); err != nil {
		t.Fatal(err)
	}
	rt := router.NewRouter(table, router.Options{})
	if err := rt.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	mock := interp.NewMock(interp.WithHandlers(f.handler...), interp.WithRoutes(rt))
	h, _ := interp.StartProgram(mock, f.program(), "7")
	got, err := h.Wait(context.Background())
	if err != nil || got != "got v1:ann-7" {
		t.Fatalf("got %q, %v", got, err)
	}
	j, _ := h.Journal()
	if j[0].Kind != "interp.RouteOp" || task.Render(j[0].Result) != `{"Version": "1"}` {
		t.Fatalf("first entry %s %s", j[0].Kind, task.Render(j[0].Result))
	}
	// The table now says 2; a replay answers the journaled 1.
	_ = table.Set(f.fn, "lookupUser", router.Policy{Primary: "2"})
	_ = rt.Refresh(context.Background())
	r, err := interp.Replay(context.Background(), f.program(), "7", j)
	if err != nil || r.Result != "got v1:ann-7" {
		t.Fatalf("replay: %v, %v", r, err)
	}
	// New calls follow the table.
	h, _ = interp.StartProgram(mock, f.program(), "8")
	if got, err := h.Wait(context.Background()); err != nil || got != "got v2:ann-8" {
		t.Fatalf("after the change: %q, %v", got, err)
	}
}

func TestShadowDivergenceAndCapture(t *testing.T) {
	f := newFixture()
	table := &router.MemTable{}
	_ = table.Set(f.fn, "lookupUser", router.Policy{Primary: "1", Shadow: &router.Shadow{Candidate: "2", Sampling: 1}})
	sink := &router.MemSink{}
	rt := router.NewRouter(table, router.Options{Sink: sink})
	_ = rt.Refresh(context.Background())
	mock := interp.NewMock(interp.WithHandlers(f.handler...), interp.WithRoutes(rt))
	h, _ := interp.StartProgram(mock, f.program(), "7")
	got, err := h.Wait(context.Background())
	rt.Wait()
	if err != nil || got != "got v1:ann-7" {
		t.Fatalf("primary: %q, %v", got, err)
	}
	if f.reads.Load() != 1 || f.writes.Load() != 1 {
		t.Errorf("handler calls: %d reads, %d writes; want 1, 1 (the candidate's are answered or captured)", f.reads.Load(), f.writes.Load())
	}
	ds := sink.Divergences("lookupUser")
	if len(ds) != 1 {
		t.Fatalf("divergences: %+v", ds)
	}
	d := ds[0]
	if d.Noise || d.PrimaryOutput != `"v1:ann-7"` || d.CandidateOutput != `"v2:ann-7"` || d.FirstDiff != 2 || d.Task != h.ID() {
		t.Errorf("divergence: %+v", d)
	}
	t.Logf("%+v", d)
	if s := rt.Stats("lookupUser"); s.Shadowed != 1 || s.Divergent != 1 {
		t.Errorf("stats %+v", s)
	}
	// The journal is the primary's alone.
	j, _ := h.Journal()
	if len(j) != 3 {
		t.Errorf("journal of %d entries, want 3 (route, GetUser, Notify)", len(j))
	}
}

func TestShadowSameIsNoDivergence(t *testing.T) {
	f := newFixture()
	table := &router.MemTable{}
	_ = table.Set(f.fn, "lookupUser", router.Policy{Primary: "1", Shadow: &router.Shadow{Candidate: "same", Sampling: 1}})
	sink := &router.MemSink{}
	rt := router.NewRouter(table, router.Options{Sink: sink, Shadows: 8})
	_ = rt.Refresh(context.Background())
	mock := interp.NewMock(interp.WithHandlers(f.handler...), interp.WithRoutes(rt))
	for i := range 5 {
		h, _ := interp.StartProgram(mock, f.program(), strconv.Itoa(i))
		if _, err := h.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	rt.Wait()
	if ds := sink.Divergences(""); len(ds) != 0 {
		t.Fatalf("divergences: %+v", ds)
	}
	if s := rt.Stats("lookupUser"); s.Shadowed != 5 || s.Divergent != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestPercentSticky(t *testing.T) {
	f := newFixture()
	table := &router.MemTable{}
	_ = table.Set(f.fn, "lookupUser", router.Policy{Primary: "1", Percent: map[string]int{"2": 10}})
	rt := router.NewRouter(table, router.Options{})
	_ = rt.Refresh(context.Background())
	n := 0
	for i := range 10000 {
		id := fmt.Sprintf("task-%d", i)
		v := rt.Decide(id, "lookupUser").Version
		if v == "2" {
			n++
		}
		if again := rt.Decide(id, "lookupUser").Version; again != v {
			t.Fatalf("task %s flipped from %s to %s", id, v, again)
		}
	}
	if pct := float64(n) / 100; pct < 8.5 || pct > 11.5 {
		t.Fatalf("%.2f %% of tasks on version 2, want 10 ± 1.5", pct)
	}
}

func TestTaskOverrideAndReplaySwap(t *testing.T) {
	f := newFixture()
	table := &router.MemTable{}
	_ = table.Set(f.fn, "lookupUser", router.Policy{Primary: "1"})
	rt := router.NewRouter(table, router.Options{})
	_ = rt.Refresh(context.Background())
	mock := interp.NewMock(interp.WithHandlers(f.handler...), interp.WithRoutes(rt))
	prog := effect.NewProgram("handle", 1, func(id string) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			a := router.Call(e, f.fn, id)
			e.Log(slog.LevelInfo, "between")
			b := router.Call(e, f.fn, id+"x")
			return a + "," + b
		})
	})
	h, _ := interp.StartProgram(mock, prog, "7")
	got, err := h.Wait(context.Background())
	if err != nil || got != "v1:ann-7,v1:ann-7x" {
		t.Fatalf("%q %v", got, err)
	}
	reads, writes := f.reads.Load(), f.writes.Load()
	j, _ := h.Journal()
	r, err := interp.Replay(context.Background(), prog, "7", j, interp.WithRoute("lookupUser", "2"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Result != "v2:ann-7,v2:ann-7x" || len(r.Swaps) != 2 {
		t.Fatalf("swap replay: %+v", r)
	}
	if f.reads.Load() != reads || f.writes.Load() != writes {
		t.Errorf("the swap replay called handlers")
	}
	sw := r.Swaps[0]
	if sw.Version != "2" || sw.Sandbox.Captured != 1 || sw.Sandbox.Trace[0].Kind != "effect.LogOp" {
		t.Errorf("swap: %+v", sw.Sandbox)
	}
	for _, op := range sw.Sandbox.Trace {
		t.Log(op, op.Source)
	}
}

func TestUnknownVersionFailsTheCall(t *testing.T) {
	f := newFixture()
	table := &router.MemTable{}
	_ = table.Set(nil, "lookupUser", router.Policy{Primary: "9"})
	rt := router.NewRouter(table, router.Options{})
	_ = rt.Refresh(context.Background())
	mock := interp.NewMock(interp.WithHandlers(f.handler...), interp.WithRoutes(rt))
	h, _ := interp.StartProgram(mock, f.program(), "7")
	if _, err := h.Wait(context.Background()); !errors.Is(err, router.ErrUnknownVersion) {
		t.Fatalf("err %v", err)
	}
}

func TestValidate(t *testing.T) {
	f := newFixture()
	for _, tc := range []struct {
		name string
		p    router.Policy
	}{
		{"no primary", router.Policy{}},
		{"unknown primary", router.Policy{Primary: "7"}},
		{"percent above 100", router.Policy{Primary: "1", Percent: map[string]int{"2": 101}}},
		{"percent below 0", router.Policy{Primary: "1", Percent: map[string]int{"2": -1}}},
		{"percents add up above 100", router.Policy{Primary: "1", Percent: map[string]int{"2": 60, "same": 50}}},
		{"unknown percent version", router.Policy{Primary: "1", Percent: map[string]int{"3": 5}}},
		{"unknown candidate", router.Policy{Primary: "1", Shadow: &router.Shadow{Candidate: "3", Sampling: 1}}},
		{"sampling 0", router.Policy{Primary: "1", Shadow: &router.Shadow{Candidate: "2"}}},
		{"sampling above 1", router.Policy{Primary: "1", Shadow: &router.Shadow{Candidate: "2", Sampling: 2}}},
		{"unknown task version", router.Policy{Primary: "1", Tasks: map[string]string{"t1": "debug"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate(f.fn)
			if !errors.Is(err, router.ErrBadPolicy) {
				t.Fatalf("Validate = %v, want ErrBadPolicy", err)
			}
			t.Log(err)
		})
	}
	forced := router.Policy{Primary: "7", Force: true}
	if err := forced.Validate(f.fn); err != nil {
		t.Fatalf("forced: %v", err)
	}
	if u := forced.Unroutable(f.fn); len(u) != 1 || u[0] != "7" {
		t.Fatalf("unroutable %v", u)
	}
}

// TestCatalogTypes: a function name is defined once; a second definition
// with other types (a candidate with a different output type) is a clear
// error.
func TestCatalogTypes(t *testing.T) {
	c := &router.Catalog{}
	if err := c.Add(router.New[string, int]("f")); err != nil {
		t.Fatal(err)
	}
	err := c.Add(router.New[string, string]("f"))
	if err == nil || !strings.Contains(err.Error(), "string -> int and string -> string") {
		t.Fatalf("second definition: %v", err)
	}
	if fn, ok := c.Lookup("f"); !ok || fn.OutputType().String() != "int" {
		t.Fatalf("the first definition was replaced")
	}
}

// TestShadowCandidateLoops: a candidate that never ends is stopped by the
// sandbox's op budget; the primary and the worker are unaffected.
func TestShadowCandidateLoops(t *testing.T) {
	fn := router.New[string, string]("loop")
	router.Register(fn, "1", func(id string) effect.Eff[string] { return effect.Pure(id) })
	router.Register(fn, "2", func(id string) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			for {
				e.Now()
			}
		})
	})
	table := &router.MemTable{}
	_ = table.Set(fn, "loop", router.Policy{Primary: "1", Shadow: &router.Shadow{Candidate: "2", Sampling: 1}})
	sink := &router.MemSink{}
	rt := router.NewRouter(table, router.Options{Sink: sink})
	_ = rt.Refresh(context.Background())
	mock := interp.NewMock(interp.WithRoutes(rt))
	got, err := interp.Run(context.Background(), mock, router.Run(fn, "x"))
	rt.Wait()
	if err != nil || got != "x" {
		t.Fatalf("primary: %q, %v", got, err)
	}
	ds := sink.Divergences("loop")
	if len(ds) != 1 || !strings.Contains(ds[0].CandidateOutput, "too many ops") {
		t.Fatalf("divergences %+v", ds)
	}
}
