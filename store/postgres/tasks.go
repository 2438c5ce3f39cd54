package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// notFinal is the SQL condition of a task that may still change.
const notFinal = `status NOT IN ('done', 'failed', 'cancelled')`

// notDone is the predicate of the partial index tasks_status.
const notDone = `status <> 'done'`

// makeReady is the SET clause that makes a task ready, keeping its place in
// the claim order if it already was.
const makeReady = `ready = true, ready_seq = CASE WHEN ready THEN ready_seq ELSE nextval('tasks_ready_seq') END`

// taskRows holds the columns of tasks to insert, for unnest.
type taskRows struct {
	id, program, status, reason, parent []string
	waitKind                            []string
	version                             []int32
	input, wait, result, errs           [][]byte
	created, updated, runAt             []*int64
	ready                               []bool
	journalLen, mailboxSeq, runs        []int64

	// journal and mailbox rows of the records
	jID  []string
	jSeq []int64
	jEnt [][]byte
	mID  []string
	mSeq []int64
	mEnv [][]byte
}

func (r *taskRows) add(rec *task.Record) error {
	if err := rec.Validate(); err != nil {
		return err
	}
	wait, err := marshalNil(rec.Wait)
	if err != nil {
		return err
	}
	errb, err := marshalNil(rec.Err)
	if err != nil {
		return err
	}
	r.id = append(r.id, rec.ID)
	r.program = append(r.program, rec.Program)
	r.version = append(r.version, int32(rec.Version))
	r.input = append(r.input, rec.Input)
	r.status = append(r.status, string(rec.Status))
	r.reason = append(r.reason, rec.Reason)
	r.wait = append(r.wait, wait)
	kind := ""
	if rec.Wait != nil {
		kind = rec.Wait.Kind
	}
	r.waitKind = append(r.waitKind, kind)
	r.result = append(r.result, rec.Result)
	r.errs = append(r.errs, errb)
	r.parent = append(r.parent, rec.Parent)
	r.created = append(r.created, unixNano(rec.Created))
	r.updated = append(r.updated, unixNano(rec.Updated))
	r.ready = append(r.ready, !rec.Status.Final())
	if rec.Status.Final() {
		r.runAt = append(r.runAt, nil)
	} else {
		r.runAt = append(r.runAt, unixNano(rec.RunAt))
	}
	r.runs = append(r.runs, int64(rec.Runs))
	r.journalLen = append(r.journalLen, int64(len(rec.Journal)))
	r.mailboxSeq = append(r.mailboxSeq, int64(len(rec.Mailbox)))
	for _, e := range rec.Journal {
		data, err := task.EncodeEntry(e)
		if err != nil {
			return err
		}
		r.jID = append(r.jID, rec.ID)
		r.jSeq = append(r.jSeq, int64(e.Seq))
		r.jEnt = append(r.jEnt, data)
	}
	for i, env := range rec.Mailbox {
		data, err := task.EncodeEnvelope(env)
		if err != nil {
			return err
		}
		r.mID = append(r.mID, rec.ID)
		r.mSeq = append(r.mSeq, int64(i+1))
		r.mEnv = append(r.mEnv, data)
	}
	return nil
}

// queue adds the inserts to b.
func (r *taskRows) queue(b *pgx.Batch) {
	if len(r.id) == 0 {
		return
	}
	b.Queue(insertTasksSQL(""), r.args()...)
	r.queueRest(b)
}

// queueLeased adds the inserts to b, the tasks leased to owner until
// until at epoch 1 (set ready and updated in r first): leased as ClaimID
// would lease them, without a second write of each row. Its first
// statement returns what a Lease needs of each row: id, lease_epoch,
// version, cancel.
func (r *taskRows) queueLeased(b *pgx.Batch, owner string, until int64) {
	if len(r.id) == 0 {
		return
	}
	args := r.args()
	lease := fmt.Sprintf(`$%d::text, 1, $%d::bigint`, len(args)+1, len(args)+2)
	b.Queue(insertTasksSQL(lease)+` RETURNING id, lease_epoch, version, cancel`, append(args, owner, until)...)
	r.queueRest(b)
}

