package sqlite_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// TestCreateExisting: a Create of several tasks of which one, not the
// first, exists is refused with ErrExists and creates none of them,
// whatever the bytes of the ID (the writer looks for them all in one
// query, as a JSON array, when their IDs survive JSON as they are).
func TestCreateExisting(t *testing.T) {
	s := open(t, nil)
	for _, id := range []string{"plain", `quote"back\slash`, "\xff\xfe-not-utf8", "ctl\x00\x01", "ünï"} {
		if err := s.Create(bg, storetest.NewRecord(id)); err != nil {
			t.Fatalf("create %q: %v", id, err)
		}
		fresh := "fresh-" + id
		err := s.Create(bg, storetest.NewRecord(fresh), storetest.NewRecord("other-"+id), storetest.NewRecord(id))
		if !errors.Is(err, store.ErrExists) {
			t.Errorf("create of %q again beside others: %v, want ErrExists", id, err)
		}
		if _, _, err := s.Load(bg, fresh); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused Create created %q: %v", fresh, err)
		}
		ls, err := s.CreateClaimed(bg, "w", storetest.T0, 0, storetest.NewRecord(fresh), storetest.NewRecord(id))
		if !errors.Is(err, store.ErrExists) || ls != nil {
			t.Errorf("CreateClaimed of %q again beside another: %v, %v, want ErrExists", id, ls, err)
		}
	}
	// And one of several new tasks, created leased, is at its first lease.
	ls, err := s.CreateClaimed(bg, "w", storetest.T0, 0, storetest.NewRecord("n1"), storetest.NewRecord("n2"))
	if err != nil || len(ls) != 2 {
		t.Fatal(ls, err)
	}
	for _, l := range ls {
		r, _, err := s.Load(bg, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if l.Epoch != 1 || l.Steps != 0 || l.Cancel || r.Status != task.Running {
			t.Errorf("%s created leased: %+v, %s", l.ID, l, r.Status)
		}
	}
}

// TestCreateExistingMany: the IDs of a large Create are looked for in
// several queries; an existing one in any of them refuses the Create.
func TestCreateExistingMany(t *testing.T) {
	s := open(t, nil)
	if err := s.Create(bg, storetest.NewRecord("old")); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{1, 63, 64, 80, 84, 85} {
		recs := make([]*task.Record, 86)
		for i := range recs {
			recs[i] = storetest.NewRecord(fmt.Sprintf("new-%d-%d", at, i))
		}
		recs[at] = storetest.NewRecord("old")
		if err := s.Create(bg, recs...); !errors.Is(err, store.ErrExists) {
			t.Errorf("create of 86 with an existing one at %d: %v, want ErrExists", at, err)
		}
		if _, _, err := s.Load(bg, recs[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused Create created %q: %v", recs[0].ID, err)
		}
	}
	recs := make([]*task.Record, 86)
	for i := range recs {
		recs[i] = storetest.NewRecord(fmt.Sprintf("fresh-%d", i))
	}
	if err := s.Create(bg, recs...); err != nil {
		t.Fatal(err)
	}
}

// TestCreateExistingLate: a Create of more tasks than one statement
// inserts, of which one in a later statement exists, is refused with
// ErrExists and leaves none of the others, those of the statements before
// it included; the same tasks without it are then created, in both forms.
func TestCreateExistingLate(t *testing.T) {
	s := open(t, nil)
	if err := s.Create(bg, storetest.NewRecord("old")); err != nil {
		t.Fatal(err)
	}
	recs := func(prefix string, withOld bool) []*task.Record {
		var rs []*task.Record
		for i := range 70 {
			rs = append(rs, storetest.NewRecord(fmt.Sprintf("%s%02d", prefix, i)))
		}
		if withOld {
			rs[66] = storetest.NewRecord("old")
		}
		return rs
	}
	if err := s.Create(bg, recs("r", true)...); !errors.Is(err, store.ErrExists) {
		t.Errorf("Create of 70 with an existing 67th: %v, want ErrExists", err)
	}
	if _, err := s.CreateClaimed(bg, "w", storetest.T0, 0, recs("c", true)...); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateClaimed of 70 with an existing 67th: %v, want ErrExists", err)
	}
	if counts, err := s.Counts(bg, store.Filter{}); err != nil || sum(counts) != 1 {
		t.Errorf("after the refused creates: %v, %v; want the one old task", counts, err)
	}
	if err := s.Create(bg, recs("r", false)...); err != nil {
		t.Fatal(err)
	}
	ls, err := s.CreateClaimed(bg, "w", storetest.T0, 0, recs("c", false)...)
	if err != nil || len(ls) != 70 {
		t.Fatal(ls, err)
	}
	for _, id := range []string{"r00", "r66", "r69", "c00", "c66", "c69"} {
		if _, _, err := s.Load(bg, id); err != nil {
			t.Errorf("Load(%s): %v", id, err)
		}
	}
	if counts, err := s.Counts(bg, store.Filter{}); err != nil || sum(counts) != 141 {
		t.Errorf("after the creates: %v, %v; want 141 tasks", counts, err)
	}
}

// sum adds up counts.
func sum(counts map[task.Status]int) (n int) {
	for _, c := range counts {
		n += c
	}
	return n
}

// TestRowHintWrong: a step whose task the writer believes at another
// task's rowid (Store.rowHint) lands on its own task, and leaves the
// other alone, though both are held by the same owner at the same epoch
// and step, so that only the id tells them apart.
func TestRowHintWrong(t *testing.T) {
	s := open(t, nil)
	for _, id := range []string{"a", "b"} {
		if err := s.Create(bg, storetest.NewRecord(id)); err != nil {
			t.Fatal(err)
		}
	}
	leases := map[string]store.Lease{}
	for _, id := range []string{"a", "b"} {
		l, err := s.ClaimID(bg, "o", id, storetest.T0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		leases[id] = l
	}
	if err := sqlite.SwapRowHints(s, "a", "b"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		l := leases[id]
		st := store.Step{ID: id, Owner: "o", Epoch: l.Epoch, Steps: l.Steps, Status: task.Waiting, Keep: true,
			Token: store.NewToken(), Append: []task.Entry{storetest.NewEntry(1)}}
		if errs, err := s.Commit(bg, []store.Step{st}); err != nil || errs[0] != nil {
			t.Fatalf("Commit of %s = %v, %v", id, errs, err)
		}
		for _, other := range []string{"a", "b"} {
			steps, err := sqlite.TaskSteps(s, other)
			if err != nil {
				t.Fatal(err)
			}
			want := int64(0)
			if other == "a" || id == "b" {
				want = 1
			}
			if steps != want {
				t.Errorf("after the step of %s, %s has %d steps; want %d", id, other, steps, want)
			}
		}
	}
}
