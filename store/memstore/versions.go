package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// versions is what the store keeps about versions: the stored current
// versions, the retired ones, the change log and the workers' heartbeats.
type versions struct {
	current map[string]int
	retired map[task.ProgramVersion]bool
	changes []store.Change
	workers map[string]store.WorkerInfo
}

// logChange appends a change; m.mu is held.
func (m *Store) logChange(kind, program string, version int, data any) {
	c := store.Change{Seq: uint64(len(m.v.changes)) + 1, At: time.Now().UTC(), Kind: kind, Program: program, Version: version}
	if data != nil {
		c.Data, _ = json.Marshal(data)
	}
	m.v.changes = append(m.v.changes, c)
}

// SetCurrent implements store.Store.
func (m *Store) SetCurrent(ctx context.Context, program string, version int) error {
	if err := store.CheckVersion(program, version); err != nil {
		return err
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.v.retired[task.ProgramVersion{Program: program, Version: version}] {
		return fmt.Errorf("memstore: set current %s v%d: %w", program, version, store.ErrRetired)
	}
	if m.v.current == nil {
		m.v.current = map[string]int{}
	}
	m.v.current[program] = version
	m.logChange(store.ChangeSetCurrent, program, version, nil)
	return nil
}

// Current implements store.Store.
func (m *Store) Current(ctx context.Context) (map[string]int, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make(map[string]int, len(m.v.current))
	for p, v := range m.v.current {
		out[p] = v
	}
	return out, nil
}

// inFlight counts the unfinished tasks of a version; m.mu is held.
func (m *Store) inFlight(program string, version int) int {
	n := 0
	for _, t := range m.tasks {
		if t.rec.Program == program && t.rec.Version == version && !t.rec.Status.Final() {
			n++
		}
	}
	return n
}

// Retire implements store.Store.
func (m *Store) Retire(ctx context.Context, program string, version int, force bool) error {
	if err := store.CheckVersion(program, version); err != nil {
		return err
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if v, ok := m.v.current[program]; ok && v == version {
		return fmt.Errorf("memstore: retire %s v%d: %w (set another current version first)", program, version, store.ErrIsCurrent)
	}
	n := m.inFlight(program, version)
	if n > 0 && !force {
		return fmt.Errorf("memstore: retire %s v%d: %w (%d)", program, version, store.ErrInFlight, n)
	}
	if m.v.retired == nil {
		m.v.retired = map[task.ProgramVersion]bool{}
	}
	m.v.retired[task.ProgramVersion{Program: program, Version: version}] = true
	var data any
	if n > 0 {
		data = store.ChangeRetireData{Force: true, InFlight: n}
	}
	m.logChange(store.ChangeRetire, program, version, data)
	return nil
}

// Changes implements store.Store.
func (m *Store) Changes(ctx context.Context, since uint64) ([]store.Change, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if since >= uint64(len(m.v.changes)) {
		return nil, nil
	}
	return slices.Clone(m.v.changes[since:]), nil
}

// Heartbeat implements store.Store.
func (m *Store) Heartbeat(ctx context.Context, w store.WorkerInfo) error {
	if w.ID == "" {
		return fmt.Errorf("memstore: heartbeat without a worker ID")
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.v.workers == nil {
		m.v.workers = map[string]store.WorkerInfo{}
	}
	w.Versions = slices.Clone(w.Versions)
	m.v.workers[w.ID] = w
	return nil
}

// Workers implements store.Store.
func (m *Store) Workers(ctx context.Context) ([]store.WorkerInfo, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make([]store.WorkerInfo, 0, len(m.v.workers))
	for _, w := range m.v.workers {
		w.Versions = slices.Clone(w.Versions)
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b store.WorkerInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Versions implements store.Store.
func (m *Store) Versions(ctx context.Context, program string) ([]store.VersionInfo, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	type key struct {
		pv     task.ProgramVersion
		status task.Status
	}
	counts := map[key]*store.VersionCount{}
	for _, t := range m.tasks {
		if program != "" && t.rec.Program != program {
			continue
		}
		k := key{task.ProgramVersion{Program: t.rec.Program, Version: t.rec.Version}, t.rec.Status}
		c := counts[k]
		if c == nil {
			c = &store.VersionCount{Program: t.rec.Program, Version: t.rec.Version, Status: t.rec.Status, Oldest: t.rec.ID, Created: t.rec.Created}
			counts[k] = c
		}
		c.Count++
		if t.rec.Created.Before(c.Created) || t.rec.Created.Equal(c.Created) && t.rec.ID < c.Oldest {
			c.Oldest, c.Created = t.rec.ID, t.rec.Created
		}
	}
	var cs []store.VersionCount
	for _, c := range counts {
		cs = append(cs, *c)
	}
	var retired []task.ProgramVersion
	for pv := range m.v.retired {
		retired = append(retired, pv)
	}
	var workers []store.WorkerInfo
	for _, w := range m.v.workers {
		workers = append(workers, w)
	}
	return store.MakeVersions(program, cs, m.v.current, retired, workers, time.Now()), nil
}

// Migrate implements store.Store.
func (m *Store) Migrate(ctx context.Context, r store.Repin) error {
	if r.To < 0 {
		return fmt.Errorf("memstore: migrate %s: negative version %d", r.ID, r.To)
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	t := m.tasks[r.ID]
	switch {
	case t == nil:
		return fmt.Errorf("memstore: migrate %s: %w", r.ID, store.ErrNotFound)
	case t.rec.Status.Final():
		return fmt.Errorf("memstore: migrate %s: %w", r.ID, store.ErrFinished)
	case t.owner != r.Owner || t.epoch != r.Epoch || t.steps != r.Steps:
		return fmt.Errorf("memstore: migrate %s: %w", r.ID, store.ErrLeaseLost)
	case t.rec.Version != r.From:
		return fmt.Errorf("memstore: migrate %s: it runs version %d, not %d: %w", r.ID, t.rec.Version, r.From, store.ErrLeaseLost)
	}
	t.rec.Version = r.To
	t.rec.Migrations = append(slices.Clone(t.rec.Migrations), task.Migration{From: r.From, To: r.To, At: r.At})
	t.steps++
	t.owner, t.until = "", time.Time{}
	m.makeReady(t)
	m.logChange(store.ChangeMigrate, t.rec.Program, r.To, store.ChangeMigrateData{Task: r.ID, From: r.From})
	return nil
}

// canRun reports whether a task of rec may be claimed by a worker that
// can run can (none: any).
func canRun(rec *task.Record, can []task.ProgramVersion) bool {
	return len(can) == 0 || slices.Contains(can, task.ProgramVersion{Program: rec.Program, Version: rec.Version})
}
