package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// taskState is a task row as Commit sees it under its row lock, advanced
// step by step as Commit decides which steps pass their fence.
type taskState struct {
	status     task.Status
	owner      string
	leased     bool
	epoch      uint64
	version    uint64
	journalLen uint64
	spawned    bool // created by an earlier step of this commit
}

// prepared is a step encoded ahead of the transaction.
type prepared struct {
	entries [][]byte
	wait    []byte
	errb    []byte
}

// Commit applies the steps in one transaction, in two round trips: the
// first locks every row the steps touch (their tasks, the targets of their
// sends, the IDs they spawn) in ID order, so that concurrent commits
// cannot deadlock, and reads the fences; the second applies the steps that
// passed, in a handful of set-based statements whatever their number, and
// commits.
//
// A step is refused with an error matching store.ErrLeaseLost when its
// task is not leased to its Owner at its Epoch and Version; with one
// matching task.ErrInvalidJournal when its entries do not continue the
// journal; with one matching store.ErrExists when it spawns an existing
// task. A refused step changes nothing. Messages sent to unknown or
// finished tasks are dropped, as a message to a dead process is.
//
// If the returned error is not nil the transaction did not commit, except
// in one case no client can tell apart: the connection broke while COMMIT
// was in flight. Retrying the same steps is safe either way: if the first
// attempt did commit, the fences (the lease was released and the version
// moved on) refuse the retry with store.ErrLeaseLost instead of applying
// anything twice.
func (s *Store) Commit(ctx context.Context, steps []store.Step) ([]error, error) {
	errs := make([]error, len(steps))
	if len(steps) == 0 {
		return errs, nil
	}
	preps := make([]prepared, len(steps))
	lockIDs := make([]string, 0, len(steps))
	for i := range steps {
		st := &steps[i]
		if err := prepare(st, &preps[i]); err != nil {
			errs[i] = fmt.Errorf("postgres: commit task %q: %w", st.ID, err)
			continue
		}
		if st.ID == "" {
			continue // world writes only
		}
		lockIDs = append(lockIDs, st.ID)
		for _, o := range st.Sends {
			lockIDs = append(lockIDs, o.To)
		}
		for _, r := range st.Spawns {
			lockIDs = append(lockIDs, r.ID)
		}
	}
	worldOnly := len(lockIDs) == 0
	slices.Sort(lockIDs)
	lockIDs = slices.Compact(lockIDs)

	// The first round trip only reads and locks, so it is retried on
	// another connection when the server dropped this one (a restart or a
	// killed backend leaves dead connections in the pool).
	var (
		conn   *pgxpool.Conn
		states map[string]*taskState
		err    error
	)
	for attempt := 0; ; attempt++ {
		if worldOnly && !slices.ContainsFunc(steps, func(st store.Step) bool { return len(st.World) > 0 }) {
			return errs, nil
		}
		conn, states, err = s.lock(ctx, lockIDs)
		if err == nil {
			break
		}
		if attempt == 3 || !connectionLost(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("postgres: commit: %w", err)
		}
	}
	// On any error the connection is left inside a transaction, and the
	// pool destroys it on release: that rolls the transaction back.
	defer conn.Release()

	var w commitWriter
	soon := time.Now().Add(s.opts.PollInterval)
	for i := range steps {
		if errs[i] != nil {
			continue
		}
		st := &steps[i]
		if err := w.add(st, &preps[i], states, soon); err != nil {
			errs[i] = err
		}
	}

	b := &pgx.Batch{}
	w.queue(b)
	if w.notify {
		b.Queue(notifySQL, s.channel)
	}
	if s.beforeCommit != nil {
		s.beforeCommit(ctx)
	}
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("postgres: commit: %w", err)
	}
	return errs, nil
}

