package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

func testMessages(h *harness) {
	h.createIDs("a")
	want := []task.Envelope{NewEnvelope("m1"), NewEnvelope("m2"), NewEnvelope("m3")}
	for _, e := range want {
		h.send("a", e)
	}
	_, ms := h.load("a")
	if !sameEnvs(envs(ms), want) {
		h.t.Fatalf("Load messages = %v, want %v", envs(ms), want)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].Seq <= ms[i-1].Seq {
			h.t.Errorf("message sequence numbers %d then %d, want increasing", ms[i-1].Seq, ms[i].Seq)
		}
	}
	got, err := h.s.Messages(bg, "a", ms[0].Seq)
	if err != nil {
		h.t.Fatal(err)
	}
	if !sameEnvs(envs(got), want[1:]) || got[0].Seq != ms[1].Seq {
		h.t.Errorf("Messages(after %d) = %v, want %v", ms[0].Seq, got, ms[1:])
	}
	if got, err := h.s.Messages(bg, "a", ms[2].Seq); err != nil || len(got) != 0 {
		h.t.Errorf("Messages(after the last) = %v, %v; want none", got, err)
	}
}

func testCommitConsumes(h *harness) {
	h.createIDs("a")
	for _, s := range []string{"m1", "m2", "m3"} {
		h.send("a", NewEnvelope(s))
	}
	_, ms := h.load("a")
	l := h.claimOne("w", "a", T0)
	s := step("w", l, task.Waiting)
	s.Append = NewEntries(1, 2)
	s.Consumed = []uint64{ms[0].Seq, ms[2].Seq}
	h.commit(s)
	_, left := h.load("a")
	if len(left) != 1 || left[0].Seq != ms[1].Seq || !sameEnvs(envs(left), envs(ms[1:2])) {
		h.t.Errorf("messages after consuming the first and last = %v, want %v", left, ms[1:2])
	}
	// A later message gets a sequence number above every earlier one,
	// consumed or not.
	h.send("a", NewEnvelope("m4"))
	got, err := h.s.Messages(bg, "a", ms[2].Seq)
	if err != nil || len(got) != 1 || !sameEnvs(envs(got), []task.Envelope{NewEnvelope("m4")}) {
		h.t.Errorf("Messages(after %d) = %v, %v; want m4 alone", ms[2].Seq, got, err)
	}
}

