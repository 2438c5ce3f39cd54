package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// procHarness runs process-state scenarios on one store.
type procHarness struct {
	t  *testing.T
	db *testDB
	s  *postgres.Store
}

func newProcHarness(t *testing.T) *procHarness {
	db := newTestDB(t)
	return &procHarness{t: t, db: db, s: db.open(nil)}
}

func (h *procHarness) create(ids ...string) {
	h.t.Helper()
	for _, id := range ids {
		if err := h.s.Create(bg, storetest.NewRecord(id)); err != nil {
			h.t.Fatal(err)
		}
	}
}

// step returns a step of task id, claimed by owner now, with the ops.
func (h *procHarness) step(s *postgres.Store, owner, id string, st task.Status, exit string, ops ...store.ProcOp) store.Step {
	h.t.Helper()
	l, err := s.ClaimID(bg, owner, id, storetest.T0, time.Hour)
	if err != nil {
		h.t.Fatalf("ClaimID(%s): %v", id, err)
	}
	return store.Step{ID: id, Owner: owner, Epoch: l.Epoch, Steps: l.Steps, Status: st, Exit: exit, Proc: ops}
}

// commit commits the steps in one Commit and returns their errors.
func (h *procHarness) commit(s *postgres.Store, steps ...store.Step) []error {
	h.t.Helper()
	errs, err := s.Commit(bg, steps)
	if err != nil {
		h.t.Fatalf("Commit: %v", err)
	}
	return errs
}

func (h *procHarness) mustCommit(steps ...store.Step) {
	h.t.Helper()
	for i, err := range h.commit(h.s, steps...) {
		if err != nil {
			h.t.Fatalf("step %d (%s): %v", i, steps[i].ID, err)
		}
	}
}

// mailbox renders task id's mailbox as storetest does: kind:from:reason[:ref]
// for signals, "msg" for other messages.
func mailbox(t *testing.T, s store.Store, id string) []string {
	t.Helper()
	ms, err := s.Messages(bg, id, 0)
	if err != nil {
		t.Fatalf("Messages(%s): %v", id, err)
	}
	var out []string
	for _, m := range ms {
		if m.Env.Type != task.SignalType {
			out = append(out, "msg")
			continue
		}
		sig, err := task.DecodeSignal(m.Env.Data)
		if err != nil {
			t.Fatalf("%s: message %d: %v", id, m.Seq, err)
		}
		r := map[task.SignalKind]string{task.SignalLink: "link", task.SignalDown: "down", task.SignalKill: "kill"}[sig.Kind] +
			":" + sig.From + ":" + sig.Reason
		if sig.Ref != "" {
			r += ":" + sig.Ref
		}
		out = append(out, r)
	}
	return out
}

func (h *procHarness) wantMailbox(id string, want ...string) {
	h.t.Helper()
	if got := mailbox(h.t, h.s, id); !slices.Equal(got, want) {
		h.t.Errorf("mailbox of %s = %v, want %v", id, got, want)
	}
}

// links counts the rows of the links table.
func (db *testDB) links() int {
	db.t.Helper()
	var n int
	if err := db.admin.QueryRow(bg, `SELECT count(*) FROM `+db.schema+`.links`).Scan(&n); err != nil {
		db.t.Fatal(err)
	}
	return n
}

func link(peer string) store.ProcOp   { return store.ProcOp{Kind: store.ProcLink, Peer: peer} }
func unlink(peer string) store.ProcOp { return store.ProcOp{Kind: store.ProcUnlink, Peer: peer} }
func monitor(peer, ref string) store.ProcOp {
	return store.ProcOp{Kind: store.ProcMonitor, Peer: peer, Ref: ref}
}
func demonitor(ref string) store.ProcOp { return store.ProcOp{Kind: store.ProcDemonitor, Ref: ref} }
func register(name string) store.ProcOp { return store.ProcOp{Kind: store.ProcRegister, Name: name} }
func kill(peer, reason string) store.ProcOp {
	return store.ProcOp{Kind: store.ProcKill, Peer: peer, Reason: reason}
}