// insertTasksSQL inserts the rows of taskRows.args; lease, if not empty,
// is the SQL of the values of lease_owner, lease_epoch, lease_until.
func insertTasksSQL(lease string) string {
	cols, vals := "", ""
	if lease != "" {
		cols, vals = ", lease_owner, lease_epoch, lease_until", ", "+lease
	}
	return `INSERT INTO tasks (id, program, program_version, input, status, reason, wait, result, err, parent,
			created, updated, ready, journal_len, mailbox_seq, run_at, runs, wait_kind` + cols + `)
		SELECT id, program, pv, input, status, reason, wait, result, err, parent,
			coalesce(created, ` + nowNano + `), coalesce(updated, created, ` + nowNano + `), ready, jl, ms, run_at, runs, wk` + vals + `
		FROM unnest($1::text[], $2::text[], $3::int[], $4::bytea[], $5::text[], $6::text[], $7::bytea[],
			$8::bytea[], $9::bytea[], $10::text[], $11::bigint[], $12::bigint[], $13::bool[],
			$14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], $18::text[])
			AS r(id, program, pv, input, status, reason, wait, result, err, parent, created, updated, ready, jl, ms,
				run_at, runs, wk)`
}

// args are the arguments of insertTasksSQL.
func (r *taskRows) args() []any {
	return []any{r.id, r.program, r.version, r.input, r.status, r.reason, r.wait, r.result, r.errs, r.parent,
		r.created, r.updated, r.ready, r.journalLen, r.mailboxSeq, r.runAt, r.runs, r.waitKind}
}

// queueRest adds the inserts of the journal and mailbox rows to b.
func (r *taskRows) queueRest(b *pgx.Batch) {
	if len(r.jID) > 0 {
		b.Queue(`INSERT INTO journal (task_id, seq, entry, sum)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bigint[])`,
			r.jID, r.jSeq, r.jEnt, checksums(r.jEnt))
	}
	if len(r.mID) > 0 {
		b.Queue(`INSERT INTO mailbox (task_id, seq, envelope, sum)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bigint[])`,
			r.mID, r.mSeq, r.mEnv, checksums(r.mEnv))
	}
}

// Create inserts the tasks, ready to run (unless a record is already
// final). A record's Journal and Mailbox are stored too. A task whose ID
// exists fails the whole call with an error matching store.ErrExists.
func (s *Store) Create(ctx context.Context, recs ...*task.Record) error {
	if len(recs) == 0 {
		return nil
	}
	rows, err := newTaskRows(recs)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	rows.queue(b)
	b.Queue(notifySQL, s.channel)
	// A batch without BEGIN runs as one implicit transaction.
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return createError(err)
	}
	return nil
}

// newTaskRows makes the rows of a Create of recs, or refuses a record
// that cannot be stored or an ID given twice (ErrExists).
func newTaskRows(recs []*task.Record) (*taskRows, error) {
	var rows taskRows
	for _, rec := range recs {
		if err := rows.add(rec); err != nil {
			return nil, fmt.Errorf("postgres: create task %q: %w", rec.ID, err)
		}
	}
	if dup := duplicate(rows.id); dup != "" {
		return nil, fmt.Errorf("postgres: create task %q twice: %w", dup, store.ErrExists)
	}
	return &rows, nil
}

// createError is the error of a Create whose batch failed with err: one
// matching ErrExists if an ID existed.
func createError(err error) error {
	if isUniqueViolation(err) {
		return fmt.Errorf("postgres: create: %w (%v)", store.ErrExists, err)
	}
	return fmt.Errorf("postgres: create: %w", err)
}

