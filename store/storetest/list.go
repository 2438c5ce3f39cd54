package storetest

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// Reads for people: List's filters and keyset pages, Counts.

// listFixture makes 40 tasks of two programs and versions, in every
// status and wait kind, created and updated at various times (some at the
// same time), and returns them all as List shows them.
func listFixture(h *harness) []store.Summary {
	statuses := []task.Status{task.Running, task.Waiting, task.Done, task.Failed, task.Parked}
	kinds := []string{task.WaitReceive, task.WaitSleep, task.WaitActivity}
	for i := range 40 {
		r := NewRecord(fmt.Sprintf("t%02d-%s", i, []string{"alpha", "beta", "gamma"}[i%3]))
		if i%4 == 0 {
			r.Program = "other"
		}
		r.Version = 1 + i%2
		r.Created = T0.Add(time.Duration(i%10) * time.Minute)
		r.Updated = r.Created
		h.create(r)
		l := h.claimOneID("w", r.ID, T0.Add(time.Duration(i%7)*time.Hour))
		st := statuses[i%len(statuses)]
		s := step("w", l, st)
		if st == task.Waiting {
			s.Wait = &task.Wait{Kind: kinds[i%len(kinds)]}
		}
		if i%3 == 0 {
			s.Append = NewEntries(1, 1)
			s.Append[0].Time = T0.Add(time.Duration(i) * time.Second)
		}
		h.commit(s)
	}
	all, err := h.s.List(bg, store.Filter{})
	if err != nil || len(all) != 40 {
		h.t.Fatalf("List of everything = %d summaries, %v", len(all), err)
	}
	return all
}

// pages reads every page of f, limit at a time, following the cursors.
func (h *harness) pages(f store.Filter, limit int) []string {
	h.t.Helper()
	var ids []string
	f.Limit = limit
	for range 100 {
		page, err := h.s.List(bg, f)
		if err != nil {
			h.t.Fatalf("List(%+v): %v", f, err)
		}
		for _, s := range page {
			ids = append(ids, s.ID)
		}
		if len(page) < limit {
			return ids
		}
		f.After = page[len(page)-1].Cursor()
	}
	h.t.Fatalf("List(%+v) did not end after 100 pages", f)
	return nil
}

// testList: every filter, alone and together, in both orders and in pages
// of any size, gives exactly the tasks Filter.Match selects, in order;
// Counts counts them by status.
func testListFilters(h *harness) {
	all := listFixture(h)
	byID := slices.Clone(all)
	slices.SortFunc(byID, func(a, b store.Summary) int { return cmp.Compare(a.ID, b.ID) })
	if !slices.EqualFunc(all, byID, func(a, b store.Summary) bool { return a.ID == b.ID }) {
		h.t.Errorf("List is not by ID: %v", ids(all))
	}
	byUpdated := slices.Clone(all)
	slices.SortFunc(byUpdated, func(a, b store.Summary) int {
		if c := b.Updated.Compare(a.Updated); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	filters := []store.Filter{
		{},
		{Status: task.Waiting},
		{Program: "other"},
		{Version: 2},
		{WaitKind: task.WaitSleep},
		{CreatedAfter: T0.Add(3 * time.Minute)},
		{CreatedBefore: T0.Add(5 * time.Minute)},
		{CreatedAfter: T0.Add(2 * time.Minute), CreatedBefore: T0.Add(4 * time.Minute)},
		{IDContains: "beta"},
		{IDContains: "1-"},
		{Program: Program, Status: task.Done, Version: 1},
		{Status: task.Waiting, WaitKind: task.WaitReceive, IDContains: "a"},
		{Status: task.Cancelled},
	}
	for _, f := range filters {
		for _, order := range []store.Order{store.ByID, store.ByUpdated} {
			base := byID
			if order == store.ByUpdated {
				base = byUpdated
			}
			var want []string
			counts := map[task.Status]int{}
			for _, s := range base {
				if f.Match(&s) {
					want = append(want, s.ID)
					counts[s.Status]++
				}
			}
			f.Order = order
			for _, limit := range []int{1, 3, 7, 50} {
				if got := h.pages(f, limit); !slices.Equal(got, want) {
					h.t.Errorf("List(%+v) in pages of %d = %v, want %v", f, limit, got, want)
				}
			}
			got, err := h.s.Counts(bg, f)
			if err != nil || !maps.Equal(got, counts) {
				h.t.Errorf("Counts(%+v) = %v, %v; want %v", f, got, err, counts)
			}
		}
	}
}

func ids(ss []store.Summary) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

// testListUpdated: Updated is the clock of the task's last claim (its
// creation time before any), whatever its steps.
func testListUpdated(h *harness) {
	r := NewRecord("c")
	r.Created, r.Updated = T0.Add(-time.Hour), T0.Add(-time.Hour)
	h.create(r)
	h.createIDs("a", "b")
	la := h.claimOneID("w", "a", T0.Add(time.Hour))
	sa := step("w", la, task.Waiting)
	sa.Append = NewEntries(1, 2)
	h.commit(sa)
	lb := h.claimOneID("w", "b", T0.Add(2*time.Hour))
	sb := step("w", lb, task.Running)
	sb.Keep = true
	h.commit(sb)
	sb = store.Step{ID: "b", Owner: "w", Epoch: lb.Epoch, Steps: 1, Status: task.Waiting}
	h.commit(sb)
	sums, err := h.s.List(bg, store.Filter{Order: store.ByUpdated})
	if err != nil || len(sums) != 3 {
		h.t.Fatal(sums, err)
	}
	want := []struct {
		id string
		at time.Time
	}{{"b", T0.Add(2 * time.Hour)}, {"a", T0.Add(time.Hour)}, {"c", T0.Add(-time.Hour)}}
	for i, w := range want {
		if sums[i].ID != w.id || !sums[i].Updated.Equal(w.at) {
			h.t.Errorf("List by updated [%d] = %s at %v, want %s at %v", i, sums[i].ID, sums[i].Updated, w.id, w.at)
		}
	}
}
