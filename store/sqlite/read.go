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
		return nil, &CorruptError{Task: id, Row: "tasks." + column, Err: err}
	}
	return v, nil
}

// readStmts are the reads prepared on the read-only pool: database/sql
// prepares each on a connection the first time it runs there, and keeps it.
type readStmts struct {
	load, messages, status, world *sql.Stmt
}

// loadQuery reads a task's row (kind 0), its journal (kind 1) and its
// mailbox (kind 2) in one statement, and so in one snapshot.
const loadQuery = `SELECT 0, 0, program, program_version, input, status, reason, wait, result, err, parent,
		created, updated FROM tasks WHERE id = ?1
	UNION ALL
	SELECT 1, seq, '', 0, entry, '', '', NULL, NULL, NULL, '', NULL, NULL FROM journal WHERE task_id = ?1
	UNION ALL
	SELECT 2, seq, '', 0, envelope, '', '', NULL, NULL, NULL, '', NULL, NULL FROM mailbox WHERE task_id = ?1
	ORDER BY 1, 2`

// messagesQuery reads the messages of a task after a sequence number: no
// row if there is no such task, one row with a NULL seq if it has none.
const messagesQuery = `SELECT m.seq, m.envelope FROM tasks t
	LEFT JOIN mailbox m ON m.task_id = t.id AND m.seq > ?2 WHERE t.id = ?1 ORDER BY m.seq`

func (r *readStmts) prepare(db *sql.DB) error {
	for _, p := range []struct {
		st    **sql.Stmt
		query string
	}{
		{&r.load, loadQuery},
		{&r.messages, messagesQuery},
		{&r.status, `SELECT status FROM tasks WHERE id = ?`},
		{&r.world, `SELECT name, value FROM world`},
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
	for _, st := range []*sql.Stmt{r.load, r.messages, r.status, r.world} {
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
		return &CorruptError{Task: r.ID, Row: "tasks.status", Err: fmt.Errorf("%w: unknown status %q", task.ErrCorrupt, status)}
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
	rows, err := s.rstmts.load.QueryContext(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: load %s: %w", id, err)
	}
	defer rows.Close()
	var (
		r      *task.Record
		ms     []store.Message
		kind   int
		seq    uint64
		row    task.Record // the task row's text columns
		status string
		blob   []byte // input, or the journal entry, or the envelope
		wait   []byte
		errb   []byte
		result []byte

		created, updated sql.NullInt64
	)
	for rows.Next() {
		if err := rows.Scan(&kind, &seq, &row.Program, &row.Version, &blob, &status, &row.Reason,
			&wait, &result, &errb, &row.Parent, &created, &updated); err != nil {
			return nil, nil, fmt.Errorf("sqlite: load %s: %w", id, err)
		}
		switch {
		case kind == 0:
			r = &task.Record{ID: id, Program: row.Program, Version: row.Version, Reason: row.Reason, Parent: row.Parent}
			if err := decodeTask(r, blob, status, wait, result, errb, created, updated); err != nil {
				return nil, nil, err
			}
		case r == nil:
			// Journal or mailbox rows without a task row: there is no task.
		case kind == 1:
			row := fmt.Sprintf("journal seq %d", seq)
			e, err := task.DecodeEntry(blob)
			switch {
			case err != nil:
				return nil, nil, &CorruptError{Task: id, Row: row, Err: err}
			case e.Seq != seq:
				return nil, nil, &CorruptError{Task: id, Row: row, Err: fmt.Errorf("the entry says #%d", e.Seq)}
			case seq != uint64(len(r.Journal))+1:
				return nil, nil, &CorruptError{Task: id, Row: row, Err: fmt.Errorf("the journal skips from #%d", len(r.Journal))}
			}
			r.Journal = append(r.Journal, e)
		default:
			m := store.Message{Seq: seq}
			if err := task.Unmarshal(blob, &m.Env); err != nil {
				return nil, nil, &CorruptError{Task: id, Row: fmt.Sprintf("mailbox seq %d", m.Seq), Err: err}
			}
			ms = append(ms, m)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("sqlite: load %s: %w", id, err)
	}
	if r == nil {
		return nil, nil, fmt.Errorf("sqlite: load %s: %w", id, store.ErrNotFound)
	}
	return r, ms, nil
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
			seq sql.NullInt64
			b   []byte
		)
		if err := rows.Scan(&seq, &b); err != nil {
			return nil, fmt.Errorf("sqlite: messages of %s: %w", id, err)
		}
		if !seq.Valid {
			continue // the task has no messages after after
		}
		m := store.Message{Seq: uint64(seq.Int64)}
		if err := task.Unmarshal(b, &m.Env); err != nil {
			return nil, &CorruptError{Task: id, Row: fmt.Sprintf("mailbox seq %d", m.Seq), Err: err}
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

// List implements store.Store. A summary whose wait does not decode has a
// nil Wait: List is for people, and must show the other tasks.
func (s *Store) List(ctx context.Context, f store.Filter) ([]store.Summary, error) {
	var (
		where []string
		args  []any
	)
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.Program != "" {
		where, args = append(where, "program = ?"), append(args, f.Program)
	}
	q := `SELECT id, program, program_version, status, reason, wait, steps, entries,
		(SELECT COUNT(*) FROM mailbox m WHERE m.task_id = t.id), run_at, created, updated FROM tasks t`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
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
		if err := rows.Scan(&sum.ID, &sum.Program, &sum.Version, &status, &sum.Reason, &wait, &sum.Steps,
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

// World implements store.Store.
func (s *Store) World(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.rstmts.world.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: world: %w", err)
	}
	defer rows.Close()
	w := map[string][]byte{}
	for rows.Next() {
		var (
			name string
			v    []byte
		)
		if err := rows.Scan(&name, &v); err != nil {
			return nil, fmt.Errorf("sqlite: world: %w", err)
		}
		w[name] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: world: %w", err)
	}
	return w, nil
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
