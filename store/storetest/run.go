package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// Run checks the stores that open returns. Each subtest calls open for a
// fresh, empty store; open should register the store's Close with t.Cleanup.
// Every misbehaviour is reported, one per line, as a test error.
func Run(t *testing.T, open func(t *testing.T) store.Store, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(&harness{t: t, s: open(t), config: c})
		})
	}
}

// An Option adds to what Run checks.
type Option func(*config)

type config struct {
	reopen func(t *testing.T, s store.Store) store.Store
}

// Reopen gives Run a way to close a store and open its data again (as a
// restarted worker does), for the cases that check what survives: reopen
// closes s and returns a store on the same data. A store whose data does
// not survive Close (memstore) has none, and those cases are skipped.
func Reopen(reopen func(t *testing.T, s store.Store) store.Store) Option {
	return func(c *config) { c.reopen = reopen }
}

type testCase struct {
	name string
	run  func(h *harness)
}

var cases = []testCase{
	{"Create", testCreate},
	{"CreateExists", testCreateExists},
	{"CreateJournalAndMailbox", testCreateJournalAndMailbox},
	{"LoadNotFound", testLoadNotFound},
	{"ClaimReadyOldestFirst", testClaimOrder},
	{"ClaimExclusive", testClaimExclusive},
	{"ClaimExpired", testClaimExpired},
	{"Renew", testRenew},
	{"ClaimNotReady", testClaimNotReady},
	{"ClaimRunAt", testClaimRunAt},
	{"ClaimFinished", testClaimFinished},
	{"ClaimID", testClaimID},
	{"CreateClaimed", testCreateClaimed},
	{"Journal", testJournalOrder},
	{"Messages", testMessages},
	{"CommitConsumes", testCommitConsumes},
	{"CommitState", testCommitState},
	{"CommitSends", testCommitSends},
	{"CommitSpawns", testCommitSpawns},
	{"CommitWorld", testCommitWorld},
	{"CommitWorldOnly", testCommitWorldOnly},
	{"CommitRestart", testCommitRestart},
	{"Runs", testRuns},
	{"RunAt", testRunAt},
	{"CommitSpawnAndSend", testCommitSpawnAndSend},
	{"Status", testStatus},
	{"CommitReleasesLease", testCommitReleases},
	{"CommitKeep", testCommitKeep},
	{"CommitFinalKeep", testFinalKeep},
	{"CommitFencing", testCommitFencing},
	{"CommitBadSequence", testCommitBadSeq},
	{"CommitVersion", testCommitVersion},
	{"CommitRefusesAlone", testCommitRefusesAlone},
	{"CommitPlainGroup", testCommitPlainGroup},
	{"Send", testSend},
	{"SendWhileLeased", testSendWhileLeased},
	{"Cancel", testCancel},
	{"List", testList},
	{"ListFilters", testListFilters},
	{"ListUpdated", testListUpdated},
	{"World", testWorldEmpty},
	{"WorldStaleRead", testWorldStaleRead},
	{"WorldBlindWrite", testWorldBlindWrite},
	{"WorldOnlyStale", testWorldOnlyStale},
	{"WorldBadStep", testWorldBadStep},
	{"WorldSince", testWorldSince},
	{"WorldReopen", testWorldReopen},
	{"WorldWaits", testWorldWaits},
	{"WorldWaitsReopen", testWorldWaitsReopen},
	{"Landed", testLanded},
	{"LandedWorld", testLandedWorld},
	{"LandedReopen", testLandedReopen},
	{"MessageNesting", testMessageNesting},
	{"ProcLink", testProcLink},
	{"ProcLinkGone", testProcLinkGone},
	{"ProcLinkAndEnd", testProcLinkAndEnd},
	{"ProcUnlink", testProcUnlink},
	{"ProcMonitor", testProcMonitor},
	{"ProcTrap", testProcTrap},
	{"ProcRegister", testProcRegister},
	{"ProcKill", testProcKill},
	{"ProcExitOrder", testProcExitOrder},
	{"Concurrent", testConcurrent},
	{"ConcurrentExpiring", testConcurrentExpiring},
	{"Routes", testRoutes},
	{"Divergences", testDivergences},
	{"RoutesReopen", testRoutesReopen},
}

// harness wraps a store with calls that fail the test on unexpected errors.
type harness struct {
	t *testing.T
	s store.Store
	config
}

// reopen closes the store and opens its data again; it skips the case if
// the store's data does not survive (Run was given no Reopen).
func (h *harness) reopen() {
	h.t.Helper()
	if h.config.reopen == nil {
		h.t.Skip("the store's data does not survive Close (no storetest.Reopen)")
	}
	h.s = h.config.reopen(h.t, h.s)
}

