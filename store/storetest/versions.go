package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

func init() {
	cases = append(cases,
		testCase{"ClaimVersions", testClaimVersions},
		testCase{"CurrentAndChanges", testCurrentAndChanges},
		testCase{"Retire", testRetire},
		testCase{"Workers", testWorkers},
		testCase{"Versions", testVersions},
		testCase{"Migrate", testMigrate},
		testCase{"MigrateReopen", testMigrateReopen},
	)
}

func pv(program string, version int) task.ProgramVersion {
	return task.ProgramVersion{Program: program, Version: version}
}

// versioned creates a task of program at version, created at T0+created.
func (h *harness) versioned(id, program string, version int, created time.Duration) {
	h.t.Helper()
	r := NewRecord(id)
	r.Program, r.Version, r.Created = program, version, T0.Add(created)
	r.Updated = r.Created
	h.create(r)
}

func (h *harness) claimCan(owner string, now time.Time, can ...task.ProgramVersion) []string {
	h.t.Helper()
	ls, err := h.s.Claim(bg, owner, 10, now, time.Minute, can...)
	if err != nil {
		h.t.Fatalf("Claim(%v): %v", can, err)
	}
	ids := leaseIDs(ls)
	slices.Sort(ids)
	return ids
}

// testClaimVersions: Claim with a set of versions takes only tasks of
// those versions: ready ones and expired leases alike.
func testClaimVersions(h *harness) {
	h.versioned("p1", Program, 1, 0)
	h.versioned("p2", Program, 2, 0)
	h.versioned("q1", "other", 1, 0)
	if got := h.claimCan("w1", T0, pv(Program, 3)); len(got) != 0 {
		h.t.Errorf("Claim of a version no task has = %v, want nothing", got)
	}
	if got := h.claimCan("w1", T0, pv(Program, 1)); !slices.Equal(got, []string{"p1"}) {
		h.t.Errorf("Claim of %s v1 = %v, want [p1]", Program, got)
	}
	if got := h.claimCan("w1", T0, pv(Program, 2), pv("other", 1)); !slices.Equal(got, []string{"p2", "q1"}) {
		h.t.Errorf("Claim of %s v2 and other v1 = %v, want [p2 q1]", Program, got)
	}
	// p1's lease expires: only a worker that has v1 takes it over.
	later := T0.Add(2 * time.Minute)
	if got := h.claimCan("w2", later, pv(Program, 2)); slices.Contains(got, "p1") {
		h.t.Errorf("Claim of %s v2 after p1's lease expired = %v: took p1, of v1", Program, got)
	}
	if got := h.claimCan("w3", later.Add(2*time.Minute)); !slices.Contains(got, "p1") {
		h.t.Errorf("Claim of any version after p1's lease expired = %v, want p1 among them", got)
	}
}

// testCurrentAndChanges: SetCurrent stores a version per program and logs
// each change, numbered from 1; Changes(since) returns those after since.
func testCurrentAndChanges(h *harness) {
	if cur, err := h.s.Current(bg); err != nil || len(cur) != 0 {
		h.t.Errorf("Current of an empty store = %v, %v; want none", cur, err)
	}
	if cs, err := h.s.Changes(bg, 0); err != nil || len(cs) != 0 {
		h.t.Errorf("Changes of an empty store = %v, %v; want none", cs, err)
	}
	for _, set := range []task.ProgramVersion{pv(Program, 2), pv("other", 1), pv(Program, 3)} {
		if err := h.s.SetCurrent(bg, set.Program, set.Version); err != nil {
			h.t.Fatalf("SetCurrent(%v): %v", set, err)
		}
	}
	cur, err := h.s.Current(bg)
	if err != nil || cur[Program] != 3 || cur["other"] != 1 || len(cur) != 2 {
		h.t.Errorf("Current = %v, %v; want %s: 3, other: 1", cur, err, Program)
	}
	cs, err := h.s.Changes(bg, 0)
	if err != nil || len(cs) != 3 {
		h.t.Fatalf("Changes(0) = %v, %v; want 3 changes", cs, err)
	}
	for i, c := range cs {
		if c.Seq != uint64(i+1) || c.Kind != store.ChangeSetCurrent || c.At.IsZero() {
			h.t.Errorf("change %d = %v, want seq %d, kind %s and a time", i, c, i+1, store.ChangeSetCurrent)
		}
	}
	if cs[2].Program != Program || cs[2].Version != 3 {
		h.t.Errorf("last change = %v, want %s v3", cs[2], Program)
	}
	if tail, err := h.s.Changes(bg, 2); err != nil || len(tail) != 1 || tail[0].Seq != 3 {
		h.t.Errorf("Changes(2) = %v, %v; want change 3 alone", tail, err)
	}
	if err := h.s.SetCurrent(bg, "", 1); err == nil {
		h.t.Errorf("SetCurrent of no program succeeded")
	}
	if err := h.s.SetCurrent(bg, Program, -1); err == nil {
		h.t.Errorf("SetCurrent of version -1 succeeded")
	}
}

