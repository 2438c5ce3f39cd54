package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// TestMigrateFromVersion1 opens a file made by the first schema, with a
// task and a message in it: the task keeps them, and gains process state.
func TestMigrateFromVersion1(t *testing.T) {
	path, db, exec := oldFile(t, 1)
	exec(`INSERT INTO tasks (id, program, program_version, status, ready) VALUES ('old', 'p', 1, 'running', 1)`)
	exec(`INSERT INTO mailbox (task_id, seq, envelope) VALUES ('old', 1, x'a2016173024100')`)
	exec(`UPDATE tasks SET msg_seq = 1`)
	db.Close()

	s := openMigrated(t, path, 1)
	ctx := context.Background()
	rec, msgs, err := s.Load(ctx, "old")
	if err != nil || rec.Trap || rec.Name != "" || len(msgs) != 1 || msgs[0].Env.Type != "s" {
		t.Fatalf("Load(old) = %+v, %v, %v", rec, msgs, err)
	}
	if err := s.Create(ctx, storetest.NewRecord("new")); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Claim(ctx, "w", 10, storetest.T0, 60e9)
	if err != nil || len(ls) != 2 {
		t.Fatalf("Claim = %v, %v", ls, err)
	}
	steps := make([]store.Step, 2)
	for i, l := range ls {
		steps[i] = store.Step{ID: l.ID, Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Status: task.Waiting}
	}
	steps[0].Proc = []store.ProcOp{{Kind: store.ProcLink, Peer: ls[1].ID}, {Kind: store.ProcRegister, Name: "svc"}}
	steps[1].Status, steps[1].Exit = task.Failed, "boom"
	errs, err := s.Commit(ctx, steps)
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("Commit = %v, %v", errs, err)
	}
	if id, err := s.WhereIs(ctx, "svc"); err != nil || id != ls[0].ID {
		t.Errorf("WhereIs(svc) = %q, %v", id, err)
	}
	msgs, err = s.Messages(ctx, ls[0].ID, 0)
	if err != nil || len(msgs) == 0 || msgs[len(msgs)-1].Env.Type != task.SignalType {
		t.Errorf("after its link ended, %s has %s", ls[0].ID, fmt.Sprint(msgs))
	}
}

