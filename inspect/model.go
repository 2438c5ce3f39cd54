package inspect

import (
	"context"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// listing is a page of the task list.
type listing struct {
	// Tasks are the page's tasks, in the filter's order.
	Tasks []store.Summary
	// Next is the cursor of the next page; More is false on the last.
	Next store.Cursor
	More bool
	// Counts holds the number of tasks in each status among those that
	// match the filter's other conditions.
	Counts map[task.Status]int
}

// readModel is everything the inspector reads: the one place that knows
// how the store answers.
type readModel interface {
	// Tasks returns the page of tasks f selects (f.Limit of them after
	// f.After) and the counts per status of the tasks that match f but
	// for its status.
	Tasks(ctx context.Context, f store.Filter) (listing, error)
	// Task loads one task.
	Task(ctx context.Context, id string) (*task.Record, []store.Message, error)
}

// storeReader reads through the store's own filters, keyset paging and
// counts: a page costs an index walk from its cursor and a count, never a
// load of every task.
type storeReader struct{ st store.Store }

var _ readModel = storeReader{}

func (r storeReader) Tasks(ctx context.Context, f store.Filter) (listing, error) {
	limit := f.Limit
	if limit > 0 {
		f.Limit = limit + 1 // one more tells whether there is a next page
	}
	tasks, err := r.st.List(ctx, f)
	if err != nil {
		return listing{}, err
	}
	l := listing{Tasks: tasks}
	if limit > 0 && len(tasks) > limit {
		l.Tasks, l.More = tasks[:limit], true
		l.Next = tasks[limit-1].Cursor()
	}
	c := f
	c.Status, c.After, c.Limit = "", store.Cursor{}, 0
	if l.Counts, err = r.st.Counts(ctx, c); err != nil {
		return listing{}, err
	}
	return l, nil
}

func (r storeReader) Task(ctx context.Context, id string) (*task.Record, []store.Message, error) {
	return r.st.Load(ctx, id)
}
