package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// The STM world: versioned vars, validated commits, the world clock.

// world returns the store's world by name.
func (h *harness) world() map[string]store.WorldValue {
	h.t.Helper()
	snap, err := h.s.World(bg)
	if err != nil {
		h.t.Fatalf("World: %v", err)
	}
	return byName(h, snap)
}

func byName(h *harness, snap store.WorldSnapshot) map[string]store.WorldValue {
	h.t.Helper()
	w := map[string]store.WorldValue{}
	for i, v := range snap.Vars {
		if i > 0 && snap.Vars[i-1].Name >= v.Name {
			h.t.Errorf("world vars %q then %q, want them by name", snap.Vars[i-1].Name, v.Name)
		}
		if v.Clock > snap.Clock {
			h.t.Errorf("world var %s written at clock %d, after the snapshot's clock %d", v.Name, v.Clock, snap.Clock)
		}
		w[v.Name] = v
	}
	return w
}

// render shows a world as name=value@version, by name.
func render(w map[string]store.WorldValue) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(w)) {
		v := w[name]
		parts = append(parts, fmt.Sprintf("%s=%x@%d", name, v.Value, v.Version))
	}
	return strings.Join(parts, " ")
}

// wantWorld checks the world, as name=value@version by name.
func (h *harness) wantWorld(want string) {
	h.t.Helper()
	if got := render(h.world()); got != want {
		h.t.Errorf("world = [%s], want [%s]", got, want)
	}
}

// write is a world write of var name, replacing version prev.
func write(name string, prev uint64, value ...byte) store.WorldWrite {
	return store.WorldWrite{Name: name, Value: value, Prev: prev}
}

func read(name string, version uint64) store.WorldRead {
	return store.WorldRead{Name: name, Version: version}
}

// commitOne commits one step and returns its error.
func (h *harness) commitOne(s store.Step) error {
	h.t.Helper()
	errs, err := h.s.Commit(bg, []store.Step{s})
	if err != nil {
		h.t.Fatalf("Commit: %v", err)
	}
	return errs[0]
}

// wantStale checks that err refuses a step as stale, with the current
// rows of exactly the vars named in fresh (name=value@version).
func (h *harness) wantStale(what string, err error, fresh string) {
	h.t.Helper()
	var se *store.StaleError
	if !errors.Is(err, store.ErrStale) || !errors.As(err, &se) {
		h.t.Errorf("%s: %v, want a *store.StaleError matching store.ErrStale", what, err)
		return
	}
	got := map[string]store.WorldValue{}
	for _, v := range se.Fresh {
		got[v.Name] = v
	}
	if r := render(got); r != fresh {
		h.t.Errorf("%s: stale error carries [%s], want [%s]", what, r, fresh)
	}
}

func testWorldEmpty(h *harness) {
	snap, err := h.s.World(bg)
	if err != nil || len(snap.Vars) != 0 || snap.Clock != 0 {
		h.t.Errorf("World of an empty store = %+v, %v; want no vars at clock 0", snap, err)
	}
}

// testCommitWorld: a step's writes make version Prev+1 of each var, at
// the clock of their commit.
func testCommitWorld(h *harness) {
	h.createIDs("a")
	l := h.claimOne("w", "a", T0)
	s := step("w", l, task.Running)
	s.World = []store.WorldWrite{write("x", 0, 1), write("y", 0, 2)}
	s.Keep = true
	h.commit(s)
	first := h.world()
	s = store.Step{ID: "a", Owner: "w", Epoch: l.Epoch, Steps: 1, Status: task.Done,
		World: []store.WorldWrite{write("x", 1, 3, 3)}}
	h.commit(s)
	h.wantWorld("x=0303@2 y=02@1")
	w := h.world()
	if first["x"].Clock == 0 || first["x"].Clock != first["y"].Clock || w["x"].Clock <= first["x"].Clock || w["y"].Clock != first["y"].Clock {
		h.t.Errorf("clocks of x and y after the first commit %d, %d; after the second %d, %d: want one clock per commit, increasing",
			first["x"].Clock, first["y"].Clock, w["x"].Clock, w["y"].Clock)
	}
}

// testCommitWorldOnly: a step without a task writes the world alone.
func testCommitWorldOnly(h *harness) {
	h.createIDs("a")
	h.commit(store.Step{World: []store.WorldWrite{write("x", 0, 7)}})
	h.wantWorld("x=07@1")
	if r, _ := h.load("a"); r.Status != task.Running || len(r.Journal) != 0 {
		h.t.Errorf("a step with no task changed a task: %+v", r)
	}
	if l := h.claimOne("w", "a", T0); l.Steps != 0 {
		h.t.Errorf("a step with no task changed a task's step count: %+v", l)
	}
}

