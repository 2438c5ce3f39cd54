package inspect_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/amberrt/amber/inspect"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// benchTasks is the size of the list benchmark's store.
const benchTasks = 100_000

var benchDB struct {
	once sync.Once
	path string
	err  error
}

// benchStore makes, once per test binary (so once for every -count and
// sub-benchmark), a SQLite store of 100,000 tasks of ten programs in
// every status, inserted in batches through Store.Create, and returns its
// path. The directory is left behind in the system's temporary directory
// (a few tens of MB): a benchmark has no cleanup after its last run.
func benchStore(b *testing.B) string {
	benchDB.once.Do(func() {
		dir, err := os.MkdirTemp("", "amber-inspect-bench-")
		if err != nil {
			benchDB.err = err
			return
		}
		benchDB.path = filepath.Join(dir, "amber.db")
		benchDB.err = fillBenchStore(benchDB.path)
	})
	if benchDB.err != nil {
		b.Fatal(benchDB.err)
	}
	return benchDB.path
}

func fillBenchStore(path string) error {
	st, err := sqlite.Open(path, &sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	statuses := []task.Status{task.Running, task.Waiting, task.Done, task.Failed, task.Cancelled, task.Parked}
	waits := []*task.Wait{{Kind: task.WaitReceive, Types: []string{"test.Raise"}}, {Kind: task.WaitSleep}, {Kind: task.WaitActivity, Detail: "Fetch"}}
	in, err := task.Marshal("input")
	if err != nil {
		return err
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 1000
	for i := 0; i < benchTasks; i += batch {
		recs := make([]*task.Record, 0, batch)
		for k := i; k < i+batch; k++ {
			at := t0.Add(time.Duration(k) * time.Second)
			rec := &task.Record{ID: fmt.Sprintf("task-%06d", k), Program: fmt.Sprintf("prog%d", k%10), Version: 1 + k%3,
				Input: in, Status: statuses[k%len(statuses)], Created: at, Updated: at}
			if rec.Status == task.Waiting {
				rec.Wait = waits[k/len(statuses)%len(waits)]
			}
			recs = append(recs, rec)
		}
		if err := st.Create(ctx, recs...); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkTaskListPage serves pages of the task list over a SQLite store
// of 100,000 tasks (opened as `amber serve` opens it, as a client beside
// the worker) through the handler, and, in the same loop, the store's own
// read of the same page (store.List with the same filter and a limit of
// 50) as the baseline. The handler also counts the tasks per status that
// match the other filters, and renders the page. Cases: a filtered first
// page; a page 200 pages deep, most recently updated first, reached by
// its keyset cursor; an ID substring search. It reports ms/page, the
// baseline's ms/page, and their ratio.
func BenchmarkTaskListPage(b *testing.B) {
	path := benchStore(b)
	st, err := sqlite.Open(path, &sqlite.Options{Mode: sqlite.ModeClient})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	srv, err := inspect.New(inspect.Options{Store: st, Registry: task.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	const page, depth = 50, 200
	for _, c := range []struct {
		name  string
		query string
		f     store.Filter
		deep  bool
	}{
		{"status+program", "status=waiting&program=prog3", store.Filter{Status: task.Waiting, Program: "prog3"}, false},
		{"deep/by-updated", "order=updated", store.Filter{Order: store.ByUpdated}, true},
		{"id-search", "q=99", store.Filter{IDContains: "99"}, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := c.f
			f.Limit = page
			target := "/tasks?" + c.query
			if c.deep {
				for range depth - 1 {
					p, err := st.List(ctx, f)
					if err != nil || len(p) != page {
						b.Fatalf("List: %d, %v", len(p), err)
					}
					f.After = p[page-1].Cursor()
				}
				target += "&after=" + f.After.ID + "&at=" + f.After.Updated.UTC().Format(time.RFC3339Nano)
			}
			var handler, baseline time.Duration
			pages := 0
			for b.Loop() {
				t0 := time.Now()
				r := httptest.NewRequest(http.MethodGet, target, nil)
				r.Host = inspect.DefaultAddr
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", target, w.Code, w.Body)
				}
				t1 := time.Now()
				p, err := st.List(ctx, f)
				if err != nil || len(p) != page {
					b.Fatalf("baseline: %d tasks, %v", len(p), err)
				}
				handler += t1.Sub(t0)
				baseline += time.Since(t1)
				pages++
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(pages) / float64(time.Millisecond) }
			b.ReportMetric(ms(handler), "ms/page")
			b.ReportMetric(ms(baseline), "baseline-ms/page")
			b.ReportMetric(float64(handler)/float64(baseline), "x-baseline")
		})
	}
}
