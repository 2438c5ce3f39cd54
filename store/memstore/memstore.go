// Package memstore is a store.Store that keeps everything in memory: the
// honest fake, in the spirit of testing/fstest.MapFS, for tests of programs
// that run on the durable interpreter (no file, no database), and the
// reference that package storetest checks itself against.
//
//	st := memstore.New()
//	d, err := interp.NewDurable(st, interp.WithRegistry(reg))
//
// It passes storetest like every store: what it does, the others do. It
// stores journal entries and messages in their encoded forms, with their
// checksums, as the other stores do, so that a value that would not
// survive a database does not survive it either.
//
// # Limits
//
//   - One process: nothing is shared with another process, and nothing
//     survives Close or the end of the process. Several interpreters in one
//     process may share a Store, as workers share a database; it tells
//     them of each other's commits (store.Notifier, store.WorldNotifier).
//   - Every call takes one mutex, and Claim, List and Counts look at every
//     task: fine for tests, not for millions of tasks.
//   - A Commit is one transaction: its steps are applied in order under the
//     mutex, each validated before anything of it is applied.
package memstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// ErrClosed is returned by the calls made after Close.
var ErrClosed = errors.New("memstore: store is closed")

// Store is a store.Store in memory. It is safe for concurrent use. The zero
// value is not usable: call New.
type Store struct {
	mu       sync.Mutex
	closed   bool
	tasks    map[string]*memTask
	readySeq uint64    // numbers tasks as they become ready
	links    []memLink // oldest first
	world    map[string]*worldVar
	clock    uint64 // the world clock: world commits so far
	v        versions
	// waits are the tasks waiting in an STM Retry on each world var, with
	// their step count when they began to wait (store.Step.WaitWorld).
	waits   map[string]map[string]uint64
	routing routing

	ready      chan struct{} // store.Notifier
	worldClock chan uint64   // store.WorldNotifier
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.Notifier      = (*Store)(nil)
	_ store.WorldNotifier = (*Store)(nil)
)

// memTask is a task: its record (without journal and mailbox, kept
// encoded beside it), its readiness and its lease.
type memTask struct {
	rec      task.Record
	journal  []stored
	msgs     []message
	nextMsg  uint64
	ready    bool
	readySeq uint64
	runAt    time.Time
	owner    string
	epoch    uint64
	steps    uint64
	token    uint64    // of the last step committed
	leaseAt  time.Time // the clock of the last claim
	until    time.Time
	cancel   bool
}

// stored is the stored form of a journal entry or a message, and its
// checksum.
type stored struct {
	data []byte
	sum  uint32
}

func storedForm(data []byte) stored { return stored{data, task.Checksum(data)} }

// message is a mailbox entry; tag is an exit signal's (task.Signal.Tag),
// so that Unlink and Demonitor can void it.
type message struct {
	seq uint64
	stored
	tag string
}

// memLink is a link (kind ProcLink, between a and b) or a monitor (kind
// ProcMonitor: a watches b under ref).
type memLink struct {
	kind store.ProcKind
	a, b string
	ref  string
}

// New returns an empty store.
func New() *Store {
	return &Store{
		tasks:      map[string]*memTask{},
		world:      map[string]*worldVar{},
		waits:      map[string]map[string]uint64{},
		ready:      make(chan struct{}, 1),
		worldClock: make(chan uint64, 1),
	}
}

// lock takes the store's mutex, unless the store is closed.
func (m *Store) lock() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Close drops everything the store holds; later calls fail with ErrClosed.
// It is safe to call more than once.
func (m *Store) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed, m.tasks, m.world, m.links = true, nil, nil, nil
	return nil
}

// Ready implements store.Notifier: it receives when a task becomes ready.
func (m *Store) Ready() <-chan struct{} { return m.ready }

// makeReady makes t ready, keeping its place if it was.
func (m *Store) makeReady(t *memTask) {
	if t.rec.Status.Final() || t.ready {
		return
	}
	m.readySeq++
	t.ready, t.readySeq = true, m.readySeq
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// checkRecord checks that r can be stored, and returns the stored forms
// of its journal and mailbox.
func checkRecord(r *task.Record) ([]stored, []stored, error) {
	if err := r.Validate(); err != nil {
		return nil, nil, err
	}
	journal, err := encodeEntries(r.Journal)
	if err != nil {
		return nil, nil, err
	}
	mailbox := make([]stored, len(r.Mailbox))
	for i, e := range r.Mailbox {
		b, err := task.EncodeEnvelope(e)
		if err != nil {
			return nil, nil, err
		}
		mailbox[i] = storedForm(b)
	}
	return journal, mailbox, nil
}

func encodeEntries(es []task.Entry) ([]stored, error) {
	out := make([]stored, len(es))
	for i, e := range es {
		b, err := task.EncodeEntry(e)
		if err != nil {
			return nil, err
		}
		out[i] = storedForm(b)
	}
	return out, nil
}

// newTask makes the task of r, with the stored forms checkRecord returned.
func (m *Store) newTask(r *task.Record, journal, mailbox []stored) *memTask {
	t := &memTask{rec: *r, journal: journal}
	t.rec.Journal, t.rec.Mailbox, t.rec.RunAt = nil, nil, time.Time{}
	if t.rec.Updated.IsZero() {
		t.rec.Updated = t.rec.Created
	}
	if !r.Status.Final() {
		t.runAt = r.RunAt
	}
	t.rec.Input, t.rec.Result = slices.Clone(r.Input), slices.Clone(r.Result)
	for _, b := range mailbox {
		t.nextMsg++
		t.msgs = append(t.msgs, message{seq: t.nextMsg, stored: b})
	}
	m.makeReady(t)
	return t
}

// Create implements store.Store.
func (m *Store) Create(ctx context.Context, recs ...*task.Record) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	return m.create(recs)
}

