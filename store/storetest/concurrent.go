package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// testConcurrent runs workers that claim and commit steps of the same tasks
// with leases that never expire: every claim must wait for the previous
// holder's commit, and every commit must be accepted.
func testConcurrent(h *harness) { runConcurrent(h, false) }

// testConcurrentExpiring does the same with a virtual clock that advances on
// every claim and short leases, so that leases expire under their holders
// and are taken over: stale commits are refused, and journals stay intact.
func testConcurrentExpiring(h *harness) { runConcurrent(h, true) }

func runConcurrent(h *harness, expiring bool) {
	const tasks, steps, workers = 16, 8, 6
	for i := range tasks {
		h.createIDs(fmt.Sprintf("t%02d", i))
	}
	var (
		tick     atomic.Int64 // virtual clock, in milliseconds after T0
		finished atomic.Int64
		accepted atomic.Int64
		holders  sync.Map // task ID -> owner, while a never-expiring lease is held
	)
	lease := time.Hour
	if expiring {
		lease = 40 * time.Millisecond
	}
	deadline := time.Now().Add(20 * time.Second)
	var wg sync.WaitGroup
	for w := range workers {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for finished.Load() < tasks {
				if time.Now().After(deadline) {
					h.t.Errorf("%s: gave up after 20s with %d of %d tasks finished", owner, finished.Load(), tasks)
					return
				}
				now := T0
				if expiring {
					now = T0.Add(time.Duration(tick.Add(1)) * time.Millisecond)
				}
				ls, err := h.s.Claim(bg, owner, 3, now, lease)
				if err != nil {
					h.t.Errorf("%s: Claim: %v", owner, err)
					return
				}
				if len(ls) == 0 {
					time.Sleep(100 * time.Microsecond)
					continue
				}
				var batch []store.Step
				for _, l := range ls {
					if !expiring {
						if prev, loaded := holders.LoadOrStore(l.ID, owner); loaded {
							h.t.Errorf("%s claimed %s while %s held an unexpired lease", owner, l.ID, prev)
						}
					}
					r, _, err := h.s.Load(bg, l.ID)
					if err != nil {
						h.t.Errorf("%s: Load(%s): %v", owner, l.ID, err)
						return
					}
					n := l.Steps
					if !expiring && uint64(len(r.Journal)) != n {
						h.t.Errorf("%s: %s has %d entries after %d steps", owner, l.ID, len(r.Journal), n)
					}
					st := task.Running
					if n+1 == steps {
						st = task.Done
					}
					s := step(owner, l, st)
					s.Append = []task.Entry{NewEntry(n + 1)}
					batch = append(batch, s)
					if !expiring {
						holders.Delete(l.ID)
					}
				}
				errs, err := h.s.Commit(bg, batch)
				if err != nil {
					h.t.Errorf("%s: Commit: %v", owner, err)
					return
				}
				for i, err := range errs {
					switch {
					case err == nil:
						accepted.Add(1)
						if batch[i].Status == task.Done {
							finished.Add(1)
						}
					case expiring && errors.Is(err, store.ErrLeaseLost):
					default:
						h.t.Errorf("%s: Commit of %s after %d steps: %v", owner, batch[i].ID, batch[i].Steps, err)
					}
				}
			}
		})
	}
	wg.Wait()
	if h.t.Failed() {
		return
	}
	if got := accepted.Load(); got != tasks*steps {
		h.t.Errorf("%d steps accepted, want %d", got, tasks*steps)
	}
	for i := range tasks {
		id := fmt.Sprintf("t%02d", i)
		r, _ := h.load(id)
		if r.Status != task.Done {
			h.t.Errorf("task %s ended %s, want done", id, r.Status)
		}
		checkEntries(h.t, id, r.Journal, NewEntries(1, steps))
	}
}