func testCommitState(h *harness) {
	h.createIDs("a", "b", "c")
	ls := h.claim("w", 10, T0)
	if len(ls) != 3 {
		h.t.Fatalf("Claim = %v", leaseIDs(ls))
	}
	wait := &task.Wait{
		Kind: task.WaitActivity, Until: T0.Add(time.Hour), Detail: "charge",
		Types: []string{"string"},
		Ops:   []task.OpState{{Fiber: 1, Kind: "x.Charge", Fingerprint: 42, Until: T0.Add(time.Hour), Attempt: 3, Started: T0}},
	}
	res, _ := task.Marshal("result")
	fail := &task.Error{Type: "x.ErrBad", Msg: "bad"}
	steps := map[string]store.Step{}
	for _, l := range ls {
		s := step("w", l, task.Waiting)
		switch l.ID {
		case "a":
			s.Status, s.Reason, s.Wait, s.RunAt = task.Parked, "no program x v1", wait, T0.Add(time.Hour)
		case "b":
			s.Status, s.Result = task.Done, res
		case "c":
			s.Status, s.Err = task.Failed, fail
		}
		steps[l.ID] = s
		h.commit(s)
	}
	for id, s := range steps {
		r, _ := h.load(id)
		if r.Status != s.Status || r.Reason != s.Reason || !reflect.DeepEqual(r.Wait, s.Wait) ||
			!bytes.Equal(r.Result, s.Result) || !reflect.DeepEqual(r.Err, s.Err) {
			h.t.Errorf("Load(%s) after Commit = status %q reason %q wait %+v result %x err %v; want %q %q %+v %x %v",
				id, r.Status, r.Reason, r.Wait, r.Result, r.Err, s.Status, s.Reason, s.Wait, s.Result, s.Err)
		}
	}
	sums, err := h.s.List(bg, store.Filter{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, sum := range sums {
		if sum.ID == "a" && (!sum.RunAt.Equal(T0.Add(time.Hour)) || !reflect.DeepEqual(sum.Wait, wait)) {
			h.t.Errorf("List: a has RunAt %v wait %+v, want %v and %+v", sum.RunAt, sum.Wait, T0.Add(time.Hour), wait)
		}
	}
	// A parked task with a timer is claimed when it is due: the timer is
	// what the step asked for.
	h.claimOne("w", "a", T0.Add(time.Hour))
}

func testCommitSends(h *harness) {
	h.createIDs("a", "b", "c", "d")
	var la store.Lease
	for _, l := range h.claim("w", 10, T0) {
		switch l.ID {
		case "a":
			la = l
		case "d":
			h.commit(step("w", l, task.Done))
		default:
			h.commit(step("w", l, task.Waiting))
		}
	}
	s := step("w", la, task.Waiting)
	s.Append = NewEntries(1, 1)
	s.Sends = []store.Outgoing{
		{To: "b", Env: NewEnvelope("to b 1")},
		{To: "c", Env: NewEnvelope("to c")},
		{To: "b", Env: NewEnvelope("to b 2")},
		{To: "d", Env: NewEnvelope("to a finished task")},
		{To: "nope", Env: NewEnvelope("to nobody")},
	}
	h.commit(s)
	for id, want := range map[string][]task.Envelope{
		"b": {NewEnvelope("to b 1"), NewEnvelope("to b 2")},
		"c": {NewEnvelope("to c")},
		"d": {NewEnvelope("to a finished task")}, // kept, for people to see
		"a": nil,
	} {
		got, err := h.s.Messages(bg, id, 0)
		if err != nil || !sameEnvs(envs(got), want) {
			h.t.Errorf("Messages(%s) = %v, %v; want %v", id, envs(got), err, want)
		}
	}
	ls := h.claim("w", 10, T0)
	if ids := leaseIDs(ls); !slices.Equal(slices.Sorted(slices.Values(ids)), []string{"b", "c"}) {
		h.t.Errorf("Claim after a step sent to b and c = %v, want b and c", ids)
	}
}

func testCommitSpawns(h *harness) {
	h.createIDs("a", "x")
	var la store.Lease
	for _, l := range h.claim("w", 10, T0) {
		if l.ID == "a" {
			la = l
		} else {
			h.commit(step("w", l, task.Waiting))
		}
	}
	child := NewRecord("child")
	child.Parent = "a"
	s := step("w", la, task.Waiting)
	s.Append = NewEntries(1, 1)
	s.Spawns = []*task.Record{child}
	h.commit(s)
	r, _ := h.load("child")
	if r.Parent != "a" || r.Program != Program || r.Status != task.Running {
		h.t.Errorf("spawned task = %+v", r)
	}
	h.claimOne("w", "child", T0)

	// Spawning an existing ID refuses the step.
	la = h.claimOneID("w", "a", T0)
	s = step("w", la, task.Waiting)
	s.Append = NewEntries(2, 1)
	s.Spawns = []*task.Record{NewRecord("x")}
	errs, err := h.s.Commit(bg, []store.Step{s})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], store.ErrExists) {
		h.t.Errorf("Commit of a step spawning an existing ID = %v, want ErrExists", errs)
	}
	h.checkJournal("a", 1)
}

func (h *harness) claimOneID(owner, id string, now time.Time) store.Lease {
	h.t.Helper()
	l, err := h.s.ClaimID(bg, owner, id, now, time.Minute)
	if err != nil {
		h.t.Fatalf("ClaimID(%s): %v", id, err)
	}
	return l
}

