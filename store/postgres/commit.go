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

	// process state: whether the task ever had links, monitors or a name
	// (in the table, or made by this commit), and its name
	proc bool
	name string
}

// prepared is a step encoded ahead of the transaction.
type prepared struct {
	entries [][]byte
	wait    []byte
	errb    []byte
	sends   [][]byte
}

// Commit applies the steps in one transaction, or two. The steps that
// touch their task's row alone take one round trip (see onerow.go): one
// statement each, all in one batch and one transaction when there are
// several. The others, and those whose fence that statement refused
// (which changed nothing), take two round trips, in a second transaction: the
// first locks every row the steps touch (their tasks, the targets of their
// sends, the IDs they spawn, the peers of their process ops) in ID order,
// so that concurrent commits cannot deadlock, and reads the fences; the
// second applies the steps that passed, in a handful of set-based
// statements whatever their number, and commits. A commit that ends a task
// that has links or monitors takes one more round trip, to lock their
// peers and read them (see process.go).
//
// A step is refused with an error matching store.ErrLeaseLost when its
// task is not leased to its Owner at its Epoch and Version; with one
// matching task.ErrInvalidJournal when its entries do not continue the
// journal; with one matching store.ErrExists when it spawns an existing
// task; with one matching store.ErrNameTaken when it registers a name
// another task holds; with a *store.StaleError when its world reads or
// writes are stale; with the database's error when the database refuses
// what it writes (a constraint, a string with a NUL byte: see
// commitIsolating). A refused step changes nothing, and the other steps
// commit. Messages sent to unknown tasks are dropped (see store.Outgoing);
// exit signals to finished tasks too.
//
// If the returned error is not nil the transaction that failed did not
// commit, except in one case no client can tell apart: the connection
// broke while COMMIT was in flight; and when a first transaction (the
// one-row steps) committed, the second one's error is returned too: the
// outcome of every step is then unknown until it is asked (store.Landed). Retrying the same steps is safe either way: if the first
// attempt did commit, the fences (the lease was released and the version
// moved on) refuse the retry with store.ErrLeaseLost instead of applying
// anything twice.
func (s *Store) Commit(ctx context.Context, steps []store.Step) ([]error, error) {
	errs := make([]error, len(steps))
	if len(steps) == 0 {
		return errs, nil
	}
	preps := make([]prepared, len(steps))
	for i := range steps {
		if err := prepare(&steps[i], &preps[i]); err != nil {
			errs[i] = commitError(&steps[i], err)
		}
	}
	if len(steps) == 1 && errs[0] == nil {
		switch ok, err := s.commitOneRow(ctx, &steps[0], &preps[0]); {
		case ok:
			return errs, nil
		case err != nil && !stepFault(err):
			return nil, fmt.Errorf("postgres: commit: %w", err)
		}
		// Refused by the fence, at fault, or not a one-row step: the
		// general path finds out why, or commits it.
	}
	if len(steps) > 1 {
		applied, err := s.commitOneRows(ctx, steps, preps, errs)
		if err != nil {
			return nil, fmt.Errorf("postgres: commit: %w", err)
		}
		var rest []int
		for i, ok := range applied {
			if !ok && errs[i] == nil {
				rest = append(rest, i)
			}
		}
		if len(rest) < len(steps) {
			// Some committed: the general path takes the others.
			if len(rest) == 0 {
				return errs, nil
			}
			sub, subPreps, subErrs := make([]store.Step, len(rest)), make([]prepared, len(rest)), make([]error, len(rest))
			for k, i := range rest {
				sub[k], subPreps[k] = steps[i], preps[i]
			}
			if err := s.commitIsolating(ctx, sub, subPreps, subErrs); err != nil {
				return nil, fmt.Errorf("postgres: commit: %w", err)
			}
			for k, i := range rest {
				errs[i] = subErrs[k]
			}
			return errs, nil
		}
	}
	if err := s.commitIsolating(ctx, steps, preps, errs); err != nil {
		return nil, fmt.Errorf("postgres: commit: %w", err)
	}
	return errs, nil
}