// testRetire: retiring a version with tasks in flight is refused unless
// forced, retiring the current version is refused, and a retired version
// cannot become current; a refusal changes nothing.
func testRetire(h *harness) {
	h.versioned("a", Program, 1, 0)
	if err := h.s.Retire(bg, Program, 1, false); !errors.Is(err, store.ErrInFlight) {
		h.t.Errorf("Retire of a version with a task in flight = %v, want ErrInFlight", err)
	}
	if cs, _ := h.s.Changes(bg, 0); len(cs) != 0 {
		h.t.Errorf("a refused Retire logged %v", cs)
	}
	if err := h.s.Retire(bg, Program, 1, true); err != nil {
		h.t.Errorf("forced Retire: %v", err)
	}
	if err := h.s.SetCurrent(bg, Program, 1); !errors.Is(err, store.ErrRetired) {
		h.t.Errorf("SetCurrent of a retired version = %v, want ErrRetired", err)
	}
	if err := h.s.SetCurrent(bg, Program, 2); err != nil {
		h.t.Fatal(err)
	}
	if err := h.s.Retire(bg, Program, 2, true); !errors.Is(err, store.ErrIsCurrent) {
		h.t.Errorf("Retire of the current version = %v, want ErrIsCurrent", err)
	}
	if err := h.s.Retire(bg, Program, 7, false); err != nil {
		h.t.Errorf("Retire of a version without tasks: %v", err)
	}
	cs, err := h.s.Changes(bg, 0)
	if err != nil || len(cs) != 3 {
		h.t.Fatalf("Changes = %v, %v; want retire, set-current, retire", cs, err)
	}
	var d store.ChangeRetireData
	if cs[0].Kind != store.ChangeRetire || json.Unmarshal(cs[0].Data, &d) != nil || !d.Force || d.InFlight != 1 {
		h.t.Errorf("the forced retire logged %v, want kind %s with force and 1 in flight", cs[0], store.ChangeRetire)
	}
	vs, err := h.s.Versions(bg, Program)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, v := range vs {
		if want := v.Version == 1 || v.Version == 7; v.Retired != want {
			h.t.Errorf("Versions: v%d retired = %v, want %v", v.Version, v.Retired, want)
		}
	}
}