// TestMigrateProcess opens a schema at version 1 with a task in it: Open
// applies the later versions, the task keeps its data and can be linked.
func TestMigrateProcess(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	db.schemaAt(1)
	db.exec(`INSERT INTO tasks (id, program, program_version, status, created, updated, ready, mailbox_seq)
		VALUES ('old', 'p', 1, 'running', 0, 0, true, 1)`)
	db.exec(`INSERT INTO mailbox (task_id, seq, envelope) VALUES ('old', 1, $1)`,
		mustEnvelope(t, storetest.NewEnvelope("m")))
	db.exec(`RESET search_path`)

	s := db.open(nil)
	var max int
	if err := db.admin.QueryRow(bg, `SELECT max(version) FROM `+db.schema+`.schema_migrations`).Scan(&max); err != nil || max != latestMigration(t) {
		t.Fatalf("schema version after Open = %d, %v; want %d", max, err, latestMigration(t))
	}
	r, ms, err := s.Load(bg, "old")
	if err != nil || r.Trap || r.Name != "" || len(ms) != 1 {
		t.Fatalf("Load(old) after migrating = %+v, %d messages, %v", r, len(ms), err)
	}
	h := &procHarness{t: t, db: db, s: s}
	h.create("new")
	h.mustCommit(h.step(s, "w", "old", task.Waiting, "", link("new"), register("old-svc")))
	h.mustCommit(h.step(s, "w", "new", task.Failed, "boom"))
	h.wantMailbox("old", "msg", "link:new:boom")
	if id, err := s.WhereIs(bg, "old-svc"); err != nil || id != "old" {
		t.Errorf("WhereIs(old-svc) = %q, %v", id, err)
	}
}

// TestProcGroup: the steps of one Commit act in order, as separate commits
// would.
func TestProcGroup(t *testing.T) {
	t.Parallel()
	h := newProcHarness(t)
	h.create("a1", "x1", "a2", "x2", "a3", "x3", "n1", "n2", "n3", "n4")

	// A link made before the peer's end in the same commit is signalled
	// with the end's reason; one made after, with noproc.
	h.mustCommit(h.step(h.s, "w", "a1", task.Waiting, "", link("x1")), h.step(h.s, "w", "x1", task.Failed, "boom"))
	h.mustCommit(h.step(h.s, "w", "x2", task.Failed, "boom"), h.step(h.s, "w", "a2", task.Waiting, "", link("x2")))
	h.wantMailbox("a1", "link:x1:boom")
	h.wantMailbox("a2", "link:x2:noproc")

	// A signal delivered by an earlier step is voided by a later Unlink.
	h.mustCommit(h.step(h.s, "w", "a3", task.Waiting, "", link("x3"), monitor("x3", "m")))
	h.mustCommit(h.step(h.s, "w", "x3", task.Failed, "boom"),
		h.step(h.s, "w", "a3", task.Waiting, "", unlink("x3"), demonitor("m")))
	h.wantMailbox("a3")

	// A name given up by an end earlier in the commit can be taken; one
	// given up later cannot.
	h.mustCommit(h.step(h.s, "w", "n1", task.Waiting, "", register("svc")))
	h.mustCommit(h.step(h.s, "w", "n1", task.Done, "normal"), h.step(h.s, "w", "n2", task.Waiting, "", register("svc")))
	errs := h.commit(h.s, h.step(h.s, "w", "n3", task.Waiting, "", register("svc")),
		h.step(h.s, "w", "n2", task.Done, "normal"))
	if !errors.Is(errs[0], store.ErrNameTaken) || errs[1] != nil {
		t.Errorf("register before the holder's end in one commit = %v, want ErrNameTaken, nil", errs)
	}
	if id, _ := h.s.WhereIs(bg, "svc"); id != "" {
		t.Errorf("WhereIs(svc) = %q after its holder ended", id)
	}
	// A rename frees the old name in the same commit.
	h.mustCommit(h.step(h.s, "w", "n3", task.Waiting, "", register("p"), register("q")),
		h.step(h.s, "w", "n4", task.Waiting, "", register("p")))
	for name, want := range map[string]string{"p": "n4", "q": "n3"} {
		if id, _ := h.s.WhereIs(bg, name); id != want {
			t.Errorf("WhereIs(%s) = %q, want %q", name, id, want)
		}
	}
	if n := h.db.links(); n != 0 {
		t.Errorf("%d links left", n)
	}
}

