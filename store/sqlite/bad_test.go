package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

var bg = context.Background()

// rawDB opens the store's file directly, to damage it.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newCorruptible opens a store with tasks a and b, each with a journal of
// three entries and two messages.
func newCorruptible(t testing.TB) (*sqlite.Store, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "amber.db")
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, id := range []string{"a", "b"} {
		r := storetest.NewRecord(id)
		r.Journal = storetest.NewEntries(1, 3)
		r.Mailbox = []task.Envelope{storetest.NewEnvelope("m1"), storetest.NewEnvelope("m2")}
		if err := s.Create(bg, r); err != nil {
			t.Fatal(err)
		}
	}
	return s, rawDB(t, path)
}

func TestCorruptRow(t *testing.T) {
	for _, c := range []struct {
		name, update, row string
	}{
		{"journal", `UPDATE journal SET entry = x'a1ff' WHERE task_id = 'a' AND seq = 2`, "journal seq 2"},
		{"truncated entry", `UPDATE journal SET entry = substr(entry, 1, 10) WHERE task_id = 'a' AND seq = 3`, "journal seq 3"},
		{"entry of another seq", `UPDATE journal SET entry = (SELECT entry FROM journal WHERE task_id = 'b' AND seq = 1)
			WHERE task_id = 'a' AND seq = 2`, "journal seq 2"},
		{"missing entry", `DELETE FROM journal WHERE task_id = 'a' AND seq = 2`, "journal seq 3"},
		{"mailbox", `UPDATE mailbox SET envelope = x'00' WHERE task_id = 'a' AND seq = 1`, "mailbox seq 1"},
		// A flipped bit that still decodes (inside a string of the op):
		// only the checksum sees it.
		{"flipped entry byte", flip + `journal SET entry = ? WHERE task_id = 'a' AND seq = 2`, "journal seq 2"},
		{"flipped sum", `UPDATE journal SET sum = (sum + 1) % 4294967296 WHERE task_id = 'a' AND seq = 3`, "journal seq 3"},
		{"flipped message byte", flip + `mailbox SET envelope = ? WHERE task_id = 'a' AND seq = 2`, "mailbox seq 2"},
		{"wait", `UPDATE tasks SET wait = x'ff' WHERE id = 'a'`, "tasks.wait"},
		{"status", `UPDATE tasks SET status = 'zombie' WHERE id = 'a'`, "tasks.status"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, db := newCorruptible(t)
			if q, ok := strings.CutPrefix(c.update, flip); ok {
				flipByte(t, db, q)
			} else if _, err := db.Exec(c.update); err != nil {
				t.Fatal(err)
			}
			_, _, err := s.Load(bg, "a")
			var ce *store.CorruptError
			if !errors.Is(err, task.ErrCorrupt) || !errors.As(err, &ce) {
				t.Fatalf("Load of a damaged task: %v, want a *store.CorruptError matching task.ErrCorrupt", err)
			}
			if (strings.HasPrefix(c.update, flip) || strings.Contains(c.update, "sum =")) && !strings.Contains(err.Error(), "checksum") {
				t.Errorf("error %q, want it to be the checksum's", err)
			}
			if ce.Task != "a" || ce.Row != c.row || !strings.Contains(err.Error(), "task a") || !strings.Contains(err.Error(), c.row+" is corrupt") {
				t.Errorf("error %q (task %q row %q), want it to name task a and %s", err, ce.Task, ce.Row, c.row)
			}
			if r, ms, err := s.Load(bg, "b"); err != nil || len(r.Journal) != 3 || len(ms) != 2 {
				t.Errorf("Load of the intact task b: %v", err)
			}
		})
	}
}

// flip marks a case whose update is made by flipByte.
const flip = "flip: UPDATE "

// flipByte flips one bit in the middle of the blob that the UPDATE
// statement q (with one parameter, the new value) sets: the same column of
// the same row, read first.
func flipByte(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	table, rest, _ := strings.Cut(q, " SET ")
	column, where, _ := strings.Cut(rest, " = ? ")
	var b []byte
	if err := db.QueryRow("SELECT " + column + " FROM " + table + " " + where).Scan(&b); err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if _, err := db.Exec("UPDATE "+q, b); err != nil {
		t.Fatal(err)
	}
}