func testCommitReleases(h *harness) {
	h.createIDs("a")
	l := h.claimOne("w1", "a", T0)
	s := step("w1", l, task.Running)
	s.Append = NewEntries(1, 1)
	h.commit(s)
	// Released and, being Running, ready: another owner claims it at once.
	l2 := h.claimOne("w2", "a", T0)
	if l2.Epoch <= l.Epoch || l2.Steps != 1 {
		h.t.Errorf("lease after a released one = %+v, want epoch > %d, Steps 1", l2, l.Epoch)
	}
	// The released lease cannot commit again, even at the right step count.
	s = store.Step{ID: "a", Owner: "w1", Epoch: l.Epoch, Steps: 1, Status: task.Done}
	errs, err := h.s.Commit(bg, []store.Step{s})
	if err != nil || len(errs) != 1 || !errors.Is(errs[0], store.ErrLeaseLost) {
		h.t.Errorf("Commit with a released lease = %v, %v; want ErrLeaseLost", errs, err)
	}
	// Nor can the new owner after its own release.
	h.commit(step("w2", l2, task.Waiting))
	s = store.Step{ID: "a", Owner: "w2", Epoch: l2.Epoch, Steps: 2, Status: task.Done}
	errs, err = h.s.Commit(bg, []store.Step{s})
	if err != nil || len(errs) != 1 || !errors.Is(errs[0], store.ErrLeaseLost) {
		h.t.Errorf("second Commit of a released lease = %v, %v; want ErrLeaseLost", errs, err)
	}
}

func testCommitKeep(h *harness) {
	h.createIDs("a")
	l := h.claimOne("w1", "a", T0)
	s := step("w1", l, task.Waiting)
	s.Keep = true
	h.commit(s)
	h.send("a", NewEnvelope("m"))
	h.claimNone("w2", T0.Add(30*time.Second), "w1 kept the lease")
	if _, err := h.s.ClaimID(bg, "w2", "a", T0.Add(30*time.Second), time.Minute); !errors.Is(err, store.ErrLeased) {
		h.t.Errorf("ClaimID of a kept lease: %v, want ErrLeased", err)
	}
	s = store.Step{ID: "a", Owner: "w1", Epoch: l.Epoch, Steps: 1, Status: task.Waiting, Append: NewEntries(1, 1)}
	h.commit(s)
	// Released now; the message that came while it was kept makes it ready.
	l2 := h.claimOne("w2", "a", T0.Add(30*time.Second))
	if l2.Steps != 2 {
		h.t.Errorf("Version after two steps = %d, want 2", l2.Steps)
	}
}

// testCommitFencing commits, for each kind of stale step, the stale step
// beside a good one, and checks that the stale one left no trace.
func testCommitFencing(h *harness) {
	type fixture struct {
		victim string // task of the stale step
		lease  store.Lease
		owner  string
	}
	cases := []struct {
		name  string
		stale func(h *harness, f *fixture) store.Step
	}{
		{"stale epoch", func(h *harness, f *fixture) store.Step {
			s := step(f.owner, f.lease, task.Done)
			s.Epoch--
			return s
		}},
		{"other owner", func(h *harness, f *fixture) store.Step {
			return step("intruder", f.lease, task.Done)
		}},
		{"wrong step count", func(h *harness, f *fixture) store.Step {
			s := step(f.owner, f.lease, task.Done)
			s.Steps++
			return s
		}},
		{"old step count", func(h *harness, f *fixture) store.Step {
			s := step(f.owner, f.lease, task.Done)
			s.Keep = true
			s.Status = task.Running
			s.Append = NewEntries(1, 1)
			h.commit(s)
			return step(f.owner, f.lease, task.Done) // Version 0 again
		}},
		{"taken over", func(h *harness, f *fixture) store.Step {
			h.claimOneID("w2", f.victim, T0.Add(2*time.Minute))
			return step(f.owner, f.lease, task.Done)
		}},
		{"unknown task", func(h *harness, f *fixture) store.Step {
			s := step(f.owner, f.lease, task.Done)
			s.ID = "nope"
			return s
		}},
	}
	for i, c := range cases {
		victim, good, target, spawn := fmt.Sprintf("v%d", i), fmt.Sprintf("g%d", i), fmt.Sprintf("t%d", i), fmt.Sprintf("s%d", i)
		h.createIDs(victim)
		lv := h.claimOne("w", victim, T0)
		f := &fixture{victim: victim, lease: lv, owner: "w"}
		stale := c.stale(h, f)
		before, beforeMsgs := h.load(victim)

		h.createIDs(good, target)
		lg := h.claimOneID("w", good, T0)
		lt := h.claimOneID("w", target, T0)
		h.commit(step("w", lt, task.Waiting))

		stale.Append = NewEntries(uint64(len(before.Journal))+1, 2)
		stale.Sends = []store.Outgoing{{To: target, Env: NewEnvelope("from a stale step")}}
		stale.Spawns = []*task.Record{NewRecord(spawn)}
		stale.World = []store.WorldWrite{{Name: "stale" + victim, Value: []byte{1}}}
		stale.Result, _ = task.Marshal("stale")
		gs := step("w", lg, task.Done)
		gs.Append = NewEntries(1, 1)
		gs.World = []store.WorldWrite{{Name: "good" + good, Value: []byte{2}}}

		errs, err := h.s.Commit(bg, []store.Step{stale, gs})
		if err != nil {
			h.t.Fatalf("%s: Commit: %v", c.name, err)
		}
		if len(errs) != 2 || !errors.Is(errs[0], store.ErrLeaseLost) || errs[1] != nil {
			h.t.Errorf("%s: Commit errors = %v, want [ErrLeaseLost <nil>]", c.name, errs)
			continue
		}
		after, afterMsgs := h.load(victim)
		if after.Status != before.Status || len(after.Journal) != len(before.Journal) || len(after.Result) != 0 ||
			len(afterMsgs) != len(beforeMsgs) {
			h.t.Errorf("%s: a refused step changed its task: %+v, was %+v", c.name, after, before)
		}
		if ms, _ := h.s.Messages(bg, target, 0); len(ms) != 0 {
			h.t.Errorf("%s: a refused step delivered its messages: %v", c.name, ms)
		}
		if _, _, err := h.s.Load(bg, spawn); !errors.Is(err, store.ErrNotFound) {
			h.t.Errorf("%s: a refused step spawned its task: Load = %v", c.name, err)
		}
		h.claimNone("w3", T0, c.name+": a refused step made no task ready")
		w := h.world()
		if _, ok := w["stale"+victim]; ok {
			h.t.Errorf("%s: a refused step wrote the world", c.name)
		}
		if _, ok := w["good"+good]; !ok {
			h.t.Errorf("%s: the good step beside a refused one did not write the world", c.name)
		}
		if r, _ := h.load(good); r.Status != task.Done || len(r.Journal) != 1 {
			h.t.Errorf("%s: the good step beside a refused one did not commit: %+v", c.name, r)
		}
	}
}