// testWorkers: a heartbeat replaces the worker's last; liveness is its age.
func testWorkers(h *harness) {
	now := time.Now().UTC()
	beat := func(w store.WorkerInfo) {
		h.t.Helper()
		if err := h.s.Heartbeat(bg, w); err != nil {
			h.t.Fatalf("Heartbeat(%s): %v", w.ID, err)
		}
	}
	beat(store.WorkerInfo{ID: "w1", Versions: []task.ProgramVersion{pv(Program, 1)}, At: now.Add(-time.Second)})
	beat(store.WorkerInfo{ID: "w2", Versions: []task.ProgramVersion{pv(Program, 2)}, At: now})
	beat(store.WorkerInfo{ID: "w1", Versions: []task.ProgramVersion{pv(Program, 1), pv(Program, 2)}, At: now})
	ws, err := h.s.Workers(bg)
	if err != nil || len(ws) != 2 {
		h.t.Fatalf("Workers = %v, %v; want w1 and w2", ws, err)
	}
	if ws[0].ID != "w1" || len(ws[0].Versions) != 2 || !ws[0].At.Equal(now) || !ws[0].Can(Program, 2) {
		h.t.Errorf("w1 = %+v, want its last heartbeat (v1 and v2 at %v)", ws[0], now)
	}
	if !ws[1].Live(now) || ws[1].Live(now.Add(store.WorkerTTL)) {
		h.t.Errorf("w2 live now = %v, after WorkerTTL = %v; want true, false", ws[1].Live(now), ws[1].Live(now.Add(store.WorkerTTL)))
	}
	beat(store.WorkerInfo{ID: "w2", Versions: []task.ProgramVersion{pv(Program, 2)}, At: now, Stopped: true})
	if ws, _ := h.s.Workers(bg); len(ws) != 2 || ws[1].Live(now) {
		h.t.Errorf("a stopped worker is live: %+v", ws)
	}
	if err := h.s.Heartbeat(bg, store.WorkerInfo{At: now}); err == nil {
		h.t.Errorf("a heartbeat without an ID was accepted")
	}
}

// testVersions: per version, tasks in flight by status, the oldest, the
// current one, the drain state and the live workers that can run it.
func testVersions(h *harness) {
	h.versioned("v1-old", Program, 1, 0)
	h.versioned("v1-new", Program, 1, time.Second)
	h.versioned("v1-done", Program, 1, -time.Hour)
	h.versioned("v2", Program, 2, 0)
	h.versioned("q", "other", 5, 0)
	l := h.claimOneID("w", "v1-done", T0)
	h.commit(step("w", l, task.Done))
	l = h.claimOneID("w", "v2", T0)
	h.commit(step("w", l, task.Waiting))
	now := time.Now().UTC()
	for _, w := range []store.WorkerInfo{
		{ID: "both", Versions: []task.ProgramVersion{pv(Program, 1), pv(Program, 2)}, At: now},
		{ID: "gone", Versions: []task.ProgramVersion{pv(Program, 1), pv(Program, 3)}, At: now.Add(-2 * store.WorkerTTL)},
		{ID: "new", Versions: []task.ProgramVersion{pv(Program, 3)}, At: now},
	} {
		if err := h.s.Heartbeat(bg, w); err != nil {
			h.t.Fatal(err)
		}
	}
	get := func(program string) map[int]store.VersionInfo {
		h.t.Helper()
		vs, err := h.s.Versions(bg, program)
		if err != nil {
			h.t.Fatalf("Versions(%q): %v", program, err)
		}
		out := map[int]store.VersionInfo{}
		for i, v := range vs {
			if i > 0 && (vs[i-1].Program > v.Program || vs[i-1].Program == v.Program && vs[i-1].Version >= v.Version) {
				h.t.Errorf("Versions(%q) out of order: %v", program, vs)
			}
			if v.Program == Program {
				out[v.Version] = v
			}
		}
		return out
	}
	vs := get(Program)
	if len(vs) != 3 {
		h.t.Fatalf("Versions(%s) = %v, want versions 1, 2 and 3 (a live worker's)", Program, vs)
	}
	v1, v2, v3 := vs[1], vs[2], vs[3]
	if v1.InFlight[task.Running] != 2 || v1.Total() != 2 || v1.Finished != 1 || v1.Oldest != "v1-old" || !v1.OldestCreated.Equal(T0) {
		h.t.Errorf("v1 = %+v, want 2 running, 1 finished, oldest v1-old at T0", v1)
	}
	if !slices.Equal(v1.Workers, []string{"both"}) || !slices.Equal(v3.Workers, []string{"new"}) {
		h.t.Errorf("workers: v1 %v, v3 %v; want [both], [new] (gone is not live)", v1.Workers, v3.Workers)
	}
	if v2.InFlight[task.Waiting] != 1 {
		h.t.Errorf("v2 = %+v, want 1 waiting", v2)
	}
	// No current stored: the highest version known is current.
	if !v3.Current || v3.Stored || v3.Drain != store.Active || v1.Current || v1.Drain != store.Draining {
		h.t.Errorf("with no current stored: v1 %v/%s, v3 %v/%s; want v3 current and active, v1 draining", v1.Current, v1.Drain, v3.Current, v3.Drain)
	}
	if err := h.s.SetCurrent(bg, Program, 2); err != nil {
		h.t.Fatal(err)
	}
	vs = get(Program)
	if !vs[2].Current || !vs[2].Stored || vs[2].Drain != store.Active || vs[3].Current || vs[3].Drain != store.Drained {
		h.t.Errorf("current set to 2: v2 %+v, v3 %+v; want v2 current and active, v3 drained", vs[2], vs[3])
	}
	for _, id := range []string{"v1-old", "v1-new"} {
		l := h.claimOneID("w", id, T0)
		h.commit(step("w", l, task.Failed))
	}
	if v1 := get(Program)[1]; v1.Drain != store.Drained || v1.Total() != 0 || v1.Oldest != "" || v1.Finished != 3 {
		h.t.Errorf("v1 with every task finished = %+v, want drained, 3 finished", v1)
	}
	all, err := h.s.Versions(bg, "")
	if err != nil || !slices.ContainsFunc(all, func(v store.VersionInfo) bool { return v.Program == "other" && v.Version == 5 && v.Current }) {
		h.t.Errorf("Versions(\"\") = %v, %v; want other v5 among them, current", all, err)
	}
}

