package storetest

import (
	"slices"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// testRenew: Renew extends the leases their owner still holds, under the
// same epoch, and reports the others as lost.
func testRenew(h *harness) {
	h.createIDs("a", "b", "c")
	la := h.claimOneID("w1", "a", T0)
	lb := h.claimOneID("w1", "b", T0)
	lc := h.claimOneID("w1", "c", T0)
	h.commit(step("w1", lc, task.Done))
	// b's lease expires and w2 takes it over.
	lb2 := h.claimOneID("w2", "b", T0.Add(61*time.Second))
	stale := la
	stale.Epoch++ // a lease of a that w1 never had
	renew := func(now time.Time, ls ...store.Lease) []string {
		h.t.Helper()
		lost, err := h.s.Renew(bg, "w1", now, time.Minute, ls...)
		if err != nil {
			h.t.Fatalf("Renew: %v", err)
		}
		slices.Sort(lost)
		return lost
	}
	// a's lease has expired too (at T0+1m), but no one took it over: it
	// is still w1's.
	if lost := renew(T0.Add(62*time.Second), la, lb, lc, stale, store.Lease{ID: "nope", Epoch: 1}); !slices.Equal(lost, []string{"a", "b", "c", "nope"}) {
		h.t.Errorf("Renew lost %v, want [a b c nope] (a under a stale epoch, b taken over, c finished, nope missing)", lost)
	}
	// The stale lease of a is lost, but la itself was renewed with it.
	if lost := renew(T0.Add(62*time.Second), la); len(lost) != 0 {
		h.t.Errorf("Renew of a lease held = lost %v, want none", lost)
	}
	h.claimNone("w3", T0.Add(120*time.Second), "a's lease runs until T0+2m2s, b's (w2's) until T0+2m1s")
	// The renewed lease fences as before: w1 commits under la, w2 under lb2.
	h.commit(step("w1", la, task.Done), step("w2", lb2, task.Done))
	if lost := renew(T0.Add(122*time.Second), la); !slices.Equal(lost, []string{"a"}) {
		h.t.Errorf("Renew of a finished task's lease lost %v, want [a]", lost)
	}
	if lost := renew(T0); len(lost) != 0 {
		h.t.Errorf("Renew of no lease lost %v", lost)
	}
}