func testCommitBadSeq(h *harness) {
	h.createIDs("a")
	for _, c := range []struct {
		name    string
		entries []task.Entry
	}{
		{"gap", []task.Entry{NewEntry(2)}},
		{"duplicate", []task.Entry{NewEntry(1), NewEntry(1)}},
		{"out of order", []task.Entry{NewEntry(2), NewEntry(1)}},
	} {
		l := h.claimOneID("w", "a", T0)
		s := step("w", l, task.Done)
		s.Append = c.entries
		errs, err := h.s.Commit(bg, []store.Step{s})
		if err != nil {
			h.t.Fatalf("%s: Commit: %v", c.name, err)
		}
		if len(errs) != 1 || errs[0] == nil {
			h.t.Errorf("%s: Commit of entries %v = %v, want an error", c.name, c.entries, errs)
		}
		if r, _ := h.load("a"); len(r.Journal) != 0 || r.Status != task.Running {
			h.t.Errorf("%s: a refused step changed the task: %+v", c.name, r)
		}
	}
}

func testCommitVersion(h *harness) {
	h.createIDs("a")
	now := T0
	for v := uint64(0); v < 5; v++ {
		l := h.claimOne("w", "a", now)
		if l.Steps != v {
			h.t.Errorf("lease %d: Version %d, want %d", v, l.Steps, v)
		}
		s := step("w", l, task.Running)
		s.Append = NewEntries(v+1, 1)
		h.commit(s)
	}
	sums, err := h.s.List(bg, store.Filter{})
	if err != nil || len(sums) != 1 || sums[0].Steps != 5 || sums[0].Entries != 5 {
		h.t.Errorf("List = %+v, %v; want a with 5 steps and 5 entries", sums, err)
	}
}

func testSend(h *harness) {
	if err := h.s.Send(bg, "nope", NewEnvelope("m")); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("Send to an unknown task: %v, want ErrNotFound", err)
	}
	h.createIDs("a", "b")
	for _, l := range h.claim("w", 10, T0) {
		st := task.Waiting
		if l.ID == "b" {
			st = task.Done
		}
		h.commit(step("w", l, st))
	}
	if err := h.s.Send(bg, "b", NewEnvelope("m")); !errors.Is(err, store.ErrFinished) {
		h.t.Errorf("Send to a finished task: %v, want ErrFinished", err)
	}
	h.claimNone("w", T0, "a waits")
	h.send("a", NewEnvelope("m"))
	h.claimOne("w", "a", T0)
}