func (h *harness) create(recs ...*task.Record) {
	h.t.Helper()
	if err := h.s.Create(bg, recs...); err != nil {
		h.t.Fatalf("Create: %v", err)
	}
}

func (h *harness) createIDs(ids ...string) {
	h.t.Helper()
	for _, id := range ids {
		h.create(NewRecord(id))
	}
}

func (h *harness) claim(owner string, max int, now time.Time) []store.Lease {
	h.t.Helper()
	ls, err := h.s.Claim(bg, owner, max, now, time.Minute)
	if err != nil {
		h.t.Fatalf("Claim(%q, %d, %v): %v", owner, max, now, err)
	}
	return ls
}

// claimOne claims and expects exactly the task id.
func (h *harness) claimOne(owner, id string, now time.Time) store.Lease {
	h.t.Helper()
	ls := h.claim(owner, 10, now)
	if len(ls) != 1 || ls[0].ID != id {
		h.t.Fatalf("Claim by %s at %v = %v, want a lease of %s alone", owner, now, leaseIDs(ls), id)
	}
	return ls[0]
}

func (h *harness) claimNone(owner string, now time.Time, why string) {
	h.t.Helper()
	if ls := h.claim(owner, 10, now); len(ls) != 0 {
		h.t.Errorf("Claim by %s at %v = %v, want nothing (%s)", owner, now, leaseIDs(ls), why)
	}
}

// commit commits steps that must all be accepted.
func (h *harness) commit(steps ...store.Step) {
	h.t.Helper()
	errs, err := h.s.Commit(bg, steps)
	if err != nil {
		h.t.Fatalf("Commit: %v", err)
	}
	if len(errs) != len(steps) {
		h.t.Fatalf("Commit of %d steps returned %d errors", len(steps), len(errs))
	}
	for i, err := range errs {
		if err != nil {
			h.t.Fatalf("Commit: step %d (%s): %v", i, steps[i].ID, err)
		}
	}
}

func (h *harness) load(id string) (*task.Record, []store.Message) {
	h.t.Helper()
	r, ms, err := h.s.Load(bg, id)
	if err != nil {
		h.t.Fatalf("Load(%s): %v", id, err)
	}
	return r, ms
}

func (h *harness) send(to string, env task.Envelope) {
	h.t.Helper()
	if err := h.s.Send(bg, to, env); err != nil {
		h.t.Fatalf("Send(%s): %v", to, err)
	}
}

// checkJournal reports whether task id's journal is entries 1..n of NewEntry.
func (h *harness) checkJournal(id string, n int) {
	h.t.Helper()
	r, _ := h.load(id)
	checkEntries(h.t, id, r.Journal, NewEntries(1, n))
}

func checkEntries(t *testing.T, id string, got, want []task.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("task %s: journal has %d entries, want %d", id, len(got), len(want))
		return
	}
	for i := range got {
		g, err1 := task.EncodeEntry(got[i])
		w, err2 := task.EncodeEntry(want[i])
		if err1 != nil || err2 != nil || !bytes.Equal(g, w) {
			t.Errorf("task %s: journal[%d] = %v, want %v", id, i, got[i], want[i])
		}
	}
}

// step starts a step from lease l that commits status st.
func step(owner string, l store.Lease, st task.Status) store.Step {
	return store.Step{ID: l.ID, Owner: owner, Epoch: l.Epoch, Steps: l.Steps, Status: st}
}

func leaseIDs(ls []store.Lease) []string {
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
	}
	return ids
}

func envs(ms []store.Message) []task.Envelope {
	es := make([]task.Envelope, len(ms))
	for i, m := range ms {
		es[i] = m.Env
	}
	return es
}

func sameEnvs(a, b []task.Envelope) bool {
	return slices.EqualFunc(a, b, func(x, y task.Envelope) bool {
		return x.Type == y.Type && bytes.Equal(x.Data, y.Data)
	})
}

