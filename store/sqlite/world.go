package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/internal/verdict"
)

// The STM world: one row per var, with its version and the world clock of
// the commit that wrote it. The writer validates a step's reads and writes
// against the rows before it writes anything, inside the transaction, so
// nothing can change them in between; a transaction that writes vars takes
// the next clock for all of them.

// worldClockQuery reads the world clock: the clock of the last commit that
// wrote a var.
const worldClockQuery = `SELECT COALESCE(MAX(clock), 0) FROM world`

// worldRow reads var name as committed (Version 0: it does not exist).
func (w *wtx) worldRow(name string) (store.WorldValue, error) {
	v := store.WorldValue{Name: name}
	err := w.scan(`SELECT value, version, clock FROM world WHERE name = ?`, []any{name}, &v.Value, &v.Version, &v.Clock)
	if errors.Is(err, sql.ErrNoRows) {
		return v, nil
	}
	return v, err
}

// stale checks a step's world reads and writes against the rows: refused
// is a *store.StaleError with the current rows of the stale vars.
func (w *wtx) stale(s *store.Step) (refused, err error) {
	se, err := verdict.Stale(s, w.worldRow)
	switch {
	case err != nil:
		return nil, fmt.Errorf("sqlite: world: %w", err)
	case se != nil:
		return se, nil
	}
	return nil, nil
}

// writeWorld stores new versions of world vars, validated by stale, at
// the transaction's clock, with the token of the step's commit.
func (w *wtx) writeWorld(ws []store.WorldWrite, token uint64) error {
	if len(ws) == 0 {
		return nil
	}
	if w.clock == 0 {
		w.clock = w.s.worldClock + 1
	}
	for _, v := range ws {
		if _, err := w.exec(`INSERT INTO world (name, value, version, clock, token) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, version = excluded.version, clock = excluded.clock,
				token = excluded.token`,
			v.Name, nonNil(v.Value), v.Prev+1, w.clock, int64(token)); err != nil {
			return fmt.Errorf("sqlite: world var %s: %w", v.Name, err)
		}
		if !w.s.waited[v.Name] {
			continue
		}
		// Wake the tasks waiting (Retry) on the var that took no step
		// since they began to wait; the var's waits are used up.
		if _, err := w.exec(`UPDATE tasks SET `+makeReady+` FROM world_waits ww
			WHERE ww.name = ? AND tasks.id = ww.task_id AND tasks.steps = ww.steps AND `+notFinal,
			w.nextReady(), v.Name); err != nil {
			return fmt.Errorf("sqlite: waking the waits on world var %s: %w", v.Name, err)
		}
		if _, err := w.exec(`DELETE FROM world_waits WHERE name = ?`, v.Name); err != nil {
			return fmt.Errorf("sqlite: world var %s: %w", v.Name, err)
		}
	}
	return nil
}

// wait records the world waits of step e, whose task now counts
// e.Steps+1 steps (store.Step.WaitWorld); a var no longer at the version
// read makes the task ready at once.
func (w *wtx) wait(e *encodedStep) error {
	for _, r := range e.WaitWorld {
		row, err := w.worldRow(r.Name)
		if err != nil {
			return err
		}
		if row.Version != r.Version {
			if _, err := w.exec(`UPDATE tasks SET `+makeReady+` WHERE id = ?`, w.nextReady(), e.ID); err != nil {
				return err
			}
			continue
		}
		if _, err := w.exec(`INSERT INTO world_waits (name, task_id, steps) VALUES (?, ?, ?)
			ON CONFLICT (name, task_id) DO UPDATE SET steps = excluded.steps`, r.Name, e.ID, int64(e.Steps)+1); err != nil {
			return err
		}
		w.s.waited[r.Name] = true
	}
	return nil
}

// waitedVars reads the names of the world vars that have waits.
func (s *Store) waitedVars() (map[string]bool, error) {
	rows, err := s.wdb.Query(`SELECT DISTINCT name FROM world_waits`)
	if err != nil {
		return nil, err
	}
	names, err := collectStrings(rows)
	if err != nil {
		return nil, err
	}
	waited := make(map[string]bool, len(names))
	for _, n := range names {
		waited[n] = true
	}
	return waited, nil
}

// World implements store.Store.
func (s *Store) World(ctx context.Context) (store.WorldSnapshot, error) {
	return s.WorldSince(ctx, 0)
}

// WorldSince implements store.Store: the clock and the rows are read in
// one read transaction, one snapshot of the file.
func (s *Store) WorldSince(ctx context.Context, clock uint64) (store.WorldSnapshot, error) {
	var snap store.WorldSnapshot
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return snap, fmt.Errorf("sqlite: world: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, worldClockQuery).Scan(&snap.Clock); err != nil {
		return snap, fmt.Errorf("sqlite: world: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT name, value, version, clock FROM world
		WHERE clock > ?1 OR ?1 = 0 ORDER BY name`, clock)
	if err != nil {
		return snap, fmt.Errorf("sqlite: world: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v store.WorldValue
		if err := rows.Scan(&v.Name, &v.Value, &v.Version, &v.Clock); err != nil {
			return snap, fmt.Errorf("sqlite: world: %w", err)
		}
		snap.Vars = append(snap.Vars, v)
	}
	if err := rows.Err(); err != nil {
		return snap, fmt.Errorf("sqlite: world: %w", err)
	}
	return snap, nil
}

// Landed implements store.Store. It reads the rows in one read
// transaction, beside the writer.
func (s *Store) Landed(ctx context.Context, st store.Step) (store.Outcome, error) {
	if st.Token == 0 {
		return 0, fmt.Errorf("sqlite: landed: %w", store.ErrNoToken)
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("sqlite: landed: %w", err)
	}
	defer tx.Rollback()
	if st.ID == "" {
		var qerr error
		o := verdict.LandedWorld(st, func(name string) (uint64, uint64) {
			var version uint64
			var token int64
			err := tx.QueryRowContext(ctx, `SELECT version, token FROM world WHERE name = ?`, name).Scan(&version, &token)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				qerr = err
			}
			return version, uint64(token)
		})
		if qerr != nil {
			return 0, fmt.Errorf("sqlite: landed: %w", qerr)
		}
		return o, nil
	}
	var (
		steps, epoch uint64
		token        int64
		owner        string
	)
	err = tx.QueryRowContext(ctx, `SELECT steps, token, lease_owner, lease_epoch FROM tasks WHERE id = ?`, st.ID).
		Scan(&steps, &token, &owner, &epoch)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("sqlite: landed %s: %w", st.ID, store.ErrNotFound)
	case err != nil:
		return 0, fmt.Errorf("sqlite: landed %s: %w", st.ID, err)
	}
	return verdict.Landed(st, steps, uint64(token), owner, epoch), nil
}
