package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// notFinal is the SQL condition of a task that has not finished.
const notFinal = `status NOT IN ('done', 'failed', 'cancelled')`

// notDone is the condition of the partial index tasks_status (schema
// version 8), written as a term of the queries that use it.
const notDone = `status <> 'done'`

// encodedRecord is a record made ready for the writer: encoding happens in
// the caller's goroutine, so that the writer only writes.
type encodedRecord struct {
	rec     *task.Record
	wait    []byte
	err     []byte
	entries [][]byte
	mailbox [][]byte
}

func encodeRecord(r *task.Record) (*encodedRecord, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	e := &encodedRecord{rec: r}
	var err error
	if e.wait, err = marshalPtr(r.Wait); err != nil {
		return nil, err
	}
	if e.err, err = marshalPtr(r.Err); err != nil {
		return nil, err
	}
	if e.entries, err = encodeEntries(r.Journal); err != nil {
		return nil, err
	}
	for _, env := range r.Mailbox {
		b, err := task.EncodeEnvelope(env)
		if err != nil {
			return nil, err
		}
		e.mailbox = append(e.mailbox, b)
	}
	return e, nil
}

func encodeEntries(es []task.Entry) ([][]byte, error) {
	out := make([][]byte, len(es))
	for i, e := range es {
		b, err := task.EncodeEntry(e)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// attemptRunning reports whether a task's wait records an activity
// attempt running (in the process that ran the step): the column running,
// which a worker that takes the file over after a crash looks for.
func attemptRunning(w *task.Wait) bool {
	return w != nil && slices.ContainsFunc(w.Ops, func(o task.OpState) bool { return o.Phase == task.PhaseRunning })
}

// waitKind is the column wait_kind of a wait.
func waitKind(w *task.Wait) string {
	if w == nil {
		return ""
	}
	return w.Kind
}

// marshalPtr encodes *v, or gives NULL for a nil v.
func marshalPtr[T any](v *T) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return task.Marshal(v)
}

// nanos stores t as unix nanoseconds, the zero time as NULL.
func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, recs ...*task.Record) error {
	enc, err := encodeNew(recs)
	if err != nil || len(enc) == 0 {
		return err
	}
	return s.submit(ctx, func(w *wtx) (refused, err error) { return w.create(enc, nil) })
}

// CreateClaimed implements store.Store: the inserts and the leases are
// one write of the writer.
func (s *Store) CreateClaimed(ctx context.Context, owner string, now time.Time, d time.Duration, recs ...*task.Record) ([]store.Lease, error) {
	if err := s.workerOnly(); err != nil {
		return nil, err
	}
	enc, err := encodeNew(recs)
	if err != nil || len(enc) == 0 {
		return nil, err
	}
	l := &newLease{owner: owner, until: now.Add(d).UnixNano(), at: now.UnixNano()}
	err = s.submit(ctx, func(w *wtx) (refused, err error) { return w.create(enc, l) })
	if err != nil {
		return nil, err
	}
	// Each is inserted leased, as lease would lease it: the first lease of
	// a task that has taken no step.
	ls := make([]store.Lease, len(enc))
	for i, e := range enc {
		ls[i] = store.Lease{ID: e.rec.ID, Epoch: 1}
	}
	return ls, nil
}

// newLease is the lease a task is created with (CreateClaimed): owner,
// and lease_until and lease_at as lease sets them.
type newLease struct {
	owner     string
	until, at int64
}

// encodeNew encodes the records of a Create.
func encodeNew(recs []*task.Record) ([]*encodedRecord, error) {
	enc := make([]*encodedRecord, len(recs))
	seen := make(map[string]bool, len(recs))
	for i, r := range recs {
		var err error
		if enc[i], err = encodeRecord(r); err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w", r.ID, err)
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("sqlite: create %s: %w", r.ID, store.ErrExists)
		}
		seen[r.ID] = true
	}
	return enc, nil
}