// CreateClaimed inserts the tasks leased to owner, in one implicit
// transaction (one batch, one round trip): each row is inserted leased,
// as ClaimID leases a task (epoch 1, not ready), not inserted and then
// updated. No notification: no other worker may claim them.
func (s *Store) CreateClaimed(ctx context.Context, owner string, now time.Time, lease time.Duration, recs ...*task.Record) ([]store.Lease, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	rows, err := newTaskRows(recs)
	if err != nil {
		return nil, err
	}
	updated := nano(now)
	for i := range rows.id {
		rows.ready[i], rows.updated[i] = false, &updated
	}
	if rows.copyable(s.copyMin) {
		return s.copyClaimed(ctx, rows, owner, nano(now.Add(lease)))
	}
	b := &pgx.Batch{}
	rows.queueLeased(b, owner, nano(now.Add(lease)))
	br := s.pool.SendBatch(ctx, b)
	fail := func(err error) ([]store.Lease, error) {
		br.Close()
		return nil, createError(err)
	}
	got := make(map[string]store.Lease, len(recs))
	var l store.Lease
	res, _ := br.Query()
	if _, err := pgx.ForEachRow(res, []any{&l.ID, &l.Epoch, &l.Steps, &l.Cancel}, func() error {
		got[l.ID] = l
		return nil
	}); err != nil {
		return fail(err)
	}
	for range b.Len() - 1 {
		if _, err := br.Exec(); err != nil {
			return fail(err)
		}
	}
	if err := br.Close(); err != nil {
		return fail(err)
	}
	leases := make([]store.Lease, len(recs))
	for i, rec := range recs {
		leases[i] = got[rec.ID]
	}
	return leases, nil
}

// copyMin is the number of tasks from which CreateClaimed inserts them
// with COPY rather than INSERT ... unnest. COPY parses no arrays and
// fills heap pages many rows at a time (one WAL record a page, not one a
// row: 2,000 rows of a one-step benchmark's tasks wrote 490 bytes of WAL
// a row against 533), but it costs round trips of its own (BEGIN, COPY,
// COMMIT), which a few rows would not win back.
const copyMin = 64

// copyable reports whether CreateClaimed may insert r's tasks with COPY:
// min or more of them (copyMin; tests change it), each with its creation time (INSERT takes the
// database's clock for a missing one).
func (r *taskRows) copyable(min int) bool {
	if len(r.id) < min {
		return false
	}
	for _, c := range r.created {
		if c == nil {
			return false
		}
	}
	return true
}

// copyColumns are the columns of tasks that copyClaimed fills: those of
// insertTasksSQL with the lease. The others take their defaults (and due
// its generated value), as they do there.
var copyColumns = []string{"id", "program", "program_version", "input", "status", "reason", "wait", "result", "err",
	"parent", "created", "updated", "ready", "journal_len", "mailbox_seq", "run_at", "runs", "wait_kind",
	"lease_owner", "lease_epoch", "lease_until"}

// copyClaimed inserts the tasks of r leased to owner until until, at
// epoch 1, as queueLeased does, with COPY, and their journal and mailbox
// rows, in one transaction. Every lease is the same but for its ID: epoch
// 1, no step, not cancelled (the defaults of the columns).
func (s *Store) copyClaimed(ctx context.Context, r *taskRows, owner string, until int64) ([]store.Lease, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		i := -1
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if i++; i == len(r.id) {
				return nil, nil
			}
			return []any{r.id[i], r.program[i], r.version[i], r.input[i], r.status[i], r.reason[i], r.wait[i],
				r.result[i], r.errs[i], r.parent[i], r.created[i], r.updated[i], r.ready[i], r.journalLen[i],
				r.mailboxSeq[i], r.runAt[i], r.runs[i], r.waitKind[i], owner, int64(1), until}, nil
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"tasks"}, copyColumns, src); err != nil {
			return err
		}
		b := &pgx.Batch{}
		r.queueRest(b)
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, createError(err)
	}
	s.copies.Add(1)
	leases := make([]store.Lease, len(r.id))
	for i, id := range r.id {
		leases[i] = store.Lease{ID: id, Epoch: 1}
	}
	return leases, nil
}

