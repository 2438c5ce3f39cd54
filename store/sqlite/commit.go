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
	if err := s.Check(); err != nil {
		return nil, err
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
		b, err := task.EncodeEnvelope(o.Env)
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
	if err := s.workerOnly(); err != nil {
		return nil, err
	}
	errs := make([]error, len(steps))
	enc := make([]*encodedStep, len(steps))
	for i := range steps {
		var err error
		if enc[i], err = encodeStep(&steps[i]); err != nil {
			errs[i] = commitError(&steps[i], err)
		}
	}
	faulted := make([]bool, len(steps))
	err := s.submit(ctx, func(w *wtx) (refused, err error) {
		for i, e := range enc {
			if e == nil || faulted[i] {
				continue
			}
			refused, err := w.commitStep(e)
			switch {
			case err != nil && fault(err):
				// The step's own write failed: it is refused, and the
				// transaction runs again without it.
				faulted[i], errs[i] = true, err
				return nil, errRerun
			case err != nil:
				return nil, err // the whole transaction fails
			}
			errs[i] = refused
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// commitStep applies one step. refused is the step's own failure (a lost
// lease, entries that do not continue the journal, a spawn of an existing
// ID), found before anything is written so that a refused step needs no
// savepoint to leave no trace; err is the database's.
func (w *wtx) commitStep(e *encodedStep) (refused, err error) {
	where := func(err error) error { return commitError(e.Step, err) }
	if e.ID == "" { // world vars alone, written outside any task
		if refused, err := w.stale(e.Step); err != nil || refused != nil {
			return where(refused), err
		}
		return nil, w.writeWorld(e.World, e.Token)
	}
	if len(e.World) > 0 || len(e.WorldReads) > 0 {
		switch refused, err := w.stale(e.Step); {
		case err != nil:
			return nil, err
		case refused != nil:
			// A step whose lease is lost is refused for that first.
			if lost, err := w.whyRefused(e, where); err != nil || lost != nil {
				return lost, err
			}
			return where(refused), nil
		}
	}
	for _, r := range e.spawns {
		exists, err := w.exists(r.rec.ID)
		switch {
		case err != nil:
			return nil, where(err)
		case exists:
			return where(fmt.Errorf("spawn %s: %w", r.rec.ID, store.ErrExists)), nil
		}
	}
	for _, op := range e.Proc {
		if op.Kind != store.ProcRegister {
			continue
		}
		switch refused, err := w.nameFree(e.ID, op.Name); {
		case err != nil:
			return nil, where(err)
		case refused != nil:
			return where(refused), nil
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
	// The update is the fence: it applies only if the step's lease and
	// version are the task's, and its entries continue the journal. It
	// sets only the columns the step changes: an indexed column in the SET
	// list costs an index update even when its value stays.
	// Arguments are int64, not uint64 or int: database/sql converts any
	// other type through reflection, with an allocation, in the writer.
	args := make([]any, 0, 17)
	args = append(args, string(e.Status), e.Reason, e.wait, []byte(e.Result), e.err, runAt, int64(e.Token),
		attemptRunning(e.Wait) && !final, waitKind(e.Wait))
	v := fenceVariant(0)
	if e.Restart != nil {
		v |= fenceRestart
		args = append(args, int64(len(e.entries)), raw(e.Restart.Input))
	} else {
		args = append(args, int64(len(e.entries)))
	}
	if release {
		v |= fenceRelease
	}
	switch readyMode {
	case 1:
		v |= fenceReady
		args = append(args, w.nextReady())
	case 2:
		v |= fenceUnready
	}
	args = append(args, e.ID, e.Owner, int64(e.Epoch), int64(e.Steps))
	if e.Restart == nil && len(e.Append) > 0 {
		v |= fenceEntries
		args = append(args, int64(e.Append[0].Seq)-1)
	}
	// A final step's update returns whether the task has process state
	// for exit to release.
	var proc bool
	if final {
		err := w.scan(w.s.fenceQuery(v), args, &proc)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return w.fenceRefused(e, where)
		case err != nil:
			return nil, where(err)
		}
	} else if res, err := w.exec(w.s.fenceQuery(v), args...); err != nil {
		return nil, where(err)
	} else if n, err := res.RowsAffected(); err != nil {
		return nil, where(err)
	} else if n == 0 {
		return w.fenceRefused(e, where)
	}
	if e.Restart != nil {
		if _, err := w.exec(`DELETE FROM journal WHERE task_id = ?`, e.ID); err != nil {
			return nil, where(err)
		}
	}
	for i, b := range e.entries {
		if _, err := w.exec(`INSERT INTO journal (task_id, seq, entry, sum) VALUES (?, ?, ?, ?)`,
			e.ID, int64(e.Append[i].Seq), b, int64(task.Checksum(b))); err != nil {
			return nil, where(err)
		}
	}
	for _, seq := range e.Consumed {
		if _, err := w.exec(`DELETE FROM mailbox WHERE task_id = ? AND seq = ?`, e.ID, seq); err != nil {
			return nil, where(err)
		}
	}
	for _, r := range e.spawns {
		if created, err := w.insertTask(r, nil); err != nil || !created {
			if err == nil {
				err = fmt.Errorf("spawn %s: %w", r.rec.ID, store.ErrExists)
			}
			return nil, where(err)
		}
	}
	for i, o := range e.Sends {
		// A message to a finished task is kept in its mailbox; one to an
		// unknown task is dropped (see store.Outgoing).
		if _, err := w.deliver(o.To, e.sends[i], true); err != nil {
			return nil, where(err)
		}
	}
	for _, op := range e.Proc {
		if err := w.applyProc(e.ID, op); err != nil {
			return nil, where(err)
		}
	}
	if proc || final && len(e.Proc) > 0 { // the step's own ops may have given it some
		if err := w.exit(e.ID, e.Exit); err != nil {
			return nil, where(err)
		}
	}
	if !final && len(e.WaitWorld) > 0 {
		if err := w.wait(e); err != nil {
			return nil, where(err)
		}
	}
	if err := w.writeWorld(e.World, e.Token); err != nil {
		return nil, where(err)
	}
	return nil, nil
}

// fenceVariant selects the form of the fencing update of a step.
type fenceVariant uint8

const (
	fenceRestart fenceVariant = 1 << iota // the journal starts over, with a new input
	fenceRelease                          // the lease is released
	fenceReady                            // the task is made ready
	fenceUnready                          // the task is made not ready (it finished)
	fenceEntries                          // the entries must continue the journal
	fenceVariants
)

// fenceQuery returns the fencing update of variant v. Its parameters are
// status, reason, wait, result, err, run_at, token, running, wait_kind,
// the number of entries (and
// the new input, for a restart), the ready number (fenceReady), id, owner,
// epoch, version, and the number of entries expected (fenceEntries). The
// update of a final step (fenceUnready) returns the task's proc flag.
func (s *Store) fenceQuery(v fenceVariant) string {
	if q := s.fenceQueries[v]; q != "" {
		return q
	}
	// It leaves updated alone: the claim set it (an indexed column set
	// at every step would cost an index update at every step).
	q := `UPDATE tasks SET status = ?, reason = ?, wait = ?, result = ?, err = ?, run_at = ?, token = ?, running = ?,
		wait_kind = ?, steps = steps + 1`
	if v&fenceRestart != 0 {
		q += `, entries = ?, input = ?, runs = runs + 1`
	} else {
		q += `, entries = entries + ?`
	}
	if v&fenceRelease != 0 {
		q += `, lease_owner = '', lease_until = 0`
	}
	switch {
	case v&fenceReady != 0:
		q += `, ` + makeReady
	case v&fenceUnready != 0:
		q += `, ready = NULL`
	}
	q += ` WHERE id = ? AND lease_owner = ? AND lease_epoch = ? AND steps = ?`
	if v&fenceEntries != 0 {
		q += ` AND entries = ?`
	}
	if v&fenceUnready != 0 {
		q += ` RETURNING proc` // a final step: see exit
	}
	s.fenceQueries[v] = q
	return q
}

// commitError says which step of a commit failed.
func commitError(s *store.Step, err error) error {
	if s.ID == "" {
		return fmt.Errorf("sqlite: commit of world vars: %w", err)
	}
	return fmt.Errorf("sqlite: commit %s after %d steps: %w", s.ID, s.Steps, err)
}

// fenceRefused explains why the fencing update of step e matched no row.
func (w *wtx) fenceRefused(e *encodedStep, where func(error) error) (refused, err error) {
	refused, err = w.whyRefused(e, where)
	if refused == nil && err == nil {
		err = where(errors.New("the fencing update matched no row, and the task's row matches the step"))
	}
	return refused, err
}

// whyRefused explains why the fencing update of step e matched no row; it
// returns no refusal if the fence would pass.
func (w *wtx) whyRefused(e *encodedStep, where func(error) error) (refused, err error) {
	var (
		owner                 string
		epoch, steps, entries uint64
	)
	err = w.scan(`SELECT lease_owner, lease_epoch, steps, entries FROM tasks WHERE id = ?`, []any{e.ID},
		&owner, &epoch, &steps, &entries)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return where(fmt.Errorf("%w: no such task", store.ErrLeaseLost)), nil
	case err != nil:
		return nil, where(err)
	case owner != e.Owner || epoch != e.Epoch:
		return where(fmt.Errorf("%w: held by %q at epoch %d, not %q at epoch %d", store.ErrLeaseLost, owner, epoch, e.Owner, e.Epoch)), nil
	case steps != e.Steps:
		return where(fmt.Errorf("%w: the task is at step %d", store.ErrLeaseLost, steps)), nil
	case e.Restart == nil && len(e.Append) > 0 && e.Append[0].Seq != entries+1:
		return where(fmt.Errorf("entry #%d does not continue the journal of %d entries: %w",
			e.Append[0].Seq, entries, task.ErrInvalidJournal)), nil
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
