package inspect_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/amberrt/amber/inspect"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// BenchmarkTaskListPage serves one filtered page of the task list over a
// SQLite store of 100,000 tasks, and, in the same loop, the store's own
// read of such a page (store.List with the same status, program and a
// limit of 50) as the baseline. It reports ms/page, the baseline's
// ms/page, and their ratio.
func BenchmarkTaskListPage(b *testing.B) {
	const tasks = 100_000
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "amber.db"), &sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	statuses := []task.Status{task.Running, task.Waiting, task.Done, task.Failed, task.Cancelled, task.Parked}
	in, _ := task.Marshal("input")
	now := time.Now().UTC()
	for i := 0; i < tasks; i += 1000 {
		recs := make([]*task.Record, 0, 1000)
		for k := i; k < i+1000; k++ {
			recs = append(recs, &task.Record{ID: fmt.Sprintf("task-%06d", k), Program: fmt.Sprintf("prog%d", k%10), Version: 1 + k%3,
				Input: in, Status: statuses[k%len(statuses)], Created: now.Add(time.Duration(k) * time.Millisecond), Updated: now})
		}
		if err := st.Create(ctx, recs...); err != nil {
			b.Fatal(err)
		}
	}
	srv, err := inspect.New(inspect.Options{Store: st, Registry: task.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	target := "/tasks?status=waiting&program=prog3"
	var handler, baseline time.Duration
	pages := 0
	for b.Loop() {
		t0 := time.Now()
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r.Host = inspect.DefaultAddr
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d", target, w.Code)
		}
		t1 := time.Now()
		page, err := st.List(ctx, store.Filter{Status: task.Waiting, Program: "prog3", Limit: 50})
		if err != nil || len(page) != 50 {
			b.Fatalf("baseline: %d tasks, %v", len(page), err)
		}
		handler += t1.Sub(t0)
		baseline += time.Since(t1)
		pages++
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(pages) / float64(time.Millisecond) }
	b.ReportMetric(ms(handler), "ms/page")
	b.ReportMetric(ms(baseline), "baseline-ms/page")
	b.ReportMetric(float64(handler)/float64(baseline), "x-baseline")
}