// create inserts the tasks, or none if one exists; m.mu is held.
func (m *Store) create(recs []*task.Record) error {
	type forms struct{ journal, mailbox []stored }
	enc := make([]forms, len(recs))
	seen := map[string]bool{}
	for i, r := range recs {
		var err error
		if enc[i].journal, enc[i].mailbox, err = checkRecord(r); err != nil {
			return fmt.Errorf("memstore: create %s: %w", r.ID, err)
		}
		if m.tasks[r.ID] != nil || seen[r.ID] {
			return fmt.Errorf("memstore: create %s: %w", r.ID, store.ErrExists)
		}
		seen[r.ID] = true
	}
	for i, r := range recs {
		m.tasks[r.ID] = m.newTask(r, enc[i].journal, enc[i].mailbox)
	}
	return nil
}

// CreateClaimed implements store.Store.
func (m *Store) CreateClaimed(ctx context.Context, owner string, now time.Time, d time.Duration, recs ...*task.Record) ([]store.Lease, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if err := m.create(recs); err != nil {
		return nil, err
	}
	ls := make([]store.Lease, len(recs))
	for i, r := range recs {
		ls[i] = m.lease(m.tasks[r.ID], owner, now, d)
	}
	return ls, nil
}

func claimable(t *memTask, now time.Time) bool {
	if t.rec.Status.Final() {
		return false
	}
	if t.owner != "" {
		return !now.Before(t.until)
	}
	return t.ready || (!t.runAt.IsZero() && !now.Before(t.runAt))
}

func (m *Store) lease(t *memTask, owner string, now time.Time, d time.Duration) store.Lease {
	t.owner, t.until, t.ready, t.rec.Updated = owner, now.Add(d), false, now
	t.epoch++
	return store.Lease{ID: t.rec.ID, Epoch: t.epoch, Steps: t.steps, Cancel: t.cancel}
}

// Claim implements store.Store: ready tasks in the order they became
// ready, then due timers and expired leases by time.
func (m *Store) Claim(ctx context.Context, owner string, max int, now time.Time, d time.Duration, can ...task.ProgramVersion) ([]store.Lease, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var c []*memTask
	for _, t := range m.tasks {
		if claimable(t, now) && canRun(&t.rec, can) {
			c = append(c, t)
		}
	}
	key := func(t *memTask) (int, uint64, int64) {
		switch {
		case t.ready:
			return 0, t.readySeq, 0
		case t.owner != "":
			return 1, 0, t.until.UnixNano()
		}
		return 1, 0, t.runAt.UnixNano()
	}
	slices.SortFunc(c, func(a, b *memTask) int {
		a0, a1, a2 := key(a)
		b0, b1, b2 := key(b)
		switch {
		case a0 != b0:
			return a0 - b0
		case a1 != b1:
			return cmp.Compare(a1, b1)
		}
		return cmp.Compare(a2, b2)
	})
	var ls []store.Lease
	for _, t := range c[:min(max, len(c))] {
		ls = append(ls, m.lease(t, owner, now, d))
	}
	return ls, nil
}

// ClaimID implements store.Store.
func (m *Store) ClaimID(ctx context.Context, owner, id string, now time.Time, d time.Duration) (store.Lease, error) {
	if err := m.lock(); err != nil {
		return store.Lease{}, err
	}
	defer m.mu.Unlock()
	t := m.tasks[id]
	switch {
	case t == nil:
		return store.Lease{}, fmt.Errorf("memstore: claim %s: %w", id, store.ErrNotFound)
	case t.rec.Status.Final():
		return store.Lease{}, fmt.Errorf("memstore: claim %s: %w", id, store.ErrFinished)
	case t.owner != "" && t.owner != owner && now.Before(t.until):
		return store.Lease{}, fmt.Errorf("memstore: claim %s: %w (by %s)", id, store.ErrLeased, t.owner)
	}
	return m.lease(t, owner, now, d), nil
}

// Wake implements store.Store.
func (m *Store) Wake(ctx context.Context, ids ...string) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	for _, id := range ids {
		if t := m.tasks[id]; t != nil {
			m.makeReady(t)
		}
	}
	return nil
}

// Send implements store.Store.
func (m *Store) Send(ctx context.Context, to string, env task.Envelope) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	b, err := task.EncodeEnvelope(env)
	if err != nil {
		return fmt.Errorf("memstore: send to %s: %w", to, err)
	}
	t := m.tasks[to]
	switch {
	case t == nil:
		return fmt.Errorf("memstore: send to %s: %w", to, store.ErrNotFound)
	case t.rec.Status.Final():
		return fmt.Errorf("memstore: send to %s: %w", to, store.ErrFinished)
	}
	m.deliver(t, b, "")
	return nil
}

// deliver appends a message to t's mailbox and makes t ready (unless it
// has finished: the message is kept, for people to see).
func (m *Store) deliver(t *memTask, data []byte, tag string) {
	t.nextMsg++
	t.msgs = append(t.msgs, message{seq: t.nextMsg, stored: storedForm(data), tag: tag})
	m.makeReady(t)
}

// Cancel implements store.Store.
func (m *Store) Cancel(ctx context.Context, id string) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	t := m.tasks[id]
	if t == nil {
		return fmt.Errorf("memstore: cancel %s: %w", id, store.ErrNotFound)
	}
	if !t.rec.Status.Final() {
		t.cancel = true
		m.makeReady(t)
	}
	return nil
}
