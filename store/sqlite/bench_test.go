package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// BenchmarkSQLiteBatchedInsert is the baseline of BenchmarkDurableSQLite
// and BenchmarkSQLiteCommit: raw inserts of journal-sized rows, 100 per
// transaction, in a file with the store's settings (WAL,
// synchronous=FULL), through the same driver. Each iteration inserts the
// same number of rows as an iteration of BenchmarkDurableSQLite commits
// steps (10,000), so that the two rates compare at any -benchtime (with
// -benchtime=1x as well as with 10s).
func BenchmarkSQLiteBatchedInsert(b *testing.B) {
	const rows, perTx = 10_000, 100
	path := filepath.Join(b.TempDir(), "raw.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE journal (task_id TEXT NOT NULL, seq INTEGER NOT NULL, entry BLOB NOT NULL,
		PRIMARY KEY (task_id, seq)) WITHOUT ROWID`); err != nil {
		b.Fatal(err)
	}
	entry, err := task.EncodeEntry(storetest.NewEntry(12345))
	if err != nil {
		b.Fatal(err)
	}
	seq := 0
	b.ResetTimer()
	for range b.N {
		for i := 0; i < rows; i += perTx {
			tx, err := db.Begin()
			if err != nil {
				b.Fatal(err)
			}
			st, err := tx.Prepare(`INSERT INTO journal (task_id, seq, entry) VALUES (?, ?, ?)`)
			if err != nil {
				b.Fatal(err)
			}
			for range perTx {
				seq++
				if _, err := st.Exec("task-0001", seq, entry); err != nil {
					b.Fatal(err)
				}
			}
			st.Close()
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(len(entry)), "B/row")
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