// lock begins a transaction on a connection of its own and locks the rows
// of ids, returning their fences.
func (s *Store) lock(ctx context.Context, ids []string) (*pgxpool.Conn, map[string]*taskState, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	states := make(map[string]*taskState, len(ids))
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SELECT id, status, lease_owner, lease_epoch, version, journal_len FROM tasks
		WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids).Query(func(rows pgx.Rows) error {
		var id, status string
		var owner *string
		var epoch, version, jlen int64
		_, err := pgx.ForEachRow(rows, []any{&id, &status, &owner, &epoch, &version, &jlen}, func() error {
			ts := &taskState{status: task.Status(status), epoch: uint64(epoch), version: uint64(version), journalLen: uint64(jlen)}
			if owner != nil {
				ts.owner, ts.leased = *owner, true
			}
			states[id] = ts
			return nil
		})
		return err
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		conn.Release()
		return nil, nil, err
	}
	return conn, states, nil
}

// connectionLost reports whether err means the connection is gone (so that
// nothing more was done on it).
func connectionLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		}
		return false
	}
	var ne net.Error
	return pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// prepare encodes what can be encoded of st before the transaction, and
// checks its spawns.
func prepare(st *store.Step, p *prepared) error {
	if st.ID == "" {
		return nil // world writes only
	}
	if !st.Status.Known() {
		return fmt.Errorf("unknown status %q: %w", st.Status, task.ErrInvalidRecord)
	}
	p.entries = make([][]byte, len(st.Append))
	for i, e := range st.Append {
		data, err := task.EncodeEntry(e)
		if err != nil {
			return fmt.Errorf("journal entry %d: %w", e.Seq, err)
		}
		p.entries[i] = data
	}
	var err error
	if p.wait, err = marshalNil(st.Wait); err != nil {
		return fmt.Errorf("wait: %w", err)
	}
	if p.errb, err = marshalNil(st.Err); err != nil {
		return fmt.Errorf("error: %w", err)
	}
	var check taskRows
	for _, r := range st.Spawns {
		if err := check.add(r); err != nil {
			return fmt.Errorf("spawn %q: %w", r.ID, err)
		}
	}
	return nil
}

// commitWriter gathers the writes of the steps that pass their fences, as
// columns for set-based statements.
type commitWriter struct {
	// one row per task whose steps passed; a later step of the same task
	// overwrites the row, adding to its counts
	row map[string]int
	t   struct {
		id, status, reason  []string
		n, jn               []int64
		wait, result, errb  [][]byte
		runAt, updated      []*int64
		keep, final, resume []bool
	}
	jID      []string
	jSeq     []int64
	jEnt     [][]byte
	cID      []string
	cSeq     []int64
	spawns   taskRows
	sendTo   []string
	sendEnv  [][]byte
	world    map[string][]byte
	worldOrd []string
	rID      []string // tasks that continue as new: journal emptied, input replaced
	rInput   [][]byte
	notify   bool
}