// FuzzLoadCorruptRow writes arbitrary bytes into a journal row, a mailbox
// row (with their checksums, so that the decoder sees them) and a wait
// column: Load must return the task or an error, and never panic.
func FuzzLoadCorruptRow(f *testing.F) {
	good, _ := task.EncodeEntry(storetest.NewEntry(2))
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x01, 0x02})
	f.Add(good[:len(good)/2])
	s, db := newCorruptible(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, q := range []string{
			`UPDATE journal SET entry = ?1, sum = ?2 WHERE task_id = 'a' AND seq = 2`,
			`UPDATE mailbox SET envelope = ?1, sum = ?2 WHERE task_id = 'a' AND seq = 1`,
			`UPDATE tasks SET wait = ?1 WHERE id = 'a' AND ?2 IS NOT NULL`,
		} {
			if _, err := db.Exec(q, data, task.Checksum(data)); err != nil {
				t.Fatal(err)
			}
			r, _, err := s.Load(bg, "a")
			if err != nil && !errors.Is(err, task.ErrCorrupt) {
				t.Errorf("Load after %s: %v, want an error matching task.ErrCorrupt", q, err)
			}
			if err == nil && len(r.Journal) != 3 {
				t.Errorf("Load after %s: a journal of %d entries, want 3", q, len(r.Journal))
			}
			if _, err := s.Messages(bg, "a", 0); err != nil && !errors.Is(err, task.ErrCorrupt) {
				t.Errorf("Messages after %s: %v", q, err)
			}
		}
		// Restore the rows, so that each input damages one thing at a time.
		if _, err := db.Exec(`UPDATE journal SET entry = ?, sum = ? WHERE task_id = 'a' AND seq = 2`, good, task.Checksum(good)); err != nil {
			t.Fatal(err)
		}
		env, _ := task.EncodeEnvelope(storetest.NewEnvelope("m1"))
		if _, err := db.Exec(`UPDATE mailbox SET envelope = ?, sum = ? WHERE task_id = 'a' AND seq = 1`, env, task.Checksum(env)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE tasks SET wait = NULL WHERE id = 'a'`); err != nil {
			t.Fatal(err)
		}
	})
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(bg, storetest.NewRecord("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("mode=ro", func(t *testing.T) {
		_, err := sqlite.Open("file:"+path+"?mode=ro", nil)
		if err == nil || !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), path) {
			t.Errorf("Open of a read-only database: %v, want an error that says read-only and names the file", err)
		}
	})
	t.Run("chmod", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes read-only files")
		}
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		_, err := sqlite.Open(path, nil)
		if err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("Open of a read-only file: %v, want an error that says read-only", err)
		}
	})
}

func TestOptions(t *testing.T) {
	if _, err := sqlite.Open(filepath.Join(t.TempDir(), "x.db"), &sqlite.Options{Synchronous: "sometimes"}); err == nil {
		t.Error("Open with Synchronous \"sometimes\" succeeded")
	}
	s := open(t, &sqlite.Options{Synchronous: "normal", Readers: 1, MaxBatch: 1})
	if err := s.Create(bg, storetest.NewRecord("a")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(bg, "a"); err != nil {
		t.Fatal(err)
	}
}

func TestClosed(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "amber.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Create(bg, storetest.NewRecord("a")); !errors.Is(err, sqlite.ErrClosed) {
		t.Errorf("Create after Close: %v, want ErrClosed", err)
	}
}

// TestWriteFaultAlone: a step whose own write fails inside the
// transaction, after every check passed (here a trigger raises an error on
// its journal rows, as a constraint would), is refused alone: the steps of
// the same Commit, and the other writes of the same transaction, commit.
// A Create that fails the same way fails alone too.
func TestWriteFaultAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amber.db")
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := rawDB(t, path)
	for _, q := range []string{
		`CREATE TRIGGER boom BEFORE INSERT ON journal WHEN NEW.task_id LIKE 'bad%' BEGIN SELECT RAISE(ABORT, 'boom'); END`,
		`CREATE TRIGGER boom2 BEFORE INSERT ON tasks WHEN NEW.id = 'doomed' BEGIN SELECT RAISE(ABORT, 'doomed'); END`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	ids := []string{"good1", "bad1", "good2", "bad2", "good3"}
	for _, id := range ids {
		if err := s.Create(bg, storetest.NewRecord(id)); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := s.Claim(bg, "w", 10, storetest.T0, time.Minute)
	if err != nil || len(ls) != len(ids) {
		t.Fatal(ls, err)
	}
	var steps []store.Step
	for _, l := range ls {
		steps = append(steps, store.Step{ID: l.ID, Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Status: task.Done,
			Append: storetest.NewEntries(1, 2), World: []store.WorldWrite{{Name: "v-" + l.ID, Value: []byte{1}}},
			Sends: []store.Outgoing{{To: "good1", Env: storetest.NewEnvelope("from " + l.ID)}}})
	}
	// A Create in the same transaction, most likely, which fails alone too.
	created := make(chan error, 1)
	go func() { created <- s.Create(bg, storetest.NewRecord("doomed"), storetest.NewRecord("spared")) }()
	errs, err := s.Commit(bg, steps)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	for i, st := range steps {
		bad := strings.HasPrefix(st.ID, "bad")
		if bad != (errs[i] != nil) || bad && !strings.Contains(errs[i].Error(), "boom") {
			t.Errorf("Commit of %s: %v", st.ID, errs[i])
		}
		r, _, err := s.Load(bg, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if bad && (r.Status != task.Running || len(r.Journal) != 0) || !bad && (r.Status != task.Done || len(r.Journal) != 2) {
			t.Errorf("%s after the commit: %s with %d entries", st.ID, r.Status, len(r.Journal))
		}
	}
	if err := <-created; err == nil || !strings.Contains(err.Error(), "doomed") {
		t.Errorf("Create of a task whose insert fails: %v", err)
	}
	if _, _, err := s.Load(bg, "spared"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed Create created a task beside the one that failed: %v", err)
	}
	snap, _ := s.World(bg)
	if len(snap.Vars) != 3 {
		t.Errorf("world = %+v, want the vars of the 3 good steps", snap.Vars)
	}
	ms, _ := s.Messages(bg, "good1", 0)
	if len(ms) != 3 {
		t.Errorf("good1 has %d messages, want the 3 of the good steps", len(ms))
	}
}
