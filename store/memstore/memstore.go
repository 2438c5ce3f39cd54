// Package memstore is a store.Store that keeps everything in memory: the
// honest fake, in the spirit of testing/fstest.MapFS, for tests of programs
// that run on the durable interpreter (no file, no database), and the
// reference that package storetest checks itself against.
//
//	st := memstore.New()
//	d, err := interp.NewDurable(st, interp.WithRegistry(reg))
//
// # Limits
//
//   - One process: nothing is shared with another process, and nothing
//     survives Close or the end of the process. A Store can be shared by
//     several interpreters in one process (as workers sharing a database).
//   - Every call takes one mutex, and Claim and List look at every task:
//     fine for tests, not for millions of tasks.
//   - Records, journals and messages are copied when stored, but the byte
//     slices inside them are not: do not change what you handed in.
//
// It passes storetest like any store: what it does, the others do.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// ErrClosed is returned by the calls made after Close.
var ErrClosed = errors.New("memstore: store is closed")

type memTask struct {
	rec          task.Record
	ready        bool
	readySeq     uint64
	runAt        time.Time
	owner        string
	epoch, steps uint64
	until        time.Time
	cancel       bool
	msgs         []store.Message
	tags         map[uint64]string // of signals that can be voided
	nextMsg      uint64
}

// memLink is a link (kind ProcLink, between a and b) or a monitor (kind
// ProcMonitor: a watches b under ref).
type memLink struct {
	kind store.ProcKind
	a, b string
	ref  string
}

