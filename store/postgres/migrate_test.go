package postgres_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// TestMigrateByteIDs opens a schema at version 6 holding tasks with a
// journal, a message, a link and a world wait: version 7 moves every
// column that holds a task ID to byte order (COLLATE "C"), drops the
// index tasks_id and leaves room on the pages of tasks, and the store goes on: it loads the tasks, lists them
// in byte order page by page, wakes the world wait and signals the link.
func TestMigrateByteIDs(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	db.schemaAt(6)
	rec := storetest.NewRecord("old-a")
	// In byte order: old-B, old-a, old-é (in many collations, old-a comes first).
	for _, id := range []string{"old-a", "old-B", "old-é"} {
		db.exec(`INSERT INTO tasks (id, program, program_version, input, status, wait, wait_kind, created, updated,
				ready, journal_len, mailbox_seq, proc)
			VALUES ($1, $2, 1, $3, 'waiting', $4, $5, 1, 1, false, 2, 1, true)`, id, rec.Program, []byte(rec.Input),
			mustMarshal(t, &task.Wait{Kind: task.WaitReceive}), task.WaitReceive)
		for _, e := range storetest.NewEntries(1, 2) {
			b, err := task.EncodeEntry(e)
			if err != nil {
				t.Fatal(err)
			}
			db.exec(`INSERT INTO journal (task_id, seq, entry, sum) VALUES ($1, $2, $3, $4)`, id, int64(e.Seq), b,
				int64(task.Checksum(b)))
		}
		db.exec(`INSERT INTO mailbox (task_id, seq, envelope) VALUES ($1, 1, $2)`, id, mustEnvelope(t, storetest.NewEnvelope("m")))
	}
	db.exec(`INSERT INTO links (kind, owner, target) VALUES (1, 'old-B', 'old-a')`)
	db.exec(`INSERT INTO world (name, value) VALUES ('x', '\x01')`)
	db.exec(`INSERT INTO world_waits (name, task_id, version) VALUES ('x', 'old-a', 0)`)
	db.exec(`RESET search_path`)

	s := db.open(nil)
	var max int
	if err := db.admin.QueryRow(bg, `SELECT max(version) FROM `+db.schema+`.schema_migrations`).Scan(&max); err != nil || max != latestMigration(t) {
		t.Fatalf("schema version after Open = %d, %v; want %d", max, err, latestMigration(t))
	}
	var byteOrder, tasksID int
	err := db.admin.QueryRow(bg, `SELECT count(*) FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_collation co ON co.oid = a.attcollation
		WHERE n.nspname = $1 AND co.collname = 'C' AND (c.relname, a.attname) IN
			(('tasks', 'id'), ('journal', 'task_id'), ('mailbox', 'task_id'), ('links', 'owner'), ('links', 'target'),
			 ('world_waits', 'task_id'))`, db.schema).Scan(&byteOrder)
	if err != nil || byteOrder != 6 {
		t.Errorf("%d of the 6 task ID columns in byte order (%v)", byteOrder, err)
	}
	err = db.admin.QueryRow(bg, `SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = 'tasks_id'`,
		db.schema).Scan(&tasksID)
	if err != nil || tasksID != 0 {
		t.Errorf("index tasks_id still there (%d, %v)", tasksID, err)
	}
	var opts []string
	err = db.admin.QueryRow(bg, `SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = $1::regclass`,
		db.schema+".tasks").Scan(&opts)
	if err != nil || len(opts) != 1 || opts[0] != "fillfactor=60" {
		t.Errorf("options of tasks = %q, %v; want fillfactor=60", opts, err)
	}

	for _, id := range []string{"old-a", "old-B", "old-é"} {
		r, msgs, err := s.Load(bg, id)
		if err != nil || len(r.Journal) != 2 || len(msgs) != 1 || r.Status != task.Waiting {
			t.Fatalf("Load(%s) = %+v, %v, %v", id, r, msgs, err)
		}
	}
	var got []string
	f := store.Filter{Limit: 1}
	for range 4 {
		page, err := s.List(bg, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page[0].ID)
		f.After = store.Cursor{ID: page[0].ID}
	}
	if want := []string{"old-B", "old-a", "old-é"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("List by ID, a page at a time = %q, want %q", got, want)
	}

	// A write of x wakes old-a, which waits on it.
	h := &procHarness{t: t, db: db, s: s}
	h.create("writer")
	w := h.step(s, "w", "writer", task.Waiting, "")
	w.Token = store.NewToken()
	w.World = []store.WorldWrite{{Name: "x", Value: []byte{2}, Prev: 1}}
	h.mustCommit(w)
	var ready bool
	var waits int
	err = db.admin.QueryRow(bg, `SELECT (SELECT ready FROM `+db.schema+`.tasks WHERE id = 'old-a'),
		(SELECT count(*) FROM `+db.schema+`.world_waits)`).Scan(&ready, &waits)
	if err != nil || !ready || waits != 0 {
		t.Errorf("after a write of x: old-a ready %v, %d world waits left (%v); want ready, none", ready, waits, err)
	}

	// The end of old-B signals old-a through their link.
	h.mustCommit(h.step(s, "w", "old-B", task.Failed, "boom"))
	h.wantMailbox("old-a", "msg", "link:old-B:boom")
}