// TestProcSpawnLink: a step can link a task it spawns.
func TestProcSpawnLink(t *testing.T) {
	t.Parallel()
	h := newProcHarness(t)
	h.create("parent")
	st := h.step(h.s, "w", "parent", task.Waiting, "", link("child"), monitor("child", "m"))
	st.Spawns = []*task.Record{storetest.NewRecord("child")}
	h.mustCommit(st)
	h.mustCommit(h.step(h.s, "w", "child", task.Failed, "boom"))
	h.wantMailbox("parent", "link:child:boom", "down:child:boom:m")
}

// TestProcPeerLocked: the peer of an ending task is locked by another
// transaction: the commit starts again with the peer among its first
// locks, waits for it, and delivers the signal.
func TestProcPeerLocked(t *testing.T) {
	t.Parallel()
	h := newProcHarness(t)
	h.create("a", "x")
	h.mustCommit(h.step(h.s, "w", "a", task.Waiting, "", link("x")))
	end := h.step(h.s, "w", "x", task.Failed, "boom")

	tx, err := h.db.admin.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(bg, `SELECT 1 FROM `+h.db.schema+`.tasks WHERE id = 'a' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan []error, 1)
	go func() {
		errs, err := h.s.Commit(bg, []store.Step{end})
		if err != nil {
			errs = []error{err}
		}
		done <- errs
	}()
	select {
	case errs := <-done:
		t.Fatalf("Commit returned %v while the peer was locked", errs)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(bg); err != nil {
		t.Fatal(err)
	}
	if errs := <-done; errs[0] != nil {
		t.Fatalf("Commit: %v", errs[0])
	}
	h.wantMailbox("a", "link:x:boom")
	if n := h.db.links(); n != 0 {
		t.Errorf("%d links left", n)
	}
}

// TestProcPeerMissing: a link to a task that does not exist (the table was
// edited by hand) makes the commit start again until it waits for the
// peers; it then ends the task, signalling the peers that exist.
func TestProcPeerMissing(t *testing.T) {
	t.Parallel()
	h := newProcHarness(t)
	h.create("a", "x")
	h.mustCommit(h.step(h.s, "w", "a", task.Waiting, "", link("x")))
	h.db.exec(`INSERT INTO $schema.links (kind, owner, target) VALUES (1, 'ghost', 'x'), (2, 'ghost', 'x')`)
	h.mustCommit(h.step(h.s, "w", "x", task.Failed, "boom"))
	h.wantMailbox("a", "link:x:boom")
	if n := h.db.links(); n != 0 {
		t.Errorf("%d links left", n)
	}
}

// TestProcRace commits, from two stores at once, steps that make, remove
// or use process state and the ends of their peers, in groups so that
// the commits lock each other's rows. No signal is lost or left behind,
// no link outlives its tasks, and no commit fails.
func TestProcRace(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	s1, s2 := db.open(nil), db.open(nil)
	h := &procHarness{t: t, db: db, s: s1}
	const rounds, group = 20, 8
	outcomes := map[string]int{} // which of a pair's commits came first, as the signals tell
	for r := range rounds {
		// Pair i: a_i acts on x_i (or on its name) while x_i ends.
		// Kinds: 0 links and monitors x_i; 1 unlinks (linked before);
		// 2 demonitors (monitored before); 3 ends too (linked before);
		// 4 registers x_i's name; 5 kills x_i.
		var as, xs []store.Step
		type pair struct {
			a, x string
			kind int
		}
		var pairs []pair
		for i := range group {
			// In odd rounds the a tasks sort after the x ones, so the
			// other side's commit locks the pair's first row first.
			prefix := "a"
			if r%2 == 1 {
				prefix = "y"
			}
			p := pair{fmt.Sprintf("%s%d-%d", prefix, r, i), fmt.Sprintf("x%d-%d", r, i), (r + i) % 6}
			pairs = append(pairs, p)
			h.create(p.a, p.x)
			switch p.kind {
			case 1, 3:
				h.mustCommit(h.step(s1, "w", p.a, task.Waiting, "", link(p.x)))
			case 2:
				h.mustCommit(h.step(s1, "w", p.a, task.Waiting, "", monitor(p.x, "m")))
			case 4:
				h.mustCommit(h.step(s1, "w", p.x, task.Waiting, "", register("name-"+p.x)))
			}
		}
		for _, p := range pairs {
			var a store.Step
			switch p.kind {
			case 0:
				a = h.step(s1, "w1", p.a, task.Waiting, "", link(p.x), monitor(p.x, "m"))
			case 1:
				a = h.step(s1, "w1", p.a, task.Waiting, "", unlink(p.x))
			case 2:
				a = h.step(s1, "w1", p.a, task.Waiting, "", demonitor("m"))
			case 3:
				a = h.step(s1, "w1", p.a, task.Failed, "a-end")
			case 4:
				a = h.step(s1, "w1", p.a, task.Waiting, "", register("name-"+p.x))
			case 5:
				a = h.step(s1, "w1", p.a, task.Waiting, "", kill(p.x, "stop"))
			}
			as = append(as, a)
			xs = append([]store.Step{h.step(s2, "w2", p.x, task.Failed, "boom")}, xs...)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		results := make([][]error, 2)
		for k, job := range []struct {
			s     *postgres.Store
			steps []store.Step
		}{{s1, as}, {s2, xs}} {
			wg.Go(func() {
				<-start
				errs, err := job.s.Commit(context.Background(), job.steps)
				if err != nil {
					t.Errorf("round %d: Commit: %v", r, err)
				}
				results[k] = errs
			})
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		for i, p := range pairs {
			errA, errX := results[0][i], results[1][group-1-i]
			if errX != nil {
				t.Errorf("round %d: end of %s: %v", r, p.x, errX)
			}
			got := mailbox(t, s1, p.a)
			var ok bool
			switch p.kind {
			case 0:
				ok = slices.Equal(got, []string{"link:" + p.x + ":boom", "down:" + p.x + ":boom:m"}) ||
					slices.Equal(got, []string{"link:" + p.x + ":noproc", "down:" + p.x + ":noproc:m"})
				if ok {
					outcomes["link "+got[0][strings.LastIndexByte(got[0], ':')+1:]]++
				}
			case 1, 2:
				ok = len(got) == 0
			case 3:
				// Whichever ended first signalled the other.
				gx := mailbox(t, s1, p.x)
				ok = slices.Equal(got, []string{"link:" + p.x + ":boom"}) && len(gx) == 0 ||
					len(got) == 0 && slices.Equal(gx, []string{"link:" + p.a + ":a-end"})
				if !ok {
					t.Errorf("round %d: %s and %s ended together: mailboxes %v, %v", r, p.a, p.x, got, gx)
					ok = true
				}
			case 4:
				ok = len(got) == 0
				id, err := s1.WhereIs(bg, "name-"+p.x)
				switch {
				case err != nil:
					t.Error(err)
				case errA == nil && id != p.a, errA != nil && (!errors.Is(errA, store.ErrNameTaken) || id != ""):
					t.Errorf("round %d: register %s's name while it ends: %v, WhereIs = %q", r, p.x, errA, id)
				}
				errA = nil
			case 5:
				// x got the kill if it came before x's end.
				ok = len(got) == 0
				if gx := mailbox(t, s1, p.x); len(gx) > 1 || len(gx) == 1 && gx[0] != "kill:"+p.a+":stop" {
					t.Errorf("round %d: mailbox of killed %s = %v", r, p.x, gx)
				}
			}
			if errA != nil {
				t.Errorf("round %d: step of %s: %v", r, p.a, errA)
			}
			if !ok {
				t.Errorf("round %d: kind %d: mailbox of %s = [%s]", r, p.kind, p.a, strings.Join(got, " "))
			}
		}
	}
	t.Logf("outcomes: %v", outcomes)
	// Every x ended, and every a of kind 3; the a that made a link or
	// monitor that was never signalled would still hold a row.
	var left int
	if err := db.admin.QueryRow(bg, `SELECT count(*) FROM `+db.schema+`.links l JOIN `+db.schema+`.tasks t
		ON t.id IN (l.owner, l.target) AND t.status IN ('done', 'failed', 'cancelled')`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d links of finished tasks left", left)
	}
}

// TestMigrateDurable opens a schema at version 2 (today's main) holding a
// task with a journal and messages, and world vars: version 3 keeps them
// (old rows have no checksum and are read unchecked; the vars are at
// version 1, clock 0), and the store goes on with versioned commits, run
// counts and checksums.
func TestMigrateDurable(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	db.schemaAt(2)
	rec := storetest.NewRecord("old")
	db.exec(`INSERT INTO tasks (id, program, program_version, input, status, wait, created, updated, ready, journal_len, mailbox_seq)
		VALUES ('old', $1, 1, $2, 'waiting', $3, 1, 1, false, 2, 2)`, rec.Program, []byte(rec.Input),
		mustMarshal(t, &task.Wait{Kind: task.WaitReceive}))
	for _, e := range storetest.NewEntries(1, 2) {
		b, err := task.EncodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		db.exec(`INSERT INTO journal (task_id, seq, entry) VALUES ('old', $1, $2)`, int64(e.Seq), b)
	}
	for i, m := range []string{"m1", "m2"} {
		db.exec(`INSERT INTO mailbox (task_id, seq, envelope) VALUES ('old', $1, $2)`, i+1, mustEnvelope(t, storetest.NewEnvelope(m)))
	}
	db.exec(`INSERT INTO world (name, value) VALUES ('x', '\x01'), ('y', '\x02')`)
	db.exec(`RESET search_path`)

	s := db.open(nil)
	var max int
	if err := db.admin.QueryRow(bg, `SELECT max(version) FROM `+db.schema+`.schema_migrations`).Scan(&max); err != nil || max != latestMigration(t) {
		t.Fatalf("schema version after Open = %d, %v; want %d", max, err, latestMigration(t))
	}
	r, msgs, err := s.Load(bg, "old")
	if err != nil || len(r.Journal) != 2 || len(msgs) != 2 || r.Runs != 0 || r.Status != task.Waiting {
		t.Fatalf("Load(old) = %+v, %v, %v", r, msgs, err)
	}
	if sums, err := s.List(bg, store.Filter{WaitKind: task.WaitReceive}); err != nil || len(sums) != 1 {
		t.Errorf("List of the tasks waiting for a message = %v, %v; want old (its wait kind filled in)", sums, err)
	}
	snap, err := s.World(bg)
	if err != nil || snap.Clock != 0 || len(snap.Vars) != 2 || snap.Vars[0].Version != 1 || snap.Vars[1].Version != 1 {
		t.Fatalf("World after migrating = %+v, %v; want x and y at version 1, clock 0", snap, err)
	}
	l, err := s.ClaimID(bg, "w", "old", storetest.T0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	in := mustMarshal(t, "again")
	st := store.Step{ID: "old", Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Status: task.Waiting, Token: store.NewToken(),
		Restart: &store.Restart{Input: in}, Append: storetest.NewEntries(1, 1),
		World: []store.WorldWrite{{Name: "x", Value: []byte{3}, Prev: 1}}}
	if errs, err := s.Commit(bg, []store.Step{st}); err != nil || errs[0] != nil {
		t.Fatalf("Commit after migrating = %v, %v", errs, err)
	}
	if o, err := s.Landed(bg, st); err != nil || o != store.Landed {
		t.Errorf("Landed = %v, %v", o, err)
	}
	r, _, err = s.Load(bg, "old")
	if err != nil || r.Runs != 1 || len(r.Journal) != 1 {
		t.Errorf("Load(old) after a restart = %+v, %v; want run 1 with 1 entry", r, err)
	}
	since, err := s.WorldSince(bg, 0)
	if x, _ := since.Lookup("x"); err != nil || since.Clock != 1 || len(since.Vars) != 2 || x.Version != 2 || x.Clock != 1 {
		t.Errorf("WorldSince(0) = %+v, %v; want x at version 2, clock 1", since, err)
	}
}