// Claim leases up to max claimable tasks to owner: tasks whose lease
// expired first (their worker died mid-step), then woken tasks in the
// order they were woken, then tasks whose RunAt has come, earliest first.
// Rows locked by concurrent claimers are skipped, not waited for.
func (s *Store) Claim(ctx context.Context, owner string, max int, now time.Time, lease time.Duration, can ...task.ProgramVersion) ([]store.Lease, error) {
	if max <= 0 {
		return nil, nil
	}
	ps, vs := canArrays(can)
	rows, _ := s.pool.Query(ctx, `
		WITH expired AS (
			SELECT id, 0 AS k, lease_until AS o1, 0::bigint AS o2 FROM tasks
			WHERE lease_owner IS NOT NULL AND lease_until < $2`+canCond+`
			ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED
		), due AS (
			SELECT id, 1 AS k, due AS o1, ready_seq AS o2 FROM tasks
			WHERE lease_owner IS NULL AND due <= $2`+canCond+`
			ORDER BY due, ready_seq LIMIT $3 FOR UPDATE SKIP LOCKED
		), pick AS (
			SELECT id, row_number() OVER (ORDER BY k, o1, o2) AS rank
			FROM (SELECT * FROM expired UNION ALL SELECT * FROM due) c
			ORDER BY k, o1, o2 LIMIT $3
		)
		UPDATE tasks t SET lease_owner = $1, lease_epoch = t.lease_epoch + 1, lease_until = $4, updated = $2, ready = false
		FROM pick WHERE t.id = pick.id
		RETURNING pick.rank, t.id, t.lease_epoch, t.version, t.cancel`,
		owner, nano(now), max, nano(now.Add(lease)), ps, vs)
	type claimed struct {
		rank int64
		l    store.Lease
	}
	var got []claimed
	var c claimed
	_, err := pgx.ForEachRow(rows, []any{&c.rank, &c.l.ID, &c.l.Epoch, &c.l.Steps, &c.l.Cancel}, func() error {
		got = append(got, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim: %w", err)
	}
	slices.SortFunc(got, func(a, b claimed) int { return int(a.rank - b.rank) })
	leases := make([]store.Lease, len(got))
	for i := range got {
		leases[i] = got[i].l
	}
	return leases, nil
}

// canCond is the condition of Claim's filter ($5 and $6: canArrays).
const canCond = ` AND ($5::text[] IS NULL OR (program, program_version) IN (SELECT * FROM unnest($5::text[], $6::int[])))`

// ClaimID leases task id to owner whether or not it is ready. The owner
// that already holds the lease may claim again (with a new epoch).
func (s *Store) ClaimID(ctx context.Context, owner, id string, now time.Time, lease time.Duration) (store.Lease, error) {
	l := store.Lease{ID: id}
	err := s.pool.QueryRow(ctx, `
		UPDATE tasks SET lease_owner = $2, lease_epoch = lease_epoch + 1, lease_until = $4, updated = $3, ready = false
		WHERE id = $1 AND `+notFinal+` AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < $3)
		RETURNING lease_epoch, version, cancel`, id, owner, nano(now), nano(now.Add(lease))).Scan(&l.Epoch, &l.Steps, &l.Cancel)
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Lease{}, fmt.Errorf("postgres: claim task %q: %w", id, err)
	}
	var status string
	var holder *string
	err = s.pool.QueryRow(ctx, `SELECT status, lease_owner FROM tasks WHERE id = $1`, id).Scan(&status, &holder)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Lease{}, fmt.Errorf("postgres: claim task %q: %w", id, store.ErrNotFound)
	case err != nil:
		return store.Lease{}, fmt.Errorf("postgres: claim task %q: %w", id, err)
	case task.Status(status).Final():
		return store.Lease{}, fmt.Errorf("postgres: claim task %q (%s): %w", id, status, store.ErrFinished)
	case holder != nil:
		return store.Lease{}, fmt.Errorf("postgres: claim task %q (leased to %q): %w", id, *holder, store.ErrLeased)
	default: // changed between the two statements; let the caller retry
		return store.Lease{}, fmt.Errorf("postgres: claim task %q: %w", id, store.ErrLeased)
	}
}