// testMigrate: a re-pin under the lease, fenced by owner, epoch, step
// count and the version it moves from; it counts as a step, releases the
// lease, makes the task ready, and is recorded and logged.
func testMigrate(h *harness) {
	h.versioned("a", Program, 1, 0)
	l := h.claimOneID("w", "a", T0)
	s := step("w", l, task.Waiting)
	s.Keep, s.Append = true, NewEntries(1, 2)
	h.commit(s)
	at := T0.Add(time.Second)
	good := store.Repin{ID: "a", Owner: "w", Epoch: l.Epoch, Steps: l.Steps + 1, From: 1, To: 2, At: at}
	for name, bad := range map[string]func(r *store.Repin){
		"another owner":          func(r *store.Repin) { r.Owner = "intruder" },
		"an old epoch":           func(r *store.Repin) { r.Epoch-- },
		"a step taken since":     func(r *store.Repin) { r.Steps-- },
		"from the wrong version": func(r *store.Repin) { r.From = 3 },
	} {
		r := good
		bad(&r)
		if err := h.s.Migrate(bg, r); !errors.Is(err, store.ErrLeaseLost) {
			h.t.Errorf("Migrate with %s = %v, want ErrLeaseLost", name, err)
		}
	}
	if r, _ := h.load("a"); r.Version != 1 || len(r.Migrations) != 0 {
		h.t.Errorf("after refused migrations: version %d, migrations %v; want 1, none", r.Version, r.Migrations)
	}
	if err := h.s.Migrate(bg, good); err != nil {
		h.t.Fatalf("Migrate: %v", err)
	}
	r, _ := h.load("a")
	if r.Version != 2 || len(r.Migrations) != 1 || r.Migrations[0] != (task.Migration{From: 1, To: 2, At: at}) || len(r.Journal) != 2 || r.Status != task.Waiting {
		h.t.Errorf("after Migrate: version %d, migrations %v, %d entries, %s; want 2, [1→2 at %v], the 2 entries, waiting",
			r.Version, r.Migrations, len(r.Journal), r.Status, at)
	}
	// The old lease is gone: neither a step nor another move commits.
	errs, err := h.s.Commit(bg, []store.Step{step("w", store.Lease{ID: "a", Epoch: l.Epoch, Steps: l.Steps + 1}, task.Done)})
	if err != nil || !errors.Is(errs[0], store.ErrLeaseLost) {
		h.t.Errorf("a step under the lease a migration released = %v, %v; want ErrLeaseLost", errs, err)
	}
	if err := h.s.Migrate(bg, good); !errors.Is(err, store.ErrLeaseLost) {
		h.t.Errorf("Migrate again under the old lease = %v, want ErrLeaseLost", err)
	}
	// Ready, for a worker that has version 2, and a step further on.
	if got := h.claimCan("w2", T0, pv(Program, 1)); len(got) != 0 {
		h.t.Errorf("a v1 worker claimed %v after the move to v2", got)
	}
	ls, err := h.s.Claim(bg, "w2", 10, T0, time.Minute, pv(Program, 2))
	if err != nil || len(ls) != 1 || ls[0].Steps != l.Steps+2 {
		h.t.Fatalf("Claim by a v2 worker = %v, %v; want task a at step %d", ls, err, l.Steps+2)
	}
	next := store.Repin{ID: "a", Owner: "w2", Epoch: ls[0].Epoch, Steps: ls[0].Steps, From: 2, To: 1, At: at.Add(time.Second)}
	if err := h.s.Migrate(bg, next); err != nil {
		h.t.Fatalf("Migrate back: %v", err)
	}
	if r, _ := h.load("a"); r.Version != 1 || len(r.Migrations) != 2 || r.Migrations[1].To != 1 {
		h.t.Errorf("after moving back: version %d, migrations %v", r.Version, r.Migrations)
	}
	cs, err := h.s.Changes(bg, 0)
	if err != nil || len(cs) != 2 {
		h.t.Fatalf("Changes = %v, %v; want the two moves", cs, err)
	}
	var d store.ChangeMigrateData
	if cs[0].Kind != store.ChangeMigrate || cs[0].Program != Program || cs[0].Version != 2 ||
		json.Unmarshal(cs[0].Data, &d) != nil || d != (store.ChangeMigrateData{Task: "a", From: 1}) {
		h.t.Errorf("first change = %v, want a migrate of task a from 1 to 2", cs[0])
	}
	h.versioned("done", Program, 1, 0)
	l = h.claimOneID("w", "done", T0)
	h.commit(step("w", l, task.Done))
	if err := h.s.Migrate(bg, store.Repin{ID: "done", Owner: "w", Epoch: l.Epoch, Steps: l.Steps + 1, From: 1, To: 2}); !errors.Is(err, store.ErrFinished) {
		h.t.Errorf("Migrate of a finished task = %v, want ErrFinished", err)
	}
	if err := h.s.Migrate(bg, store.Repin{ID: "nope", Owner: "w", From: 1, To: 2}); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("Migrate of an unknown task = %v, want ErrNotFound", err)
	}
}