// create inserts new tasks, or refuses them all, having written nothing,
// if one exists. With a lease, it inserts them leased (see insertTask).
// Several go in few statements (insertTasks), which check no ID first: a
// statement that meets an ID that exists fails having written none of
// its rows, and create then takes back the rows of the statements before
// it, and says which ID exists.
func (w *wtx) create(enc []*encodedRecord, l *newLease) (refused, err error) {
	if len(enc) == 1 {
		created, err := w.insertTask(enc[0], l)
		switch {
		case err != nil:
			return nil, err
		case !created:
			return fmt.Errorf("sqlite: create %s: %w", enc[0].rec.ID, store.ErrExists), nil
		}
		return nil, nil
	}
	for done := 0; done < len(enc); {
		n := journalChunks[chunkIndex(len(enc)-done)]
		_, err := w.insertTasks(enc[done:done+n], l, false)
		if err == nil {
			done += n
			continue
		}
		if !fault(err) {
			return nil, fmt.Errorf("sqlite: create %s: %w", enc[done].rec.ID, err)
		}
		// Most likely an ID that exists: the rows written so far did
		// not exist before; take them back.
		for _, e := range enc[:done] {
			if _, err := w.exec(`DELETE FROM tasks WHERE id = ?`, e.rec.ID); err != nil {
				return nil, fmt.Errorf("sqlite: create %s: %w", e.rec.ID, err)
			}
		}
		if id, err := w.anyExists(enc); err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w", enc[0].rec.ID, err)
		} else if id != "" {
			return fmt.Errorf("sqlite: create %s: %w", id, store.ErrExists), nil
		}
		return nil, fmt.Errorf("sqlite: create %s: %w", enc[done].rec.ID, err) // the request's own fault
	}
	for _, e := range enc {
		if err := w.insertRows(e); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// insertTasks inserts the rows of new tasks (as many as an element of
// journalChunks) in one statement, in the form they take with lease l,
// with no journal or mailbox rows. The statement fails, having written
// none of them, if one's ID exists; with doNothing, it inserts nothing
// for that task instead (insertTask).
func (w *wtx) insertTasks(enc []*encodedRecord, l *newLease, doNothing bool) (sql.Result, error) {
	form := rowFormOf(enc, l)
	args := w.args[:0]
	for _, e := range enc {
		args = w.taskArgs(args, form, e, l)
	}
	w.args = args
	res, err := w.exec(w.s.taskInsert(form, chunkIndex(len(enc)), doNothing), args...)
	clear(args)
	if err == nil {
		// The rows' rowids, most likely: SQLite gives each row it
		// inserts the largest rowid plus one (a hint: see Store.rowHint).
		if n, _ := res.RowsAffected(); n == int64(len(enc)) {
			last, _ := res.LastInsertId()
			for i, e := range enc {
				w.hintRowid(e.rec.ID, last-int64(len(enc)-1-i))
			}
		}
	}
	return res, err
}

// anyExists returns the ID of one of the tasks of enc that exists, or "".
// It asks for several IDs per query, as a list of parameters (as many as
// an element of journalChunks, so that the writer prepares few forms):
// an ID is bound as it is, whatever its bytes.
func (w *wtx) anyExists(enc []*encodedRecord) (string, error) {
	args := make([]any, 0, journalChunks[chunkIndex(len(enc))])
	for len(enc) > 0 {
		k := chunkIndex(len(enc))
		args = args[:0]
		for _, e := range enc[:journalChunks[k]] {
			args = append(args, e.rec.ID)
		}
		var id string
		err := w.scan(existsQueries[k], args, &id)
		if !errors.Is(err, sql.ErrNoRows) {
			return id, err
		}
		enc = enc[journalChunks[k]:]
	}
	return "", nil
}

// existsQueries select one of as many IDs as the element of journalChunks
// of the same index that exists (anyExists).
var existsQueries = func() (qs [len(journalChunks)]string) {
	for k, n := range journalChunks {
		qs[k] = `SELECT id FROM tasks WHERE id IN (?` + strings.Repeat(`, ?`, n-1) + `) LIMIT 1`
	}
	return qs
}()

// exists reports whether there is a task id.
func (w *wtx) exists(id string) (bool, error) {
	var one int
	err := w.scan(`SELECT 1 FROM tasks WHERE id = ?`, []any{id}, &one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// insertTask inserts a new task, ready unless it has finished. It reports
// false, having written nothing, if the ID exists. With a lease (l not
// nil), the task is inserted as lease would leave it: leased to
// l.owner at epoch 1, updated at l.at, not ready; it saves the update of
// the row, and of three of its indexes, that lease would make at once.
func (w *wtx) insertTask(e *encodedRecord, l *newLease) (bool, error) {
	r := e.rec
	enc := [1]*encodedRecord{e}
	res, err := w.insertTasks(enc[:], l, true)
	if err != nil {
		return false, fmt.Errorf("sqlite: create %s: %w", r.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("sqlite: create %s: %w", r.ID, err)
	} else if n == 0 {
		return false, nil
	}
	return true, w.insertRows(e)
}

// rowForm is the form of the rows of new tasks in an INSERT: the columns
// it sets and the parameters of a row (taskArgs).
type rowForm uint8

const (
	rowReady  rowForm = iota // a task inserted ready, unleased: every column
	rowLeased                // a task inserted leased: every column, and the lease
	// rowFresh is a task inserted leased that has only what a task
	// that starts has (bare): the other columns keep their defaults,
	// and cost no parameters.
	rowFresh
	rowForms
)

// rowFormOf returns the form of the rows of the tasks of enc, inserted
// with lease l (or none).
func rowFormOf(enc []*encodedRecord, l *newLease) rowForm {
	if l == nil {
		return rowReady
	}
	for _, e := range enc {
		if !bare(e) {
			return rowLeased
		}
	}
	return rowFresh
}

// bare reports whether the columns that rowFresh leaves out have their
// defaults in e's row: what a task that starts has.
func bare(e *encodedRecord) bool {
	r := e.rec
	return r.Reason == "" && e.wait == nil && r.Result == nil && e.err == nil && r.Parent == "" && !r.Created.IsZero() &&
		r.RunAt.IsZero() && len(e.entries) == 0 && len(e.mailbox) == 0 && r.Runs == 0
}

// taskInsert returns the INSERT of as many new tasks as
// journalChunks[k], in form; with doNothing, it inserts nothing for a
// task whose ID exists, instead of failing.
func (s *Store) taskInsert(form rowForm, k int, doNothing bool) string {
	c := 0
	if doNothing {
		c = 1
	}
	if q := s.taskInserts[form][k][c]; q != "" {
		return q
	}
	cols := `id, program, program_version, input, status, reason, wait, result, err,
		parent, created, updated, ready, run_at, entries, msg_seq, runs, running, wait_kind`
	row := `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, 0), COALESCE(?, 0), ?, ?, ?, ?, ?, ?, ?`
	switch form {
	case rowLeased:
		cols += `, lease_owner, lease_until, lease_at, lease_epoch`
		row += `, ?, ?, ?, 1`
	case rowFresh:
		cols = `id, program, program_version, input, status, created, updated, lease_owner, lease_until, lease_at, lease_epoch`
		row = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1`
	}
	row += `)`
	q := `INSERT INTO tasks (` + cols + `) VALUES ` + row + strings.Repeat(`, `+row, journalChunks[k]-1)
	if doNothing {
		q += ` ON CONFLICT (id) DO NOTHING`
	}
	s.taskInserts[form][k][c] = q
	return q
}

// taskArgs appends to args the parameters of the row of a new task in
// form (see taskInsert). They are int64, not int: database/sql converts
// an int through reflection.
func (w *wtx) taskArgs(args []any, form rowForm, e *encodedRecord, l *newLease) []any {
	r := e.rec
	if form == rowFresh {
		return append(args, r.ID, r.Program, int64(r.Version), []byte(r.Input), string(r.Status), r.Created.UnixNano(),
			l.at, l.owner, l.until, l.at)
	}
	var ready, runAt any
	if !r.Status.Final() {
		runAt = nanos(r.RunAt)
		if l == nil {
			ready = w.nextReady()
		}
	}
	updated := nanos(r.Updated)
	if r.Updated.IsZero() {
		updated = nanos(r.Created)
	}
	if l != nil {
		updated = l.at
	}
	args = append(args, r.ID, r.Program, int64(r.Version), []byte(r.Input), string(r.Status), r.Reason, e.wait,
		[]byte(r.Result), e.err, r.Parent, nanos(r.Created), updated, ready, runAt, int64(len(e.entries)),
		int64(len(e.mailbox)), int64(r.Runs), attemptRunning(r.Wait), waitKind(r.Wait))
	if l != nil {
		args = append(args, l.owner, l.until, l.at)
	}
	return args
}

// insertRows inserts the journal and mailbox rows of a new task.
func (w *wtx) insertRows(e *encodedRecord) error {
	r := e.rec
	for i, b := range e.entries {
		if _, err := w.exec(`INSERT INTO journal (task_id, seq, entry, sum) VALUES (?, ?, ?, ?)`,
			r.ID, int64(i+1), b, int64(task.Checksum(b))); err != nil {
			return fmt.Errorf("sqlite: create %s: journal: %w", r.ID, err)
		}
	}
	for i, b := range e.mailbox {
		if _, err := w.exec(`INSERT INTO mailbox (task_id, seq, envelope, sum) VALUES (?, ?, ?, ?)`,
			r.ID, int64(i+1), b, int64(task.Checksum(b))); err != nil {
			return fmt.Errorf("sqlite: create %s: mailbox: %w", r.ID, err)
		}
	}
	return nil
}

// leaseQuery leases a task and returns the lease. ClaimID's form (with
// leaseIfFree) leases only an unfinished task that no other owner holds.
const leaseQuery = `UPDATE tasks SET lease_owner = ?1, lease_epoch = lease_epoch + 1, lease_until = ?2, lease_at = ?3, updated = ?3,
	ready = NULL WHERE id = ?4`
const leaseIfFree = ` AND ` + notFinal + ` AND (lease_owner = '' OR lease_owner = ?1 OR lease_until <= ?3)`
const leaseReturning = ` RETURNING lease_epoch, steps, cancel, rowid`

// lease leases task id to owner and returns the lease.
func (w *wtx) lease(id, owner string, now time.Time, d time.Duration) (store.Lease, error) {
	l, err := w.scanLease(leaseQuery+leaseReturning, id, owner, now, d)
	if err != nil {
		return store.Lease{}, fmt.Errorf("sqlite: lease %s: %w", id, err)
	}
	return l, nil
}

// scanLease runs a lease query and reads the lease it returns. The
// counters are read as int64: database/sql reads an integer into a
// uint64 by formatting and parsing it.
func (w *wtx) scanLease(query, id, owner string, now time.Time, d time.Duration) (store.Lease, error) {
	var epoch, steps, rowid int64
	l := store.Lease{ID: id}
	err := w.scan(query, []any{owner, now.Add(d).UnixNano(), now.UnixNano(), id}, &epoch, &steps, &l.Cancel, &rowid)
	l.Epoch, l.Steps = uint64(epoch), uint64(steps)
	if err == nil {
		w.hintRowid(id, rowid)
	}
	return l, err
}

// claimQuery selects the tasks Claim takes: ready ones in the order they
// became ready, then unleased tasks whose timer is due, by RunAt, then
// the tasks whose lease has run out (whatever their RunAt), by the end
// of their lease; each part reads its own partial index (tasks_run_at
// holds no leased task: see schemaRunAtUnleased). Each %s is the filter
// of the versions the claimer can run (claimQueryFor).
const claimQuery = `SELECT id FROM (
	SELECT * FROM (SELECT id, 0 AS class, ready AS k FROM tasks
		WHERE ready IS NOT NULL AND (lease_owner = '' OR lease_until <= ?1)%s ORDER BY ready LIMIT ?2)
	UNION ALL
	SELECT * FROM (SELECT id, 1, run_at FROM tasks
		WHERE run_at <= ?1 AND lease_owner = '' AND ready IS NULL%s ORDER BY run_at LIMIT ?2)
	UNION ALL
	SELECT * FROM (SELECT id, 2, lease_until FROM tasks
		WHERE lease_owner != '' AND lease_until <= ?1 AND ready IS NULL%s
		ORDER BY lease_until LIMIT ?2)
) ORDER BY class, k LIMIT ?2`

// claimProbe reports whether claimQuery may find a task, whatever the
// versions: whether any task is ready, has a timer due, or has a lease
// that has run out, each an index probe. Most claims of a busy worker that
// creates its tasks leased find none; the probe saves them claimQuery,
// whose version filter and union cost SQLite ephemeral tables and a
// sorter (~90 µs of the writer's time a claim, in the one-step workload).
const claimProbe = `SELECT EXISTS (SELECT 1 FROM tasks WHERE ready IS NOT NULL)
	OR EXISTS (SELECT 1 FROM tasks WHERE run_at <= ?1 AND lease_owner = '')
	OR EXISTS (SELECT 1 FROM tasks WHERE lease_owner != '' AND lease_until <= ?1) AS some`

// Claim implements store.Store.
func (s *Store) Claim(ctx context.Context, owner string, max int, now time.Time, d time.Duration, can ...task.ProgramVersion) ([]store.Lease, error) {
	if err := s.workerOnly(); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, nil
	}
	query, args := claimQueryFor(len(can)), claimArgs(now, max, can)
	var ls []store.Lease
	err := s.submit(ctx, func(w *wtx) (refused, err error) {
		ls = ls[:0]
		var some bool
		if err := w.scan(claimProbe, []any{now.UnixNano()}, &some); err != nil {
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		} else if !some {
			return nil, nil
		}
		rows, err := w.query(query, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: claim: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		}
		for _, id := range ids {
			l, err := w.lease(id, owner, now, d)
			if err != nil {
				return nil, err
			}
			ls = append(ls, l)
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return ls, nil
}

// ClaimID implements store.Store.
func (s *Store) ClaimID(ctx context.Context, owner, id string, now time.Time, d time.Duration) (store.Lease, error) {
	if err := s.workerOnly(); err != nil {
		return store.Lease{}, err
	}
	var l store.Lease
	err := s.submit(ctx, func(w *wtx) (refused, err error) {
		l, err = w.scanLease(leaseQuery+leaseIfFree+leaseReturning, id, owner, now, d)
		if !errors.Is(err, sql.ErrNoRows) {
			if err != nil {
				return nil, fmt.Errorf("sqlite: claim %s: %w", id, err)
			}
			return nil, nil
		}
		// Not leased: say why.
		var (
			status, holder string
			until          int64
		)
		err = w.scan(`SELECT status, lease_owner, lease_until FROM tasks WHERE id = ?`, []any{id}, &status, &holder, &until)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: claim %s: %w", id, store.ErrNotFound), nil
		case err != nil:
			return nil, fmt.Errorf("sqlite: claim %s: %w", id, err)
		case task.Status(status).Final():
			return fmt.Errorf("sqlite: claim %s: %w", id, store.ErrFinished), nil
		}
		return fmt.Errorf("sqlite: claim %s: %w (by %s)", id, store.ErrLeased, holder), nil
	})
	return l, err
}

// makeReady is the SQL that makes a task ready, keeping its place if it
// already is.
const makeReady = `ready = COALESCE(ready, ?)`

// Wake implements store.Store.
func (s *Store) Wake(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.submit(ctx, func(w *wtx) (refused, err error) {
		for _, id := range ids {
			if _, err := w.exec(`UPDATE tasks SET `+makeReady+` WHERE id = ? AND `+notFinal, w.nextReady(), id); err != nil {
				return nil, fmt.Errorf("sqlite: wake %s: %w", id, err)
			}
		}
		return nil, nil
	})
}

// Send implements store.Store.
func (s *Store) Send(ctx context.Context, to string, env task.Envelope) error {
	b, err := task.EncodeEnvelope(env)
	if err != nil {
		return fmt.Errorf("sqlite: send to %s: %w", to, err)
	}
	return s.submit(ctx, func(w *wtx) (refused, err error) {
		ok, err := w.deliver(to, b, false)
		if err != nil || ok {
			return nil, err
		}
		return w.whyNot("send to", to)
	})
}

// deliver appends a message to the mailbox of task to and makes it ready.
// It reports false, having written nothing, if there is no such task, or
// if it has finished and toFinished is false. A finished task keeps the
// message but is not ready.
func (w *wtx) deliver(to string, env []byte, toFinished bool) (bool, error) {
	return w.deliverTagged(to, env, toFinished, nil)
}

// deliverTagged is deliver with the mailbox row's tag (an exit signal's, or
// nil).
func (w *wtx) deliverTagged(to string, env []byte, toFinished bool, tag any) (bool, error) {
	q := `UPDATE tasks SET msg_seq = msg_seq + 1, ` + makeReady + ` WHERE id = ? AND ` + notFinal + ` RETURNING msg_seq`
	if toFinished {
		q = `UPDATE tasks SET msg_seq = msg_seq + 1,
			ready = CASE WHEN ` + notFinal + ` THEN COALESCE(ready, ?) ELSE NULL END WHERE id = ? RETURNING msg_seq`
	}
	var seq int64
	err := w.scan(q, []any{w.nextReady(), to}, &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err == nil {
		_, err = w.exec(`INSERT INTO mailbox (task_id, seq, envelope, tag, sum) VALUES (?, ?, ?, ?, ?)`,
			to, seq, env, tag, int64(task.Checksum(env)))
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: send to %s: %w", to, err)
	}
	return true, nil
}

// whyNot explains why task id was not found unfinished: refused is
// ErrNotFound or ErrFinished.
func (w *wtx) whyNot(op, id string) (refused, err error) {
	var status string
	err = w.scan(`SELECT status FROM tasks WHERE id = ?`, []any{id}, &status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: %s %s: %w", op, id, store.ErrNotFound), nil
	case err != nil:
		return nil, fmt.Errorf("sqlite: %s %s: %w", op, id, err)
	}
	return fmt.Errorf("sqlite: %s %s: %w (%s)", op, id, store.ErrFinished, status), nil
}

// Cancel implements store.Store. Cancelling a finished task does nothing.
func (s *Store) Cancel(ctx context.Context, id string) error {
	return s.submit(ctx, func(w *wtx) (refused, err error) {
		res, err := w.exec(`UPDATE tasks SET cancel = 1, `+makeReady+` WHERE id = ? AND `+notFinal, w.nextReady(), id)
		if err != nil {
			return nil, fmt.Errorf("sqlite: cancel %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("sqlite: cancel %s: %w", id, err)
		} else if n > 0 {
			return nil, nil
		}
		refused, err = w.whyNot("cancel", id)
		if errors.Is(refused, store.ErrFinished) {
			refused = nil
		}
		return refused, err
	})
}
