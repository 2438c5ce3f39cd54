package interp

import (
	"fmt"

	"github.com/amberrt/amber/effect"
	"github.com/amberrt/amber/task"
)

// complete records the outcome of p in the journal and resumes the
// machine with it. It always returns true.
func (t *proc) complete(p effect.Pending, v any, err error) bool {
	if t.record || err != nil || len(t.ops) > 0 || t.rare != nil {
		if t.record {
			t.appendEntry(p, v, err)
		}
		return t.resume(p, v, err)
	}
	// The hot path, a message taken or sent by a task that records
	// nothing: resume's work, less what cannot apply.
	t.completed++
	if rerr := t.m.Resume(p.ID, v); rerr != nil {
		_ = t.m.Fail(p.ID, rerr) // a handler's result of the wrong type
	}
	return true
}

// resume resumes the machine with the outcome of p, whose journal entry
// is already recorded. It always returns true.
func (t *proc) resume(p effect.Pending, v any, err error) bool {
	t.completed++
	if len(t.ops) > 0 {
		delete(t.ops, uint32(p.Fiber))
	}
	if t.rare != nil && t.rare.taps != nil {
		t.tapEntry(p, v, err)
	}
	var rerr error
	if err != nil {
		rerr = t.m.Fail(p.ID, err)
	} else {
		rerr = t.m.Resume(p.ID, v)
	}
	if rerr != nil {
		// A handler returned a value of the wrong type: fail the op, and
		// say so in the journal.
		if t.record {
			t.mu.Lock()
			last := t.lastEntry()
			last.Result, last.Err = nil, t.e.cfg.registry.EncodeError(rerr)
			t.mu.Unlock()
		}
		_ = t.m.Fail(p.ID, rerr)
	}
	return true
}

func (t *proc) appendEntry(p effect.Pending, v any, err error) {
	var en task.Entry
	t.fillEntry(&en, p, v, err)
	t.mu.Lock()
	t.appendJournal(&en)
	t.mu.Unlock()
}

// Journal chunks: the first holds minMore entries, each next one twice
// its predecessor's, up to maxMore.
const (
	minMore = 8
	maxMore = 256
)

// appendJournal appends en to t's journal: to journal while it has room,
// to the chunks of more after. t.mu held.
func (t *proc) appendJournal(en *task.Entry) {
	if t.moreLen == 0 && len(t.journal) < cap(t.journal) {
		t.journal = append(t.journal, *en)
		return
	}
	k := len(t.more)
	if k == 0 || len(t.more[k-1]) == cap(t.more[k-1]) {
		size := minMore
		if k > 0 {
			size = min(2*cap(t.more[k-1]), maxMore)
		}
		t.more = append(t.more, make(task.Journal, 0, size))
		k++
	}
	t.more[k-1] = append(t.more[k-1], *en)
	t.moreLen++
}

// journalLen returns the number of entries in t's journal.
func (t *proc) journalLen() int { return len(t.journal) + t.moreLen }

// entries returns a copy of t's journal (nil if it is empty). t.mu held.
func (t *proc) entries() task.Journal { return t.entriesFrom(0) }

// entriesFrom returns a copy of the entries of t's journal from index n
// on (nil if there are none). t.mu held.
func (t *proc) entriesFrom(n int) task.Journal {
	total := t.journalLen()
	if n >= total {
		return nil
	}
	if t.moreLen == 0 {
		return append(task.Journal(nil), t.journal[n:]...)
	}
	out := make(task.Journal, 0, total-n)
	for _, c := range append([]task.Journal{t.journal}, t.more...) {
		if n >= len(c) {
			n -= len(c)
			continue
		}
		out = append(out, c[n:]...)
		n = 0
	}
	return out
}

// lastEntry returns the last entry of t's journal, which is not empty.
// t.mu held.
func (t *proc) lastEntry() *task.Entry {
	if k := len(t.more); k > 0 && len(t.more[k-1]) > 0 {
		c := t.more[k-1]
		return &c[len(c)-1]
	}
	return &t.journal[len(t.journal)-1]
}

// newEntry builds the journal entry that records the outcome of p.
func (t *proc) newEntry(p effect.Pending, v any, err error) task.Entry {
	var en task.Entry
	t.fillEntry(&en, p, v, err)
	return en
}