// testWorldStaleRead: a step that read a var another commit has changed
// since is refused with the var's current row, and nothing of it is
// applied; the step beside it commits, and the refused one commits once
// run again on the fresh value.
func testWorldStaleRead(h *harness) {
	h.createIDs("a", "b", "c")
	h.commit(store.Step{World: []store.WorldWrite{write("x", 0, 1)}})
	ls := h.claim("w", 10, T0)
	var la, lb, lc store.Lease
	for _, l := range ls {
		switch l.ID {
		case "a":
			la = l
		case "b":
			lb = l
		case "c":
			lc = l
		}
	}
	h.commit(step("w", lc, task.Waiting))
	// a read x before the commit above (version 0: it did not exist).
	sa := step("w", la, task.Waiting)
	sa.Append = NewEntries(1, 2)
	sa.WorldReads = []store.WorldRead{read("x", 0)}
	sa.World = []store.WorldWrite{write("y", 0, 9)}
	sa.Sends = []store.Outgoing{{To: "c", Env: NewEnvelope("from a stale step")}}
	sa.Spawns = []*task.Record{NewRecord("child")}
	sb := step("w", lb, task.Waiting)
	sb.Append = NewEntries(1, 1)
	sb.WorldReads = []store.WorldRead{read("x", 1)}
	sb.World = []store.WorldWrite{write("z", 0, 5)}
	errs, err := h.s.Commit(bg, []store.Step{sa, sb})
	if err != nil {
		h.t.Fatal(err)
	}
	h.wantStale("Commit of a step that read x at version 0, now 1", errs[0], "x=01@1")
	if errs[1] != nil {
		h.t.Errorf("Commit of a step with current reads beside a stale one: %v", errs[1])
	}
	h.wantWorld("x=01@1 z=05@1")
	if r, _ := h.load("a"); len(r.Journal) != 0 || r.Status != task.Running {
		h.t.Errorf("a refused stale step changed its task: %+v", r)
	}
	if ms, _ := h.s.Messages(bg, "c", 0); len(ms) != 0 {
		h.t.Errorf("a refused stale step delivered its messages: %v", ms)
	}
	if _, _, err := h.s.Load(bg, "child"); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("a refused stale step spawned its task: %v", err)
	}
	// The lease stands: run again on the fresh value, the step commits.
	sa.WorldReads = []store.WorldRead{read("x", 1)}
	if err := h.commitOne(sa); err != nil {
		h.t.Errorf("Commit of the step run again on fresh values: %v", err)
	}
	h.wantWorld("x=01@1 y=09@1 z=05@1")
}

// testWorldBlindWrite: a write cannot overwrite a version it did not
// replace: not a newer one (a late commit of a worker that read an old
// value), not one it has not seen created (Prev 0), not one that does not
// exist yet.
func testWorldBlindWrite(h *harness) {
	h.commit(store.Step{World: []store.WorldWrite{write("x", 0, 1)}})
	h.commit(store.Step{World: []store.WorldWrite{write("x", 1, 2)}})
	for _, c := range []struct {
		name string
		w    store.WorldWrite
	}{
		{"an old version", write("x", 1, 0xbb)},
		{"as if new", write("x", 0, 0xbb)},
		{"a version to come", write("x", 3, 0xbb)},
	} {
		h.createIDs("t-" + c.name)
		l := h.claimOne("w", "t-"+c.name, T0)
		s := step("w", l, task.Done)
		s.World = []store.WorldWrite{c.w, write("other-"+c.name, 0, 1)}
		h.wantStale("Commit of a write of x over "+c.name, h.commitOne(s), "x=02@2")
		h.wantStale("Commit of a world-only write of x over "+c.name, h.commitOne(store.Step{World: s.World}), "x=02@2")
		if r, _ := h.load("t-" + c.name); r.Status != task.Running {
			h.t.Errorf("%s: a refused step finished its task", c.name)
		}
	}
	// A var that does not exist, written as if it did.
	h.wantStale("Commit of a write of a new var at Prev 1", h.commitOne(store.Step{World: []store.WorldWrite{write("new", 1, 1)}}), "new=@0")
	h.wantWorld("x=02@2")
}