// TestMigrateStatusIndex opens a schema at version 7 holding done, failed
// and waiting tasks: version 8 leaves the done tasks out of tasks_status,
// and List by each status still pages through them in ID order, Counts
// counts them all, and a task that ends done afterwards is listed too.
func TestMigrateStatusIndex(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	db.schemaAt(7)
	rec := storetest.NewRecord("x")
	for id, status := range map[string]string{"d1": "done", "d2": "done", "d3": "done", "f1": "failed", "w1": "waiting"} {
		db.exec(`INSERT INTO tasks (id, program, program_version, input, status, created, updated, ready)
			VALUES ($1, $2, 1, $3, $4, 1, 1, false)`, id, rec.Program, []byte(rec.Input), status)
	}
	db.exec(`RESET search_path`)

	s := db.open(nil)
	var max int
	if err := db.admin.QueryRow(bg, `SELECT max(version) FROM `+db.schema+`.schema_migrations`).Scan(&max); err != nil || max != latestMigration(t) {
		t.Fatalf("schema version after Open = %d, %v; want %d", max, err, latestMigration(t))
	}
	var def string
	err := db.admin.QueryRow(bg, `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'tasks_status'`,
		db.schema).Scan(&def)
	if err != nil || !strings.Contains(def, "WHERE (status <> 'done'") {
		t.Errorf("tasks_status = %q, %v; want it partial, without the done tasks", def, err)
	}

	// A task that ends done after the migration.
	h := &procHarness{t: t, db: db, s: s}
	h.create("d4")
	h.mustCommit(h.step(s, "w", "d4", task.Done, ""))

	list := func(status task.Status) []string {
		t.Helper()
		var ids []string
		f := store.Filter{Status: status, Limit: 2}
		for range 10 {
			page, err := s.List(bg, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, sum := range page {
				ids = append(ids, sum.ID)
			}
			f.After = page[len(page)-1].Cursor()
		}
		return ids
	}
	for status, want := range map[task.Status][]string{task.Done: {"d1", "d2", "d3", "d4"}, task.Failed: {"f1"},
		task.Waiting: {"w1"}} {
		if got := list(status); !slices.Equal(got, want) {
			t.Errorf("List(%s), 2 a page = %q, want %q", status, got, want)
		}
	}
	counts, err := s.Counts(bg, store.Filter{})
	if err != nil || counts[task.Done] != 4 || counts[task.Failed] != 1 || counts[task.Waiting] != 1 {
		t.Errorf("Counts = %v, %v; want 4 done, 1 failed, 1 waiting", counts, err)
	}
}
