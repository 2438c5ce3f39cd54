package postgres

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// A step that touches its task's row alone (journal entries, status,
// wait, lease) commits in one round trip: one statement whose UPDATE is
// the fence, as in the SQLite store, and whose INSERT of the entries
// runs only if the fence held. A step the fence refuses, or that does
// more (sends, spawns, world vars or a wait on them, process ops, consumed messages, a
// restart, the end of a task that has links, monitors or a name), takes
// the general path of Commit: two round trips, the first of which locks
// and reads what the refusal or the writes need. Three sequential
// activities take three such steps after the create (the first step,
// which only starts an attempt, is not committed: see interp.Durable).

// oneRow reports whether st may take the one-round-trip path.
func oneRow(st *store.Step) bool {
	return st.ID != "" && st.Restart == nil && len(st.Spawns) == 0 && len(st.Sends) == 0 && len(st.Proc) == 0 &&
		len(st.World) == 0 && len(st.WorldReads) == 0 && len(st.WaitWorld) == 0 && len(st.Consumed) == 0
}

// oneRowSQL applies one step if its fence holds, and returns whether it
// did (the count of rows updated, 0 or 1). $15 is the journal length the
// entries continue (-1: no entries, no check). A final step of a task
// with process state (t.proc) does not pass: its exit signals need the
// general path.
const oneRowSQL = `
	WITH u AS (
		UPDATE tasks t SET
			version = t.version + 1,
			journal_len = t.journal_len + $2,
			status = $3, reason = $4, wait = $5, result = $6, err = $7, run_at = $8,
			ready = CASE WHEN $10 THEN false ELSE t.ready OR $11 END,
			ready_seq = CASE WHEN $11 AND NOT t.ready THEN nextval('tasks_ready_seq') ELSE t.ready_seq END,
			lease_owner = CASE WHEN $9 THEN t.lease_owner END,
			lease_until = CASE WHEN $9 THEN t.lease_until END,
			cancel = t.cancel AND NOT $10,
			token = $12,
			wait_kind = $13
		WHERE t.id = $1 AND t.lease_owner = $14 AND t.lease_epoch = $16 AND t.version = $17
			AND ($15 < 0 OR t.journal_len = $15) AND NOT ($10 AND t.proc)
		RETURNING t.id
	), j AS (
		INSERT INTO journal (task_id, seq, entry, sum)
		SELECT u.id, e.seq, e.entry, e.sum FROM u, unnest($18::bigint[], $19::bytea[], $20::bigint[]) AS e(seq, entry, sum)
	), n AS (
		SELECT pg_notify($21, '') FROM u WHERE $22
	)
	SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM n)`

// commitOneRow tries st on the one-round-trip path. It reports whether
// the step committed; false with a nil error means the fence did not
// hold (or the step cannot take this path): the general path decides. An
// error is the transaction's as a whole, as Commit's.
func (s *Store) commitOneRow(ctx context.Context, st *store.Step, p *prepared) (bool, error) {
	if !oneRow(st) || s.beforeCommit != nil {
		return false, nil
	}
	var applied, notified int64
	if err := s.pool.QueryRow(ctx, oneRowSQL, s.oneRowArgs(st, p)...).Scan(&applied, &notified); err != nil {
		return false, err
	}
	return applied == 1, nil
}

// oneRowArgs are the arguments of oneRowSQL for st.
func (s *Store) oneRowArgs(st *store.Step, p *prepared) []any {
	final := st.Status.Final()
	keep := st.Keep && !final
	resume := !final && !keep && st.Status == task.Running
	runAt := st.RunAt
	if final {
		runAt = time.Time{}
	}
	base := int64(-1)
	seqs := make([]int64, len(st.Append))
	for i, e := range st.Append {
		seqs[i] = int64(e.Seq)
	}
	if len(st.Append) > 0 {
		base = seqs[0] - 1
	}
	notify := resume || (!runAt.IsZero() && runAt.Before(time.Now().Add(s.opts.PollInterval)))
	return []any{st.ID, int64(len(st.Append)), string(st.Status), st.Reason, p.wait, st.Result, p.errb, unixNano(runAt),
		keep, final, resume, int64(st.Token), waitKind(st.Wait), st.Owner, base, int64(st.Epoch), int64(st.Steps),
		seqs, p.entries, checksums(p.entries), s.channel, notify}
}

// commitOneRows commits, in one implicit transaction and one round trip,
// the steps of a group commit that may take the one-row path (and that
// errs does not refuse yet): one oneRowSQL statement each, in ID order,
// so that they lock their rows in the order every other commit does. It
// returns which steps were applied (their fence held); the others changed
// nothing and are left to the general path. If the transaction fails by
// the fault of a step or a deadlock, nothing committed and applied is all
// false: the general path commits them, and finds the step at fault. Any
// other error is the transaction's as a whole, as Commit's.
func (s *Store) commitOneRows(ctx context.Context, steps []store.Step, preps []prepared, errs []error) ([]bool, error) {
	applied := make([]bool, len(steps))
	if s.beforeCommit != nil {
		return applied, nil
	}
	var idx []int
	for i := range steps {
		if errs[i] == nil && oneRow(&steps[i]) {
			idx = append(idx, i)
		}
	}
	if len(idx) < 2 {
		return applied, nil // none, or one: the general path or commitOneRow
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(steps[a].ID, steps[b].ID) })
	b := &pgx.Batch{}
	for _, i := range idx {
		b.Queue(oneRowSQL, s.oneRowArgs(&steps[i], &preps[i])...)
	}
	br := s.pool.SendBatch(ctx, b)
	ok := make([]bool, len(idx))
	var err error
	for k := range idx {
		var n, notified int64
		if err = br.QueryRow().Scan(&n, &notified); err != nil {
			break
		}
		ok[k] = n == 1
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	switch {
	case err == nil:
		for k, i := range idx {
			applied[i] = ok[k]
		}
		return applied, nil
	case (stepFault(err) || isDeadlock(err)) && ctx.Err() == nil:
		return applied, nil
	}
	return nil, err
}