// commitIsolating commits the steps that errs does not refuse yet,
// setting errs. If the transaction fails by the fault of what a step
// writes (a constraint, a bad value: see stepFault), no set-based
// statement can tell which step it was, so the steps are committed again
// in two halves, and so on down to the step at fault, which is refused
// alone: the cost of a fault is a few more transactions, and none for
// commits without one.
func (s *Store) commitIsolating(ctx context.Context, steps []store.Step, preps []prepared, errs []error) error {
	err := s.commitAll(ctx, steps, preps, errs)
	if err == nil || !stepFault(err) || ctx.Err() != nil {
		return err
	}
	var live []int
	for i := range steps {
		if errs[i] == nil {
			live = append(live, i)
		}
	}
	if len(live) == 1 {
		errs[live[0]] = commitError(&steps[live[0]], err)
		return nil
	}
	for _, half := range [][]int{live[:len(live)/2], live[len(live)/2:]} {
		sub, subPreps, subErrs := make([]store.Step, len(half)), make([]prepared, len(half)), make([]error, len(half))
		for k, i := range half {
			sub[k], subPreps[k] = steps[i], preps[i]
		}
		if err := s.commitIsolating(ctx, sub, subPreps, subErrs); err != nil {
			return err
		}
		for k, i := range half {
			errs[i] = subErrs[k]
		}
	}
	return nil
}

// stepFault reports whether err is PostgreSQL's refusal of a value a step
// writes (classes 22 data exception, 23 integrity constraint violation, 54
// program limit exceeded: a string with a NUL byte, a duplicate key, an
// index row too large), not a failure of the database or the connection.
func stepFault(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) != 5 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

// commitAll commits in one transaction the steps that errs does not refuse
// yet, setting errs, or fails as a whole.
func (s *Store) commitAll(ctx context.Context, steps []store.Step, preps []prepared, errs []error) error {
	lockIDs := make([]string, 0, len(steps))
	var names []string
	vars := worldLocks{}
	for i := range steps {
		st := &steps[i]
		if errs[i] != nil {
			continue
		}
		vars.add(st)
		if st.ID == "" {
			continue // world vars only
		}
		lockIDs = append(lockIDs, st.ID)
		for _, o := range st.Sends {
			lockIDs = append(lockIDs, o.To)
		}
		for _, r := range st.Spawns {
			lockIDs = append(lockIDs, r.ID)
		}
		for _, op := range st.Proc {
			switch op.Kind {
			case store.ProcLink, store.ProcUnlink, store.ProcMonitor, store.ProcKill:
				lockIDs = append(lockIDs, op.Peer)
			case store.ProcRegister:
				names = append(names, op.Name)
			}
		}
	}
	if len(lockIDs) == 0 && vars.empty() {
		return nil
	}
	slices.Sort(lockIDs)
	lockIDs = slices.Compact(lockIDs)
	slices.Sort(names)
	names = slices.Compact(names)
	locks := &lockSet{ids: lockIDs, names: names, vars: vars.lists()}

	// A deadlock can only come from a commit that waits for the peers of
	// an ending task (see process.go); it rolled back, so the steps are
	// run again, with those peers among the rows locked first.
	for attempt := 0; ; attempt++ {
		out, err := s.commit(ctx, steps, preps, slices.Clone(errs), locks)
		if err == nil {
			copy(errs, out)
			return nil
		}
		if attempt == 3 || !isDeadlock(err) || ctx.Err() != nil {
			return err
		}
	}
}

