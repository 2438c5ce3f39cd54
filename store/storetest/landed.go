package storetest

import (
	"errors"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// Resolving a commit whose fate is unknown: Step.Token and Store.Landed.

func (h *harness) wantOutcome(what string, s store.Step, want store.Outcome) {
	h.t.Helper()
	got, err := h.s.Landed(bg, s)
	if err != nil || got != want {
		h.t.Errorf("Landed(%s) = %v, %v; want %v", what, got, err, want)
	}
}

// testLanded: a step that committed has landed, until later steps commit
// over it; one that did not is not landed while its lease stands, and is
// superseded once another lease holds the task.
func testLanded(h *harness) {
	h.createIDs("a")
	l := h.claimOne("w", "a", T0)
	s1 := step("w", l, task.Running)
	s1.Token, s1.Keep, s1.Append = store.NewToken(), true, NewEntries(1, 1)
	unsent := s1
	unsent.Token = store.NewToken()
	h.wantOutcome("a step not committed yet", unsent, store.NotLanded)
	h.commit(s1)
	h.wantOutcome("a committed step", s1, store.Landed)
	// A step made from the same lease and step count that never went out.
	h.wantOutcome("another step for the same step count", unsent, store.Superseded)
	s2 := store.Step{ID: "a", Owner: "w", Epoch: l.Epoch, Steps: 1, Status: task.Waiting, Token: store.NewToken(),
		Append: NewEntries(2, 1)}
	h.wantOutcome("the next step, not committed", s2, store.NotLanded)
	// Another worker takes the task over: the step that never committed is
	// superseded, and may not commit.
	h.claimOneID("w2", "a", T0.Add(2*time.Minute))
	h.wantOutcome("a step of a lease taken over", s2, store.Superseded)
	h.wantOutcome("a step committed, then taken over", s1, store.Landed)
	if _, err := h.s.Landed(bg, store.Step{ID: "a", Steps: 0}); !errors.Is(err, store.ErrNoToken) {
		h.t.Errorf("Landed of a step without a token: %v, want ErrNoToken", err)
	}
	if _, err := h.s.Landed(bg, store.Step{ID: "nope", Token: 1}); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("Landed of a step of an unknown task: %v, want ErrNotFound", err)
	}
}

// testLandedWorld: the same for steps without a task, by the versions
// and tokens of the vars they write.
func testLandedWorld(h *harness) {
	mine := store.Step{Token: store.NewToken(), World: []store.WorldWrite{write("x", 0, 1), write("y", 0, 1)}}
	h.wantOutcome("world writes not committed yet", mine, store.NotLanded)
	h.commit(mine)
	h.wantOutcome("committed world writes", mine, store.Landed)
	theirs := store.Step{Token: store.NewToken(), World: []store.WorldWrite{write("x", 0, 2)}}
	h.wantOutcome("world writes of a version another commit wrote", theirs, store.Superseded)
	next := store.Step{Token: store.NewToken(), World: []store.WorldWrite{write("x", 1, 3)}}
	h.wantOutcome("world writes of the next version, not committed", next, store.NotLanded)
	h.commit(store.Step{Token: store.NewToken(), World: []store.WorldWrite{write("x", 1, 4)}})
	h.wantOutcome("world writes beaten by another commit", next, store.Superseded)
	// y was written by mine alone, and still is: landed.
	h.wantOutcome("committed world writes, one var written over since", mine, store.Landed)
	// A task step's world writes carry its token too.
	h.createIDs("a")
	l := h.claimOne("w", "a", T0)
	s := step("w", l, task.Done)
	s.Token, s.World = store.NewToken(), []store.WorldWrite{write("z", 0, 1)}
	h.commit(s)
	h.wantOutcome("a task step with world writes", s, store.Landed)
	h.wantOutcome("its world writes alone", store.Step{Token: s.Token, World: s.World}, store.Landed)
}

// testLandedReopen: a restarted worker resolves its predecessor's step.
func testLandedReopen(h *harness) {
	h.createIDs("a")
	l := h.claimOne("w", "a", T0)
	s := step("w", l, task.Waiting)
	s.Token, s.Append = store.NewToken(), NewEntries(1, 2)
	h.commit(s)
	w := store.Step{Token: store.NewToken(), World: []store.WorldWrite{write("x", 0, 1)}}
	h.commit(w)
	h.reopen()
	h.wantOutcome("a step committed before a restart", s, store.Landed)
	h.wantOutcome("world writes committed before a restart", w, store.Landed)
}
