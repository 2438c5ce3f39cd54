package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/postgres"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

var bg = context.Background()

// testDB is a fresh schema of the test database, dropped at cleanup, so
// that tests run in parallel and again and again.
type testDB struct {
	t      testing.TB
	url    string // with an application_name unique to the schema
	schema string
	admin  *pgx.Conn // a connection of the test's own, in the schema
}

func newTestDB(t testing.TB) *testDB {
	t.Helper()
	base := os.Getenv("AMBER_TEST_POSTGRES")
	if base == "" {
		t.Skip("set AMBER_TEST_POSTGRES=postgres://... to run the PostgreSQL tests")
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "amber_test_" + hex.EncodeToString(b[:])
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("AMBER_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	admin, err := pgx.Connect(bg, base)
	if err != nil {
		t.Fatalf("connect to AMBER_TEST_POSTGRES: %v", err)
	}
	db := &testDB{t: t, url: u.String(), schema: schema, admin: admin}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close(ctx)
	})
	return db
}

// open opens a store on the schema, closed at cleanup (before the schema
// is dropped), through the database's URL or the one given (a proxy's).
func (db *testDB) open(opts *postgres.Options, through ...string) *postgres.Store {
	db.t.Helper()
	o := postgres.Options{}
	if opts != nil {
		o = *opts
	}
	o.Schema = db.schema
	u := db.url
	if len(through) > 0 {
		u = through[0]
	}
	s, err := postgres.Open(bg, u, &o)
	if err != nil {
		db.t.Fatalf("Open: %v", err)
	}
	db.t.Cleanup(func() { s.Close() })
	return s
}

// exec runs SQL in the schema on the test's own connection.
func (db *testDB) exec(sql string, args ...any) {
	db.t.Helper()
	sql = strings.ReplaceAll(sql, "$schema", pgx.Identifier{db.schema}.Sanitize())
	if _, err := db.admin.Exec(bg, sql, args...); err != nil {
		db.t.Fatalf("%s: %v", sql, err)
	}
}