func testSendWhileLeased(h *harness) {
	h.createIDs("a")
	l := h.claimOne("w", "a", T0)
	h.send("a", NewEnvelope("m"))
	h.commit(step("w", l, task.Waiting)) // without receiving it
	l2 := h.claimOne("w", "a", T0)
	h.commit(step("w", l2, task.Waiting))
	h.claimNone("w", T0, "a was claimed once for its message")
	// The same for Wake.
	l3 := h.claimOneID("w", "a", T0)
	if err := h.s.Wake(bg, "a"); err != nil {
		h.t.Fatal(err)
	}
	h.commit(step("w", l3, task.Waiting))
	h.claimOne("w", "a", T0)
}

func testCancel(h *harness) {
	if err := h.s.Cancel(bg, "nope"); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("Cancel of an unknown task: %v, want ErrNotFound", err)
	}
	h.createIDs("a", "b")
	for _, l := range h.claim("w", 10, T0) {
		if l.Cancel {
			h.t.Errorf("lease of %s has Cancel before any Cancel", l.ID)
		}
		st := task.Waiting
		if l.ID == "b" {
			st = task.Done
		}
		h.commit(step("w", l, st))
	}
	if err := h.s.Cancel(bg, "b"); err != nil {
		h.t.Errorf("Cancel of a finished task: %v, want nil", err)
	}
	if err := h.s.Cancel(bg, "a"); err != nil {
		h.t.Fatal(err)
	}
	l := h.claimOne("w", "a", T0)
	if !l.Cancel {
		h.t.Errorf("lease after Cancel = %+v, want Cancel", l)
	}
	// The request stands until the task ends, even if a worker dies on it.
	l = h.claimOne("w2", "a", T0.Add(2*time.Minute))
	if !l.Cancel {
		h.t.Errorf("lease taken over after Cancel = %+v, want Cancel", l)
	}
	if l, err := h.s.ClaimID(bg, "w3", "a", T0.Add(4*time.Minute), time.Minute); err != nil || !l.Cancel {
		h.t.Errorf("ClaimID after Cancel = %+v, %v; want Cancel", l, err)
	}
}

func testList(h *harness) {
	for _, id := range []string{"c", "a", "b", "d"} {
		r := NewRecord(id)
		if id == "d" {
			r.Program = "other"
		}
		h.create(r)
	}
	h.send("a", NewEnvelope("m1"))
	h.send("a", NewEnvelope("m2"))
	for _, l := range h.claim("w", 10, T0) {
		s := step("w", l, task.Waiting)
		switch l.ID {
		case "b":
			s.Status = task.Done
		case "a":
			s.Append = NewEntries(1, 3)
		}
		h.commit(s)
	}
	for _, c := range []struct {
		f    store.Filter
		want []string
	}{
		{store.Filter{}, []string{"a", "b", "c", "d"}},
		{store.Filter{Status: task.Waiting}, []string{"a", "c", "d"}},
		{store.Filter{Status: task.Done}, []string{"b"}},
		{store.Filter{Program: "other"}, []string{"d"}},
		{store.Filter{Program: Program, Status: task.Waiting}, []string{"a", "c"}},
		{store.Filter{Limit: 2}, []string{"a", "b"}},
		{store.Filter{Status: task.Failed}, nil},
	} {
		sums, err := h.s.List(bg, c.f)
		if err != nil {
			h.t.Fatal(err)
		}
		var ids []string
		for _, s := range sums {
			ids = append(ids, s.ID)
		}
		if !slices.Equal(ids, c.want) {
			h.t.Errorf("List(%+v) = %v, want %v", c.f, ids, c.want)
		}
	}
	sums, _ := h.s.List(bg, store.Filter{Limit: 1})
	if len(sums) == 1 {
		s := sums[0]
		if s.ID != "a" || s.Program != Program || s.Version != 1 || s.Status != task.Waiting ||
			s.Steps != 1 || s.Entries != 3 || s.Pending != 2 || !s.Created.Equal(T0) {
			h.t.Errorf("List summary of a = %+v", s)
		}
	}
}