// testMigrateReopen: versions, the log and migrations survive a restart.
func testMigrateReopen(h *harness) {
	h.versioned("a", Program, 1, 0)
	l := h.claimOneID("w", "a", T0)
	if err := h.s.Migrate(bg, store.Repin{ID: "a", Owner: "w", Epoch: l.Epoch, Steps: l.Steps, From: 1, To: 2, At: T0}); err != nil {
		h.t.Fatal(err)
	}
	if err := h.s.SetCurrent(bg, Program, 2); err != nil {
		h.t.Fatal(err)
	}
	if err := h.s.Heartbeat(bg, store.WorkerInfo{ID: "w", Versions: []task.ProgramVersion{pv(Program, 2)}, At: T0}); err != nil {
		h.t.Fatal(err)
	}
	h.reopen()
	r, _ := h.load("a")
	cur, _ := h.s.Current(bg)
	cs, _ := h.s.Changes(bg, 0)
	ws, _ := h.s.Workers(bg)
	if r.Version != 2 || len(r.Migrations) != 1 || cur[Program] != 2 || len(cs) != 2 || len(ws) != 1 || !ws[0].At.Equal(T0) {
		h.t.Errorf("after reopening: version %d, migrations %v, current %v, %d changes, workers %v", r.Version, r.Migrations, cur, len(cs), ws)
	}
}
