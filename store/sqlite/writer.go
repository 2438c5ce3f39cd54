package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// A request is one write queued to the writer goroutine.
type request struct {
	ctx   context.Context
	apply func(w *wtx) error // runs inside a savepoint of its own
	// direct requests run without a savepoint: they refuse before they
	// write, and any error they return breaks the whole transaction.
	direct bool
	err    error
	done   chan struct{}
}

// submit queues apply and waits until the transaction that ran it has
// committed (or failed). Once queued, a write is not abandoned when ctx is
// done: the caller learns whether it was applied.
func (s *Store) submit(ctx context.Context, apply func(w *wtx) error) error {
	return s.submitRequest(&request{ctx: ctx, apply: apply})
}

func (s *Store) submitRequest(r *request) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	r.done = make(chan struct{})
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

// writer applies queued writes in batches, one transaction per batch, until
// Close closes the queue.
func (s *Store) writer() {
	defer close(s.done)
	for r := range s.reqs {
		s.runBatch(r)
	}
}

// runBatch runs first and whatever is queued meanwhile, up to maxBatch
// requests, in one transaction; while it runs, later callers queue up for
// the next one.
func (s *Store) runBatch(first *request) {
	batch := []*request{first}
	defer s.prepare()
	finish := func(err error) {
		for _, r := range batch {
			if err != nil {
				r.err = err
			}
			close(r.done)
		}
	}
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		finish(fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	w := &wtx{s: s, tx: tx, ctx: ctx, stmts: map[string]*sql.Stmt{}}
	for i := 0; i < len(batch); i++ {
		w.run(batch[i])
		if w.broken != nil {
			break
		}
		if i == len(batch)-1 {
		more:
			for len(batch) < s.maxBatch {
				select {
				case r, ok := <-s.reqs:
					if !ok {
						break more
					}
					batch = append(batch, r)
				default:
					break more
				}
			}
		}
	}
	if w.broken != nil {
		tx.Rollback()
		finish(fmt.Errorf("sqlite: write: %w", w.broken))
		return
	}
	if err := tx.Commit(); err != nil {
		finish(fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	finish(nil)
}

// wtx is the writer's transaction.
type wtx struct {
	s      *Store
	tx     *sql.Tx
	ctx    context.Context
	stmts  map[string]*sql.Stmt
	broken error // set when the transaction cannot go on
}

// run applies r in a savepoint, rolled back if r fails.
func (w *wtx) run(r *request) {
	if err := r.ctx.Err(); err != nil {
		r.err = err
		return
	}
	if r.direct {
		if err := r.apply(w); err != nil {
			w.broken, r.err = err, err
		}
		return
	}
	if err := w.savepoint(func() error { return r.apply(w) }); err != nil {
		r.err = err
	}
}

// savepoint runs f so that, if it fails, nothing it wrote remains.
func (w *wtx) savepoint(f func() error) error {
	if _, err := w.exec(`SAVEPOINT w`); err != nil {
		w.broken = err
		return err
	}
	ferr := f()
	if ferr != nil {
		if _, err := w.exec(`ROLLBACK TO w`); err != nil {
			w.broken = err
			return ferr
		}
	}
	if _, err := w.exec(`RELEASE w`); err != nil {
		w.broken = err
		if ferr == nil {
			ferr = err
		}
	}
	return ferr
}

// stmt returns query prepared within tx. The writer's one connection is
// busy with tx, so a query seen for the first time is prepared on tx, and
// on the connection itself after the transaction, for the next ones.
func (w *wtx) stmt(query string) (*sql.Stmt, error) {
	if t, ok := w.stmts[query]; ok {
		return t, nil
	}
	var t *sql.Stmt
	if st, ok := w.s.stmts[query]; ok {
		t = w.tx.StmtContext(w.ctx, st)
	} else {
		var err error
		if t, err = w.tx.PrepareContext(w.ctx, query); err != nil {
			return nil, err
		}
		w.s.unprepared = append(w.s.unprepared, query)
	}
	w.stmts[query] = t
	return t, nil
}

// prepare prepares the queries first seen in the last transaction.
func (s *Store) prepare() {
	for _, q := range s.unprepared {
		if _, ok := s.stmts[q]; ok {
			continue
		}
		if st, err := s.wdb.Prepare(q); err == nil {
			s.stmts[q] = st
		}
	}
	s.unprepared = s.unprepared[:0]
}

func (w *wtx) exec(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

func (w *wtx) queryRow(query string, args ...any) *sql.Row {
	st, err := w.stmt(query)
	if err != nil {
		// A *sql.Row cannot be made with an error: run the query unprepared,
		// which reports the same error.
		return w.tx.QueryRowContext(w.ctx, query, args...)
	}
	return st.QueryRowContext(w.ctx, args...)
}

func (w *wtx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(w.ctx, args...)
}

// nextReady numbers a task that becomes ready: Claim takes the lowest first.
func (w *wtx) nextReady() int64 {
	w.s.readySeq++
	return w.s.readySeq
}
