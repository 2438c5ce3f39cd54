package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

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
	// The parameters of the step's fencing update (see fenceQuery),
	// made on the caller's goroutine, so that the writer converts no
	// value to an interface (an allocation each): its variant, without
	// fenceSameStatus, fenceReady and fenceNoProc; the parameters up to
	// the ready number (status first), and those after it.
	fv         fenceVariant
	fhead      []any
	ftail      []any
	final      bool
	makeReady  bool // the update makes the task ready (fenceReady)
	journalArg []journalRow
}

// encodeStep encodes s, the step-th step of its Commit.
func encodeStep(s *store.Step, step int) (*encodedStep, error) {
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
	if s.ID != "" {
		// The parameters all share one array.
		args := e.fenceArgs(make([]any, 0, 16+4*len(e.entries)))
		id := e.ftail[0]
		e.journalArg = make([]journalRow, len(e.entries))
		for i, b := range e.entries {
			n := len(args)
			args = append(args, id, int64(s.Append[i].Seq), b, int64(task.Checksum(b)))
			e.journalArg[i] = journalRow{step: step, args: args[n:len(args):len(args)]}
		}
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
		if enc[i], err = encodeStep(&steps[i], i); err != nil {
			errs[i] = commitError(&steps[i], err)
		}
	}
	faulted := make([]bool, len(steps))
	err := s.submit(ctx, func(w *wtx) (refused, err error) {
		w.journal, w.journalFault = w.journal[:0], -1
		faulty := func(i int, err error) (refused, fail error) {
			if !fault(err) {
				return nil, err // the whole transaction fails
			}
			// The step's own write failed: it is refused, and the
			// transaction runs again without it. (A journal row that
			// failed may be an earlier step's.)
			if w.journalFault >= 0 {
				i, err = w.journalFault, commitError(enc[w.journalFault].Step, err)
			}
			if i < 0 {
				return nil, err // no step to blame: the whole transaction fails
			}
			faulted[i], errs[i] = true, err
			return nil, errRerun
		}
		for i, e := range enc {
			if e == nil || faulted[i] {
				continue
			}
			refused, err := w.commitStep(e)
			if err != nil {
				return faulty(i, err)
			}
			errs[i] = refused
		}
		if err := w.flushJournal(); err != nil {
			return faulty(-1, err)
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// commitStep applies one step of a Commit. refused is the step's own failure (a lost
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
	final := e.final
	// The update is the fence: it applies only if the step's lease and
	// version are the task's, and its entries continue the journal.
	v := e.fv
	args := append(w.fargs[:0], e.fhead...)
	if e.makeReady {
		v |= fenceReady
		args = append(args, w.nextReady())
	}
	args = append(args, e.ftail...)
	w.fargs = args
	defer clear(args[:cap(args)])
	// A final step's update returns whether the task has process state
	// for exit to release.
	var proc bool
	// The writer may know the task's rowid (Store.rowHint): then the
	// update tries first to find the row by it, not through the index on
	// id, checking the id all the same.
	rowid, head := w.s.rowHint[e.ID], len(args)-len(e.ftail)
	if final {
		// Most tasks have none: then the update needs no RETURNING (which
		// costs SQLite a table of its own for the rows).
		n := int64(0)
		var err error
		if rowid != nil {
			n, err = w.fence(v|fenceNoProc|fenceRowid, w.rowidArgs(args, head, rowid, false))
			clear(w.rargs)
			delete(w.s.rowHint, e.ID)
			if err != nil {
				return nil, where(err)
			}
		}
		if n == 0 {
			if n, err = w.fence(v|fenceNoProc, args); err != nil {
				return nil, where(err)
			}
		}
		if n == 0 {
			err = w.scan(w.s.fenceQuery(v), args, &proc)
		}
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return w.fenceRefused(e, where)
		case err != nil:
			return nil, where(err)
		}
	} else {
		n := int64(0)
		// The task most likely has this status already (it had when it
		// last stepped): leave the column, and its index, alone, if so.
		same := w.s.statusHint[e.ID] == e.Status
		if rowid != nil {
			vr := v | fenceRowid
			if same {
				vr |= fenceSameStatus
			}
			var err error
			n, err = w.fence(vr, w.rowidArgs(args, head, rowid, same))
			clear(w.rargs)
			if err != nil {
				return nil, where(err)
			} else if n == 0 {
				delete(w.s.rowHint, e.ID)
			}
		}
		if n == 0 && same {
			var err error
			if n, err = w.fence(v|fenceSameStatus, append(args[1:], e.fhead[0])); err != nil {
				return nil, where(err)
			}
		}
		if n == 0 {
			var err error
			if n, err = w.fence(v, args); err != nil {
				return nil, where(err)
			} else if n == 0 {
				return w.fenceRefused(e, where)
			}
		}
		w.statuses = append(w.statuses, taskStatus{e.ID, e.Status})
	}
	if e.Restart != nil {
		// The rows still to insert may be this task's, of a step before.
		if err := w.flushJournal(); err != nil {
			return nil, where(err)
		}
		if _, err := w.exec(`DELETE FROM journal WHERE task_id = ?`, e.ID); err != nil {
			return nil, where(err)
		}
	}
	w.journal = append(w.journal, e.journalArg...)
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
	w.landed++
	return nil, nil
}

// fenceArgs makes the parameters of the step's fencing update (see
// encodedStep). The update sets only the columns the step changes: an
// indexed column in the SET list costs an index update even when its
// value stays. Arguments are int64, not uint64 or int: database/sql
// converts any other type through reflection.
func (e *encodedStep) fenceArgs(buf []any) []any {
	e.final = e.Status.Final()
	release := e.final || !e.Keep
	runAt := nanos(e.RunAt)
	if e.final {
		runAt = nil
	}
	args := buf
	v := fenceVariant(0)
	running, kind := attemptRunning(e.Wait) && !e.final, waitKind(e.Wait)
	if e.Reason == "" && e.wait == nil && e.err == nil && runAt == nil && !running && kind == "" {
		// What the end of a task that is done sets: the columns left
		// empty are constants of the statement, not parameters.
		v |= fenceBare
		args = append(args, string(e.Status), []byte(e.Result), int64(e.Token))
	} else if e.Reason == "" && e.Result == nil && e.err == nil {
		// What a step that waits sets: reason, result and err empty
		// are constants; and, the most common wait, an activity
		// attempt running, running and wait_kind too.
		v |= fenceQuiet
		args = append(args, string(e.Status), e.wait, runAt, int64(e.Token))
		if running && kind == task.WaitActivity {
			v |= fenceActivity
		} else {
			args = append(args, running, kind)
		}
	} else {
		args = append(args, string(e.Status), e.Reason, e.wait, []byte(e.Result), e.err, runAt, int64(e.Token), running, kind)
	}
	if e.Restart != nil {
		v |= fenceRestart
		args = append(args, int64(len(e.entries)), raw(e.Restart.Input))
	} else {
		args = append(args, int64(len(e.entries)))
	}
	if release {
		v |= fenceRelease
	}
	switch {
	case e.final:
		v |= fenceUnready
	case e.Status == task.Running && release:
		e.makeReady = true // with the writer's ready number
	}
	head := len(args)
	args = append(args, e.ID, e.Owner, int64(e.Epoch), int64(e.Steps))
	if e.Restart == nil && len(e.Append) > 0 {
		v |= fenceEntries
		args = append(args, int64(e.Append[0].Seq)-1)
	}
	e.fv, e.fhead, e.ftail = v, args[:head:head], args[head:len(args):len(args)]
	return args
}

// fenceVariant selects the form of the fencing update of a step.
type fenceVariant uint16

const (
	fenceRestart    fenceVariant = 1 << iota // the journal starts over, with a new input
	fenceRelease                             // the lease is released
	fenceReady                               // the task is made ready
	fenceUnready                             // the task is made not ready (it finished)
	fenceEntries                             // the entries must continue the journal
	fenceSameStatus                          // the status stays (the first parameter moves to the end)
	fenceNoProc                              // with fenceUnready: only if the task has no process state, returning nothing
	fenceBare                                // reason, wait, err, run_at, running and wait_kind are empty: no parameters
	fenceQuiet                               // reason, result and err are empty: no parameters
	fenceActivity                            // with fenceQuiet: an activity attempt runs (running, wait_kind: no parameters)
	fenceRowid                               // the task is found by its rowid (the first WHERE parameter), its id checked
	fenceVariants
)

// fenceQuery returns the fencing update of variant v. Its parameters are
// status, reason, wait, result, err, run_at, token, running, wait_kind
// (with fenceBare, only status, result and token; with fenceQuiet,
// status, wait, run_at, token, running and wait_kind, the last two left
// out with fenceActivity), the number of entries
// (and
// the new input, for a restart), the ready number (fenceReady), id, owner,
// epoch, version (after the rowid, with fenceRowid), and the number of
// entries expected (fenceEntries). The
// update of a final step (fenceUnready) returns the task's proc flag, or,
// with fenceNoProc, applies only to a task without process state.
func (s *Store) fenceQuery(v fenceVariant) string {
	if q := s.fenceQueries[v]; q != "" {
		return q
	}
	// It leaves updated alone: the claim set it (an indexed column set
	// at every step would cost an index update at every step).
	var q string
	switch {
	case v&fenceActivity != 0:
		q = `UPDATE tasks SET status = ?, reason = '', wait = ?, result = NULL, err = NULL, run_at = ?, token = ?,
			running = 1, wait_kind = '` + task.WaitActivity + `', steps = steps + 1`
	case v&fenceQuiet != 0:
		q = `UPDATE tasks SET status = ?, reason = '', wait = ?, result = NULL, err = NULL, run_at = ?, token = ?,
			running = ?, wait_kind = ?, steps = steps + 1`
	case v&fenceBare != 0:
		q = `UPDATE tasks SET status = ?, reason = '', wait = NULL, result = ?, err = NULL, run_at = NULL, token = ?,
			running = 0, wait_kind = '', steps = steps + 1`
	default:
		q = `UPDATE tasks SET status = ?, reason = ?, wait = ?, result = ?, err = ?, run_at = ?, token = ?, running = ?,
		wait_kind = ?, steps = steps + 1`
	}
	if v&fenceSameStatus != 0 {
		q = strings.Replace(q, `status = ?, `, ``, 1)
	}
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
	q += ` WHERE`
	if v&fenceRowid != 0 {
		q += ` rowid = ? AND`
	}
	q += ` id = ? AND lease_owner = ? AND lease_epoch = ? AND steps = ?`
	if v&fenceEntries != 0 {
		q += ` AND entries = ?`
	}
	if v&fenceSameStatus != 0 {
		q += ` AND status = ?`
	}
	switch {
	case v&fenceNoProc != 0:
		q += ` AND proc = 0`
	case v&fenceUnready != 0:
		q += ` RETURNING proc` // a final step: see exit
	}
	s.fenceQueries[v] = q
	return q
}

// fence runs the fencing update of variant v, one that returns nothing (not
// a final step's, unless with fenceNoProc), and returns the number of rows it
// changed: 1, or 0 if it does not apply.
func (w *wtx) fence(v fenceVariant, args []any) (int64, error) {
	res, err := w.exec(w.s.fenceQuery(v), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// rowidArgs returns the parameters of the form of a fencing update that
// finds the task by its rowid (fenceRowid): args, the parameters of the
// form by id, whose WHERE parameters start at head, with rowid before
// those, and, with same, their first (the status) moved to the end
// (fenceSameStatus). They are in w.rargs, to clear after use.
func (w *wtx) rowidArgs(args []any, head int, rowid any, same bool) []any {
	start := 0
	if same {
		start = 1
	}
	r := append(w.rargs[:0], args[start:head]...)
	r = append(r, rowid)
	r = append(r, args[head:]...)
	if same {
		r = append(r, args[0])
	}
	w.rargs = r
	return r
}

// hintRowid records that task id has rowid (see Store.rowHint).
func (w *wtx) hintRowid(id string, rowid int64) {
	if len(w.s.rowHint) >= maxStatusHints {
		clear(w.s.rowHint)
	}
	w.s.rowHint[id] = rowid
}

// taskStatus is the status a step gave its task (see Store.statusHint).
type taskStatus struct {
	id     string
	status task.Status
}

// maxStatusHints bounds Store.statusHint: past it, it starts over.
const maxStatusHints = 1 << 14

// hintStatuses records the statuses that the steps of the transaction that
// just committed gave their tasks (w.statuses), in Store.statusHint.
func (w *wtx) hintStatuses() {
	h := w.s.statusHint
	if len(h)+len(w.statuses) > maxStatusHints {
		clear(h)
	}
	for _, t := range w.statuses {
		if t.status.Final() {
			delete(h, t.id)
		} else {
			h[t.id] = t.status
		}
	}
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

// A journalRow is a journal entry of a step of a Commit, to insert with
// the others of the Commit (flushJournal).
type journalRow struct {
	step int   // the index of the step in the Commit
	args []any // task_id, seq, entry and sum
}

// journalChunks are the numbers of rows that one INSERT of flushJournal
// (or insertTasks) writes, largest first: a statement per size, prepared
// once. Powers of two: n rows take at most log2(64)+1 statements (and
// the ~12 rows of a typical batch 2 or 3, not 3 to 5 as with 64, 16, 4,
// 1).
var journalChunks = [...]int{64, 32, 16, 8, 4, 2, 1}

// chunkIndex returns the index in journalChunks of the largest chunk of
// at most n (n > 0) rows.
func chunkIndex(n int) int {
	k := 0
	for journalChunks[k] > n {
		k++
	}
	return k
}

// journalInserts insert as many journal rows as the element of
// journalChunks of the same index (insertJournal).
var journalInserts = func() (qs [len(journalChunks)]string) {
	for k, n := range journalChunks {
		qs[k] = `INSERT INTO journal (task_id, seq, entry, sum) VALUES (?, ?, ?, ?)` + strings.Repeat(`, (?, ?, ?, ?)`, n-1)
	}
	return qs
}()

// flushJournal inserts the journal rows of w.journal, several per
// statement, and empties it. If a row fails by its own fault (see
// fault), w.journalFault is the index of its step in the Commit, and
// the rows are left for the Commit, which runs again without the step.
func (w *wtx) flushJournal() error {
	w.journalFault = -1
	rows := w.journal
	for len(rows) > 0 {
		n := journalChunks[chunkIndex(len(rows))]
		if err := w.insertJournal(rows[:n]); err != nil {
			if !fault(err) {
				return err
			}
			// One of them is at fault: the statement wrote none of
			// them. Find which, one by one.
			for _, r := range rows[:n] {
				if err := w.insertJournal([]journalRow{r}); err != nil {
					if fault(err) {
						w.journalFault = r.step
					}
					return err
				}
			}
		}
		rows = rows[n:]
	}
	w.journal = w.journal[:0]
	return nil
}

// insertJournal inserts rows (as many as an element of journalChunks) in
// one statement.
func (w *wtx) insertJournal(rows []journalRow) error {
	q := journalInserts[chunkIndex(len(rows))]
	args := w.args[:0]
	for i := range rows {
		args = append(args, rows[i].args...)
	}
	w.args = args
	_, err := w.exec(q, args...)
	clear(args)
	return err
}