// commit is one attempt of Commit. It adds to locks.ids the peers it
// finds it must lock.
func (s *Store) commit(ctx context.Context, steps []store.Step, preps []prepared, errs []error, locks *lockSet) ([]error, error) {
	// The first round trip only reads and locks, so it is retried on
	// another connection when the server dropped this one (a restart or a
	// killed backend leaves dead connections in the pool).
	var (
		conn *pgxpool.Conn
		l    *locked
		err  error
	)
	for attempt := 0; ; attempt++ {
		conn, err = s.pool.Acquire(ctx)
		if err == nil {
			l, err = s.lock(ctx, conn, false, locks)
			if err != nil {
				conn.Release()
			}
		}
		if err == nil {
			break
		}
		if attempt == 3 || !connectionLost(err) || ctx.Err() != nil {
			return nil, err
		}
	}
	// On any error the connection is left inside a transaction, and the
	// pool destroys it on release: that rolls the transaction back.
	defer conn.Release()

	// The ends of tasks with process state: lock their peers and read
	// their links. Peers held by other commits are not waited for (the
	// rows already locked were not locked in ID order with them): the
	// commit starts again with them in its first round trip.
	var links []*procLink
	for restart := 0; ; restart++ {
		links = nil
		ending := endingWithProc(steps, errs, l.states)
		if len(ending) == 0 {
			break
		}
		wait := restart == restartsBeforeWaiting
		var missing []string
		links, missing, err = s.readLinks(ctx, conn, ending, locks.ids, l.states, wait)
		if err != nil {
			return nil, err
		}
		if len(missing) == 0 || wait {
			break
		}
		ids := append(slices.Clone(locks.ids), missing...)
		slices.Sort(ids)
		locks.ids = slices.Compact(ids)
		if l, err = s.lock(ctx, conn, true, locks); err != nil {
			return nil, err
		}
	}

	states := l.states
	w := commitWriter{proc: procWriter{links: links, holders: l.holders}, vars: l.world}
	soon := time.Now().Add(s.opts.PollInterval)
	for i := range steps {
		if errs[i] != nil {
			continue
		}
		st := &steps[i]
		if err := w.add(st, &preps[i], states, soon); err != nil {
			var half *halfApplied
			if errors.As(err, &half) {
				return nil, err
			}
			errs[i] = err
		}
	}

	b := &pgx.Batch{}
	w.queue(b, states)
	if w.notify {
		b.Queue(notifySQL, s.channel)
	}
	if len(w.worldOrd) > 0 {
		// Last: the clock row's lock is held from here to the end of the
		// COMMIT, and world commits become visible in clock order.
		w.queueWorld(b, s.worldChannel, s.channel)
	}
	if s.beforeCommit != nil {
		s.beforeCommit(ctx)
	}
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return errs, nil
}

// lockSelect selects the columns of tasks that scanStates reads.
const lockSelect = `SELECT id, status, lease_owner, lease_epoch, version, journal_len, proc, name FROM tasks`

// scanStates reads rows of lockSelect into states.
func scanStates(rows pgx.Rows, states map[string]*taskState) error {
	var id, status, name string
	var owner *string
	var epoch, version, jlen int64
	var proc bool
	_, err := pgx.ForEachRow(rows, []any{&id, &status, &owner, &epoch, &version, &jlen, &proc, &name}, func() error {
		ts := &taskState{status: task.Status(status), epoch: uint64(epoch), version: uint64(version),
			journalLen: uint64(jlen), proc: proc, name: name}
		if owner != nil {
			ts.owner, ts.leased = *owner, true
		}
		states[id] = ts
		return nil
	})
	return err
}

// lockSet is what a commit locks: its tasks' rows and the IDs it spawns
// (ids, in order), the names its steps register, and the world vars they
// write or read.
type lockSet struct {
	ids   []string
	names []string
	vars  worldLockLists
}

// locked is what lock read under the locks.
type locked struct {
	states  map[string]*taskState
	holders map[string]string            // who holds the names registered
	world   map[string]*store.WorldValue // the world vars, as committed (Version 0: none)
}