func testCreate(h *harness) {
	rec := NewRecord("a")
	rec.Parent = "p"
	rec.Version = 3
	h.create(rec, NewRecord("b"))
	for _, want := range []*task.Record{rec, NewRecord("b")} {
		got, ms := h.load(want.ID)
		if got.ID != want.ID || got.Program != want.Program || got.Version != want.Version ||
			!bytes.Equal(got.Input, want.Input) || got.Status != task.Running ||
			got.Parent != want.Parent || !got.Created.Equal(want.Created) {
			h.t.Errorf("Load(%s) = %+v, want %+v", want.ID, got, want)
		}
		if len(got.Journal) != 0 || len(got.Mailbox) != 0 || len(ms) != 0 {
			h.t.Errorf("Load(%s): new task has journal %v, mailbox %v, messages %v", want.ID, got.Journal, got.Mailbox, ms)
		}
	}
	// A new task is ready.
	ls := h.claim("w", 10, T0)
	if !slices.Equal(leaseIDs(ls), []string{"a", "b"}) {
		h.t.Errorf("Claim after Create = %v, want [a b]", leaseIDs(ls))
	}
	for _, l := range ls {
		if l.Steps != 0 || l.Epoch == 0 || l.Cancel {
			h.t.Errorf("first lease of a new task = %+v, want Version 0, Epoch > 0, no Cancel", l)
		}
	}
}

func testCreateExists(h *harness) {
	h.createIDs("a")
	if err := h.s.Create(bg, NewRecord("x"), NewRecord("a")); !errors.Is(err, store.ErrExists) {
		h.t.Errorf("Create of an existing ID: %v, want ErrExists", err)
	}
	if _, _, err := h.s.Load(bg, "x"); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("a failed Create created x: Load(x) = %v, want ErrNotFound", err)
	}
	if err := h.s.Create(bg, NewRecord("y"), NewRecord("y")); !errors.Is(err, store.ErrExists) {
		h.t.Errorf("Create of one ID twice: %v, want ErrExists", err)
	}
	if err := h.s.Create(bg); err != nil {
		h.t.Errorf("Create of nothing: %v", err)
	}
}

func testCreateJournalAndMailbox(h *harness) {
	rec := NewRecord("a")
	rec.Journal = NewEntries(1, 3)
	rec.Mailbox = []task.Envelope{NewEnvelope("m1"), NewEnvelope("m2")}
	h.create(rec)
	got, ms := h.load("a")
	checkEntries(h.t, "a", got.Journal, rec.Journal)
	if len(got.Mailbox) != 0 {
		h.t.Errorf("Load left Record.Mailbox = %v, want it empty", got.Mailbox)
	}
	if !sameEnvs(envs(ms), rec.Mailbox) {
		h.t.Errorf("Load messages = %v, want %v", envs(ms), rec.Mailbox)
	}
	l := h.claimOne("w", "a", T0)
	s := step("w", l, task.Waiting)
	s.Append = NewEntries(4, 1)
	h.commit(s)
	h.checkJournal("a", 4)
}

func testLoadNotFound(h *harness) {
	if _, _, err := h.s.Load(bg, "nope"); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("Load of an unknown task: %v, want ErrNotFound", err)
	}
	if _, err := h.s.Messages(bg, "nope", 0); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("Messages of an unknown task: %v, want ErrNotFound", err)
	}
}

func testClaimOrder(h *harness) {
	h.createIDs("c", "a", "b") // ready in that order, whatever their IDs
	h.create(NewRecord("e"), NewRecord("d"))
	if ls := h.claim("w", 2, T0); !slices.Equal(leaseIDs(ls), []string{"c", "a"}) {
		h.t.Errorf("Claim(max 2) = %v, want [c a]", leaseIDs(ls))
	}
	if ls := h.claim("w", 2, T0); !slices.Equal(leaseIDs(ls), []string{"b", "e"}) {
		h.t.Errorf("second Claim(max 2) = %v, want [b e]", leaseIDs(ls))
	}
	if ls := h.claim("w", 2, T0); !slices.Equal(leaseIDs(ls), []string{"d"}) {
		h.t.Errorf("third Claim(max 2) = %v, want [d]", leaseIDs(ls))
	}
	h.claimNone("w", T0, "every task is leased")
}

func testClaimExclusive(h *harness) {
	h.createIDs("a", "b")
	if l := h.claimOneOf("w1", 1, T0); l.ID != "a" {
		h.t.Fatalf("Claim(max 1) = %s, want a", l.ID)
	}
	if ls := h.claim("w2", 10, T0); !slices.Equal(leaseIDs(ls), []string{"b"}) {
		h.t.Errorf("Claim by w2 = %v, want [b] (a is leased to w1)", leaseIDs(ls))
	}
	// Readiness does not override a lease.
	h.send("a", NewEnvelope("hi"))
	if err := h.s.Wake(bg, "a"); err != nil {
		h.t.Fatal(err)
	}
	h.claimNone("w2", T0.Add(59*time.Second), "a is leased to w1 until T0+1m")
	h.claimNone("w1", T0.Add(59*time.Second), "a is leased to w1 until T0+1m")
}