func testCommitRestart(h *harness) {
	h.createIDs("a")
	l := h.claimOne("w", "a", T0)
	s := step("w", l, task.Running)
	s.Append = NewEntries(1, 5)
	h.commit(s)
	h.send("a", NewEnvelope("kept"))

	in, _ := task.Marshal("new input")
	l = h.claimOne("w", "a", T0)
	s = step("w", l, task.Running)
	s.Restart = &store.Restart{Input: in}
	s.Append = NewEntries(1, 2)
	h.commit(s)
	r, ms := h.load("a")
	if !bytes.Equal(r.Input, in) {
		h.t.Errorf("input after a restart = %x, want %x", r.Input, in)
	}
	checkEntries(h.t, "a", r.Journal, NewEntries(1, 2))
	if !sameEnvs(envs(ms), []task.Envelope{NewEnvelope("kept")}) {
		h.t.Errorf("mailbox after a restart = %v, want it kept", envs(ms))
	}
	// The journal goes on from the restart.
	l = h.claimOne("w", "a", T0)
	if l.Steps != 2 {
		h.t.Errorf("Steps after a restart = %d, want 2: a restart is a step", l.Steps)
	}
	s = step("w", l, task.Waiting)
	s.Append = NewEntries(3, 1)
	h.commit(s)
	h.checkJournal("a", 3)
}

func testCommitSpawnAndSend(h *harness) {
	h.createIDs("a")
	l := h.claimOne("w", "a", T0)
	s := step("w", l, task.Waiting)
	s.Spawns = []*task.Record{NewRecord("child")}
	s.Sends = []store.Outgoing{{To: "child", Env: NewEnvelope("hello child")}}
	h.commit(s)
	ms, err := h.s.Messages(bg, "child", 0)
	if err != nil || !sameEnvs(envs(ms), []task.Envelope{NewEnvelope("hello child")}) {
		h.t.Errorf("a message to a task spawned by the same step: %v, %v", envs(ms), err)
	}
}

func testStatus(h *harness) {
	if _, err := h.s.Status(bg, "nope"); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("Status of an unknown task: %v, want ErrNotFound", err)
	}
	h.createIDs("a")
	if st, err := h.s.Status(bg, "a"); err != nil || st != task.Running {
		h.t.Errorf("Status of a new task = %q, %v", st, err)
	}
	l := h.claimOne("w", "a", T0)
	h.commit(step("w", l, task.Done))
	if st, err := h.s.Status(bg, "a"); err != nil || st != task.Done {
		h.t.Errorf("Status of a finished task = %q, %v", st, err)
	}
}