// add checks st against the locked rows and, if it passes, gathers its
// writes and advances its task's state.
func (w *commitWriter) add(st *store.Step, p *prepared, states map[string]*taskState, soon time.Time) error {
	if st.ID == "" {
		w.addWorld(st.World)
		return nil
	}
	cur := states[st.ID]
	switch {
	case cur == nil || cur.spawned:
		return fmt.Errorf("postgres: commit task %q: no such task: %w", st.ID, store.ErrLeaseLost)
	case !cur.leased || cur.owner != st.Owner || cur.epoch != st.Epoch || cur.version != st.Version:
		holder := "nobody"
		if cur.leased {
			holder = fmt.Sprintf("%q", cur.owner)
		}
		return fmt.Errorf("postgres: commit task %q by %q at epoch %d, version %d: task is leased to %s at epoch %d, version %d: %w",
			st.ID, st.Owner, st.Epoch, st.Version, holder, cur.epoch, cur.version, store.ErrLeaseLost)
	}
	base := cur.journalLen
	if st.Restart != nil {
		base = 0
	}
	for k, e := range st.Append {
		if want := base + 1 + uint64(k); e.Seq != want {
			return fmt.Errorf("postgres: commit task %q: journal entry %d where %d comes next: %w",
				st.ID, e.Seq, want, task.ErrInvalidJournal)
		}
	}
	for k, r := range st.Spawns {
		if states[r.ID] != nil || slices.ContainsFunc(st.Spawns[:k], func(o *task.Record) bool { return o.ID == r.ID }) {
			return fmt.Errorf("postgres: commit task %q: spawn %q: %w", st.ID, r.ID, store.ErrExists)
		}
	}

	// The step passes.
	cur.version++
	if st.Restart != nil {
		cur.journalLen = 0
		w.rID = append(w.rID, st.ID)
		w.rInput = append(w.rInput, nonNilBytes(st.Restart.Input))
	}
	cur.journalLen += uint64(len(st.Append))
	cur.status = st.Status
	if !st.Keep {
		cur.leased, cur.owner = false, ""
	}
	final := st.Status.Final()
	resume := !final && !st.Keep && st.Status == task.Running

	if w.row == nil {
		w.row = map[string]int{}
	}
	t := &w.t
	var updated time.Time
	if n := len(st.Append); n > 0 {
		updated = st.Append[n-1].Time
	}
	runAt := st.RunAt
	if final {
		runAt = time.Time{}
	}
	if i, ok := w.row[st.ID]; ok {
		t.status[i], t.reason[i] = string(st.Status), st.Reason
		t.n[i]++
		t.jn[i] += int64(len(st.Append))
		t.wait[i], t.result[i], t.errb[i] = p.wait, st.Result, p.errb
		t.runAt[i], t.updated[i] = unixNano(runAt), unixNano(updated)
		t.keep[i], t.final[i], t.resume[i] = st.Keep, final, resume
	} else {
		w.row[st.ID] = len(t.id)
		t.id = append(t.id, st.ID)
		t.status = append(t.status, string(st.Status))
		t.reason = append(t.reason, st.Reason)
		t.n = append(t.n, 1)
		t.jn = append(t.jn, int64(len(st.Append)))
		t.wait = append(t.wait, p.wait)
		t.result = append(t.result, st.Result)
		t.errb = append(t.errb, p.errb)
		t.runAt = append(t.runAt, unixNano(runAt))
		t.updated = append(t.updated, unixNano(updated))
		t.keep = append(t.keep, st.Keep)
		t.final = append(t.final, final)
		t.resume = append(t.resume, resume)
	}
	for k, e := range st.Append {
		w.jID = append(w.jID, st.ID)
		w.jSeq = append(w.jSeq, int64(e.Seq))
		w.jEnt = append(w.jEnt, p.entries[k])
	}
	for _, seq := range st.Consumed {
		w.cID = append(w.cID, st.ID)
		w.cSeq = append(w.cSeq, int64(seq))
	}
	for _, r := range st.Spawns {
		_ = w.spawns.add(r) // checked by prepare
		states[r.ID] = &taskState{status: r.Status, spawned: true}
	}
	for _, o := range st.Sends {
		data, err := task.Marshal(o.Env)
		if err != nil { // an Envelope always encodes; keep the step whole anyway
			return fmt.Errorf("postgres: commit task %q: send to %q: %w", st.ID, o.To, err)
		}
		w.sendTo = append(w.sendTo, o.To)
		w.sendEnv = append(w.sendEnv, data)
	}
	w.addWorld(st.World)
	if len(st.Sends) > 0 || len(st.Spawns) > 0 || resume || (!runAt.IsZero() && runAt.Before(soon)) {
		w.notify = true
	}
	return nil
}