func (h *harness) claimOneOf(owner string, max int, now time.Time) store.Lease {
	h.t.Helper()
	ls := h.claim(owner, max, now)
	if len(ls) != 1 {
		h.t.Fatalf("Claim(%s, max %d) = %v, want one lease", owner, max, leaseIDs(ls))
	}
	return ls[0]
}

func testClaimExpired(h *harness) {
	h.createIDs("a")
	l1 := h.claimOne("w1", "a", T0)
	h.claimNone("w2", T0.Add(30*time.Second), "the lease has not expired")
	l2 := h.claimOne("w2", "a", T0.Add(61*time.Second))
	if l2.Epoch <= l1.Epoch {
		h.t.Errorf("a lease taken over has epoch %d, want more than %d", l2.Epoch, l1.Epoch)
	}
	if l2.Steps != l1.Steps {
		h.t.Errorf("a lease taken over has Steps %d, want %d", l2.Steps, l1.Steps)
	}
	// The old owner is fenced off.
	errs, err := h.s.Commit(bg, []store.Step{step("w1", l1, task.Done)})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], store.ErrLeaseLost) {
		h.t.Errorf("Commit with a lease taken over = %v, want ErrLeaseLost", errs)
	}
	// A kept lease that expired is taken over as well, whether or not the
	// task is ready.
	s := step("w2", l2, task.Waiting)
	s.Keep = true
	h.commit(s)
	now := T0.Add(62 * time.Second)
	h.claimNone("w3", now, "a is waiting and its kept lease runs until T0+2m1s")
	l3 := h.claimOne("w3", "a", now.Add(time.Minute))
	if l3.Epoch <= l2.Epoch || l3.Steps != l2.Steps+1 {
		h.t.Errorf("lease after an expired kept lease = %+v, want epoch > %d and Steps %d", l3, l2.Epoch, l2.Steps+1)
	}
}

func testClaimNotReady(h *harness) {
	h.createIDs("a")
	l := h.claimOne("w", "a", T0)
	h.commit(step("w", l, task.Waiting))
	h.claimNone("w", T0.Add(time.Hour), "a waits with no timer")
	if err := h.s.Wake(bg, "a", "unknown"); err != nil {
		h.t.Fatalf("Wake: %v", err)
	}
	l2 := h.claimOne("w", "a", T0.Add(time.Hour))
	if l2.Epoch <= l.Epoch || l2.Steps != 1 {
		h.t.Errorf("lease after Wake = %+v, want epoch > %d and Steps 1", l2, l.Epoch)
	}
	h.commit(step("w", l2, task.Waiting))
	h.claimNone("w", T0.Add(time.Hour), "a wait was claimed once per Wake")
}

func testClaimRunAt(h *harness) {
	h.createIDs("a", "b", "c")
	for _, l := range h.claim("w", 10, T0) {
		s := step("w", l, task.Waiting)
		switch l.ID {
		case "a":
			s.RunAt = T0.Add(2 * time.Hour)
		case "b":
			s.RunAt = T0.Add(time.Hour)
		}
		s.Wait = &task.Wait{Kind: task.WaitSleep, Until: s.RunAt}
		h.commit(s)
	}
	h.claimNone("w", T0.Add(time.Hour-time.Nanosecond), "no timer is due")
	l := h.claimOne("w", "b", T0.Add(time.Hour))
	h.commit(step("w", l, task.Done))
	// Due timers come out earliest first.
	h.createIDs("d")
	ld := h.claimOne("w", "d", T0)
	sd := step("w", ld, task.Waiting)
	sd.RunAt = T0.Add(90 * time.Minute)
	h.commit(sd)
	now := T0.Add(3 * time.Hour)
	if got := h.claimOneOf("w", 1, now); got.ID != "d" {
		h.t.Errorf("Claim(max 1) of two due timers = %s, want d (due at T0+90m, before a at T0+2h)", got.ID)
	}
	if got := h.claimOneOf("w", 1, now); got.ID != "a" {
		h.t.Errorf("Claim(max 1) = %s, want a", got.ID)
	}
	h.claimNone("w", now, "c has no timer")
}

func testClaimFinished(h *harness) {
	h.createIDs("a", "b", "c")
	for _, l := range h.claim("w", 10, T0) {
		st := map[string]task.Status{"a": task.Done, "b": task.Failed, "c": task.Cancelled}[l.ID]
		s := step("w", l, st)
		s.RunAt = T0.Add(time.Second) // ignored for a finished task
		h.commit(s)
	}
	if err := h.s.Wake(bg, "a", "b", "c"); err != nil {
		h.t.Fatal(err)
	}
	h.claimNone("w", T0.Add(time.Hour), "every task has finished")
}