// fillEntry fills en, a zero Entry, with the outcome of p.
func (t *proc) fillEntry(en *task.Entry, p effect.Pending, v any, err error) {
	kind, data, fp, encErr := t.encoder().EncodeOp(p.Op)
	en.Seq = uint64(t.journalLen() + 1)
	en.Fiber = uint32(p.Fiber)
	en.Kind, en.Fingerprint, en.Op = kind, fp, data
	en.Time = t.e.clock.Now()
	if encErr != nil {
		err = fmt.Errorf("interp: op %T cannot be journaled: %w", p.Op, encErr)
	}
	if err == nil {
		res, mErr := t.encoder().Marshal(v)
		if mErr != nil {
			err = fmt.Errorf("interp: result of %T cannot be journaled: %w", p.Op, mErr)
		} else {
			en.Result = res
		}
	}
	if err != nil {
		en.Err = t.e.cfg.registry.EncodeError(err)
	}
}

// patchKind is the journal kind of a patch marker (effect.Patched).
var patchKind = task.OpKind(effect.PatchOp{})

// oldBranch answers a Patched op false in a task whose journal was
// recorded before the change: no marker is recorded, the journal keeps
// its entries, and the op does not count as completed (the run that made
// the journal did not have it).
func (t *proc) oldBranch(p effect.Pending, patch effect.PatchOp) {
	rs := t.rareState()
	rs.unpatched = append(rs.unpatched, patch.ID)
	delete(t.ops, uint32(p.Fiber))
	_ = t.m.Resume(p.ID, false)
}

// skipMarker passes over the patch marker en, which the program no longer
// asks for (the patch was removed): it stays in the journal and counts as
// completed, as it did in the run that made it.
func (t *proc) skipMarker(en task.Entry) { t.replayed(en) }

// replayed counts the replayed entry en as completed and, when t records,
// keeps it in t's journal.
func (t *proc) replayed(en task.Entry) {
	t.replayPos++
	t.completed++
	if t.record {
		t.mu.Lock()
		if t.journal == nil && t.moreLen == 0 {
			t.journal = make(task.Journal, 0, len(t.replay))
		}
		t.appendJournal(&en)
		t.mu.Unlock()
	}
}

// replayNext feeds the next journal entry to the machine. It reports false
// if the task failed (divergence or a corrupt entry).
func (t *proc) replayNext() bool {
	en := t.replay[t.replayPos]
	var p effect.Pending
	found := false
	for _, q := range t.m.Pending() {
		if uint32(q.Fiber) == en.Fiber {
			p, found = q, true
			break
		}
	}
	if !found {
		if t.skipping() {
			t.replayPos++ // an entry of the swapped call
			return true
		}
		if en.Kind == patchKind {
			t.skipMarker(en) // a patch the program no longer asks for
			return true
		}
		t.fail(&DivergenceError{Task: t.id, Seq: en.Seq, Fiber: en.Fiber, Recorded: render(en.Kind, en.Op),
			Issued: fmt.Sprintf("nothing (fiber %d has no pending op)", en.Fiber)})
		return false
	}
	kind, fp, err := task.OpFingerprint(p.Op)
	if err != nil || fp != en.Fingerprint || kind != en.Kind {
		if t.skipping() {
			t.replayPos++ // an entry of the swapped call
			return true
		}
		if patch, ok := p.Op.(effect.PatchOp); ok {
			t.oldBranch(p, patch) // recorded before the change
			return true
		}
		if en.Kind == patchKind {
			t.skipMarker(en)
			return true
		}
		_, data, _, _ := task.EncodeOp(p.Op)
		issued := render(kind, data)
		if err != nil {
			issued = fmt.Sprintf("%T (cannot encode: %v)", p.Op, err)
		}
		t.fail(&DivergenceError{Task: t.id, Seq: en.Seq, Fiber: en.Fiber, Recorded: render(en.Kind, en.Op), Issued: issued})
		return false
	}
	if t.rare != nil {
		t.rare.skipping = false
	}
	t.replayed(en)
	if op, ok := p.Op.(RouteOp); ok && en.Err == nil && t.e.cfg.swaps != nil {
		if swapped, err := t.replayRoute(p, op, en); swapped {
			if err != nil {
				t.fail(fmt.Errorf("task %s: journal entry %d: swapping %s: %w", t.id, en.Seq, op.Function, err))
				return false
			}
			return true
		}
	}
	if en.Err != nil {
		_ = t.m.Fail(p.ID, t.e.cfg.registry.DecodeError(en.Err))
		return true
	}
	if t.decodeResult == nil {
		t.decodeResult = func(ptr any) error { return task.Unmarshal(t.replayData, ptr) }
	}
	t.replayData = en.Result
	err = t.m.ResumeDecode(p.ID, t.decodeResult)
	t.replayData = nil
	if err != nil {
		t.fail(fmt.Errorf("task %s: journal entry %d (%s): cannot decode result: %w", t.id, en.Seq, en.Kind, err))
		return false
	}
	return true
}

// render shows an op readably: its kind and its fields.
func render(kind string, data []byte) string { return kind + " " + task.Render(data) }