// TestMigrateFromVersion2 opens a file made by the schema of version 2
// holding a task with a journal and messages, and world vars: version 3
// keeps them all (the rows written before have no checksum and are read
// unchecked; the vars are at version 1, clock 0), and the store goes on
// with versioned commits, run counts and checksums.
func TestMigrateFromVersion2(t *testing.T) {
	path, db, exec := oldFile(t, 2)
	rec := storetest.NewRecord("old")
	wait, err := task.Marshal(&task.Wait{Kind: task.WaitActivity,
		Ops: []task.OpState{{Kind: "x.Charge", Attempt: 1, Phase: task.PhaseRunning}}})
	if err != nil {
		t.Fatal(err)
	}
	exec(`INSERT INTO tasks (id, program, program_version, input, status, wait, created, updated, ready, entries, msg_seq)
		VALUES (?, ?, 1, ?, 'waiting', ?, 1, 1, NULL, 2, 2)`, rec.ID, rec.Program, []byte(rec.Input), wait)
	for _, e := range storetest.NewEntries(1, 2) {
		b, err := task.EncodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		exec(`INSERT INTO journal (task_id, seq, entry) VALUES ('old', ?, ?)`, e.Seq, b)
	}
	for i, m := range []string{"m1", "m2"} {
		b, err := task.EncodeEnvelope(storetest.NewEnvelope(m))
		if err != nil {
			t.Fatal(err)
		}
		exec(`INSERT INTO mailbox (task_id, seq, envelope) VALUES ('old', ?, ?)`, i+1, b)
	}
	exec(`INSERT INTO world (name, value) VALUES ('x', x'01'), ('y', x'02')`)
	db.Close()

	s := openMigrated(t, path, 2)
	ctx := context.Background()
	r, msgs, err := s.Load(ctx, "old")
	if err != nil || len(r.Journal) != 2 || len(msgs) != 2 || r.Runs != 0 || r.Status != task.Waiting {
		t.Fatalf("Load(old) = %+v, %v, %v", r, msgs, err)
	}
	// The columns derived from the wait are filled in: the filter finds
	// it, and the attempt that was running is taken over.
	if sums, err := s.List(ctx, store.Filter{WaitKind: task.WaitActivity}); err != nil || len(sums) != 1 {
		t.Errorf("List of the tasks waiting for an activity = %v, %v; want old", sums, err)
	}
	if s.TookOver() != 1 {
		t.Errorf("TookOver = %d, want 1: old's attempt was running", s.TookOver())
	}
	snap, err := s.World(ctx)
	if err != nil || snap.Clock != 0 || len(snap.Vars) != 2 || snap.Vars[0].Version != 1 || snap.Vars[1].Version != 1 {
		t.Fatalf("World after migrating = %+v, %v; want x and y at version 1, clock 0", snap, err)
	}
	// The store goes on: a versioned write over the old var, a restart,
	// new rows with checksums.
	l, err := s.ClaimID(ctx, "w", "old", storetest.T0, 60e9)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := task.Marshal("again")
	st := store.Step{ID: "old", Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Status: task.Waiting, Token: store.NewToken(),
		Restart: &store.Restart{Input: in}, Append: storetest.NewEntries(1, 1),
		World: []store.WorldWrite{{Name: "x", Value: []byte{3}, Prev: 1}}}
	if errs, err := s.Commit(ctx, []store.Step{st}); err != nil || errs[0] != nil {
		t.Fatalf("Commit after migrating = %v, %v", errs, err)
	}
	if o, err := s.Landed(ctx, st); err != nil || o != store.Landed {
		t.Errorf("Landed = %v, %v", o, err)
	}
	r, _, err = s.Load(ctx, "old")
	if err != nil || r.Runs != 1 || len(r.Journal) != 1 {
		t.Errorf("Load(old) after a restart = %+v, %v; want run 1 with 1 entry", r, err)
	}
	since, err := s.WorldSince(ctx, 0)
	if err != nil || since.Clock != 1 || len(since.Vars) != 2 {
		t.Errorf("WorldSince(0) = %+v, %v", since, err)
	}
	if x, _ := since.Lookup("x"); x.Version != 2 || x.Clock != 1 {
		t.Errorf("x = %+v, want version 2 at clock 1", x)
	}
	var nulls int
	if err := s.rdb.QueryRow(`SELECT count(*) FROM mailbox WHERE sum IS NULL`).Scan(&nulls); err != nil || nulls != 2 {
		t.Errorf("%d messages without a checksum, %v; want the 2 old ones", nulls, err)
	}
	if err := s.rdb.QueryRow(`SELECT count(*) FROM journal WHERE sum IS NULL`).Scan(&nulls); err != nil || nulls != 0 {
		t.Errorf("%d journal entries without a checksum after the restart, %v; want 0", nulls, err)
	}
}

// TestMigrateFromVersion3: a file of version 3 gains the world waits
// (schemaWorldWaits), and a task of the old file can wait on a var and be
// woken by its write.
func TestMigrateFromVersion3(t *testing.T) {
	path, db, exec := oldFile(t, 3)
	rec := storetest.NewRecord("old")
	exec(`INSERT INTO tasks (id, program, program_version, input, status, created, updated, ready)
		VALUES (?, ?, 1, ?, 'running', 1, 1, 1)`, rec.ID, rec.Program, []byte(rec.Input))
	db.Close()

	s := openMigrated(t, path, 3)
	ctx := context.Background()
	l, err := s.ClaimID(ctx, "w", "old", storetest.T0, 60e9)
	if err != nil {
		t.Fatal(err)
	}
	st := store.Step{ID: "old", Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Status: task.Waiting, Token: store.NewToken(),
		Wait: &task.Wait{Kind: task.WaitSTM}, WaitWorld: []store.WorldRead{{Name: "x"}}}
	if errs, err := s.Commit(ctx, []store.Step{st}); err != nil || errs[0] != nil {
		t.Fatalf("Commit of a wait after migrating = %v, %v", errs, err)
	}
	if ls, err := s.Claim(ctx, "w", 10, storetest.T0, 60e9); err != nil || len(ls) != 0 {
		t.Fatalf("Claim while old waits = %v, %v; want nothing", ls, err)
	}
	write := store.Step{Token: store.NewToken(), World: []store.WorldWrite{{Name: "x", Value: []byte{1}}}}
	if errs, err := s.Commit(ctx, []store.Step{write}); err != nil || errs[0] != nil {
		t.Fatalf("Commit of x = %v, %v", errs, err)
	}
	if ls, err := s.Claim(ctx, "w", 10, storetest.T0, 60e9); err != nil || len(ls) != 1 || ls[0].ID != "old" {
		t.Errorf("Claim after x was written = %v, %v; want old", ls, err)
	}
}