func testClaimID(h *harness) {
	h.createIDs("a")
	if _, err := h.s.ClaimID(bg, "w1", "nope", T0, time.Minute); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("ClaimID of an unknown task: %v, want ErrNotFound", err)
	}
	l, err := h.s.ClaimID(bg, "w1", "a", T0, time.Minute)
	if err != nil || l.ID != "a" || l.Epoch == 0 {
		h.t.Fatalf("ClaimID(a) = %+v, %v", l, err)
	}
	if _, err := h.s.ClaimID(bg, "w2", "a", T0.Add(59*time.Second), time.Minute); !errors.Is(err, store.ErrLeased) {
		h.t.Errorf("ClaimID of a task leased to another owner: %v, want ErrLeased", err)
	}
	h.claimNone("w2", T0, "ClaimID leased a to w1")
	// ClaimID takes a task that is not ready, and takes over an expired lease.
	h.commit(step("w1", l, task.Waiting))
	l2, err := h.s.ClaimID(bg, "w2", "a", T0, time.Minute)
	if err != nil || l2.Epoch <= l.Epoch || l2.Steps != 1 {
		h.t.Errorf("ClaimID of a waiting task = %+v, %v; want epoch > %d, Steps 1", l2, err, l.Epoch)
	}
	l3, err := h.s.ClaimID(bg, "w3", "a", T0.Add(2*time.Minute), time.Minute)
	if err != nil || l3.Epoch <= l2.Epoch {
		h.t.Errorf("ClaimID over an expired lease = %+v, %v; want epoch > %d", l3, err, l2.Epoch)
	}
	h.commit(step("w3", l3, task.Done))
	if _, err := h.s.ClaimID(bg, "w1", "a", T0.Add(3*time.Minute), time.Minute); !errors.Is(err, store.ErrFinished) {
		h.t.Errorf("ClaimID of a finished task: %v, want ErrFinished", err)
	}
}

// testCreateClaimed: the tasks come leased to the owner (in the order
// given), are not claimable until the lease expires, commit under the
// lease, and an existing ID refuses the whole call.
func testCreateClaimed(h *harness) {
	h.createIDs("x")
	if _, err := h.s.CreateClaimed(bg, "w1", T0, time.Minute, NewRecord("b"), NewRecord("x")); !errors.Is(err, store.ErrExists) {
		h.t.Errorf("CreateClaimed of an existing ID: %v, want ErrExists", err)
	}
	if _, _, err := h.s.Load(bg, "b"); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("a refused CreateClaimed created b: Load = %v", err)
	}
	h.claimOne("w0", "x", T0) // x out of the way
	ls, err := h.s.CreateClaimed(bg, "w1", T0, time.Minute, NewRecord("b"), NewRecord("a"))
	if err != nil || len(ls) != 2 || ls[0].ID != "b" || ls[1].ID != "a" || ls[0].Epoch == 0 || ls[0].Steps != 0 {
		h.t.Fatalf("CreateClaimed(b, a) = %+v, %v", ls, err)
	}
	h.claimNone("w2", T0.Add(59*time.Second), "CreateClaimed leased a and b to w1")
	if _, err := h.s.ClaimID(bg, "w2", "a", T0.Add(59*time.Second), time.Minute); !errors.Is(err, store.ErrLeased) {
		h.t.Errorf("ClaimID of a task CreateClaimed leased to another owner: %v, want ErrLeased", err)
	}
	s := step("w1", ls[1], task.Waiting)
	s.Append = NewEntries(1, 1)
	s.Keep = true
	h.commit(s)
	h.checkJournal("a", 1)
	if l, err := h.s.ClaimID(bg, "w2", "b", T0.Add(2*time.Minute), time.Minute); err != nil || l.Epoch <= ls[0].Epoch {
		h.t.Errorf("ClaimID of b over an expired lease = %+v, %v; want epoch > %d", l, err, ls[0].Epoch)
	}
}

func testJournalOrder(h *harness) {
	h.createIDs("a")
	l := h.claimOne("w", "a", T0)
	s := step("w", l, task.Running)
	s.Append = NewEntries(1, 3)
	s.Keep = true
	h.commit(s)
	// A kept lease commits again, at the next step count.
	s = store.Step{ID: "a", Owner: "w", Epoch: l.Epoch, Steps: l.Steps + 1, Status: task.Running, Append: NewEntries(4, 1)}
	h.commit(s)
	l = h.claimOne("w", "a", T0.Add(time.Second)) // status Running left it ready
	s = step("w", l, task.Waiting)
	s.Append = NewEntries(5, 2)
	h.commit(s)
	h.checkJournal("a", 6)
}
