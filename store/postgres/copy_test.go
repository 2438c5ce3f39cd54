package postgres_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// TestCreateClaimedCopy: a CreateClaimed of many tasks (COPY) stores the
// same rows, journals and mailboxes and returns the same leases as one of
// few (INSERT ... unnest); an existing ID refuses the whole call; the
// copied tasks commit under their leases.
func TestCreateClaimedCopy(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	copying, inserting := db.open(nil), db.open(nil)
	postgres.SetCopyMin(inserting, 1<<30)
	recs := func(prefix string) []*task.Record {
		var rs []*task.Record
		for i := range 100 {
			r := storetest.NewRecord(fmt.Sprintf("%s%03d", prefix, i))
			r.Input = mustMarshal(t, i) // NewRecord's holds the ID
			r.Created = storetest.T0.Add(time.Duration(i) * time.Millisecond)
			if i%3 == 0 {
				r.RunAt = storetest.T0.Add(time.Hour)
			}
			if i%10 == 0 {
				r.Journal = storetest.NewEntries(1, 2)
				r.Mailbox = []task.Envelope{storetest.NewEnvelope("m")}
				r.Parent = "p"
			}
			rs = append(rs, r)
		}
		return rs
	}
	lc, err := copying.CreateClaimed(bg, "w", storetest.T0, time.Minute, recs("c")...)
	if err != nil {
		t.Fatal(err)
	}
	li, err := inserting.CreateClaimed(bg, "w", storetest.T0, time.Minute, recs("i")...)
	if err != nil {
		t.Fatal(err)
	}
	if got := postgres.Copies(copying) + 10*postgres.Copies(inserting); got != 1 {
		t.Fatalf("copies: %d by the copying store, %d by the inserting one; want 1, 0", postgres.Copies(copying), postgres.Copies(inserting))
	}
	if len(lc) != 100 || len(li) != 100 {
		t.Fatalf("%d and %d leases, want 100 each", len(lc), len(li))
	}
	for k := range lc {
		c, i := lc[k], li[k]
		if c.ID != fmt.Sprintf("c%03d", k) || c.Epoch != i.Epoch || c.Steps != i.Steps || c.Cancel != i.Cancel {
			t.Fatalf("lease %d copied %+v, inserted %+v", k, c, i)
		}
	}
	// The rows, but for their IDs' first letter and their place in the
	// claim order (ready_seq, a sequence).
	for table, cols := range map[string]string{
		"tasks": `substr(id, 2), program, program_version, input, status, reason, wait, result, err, parent, created,
			updated, run_at, ready, due, lease_owner, lease_epoch, lease_until, cancel, version, journal_len,
			mailbox_seq, trap, name, proc, token, runs, wait_kind, migrations::text`,
		"journal": `substr(task_id, 2), seq, entry, sum`,
		"mailbox": `substr(task_id, 2), seq, envelope, sum, tag`,
	} {
		key := "id"
		if table != "tasks" {
			key = "task_id"
		}
		q := func(prefix string) string {
			return `SELECT ` + cols + ` FROM ` + db.schema + `.` + table + ` WHERE ` + key + ` LIKE '` + prefix + `%'`
		}
		var n, differ int
		err := db.admin.QueryRow(bg, `SELECT (SELECT count(*) FROM (`+q("c")+`) x),
			(SELECT count(*) FROM ((`+q("c")+` EXCEPT `+q("i")+`) UNION ALL (`+q("i")+` EXCEPT `+q("c")+`)) d)`).Scan(&n, &differ)
		if err != nil || n == 0 || differ != 0 {
			t.Errorf("%s: %d rows copied, %d differ from the inserted ones (%v)", table, n, differ, err)
		}
	}

	dup := recs("d")
	dup[50] = storetest.NewRecord("c007")
	if _, err := copying.CreateClaimed(bg, "w", storetest.T0, time.Minute, dup...); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateClaimed of an existing ID = %v, want ErrExists", err)
	}
	if _, _, err := copying.Load(bg, "d000"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused CreateClaimed created d000: Load = %v", err)
	}

	st := store.Step{ID: lc[10].ID, Owner: "w", Epoch: lc[10].Epoch, Steps: lc[10].Steps, Status: task.Done,
		Append: storetest.NewEntries(3, 1)}
	if errs, err := copying.Commit(bg, []store.Step{st}); err != nil || errs[0] != nil {
		t.Fatalf("commit under a copied lease = %v, %v", errs, err)
	}
	r, _, err := copying.Load(bg, lc[10].ID)
	if err != nil || r.Status != task.Done || len(r.Journal) != 3 {
		t.Errorf("Load(%s) = %+v, %v; want done with 3 entries", lc[10].ID, r, err)
	}
}
