package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// fromNanos reads a time stored by nanos.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid || n.Int64 == 0 {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// unixOrZero is t as stored in a NOT NULL time column: the zero time is 0.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// raw keeps empty blobs as nil, as records have them.
func raw(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// decodePtr decodes an optional column of task id.
func decodePtr[T any](id, column string, b []byte) (*T, error) {
	if len(b) == 0 {
		return nil, nil
	}
	v := new(T)
	if err := task.Unmarshal(b, v); err != nil {
		return nil, &store.CorruptError{Task: id, Row: "tasks." + column, Err: err, Data: b}
	}
	return v, nil
}

// verify checks a stored row's bytes against its checksum; rows written
// before checksums were kept (NULL) are not checked.
func verify(b []byte, sum sql.NullInt64) error {
	if !sum.Valid {
		return nil
	}
	return task.VerifyChecksum(b, uint32(sum.Int64))
}

// decodeMessage checks and decodes a mailbox row.
func decodeMessage(b []byte, sum sql.NullInt64) (task.Envelope, error) {
	if err := verify(b, sum); err != nil {
		return task.Envelope{}, err
	}
	return task.DecodeEnvelope(b)
}

// readStmts are the reads prepared on the read-only pool: database/sql
// prepares each on a connection the first time it runs there, and keeps it.
type readStmts struct {
	loadTask, loadJournal, loadMailbox, messages, status, whereIs *sql.Stmt
}

// The queries of Load, run in one read transaction.
const (
	loadTaskQuery = `SELECT program, program_version, input, status, reason, wait, result, err, parent,
		created, updated, trap, name, runs, run_at, migrations FROM tasks WHERE id = ?`
	loadJournalQuery = `SELECT seq, entry, sum FROM journal WHERE task_id = ? ORDER BY seq`
	loadMailboxQuery = `SELECT seq, envelope, sum FROM mailbox WHERE task_id = ? ORDER BY seq`
)

// messagesQuery reads the messages of a task after a sequence number: no
// row if there is no such task, one row with a NULL seq if it has none.
const messagesQuery = `SELECT m.seq, m.envelope, m.sum FROM tasks t
	LEFT JOIN mailbox m ON m.task_id = t.id AND m.seq > ?2 WHERE t.id = ?1 ORDER BY m.seq`

func (r *readStmts) prepare(db *sql.DB) error {
	for _, p := range []struct {
		st    **sql.Stmt
		query string
	}{
		{&r.loadTask, loadTaskQuery},
		{&r.loadJournal, loadJournalQuery},
		{&r.loadMailbox, loadMailboxQuery},
		{&r.messages, messagesQuery},
		{&r.status, `SELECT status FROM tasks WHERE id = ?`},
		{&r.whereIs, `SELECT id FROM tasks WHERE name = ?`},
	} {
		st, err := db.Prepare(p.query)
		if err != nil {
			return err
		}
		*p.st = st
	}
	return nil
}

func (r *readStmts) close() {
	for _, st := range []*sql.Stmt{r.loadTask, r.loadJournal, r.loadMailbox, r.messages, r.status, r.whereIs} {
		if st != nil {
			st.Close()
		}
	}
}

// decodeTask fills r from the columns of its row.
func decodeTask(r *task.Record, input []byte, status string, wait, result, errb []byte, created, updated sql.NullInt64) error {
	r.Input, r.Result = raw(input), raw(result)
	r.Status = task.Status(status)
	if !r.Status.Known() {
		return &store.CorruptError{Task: r.ID, Row: "tasks.status", Err: fmt.Errorf("%w: unknown status %q", task.ErrCorrupt, status)}
	}
	r.Created, r.Updated = fromNanos(created), fromNanos(updated)
	var err error
	if r.Wait, err = decodePtr[task.Wait](r.ID, "wait", wait); err != nil {
		return err
	}
	if r.Err, err = decodePtr[task.Error](r.ID, "err", errb); err != nil {
		return err
	}
	return nil
}

// Load implements store.Store. The record, its journal and its messages are
// read in one snapshot.
func (s *Store) Load(ctx context.Context, id string) (*task.Record, []store.Message, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: load %s: %w", id, err)
	}
	defer tx.Rollback()
	r := &task.Record{ID: id}
	var (
		status                    string
		input, result, wait, errb []byte
		created, updated, runAt   sql.NullInt64
		migrations                sql.NullString
	)
	err = tx.StmtContext(ctx, s.rstmts.loadTask).QueryRowContext(ctx, id).Scan(&r.Program, &r.Version, &input,
		&status, &r.Reason, &wait, &result, &errb, &r.Parent, &created, &updated, &r.Trap, &r.Name, &r.Runs, &runAt, &migrations)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil, fmt.Errorf("sqlite: load %s: %w", id, store.ErrNotFound)
	case err != nil:
		return nil, nil, fmt.Errorf("sqlite: load %s: %w", id, err)
	}
	if err := decodeTask(r, input, status, wait, result, errb, created, updated); err != nil {
		return nil, nil, err
	}
	r.RunAt = fromNanos(runAt)
	if r.Migrations, err = decodeMigrations(id, migrations); err != nil {
		return nil, nil, err
	}
	if r.Journal, err = loadJournal(ctx, tx.StmtContext(ctx, s.rstmts.loadJournal), id); err != nil {
		return nil, nil, err
	}
	ms, err := loadMailbox(ctx, tx.StmtContext(ctx, s.rstmts.loadMailbox), id)
	if err != nil {
		return nil, nil, err
	}
	return r, ms, nil
}

