package memstore

import (
	"context"
	"maps"
	"slices"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/internal/verdict"
)

// worldVar is a world var as committed.
type worldVar struct {
	value          []byte
	version, clock uint64
	token          uint64 // of the commit that wrote this version
}

func (m *Store) current(name string) store.WorldValue {
	v := store.WorldValue{Name: name}
	if w := m.world[name]; w != nil {
		v.Value, v.Version, v.Clock = slices.Clone(w.value), w.version, w.clock
	}
	return v
}

// stale refuses a step whose world reads or writes name versions that
// are not the current ones, with the current rows of those vars.
func (m *Store) stale(s *store.Step) error {
	se, _ := verdict.Stale(s, func(name string) (store.WorldValue, error) { return m.current(name), nil })
	if se != nil {
		return se
	}
	return nil
}

// writeWorld applies world writes that passed stale, made by the commit
// of token, at clock tick.
func (m *Store) writeWorld(ws []store.WorldWrite, token, tick uint64) {
	for _, w := range ws {
		m.world[w.Name] = &worldVar{value: slices.Clone(w.Value), version: w.Prev + 1, clock: tick, token: token}
		m.clock = tick
		// Wake the tasks waiting (Retry) on the var, if they took no
		// step since they began to wait.
		for id, steps := range m.waits[w.Name] {
			if t := m.tasks[id]; t != nil && t.steps == steps {
				m.makeReady(t)
			}
		}
		delete(m.waits, w.Name)
	}
}

// wait records the world waits of step s, which task t has just
// committed (see store.Step.WaitWorld); a var no longer at the version
// read makes t ready at once.
func (m *Store) wait(t *memTask, s *store.Step) {
	for _, r := range s.WaitWorld {
		if m.current(r.Name).Version != r.Version {
			m.makeReady(t)
			continue
		}
		if m.waits[r.Name] == nil {
			m.waits[r.Name] = map[string]uint64{}
		}
		m.waits[r.Name][s.ID] = t.steps
	}
}

// notifyWorld tells WorldCommitted's reader the new clock, replacing an
// older one it has not read.
func (m *Store) notifyWorld() {
	for {
		select {
		case m.worldClock <- m.clock:
			return
		default:
		}
		select {
		case <-m.worldClock:
		default:
		}
	}
}

// World implements store.Store.
func (m *Store) World(ctx context.Context) (store.WorldSnapshot, error) {
	return m.WorldSince(ctx, 0)
}

// WorldSince implements store.Store.
func (m *Store) WorldSince(ctx context.Context, clock uint64) (store.WorldSnapshot, error) {
	if err := m.lock(); err != nil {
		return store.WorldSnapshot{}, err
	}
	defer m.mu.Unlock()
	snap := store.WorldSnapshot{Clock: m.clock}
	for _, name := range slices.Sorted(maps.Keys(m.world)) {
		if m.world[name].clock > clock || clock == 0 {
			snap.Vars = append(snap.Vars, m.current(name))
		}
	}
	return snap, nil
}

// WorldCommitted implements store.WorldNotifier.
func (m *Store) WorldCommitted() <-chan uint64 { return m.worldClock }

// WorldClock implements store.WorldNotifier.
func (m *Store) WorldClock(ctx context.Context) (uint64, error) {
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	return m.clock, nil
}
