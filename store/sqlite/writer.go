package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// A request is one write queued to the writer goroutine.
type request struct {
	ctx context.Context
	// apply runs the write. It refuses (returns refused) only before it has
	// written anything, so that a refused write needs no savepoint to leave
	// no trace; err is the database's, and fails the whole transaction,
	// unless it is the request's own fault (see fault): then the
	// transaction is rolled back and run again without it. apply may run
	// more than once: it sets its results anew each time.
	apply func(w *wtx) (refused, err error)
	err   error
	// failed is set when the request's own write failed (its err): the
	// batch runs again without it.
	failed bool
	done   chan struct{}
}

// errRerun is returned by a request's apply that excluded a part of
// itself (a step of a Commit) whose write failed by its own fault: the
// transaction is rolled back and the batch run again.
var errRerun = errors.New("sqlite: run the batch again")

// maxReruns bounds the times a batch runs again after faults of its own
// writes; past it, the whole batch fails.
const maxReruns = 64

// fault reports whether err, from a write, is the fault of what was
// written (a constraint, a value too big or of the wrong type), not of the
// database: the write is refused alone, and the others commit.
func fault(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE:
		return true
	}
	return false
}

// submit queues apply and waits until the transaction that ran it has
// committed (or failed). Once queued, a write is not abandoned when ctx is
// done: the caller learns whether it was applied.
func (s *Store) submit(ctx context.Context, apply func(w *wtx) (refused, err error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.mode == ModeReadOnly {
		return ErrReadOnly
	}
	r := &request{ctx: ctx, apply: apply, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.reqs <- r
	s.mu.RUnlock()
	<-r.done
	return r.err
}

// workerOnly refuses the calls that only the worker process makes.
func (s *Store) workerOnly() error {
	switch s.mode {
	case ModeReadOnly:
		return ErrReadOnly
	case ModeClient:
		return ErrNotWorker
	}
	return nil
}

// writer applies queued writes in batches, one transaction per batch, until
// Close closes the queue.
func (s *Store) writer() {
	defer close(s.done)
	w := &wtx{s: s, ctx: context.Background()}
	batch := make([]*request, 0, s.maxBatch)
	for r := range s.reqs {
		batch = w.runBatch(append(batch[:0], r))
		clear(batch)
	}
}

// runBatch runs batch[0] and whatever is queued meanwhile, up to maxBatch
// requests, in one transaction; while it runs, later callers queue up for
// the next one. It returns the batch it ran.
func (w *wtx) runBatch(batch []*request) []*request {
	s := w.s
	finish := func(err error) {
		for _, r := range batch {
			if err != nil {
				r.err = err
			}
			close(r.done)
		}
	}
	for attempt := 0; ; attempt++ {
		if w.runOnce(&batch) {
			break
		}
		// A write failed by its own fault: it is out, and the rest runs
		// again from the start.
		w.exec(`ROLLBACK`)
		if attempt == maxReruns {
			w.broken = errors.New("too many writes failed by their own faults")
			break
		}
	}
	if w.broken != nil {
		w.exec(`ROLLBACK`)
		finish(fmt.Errorf("sqlite: write: %w", w.broken))
		return batch
	}
	if _, err := w.exec(`COMMIT`); err != nil {
		// Whatever SQLite did with the transaction, none of it stays.
		w.exec(`ROLLBACK`)
		finish(fmt.Errorf("sqlite: commit: %w", err))
		return batch
	}
	s.txs.Add(1)
	s.txSteps.Add(int64(w.landed))
	s.txStmts.Add(w.stmts)
	w.hintStatuses()
	if w.clock != 0 {
		s.worldClock = w.clock
	}
	finish(nil)
	return batch
}

// runOnce begins the transaction and runs the requests of the batch that
// have not failed, gathering the requests that arrive meanwhile. It
// reports false if a write failed by its own fault: the transaction must
// be rolled back and the batch run again. Otherwise the transaction is
// open, unless w.broken is set.
func (w *wtx) runOnce(batch *[]*request) bool {
	s := w.s
	w.broken, w.clock, w.rerun, w.landed, w.stmts = nil, 0, false, 0, 0
	w.statuses = w.statuses[:0]
	if _, err := w.exec(`BEGIN IMMEDIATE`); err != nil {
		w.exec(`ROLLBACK`) // in case the transaction began anyway
		w.broken = fmt.Errorf("begin: %w", err)
		return true
	}
	for i := 0; i < len(*batch); i++ {
		if r := (*batch)[i]; !r.failed {
			w.run(r)
		}
		if w.broken != nil {
			return true
		}
		if w.rerun {
			return false
		}
		if i < len(*batch)-1 || len(*batch) == s.maxBatch {
			continue
		}
		// The last request of the batch is applied: take in those
		// queued meanwhile.
	more:
		for len(*batch) < s.maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break more
				}
				*batch = append(*batch, r)
			default:
				break more
			}
		}
	}
	return true
}