// lock begins a transaction on conn (rolling back the one it is in, if
// restart) and takes the commit's locks, in one order everywhere: the
// advisory locks of the names being registered, then those of the world
// vars (exclusive for those written, shared for those only read: see
// world.go), each in key order, then the rows of ids in ID order. It
// returns the fences of the tasks, who holds the names and the world vars
// as committed.
func (s *Store) lock(ctx context.Context, conn *pgxpool.Conn, restart bool, locks *lockSet) (*locked, error) {
	l := &locked{states: make(map[string]*taskState, len(locks.ids))}
	b := &pgx.Batch{}
	if restart {
		b.Queue(`ROLLBACK`)
	}
	b.Queue(`BEGIN`)
	if len(locks.names) > 0 {
		b.Queue(`SELECT pg_advisory_xact_lock(k) FROM (
			SELECT DISTINCT hashtext('amber.name:' || current_schema() || ':' || n) AS k
			FROM unnest($1::text[]) AS n ORDER BY k) AS keys`, locks.names)
	}
	l.world = queueWorldLocks(b, locks.vars)
	b.Queue(lockSelect+` WHERE id = ANY($1) ORDER BY id FOR UPDATE`, locks.ids).Query(func(rows pgx.Rows) error {
		return scanStates(rows, l.states)
	})
	if len(locks.names) > 0 {
		l.holders = make(map[string]string, len(locks.names))
		b.Queue(`SELECT name, id FROM tasks WHERE name = ANY($1)`, locks.names).Query(func(rows pgx.Rows) error {
			var name, id string
			_, err := pgx.ForEachRow(rows, []any{&name, &id}, func() error {
				l.holders[name] = id
				return nil
			})
			return err
		})
	}
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return l, nil
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
	if err := st.Check(); err != nil {
		return err
	}
	if st.ID == "" {
		return nil // world vars only
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
	for _, o := range st.Sends {
		data, err := task.EncodeEnvelope(o.Env)
		if err != nil {
			return fmt.Errorf("send to %q: %w", o.To, err)
		}
		p.sends = append(p.sends, data)
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
		waitKind            []string
		n, jn, token        []int64
		wait, result, errb  [][]byte
		runAt               []*int64
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
	sendTag  []string // an exit signal's tag (task.Signal.Tag), or ""
	tagged   bool     // some sendTag is set
	proc     procWriter
	vars     map[string]*store.WorldValue // the world vars, as the steps so far leave them
	world    map[string][]byte            // the world vars written, to store
	worldTok map[string]int64             // the token of the step that wrote each
	worldOrd []string
	waits    map[[2]string]int64 // (var, task) -> the task's version: world waits to store
	rID      []string            // tasks that continue as new: journal emptied, input replaced
	rInput   [][]byte
	notify   bool
}

// add checks st against the locked rows and, if it passes, gathers its
// writes and advances its task's state.
func (w *commitWriter) add(st *store.Step, p *prepared, states map[string]*taskState, soon time.Time) error {
	if st.ID == "" {
		if err := w.stale(st); err != nil {
			return commitError(st, err)
		}
		w.addWorld(st.World, st.Token)
		return nil
	}
	cur := states[st.ID]
	switch {
	case cur == nil || cur.spawned:
		return fmt.Errorf("postgres: commit task %q: no such task: %w", st.ID, store.ErrLeaseLost)
	case !cur.leased || cur.owner != st.Owner || cur.epoch != st.Epoch || cur.version != st.Steps:
		holder := "nobody"
		if cur.leased {
			holder = fmt.Sprintf("%q", cur.owner)
		}
		return fmt.Errorf("postgres: commit task %q by %q at epoch %d, version %d: task is leased to %s at epoch %d, version %d: %w",
			st.ID, st.Owner, st.Epoch, st.Steps, holder, cur.epoch, cur.version, store.ErrLeaseLost)
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
	if err := w.proc.checkNames(st); err != nil {
		return err
	}
	if err := w.stale(st); err != nil {
		return commitError(st, err)
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
	final := st.Status.Final()
	keep := st.Keep && !final // a finished task keeps no lease: it would be claimed once expired
	if !keep {
		cur.leased, cur.owner = false, ""
	}
	resume := !final && !keep && st.Status == task.Running
	if !final && len(st.WaitWorld) > 0 {
		// A var no longer at the version read makes the task ready at
		// once; the others are waited on. The vars are locked (shared).
		for _, r := range st.WaitWorld {
			version := uint64(0)
			if v := w.vars[r.Name]; v != nil {
				version = v.Version
			}
			if version != r.Version {
				resume = true
				continue
			}
			if w.waits == nil {
				w.waits = map[[2]string]int64{}
			}
			w.waits[[2]string{r.Name, st.ID}] = int64(cur.version)
		}
	}

	if w.row == nil {
		w.row = map[string]int{}
	}
	t := &w.t
	runAt := st.RunAt
	if final {
		runAt = time.Time{}
	}
	if i, ok := w.row[st.ID]; ok {
		t.status[i], t.reason[i] = string(st.Status), st.Reason
		t.n[i]++
		t.jn[i] += int64(len(st.Append))
		t.wait[i], t.result[i], t.errb[i] = p.wait, st.Result, p.errb
		t.runAt[i] = unixNano(runAt)
		t.keep[i], t.final[i], t.resume[i] = keep, final, resume
		t.token[i] = int64(st.Token)
		t.waitKind[i] = waitKind(st.Wait)
	} else {
		w.row[st.ID] = len(t.id)
		t.id = append(t.id, st.ID)
		t.status = append(t.status, string(st.Status))
		t.reason = append(t.reason, st.Reason)
		t.n = append(t.n, 1)
		t.jn = append(t.jn, int64(len(st.Append)))
		t.token = append(t.token, int64(st.Token))
		t.waitKind = append(t.waitKind, waitKind(st.Wait))
		t.wait = append(t.wait, p.wait)
		t.result = append(t.result, st.Result)
		t.errb = append(t.errb, p.errb)
		t.runAt = append(t.runAt, unixNano(runAt))
		t.keep = append(t.keep, keep)
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
	for k, o := range st.Sends {
		w.sendTo = append(w.sendTo, o.To)
		w.sendEnv = append(w.sendEnv, p.sends[k])
		w.sendTag = append(w.sendTag, "")
	}
	for _, op := range st.Proc {
		if err := w.applyProc(states, st.ID, op); err != nil {
			return &halfApplied{fmt.Errorf("postgres: commit task %q: %w", st.ID, err)}
		}
	}
	if final {
		if err := w.exit(states, st.ID, st.Exit); err != nil {
			return &halfApplied{fmt.Errorf("postgres: commit task %q: %w", st.ID, err)}
		}
	}
	w.addWorld(st.World, st.Token)
	if len(st.Sends) > 0 || len(st.Spawns) > 0 || resume || (!runAt.IsZero() && runAt.Before(soon)) {
		w.notify = true
	}
	return nil
}

// halfApplied is an error of a step that passed its checks, found while
// its writes were being gathered: the transaction cannot commit without
// half of the step, so it fails as a whole. (An exit signal that does not
// encode: it cannot happen.)
type halfApplied struct{ error }

func (e *halfApplied) Unwrap() error { return e.error }

func (w *commitWriter) addWorld(ws []store.WorldWrite, token uint64) {
	for _, v := range ws {
		if w.world == nil {
			w.world, w.worldTok = map[string][]byte{}, map[string]int64{}
		}
		w.worldTok[v.Name] = int64(token)
		if _, ok := w.world[v.Name]; !ok {
			w.worldOrd = append(w.worldOrd, v.Name)
		}
		w.world[v.Name] = v.Value
		w.vars[v.Name] = &store.WorldValue{Name: v.Name, Value: v.Value, Version: v.Prev + 1}
	}
}

// commitError says which step of a commit failed.
func commitError(st *store.Step, err error) error {
	if st.ID == "" {
		return fmt.Errorf("postgres: commit of world vars: %w", err)
	}
	return fmt.Errorf("postgres: commit task %q: %w", st.ID, err)
}

// waitKind is the column wait_kind of a wait.
func waitKind(w *task.Wait) string {
	if w == nil {
		return ""
	}
	return w.Kind
}

// checksums returns task.Checksum of each stored form, for a sum column.
func checksums(data [][]byte) []int64 {
	sums := make([]int64, len(data))
	for i, d := range data {
		sums[i] = int64(task.Checksum(d))
	}
	return sums
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// queue adds the gathered writes to b, tasks first: a step that finishes a
// task comes before a send to it in the same commit; the message is kept
// in the finished task's mailbox, not dropped. (Exit signals to a task
// that had finished by then were not gathered.)
func (w *commitWriter) queue(b *pgx.Batch, states map[string]*taskState) {
	t := &w.t
	if len(w.rID) > 0 {
		b.Queue(`DELETE FROM journal j USING unnest($1::text[]) AS r(id) WHERE j.task_id = r.id`, w.rID)
		b.Queue(`UPDATE tasks t SET input = r.input, journal_len = 0, runs = t.runs + 1
			FROM unnest($1::text[], $2::bytea[]) AS r(id, input) WHERE t.id = r.id`, w.rID, w.rInput)
	}
	if len(t.id) > 0 {
		b.Queue(`
			UPDATE tasks t SET
				version = t.version + s.n,
				journal_len = t.journal_len + s.jn,
				status = s.status, reason = s.reason, wait = s.wait, result = s.result, err = s.err,
				run_at = s.run_at,
				`+stepSet+`
			FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bytea[], $7::bytea[],
				$8::bytea[], $9::bigint[], $10::bool[], $11::bool[], $12::bool[], $13::bigint[], $14::text[])
				AS s(id, n, jn, status, reason, wait, result, err, run_at, keep, final, resume, token, wait_kind)
			WHERE t.id = s.id`,
			t.id, t.n, t.jn, t.status, t.reason, t.wait, t.result, t.errb, t.runAt, t.keep, t.final, t.resume,
			t.token, t.waitKind)
	}
	if len(w.waits) > 0 {
		var names, ids []string
		var versions []int64
		for k, v := range w.waits {
			names, ids, versions = append(names, k[0]), append(ids, k[1]), append(versions, v)
		}
		b.Queue(`INSERT INTO world_waits (name, task_id, version)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
			ON CONFLICT (name, task_id) DO UPDATE SET version = excluded.version`, names, ids, versions)
	}
	if len(w.jID) > 0 {
		b.Queue(`INSERT INTO journal (task_id, seq, entry, sum)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bigint[])`,
			w.jID, w.jSeq, w.jEnt, checksums(w.jEnt))
	}
	if len(w.cID) > 0 {
		b.Queue(`DELETE FROM mailbox m USING unnest($1::text[], $2::bigint[]) AS c(task_id, seq)
			WHERE m.task_id = c.task_id AND m.seq = c.seq`, w.cID, w.cSeq)
	}
	w.spawns.queue(b)
	w.proc.queueDeletes(b)
	if len(w.sendTo) > 0 {
		// Number each target's new messages after its mailbox_seq, in
		// the order they were sent. Exit signals are among them, with
		// their tags; a commit that delivers none uses the statement
		// without tags.
		msg, tag, msgTag, args := `SELECT to_id, env, sum, ord FROM unnest($1::text[], $2::bytea[], $3::bigint[])
				WITH ORDINALITY AS m(to_id, env, sum, ord)`,
			``, ``, []any{w.sendTo, w.sendEnv, checksums(w.sendEnv)}
		if w.tagged {
			msg, tag, msgTag = `SELECT to_id, env, sum, nullif(tag, '') AS tag, ord
				FROM unnest($1::text[], $2::bytea[], $3::bigint[], $4::text[]) WITH ORDINALITY AS m(to_id, env, sum, tag, ord)`,
				`, tag`, `, msg.tag`
			args = append(args, w.sendTag)
		}
		b.Queue(`
			WITH msg AS (`+msg+`), cnt AS (
				SELECT to_id, count(*) AS n FROM msg GROUP BY to_id
			), upd AS (
				UPDATE tasks t SET mailbox_seq = t.mailbox_seq + cnt.n,
					ready = CASE WHEN t.`+notFinal+` THEN true ELSE t.ready END,
					ready_seq = CASE WHEN t.`+notFinal+` AND NOT t.ready THEN nextval('tasks_ready_seq') ELSE t.ready_seq END
				FROM cnt WHERE t.id = cnt.to_id
				RETURNING t.id, t.mailbox_seq - cnt.n AS base
			)
			INSERT INTO mailbox (task_id, seq, envelope, sum`+tag+`)
			SELECT msg.to_id, upd.base + row_number() OVER (PARTITION BY msg.to_id ORDER BY msg.ord), msg.env, msg.sum`+msgTag+`
			FROM msg JOIN upd ON upd.id = msg.to_id`, args...)
	}
	w.proc.queueWrites(b, states)

}

// stepSet is the part of a step's UPDATE of its task row that both commit
// paths share (the general one and the set-based one of onerow.go): its
// readiness, its lease (kept or released), its cancel flag and its wait;
// s is the step's row of the statement's input.
const stepSet = `ready = CASE WHEN s.final THEN false ELSE t.ready OR s.resume END,
	ready_seq = CASE WHEN s.resume AND NOT t.ready THEN nextval('tasks_ready_seq') ELSE t.ready_seq END,
	lease_owner = CASE WHEN s.keep THEN t.lease_owner END,
	lease_until = CASE WHEN s.keep THEN t.lease_until END,
	cancel = t.cancel AND NOT s.final,
	token = s.token,
	wait_kind = s.wait_kind`
