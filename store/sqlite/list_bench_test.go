package sqlite_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/store/storetest"
	"github.com/amberrt/amber/task"
)

// listTasks is the size of the listing benchmark's store.
const listTasks = 100_000

var listDB struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// listStore makes, once per test binary, a store of 100,000 tasks of ten
// programs in five statuses, updated at many times, and returns its path.
func listStore(b *testing.B) string {
	listDB.once.Do(func() {
		listDB.dir, listDB.err = os.MkdirTemp("", "amber-list-bench")
		if listDB.err != nil {
			return
		}
		listDB.path = filepath.Join(listDB.dir, "amber.db")
		listDB.err = fillListStore(listDB.path)
	})
	if listDB.err != nil {
		b.Fatal(listDB.err)
	}
	return listDB.path
}

func fillListStore(path string) error {
	s, err := sqlite.Open(path, &sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		return err
	}
	defer s.Close()
	// Not running: a running task released is ready, and would be claimed
	// again instead of the next batch's.
	statuses := []task.Status{task.Waiting, task.Done, task.Failed, task.Parked, task.Cancelled}
	const batch = 1000
	for first := 0; first < listTasks; first += batch {
		recs := make([]*task.Record, batch)
		for i := range recs {
			recs[i] = storetest.NewRecord(fmt.Sprintf("task-%06d", first+i))
			recs[i].Program = fmt.Sprintf("program%d", (first+i)%10)
		}
		if err := s.Create(bg, recs...); err != nil {
			return err
		}
		now := storetest.T0.Add(time.Duration(first) * time.Second)
		ls, err := s.Claim(bg, "w", batch, now, time.Minute)
		if err != nil {
			return err
		}
		if len(ls) != batch {
			return fmt.Errorf("claimed %d tasks of %d", len(ls), batch)
		}
		steps := make([]store.Step, len(ls))
		for i, l := range ls {
			st := statuses[(first+i)/10%len(statuses)]
			steps[i] = store.Step{ID: l.ID, Owner: "w", Epoch: l.Epoch, Steps: l.Steps, Status: st}
			if st == task.Waiting {
				steps[i].Wait = &task.Wait{Kind: task.WaitReceive}
			}
		}
		if _, err := s.Commit(bg, steps); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkListPage: one page of 50 tasks with a filter, from a store of
// 100,000 tasks, read read-only: the first page and a page 200 pages deep
// (by keyset, from the cursor of the page before), most recently updated
// first and by ID. The baseline, in the same run: the same deep page read
// with LIMIT/OFFSET, which walks every task before it.
func BenchmarkListPage(b *testing.B) {
	path := listStore(b)
	s, err := sqlite.Open(path, &sqlite.Options{Mode: sqlite.ModeReadOnly})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	raw, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	const page, depth = 50, 200
	for _, c := range []struct {
		name   string
		f      store.Filter
		offset string // the baseline's query: the same page by OFFSET
	}{
		{"waiting/by-updated", store.Filter{Status: task.Waiting, Order: store.ByUpdated},
			`SELECT id FROM tasks WHERE status = 'waiting' ORDER BY updated DESC, id DESC LIMIT 50 OFFSET ?`},
		{"program/by-id", store.Filter{Program: "program3"},
			`SELECT id FROM tasks WHERE program = 'program3' ORDER BY id LIMIT 50 OFFSET ?`},
		{"id-contains/by-id", store.Filter{IDContains: "7"},
			`SELECT id FROM tasks WHERE instr(id, '7') > 0 ORDER BY id LIMIT 50 OFFSET ?`},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := c.f
			f.Limit = page
			// The cursor of the page before the deep one.
			deep := f
			for range depth - 1 {
				p, err := s.List(bg, deep)
				if err != nil || len(p) != page {
					b.Fatalf("List: %d, %v", len(p), err)
				}
				deep.After = p[page-1].Cursor()
			}
			var first, deepest, offset time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				p, err := s.List(bg, f)
				t1 := time.Now()
				q, err2 := s.List(bg, deep)
				t2 := time.Now()
				rows, err3 := raw.Query(c.offset, (depth-1)*page)
				n := 0
				for err3 == nil && rows.Next() {
					n++
				}
				if rows != nil {
					rows.Close()
				}
				t3 := time.Now()
				if err != nil || err2 != nil || err3 != nil || len(p) != page || len(q) != page || n != page {
					b.Fatalf("pages of %d, %d, %d: %v %v %v", len(p), len(q), n, err, err2, err3)
				}
				first, deepest, offset = first+t1.Sub(t0), deepest+t2.Sub(t1), offset+t3.Sub(t2)
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(ms(first), "first-ms/page")
			b.ReportMetric(ms(deepest), "deep-ms/page")
			b.ReportMetric(ms(offset), "offset-ms/page")
			b.ReportMetric(0, "ns/op")
		})
	}
	b.Run("counts/by-status", func(b *testing.B) {
		var total time.Duration
		for range b.N {
			t0 := time.Now()
			counts, err := s.Counts(bg, store.Filter{Program: "program3"})
			total += time.Since(t0)
			if err != nil || len(counts) != 5 {
				b.Fatal(counts, err)
			}
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/counts")
		b.ReportMetric(0, "ns/op")
	})
}
