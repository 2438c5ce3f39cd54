package router_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/internal/poll"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/router"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/memstore"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// TestDurableRouteChange: on SQLite, a routing change made while tasks
// run is followed by the worker's router within one poll (waited for,
// not timed), a task that made its decision before the change keeps it
// across a restart (replay answers the journal), and its next call
// follows the new route; divergences of a shadow land in the store.
func TestDurableRouteChange(t *testing.T) {
	f := newFixture()
	path := filepath.Join(t.TempDir(), "amber.db")
	prog := effect.NewProgram("twice", 1, func(id string) effect.Eff[string] {
		return effect.Do(func(e *effect.Ctx) string {
			a := router.Call(e, f.fn, id)
			msg := effect.Await(e, effect.Receive[string]())
			b := router.Call(e, f.fn, id)
			return a + " " + msg + " " + b
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func() (store.Store, *interp.Durable, *router.Router, *router.StoreTable) {
		st, err := sqlite.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		table, err := router.NewStoreTable(st)
		if err != nil {
			t.Fatal(err)
		}
		rt := router.NewRouter(table, router.Options{Sink: router.StoreSink{S: table.S}})
		if err := rt.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); rt.Watch(wctx, 5*time.Millisecond, nil) }()
		t.Cleanup(func() { stop(); <-done })
		reg := task.NewRegistry()
		if err := task.Register(reg, prog); err != nil {
			t.Fatal(err)
		}
		d, err := interp.NewDurable(st, interp.WithRegistry(reg), interp.WithHandlers(f.handler...), interp.WithRoutes(rt), interp.WithLogger(slog.New(slog.DiscardHandler)),
			interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond}))
		if err != nil {
			t.Fatal(err)
		}
		return st, d, rt, table
	}
	st, d, rt, table := open()
	if _, err := table.Set(ctx, f.fn, router.Policy{Primary: "1"}, 0, "test", "start"); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, func() (bool, error) { return rt.Decide("x", "lookupUser").Version == "1", nil }, "the router follows primary 1")
	h, err := interp.StartProgram(d, prog, "7", interp.WithID("req-7"))
	if err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, func() (bool, error) {
		rec, _, err := st.Load(ctx, h.ID())
		return err == nil && len(rec.Journal) >= 3, err
	}, "the task made its first call")

	// The change, while the task waits.
	_, seq, _, _ := table.Get(ctx, "lookupUser")
	if _, err := table.Set(ctx, f.fn, router.Policy{Primary: "2"}, seq, "test", "promote"); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, func() (bool, error) { return rt.Decide("x", "lookupUser").Version == "2", nil }, "the router follows primary 2")

	// A restart: the task is rebuilt by replay.
	d.Close()
	st.Close()
	st, d, _, table = open()
	defer st.Close()
	defer d.Close()
	if err := d.Send("req-7", "then"); err != nil {
		t.Fatal(err)
	}
	h2, ok := d.Task("req-7")
	if !ok {
		t.Fatal("no task req-7")
	}
	got, err := h2.Wait(ctx)
	if err != nil || got != "v1:ann-7 then v2:ann-7" {
		t.Fatalf("got %q, %v; want the first call on v1 (decided before), the second on v2", got, err)
	}
	hist, err := table.S.RouteHistory(ctx, "lookupUser")
	if err != nil || len(hist) != 2 || hist[1].Why != "promote" || string(hist[1].Old) == "" {
		t.Fatalf("history %+v, %v", hist, err)
	}
}

// TestStoreSink: a shadow's divergences are stored and read back with
// their counts.
func TestStoreSink(t *testing.T) {
	f := newFixture()
	st := memstore.New()
	defer st.Close()
	table, _ := router.NewStoreTable(st)
	ctx := context.Background()
	if _, err := table.Set(ctx, f.fn, router.Policy{Primary: "1", Shadow: &router.Shadow{Candidate: "2", Sampling: 1}}, 0, "", ""); err != nil {
		t.Fatal(err)
	}
	rt := router.NewRouter(table, router.Options{Sink: router.StoreSink{S: table.S}, Shadows: 8})
	_ = rt.Refresh(ctx)
	mock := interp.NewMock(interp.WithHandlers(f.handler...), interp.WithRoutes(rt))
	for _, id := range []string{"1", "2", "3"} {
		h, _ := interp.StartProgram(mock, f.program(), id)
		if _, err := h.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rt.Wait()
	ds, total, noise, err := router.StoredDivergences(ctx, table.S, "lookupUser", 2)
	if err != nil || total != 3 || noise != 0 || len(ds) != 2 || !strings.HasPrefix(ds[0].CandidateOutput, `"v2:ann-`) {
		t.Fatalf("stored: %+v %d %d %v", ds, total, noise, err)
	}
}