// Store is a store.Store in memory. It is safe for concurrent use. The zero
// value is not usable: call New.
type Store struct {
	mu     sync.Mutex
	closed bool
	tasks  map[string]*memTask
	world  map[string][]byte
	seq    uint64
	links  []memLink // oldest first
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store { return &Store{tasks: map[string]*memTask{}, world: map[string][]byte{}} }

// lock takes the store's mutex, unless the store is closed.
func (m *Store) lock() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

func (m *Store) makeReady(t *memTask) {
	if t.rec.Status.Final() {
		return
	}
	if !t.ready {
		m.seq++
		t.ready, t.readySeq = true, m.seq
	}
}

// storedEnvelope is env as a store keeps it: encoded (which refuses what
// a receiver could not read) and decoded again, so that it shares nothing
// with the caller's.
func storedEnvelope(env task.Envelope) (task.Envelope, error) {
	b, err := task.EncodeEnvelope(env)
	if err != nil {
		return task.Envelope{}, err
	}
	return task.DecodeEnvelope(b)
}

// checkRecord checks that r can be stored.
func checkRecord(r *task.Record) error {
	if err := r.Validate(); err != nil {
		return err
	}
	for _, e := range r.Mailbox {
		if _, err := task.EncodeEnvelope(e); err != nil {
			return err
		}
	}
	return nil
}

// newTask makes the task of r, which checkRecord accepted.
func (m *Store) newTask(r *task.Record) *memTask {
	t := &memTask{rec: *r}
	t.rec.Journal = slices.Clone(r.Journal)
	t.rec.Mailbox = nil
	for _, e := range r.Mailbox {
		e, _ = storedEnvelope(e)
		t.nextMsg++
		t.msgs = append(t.msgs, store.Message{Seq: t.nextMsg, Env: e})
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
	seen := map[string]bool{}
	for _, r := range recs {
		if err := checkRecord(r); err != nil {
			return fmt.Errorf("memstore: create %s: %w", r.ID, err)
		}
		if m.tasks[r.ID] != nil || seen[r.ID] {
			return fmt.Errorf("memstore: create %s: %w", r.ID, store.ErrExists)
		}
		seen[r.ID] = true
	}
	for _, r := range recs {
		m.tasks[r.ID] = m.newTask(r)
	}
	return nil
}

func (m *Store) claimable(t *memTask, now time.Time) bool {
	if t.rec.Status.Final() {
		return false
	}
	if t.owner != "" {
		return !now.Before(t.until)
	}
	return t.ready || (!t.runAt.IsZero() && !now.Before(t.runAt))
}

func (m *Store) lease(t *memTask, owner string, now time.Time, d time.Duration) store.Lease {
	t.owner, t.until, t.ready = owner, now.Add(d), false
	t.epoch++
	return store.Lease{ID: t.rec.ID, Epoch: t.epoch, Steps: t.steps, Cancel: t.cancel}
}

// Claim implements store.Store.
func (m *Store) Claim(ctx context.Context, owner string, max int, now time.Time, d time.Duration) ([]store.Lease, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var c []*memTask
	for _, t := range m.tasks {
		if m.claimable(t, now) {
			c = append(c, t)
		}
	}
	key := func(t *memTask) (int, uint64, int64) {
		if t.ready {
			return 0, t.readySeq, 0
		}
		return 1, 0, t.runAt.UnixNano()
	}
	slices.SortFunc(c, func(a, b *memTask) int {
		a0, a1, a2 := key(a)
		b0, b1, b2 := key(b)
		if a0 != b0 {
			return a0 - b0
		}
		if a1 != b1 {
			return int(a1) - int(b1)
		}
		return int(a2 - b2)
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

// Load implements store.Store.
func (m *Store) Load(ctx context.Context, id string) (*task.Record, []store.Message, error) {
	if err := m.lock(); err != nil {
		return nil, nil, err
	}
	defer m.mu.Unlock()
	t := m.tasks[id]
	if t == nil {
		return nil, nil, fmt.Errorf("memstore: load %s: %w", id, store.ErrNotFound)
	}
	r := t.rec
	r.Journal = slices.Clone(r.Journal)
	return &r, slices.Clone(t.msgs), nil
}

// Messages implements store.Store.
func (m *Store) Messages(ctx context.Context, id string, after uint64) ([]store.Message, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	t := m.tasks[id]
	if t == nil {
		return nil, fmt.Errorf("memstore: messages of %s: %w", id, store.ErrNotFound)
	}
	var ms []store.Message
	for _, msg := range t.msgs {
		if msg.Seq > after {
			ms = append(ms, msg)
		}
	}
	return ms, nil
}

// Commit implements store.Store.
func (m *Store) Commit(ctx context.Context, steps []store.Step) ([]error, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	errs := make([]error, len(steps))
	for i, s := range steps {
		errs[i] = m.apply(s)
	}
	return errs, nil
}

// Status implements store.Store.
func (m *Store) Status(ctx context.Context, id string) (task.Status, error) {
	if err := m.lock(); err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	if t := m.tasks[id]; t != nil {
		return t.rec.Status, nil
	}
	return "", fmt.Errorf("memstore: status of %s: %w", id, store.ErrNotFound)
}

func (m *Store) apply(s store.Step) error {
	if s.ID == "" {
		for _, w := range s.World {
			m.world[w.Name] = w.Value
		}
		return nil
	}
	t := m.tasks[s.ID]
	if t == nil || t.owner != s.Owner || t.epoch != s.Epoch || t.steps != s.Steps {
		return fmt.Errorf("memstore: commit %s: %w", s.ID, store.ErrLeaseLost)
	}
	base := len(t.rec.Journal)
	if s.Restart != nil {
		base = 0
	}
	for i, e := range s.Append {
		if e.Seq != uint64(base+i+1) {
			return fmt.Errorf("memstore: commit %s: entry #%d does not continue the journal", s.ID, e.Seq)
		}
	}
	sends := make([]task.Envelope, len(s.Sends))
	for i, o := range s.Sends {
		var err error
		if sends[i], err = storedEnvelope(o.Env); err != nil {
			return fmt.Errorf("memstore: commit %s: send to %s: %w", s.ID, o.To, err)
		}
	}
	for _, r := range s.Spawns {
		if err := checkRecord(r); err != nil {
			return fmt.Errorf("memstore: commit %s: spawn %s: %w", s.ID, r.ID, err)
		}
		if m.tasks[r.ID] != nil {
			return fmt.Errorf("memstore: commit %s: spawn %s: %w", s.ID, r.ID, store.ErrExists)
		}
	}
	if err := m.nameTaken(s); err != nil {
		return err
	}
	if s.Restart != nil {
		t.rec.Journal, t.rec.Input = nil, s.Restart.Input
	}
	t.rec.Journal = append(t.rec.Journal, s.Append...)
	t.msgs = slices.DeleteFunc(t.msgs, func(msg store.Message) bool { return slices.Contains(s.Consumed, msg.Seq) })
	t.rec.Status, t.rec.Reason, t.rec.Wait, t.rec.Result, t.rec.Err = s.Status, s.Reason, s.Wait, s.Result, s.Err
	t.runAt = s.RunAt
	t.steps++
	if !s.Keep || s.Status.Final() {
		t.owner = ""
		if s.Status == task.Running {
			m.makeReady(t)
		}
	}
	if s.Status.Final() {
		t.ready, t.runAt = false, time.Time{}
	}
	for _, r := range s.Spawns {
		m.tasks[r.ID] = m.newTask(r)
	}
	for i, o := range s.Sends {
		if to := m.tasks[o.To]; to != nil {
			m.deliver(to, sends[i], "")
		}
	}
	for _, op := range s.Proc {
		m.applyProc(t, op)
	}
	if s.Status.Final() {
		m.exit(t, s.Exit)
	}
	for _, w := range s.World {
		m.world[w.Name] = w.Value
	}
	return nil
}

func (m *Store) deliver(to *memTask, env task.Envelope, tag string) {
	to.nextMsg++
	to.msgs = append(to.msgs, store.Message{Seq: to.nextMsg, Env: env})
	if tag != "" {
		if to.tags == nil {
			to.tags = map[uint64]string{}
		}
		to.tags[to.nextMsg] = tag
	}
	m.makeReady(to)
}

func (m *Store) signal(to *memTask, sig task.Signal) {
	if to == nil || to.rec.Status.Final() {
		return
	}
	env, err := sig.Envelope()
	if err != nil {
		panic(err)
	}
	m.deliver(to, env, sig.Tag())
}

func (m *Store) void(t *memTask, tag string) {
	t.msgs = slices.DeleteFunc(t.msgs, func(msg store.Message) bool { return t.tags[msg.Seq] == tag })
}

func (m *Store) live(id string) *memTask {
	if p := m.tasks[id]; p != nil && !p.rec.Status.Final() {
		return p
	}
	return nil
}

func (m *Store) applyProc(t *memTask, op store.ProcOp) {
	id := t.rec.ID
	switch op.Kind {
	case store.ProcLink:
		if op.Peer == id {
			return
		}
		if m.live(op.Peer) == nil {
			m.signal(t, store.NoProc(op))
			return
		}
		for _, l := range m.links {
			if l.kind == store.ProcLink && (l.a == id && l.b == op.Peer || l.a == op.Peer && l.b == id) {
				return
			}
		}
		m.links = append(m.links, memLink{kind: store.ProcLink, a: id, b: op.Peer})
	case store.ProcUnlink:
		m.links = slices.DeleteFunc(m.links, func(l memLink) bool {
			return l.kind == store.ProcLink && (l.a == id && l.b == op.Peer || l.a == op.Peer && l.b == id)
		})
		m.void(t, task.Signal{Kind: task.SignalLink, From: op.Peer}.Tag())
	case store.ProcMonitor:
		if m.live(op.Peer) == nil {
			m.signal(t, store.NoProc(op))
			return
		}
		m.links = append(m.links, memLink{kind: store.ProcMonitor, a: id, b: op.Peer, ref: op.Ref})
	case store.ProcDemonitor:
		m.links = slices.DeleteFunc(m.links, func(l memLink) bool {
			return l.kind == store.ProcMonitor && l.a == id && l.ref == op.Ref
		})
		m.void(t, task.Signal{Kind: task.SignalDown, From: "-", Ref: op.Ref}.Tag())
	case store.ProcTrap:
		t.rec.Trap = op.On
	case store.ProcRegister:
		t.rec.Name = op.Name
	case store.ProcKill:
		m.signal(m.live(op.Peer), task.Signal{Kind: task.SignalKill, From: id, Reason: op.Reason})
	}
}

// exit delivers the exit signals of t, which just ended with reason, and
// removes its process state.
func (m *Store) exit(t *memTask, reason string) {
	id := t.rec.ID
	t.rec.Name = ""
	var keep []memLink
	for _, l := range m.links {
		switch {
		case l.kind == store.ProcLink && (l.a == id || l.b == id):
			peer := l.a
			if peer == id {
				peer = l.b
			}
			m.signal(m.tasks[peer], task.Signal{Kind: task.SignalLink, From: id, Reason: reason})
		case l.kind == store.ProcMonitor && l.b == id:
			m.signal(m.tasks[l.a], task.Signal{Kind: task.SignalDown, From: id, Reason: reason, Ref: l.ref})
		case l.kind == store.ProcMonitor && l.a == id:
		default:
			keep = append(keep, l)
		}
	}
	m.links = keep
}

// nameTaken reports whether step s registers a name another task holds.
func (m *Store) nameTaken(s store.Step) error {
	for _, op := range s.Proc {
		if op.Kind != store.ProcRegister {
			continue
		}
		for id, t := range m.tasks {
			if id != s.ID && t.rec.Name == op.Name {
				return fmt.Errorf("memstore: commit %s: register %q: %w (task %s)", s.ID, op.Name, store.ErrNameTaken, id)
			}
		}
	}
	return nil
}

// WhereIs implements store.Store.
func (m *Store) WhereIs(ctx context.Context, name string) (string, error) {
	if err := m.lock(); err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	for id, t := range m.tasks {
		if t.rec.Name == name && name != "" {
			return id, nil
		}
	}
	return "", nil
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
	env, err := storedEnvelope(env)
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
	t.nextMsg++
	t.msgs = append(t.msgs, store.Message{Seq: t.nextMsg, Env: env})
	m.makeReady(t)
	return nil
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

// List implements store.Store.
func (m *Store) List(ctx context.Context, f store.Filter) ([]store.Summary, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []store.Summary
	for _, id := range slices.Sorted(maps.Keys(m.tasks)) {
		t := m.tasks[id]
		if (f.Status != "" && t.rec.Status != f.Status) || (f.Program != "" && t.rec.Program != f.Program) {
			continue
		}
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
		out = append(out, store.Summary{ID: id, Program: t.rec.Program, Version: t.rec.Version,
			Status: t.rec.Status, Reason: t.rec.Reason, Wait: t.rec.Wait, Steps: t.steps,
			Entries: len(t.rec.Journal), Pending: len(t.msgs), RunAt: t.runAt, Created: t.rec.Created, Updated: t.rec.Updated})
	}
	return out, nil
}

// World implements store.Store.
func (m *Store) World(ctx context.Context) (map[string][]byte, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	return maps.Clone(m.world), nil
}

// Close drops everything the store holds; later calls fail with ErrClosed.
// Close implements store.Store.
func (m *Store) Close() error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.closed, m.tasks, m.world, m.links = true, nil, nil, nil
	return nil
}