func (w *commitWriter) addWorld(ws []store.WorldWrite) {
	for _, v := range ws {
		if w.world == nil {
			w.world = map[string][]byte{}
		}
		if _, ok := w.world[v.Name]; !ok {
			w.worldOrd = append(w.worldOrd, v.Name)
		}
		w.world[v.Name] = v.Value
	}
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// queue adds the gathered writes to b, tasks first: a step that finishes a
// task comes before a send to it in the same commit; the message is kept
// in the finished task's mailbox, not dropped.
func (w *commitWriter) queue(b *pgx.Batch) {
	t := &w.t
	if len(w.rID) > 0 {
		b.Queue(`DELETE FROM journal j USING unnest($1::text[]) AS r(id) WHERE j.task_id = r.id`, w.rID)
		b.Queue(`UPDATE tasks t SET input = r.input, journal_len = 0
			FROM unnest($1::text[], $2::bytea[]) AS r(id, input) WHERE t.id = r.id`, w.rID, w.rInput)
	}
	if len(t.id) > 0 {
		b.Queue(`
			UPDATE tasks t SET
				version = t.version + s.n,
				journal_len = t.journal_len + s.jn,
				status = s.status, reason = s.reason, wait = s.wait, result = s.result, err = s.err,
				run_at = s.run_at,
				ready = CASE WHEN s.final THEN false ELSE t.ready OR s.resume END,
				ready_seq = CASE WHEN s.resume AND NOT t.ready THEN nextval('tasks_ready_seq') ELSE t.ready_seq END,
				lease_owner = CASE WHEN s.keep THEN t.lease_owner END,
				lease_until = CASE WHEN s.keep THEN t.lease_until END,
				cancel = t.cancel AND NOT s.final,
				updated = coalesce(s.updated, `+nowNano+`)
			FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bytea[], $7::bytea[],
				$8::bytea[], $9::bigint[], $10::bigint[], $11::bool[], $12::bool[], $13::bool[])
				AS s(id, n, jn, status, reason, wait, result, err, run_at, updated, keep, final, resume)
			WHERE t.id = s.id`,
			t.id, t.n, t.jn, t.status, t.reason, t.wait, t.result, t.errb, t.runAt, t.updated, t.keep, t.final, t.resume)
	}
	if len(w.jID) > 0 {
		b.Queue(`INSERT INTO journal (task_id, seq, entry) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])`,
			w.jID, w.jSeq, w.jEnt)
	}
	if len(w.cID) > 0 {
		b.Queue(`DELETE FROM mailbox m USING unnest($1::text[], $2::bigint[]) AS c(task_id, seq)
			WHERE m.task_id = c.task_id AND m.seq = c.seq`, w.cID, w.cSeq)
	}
	w.spawns.queue(b)
	if len(w.sendTo) > 0 {
		// Number each target's new messages after its mailbox_seq, in
		// the order they were sent.
		b.Queue(`
			WITH msg AS (
				SELECT to_id, env, ord FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS m(to_id, env, ord)
			), cnt AS (
				SELECT to_id, count(*) AS n FROM msg GROUP BY to_id
			), upd AS (
				UPDATE tasks t SET mailbox_seq = t.mailbox_seq + cnt.n,
					ready = CASE WHEN t.`+notFinal+` THEN true ELSE t.ready END,
					ready_seq = CASE WHEN t.`+notFinal+` AND NOT t.ready THEN nextval('tasks_ready_seq') ELSE t.ready_seq END
				FROM cnt WHERE t.id = cnt.to_id
				RETURNING t.id, t.mailbox_seq - cnt.n AS base
			)
			INSERT INTO mailbox (task_id, seq, envelope)
			SELECT msg.to_id, upd.base + row_number() OVER (PARTITION BY msg.to_id ORDER BY msg.ord), msg.env
			FROM msg JOIN upd ON upd.id = msg.to_id`, w.sendTo, w.sendEnv)
	}
	if len(w.worldOrd) > 0 {
		names := slices.Clone(w.worldOrd)
		slices.Sort(names) // lock rows in one order everywhere
		values := make([][]byte, len(names))
		for i, n := range names {
			values[i] = w.world[n]
		}
		b.Queue(`INSERT INTO world (name, value) SELECT * FROM unnest($1::text[], $2::bytea[])
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, version = world.version + 1`, names, values)
	}
}
