package memstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/internal/verdict"
	"github.com/amberrt/amber/task"
)

// Commit implements store.Store. The steps are one transaction: one world
// clock tick for all their world writes.
func (m *Store) Commit(ctx context.Context, steps []store.Step) ([]error, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	errs := make([]error, len(steps))
	tick := m.clock + 1
	for i := range steps {
		errs[i] = m.apply(&steps[i], tick)
	}
	if m.clock == tick {
		m.notifyWorld()
	}
	return errs, nil
}

// checked is what apply made of a step while checking it, before it
// changes anything.
type checked struct {
	entries []stored
	sends   [][]byte
	spawns  [][2][]stored // the journal and mailbox of each spawned task
}

// apply checks step s and, if it passes, applies it; its world writes
// get the clock tick. Nothing of a refused step is applied.
func (m *Store) apply(s *store.Step, tick uint64) error {
	c, err := m.check(s)
	if err != nil {
		if s.ID == "" {
			return fmt.Errorf("memstore: commit of world vars: %w", err)
		}
		return fmt.Errorf("memstore: commit %s after %d steps: %w", s.ID, s.Steps, err)
	}
	if s.ID != "" {
		m.applyTask(s, c)
	}
	m.writeWorld(s.World, s.Token, tick)
	return nil
}

// Landed implements store.Store.
func (m *Store) Landed(ctx context.Context, s store.Step) (store.Outcome, error) {
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	if s.Token == 0 {
		return 0, fmt.Errorf("memstore: landed: %w", store.ErrNoToken)
	}
	if s.ID == "" {
		return verdict.LandedWorld(s, func(name string) (uint64, uint64) {
			if v := m.world[name]; v != nil {
				return v.version, v.token
			}
			return 0, 0
		}), nil
	}
	t := m.tasks[s.ID]
	if t == nil {
		return 0, fmt.Errorf("memstore: landed %s: %w", s.ID, store.ErrNotFound)
	}
	return verdict.Landed(s, t.steps, t.token, t.owner, t.epoch), nil
}

// check refuses a step that cannot commit, and encodes what it stores.
func (m *Store) check(s *store.Step) (*checked, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	c := &checked{}
	if s.ID != "" {
		t := m.tasks[s.ID]
		switch {
		case t == nil:
			return nil, fmt.Errorf("%w: no such task", store.ErrLeaseLost)
		case t.owner != s.Owner || t.epoch != s.Epoch:
			return nil, fmt.Errorf("%w: held by %q at epoch %d, not %q at epoch %d", store.ErrLeaseLost, t.owner, t.epoch, s.Owner, s.Epoch)
		case t.steps != s.Steps:
			return nil, fmt.Errorf("%w: the task is at step %d", store.ErrLeaseLost, t.steps)
		}
		base := len(t.journal)
		if s.Restart != nil {
			base = 0
		}
		for i, e := range s.Append {
			if e.Seq != uint64(base+i+1) {
				return nil, fmt.Errorf("entry #%d where #%d comes next: %w", e.Seq, base+i+1, task.ErrInvalidJournal)
			}
		}
		var err error
		if c.entries, err = encodeEntries(s.Append); err != nil {
			return nil, err
		}
		for _, o := range s.Sends {
			b, err := task.EncodeEnvelope(o.Env)
			if err != nil {
				return nil, fmt.Errorf("send to %s: %w", o.To, err)
			}
			c.sends = append(c.sends, b)
		}
		for _, r := range s.Spawns {
			journal, mailbox, err := checkRecord(r)
			if err != nil {
				return nil, fmt.Errorf("spawn %s: %w", r.ID, err)
			}
			if m.tasks[r.ID] != nil {
				return nil, fmt.Errorf("spawn %s: %w", r.ID, store.ErrExists)
			}
			c.spawns = append(c.spawns, [2][]stored{journal, mailbox})
		}
		if err := m.nameTaken(s); err != nil {
			return nil, err
		}
	}
	if err := m.stale(s); err != nil {
		return nil, err
	}
	return c, nil
}

// applyTask applies the task part of a step that passed check.
func (m *Store) applyTask(s *store.Step, c *checked) {
	t := m.tasks[s.ID]
	if s.Restart != nil {
		t.journal, t.rec.Input = nil, slices.Clone(s.Restart.Input)
		t.rec.Runs++
	}
	t.journal = append(t.journal, c.entries...)
	t.msgs = slices.DeleteFunc(t.msgs, func(msg message) bool { return slices.Contains(s.Consumed, msg.seq) })
	t.rec.Status, t.rec.Reason, t.rec.Wait, t.rec.Result, t.rec.Err = s.Status, s.Reason, s.Wait, slices.Clone(s.Result), s.Err
	t.runAt = s.RunAt
	t.steps++
	t.token = s.Token
	final := s.Status.Final()
	if !s.Keep || final {
		t.owner = ""
		if s.Status == task.Running {
			m.makeReady(t)
		}
	}
	if final {
		t.ready, t.runAt = false, time.Time{}
	}
	for i, r := range s.Spawns {
		m.tasks[r.ID] = m.newTask(r, c.spawns[i][0], c.spawns[i][1])
	}
	for i, o := range s.Sends {
		// A message to a finished task is kept in its mailbox; one to an
		// unknown task is dropped.
		if to := m.tasks[o.To]; to != nil {
			m.deliver(to, c.sends[i], "")
		}
	}
	for _, op := range s.Proc {
		m.applyProc(t, op)
	}
	if final {
		m.exit(t, s.Exit)
	} else {
		m.wait(t, s)
	}
}

// signal delivers an exit signal to task to, unless it has finished.
func (m *Store) signal(to *memTask, sig task.Signal) {
	if to == nil || to.rec.Status.Final() {
		return
	}
	b, err := sig.Encode()
	if err != nil {
		return // a signal is a few short strings: it always encodes
	}
	m.deliver(to, b, sig.Tag())
}

// void removes the signals tagged tag from t's mailbox.
func (m *Store) void(t *memTask, tag string) {
	t.msgs = slices.DeleteFunc(t.msgs, func(msg message) bool { return msg.tag == tag })
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
		m.void(t, task.Signal{Kind: task.SignalDown, Ref: op.Ref}.Tag())
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

// nameTaken refuses a step that registers a name another task holds.
func (m *Store) nameTaken(s *store.Step) error {
	for _, op := range s.Proc {
		if op.Kind != store.ProcRegister {
			continue
		}
		for id, t := range m.tasks {
			if id != s.ID && t.rec.Name == op.Name {
				return fmt.Errorf("register %q: %w (task %s)", op.Name, store.ErrNameTaken, id)
			}
		}
	}
	return nil
}