// schemaAt makes the test's schema at migration v: the migrations up to
// v run in it, and recorded in schema_migrations, as Open would have left
// them. The connection's search_path stays on the schema.
func (db *testDB) schemaAt(v int) {
	db.t.Helper()
	db.exec(`CREATE SCHEMA $schema`)
	db.exec(`SET search_path TO $schema`)
	db.exec(`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
		applied timestamptz NOT NULL DEFAULT now())`)
	ms, err := postgres.Migrations()
	if err != nil {
		db.t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version > v {
			break
		}
		db.exec(m.SQL)
		db.exec(`INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
	}
}

// waitFor polls query (one boolean) on the test's connection until it is
// true; the deadline is a safety net against a hang, not an assertion.
func (db *testDB) waitFor(what, query string, args ...any) {
	db.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		if err := db.admin.QueryRow(bg, query, args...).Scan(&ok); err != nil {
			db.t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			db.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killStore terminates every backend of the schema's stores and waits for
// them to exit.
func (db *testDB) killStore() int {
	db.t.Helper()
	var n int
	err := db.admin.QueryRow(bg, `SELECT count(*) FROM (
		SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()) k`, db.schema).Scan(&n)
	if err != nil {
		db.t.Errorf("terminate backends: %v", err)
	}
	return n
}

func TestContract(t *testing.T) {
	dbs := map[store.Store]*testDB{}
	var mu sync.Mutex
	storetest.Run(t, func(t *testing.T) store.Store {
		db := newTestDB(t)
		s := db.open(nil)
		mu.Lock()
		dbs[s] = db
		mu.Unlock()
		return s
	}, storetest.Reopen(func(t *testing.T, s store.Store) store.Store {
		mu.Lock()
		db := dbs[s]
		mu.Unlock()
		s.Close()
		s2 := db.open(nil)
		mu.Lock()
		dbs[s2] = db
		mu.Unlock()
		return s2
	}))
}

// TestMigrate opens many stores on one new schema at once: the advisory
// lock makes them take turns, and each migration is applied once.
func TestMigrate(t *testing.T) {
	db := newTestDB(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := postgres.Open(bg, db.url, &postgres.Options{Schema: db.schema})
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Open: %v", err)
	}
	var n, max int
	err := db.admin.QueryRow(bg, "SELECT count(*), max(version) FROM "+pgx.Identifier{db.schema, "schema_migrations"}.Sanitize()).Scan(&n, &max)
	if files, _ := filepath.Glob("migrations/*.sql"); err != nil || n != len(files) || max != latestMigration(t) {
		t.Errorf("schema_migrations has %d rows up to version %d (%v), want each version once", n, max, err)
	}
	// Opening again applies nothing and keeps the data.
	s := db.open(nil)
	if err := s.Create(bg, storetest.NewRecord("a")); err != nil {
		t.Fatal(err)
	}
	s2 := db.open(nil)
	if _, _, err := s2.Load(bg, "a"); err != nil {
		t.Errorf("Load after reopening: %v", err)
	}
}

// TestStaleLease: the first owner's lease expires, a second owner takes
// the task over with a higher epoch, and the first owner's commit is
// refused while the second's goes through.
func TestStaleLease(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	w1, w2 := db.open(nil), db.open(nil) // two worker processes
	t0 := storetest.T0
	if err := w1.Create(bg, storetest.NewRecord("a")); err != nil {
		t.Fatal(err)
	}
	l1, err := w1.Claim(bg, "w1", 10, t0, time.Minute)
	if err != nil || len(l1) != 1 {
		t.Fatalf("Claim by w1 = %v, %v", l1, err)
	}
	if ls, _ := w2.Claim(bg, "w2", 10, t0.Add(59*time.Second), time.Minute); len(ls) != 0 {
		t.Fatalf("w2 claimed %v before w1's lease expired", ls)
	}
	l2, err := w2.Claim(bg, "w2", 10, t0.Add(61*time.Second), time.Minute)
	if err != nil || len(l2) != 1 || l2[0].Epoch <= l1[0].Epoch {
		t.Fatalf("Claim by w2 after expiry = %v, %v; want a higher epoch than %d", l2, err, l1[0].Epoch)
	}
	stale := store.Step{ID: "a", Owner: "w1", Epoch: l1[0].Epoch, Steps: 0, Status: task.Done,
		Append: storetest.NewEntries(1, 1)}
	errs, err := w1.Commit(bg, []store.Step{stale})
	if err != nil || !errors.Is(errs[0], store.ErrLeaseLost) {
		t.Fatalf("commit with the expired lease = %v, %v; want ErrLeaseLost", errs, err)
	}
	t.Logf("refused: %v", errs[0])
	fresh := store.Step{ID: "a", Owner: "w2", Epoch: l2[0].Epoch, Steps: 0, Status: task.Waiting,
		Append: storetest.NewEntries(1, 2)}
	if errs, err := w2.Commit(bg, []store.Step{fresh}); err != nil || errs[0] != nil {
		t.Fatalf("commit by the new owner = %v, %v", errs, err)
	}
	r, _, err := w1.Load(bg, "a")
	if err != nil || r.Status != task.Waiting || len(r.Journal) != 2 {
		t.Errorf("after both commits: %+v, %v; want w2's step alone", r, err)
	}
}

// TestLoadCorrupt stores bytes that do not decode in each column that holds
// CBOR: Load names the task and matches task.ErrCorrupt, without a panic,
// and the other tasks load.
func TestLoadCorrupt(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	s := db.open(nil)
	garbage := []byte{0xff, 0x00, 0x1c}
	cases := []struct{ id, sql string }{
		{"input", `UPDATE $schema.tasks SET input = $1 WHERE id = 'input'`},
		{"wait", `UPDATE $schema.tasks SET wait = $1 WHERE id = 'wait'`},
		{"result", `UPDATE $schema.tasks SET result = $1 WHERE id = 'result'`},
		{"err", `UPDATE $schema.tasks SET err = $1 WHERE id = 'err'`},
		{"entry", `UPDATE $schema.journal SET entry = $1 WHERE task_id = 'entry' AND seq = 2`},
		{"truncated", `UPDATE $schema.journal SET entry = substr(entry, 1, 10) WHERE task_id = 'truncated' AND seq = 1 AND $1::bytea IS NOT NULL`},
		{"message", `UPDATE $schema.mailbox SET envelope = $1 WHERE task_id = 'message'`},
	}
	for _, c := range cases {
		r := storetest.NewRecord(c.id)
		r.Journal = storetest.NewEntries(1, 3)
		r.Mailbox = []task.Envelope{storetest.NewEnvelope("m")}
		if err := s.Create(bg, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(bg, storetest.NewRecord("fine")); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		db.exec(c.sql, garbage)
		_, _, err := s.Load(bg, c.id)
		if !errors.Is(err, task.ErrCorrupt) || !strings.Contains(err.Error(), "task "+c.id) {
			t.Errorf("Load of corrupt %s = %v, want an error naming the task and matching task.ErrCorrupt", c.id, err)
		} else {
			t.Logf("%s: %v", c.id, err)
		}
	}
	if _, err := s.Messages(bg, "message", 0); !errors.Is(err, task.ErrCorrupt) {
		t.Errorf("Messages with a corrupt envelope = %v, want task.ErrCorrupt", err)
	}
	// A journal with a hole is not corrupt CBOR, but it is not a journal.
	db.exec(`DELETE FROM $schema.journal WHERE task_id = 'message' AND seq = 2`)
	db.exec(`UPDATE $schema.mailbox SET envelope = $1 WHERE task_id = 'message'`, mustEnvelope(t, storetest.NewEnvelope("m")))
	if _, _, err := s.Load(bg, "message"); !errors.Is(err, task.ErrInvalidJournal) {
		t.Errorf("Load of a journal with a gap = %v, want task.ErrInvalidJournal", err)
	}
	if _, _, err := s.Load(bg, "fine"); err != nil {
		t.Errorf("Load of a good task beside corrupt ones: %v", err)
	}
}

// TestChecksum flips one bit in a stored journal entry, in a stored
// message, and in a checksum: bytes that still decode, which only the
// checksum catches. Load and Messages report the row as corrupt, naming it
// ("journal seq 2 is corrupt"), and never return the changed value.
func TestChecksum(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	s := db.open(nil)
	flipMiddle := func(col string) string {
		return fmt.Sprintf("set_byte(%[1]s, length(%[1]s) / 2, get_byte(%[1]s, length(%[1]s) / 2) # 1)", col)
	}
	cases := []struct{ id, sql, row string }{
		{"entry", `UPDATE $schema.journal SET entry = ` + flipMiddle("entry") + ` WHERE task_id = 'entry' AND seq = 2`, "journal seq 2"},
		{"sum", `UPDATE $schema.journal SET sum = sum # 1 WHERE task_id = 'sum' AND seq = 3`, "journal seq 3"},
		{"message", `UPDATE $schema.mailbox SET envelope = ` + flipMiddle("envelope") + ` WHERE task_id = 'message'`, "mailbox seq 1"},
	}
	for _, c := range cases {
		r := storetest.NewRecord(c.id)
		r.Journal = storetest.NewEntries(1, 3)
		r.Mailbox = []task.Envelope{storetest.NewEnvelope("m")}
		if err := s.Create(bg, r); err != nil {
			t.Fatal(err)
		}
		db.exec(c.sql)
		_, _, err := s.Load(bg, c.id)
		var ce *store.CorruptError
		if !errors.Is(err, task.ErrCorrupt) || !errors.As(err, &ce) || ce.Task != c.id || ce.Row != c.row ||
			!strings.Contains(err.Error(), c.row+" is corrupt") || !strings.Contains(err.Error(), "checksum") {
			t.Errorf("Load after flipping a bit of %s = %v; want a checksum mismatch of %s", c.id, err, c.row)
		}
	}
	if _, err := s.Messages(bg, "message", 0); !errors.Is(err, task.ErrCorrupt) || !strings.Contains(err.Error(), "mailbox seq 1 is corrupt") {
		t.Errorf("Messages after flipping a bit of a message = %v, want mailbox seq 1 corrupt", err)
	}
	if _, err := s.Messages(bg, "entry", 0); err != nil {
		t.Errorf("Messages of a task whose journal is damaged: %v", err)
	}
}

// latestMigration is the version of the last migration file.
func latestMigration(t testing.TB) int {
	t.Helper()
	names, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatal(names, err)
	}
	// The highest number, not the count: a branch may add a migration
	// numbered after others still on their way.
	latest := 0
	for _, n := range names {
		v, err := strconv.Atoi(strings.SplitN(filepath.Base(n), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: %v", n, err)
		}
		latest = max(latest, v)
	}
	return latest
}

func mustEnvelope(t *testing.T, env task.Envelope) []byte {
	t.Helper()
	data, err := task.EncodeEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	data, err := task.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestCommitConnectionKilled kills the store's connection after a commit
// has locked its rows and before it sends its writes and COMMIT: the
// transaction fails as a whole, the retry commits, and a second retry (as
// if the first had gone through unseen) is refused by the fence. The
// journal has every entry once.
func TestCommitConnectionKilled(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	s := db.open(&postgres.Options{MaxConns: 2})
	if err := s.Create(bg, storetest.NewRecord("a"), storetest.NewRecord("b")); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Claim(bg, "w", 10, storetest.T0, time.Minute)
	if err != nil || len(ls) != 2 {
		t.Fatalf("Claim = %v, %v", ls, err)
	}
	steps := make([]store.Step, len(ls))
	for i, l := range ls {
		steps[i] = store.Step{ID: l.ID, Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Status: task.Waiting,
			Append: storetest.NewEntries(1, 3), Sends: []store.Outgoing{{To: "a", Env: storetest.NewEnvelope("hi")}}}
	}
	killed := 0
	postgres.SetBeforeCommit(s, func(context.Context) { killed += db.killStore() })
	if _, err := s.Commit(bg, steps); err == nil {
		t.Fatalf("Commit over a killed connection succeeded (killed %d backends)", killed)
	} else {
		t.Logf("killed %d backends: Commit: %v", killed, err)
	}
	postgres.SetBeforeCommit(s, nil)
	for _, id := range []string{"a", "b"} {
		if r, ms, err := s.Load(bg, id); err != nil || len(r.Journal) != 0 || len(ms) != 0 {
			t.Errorf("after a failed commit, %s = %+v, %d messages, %v; want nothing applied", id, r, len(ms), err)
		}
	}
	errs, err := s.Commit(bg, steps)
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("retried Commit = %v, %v", errs, err)
	}
	errs, err = s.Commit(bg, steps)
	if err != nil || !errors.Is(errs[0], store.ErrLeaseLost) || !errors.Is(errs[1], store.ErrLeaseLost) {
		t.Errorf("Commit of steps already committed = %v, %v; want ErrLeaseLost for each", errs, err)
	}
	for _, id := range []string{"a", "b"} {
		r, ms, err := s.Load(bg, id)
		if err != nil || len(r.Journal) != 3 {
			t.Errorf("%s after retries: %+v, %v; want 3 entries", id, r, err)
		}
		if id == "a" && len(ms) != 2 {
			t.Errorf("a has %d messages, want 2 (one from each step, once)", len(ms))
		}
	}
}

// TestCommitConnectionTorture commits steps of several tasks while another
// goroutine kills the store's backends at random moments. A worker retries
// a failed commit with the same steps and, when the retry is refused, takes
// the task again: the way the durable interpreter recovers. Every journal
// ends up gap-free, with no entry twice.
func TestCommitConnectionTorture(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	s := db.open(&postgres.Options{MaxConns: 4})
	const tasks, steps = 4, 40
	for i := range tasks {
		if err := s.Create(bg, storetest.NewRecord(fmt.Sprintf("t%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(bg)
	killer := make(chan int, 1)
	go func() {
		n := 0
		defer func() { killer <- n }()
		for ctx.Err() == nil {
			time.Sleep(time.Duration(5+n%11) * time.Millisecond)
			n += db.killStore()
		}
	}()
	stopKiller := func() int {
		cancel()
		return <-killer
	}
	t.Cleanup(func() { // before the database's cleanup, which closes its connection
		if ctx.Err() == nil {
			stopKiller()
		}
	})
	var failures, refusals int
	// A safety net against a livelock, not a timing assertion: each call
	// makes progress unless its connection was just killed.
	const maxCalls = 100_000
	calls := 0
	for i := range tasks {
		id := fmt.Sprintf("t%d", i)
		owner := "w" + id
		for done := false; !done; {
			if calls++; calls > maxCalls {
				t.Fatalf("%s not done after %d calls", id, maxCalls)
			}
			l, err := s.ClaimID(bg, owner, id, storetest.T0, time.Hour)
			if err != nil {
				failures++
				continue
			}
			r, _, err := s.Load(bg, id)
			if err != nil {
				failures++
				continue
			}
			for r.Status != task.Done {
				n := uint64(len(r.Journal))
				st := store.Step{ID: id, Owner: owner, Epoch: l.Epoch, Steps: l.Steps, Status: task.Running,
					Append: []task.Entry{storetest.NewEntry(n + 1)}, Keep: true}
				if n+1 == steps {
					st.Status, st.Keep = task.Done, false
				}
				errs, err := s.Commit(bg, []store.Step{st})
				if err != nil {
					failures++
					continue // retry the same step
				}
				if errs[0] != nil {
					if !errors.Is(errs[0], store.ErrLeaseLost) {
						t.Fatalf("%s: %v", id, errs[0])
					}
					refusals++
					break // claim again and reload
				}
				l.Steps++
				r.Journal = append(r.Journal, st.Append...)
				r.Status = st.Status
			}
			done = r.Status == task.Done
		}
	}
	kills := stopKiller()
	t.Logf("%d backends killed, %d failed calls, %d retries refused", kills, failures, refusals)
	for i := range tasks {
		id := fmt.Sprintf("t%d", i)
		r, _, err := s.Load(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != task.Done || len(r.Journal) != steps {
			t.Errorf("%s: %s with %d entries, want done with %d", id, r.Status, len(r.Journal), steps)
		}
		if err := r.Journal.Verify(); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}

// TestReady: changes made through one store wake a worker listening
// through another, and the listener survives its connection being killed.
func TestReady(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	listener := db.open(&postgres.Options{PollInterval: time.Hour})
	writer := db.open(nil)
	ready := listener.Ready()
	wait := func(what string) {
		t.Helper()
		select {
		case <-ready:
		case <-time.After(5 * time.Second):
			t.Fatalf("no signal on Ready after %s", what)
		}
	}
	drain := func() {
		// The listener signals once when it starts listening.
		for {
			select {
			case <-ready:
			case <-time.After(200 * time.Millisecond):
				return
			}
		}
	}
	drain()
	if err := writer.Create(bg, storetest.NewRecord("a")); err != nil {
		t.Fatal(err)
	}
	wait("Create")
	drain()
	if err := writer.Send(bg, "a", storetest.NewEnvelope("m")); err != nil {
		t.Fatal(err)
	}
	wait("Send")
	drain()
	ls, err := writer.Claim(bg, "w", 1, storetest.T0, time.Minute)
	if err != nil || len(ls) != 1 {
		t.Fatal(ls, err)
	}
	select {
	case <-ready:
		t.Errorf("Ready signalled after a Claim, which makes nothing ready")
	case <-time.After(200 * time.Millisecond):
	}
	db.killStore() // the listener's connection among them
	wait("reconnecting")
	drain()
	child := storetest.NewRecord("child")
	errs, err := writer.Commit(bg, []store.Step{{ID: "a", Owner: "w", Epoch: ls[0].Epoch, Status: task.Waiting,
		Spawns: []*task.Record{child}}})
	if err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	wait("a Commit that spawns")
}

// BenchmarkPostgresCommit commits one-entry steps of distinct tasks from
// concurrent committers (b.RunParallel, GOMAXPROCS×4 goroutines), one step
// per Commit and in groups of 32, and reports steps/s.
func BenchmarkPostgresCommit(b *testing.B) {
	for _, group := range []int{1, 32} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) {
			db := newTestDB(b)
			s := db.open(&postgres.Options{MaxConns: 16})
			var mu sync.Mutex
			next := 0
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				mu.Lock()
				worker := next
				next++
				mu.Unlock()
				owner := fmt.Sprintf("w%d", worker)
				type cur struct {
					l store.Lease
					n uint64
				}
				ts := make([]cur, group)
				recs := make([]*task.Record, group)
				for i := range recs {
					recs[i] = storetest.NewRecord(fmt.Sprintf("%s-%d", owner, i))
				}
				if err := s.Create(bg, recs...); err != nil {
					b.Error(err)
					return
				}
				for i := range ts {
					l, err := s.ClaimID(bg, owner, recs[i].ID, storetest.T0, time.Hour)
					if err != nil {
						b.Error(err)
						return
					}
					ts[i].l = l
				}
				steps := make([]store.Step, group)
				for pb.Next() {
					for i := range ts {
						ts[i].n++
						steps[i] = store.Step{ID: ts[i].l.ID, Owner: owner, Epoch: ts[i].l.Epoch,
							Steps: ts[i].n - 1, Status: task.Running, Keep: true,
							Append: []task.Entry{storetest.NewEntry(ts[i].n)}}
					}
					errs, err := s.Commit(bg, steps)
					if err != nil {
						b.Error(err)
						return
					}
					for _, err := range errs {
						if err != nil {
							b.Error(err)
							return
						}
					}
				}
			})
			b.ReportMetric(float64(b.N*group)/time.Since(start).Seconds(), "steps/s")
		})
	}
}

// TestCommitPlainGroupFault: a group of steps that take the one-row path
// together, one of which PostgreSQL refuses by its own fault (a NUL byte
// in its reason): that transaction fails as a whole, the general path
// commits the steps again and finds the one at fault, which alone is
// refused; the others commit.
func TestCommitPlainGroupFault(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	s := db.open(nil)
	ids := []string{"c", "a", "bad", "b"}
	for _, id := range ids {
		if err := s.Create(bg, storetest.NewRecord(id)); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := s.Claim(bg, "w", 10, storetest.T0, time.Minute)
	if err != nil || len(ls) != len(ids) {
		t.Fatalf("Claim = %v, %v", ls, err)
	}
	var steps []store.Step
	for _, l := range ls {
		st := store.Step{ID: l.ID, Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Status: task.Failed,
			Reason: "no", Append: storetest.NewEntries(1, 1)}
		if l.ID == "bad" {
			st.Reason = "n\x00o"
		}
		steps = append(steps, st)
	}
	errs, err := s.Commit(bg, steps)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	for i, st := range steps {
		r, _, lerr := s.Load(bg, st.ID)
		if lerr != nil {
			t.Fatal(lerr)
		}
		if st.ID == "bad" {
			if errs[i] == nil || r.Status != task.Running || len(r.Journal) != 0 {
				t.Errorf("the step at fault: %v; the task is %s with %d entries", errs[i], r.Status, len(r.Journal))
			}
			continue
		}
		if errs[i] != nil || r.Status != task.Failed || len(r.Journal) != 1 {
			t.Errorf("step %s beside the one at fault: %v; the task is %s with %d entries", st.ID, errs[i], r.Status, len(r.Journal))
		}
	}
}

// TestCommitPlainGroupSameTask: a group commit with two steps of one task
// (one after the other) beside another task's step: the set-based
// statement takes one step of a task only; the later one commits after
// it, on the general path, and nothing is lost or applied twice.
func TestCommitPlainGroupSameTask(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	s := db.open(nil)
	for _, id := range []string{"a", "b"} {
		if err := s.Create(bg, storetest.NewRecord(id)); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := s.Claim(bg, "w", 10, storetest.T0, time.Minute)
	if err != nil || len(ls) != 2 {
		t.Fatalf("Claim = %v, %v", ls, err)
	}
	var steps []store.Step
	for _, l := range ls {
		steps = append(steps, store.Step{ID: l.ID, Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Status: task.Waiting,
			Keep: true, Append: storetest.NewEntries(1, 1)})
		if l.ID == "a" {
			steps = append(steps, store.Step{ID: l.ID, Owner: "w", Epoch: l.Epoch, Steps: l.Steps + 1, Status: task.Done,
				Append: storetest.NewEntries(2, 2)})
		}
	}
	errs, err := s.Commit(bg, steps)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("step %d (%s): %v", i, steps[i].ID, err)
		}
	}
	for id, want := range map[string]struct {
		status  task.Status
		entries int
	}{"a": {task.Done, 3}, "b": {task.Waiting, 1}} {
		r, _, err := s.Load(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != want.status || len(r.Journal) != want.entries {
			t.Errorf("%s: %s with %d entries, want %s with %d", id, r.Status, len(r.Journal), want.status, want.entries)
		}
	}
}

// TestReadyPlainGroup: a group commit whose one-row steps (the set-based
// statement) leave tasks ready wakes a worker listening through another
// store.
func TestReadyPlainGroup(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	listener := db.open(&postgres.Options{PollInterval: time.Hour})
	writer := db.open(nil)
	for _, id := range []string{"a", "b"} {
		if err := writer.Create(bg, storetest.NewRecord(id)); err != nil {
			t.Fatal(err)
		}
	}
	ready := listener.Ready()
	ls, err := writer.Claim(bg, "w", 10, storetest.T0, time.Minute)
	if err != nil || len(ls) != 2 {
		t.Fatalf("Claim = %v, %v", ls, err)
	}
	// Take the signals of the start and of the creates first.
	for {
		select {
		case <-ready:
			continue
		case <-time.After(200 * time.Millisecond):
		}
		break
	}
	var steps []store.Step
	for _, l := range ls {
		// Running and not kept: the task is ready again (a resume).
		steps = append(steps, store.Step{ID: l.ID, Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Status: task.Running,
			Append: storetest.NewEntries(1, 1)})
	}
	errs, err := writer.Commit(bg, steps)
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("Commit = %v, %v", errs, err)
	}
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("no signal on Ready after a group commit that left two tasks ready")
	}
	got, err := listener.Claim(bg, "w2", 10, storetest.T0, time.Minute)
	if err != nil || len(got) != 2 {
		t.Errorf("Claim after the group commit = %v, %v; want both tasks", got, err)
	}
}