// Status returns the status of task id.
func (s *Store) Status(ctx context.Context, id string) (task.Status, error) {
	var status string
	err := s.pool.QueryRow(ctx, `SELECT status FROM tasks WHERE id = $1`, id).Scan(&status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("postgres: task %q: %w", id, store.ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("postgres: task %q: %w", id, err)
	}
	return task.Status(status), nil
}

// Load returns a task's record with its whole journal, its process state
// (Trap, Name) and its unreceived messages (exit signals among them), read
// from one snapshot. Bytes that do not decode give an error
// that names the task and matches task.ErrCorrupt (or, for a journal with
// gaps, task.ErrInvalidJournal).
func (s *Store) Load(ctx context.Context, id string) (*task.Record, []store.Message, error) {
	var (
		rec                       = &task.Record{ID: id}
		version                   int32
		status                    string
		input, wait, result, errb []byte
		created, updated, runs    int64
		runAt                     *int64
		found                     bool
		entries                   [][]byte
		seqs                      []int64
		sums, msgSums             []*int64
		msgs                      []store.Message
		msgData                   [][]byte
		migrations                []byte
	)
	// A batch is built anew for every attempt: pgx keeps per-connection
	// statement descriptions in a queued batch, which must not follow it to
	// another connection.
	build := func() *pgx.Batch {
		b := &pgx.Batch{}
		b.Queue(`BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY`)
		b.Queue(`SELECT program, program_version, input, status, reason, wait, result, err, parent, created, updated,
			trap, name, runs, run_at, migrations
		FROM tasks WHERE id = $1`, id).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&rec.Program, &version, &input, &status, &rec.Reason, &wait, &result, &errb,
				&rec.Parent, &created, &updated, &rec.Trap, &rec.Name, &runs, &runAt, &migrations)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			found = err == nil
			return err
		})
		b.Queue(`SELECT seq, entry, sum FROM journal WHERE task_id = $1 ORDER BY seq`, id).Query(func(rows pgx.Rows) error {
			var seq int64
			var data []byte
			var sum *int64
			_, err := pgx.ForEachRow(rows, []any{&seq, &data, &sum}, func() error {
				seqs = append(seqs, seq)
				entries = append(entries, data)
				sums = append(sums, sum)
				return nil
			})
			return err
		})
		b.Queue(`SELECT seq, envelope, sum FROM mailbox WHERE task_id = $1 ORDER BY seq`, id).Query(func(rows pgx.Rows) error {
			var m store.Message
			var data []byte
			var sum *int64
			_, err := pgx.ForEachRow(rows, []any{&m.Seq, &data, &sum}, func() error {
				msgs = append(msgs, m)
				msgData = append(msgData, data)
				msgSums = append(msgSums, sum)
				return nil
			})
			return err
		})
		b.Queue(`COMMIT`)
		return b
	}
	// Reading is safe to retry on another connection if this one was lost.
	for attempt := 0; ; attempt++ {
		found, entries, seqs, sums, msgs, msgData, msgSums = false, nil, nil, nil, nil, nil, nil
		err := s.pool.SendBatch(ctx, build()).Close()
		if err == nil {
			break
		}
		if attempt == 3 || !connectionLost(err) || ctx.Err() != nil {
			return nil, nil, fmt.Errorf("postgres: load task %q: %w", id, err)
		}
	}
	if !found {
		return nil, nil, fmt.Errorf("postgres: load task %q: %w", id, store.ErrNotFound)
	}
	corrupt := func(row string, err error, data ...byte) error {
		return fmt.Errorf("postgres: load: %w", &store.CorruptError{Task: id, Row: row, Err: err, Data: data})
	}
	rec.Version = int(version)
	rec.Status = task.Status(status)
	rec.Created, rec.Updated = fromNano(created), fromNano(updated)
	rec.Runs = uint64(runs)
	if runAt != nil {
		rec.RunAt = fromNano(*runAt)
	}
	var err error
	if rec.Input, err = rawCBOR(input); err != nil {
		return nil, nil, corrupt("tasks.input", err)
	}
	if rec.Result, err = rawCBOR(result); err != nil {
		return nil, nil, corrupt("tasks.result", err)
	}
	if wait != nil {
		rec.Wait = new(task.Wait)
		if err := task.Unmarshal(wait, rec.Wait); err != nil {
			return nil, nil, corrupt("tasks.wait", err)
		}
	}
	if migrations != nil {
		if err := json.Unmarshal(migrations, &rec.Migrations); err != nil {
			return nil, nil, corrupt("tasks.migrations", err)
		}
	}
	if errb != nil {
		rec.Err = new(task.Error)
		if err := task.Unmarshal(errb, rec.Err); err != nil {
			return nil, nil, corrupt("tasks.err", err)
		}
	}
	if len(entries) > 0 {
		rec.Journal = make(task.Journal, len(entries))
	}
	for i, data := range entries {
		row := fmt.Sprintf("journal seq %d", seqs[i])
		if err := verify(data, sums[i]); err != nil {
			return nil, nil, corrupt(row, err, data...)
		}
		e, err := task.DecodeEntry(data)
		if err != nil {
			return nil, nil, corrupt(row, err, data...)
		}
		if e.Seq != uint64(seqs[i]) {
			return nil, nil, corrupt(row, fmt.Errorf("entry says seq %d: %w", e.Seq, task.ErrInvalidJournal), data...)
		}
		rec.Journal[i] = e
	}
	if err := rec.Journal.Validate(); err != nil {
		return nil, nil, fmt.Errorf("postgres: load task %q: %w", id, err)
	}
	for i, data := range msgData {
		if msgs[i].Env, err = decodeMessage(data, msgSums[i]); err != nil {
			return nil, nil, corrupt(fmt.Sprintf("mailbox seq %d", msgs[i].Seq), err, data...)
		}
	}
	return rec, msgs, nil
}

