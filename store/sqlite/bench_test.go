package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// stepRowsJournal is the store's journal table (schema version 7:
// schemaJournalRowid), for BenchmarkSQLiteStepRows.
const stepRowsJournal = `CREATE TABLE journal (task_id TEXT NOT NULL, seq INTEGER NOT NULL, entry BLOB NOT NULL, sum INTEGER);
	CREATE UNIQUE INDEX journal_task ON journal (task_id, seq)`

// BenchmarkSQLiteBatchedInsert is the baseline of BenchmarkDurableSQLite
// and BenchmarkSQLiteCommit: raw inserts of journal-sized rows, 100 per
// transaction, in a file with the store's settings (WAL,
// synchronous=FULL), through the same driver. Each iteration inserts the
// same number of rows as an iteration of BenchmarkDurableSQLite commits
// steps (10,000), so that the two rates compare at any -benchtime (with
// -benchtime=1x as well as with 10s).
func BenchmarkSQLiteBatchedInsert(b *testing.B) {
	raw := newBatchedInsert(b)
	b.ResetTimer()
	for range b.N {
		raw.round(b)
	}
	b.ReportMetric(float64(batchedRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(len(raw.entry)), "B/row")
}

// batchedRows is the rows of one round of BenchmarkSQLiteBatchedInsert: as
// many as an iteration of BenchmarkDurableSQLite commits steps.
const batchedRows = 10_000

// batchedInsert is the workload of BenchmarkSQLiteBatchedInsert, which
// BenchmarkDurableSQLite runs beside its own as a baseline.
type batchedInsert struct {
	db    *sql.DB
	entry []byte
	seq   int
}

func newBatchedInsert(b *testing.B) *batchedInsert {
	entry, err := task.EncodeEntry(storetest.NewEntry(12345))
	if err != nil {
		b.Fatal(err)
	}
	return &batchedInsert{db: openRaw(b), entry: entry}
}

// round inserts batchedRows rows, 100 a transaction, and returns the time
// it took.
func (r *batchedInsert) round(b *testing.B) time.Duration {
	const perTx = 100
	start := time.Now()
	for i := 0; i < batchedRows; i += perTx {
		tx, err := r.db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.Prepare(`INSERT INTO journal (task_id, seq, entry) VALUES (?, ?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for range perTx {
			r.seq++
			if _, err := st.Exec("task-0001", r.seq, r.entry); err != nil {
				b.Fatal(err)
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// openRaw opens a database file with the store's settings (WAL,
// synchronous=FULL) and a journal table like the store's, for the raw
// baselines.
func openRaw(b *testing.B) *sql.DB {
	return openRawJournal(b, `CREATE TABLE journal (task_id TEXT NOT NULL, seq INTEGER NOT NULL, entry BLOB NOT NULL,
		PRIMARY KEY (task_id, seq)) WITHOUT ROWID`)
}

// openRawJournal is openRaw with the journal table made by ddl.
func openRawJournal(b *testing.B, ddl string) *sql.DB {
	path := filepath.Join(b.TempDir(), "raw.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	if _, err := db.Exec(ddl); err != nil {
		b.Fatal(err)
	}
	return db
}

// rawPages returns the pages that db's connection (its only one) has
// written: WAL frames.
func rawPages(b *testing.B, db *sql.DB) int64 {
	c, err := db.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	return sqlite.ConnPages(c)
}

// BenchmarkSQLiteStepRows is the floor under BenchmarkDurableSQLite, raw
// SQL doing the least a step of that workload must write: 1,000 tasks take
// 10 steps each, interleaved as concurrent tasks' steps are (every task's
// step k before any task's step k+1), and each step inserts its journal
// row and updates its task's row (its step count, its wait, the time);
// 100 steps per transaction, through the same driver, in a file with the
// store's settings and the store's journal table (a rowid table with an
// index on (task_id, seq)). Unlike BenchmarkSQLiteBatchedInsert, whose
// rows all go to one task, in key order, and so fill one page after
// another, the index entries of many tasks land on many pages, as the
// store's do, and each step also rewrites its task's row: compare
// BenchmarkDurableSQLite with both. It reports the pages (WAL frames) the
// steps wrote, per step (pages/step).
func BenchmarkSQLiteStepRows(b *testing.B) {
	raw := newStepRows(b)
	var pages int64 // written by the steps
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		raw.create(b, i)
		pages -= rawPages(b, raw.db)
		b.StartTimer()
		raw.steps(b)
		b.StopTimer()
		pages += rawPages(b, raw.db)
	}
	b.StartTimer()
	b.ReportMetric(float64(stepRowsSteps*b.N)/b.Elapsed().Seconds(), "steps/s")
	b.ReportMetric(float64(pages)/float64(stepRowsSteps*b.N), "pages/step")
}

// stepRowsTasks and stepRowsSteps are the tasks of a round of
// BenchmarkSQLiteStepRows, and the steps they take in all.
const stepRowsTasks, stepRowsSteps = 1000, 10_000

// stepRows is the workload of BenchmarkSQLiteStepRows, which
// BenchmarkDurableSQLite runs beside its own as a baseline.
type stepRows struct {
	db          *sql.DB
	entry, wait []byte
	ids         []string
}

func newStepRows(b *testing.B) *stepRows {
	db := openRawJournal(b, stepRowsJournal)
	if _, err := db.Exec(`CREATE TABLE tasks (id TEXT PRIMARY KEY, steps INTEGER NOT NULL, wait BLOB, updated INTEGER NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	entry, err := task.EncodeEntry(storetest.NewEntry(12345))
	if err != nil {
		b.Fatal(err)
	}
	return &stepRows{db: db, entry: entry, wait: entry[:min(len(entry), 40)]}
}

// create creates the tasks of round i (the durable workload creates them
// too, but that is not a step).
func (r *stepRows) create(b *testing.B, i int) {
	r.ids = make([]string, stepRowsTasks)
	for t := range r.ids {
		r.ids[t] = fmt.Sprintf("r%d-task-%04d", i, t)
	}
	tx, err := r.db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for _, id := range r.ids {
		if _, err := tx.Exec(`INSERT INTO tasks (id, steps, updated) VALUES (?, 0, 0)`, id); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// steps takes the steps of the tasks create made, 100 a transaction, and
// returns the time they took.
func (r *stepRows) steps(b *testing.B) time.Duration {
	const perTx = 100
	start := time.Now()
	n := 0
	for k := range stepRowsSteps / stepRowsTasks {
		for t := 0; t < len(r.ids); t += perTx {
			tx, err := r.db.Begin()
			if err != nil {
				b.Fatal(err)
			}
			ins, err := tx.Prepare(`INSERT INTO journal (task_id, seq, entry) VALUES (?, ?, ?)`)
			if err != nil {
				b.Fatal(err)
			}
			upd, err := tx.Prepare(`UPDATE tasks SET steps = ?, wait = ?, updated = ? WHERE id = ?`)
			if err != nil {
				b.Fatal(err)
			}
			for _, id := range r.ids[t:min(t+perTx, len(r.ids))] {
				n++
				if _, err := ins.Exec(id, k+1, r.entry); err != nil {
					b.Fatal(err)
				}
				if _, err := upd.Exec(k+1, r.wait, n, id); err != nil {
					b.Fatal(err)
				}
			}
			ins.Close()
			upd.Close()
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	return time.Since(start)
}

// BenchmarkSQLiteCommit measures group commit: 256 goroutines, each holding
// the lease of its own task, commit one-entry steps through the Store.
func BenchmarkSQLiteCommit(b *testing.B) {
	const workers = 256
	s := open(b, nil)
	leases := make([]store.Lease, workers)
	for i := range leases {
		id := string(rune('a'+i/26%26)) + string(rune('a'+i%26)) + "-task"
		if err := s.Create(bg, storetest.NewRecord(id)); err != nil {
			b.Fatal(err)
		}
		l, err := s.ClaimID(bg, "bench", id, storetest.T0, 24*time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		leases[i] = l
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, l := range leases {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				st := store.Step{ID: l.ID, Owner: "bench", Epoch: l.Epoch, Steps: l.Steps,
					Status: task.Running, Keep: true, Append: []task.Entry{storetest.NewEntry(l.Steps + 1)}}
				errs, err := s.Commit(bg, []store.Step{st})
				if err == nil && errs[0] != nil {
					err = errs[0]
				}
				if err != nil {
					b.Error(err)
					return
				}
				l.Steps++
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "steps/s")
}

// BenchmarkSQLiteCommitSteps is the writer's work for the steps of
// BenchmarkDurableSQLite, with the interpreter left out and the batches
// fixed: one goroutine commits 10 steps of each of 1,000 leased tasks,
// 100 steps per Commit (one transaction each), every step shaped as
// that workload's (an activity's journal entry, a wait with its attempt
// running and a deadline, the lease kept). Its fixed batches make it a
// steady proxy of the writer's cost per step: count its instructions
// (callgrind) or allocations (-benchmem: per step, the caller's
// encoding included).
func BenchmarkSQLiteCommitSteps(b *testing.B) {
	const tasks, steps, perCommit = 1000, 10, 100
	s := open(b, nil)
	ctx := context.Background()
	entry := storetest.NewEntry(1)
	var stepped int
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		leases := make([]store.Lease, tasks)
		for t := range leases {
			id := fmt.Sprintf("c%d-task-%04d", i, t)
			if err := s.Create(ctx, storetest.NewRecord(id)); err != nil {
				b.Fatal(err)
			}
			l, err := s.ClaimID(ctx, "bench", id, storetest.T0, 24*time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			leases[t] = l
		}
		b.StartTimer()
		batch := make([]store.Step, 0, perCommit)
		for k := range steps {
			for t := 0; t < tasks; t += perCommit {
				batch = batch[:0]
				for j := t; j < t+perCommit; j++ {
					l := &leases[j]
					e := entry
					e.Seq = uint64(k + 1)
					until := storetest.T0.Add(time.Duration(k+1) * time.Minute)
					wait := &task.Wait{Kind: task.WaitActivity, Until: until, Detail: "bench",
						Ops: []task.OpState{{Fiber: 1, Kind: "bench", Fingerprint: 7, Until: until, Attempt: 1, Phase: task.PhaseRunning}}}
					batch = append(batch, store.Step{ID: l.ID, Owner: "bench", Epoch: l.Epoch, Steps: l.Steps,
						Status: task.Waiting, Keep: true, Wait: wait, RunAt: until, Append: []task.Entry{e}})
				}
				errs, err := s.Commit(ctx, batch)
				if err != nil {
					b.Fatal(err)
				}
				for j, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
					leases[t+j].Steps++
				}
				stepped += len(batch)
			}
		}
	}
	b.ReportMetric(float64(stepped)/b.Elapsed().Seconds(), "steps/s")
}
