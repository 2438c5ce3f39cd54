package postgres

import (
	"context"
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

// oneRowVals are the values of a step's one-row update that derive from
// the step: the flags of stepSet, its RunAt (none for a final step),
// whether it notifies the claimers, and its entries' sequence numbers
// and the journal length they continue (base; -1: no entries, no check).
type oneRowVals struct {
	keep, final, resume, notify bool
	runAt                       *int64
	base                        int64
	seqs                        []int64
}

// oneRowVals derives the values of st's one-row update.
func (s *Store) oneRowVals(st *store.Step) oneRowVals {
	v := oneRowVals{final: st.Status.Final(), base: -1, seqs: make([]int64, len(st.Append))}
	v.keep = st.Keep && !v.final
	v.resume = !v.final && !v.keep && st.Status == task.Running
	runAt := st.RunAt
	if v.final {
		runAt = time.Time{}
	}
	for i, e := range st.Append {
		v.seqs[i] = int64(e.Seq)
	}
	if len(st.Append) > 0 {
		v.base = v.seqs[0] - 1
	}
	v.notify = v.resume || (!runAt.IsZero() && runAt.Before(time.Now().Add(s.opts.PollInterval)))
	v.runAt = unixNano(runAt)
	return v
}

// oneRowArgs are the arguments of oneRowSQL for st.
func (s *Store) oneRowArgs(st *store.Step, p *prepared) []any {
	v := s.oneRowVals(st)
	return []any{st.ID, int64(len(st.Append)), string(st.Status), st.Reason, p.wait, st.Result, p.errb, v.runAt,
		v.keep, v.final, v.resume, int64(st.Token), waitKind(st.Wait), st.Owner, v.base, int64(st.Epoch), int64(st.Steps),
		v.seqs, p.entries, checksums(p.entries), s.channel, v.notify}
}

// oneRowsSQL is oneRowSQL for many steps at once: one set-based
// statement whatever their number, its arguments arrays with one element
// per step ($1-$18) and one per journal entry ($19-$22). It first locks
// the steps' rows in ID order (l), as the general path does, so that it
// cannot deadlock with another commit; then updates the rows whose fence
// holds (u), inserts the entries of those steps (j) and notifies once if
// any of them asks (n). It returns the IDs of the steps applied.
const oneRowsSQL = `
	WITH s AS (
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bytea[], $6::bytea[], $7::bytea[],
			$8::bigint[], $9::bool[], $10::bool[], $11::bool[], $12::bigint[], $13::text[], $14::text[], $15::bigint[],
			$16::bigint[], $17::bigint[], $18::bool[])
			AS s(id, n, status, reason, wait, result, err, run_at, keep, final, resume, token, wait_kind, owner, base,
				epoch, steps, notify)
	), l AS MATERIALIZED (
		SELECT id FROM tasks WHERE id = ANY($1) ORDER BY id FOR UPDATE
	), u AS (
		UPDATE tasks t SET
			version = t.version + 1,
			journal_len = t.journal_len + s.n,
			status = s.status, reason = s.reason, wait = s.wait, result = s.result, err = s.err, run_at = s.run_at,
			` + stepSet + `
		FROM s JOIN l ON l.id = s.id
		WHERE t.id = s.id AND t.lease_owner = s.owner AND t.lease_epoch = s.epoch AND t.version = s.steps
			AND (s.base < 0 OR t.journal_len = s.base) AND NOT (s.final AND t.proc)
		RETURNING t.id, s.notify
	), j AS (
		INSERT INTO journal (task_id, seq, entry, sum)
		SELECT e.id, e.seq, e.entry, e.sum
		FROM unnest($19::text[], $20::bigint[], $21::bytea[], $22::bigint[]) AS e(id, seq, entry, sum)
		WHERE e.id IN (SELECT id FROM u)
	), n AS (
		SELECT pg_notify($23, '') FROM (SELECT 1 FROM u WHERE u.notify LIMIT 1) x
	)
	SELECT id, (SELECT count(*) FROM n) FROM u`

// oneRowsArgs are the arguments of oneRowsSQL for the steps of idx.
func (s *Store) oneRowsArgs(steps []store.Step, preps []prepared, idx []int) []any {
	n := len(idx)
	var (
		ids, status, reason, waitKinds, owners  = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		counts, tokens, bases, epochs, versions = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		waits, results, errbs                   = make([][]byte, n), make([][]byte, n), make([][]byte, n)
		runAts                                  = make([]*int64, n)
		keeps, finals, resumes, notifies        = make([]bool, n), make([]bool, n), make([]bool, n), make([]bool, n)
		jIDs                                    []string
		jSeqs                                   []int64
		jEntries                                [][]byte
	)
	for k, i := range idx {
		st, p := &steps[i], &preps[i]
		v := s.oneRowVals(st)
		ids[k], counts[k], status[k], reason[k] = st.ID, int64(len(st.Append)), string(st.Status), st.Reason
		waits[k], results[k], errbs[k], runAts[k] = p.wait, st.Result, p.errb, v.runAt
		keeps[k], finals[k], resumes[k], tokens[k] = v.keep, v.final, v.resume, int64(st.Token)
		waitKinds[k], owners[k], bases[k], epochs[k], versions[k] = waitKind(st.Wait), st.Owner, v.base, int64(st.Epoch), int64(st.Steps)
		notifies[k] = v.notify
		for e, seq := range v.seqs {
			jIDs = append(jIDs, st.ID)
			jSeqs = append(jSeqs, seq)
			jEntries = append(jEntries, p.entries[e])
		}
	}
	return []any{ids, counts, status, reason, waits, results, errbs, runAts, keeps, finals, resumes, tokens, waitKinds,
		owners, bases, epochs, versions, notifies, jIDs, jSeqs, jEntries, checksums(jEntries), s.channel}
}

// commitOneRows commits, in one implicit transaction and one round trip,
// the steps of a group commit that may take the one-row path (and that
// errs does not refuse yet): one oneRowsSQL statement for all of them,
// which locks their rows in ID order as every other commit does. (One
// statement per step in one batch, as it was, committed 3 to 6 times
// fewer steps per second: BenchmarkPostgresCommit/group=32.) A task with more
// than one step in the group has only its first one here. It returns
// which steps were applied (their fence held); the others changed
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
	seen := make(map[string]bool, len(steps))
	for i := range steps {
		if errs[i] == nil && oneRow(&steps[i]) && !seen[steps[i].ID] {
			seen[steps[i].ID] = true
			idx = append(idx, i)
		}
	}
	if len(idx) < 2 {
		return applied, nil // none, or one: the general path or commitOneRow
	}
	rows, _ := s.pool.Query(ctx, oneRowsSQL, s.oneRowsArgs(steps, preps, idx)...)
	done := make(map[string]bool, len(idx))
	var id string
	var notified int64
	_, err := pgx.ForEachRow(rows, []any{&id, &notified}, func() error {
		done[id] = true
		return nil
	})
	switch {
	case err == nil:
		for _, i := range idx {
			applied[i] = done[steps[i].ID]
		}
		return applied, nil
	case (stepFault(err) || isDeadlock(err)) && ctx.Err() == nil:
		return applied, nil
	}
	return nil, err
}