// TestMigrateFromVersion6 opens a file of version 6, whose journal is
// WITHOUT ROWID, holding tasks with journals (with and without checksums)
// and messages: version 7 moves the journal to a rowid table with a
// unique index on (task_id, seq), every row kept byte for byte, and the
// store reads, extends, refuses duplicates in and restarts the old
// journals as before.
func TestMigrateFromVersion6(t *testing.T) {
	path, db, exec := oldFile(t, 6)
	for i, id := range []string{"b", "a", "c"} {
		rec := storetest.NewRecord(id)
		exec(`INSERT INTO tasks (id, program, program_version, input, status, created, updated, ready, entries, msg_seq)
			VALUES (?, ?, 1, ?, 'running', 1, 1, ?, ?, 2)`, id, rec.Program, []byte(rec.Input), i+1, 3+i)
		for _, e := range storetest.NewEntries(1, 3+i) {
			b, err := task.EncodeEntry(e)
			if err != nil {
				t.Fatal(err)
			}
			var sum any = int64(task.Checksum(b))
			if id == "c" && e.Seq == 1 {
				sum = nil // a row written before version 3
			}
			exec(`INSERT INTO journal (task_id, seq, entry, sum) VALUES (?, ?, ?, ?)`, id, e.Seq, b, sum)
		}
		for j, m := range []string{"m1", "m2"} {
			b, err := task.EncodeEnvelope(storetest.NewEnvelope(id + m))
			if err != nil {
				t.Fatal(err)
			}
			exec(`INSERT INTO mailbox (task_id, seq, envelope, sum) VALUES (?, ?, ?, ?)`, id, j+1, b, int64(task.Checksum(b)))
		}
	}
	type row struct {
		task  string
		seq   int64
		entry []byte
		sum   sql.NullInt64
	}
	rowsOf := func(q interface {
		Query(string, ...any) (*sql.Rows, error)
	}) []row {
		t.Helper()
		rows, err := q.Query(`SELECT task_id, seq, entry, sum FROM journal ORDER BY task_id, seq`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := collect(rows, func(rows *sql.Rows) (r row, err error) {
			return r, rows.Scan(&r.task, &r.seq, &r.entry, &r.sum)
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := rowsOf(db)
	db.Close()
	if len(before) != 12 {
		t.Fatalf("%d journal rows in the version 6 file, want 12", len(before))
	}

	s := openMigrated(t, path, 6)
	var ddl string
	if err := s.rdb.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'journal'`).Scan(&ddl); err != nil ||
		strings.Contains(strings.ToUpper(ddl), "WITHOUT ROWID") {
		t.Errorf("journal after migrating: %q, %v; want a rowid table", ddl, err)
	}
	if after := rowsOf(s.rdb); !reflect.DeepEqual(after, before) {
		t.Errorf("journal rows after migrating:\n%v\nwant\n%v", after, before)
	}
	ctx := context.Background()
	for i, id := range []string{"b", "a", "c"} {
		r, msgs, err := s.Load(ctx, id)
		if err != nil || len(r.Journal) != 3+i || len(msgs) != 2 || msgs[1].Env.Type != "string" {
			t.Fatalf("Load(%s) = %+v, %v, %v", id, r, msgs, err)
		}
		for j, e := range r.Journal {
			if e.Seq != uint64(j+1) {
				t.Errorf("Load(%s): entry %d has seq %d", id, j, e.Seq)
			}
		}
	}
	// The index keeps (task_id, seq) unique, as the key did.
	err := s.submit(ctx, func(w *wtx) (refused, err error) {
		_, err = w.exec(`INSERT INTO journal (task_id, seq, entry) VALUES ('a', 2, x'00')`)
		return err, nil
	})
	if err == nil || !fault(err) {
		t.Errorf("a second entry a#2: %v; want a constraint error", err)
	}
	ls, err := s.Claim(ctx, "w", 10, storetest.T0, 60e9)
	if err != nil || len(ls) != 3 {
		t.Fatalf("Claim = %v, %v", ls, err)
	}
	var steps []store.Step
	for _, l := range ls {
		st := store.Step{ID: l.ID, Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Status: task.Waiting, Keep: true}
		switch l.ID {
		case "a": // continues its journal
			st.Append = storetest.NewEntries(5, 2)
		case "b": // an entry that it has already
			st.Append = storetest.NewEntries(3, 1)
		case "c": // starts over
			in, _ := task.Marshal("again")
			st.Restart, st.Append = &store.Restart{Input: in}, storetest.NewEntries(1, 1)
		}
		steps = append(steps, st)
	}
	errs, err := s.Commit(ctx, steps)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range steps {
		if (errs[i] != nil) != (st.ID == "b") {
			t.Errorf("Commit of %s: %v", st.ID, errs[i])
		}
	}
	for id, want := range map[string]int{"a": 6, "b": 3, "c": 1} {
		r, _, err := s.Load(ctx, id)
		if err != nil || len(r.Journal) != want || r.Journal[len(r.Journal)-1].Seq != uint64(want) {
			t.Errorf("Load(%s) after the commit = %+v, %v; want %d entries", id, r, err, want)
		}
	}
}

// TestMigrateFromVersion7 opens a file of version 7, holding tasks done,
// failed, waiting and running: version 8 makes the index on status leave
// out the done ones, and List and Counts find every task as before, the
// statuses other than done through the index.
func TestMigrateFromVersion7(t *testing.T) {
	path, db, exec := oldFile(t, 7)
	statuses := map[string]task.Status{"d1": task.Done, "d2": task.Done, "d3": task.Done, "f": task.Failed,
		"w": task.Waiting, "r": task.Running}
	for id, st := range statuses {
		rec := storetest.NewRecord(id)
		var ready any
		if st == task.Running {
			ready = 1
		}
		exec(`INSERT INTO tasks (id, program, program_version, input, status, created, updated, ready)
			VALUES (?, ?, 1, ?, ?, 1, 1, ?)`, id, rec.Program, []byte(rec.Input), string(st), ready)
	}
	db.Close()

	s := openMigrated(t, path, 7)
	var entries int
	if err := s.rdb.QueryRow(`SELECT count(*) FROM tasks INDEXED BY tasks_status WHERE ` + notDone).Scan(&entries); err != nil || entries != 3 {
		t.Errorf("tasks_status holds %d tasks (%v); want the 3 not done", entries, err)
	}
	ctx := context.Background()
	counts, err := s.Counts(ctx, store.Filter{})
	want := map[task.Status]int{task.Done: 3, task.Failed: 1, task.Waiting: 1, task.Running: 1}
	if err != nil || !reflect.DeepEqual(counts, want) {
		t.Errorf("Counts = %v, %v; want %v", counts, err, want)
	}
	for st, n := range map[task.Status]int{task.Done: 3, task.Failed: 1, task.Running: 1, task.Cancelled: 0} {
		counts, err := s.Counts(ctx, store.Filter{Status: st})
		want := map[task.Status]int{}
		if n > 0 {
			want[st] = n
		}
		if err != nil || !reflect.DeepEqual(counts, want) {
			t.Errorf("Counts(%s) = %v, %v; want %v", st, counts, err, want)
		}
		for _, order := range []store.Order{store.ByID, store.ByUpdated} {
			sums, err := s.List(ctx, store.Filter{Status: st, Order: order})
			if err != nil || len(sums) != n {
				t.Errorf("List(%s, order %v) = %v, %v; want %d tasks", st, order, sums, err, n)
			}
			for _, sum := range sums {
				if sum.Status != st || statuses[sum.ID] != st {
					t.Errorf("List(%s) gave %s, %s", st, sum.ID, sum.Status)
				}
			}
		}
	}
	// A status other than done is listed through the index.
	cond, args := where(&store.Filter{Status: task.Waiting})
	if plan := queryPlan(t, s, `SELECT id FROM tasks WHERE `+cond+` ORDER BY id`, args...); !strings.Contains(plan, "tasks_status") {
		t.Errorf("List of the waiting tasks: plan\n%s\nwant tasks_status", plan)
	}
	// A task that ends leaves the index.
	l, err := s.ClaimID(ctx, "o", "r", storetest.T0, 60e9)
	if err != nil {
		t.Fatal(err)
	}
	end := store.Step{ID: "r", Owner: "o", Epoch: l.Epoch, Steps: l.Steps, Status: task.Done, Token: store.NewToken(), Result: []byte{0xf6}}
	if errs, err := s.Commit(ctx, []store.Step{end}); err != nil || errs[0] != nil {
		t.Fatalf("Commit of the end of r = %v, %v", errs, err)
	}
	if err := s.rdb.QueryRow(`SELECT count(*) FROM tasks INDEXED BY tasks_status WHERE ` + notDone).Scan(&entries); err != nil || entries != 2 {
		t.Errorf("tasks_status holds %d tasks (%v) after r ended; want 2", entries, err)
	}
	if counts, err := s.Counts(ctx, store.Filter{}); err != nil || counts[task.Done] != 4 || counts[task.Running] != 0 {
		t.Errorf("Counts after r ended = %v, %v", counts, err)
	}
}

// TestMigrateFromVersion8 opens a file of version 8 with tasks that have
// timers: a, due; b, due, with a lease of a dead worker; c, not due. The
// index on run_at is made again for the tasks without a lease (Open has
// released b's); Claim takes b (made ready by Open) and a, not c; then
// the index keeps only c, and a step of a that keeps its lease, with a
// deadline, leaves the index alone (and Load still reads the deadline).
func TestMigrateFromVersion8(t *testing.T) {
	path, db, exec := oldFile(t, 8)
	now := storetest.T0.UnixNano()
	for _, r := range []struct {
		id, owner string
		runAt     int64
	}{{"a", "", now - 10}, {"b", "dead", now - 10}, {"c", "", now + 60e9}} {
		rec := storetest.NewRecord(r.id)
		exec(`INSERT INTO tasks (id, program, program_version, input, status, created, updated, run_at,
			lease_owner, lease_epoch, lease_until) VALUES (?, ?, 1, ?, 'waiting', 1, 1, ?, ?, 1, ?)`,
			r.id, rec.Program, []byte(rec.Input), r.runAt, r.owner, now-1)
	}
	db.Close()

	s := openMigrated(t, path, 8)
	// The entries of the index, as its pages count them.
	entries := func() int {
		t.Helper()
		var n int
		if err := s.rdb.QueryRow(`SELECT COALESCE(SUM(ncell), 0) FROM dbstat WHERE name = 'tasks_run_at' AND pagetype = 'leaf'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := entries(); n != 3 {
		t.Errorf("tasks_run_at holds %d tasks; want 3 (a, b, c)", n)
	}
	part := `SELECT id FROM tasks WHERE run_at <= ?1 AND lease_owner = '' AND ready IS NULL ORDER BY run_at LIMIT ?2`
	if plan := queryPlan(t, s, part, now, 10); !strings.Contains(plan, "tasks_run_at") {
		t.Errorf("claimQuery's due timers: plan\n%s\nwant tasks_run_at", plan)
	}
	ctx := context.Background()
	ls, err := s.Claim(ctx, "o", 10, storetest.T0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var claimed []string
	for _, l := range ls {
		claimed = append(claimed, l.ID)
	}
	if !reflect.DeepEqual(claimed, []string{"b", "a"}) {
		t.Fatalf("Claim took %v; want [b a]", claimed)
	}
	if n := entries(); n != 1 {
		t.Errorf("tasks_run_at holds %d tasks after the claim; want 1 (c)", n)
	}
	l := ls[1]
	until := storetest.T0.Add(time.Hour)
	st := store.Step{ID: l.ID, Owner: "o", Epoch: l.Epoch, Steps: l.Steps, Status: task.Waiting, Keep: true,
		Token: store.NewToken(), RunAt: until, Wait: &task.Wait{Kind: task.WaitSleep, Until: until}}
	if errs, err := s.Commit(ctx, []store.Step{st}); err != nil || errs[0] != nil {
		t.Fatalf("Commit = %v, %v", errs, err)
	}
	if n := entries(); n != 1 {
		t.Errorf("tasks_run_at holds %d tasks after a kept its lease; want 1 (c)", n)
	}
	rec, _, err := s.Load(ctx, l.ID)
	if err != nil || !rec.RunAt.Equal(until) {
		t.Errorf("Load(%s).RunAt = %v, %v; want %v", l.ID, rec.RunAt, err, until)
	}
}

// TestFreshRowForm: a bare task inserted leased in the form that leaves
// most columns to their defaults (rowFresh) has the row that the form
// setting every column gives it.
func TestFreshRowForm(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "fresh.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := &newLease{owner: "w", until: 2e18, at: 1e18}
	var recs []*encodedRecord
	for _, id := range []string{"fresh", "full"} {
		r := storetest.NewRecord("x")
		r.ID = id
		e, err := encodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bare(e) {
			t.Fatalf("storetest.NewRecord(%q) is not bare: %+v", id, r)
		}
		recs = append(recs, e)
	}
	err = s.submit(context.Background(), func(w *wtx) (refused, err error) {
		for i, form := range []rowForm{rowFresh, rowLeased} {
			args := w.taskArgs(nil, form, recs[i], l)
			if _, err := w.exec(s.taskInsert(form, chunkIndex(1), false), args...); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.rdb.Query(`SELECT * FROM tasks ORDER BY id = 'full'`)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	var got [2][]any
	for i := 0; rows.Next(); i++ {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		got[i] = vals
	}
	rows.Close()
	for j, c := range cols {
		if c == "id" {
			continue
		}
		if !reflect.DeepEqual(got[0][j], got[1][j]) {
			t.Errorf("column %s: %#v in the fresh form, %#v in the full one", c, got[0][j], got[1][j])
		}
	}
}

// TestClaimProbePlan: each part of claimProbe reads its partial index.
func TestClaimProbePlan(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "probe.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plan := queryPlan(t, s, claimProbe, int64(1))
	for _, index := range []string{"tasks_ready", "tasks_run_at", "tasks_lease"} {
		if !strings.Contains(plan, index) {
			t.Errorf("claimProbe's plan:\n%s\nwant %s", plan, index)
		}
	}
	if strings.Contains(plan, "SCAN tasks\n") {
		t.Errorf("claimProbe's plan:\n%s\nscans the table", plan)
	}
}

// oldFile makes a file of schema version v (the first v of schemaSteps),
// and returns its path, the database open on it and an exec that fails
// the test on an error.
func oldFile(t *testing.T, v int) (path string, db *sql.DB, exec func(q string, args ...any)) {
	t.Helper()
	path = filepath.Join(t.TempDir(), fmt.Sprintf("v%d.db", v))
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	exec = func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`PRAGMA journal_mode = WAL`)
	for _, q := range schemaSteps[:v] {
		exec(q)
	}
	exec(fmt.Sprintf(`PRAGMA user_version = %d`, v))
	return path, db, exec
}

// openMigrated opens the file of version v at path, closed at the end of
// the test, and checks that it is at schemaVersion.
func openMigrated(t *testing.T, path string, v int) *Store {
	t.Helper()
	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open of a version %d file: %v", v, err)
	}
	t.Cleanup(func() { s.Close() })
	var got int
	if err := s.rdb.QueryRow(`PRAGMA user_version`).Scan(&got); err != nil || got != schemaVersion {
		t.Errorf("user_version = %d, %v; want %d", got, err, schemaVersion)
	}
	return s
}

// queryPlan returns the details of EXPLAIN QUERY PLAN of q on s's
// readers, a line each.
func queryPlan(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rows, err := s.rdb.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	rows.Close()
	return plan.String()
}