// testWorldOnlyStale: a step of world writes alone is validated the same
// way: its reads, its writes, all or nothing.
func testWorldOnlyStale(h *harness) {
	h.commit(store.Step{World: []store.WorldWrite{write("x", 0, 1), write("y", 0, 1)}})
	h.commit(store.Step{World: []store.WorldWrite{write("y", 1, 2)}})
	err := h.commitOne(store.Step{WorldReads: []store.WorldRead{read("y", 1)}, World: []store.WorldWrite{write("x", 1, 7)}})
	h.wantStale("Commit of world writes after a stale read", err, "y=02@2")
	err = h.commitOne(store.Step{World: []store.WorldWrite{write("x", 1, 7), write("y", 1, 7)}})
	h.wantStale("Commit of world writes, one stale", err, "y=02@2")
	h.wantWorld("x=01@1 y=02@2")
	// Reads alone, current: accepted, and nothing changes.
	before, _ := h.s.World(bg)
	if err := h.commitOne(store.Step{WorldReads: []store.WorldRead{read("x", 1), read("y", 2), read("none", 0)}}); err != nil {
		h.t.Errorf("Commit of current reads alone: %v", err)
	}
	if after, _ := h.s.World(bg); after.Clock != before.Clock {
		h.t.Errorf("a commit that wrote no var moved the world clock from %d to %d", before.Clock, after.Clock)
	}
	// Within one Commit, a later step sees the earlier ones.
	errs, err2 := h.s.Commit(bg, []store.Step{
		{World: []store.WorldWrite{write("z", 0, 1)}},
		{World: []store.WorldWrite{write("z", 0, 2)}},
		{World: []store.WorldWrite{write("z", 1, 3)}},
	})
	if err2 != nil {
		h.t.Fatal(err2)
	}
	if errs[0] != nil || errs[2] != nil {
		h.t.Errorf("Commit of z@0 then z@1 in one batch: %v", errs)
	}
	h.wantStale("the second of two writes of z over version 0 in one batch", errs[1], "z=01@1")
	h.wantWorld("x=01@1 y=02@2 z=03@2")
}