// wtx is the writer's state: its connection's transaction while a batch
// runs. Only the writer goroutine uses it.
type wtx struct {
	s      *Store
	ctx    context.Context
	broken error  // set when the transaction cannot go on
	rerun  bool   // set when a write failed by its own fault
	clock  uint64 // the world clock of the transaction, once it writes a var
	landed int    // the steps of Commits the transaction writes
	stmts  int64  // the statements the transaction ran (for the benchmarks)
	// statuses are the statuses the transaction's steps gave their tasks
	// (see Store.statusHint).
	statuses []taskStatus
	// journal are the journal rows of the Commit being applied, to
	// insert together (flushJournal); journalFault is the index in it of
	// the step whose row failed by its own fault (or -1); args is
	// flushJournal's buffer.
	journal      []journalRow
	journalFault int
	args         []any
	// fargs is commitStep's buffer, for the parameters of a fencing
	// update; nv is exec's, for the driver's.
	fargs []any
	rargs []any // rowidArgs'
	nv    []driver.NamedValue
}

// run applies r.
func (w *wtx) run(r *request) {
	if err := r.ctx.Err(); err != nil {
		r.err = err
		return
	}
	refused, err := r.apply(w)
	switch {
	case errors.Is(err, errRerun):
		w.rerun = true
	case err != nil && fault(err):
		r.err, r.failed, w.rerun = err, true, true
	case err != nil:
		w.broken, r.err = err, err
	default:
		r.err = refused
	}
}

// stmt returns query prepared on the writer's connection: once, the first
// time it is used.
func (w *wtx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := w.s.wstmts[query]; ok {
		return st, nil
	}
	st, err := w.s.wconn.PrepareContext(w.ctx, query)
	if err != nil {
		return nil, err
	}
	w.s.wstmts[query] = st
	return st, nil
}

// exec runs a statement that returns no rows. It calls the driver
// itself, on the writer's connection, with the statement prepared there
// once: database/sql's Stmt.ExecContext would find the connection, make
// a new slice of the arguments and check each again, and wrap the
// result, at every call.
func (w *wtx) exec(query string, args ...any) (res sql.Result, err error) {
	w.stmts++
	err = w.s.wconn.Raw(func(dc any) error {
		st, ok := w.s.xstmts[query]
		if !ok {
			p, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return errors.New("the driver cannot prepare with a context")
			}
			st, err = p.PrepareContext(w.ctx, query)
			if err != nil {
				return err
			}
			w.s.xstmts[query] = st
		}
		x, ok := st.(driver.StmtExecContext)
		if !ok {
			return errors.New("the driver's statement cannot run with a context")
		}
		nv := w.nv[:0]
		for i, a := range args {
			v, err := driverValue(a)
			if err != nil {
				return fmt.Errorf("sql: converting argument $%d type: %w", i+1, err)
			}
			nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: v})
		}
		w.nv = nv
		defer clear(nv)
		r, err := x.ExecContext(w.ctx, nv)
		if err != nil {
			return err
		}
		res = r
		return nil
	})
	return res, err
}

// driverValue converts an argument of exec as database/sql does for a
// driver that checks none itself (as SQLite's): the types the driver
// takes as they are, the others through
// driver.DefaultParameterConverter.
func driverValue(a any) (driver.Value, error) {
	switch a.(type) {
	case nil, int64, string, []byte, bool, float64:
		return a, nil
	}
	return driver.DefaultParameterConverter.ConvertValue(a)
}

// scan runs a query that returns at most one row into dest, and reports
// sql.ErrNoRows if it returned none.
func (w *wtx) scan(query string, args []any, dest ...any) error {
	st, err := w.stmt(query)
	if err != nil {
		return err
	}
	w.stmts++
	return st.QueryRowContext(w.ctx, args...).Scan(dest...)
}

func (w *wtx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	w.stmts++
	return st.QueryContext(w.ctx, args...)
}

// nextReady numbers a task that becomes ready: Claim takes the lowest first.
func (w *wtx) nextReady() int64 {
	w.s.readySeq++
	return w.s.readySeq
}