// testCommitRefusesAlone: one Commit of good steps and steps refused for
// every reason a step can be refused (lease lost, entries that do not
// continue the journal, a spawn of an existing task, a name taken, stale
// world vars, a message too deep, a malformed step): each bad step gets
// its own error and changes nothing, and every good step commits.
func testCommitRefusesAlone(h *harness) {
	h.createIDs("holder", "exists")
	h.idle()
	h.proc("holder", task.Waiting, "", store.ProcOp{Kind: store.ProcRegister, Name: "taken"})
	h.commit(store.Step{World: []store.WorldWrite{write("x", 0, 1)}})
	h.commit(store.Step{World: []store.WorldWrite{write("x", 1, 2)}})
	type bad struct {
		id   string
		make func(s *store.Step)
		want error // nil: any error
	}
	bads := []bad{
		{"lost", func(s *store.Step) { s.Epoch++ }, store.ErrLeaseLost},
		{"gap", func(s *store.Step) { s.Append = NewEntries(2, 1) }, task.ErrInvalidJournal},
		{"spawn", func(s *store.Step) { s.Spawns = []*task.Record{NewRecord("exists")} }, store.ErrExists},
		{"name", func(s *store.Step) { s.Proc = []store.ProcOp{{Kind: store.ProcRegister, Name: "taken"}} }, store.ErrNameTaken},
		{"stale", func(s *store.Step) { s.World = []store.WorldWrite{write("x", 1, 9)} }, store.ErrStale},
		{"deep", func(s *store.Step) {
			s.Sends = []store.Outgoing{{To: "exists", Env: nestedEnvelope(100)}}
		}, task.ErrUnstorable},
		{"malformed", func(s *store.Step) { s.World = []store.WorldWrite{write("y", 0, 1), write("y", 0, 2)} }, nil},
	}
	var ids []string
	for i, b := range bads {
		ids = append(ids, fmt.Sprintf("good%d", i), b.id)
	}
	ids = append(ids, "goodlast")
	h.createIDs(ids...)
	leases := map[string]store.Lease{}
	for _, l := range h.claim("w", 100, T0) {
		leases[l.ID] = l
	}
	var steps []store.Step
	want := map[string]error{}
	for _, id := range ids {
		s := step("w", leases[id], task.Done)
		s.Append = NewEntries(1, 1)
		s.Sends = []store.Outgoing{{To: "holder", Env: NewEnvelope("from " + id)}}
		s.World = []store.WorldWrite{write("w-"+id, 0, 1)}
		for _, b := range bads {
			if b.id == id {
				b.make(&s)
				want[id] = b.want
			}
		}
		steps = append(steps, s)
	}
	errs, err := h.s.Commit(bg, steps)
	if err != nil {
		h.t.Fatalf("Commit: %v", err)
	}
	good := 0
	for i, s := range steps {
		w, isBad := want[s.ID]
		switch {
		case !isBad && errs[i] != nil:
			h.t.Errorf("good step %s beside bad ones: %v", s.ID, errs[i])
		case isBad && (errs[i] == nil || w != nil && !errors.Is(errs[i], w)):
			h.t.Errorf("step %s: %v, want %v", s.ID, errs[i], w)
		}
		r, _ := h.load(s.ID)
		if isBad && (r.Status != task.Running || len(r.Journal) != 0) || !isBad && (r.Status != task.Done || len(r.Journal) != 1) {
			h.t.Errorf("%s after the commit: %s with %d entries", s.ID, r.Status, len(r.Journal))
		}
		if !isBad {
			good++
		}
	}
	if ms, _ := h.s.Messages(bg, "holder", 0); len(ms) != good {
		h.t.Errorf("holder has %d messages, want the %d of the good steps", len(ms), good)
	}
	w := h.world()
	for _, s := range steps {
		_, isBad := want[s.ID]
		if _, ok := w["w-"+s.ID]; ok == isBad {
			h.t.Errorf("world var of %s written: %v", s.ID, ok)
		}
	}
}

// testCommitPlainGroup: one Commit of steps that touch their task's row
// alone (entries, a status: a store may commit them apart from the
// others, in one statement each), in no particular ID order, some
// refused (a lease lost, entries that do not continue the journal), one
// that also sends: each bad step gets its own error and changes nothing,
// every good step commits.
func testCommitPlainGroup(h *harness) {
	ids := []string{"p5", "p1", "lost", "p4", "gap", "p2", "sends", "p3"}
	h.createIDs(append([]string{"to"}, ids...)...)
	leases := map[string]store.Lease{}
	for _, l := range h.claim("w", 100, T0) {
		leases[l.ID] = l
	}
	want := map[string]error{"lost": store.ErrLeaseLost, "gap": task.ErrInvalidJournal}
	var steps []store.Step
	for _, id := range ids {
		s := step("w", leases[id], task.Done)
		s.Append = NewEntries(1, 2)
		switch id {
		case "lost":
			s.Epoch++
		case "gap":
			s.Append = NewEntries(3, 1)
		case "sends":
			s.Sends = []store.Outgoing{{To: "to", Env: NewEnvelope("hi")}}
		}
		steps = append(steps, s)
	}
	errs, err := h.s.Commit(bg, steps)
	if err != nil {
		h.t.Fatalf("Commit: %v", err)
	}
	for i, s := range steps {
		w, isBad := want[s.ID]
		switch {
		case !isBad && errs[i] != nil:
			h.t.Errorf("good step %s beside bad ones: %v", s.ID, errs[i])
		case isBad && !errors.Is(errs[i], w):
			h.t.Errorf("step %s: %v, want %v", s.ID, errs[i], w)
		}
		r, _ := h.load(s.ID)
		if isBad && (r.Status != task.Running || len(r.Journal) != 0) || !isBad && (r.Status != task.Done || len(r.Journal) != 2) {
			h.t.Errorf("%s after the commit: %s with %d entries", s.ID, r.Status, len(r.Journal))
		}
	}
	if ms, _ := h.s.Messages(bg, "to", 0); len(ms) != 1 {
		h.t.Errorf("the target has %d messages, want 1", len(ms))
	}
}

