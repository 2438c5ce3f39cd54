package memstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// journal decodes t's journal, checking each entry's checksum.
func (t *memTask) decodeJournal() (task.Journal, error) {
	var j task.Journal
	for i, b := range t.journal {
		row := fmt.Sprintf("journal seq %d", i+1)
		if err := task.VerifyChecksum(b.data, b.sum); err != nil {
			return nil, &store.CorruptError{Task: t.rec.ID, Row: row, Err: err, Data: bytes.Clone(b.data)}
		}
		e, err := task.DecodeEntry(b.data)
		if err != nil {
			return nil, &store.CorruptError{Task: t.rec.ID, Row: row, Err: err, Data: bytes.Clone(b.data)}
		}
		j = append(j, e)
	}
	return j, nil
}

// messages decodes t's messages after sequence number after.
func (t *memTask) messages(after uint64) ([]store.Message, error) {
	var ms []store.Message
	for _, msg := range t.msgs {
		if msg.seq <= after {
			continue
		}
		row := fmt.Sprintf("mailbox seq %d", msg.seq)
		if err := task.VerifyChecksum(msg.data, msg.sum); err != nil {
			return nil, &store.CorruptError{Task: t.rec.ID, Row: row, Err: err, Data: bytes.Clone(msg.data)}
		}
		env, err := task.DecodeEnvelope(msg.data)
		if err != nil {
			return nil, &store.CorruptError{Task: t.rec.ID, Row: row, Err: err, Data: bytes.Clone(msg.data)}
		}
		ms = append(ms, store.Message{Seq: msg.seq, Env: env})
	}
	return ms, nil
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
	r.Input, r.Result = slices.Clone(r.Input), slices.Clone(r.Result)
	r.RunAt = t.runAt
	r.Migrations = slices.Clone(r.Migrations)
	var err error
	if r.Journal, err = t.decodeJournal(); err != nil {
		return nil, nil, err
	}
	ms, err := t.messages(0)
	if err != nil {
		return nil, nil, err
	}
	return &r, ms, nil
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
	return t.messages(after)
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

// List implements store.Store.
func (m *Store) List(ctx context.Context, f store.Filter) ([]store.Summary, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []store.Summary
	for _, t := range m.tasks {
		if s := t.summary(); f.Match(&s) && after(f, &s) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b store.Summary) int {
		if f.Order == store.ByUpdated {
			if c := b.Updated.Compare(a.Updated); c != 0 {
				return c
			}
			return cmp.Compare(b.ID, a.ID)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// after reports whether s comes after f.After in f's order.
func after(f store.Filter, s *store.Summary) bool {
	a := f.After
	switch {
	case a == store.Cursor{}:
		return true
	case f.Order == store.ByUpdated:
		return s.Updated.Before(a.Updated) || s.Updated.Equal(a.Updated) && s.ID < a.ID
	}
	return s.ID > a.ID
}

// Counts implements store.Store.
func (m *Store) Counts(ctx context.Context, f store.Filter) (map[task.Status]int, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	counts := map[task.Status]int{}
	for _, t := range m.tasks {
		if s := t.summary(); f.Match(&s) {
			counts[s.Status]++
		}
	}
	return counts, nil
}

func (t *memTask) summary() store.Summary {
	return store.Summary{ID: t.rec.ID, Program: t.rec.Program, Version: t.rec.Version,
		Status: t.rec.Status, Reason: t.rec.Reason, Wait: t.rec.Wait, Steps: t.steps, Runs: t.rec.Runs,
		Entries: len(t.journal), Pending: len(t.msgs), RunAt: t.runAt, Created: t.rec.Created, Updated: t.rec.Updated}
}