// testWorldBadStep: a step that writes a var twice, or reads and writes
// it, is refused (not as stale) and the steps beside it commit.
func testWorldBadStep(h *harness) {
	errs, err := h.s.Commit(bg, []store.Step{
		{World: []store.WorldWrite{write("x", 0, 1), write("x", 0, 2)}},
		{World: []store.WorldWrite{write("y", 0, 1)}, WorldReads: []store.WorldRead{read("y", 0)}},
		{World: []store.WorldWrite{write("z", 0, 1)}},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	for i, what := range []string{"writes x twice", "reads and writes y"} {
		if errs[i] == nil || errors.Is(errs[i], store.ErrStale) {
			h.t.Errorf("Commit of a step that %s: %v, want an error of its own", what, errs[i])
		}
	}
	if errs[2] != nil {
		h.t.Errorf("Commit of a good step beside bad ones: %v", errs[2])
	}
	h.wantWorld("z=01@1")
}

// testWorldSince: the world clock orders world commits; WorldSince(c)
// returns exactly the vars written after c, and applied over the snapshot
// at c gives the world.
func testWorldSince(h *harness) {
	h.commit(store.Step{World: []store.WorldWrite{write("x", 0, 1)}})
	s1, err := h.s.World(bg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.commit(store.Step{World: []store.WorldWrite{write("y", 0, 1)}})
	s2, _ := h.s.World(bg)
	h.commit(store.Step{World: []store.WorldWrite{write("x", 1, 2), write("z", 0, 1)}})
	// Neither a refused commit nor reads alone move the clock.
	h.wantStale("Commit of x as new", h.commitOne(store.Step{World: []store.WorldWrite{write("x", 0, 9)}}), "x=02@2")
	h.commit(store.Step{WorldReads: []store.WorldRead{read("x", 2)}})
	s3, _ := h.s.World(bg)
	if !(s1.Clock > 0 && s2.Clock > s1.Clock && s3.Clock > s2.Clock) {
		h.t.Errorf("clocks after 1, 2 and 3 commits = %d, %d, %d: want them increasing", s1.Clock, s2.Clock, s3.Clock)
	}
	for _, c := range []struct {
		after uint64
		want  string
	}{
		{s1.Clock, "x=02@2 y=01@1 z=01@1"},
		{s2.Clock, "x=02@2 z=01@1"},
		{s3.Clock, ""},
	} {
		since, err := h.s.WorldSince(bg, c.after)
		if err != nil {
			h.t.Fatal(err)
		}
		if got := render(byName(h, since)); got != c.want || since.Clock != s3.Clock {
			h.t.Errorf("WorldSince(%d) = [%s] at clock %d, want [%s] at clock %d", c.after, got, since.Clock, c.want, s3.Clock)
		}
	}
	// Applied over the snapshot at s1, WorldSince(s1) is the world.
	w := byName(h, s1)
	since, _ := h.s.WorldSince(bg, s1.Clock)
	for _, v := range since.Vars {
		w[v.Name] = v
	}
	if got, want := render(w), render(h.world()); got != want {
		h.t.Errorf("the snapshot at %d with WorldSince(%d) = [%s], want the world [%s]", s1.Clock, s1.Clock, got, want)
	}
	if since, err := h.s.WorldSince(bg, 0); err != nil || render(byName(h, since)) != render(h.world()) {
		h.t.Errorf("WorldSince(0) = %+v, %v; want the whole world", since, err)
	}
	for _, v := range h.world() {
		if v.Clock == 0 {
			h.t.Errorf("var %s has clock 0, written by a commit", v.Name)
		}
	}
}

// testWorldReopen: versions, clocks and values survive a restart, and
// the clock goes on from where it was.
func testWorldReopen(h *harness) {
	h.commit(store.Step{World: []store.WorldWrite{write("x", 0, 1), write("y", 0, 1)}})
	h.commit(store.Step{World: []store.WorldWrite{write("x", 1, 2)}})
	before, err := h.s.World(bg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.reopen()
	after, err := h.s.World(bg)
	if err != nil {
		h.t.Fatal(err)
	}
	if a, b := render(byName(h, after)), render(byName(h, before)); a != b || after.Clock != before.Clock {
		h.t.Errorf("world after reopening = [%s] at clock %d, want [%s] at clock %d", a, after.Clock, b, before.Clock)
	}
	h.wantStale("a blind write after reopening", h.commitOne(store.Step{World: []store.WorldWrite{write("x", 1, 9)}}), "x=02@2")
	h.commit(store.Step{World: []store.WorldWrite{write("x", 2, 3)}})
	w := h.world()
	if w["x"].Version != 3 || w["x"].Clock <= before.Clock {
		h.t.Errorf("x after a commit once reopened: version %d at clock %d, want version 3 at a clock after %d",
			w["x"].Version, w["x"].Clock, before.Clock)
	}
}

// testWorldWaits: a task waiting in a Retry (Step.WaitWorld) is made
// ready by a later commit that writes a var it waits on, or at once if
// one is already at another version; a task that took a step since is
// not woken by its old waits; a wait sees the steps of its Commit around
// it.
func testWorldWaits(h *harness) {
	h.createIDs("a", "b", "c", "d")
	ls := h.claim("w", 10, T0)
	if len(ls) != 4 {
		h.t.Fatalf("Claim = %v, want a, b, c, d", leaseIDs(ls))
	}
	h.commit(store.Step{World: []store.WorldWrite{write("y", 0, 1)}})
	waiting := func(l store.Lease, reads ...store.WorldRead) store.Step {
		s := step("w", l, task.Waiting)
		s.Wait = &task.Wait{Kind: task.WaitSTM}
		s.WaitWorld = reads
		return s
	}
	byID := map[string]store.Lease{}
	for _, l := range ls {
		byID[l.ID] = l
	}
	h.commit(waiting(byID["a"], read("x", 0), read("y", 1)), waiting(byID["b"], read("y", 1)),
		waiting(byID["c"], read("y", 0))) // c read y before it was written: ready at once
	h.wantReady("c")

	h.commit(store.Step{World: []store.WorldWrite{write("x", 0, 2)}})
	h.wantReady("a") // and a takes a step: its wait on y is old
	h.commit(store.Step{World: []store.WorldWrite{write("y", 1, 3)}})
	h.wantReady("b")
	h.commit(store.Step{World: []store.WorldWrite{write("x", 1, 4), write("y", 2, 5)}})
	h.wantReady() // every wait was used up

	// In one Commit: d waits on z, then a step writes z.
	h.commit(waiting(byID["d"], read("z", 0)), store.Step{World: []store.WorldWrite{write("z", 0, 6)}})
	h.wantReady("d")
	// A step that writes z, then d waits on the version before it.
	l := h.claimOneID("w", "d", T0)
	h.commit(store.Step{World: []store.WorldWrite{write("z", 1, 7)}}, waiting(l, read("z", 1)))
	h.wantReady("d")

	// A finished task is not woken.
	l = h.claimOneID("w", "d", T0)
	h.commit(waiting(l, read("z", 2)))
	l = h.claimOneID("w", "d", T0)
	h.commit(step("w", l, task.Done))
	h.commit(store.Step{World: []store.WorldWrite{write("z", 2, 8)}})
	h.wantReady()
	if err := h.commitOne(store.Step{WaitWorld: []store.WorldRead{read("z", 3)}}); err == nil {
		h.t.Errorf("a world wait without a task was accepted")
	}
}

// testWorldWaitsReopen: world waits survive a restart.
func testWorldWaitsReopen(h *harness) {
	h.createIDs("a")
	l := h.claimOne("w", "a", T0)
	s := step("w", l, task.Waiting)
	s.WaitWorld = []store.WorldRead{read("x", 0)}
	h.commit(s)
	h.reopen()
	h.wantReady()
	h.commit(store.Step{World: []store.WorldWrite{write("x", 0, 1)}})
	h.wantReady("a")
}
