package inspect

import (
	"context"
	"strings"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// Query selects a page of the task list. Zero fields match everything.
type Query struct {
	Status  task.Status
	Program string
	Version int
	// Wait is a wait kind (task.WaitReceive, task.WaitSleep, ...): tasks
	// that wait for that.
	Wait string
	// From and To bound the creation time, From inclusive, To exclusive.
	From, To time.Time
	// ID matches the tasks whose ID contains it.
	ID string
	// After is the paging cursor: the last ID of the previous page.
	After string
	// Limit is the page size.
	Limit int
}

// Page is a page of the task list.
type Page struct {
	Tasks []store.Summary
	// Next is the cursor of the next page; "" on the last one.
	Next string
	// Counts holds the number of tasks in each status among those that
	// match the query's other filters.
	Counts map[task.Status]int
}

// readModel is everything the inspector reads: the one place that knows
// how the store answers. Today's implementation, storeReader, filters and
// pages in memory over store.List; when the store filters, pages and counts
// itself (Filter fields, keyset paging, Counts), only storeReader changes.
type readModel interface {
	Tasks(ctx context.Context, q Query) (Page, error)
	Task(ctx context.Context, id string) (*task.Record, []store.Message, error)
}

type storeReader struct{ st store.Store }

var _ readModel = storeReader{}

// Tasks lists every task of the program (the one filter today's store
// applies), by ID, and filters, counts and pages the rest here.
func (r storeReader) Tasks(ctx context.Context, q Query) (Page, error) {
	all, err := r.st.List(ctx, store.Filter{Program: q.Program})
	if err != nil {
		return Page{}, err
	}
	p := Page{Counts: map[task.Status]int{}}
	for _, s := range all {
		if !q.matches(s) {
			continue
		}
		p.Counts[s.Status]++
		if q.Status != "" && s.Status != q.Status || q.After != "" && s.ID <= q.After {
			continue
		}
		if q.Limit > 0 && len(p.Tasks) == q.Limit {
			p.Next = p.Tasks[len(p.Tasks)-1].ID
			continue
		}
		p.Tasks = append(p.Tasks, s)
	}
	return p, nil
}

// matches applies every filter of q but the status and the cursor.
func (q Query) matches(s store.Summary) bool {
	switch {
	case q.Program != "" && s.Program != q.Program,
		q.Version > 0 && s.Version != q.Version,
		q.Wait != "" && (s.Wait == nil || s.Wait.Kind != q.Wait),
		!q.From.IsZero() && s.Created.Before(q.From),
		!q.To.IsZero() && !s.Created.Before(q.To),
		q.ID != "" && !strings.Contains(s.ID, q.ID):
		return false
	}
	return true
}

func (r storeReader) Task(ctx context.Context, id string) (*task.Record, []store.Message, error) {
	return r.st.Load(ctx, id)
}