func loadJournal(ctx context.Context, st *sql.Stmt, id string) (task.Journal, error) {
	rows, err := st.QueryContext(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: load %s: journal: %w", id, err)
	}
	defer rows.Close()
	var j task.Journal
	for rows.Next() {
		var (
			seq uint64
			b   []byte
			sum sql.NullInt64
		)
		if err := rows.Scan(&seq, &b, &sum); err != nil {
			return nil, fmt.Errorf("sqlite: load %s: journal: %w", id, err)
		}
		corrupt := func(err error) error {
			return &store.CorruptError{Task: id, Row: fmt.Sprintf("journal seq %d", seq), Err: err, Data: b}
		}
		if err := verify(b, sum); err != nil {
			return nil, corrupt(err)
		}
		e, err := task.DecodeEntry(b)
		switch {
		case err != nil:
			return nil, corrupt(err)
		case e.Seq != seq:
			return nil, corrupt(fmt.Errorf("the entry says #%d", e.Seq))
		case seq != uint64(len(j))+1:
			return nil, corrupt(fmt.Errorf("the journal skips from #%d", len(j)))
		}
		j = append(j, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: load %s: journal: %w", id, err)
	}
	return j, nil
}

func loadMailbox(ctx context.Context, st *sql.Stmt, id string) ([]store.Message, error) {
	rows, err := st.QueryContext(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: messages of %s: %w", id, err)
	}
	defer rows.Close()
	var ms []store.Message
	for rows.Next() {
		var (
			m   store.Message
			b   []byte
			sum sql.NullInt64
		)
		if err := rows.Scan(&m.Seq, &b, &sum); err != nil {
			return nil, fmt.Errorf("sqlite: messages of %s: %w", id, err)
		}
		var err error
		if m.Env, err = decodeMessage(b, sum); err != nil {
			return nil, &store.CorruptError{Task: id, Row: fmt.Sprintf("mailbox seq %d", m.Seq), Err: err, Data: b}
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: messages of %s: %w", id, err)
	}
	return ms, nil
}

// Messages implements store.Store.
func (s *Store) Messages(ctx context.Context, id string, after uint64) ([]store.Message, error) {
	rows, err := s.rstmts.messages.QueryContext(ctx, id, after)
	if err != nil {
		return nil, fmt.Errorf("sqlite: messages of %s: %w", id, err)
	}
	defer rows.Close()
	var (
		ms    []store.Message
		found bool
	)
	for rows.Next() {
		found = true
		var (
			seq, sum sql.NullInt64
			b        []byte
		)
		if err := rows.Scan(&seq, &b, &sum); err != nil {
			return nil, fmt.Errorf("sqlite: messages of %s: %w", id, err)
		}
		if !seq.Valid {
			continue // the task has no messages after after
		}
		m := store.Message{Seq: uint64(seq.Int64)}
		var err error
		if m.Env, err = decodeMessage(b, sum); err != nil {
			return nil, &store.CorruptError{Task: id, Row: fmt.Sprintf("mailbox seq %d", m.Seq), Err: err, Data: b}
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: messages of %s: %w", id, err)
	}
	if !found {
		return nil, fmt.Errorf("sqlite: messages of %s: %w", id, store.ErrNotFound)
	}
	return ms, nil
}

// where is the SQL condition of f's filters, with its arguments.
func where(f *store.Filter) (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, arg any) {
		conds, args = append(conds, cond), append(args, arg)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
		if f.Status != task.Done {
			// Implied by the above, but SQLite uses the partial index
			// tasks_status only for a query that has its condition as
			// a term.
			conds = append(conds, notDone)
		}
	}
	if f.Program != "" {
		add("program = ?", f.Program)
	}
	if f.Version != 0 {
		add("program_version = ?", f.Version)
	}
	if f.WaitKind != "" {
		add("wait_kind = ?", f.WaitKind)
	}
	if !f.CreatedAfter.IsZero() {
		add("created >= ?", unixOrZero(f.CreatedAfter))
	}
	if !f.CreatedBefore.IsZero() {
		add("created < ?", unixOrZero(f.CreatedBefore))
	}
	if f.IDContains != "" {
		add("instr(id, ?) > 0", f.IDContains)
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}

// List implements store.Store: a keyset page through the primary key (by
// ID) or the index on (updated, id) (most recently updated first). A
// summary whose wait does not decode has a nil Wait: List is for people,
// and must show the other tasks.
func (s *Store) List(ctx context.Context, f store.Filter) ([]store.Summary, error) {
	cond, args := where(&f)
	order, index := " ORDER BY id", ""
	switch {
	case f.Order == store.ByUpdated:
		// Walk the index in its order, filtering as it goes: a page
		// costs the tasks it passes over, never a sort of all the tasks
		// in a status (which the planner would choose without it).
		order, index = " ORDER BY updated DESC, id DESC", " INDEXED BY tasks_updated"
		if f.After != (store.Cursor{}) {
			cond += " AND (updated, id) < (?, ?)"
			args = append(args, unixOrZero(f.After.Updated), f.After.ID)
		}
	case f.After.ID != "":
		cond += " AND id > ?"
		args = append(args, f.After.ID)
	}
	q := `SELECT id, program, program_version, status, reason, wait, steps, runs, entries,
		(SELECT COUNT(*) FROM mailbox m WHERE m.task_id = t.id), run_at, created, updated FROM tasks t` + index +
		` WHERE ` + cond + order
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list: %w", err)
	}
	defer rows.Close()
	var out []store.Summary
	for rows.Next() {
		var (
			sum                     store.Summary
			status                  string
			wait                    []byte
			runAt, created, updated sql.NullInt64
		)
		if err := rows.Scan(&sum.ID, &sum.Program, &sum.Version, &status, &sum.Reason, &wait, &sum.Steps, &sum.Runs,
			&sum.Entries, &sum.Pending, &runAt, &created, &updated); err != nil {
			return nil, fmt.Errorf("sqlite: list: %w", err)
		}
		sum.Status = task.Status(status)
		sum.Wait, _ = decodePtr[task.Wait](sum.ID, "wait", wait)
		sum.RunAt, sum.Created, sum.Updated = fromNanos(runAt), fromNanos(created), fromNanos(updated)
		out = append(out, sum)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list: %w", err)
	}
	return out, nil
}

// Counts implements store.Store.
func (s *Store) Counts(ctx context.Context, f store.Filter) (map[task.Status]int, error) {
	cond, args := where(&f)
	q := `SELECT status, count(*) FROM tasks WHERE ` + cond + ` GROUP BY status`
	if other := (store.Filter{Program: f.Program, Version: f.Version, WaitKind: f.WaitKind, CreatedAfter: f.CreatedAfter,
		CreatedBefore: f.CreatedBefore, IDContains: f.IDContains}); other != (store.Filter{}) {
		// With conditions on other columns than status, a scan of the
		// table in its order beats the status index and a lookup of
		// every row.
		q = `SELECT status, count(*) FROM tasks NOT INDEXED WHERE ` + cond + ` GROUP BY status`
	} else if f.Status == "" || f.Status == task.Done {
		// The index on status leaves out the tasks that are done: they
		// are all the tasks (counted from the smallest index) less the
		// others, in one statement, so that both counts are of one
		// snapshot. The row of the total has a NULL status.
		q = `SELECT status, count(*) FROM tasks WHERE ` + notDone + ` GROUP BY status
			UNION ALL SELECT NULL, count(*) FROM tasks`
		args = nil
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: counts: %w", err)
	}
	defer rows.Close()
	counts := map[task.Status]int{}
	total, others := -1, 0 // others: the tasks counted by status
	for rows.Next() {
		var status sql.NullString
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("sqlite: counts: %w", err)
		}
		if !status.Valid {
			total = n
			continue
		}
		counts[task.Status(status.String)] = n
		others += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: counts: %w", err)
	}
	if total >= 0 {
		if f.Status == task.Done {
			clear(counts)
		}
		if done := total - others; done > 0 {
			counts[task.Done] = done
		}
	}
	return counts, nil
}

// Status implements store.Store.
func (s *Store) Status(ctx context.Context, id string) (task.Status, error) {
	var status string
	err := s.rstmts.status.QueryRowContext(ctx, id).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("sqlite: status of %s: %w", id, store.ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("sqlite: status of %s: %w", id, err)
	}
	return task.Status(status), nil
}

// WhereIs implements store.Store. A name is cleared when its task
// finishes, so the holder found is unfinished.
func (s *Store) WhereIs(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	var id string
	err := s.rstmts.whereIs.QueryRowContext(ctx, name).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("sqlite: where is %q: %w", name, err)
	}
	return id, nil
}
