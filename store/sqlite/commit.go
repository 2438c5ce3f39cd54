package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// encodedStep is a step made ready for the writer.
type encodedStep struct {
	*store.Step
	entries [][]byte
	wait    []byte
	err     []byte
	sends   [][]byte
	spawns  []*encodedRecord
}

func encodeStep(s *store.Step) (*encodedStep, error) {
	if !s.Status.Known() {
		return nil, fmt.Errorf("unknown status %q", s.Status)
	}
	e := &encodedStep{Step: s}
	var err error
	if e.entries, err = encodeEntries(s.Append); err != nil {
		return nil, err
	}
	if e.wait, err = marshalPtr(s.Wait); err != nil {
		return nil, err
	}
	if e.err, err = marshalPtr(s.Err); err != nil {
		return nil, err
	}
	for _, o := range s.Sends {
		b, err := task.Marshal(o.Env)
		if err != nil {
			return nil, fmt.Errorf("send to %s: %w", o.To, err)
		}
		e.sends = append(e.sends, b)
	}
	for _, r := range s.Spawns {
		er, err := encodeRecord(r)
		if err != nil {
			return nil, fmt.Errorf("spawn %s: %w", r.ID, err)
		}
		e.spawns = append(e.spawns, er)
	}
	return e, nil
}

// Commit implements store.Store. The steps go to the writer together and
// commit in the same transaction as other callers' writes.
func (s *Store) Commit(ctx context.Context, steps []store.Step) ([]error, error) {
	errs := make([]error, len(steps))
	enc := make([]*encodedStep, len(steps))
	for i := range steps {
		var err error
		if enc[i], err = encodeStep(&steps[i]); err != nil {
			errs[i] = fmt.Errorf("sqlite: commit %s at version %d: %w", steps[i].ID, steps[i].Version, err)
		}
	}
	err := s.submit(ctx, func(w *wtx) error {
		for i, e := range enc {
			if e == nil {
				continue
			}
			errs[i] = nil
			var dberr error
			serr := w.savepoint(func() error {
				refused, err := w.commitStep(e)
				if err != nil {
					dberr = err
					return err
				}
				return refused
			})
			if dberr != nil {
				return dberr // the whole request fails, and nothing of it remains
			}
			errs[i] = serr
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// commitStep applies one step. refused is the step's own failure (a lost
// lease, entries that do not continue the journal, a spawn of an existing
// ID); err is the database's.
func (w *wtx) commitStep(e *encodedStep) (refused, err error) {
	where := func(err error) error {
		return fmt.Errorf("sqlite: commit %s at version %d: %w", e.ID, e.Version, err)
	}
	var (
		owner        string
		epoch, steps uint64
		entries      uint64
		status       string
	)
	err = w.queryRow(`SELECT lease_owner, lease_epoch, steps, entries, status FROM tasks WHERE id = ?`, e.ID).
		Scan(&owner, &epoch, &steps, &entries, &status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return where(fmt.Errorf("%w: no such task", store.ErrLeaseLost)), nil
	case err != nil:
		return nil, where(err)
	case owner != e.Owner || epoch != e.Epoch:
		return where(fmt.Errorf("%w: held by %q at epoch %d, not %q at epoch %d", store.ErrLeaseLost, owner, epoch, e.Owner, e.Epoch)), nil
	case steps != e.Version:
		return where(fmt.Errorf("%w: the task is at version %d", store.ErrLeaseLost, steps)), nil
	}
	for i, en := range e.Append {
		if want := entries + uint64(i) + 1; en.Seq != want {
			return where(fmt.Errorf("entry #%d does not continue the journal: want #%d", en.Seq, want)), nil
		}
	}
	for i, b := range e.entries {
		if _, err := w.exec(`INSERT INTO journal (task_id, seq, entry) VALUES (?, ?, ?)`, e.ID, e.Append[i].Seq, b); err != nil {
			return nil, where(err)
		}
	}
	for _, seq := range e.Consumed {
		if _, err := w.exec(`DELETE FROM mailbox WHERE task_id = ? AND seq = ?`, e.ID, seq); err != nil {
			return nil, where(err)
		}
	}
	final := e.Status.Final()
	release := final || !e.Keep
	readyMode, runAt := 0, nanos(e.RunAt) // 0: leave ready as it is
	switch {
	case final:
		readyMode, runAt = 2, nil
	case e.Status == task.Running && release:
		readyMode = 1
	}
	leaseOwner := e.Owner
	if release {
		leaseOwner = ""
	}
	_, err = w.exec(`UPDATE tasks SET status = ?, reason = ?, wait = ?, result = ?, err = ?, run_at = ?,
		steps = steps + 1, entries = entries + ?, updated = lease_at,
		lease_owner = ?, lease_until = CASE WHEN ? = '' THEN 0 ELSE lease_until END,
		ready = CASE ? WHEN 0 THEN ready WHEN 1 THEN COALESCE(ready, ?) ELSE NULL END
		WHERE id = ?`,
		string(e.Status), e.Reason, e.wait, []byte(e.Result), e.err, runAt,
		len(e.entries), leaseOwner, leaseOwner, readyMode, w.nextReady(), e.ID)
	if err != nil {
		return nil, where(err)
	}
	for i, o := range e.Sends {
		// A message to an unknown or finished task is dropped, as the live
		// interpreter drops it.
		if _, err := w.deliver(o.To, e.sends[i]); err != nil {
			return nil, where(err)
		}
	}
	for _, r := range e.spawns {
		if err := w.insertTask(r); err != nil {
			if errors.Is(err, store.ErrExists) {
				return where(err), nil
			}
			return nil, where(err)
		}
	}
	for _, v := range e.World {
		if _, err := w.exec(`INSERT INTO world (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, v.Name, nonNil(v.Value)); err != nil {
			return nil, where(err)
		}
	}
	return nil, nil
}

// nonNil keeps an empty value from being stored as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