// Messages returns the unreceived messages of task id with a sequence number
// above after.
func (s *Store) Messages(ctx context.Context, id string, after uint64) ([]store.Message, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT m.seq, m.envelope, m.sum FROM tasks t LEFT JOIN mailbox m ON m.task_id = t.id AND m.seq > $2
		WHERE t.id = $1 ORDER BY m.seq`, id, int64(after))
	var msgs []store.Message
	found := false
	var seq, sum *int64
	var data []byte
	_, err := pgx.ForEachRow(rows, []any{&seq, &data, &sum}, func() error {
		found = true
		if seq == nil {
			return nil // the task, with no messages
		}
		m := store.Message{Seq: uint64(*seq)}
		var err error
		if m.Env, err = decodeMessage(data, sum); err != nil {
			return &store.CorruptError{Task: id, Row: fmt.Sprintf("mailbox seq %d", m.Seq), Err: err, Data: bytes.Clone(data)}
		}
		msgs = append(msgs, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: messages of task %q: %w", id, err)
	}
	if !found {
		return nil, fmt.Errorf("postgres: messages of task %q: %w", id, store.ErrNotFound)
	}
	return msgs, nil
}

// Wake makes the tasks ready. Unknown and finished tasks are ignored.
func (s *Store) Wake(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	ids = slices.Clone(ids)
	slices.Sort(ids) // lock rows in one order everywhere
	b := &pgx.Batch{}
	b.Queue(`UPDATE tasks SET `+makeReady+` WHERE id = ANY($1) AND `+notFinal, ids)
	b.Queue(notifySQL, s.channel)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: wake: %w", err)
	}
	return nil
}

// Send appends env to the mailbox of task to and makes it ready.
func (s *Store) Send(ctx context.Context, to string, env task.Envelope) error {
	data, err := task.EncodeEnvelope(env)
	if err != nil {
		return fmt.Errorf("postgres: send to task %q: %w", to, err)
	}
	b := &pgx.Batch{}
	var sent int64
	b.Queue(`
		WITH t AS (
			UPDATE tasks SET mailbox_seq = mailbox_seq + 1, `+makeReady+`
			WHERE id = $1 AND `+notFinal+` RETURNING id, mailbox_seq)
		INSERT INTO mailbox (task_id, seq, envelope, sum) SELECT id, mailbox_seq, $2, $3 FROM t`, to, data, int64(task.Checksum(data))).
		Exec(func(ct pgconn.CommandTag) error { sent = ct.RowsAffected(); return nil })
	b.Queue(notifySQL, s.channel)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: send to task %q: %w", to, err)
	}
	if sent == 1 {
		return nil
	}
	return s.whyNot(ctx, "send to", to)
}

// Cancel asks for task id to be cancelled: it is made ready, and every
// lease of it has Cancel set until it finishes. Cancelling a finished task
// does nothing.
func (s *Store) Cancel(ctx context.Context, id string) error {
	b := &pgx.Batch{}
	var n int64
	b.Queue(`UPDATE tasks SET cancel = true, `+makeReady+` WHERE id = $1 AND `+notFinal, id).
		Exec(func(ct pgconn.CommandTag) error { n = ct.RowsAffected(); return nil })
	b.Queue(notifySQL, s.channel)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: cancel task %q: %w", id, err)
	}
	if n == 1 {
		return nil
	}
	if err := s.whyNot(ctx, "cancel", id); !errors.Is(err, store.ErrFinished) {
		return err
	}
	return nil
}

// whyNot explains why an update of a not-final task id changed nothing.
func (s *Store) whyNot(ctx context.Context, what, id string) error {
	var status string
	err := s.pool.QueryRow(ctx, `SELECT status FROM tasks WHERE id = $1`, id).Scan(&status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("postgres: %s task %q: %w", what, id, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("postgres: %s task %q: %w", what, id, err)
	default:
		return fmt.Errorf("postgres: %s task %q (%s): %w", what, id, status, store.ErrFinished)
	}
}

// filterSQL is the SQL condition of f's filters, with its arguments
// numbered from $1.
func filterSQL(f *store.Filter) (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
		if f.Status != task.Done {
			// Implied by the above, but written out so that a generic
			// plan, which does not know $1, may use tasks_status, whose
			// predicate it is (migration 0008).
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
		add("created >= ?", nano(f.CreatedAfter))
	}
	if !f.CreatedBefore.IsZero() {
		add("created < ?", nano(f.CreatedBefore))
	}
	if f.IDContains != "" {
		add("strpos(id, ?) > 0", f.IDContains)
	}
	if len(conds) == 0 {
		return "true", nil
	}
	return strings.Join(conds, " AND "), args
}

// List returns a page of summaries of the tasks matching f: a keyset walk
// of the primary key (by ID) or the index on (updated, id) (most recently
// updated first), from f.After.
func (s *Store) List(ctx context.Context, f store.Filter) ([]store.Summary, error) {
	cond, args := filterSQL(&f)
	order := ` ORDER BY id COLLATE "C"`
	switch {
	case f.Order == store.ByUpdated:
		order = ` ORDER BY updated DESC, id COLLATE "C" DESC`
		if f.After != (store.Cursor{}) {
			args = append(args, nano(f.After.Updated), f.After.ID)
			cond += fmt.Sprintf(` AND (updated < $%d OR updated = $%[1]d AND id COLLATE "C" < $%d)`, len(args)-1, len(args))
		}
	case f.After.ID != "":
		args = append(args, f.After.ID)
		cond += fmt.Sprintf(` AND id COLLATE "C" > $%d`, len(args))
	}
	q := `SELECT id, program, program_version, status, reason, wait, version, runs, journal_len,
			(SELECT count(*) FROM mailbox m WHERE m.task_id = t.id), run_at, created, updated
		FROM tasks t WHERE ` + cond + order
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, _ := s.pool.Query(ctx, q, args...)
	var out []store.Summary
	var (
		sum     store.Summary
		status  string
		wait    []byte
		entries int64
		pending int64
		runAt   *int64
		created int64
		updated int64
	)
	_, err := pgx.ForEachRow(rows, []any{&sum.ID, &sum.Program, &sum.Version, &status, &sum.Reason, &wait,
		&sum.Steps, &sum.Runs, &entries, &pending, &runAt, &created, &updated}, func() error {
		x := sum
		x.Status = task.Status(status)
		x.Entries, x.Pending = int(entries), int(pending)
		x.Created, x.Updated = fromNano(created), fromNano(updated)
		if runAt != nil {
			x.RunAt = fromNano(*runAt)
		}
		if wait != nil {
			// A wait that does not decode is left out: List is for
			// people, and must show the other tasks.
			x.Wait = new(task.Wait)
			if task.Unmarshal(wait, x.Wait) != nil {
				x.Wait = nil
			}
		}
		out = append(out, x)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list: %w", err)
	}
	return out, nil
}

// Counts returns the number of tasks matching f in each status.
func (s *Store) Counts(ctx context.Context, f store.Filter) (map[task.Status]int, error) {
	cond, args := filterSQL(&f)
	rows, _ := s.pool.Query(ctx, `SELECT status, count(*) FROM tasks WHERE `+cond+` GROUP BY status`, args...)
	counts := map[task.Status]int{}
	var status string
	var n int64
	_, err := pgx.ForEachRow(rows, []any{&status, &n}, func() error {
		counts[task.Status(status)] = int(n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: counts: %w", err)
	}
	return counts, nil
}

// verify checks a stored row's bytes against its checksum; rows written
// before checksums were kept (NULL) are not checked.
func verify(data []byte, sum *int64) error {
	if sum == nil {
		return nil
	}
	return task.VerifyChecksum(data, uint32(*sum))
}

// decodeMessage checks and decodes a mailbox row.
func decodeMessage(data []byte, sum *int64) (task.Envelope, error) {
	if err := verify(data, sum); err != nil {
		return task.Envelope{}, err
	}
	return task.DecodeEnvelope(data)
}

// marshalNil encodes v, or returns nil for a nil pointer.
func marshalNil[T any](v *T) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return task.Marshal(v)
}

// rawCBOR checks that data is one well-formed CBOR item.
func rawCBOR(data []byte) (cbor.RawMessage, error) {
	if data == nil {
		return nil, nil
	}
	var raw cbor.RawMessage
	if err := task.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	return data, nil
}

// Times are stored as Unix nanoseconds, exactly; the zero time is NULL.
// Times outside what an int64 holds (before 1678, after 2262) are clamped.
var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nano returns t in Unix nanoseconds.
func nano(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64 + 1 // MinInt64 sorts woken tasks first
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// unixNano is nano(t), or nil (NULL) for the zero time.
func unixNano(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := nano(t)
	return &n
}

// fromNano is the UTC time of n Unix nanoseconds.
func fromNano(n int64) time.Time { return time.Unix(0, n).UTC() }

// nowNano is the database's clock in Unix nanoseconds, for times a caller
// did not give.
const nowNano = `(extract(epoch FROM clock_timestamp()) * 1000000000)::bigint`

// duplicate returns an ID that occurs twice in ids, or "".
func duplicate(ids []string) string {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return id
		}
		seen[id] = true
	}
	return ""
}