// testRuns: a task counts its restarts by ContinueAsNew, with the step
// that restarts it (a refused one counts nothing); Create keeps the count
// of a record that has one.
func testRuns(h *harness) {
	h.createIDs("a")
	in, _ := task.Marshal("again")
	runs := func(want uint64) {
		h.t.Helper()
		r, _ := h.load("a")
		sums, err := h.s.List(bg, store.Filter{})
		if err != nil || len(sums) == 0 {
			h.t.Fatal(sums, err)
		}
		if r.Runs != want || sums[0].Runs != want {
			h.t.Errorf("Runs = %d (List: %d), want %d", r.Runs, sums[0].Runs, want)
		}
	}
	runs(0)
	for i := uint64(1); i <= 3; i++ {
		l := h.claimOne("w", "a", T0)
		s := step("w", l, task.Running)
		s.Restart, s.Append = &store.Restart{Input: in}, NewEntries(1, 1)
		h.commit(s)
		runs(i)
	}
	l := h.claimOne("w", "a", T0)
	s := step("w", l, task.Running)
	s.Append = NewEntries(2, 1)
	h.commit(s)
	runs(3)
	l = h.claimOne("w", "a", T0)
	s = step("w", l, task.Running)
	s.Restart, s.Epoch = &store.Restart{Input: in}, l.Epoch+1
	if err := h.commitOne(s); !errors.Is(err, store.ErrLeaseLost) {
		h.t.Fatalf("a restart with a stale epoch: %v", err)
	}
	runs(3)
	r := NewRecord("b")
	r.Runs = 5
	h.create(r)
	if got, _ := h.load("b"); got.Runs != 5 {
		h.t.Errorf("Runs of a task created with 5 = %d", got.Runs)
	}
	h.reopen()
	runs(3)
}

// testRunAt: Load returns a task's timer (the RunAt of its last step; none
// once it has finished), and Create keeps a record's.
func testRunAt(h *harness) {
	r := NewRecord("a")
	r.RunAt = T0.Add(time.Hour)
	h.create(r, NewRecord("b"))
	if got, _ := h.load("a"); !got.RunAt.Equal(T0.Add(time.Hour)) {
		h.t.Errorf("RunAt of a task created with one = %v, want %v", got.RunAt, T0.Add(time.Hour))
	}
	for _, l := range h.claim("w", 10, T0) {
		s := step("w", l, task.Waiting)
		if l.ID == "a" {
			s.RunAt = T0.Add(2 * time.Hour)
		}
		h.commit(s)
	}
	if got, _ := h.load("a"); !got.RunAt.Equal(T0.Add(2 * time.Hour)) {
		h.t.Errorf("RunAt after a step set it = %v, want %v", got.RunAt, T0.Add(2*time.Hour))
	}
	if got, _ := h.load("b"); !got.RunAt.IsZero() {
		h.t.Errorf("RunAt of a task whose step set none = %v", got.RunAt)
	}
	l := h.claimOne("w", "a", T0.Add(2*time.Hour))
	s := step("w", l, task.Done)
	s.RunAt = T0.Add(3 * time.Hour)
	h.commit(s)
	if got, _ := h.load("a"); !got.RunAt.IsZero() {
		h.t.Errorf("RunAt of a finished task = %v, want none", got.RunAt)
	}
}

// testFinalKeep: a step that ends its task releases the lease even if it
// asks to keep it: a finished task is never claimed again, not even once
// the lease would have expired.
func testFinalKeep(h *harness) {
	h.createIDs("a")
	l := h.claimOne("w", "a", T0)
	s := step("w", l, task.Done)
	s.Keep = true
	h.commit(s)
	h.claimNone("w2", T0.Add(time.Hour), "a finished with Keep set")
	if _, err := h.s.ClaimID(bg, "w2", "a", T0.Add(time.Hour), time.Minute); !errors.Is(err, store.ErrFinished) {
		h.t.Errorf("ClaimID of a task finished with Keep: %v, want ErrFinished", err)
	}
}
