// Package sql runs database calls from programs as activities, over
// database/sql: a query's rows are decoded into a slice of a struct type
// and recorded in the task's journal; an exec's result likewise. A replay,
// or a task resumed after a crash, gets the recorded rows back and never
// touches the database.
//
//	sql.Register("shop", db) // once per process, a *database/sql.DB
//
//	orders := sql.Query[Order](e, "shop", "SELECT id, cents FROM orders WHERE cents > ?", 100)
//	res := sql.Exec(e, "shop", "UPDATE orders SET shipped = 1 WHERE id = ?", id)
//
// In tree style, QueryOp and ExecOp are the ops: effect.Perform(sql.QueryOp[Order]{...}).
//
// # Rows into structs
//
// A row's columns are scanned (with database/sql's conversions) into the
// exported fields of T: a field named by a `sql:"name"` tag, else by its
// `json` tag, else by its Go name, matched without regard to case (so
// column created_at fills CreatedAt's `sql:"created_at"`, and column
// cents fills Cents). A column with no field, or a value that does not fit
// its field, fails the op with a *DecodeError naming the task, the query,
// the row and the column: at once, without retries. A T that is not a
// struct (an int, a string) takes a single column. Fields without a column
// keep their zero value.
//
// # Databases
//
// A program names its database ("shop"); each worker process registers
// the *database/sql.DB behind the name (Register). A test can instead
// install a handler for the op type (effect.Handle on QueryOp[Order]) and
// answer from a map.
//
// # At least once
//
// An activity may run again after a crash (before its result was
// committed): make execs idempotent. The argument IdempotencyKey is
// replaced, when the exec runs, by the op's idempotency key, the same for
// every attempt, so that a unique column can recognise a repeat:
//
//	sql.Exec(e, "shop", "INSERT INTO charges(key, cents) VALUES (?, ?) ON CONFLICT DO NOTHING", sql.IdempotencyKey, 500)
//
// # Limits
//
// A query that returns more than MaxRows rows (default DefaultMaxRows)
// fails with a *TooManyRowsError instead of bloating the journal: page
// through large results with LIMIT and OFFSET, or keep them out of the
// journal in an activity of your own.
package sql

import (
	"context"
	gosql "database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/amberrt/amber/effect"
)

// DefaultMaxRows bounds the rows a query records when it sets no limit.
const DefaultMaxRows = 10_000

// maxRows is the most a journal entry can hold: the codec's limit on the
// elements of an array (internal/codec.MaxElements).
const maxRows = 1 << 17

// DefaultRetry is the retry policy of an op that sets none: three attempts,
// one second apart and then two; a decoding error, too many rows and an
// unknown database are not retried.
var DefaultRetry = effect.RetryPolicy{
	MaximumAttempts: 3,
	InitialInterval: time.Second,
	NonRetryable:    []error{ErrDecode, ErrTooManyRows, ErrNoDatabase},
}

// Errors of the package, matched (errors.Is) by the error types that carry
// the details.
var (
	ErrNoDatabase  = errors.New("sql: no database registered under this name")
	ErrDecode      = errors.New("sql: a row does not fit")
	ErrTooManyRows = errors.New("sql: too many rows")
	ErrDuplicate   = errors.New("sql: database name already registered")
)

var (
	dbMu sync.RWMutex
	dbs  = map[string]*gosql.DB{}
)

// Register makes db the database that ops naming name use in this
// process. A name can be registered once (until Unregister).
func Register(name string, db *gosql.DB) error {
	if name == "" || db == nil {
		return errors.New("sql: register: empty name or nil database")
	}
	dbMu.Lock()
	defer dbMu.Unlock()
	if _, ok := dbs[name]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicate, name)
	}
	dbs[name] = db
	return nil
}

// Unregister forgets the database registered under name.
func Unregister(name string) {
	dbMu.Lock()
	defer dbMu.Unlock()
	delete(dbs, name)
}

func lookup(ctx context.Context, name, op string) (*gosql.DB, error) {
	dbMu.RLock()
	db, ok := dbs[name]
	dbMu.RUnlock()
	if !ok {
		task, _ := effect.TaskID(ctx)
		return nil, fmt.Errorf("sql: task %s: %s: %w: %q (call sql.Register in this process)", orNone(task), op, ErrNoDatabase, name)
	}
	return db, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

type idempotencyKey struct{}

// IdempotencyKey, passed as an argument of an op, is replaced by the op's
// idempotency key when it runs.
var IdempotencyKey any = idempotencyKey{}

func args(ctx context.Context, in []any) []any {
	out := make([]any, len(in))
	for i, a := range in {
		if _, ok := a.(idempotencyKey); ok {
			a = effect.IdempotencyKey(ctx)
		}
		out[i] = a
	}
	return out
}

// QueryOp is a query whose rows are decoded into a []T and journaled. DB,
// SQL and Args are its identity in the journal.
type QueryOp[T any] struct {
	effect.Returns[[]T]
	// DB names the database (see Register); SQL and Args are the query.
	DB   string
	SQL  string
	Args []any `cbor:",omitempty"`
	// First reads only the first row (if any); the others are not read.
	First bool `cbor:",omitempty"`

	// MaxRows bounds the rows (0: DefaultMaxRows).
	MaxRows int `cbor:"-" json:"-"`
	// Retry is the retry policy (nil: DefaultRetry).
	Retry *effect.RetryPolicy `cbor:"-" json:"-"`
}

// RetryPolicy returns the op's policy.
func (q QueryOp[T]) RetryPolicy() effect.RetryPolicy { return policy(q.Retry) }

func policy(p *effect.RetryPolicy) effect.RetryPolicy {
	if p != nil {
		return *p
	}
	return DefaultRetry
}

// String renders the op as "query on DB: SQL".
func (q QueryOp[T]) String() string { return fmt.Sprintf("query on %s: %s", q.DB, oneLine(q.SQL)) }

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// Run runs the query on the database registered as q.DB.
func (q QueryOp[T]) Run(ctx context.Context) ([]T, error) {
	db, err := lookup(ctx, q.DB, q.String())
	if err != nil {
		return nil, err
	}
	limit := q.MaxRows
	if limit <= 0 {
		limit = DefaultMaxRows
	}
	limit = min(limit, maxRows)
	task, _ := effect.TaskID(ctx)
	rows, err := db.QueryContext(ctx, q.SQL, args(ctx, q.Args)...)
	if err != nil {
		return nil, fmt.Errorf("sql: task %s: %s: %w", orNone(task), q, err)
	}
	defer rows.Close()
	if q.First {
		limit = 1
	}
	out, err := scanAll[T](rows, limit, q.First)
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			de.Task, de.Query = task, q.String()
			return nil, de
		}
		var tm *TooManyRowsError
		if errors.As(err, &tm) {
			tm.Task, tm.Query = task, q.String()
			return nil, tm
		}
		return nil, fmt.Errorf("sql: task %s: %s: %w", orNone(task), q, err)
	}
	return out, nil
}

// Result is what an exec recorded.
type Result struct {
	// RowsAffected is the number of rows the statement changed.
	RowsAffected int64
	// LastInsertID is 0 where the driver does not report it.
	LastInsertID int64 `cbor:",omitempty"`
}

// ExecOp is a statement that returns no rows (INSERT, UPDATE, DELETE,
// DDL). DB, SQL and Args are its identity in the journal.
type ExecOp struct {
	effect.Returns[Result]
	// DB names the database (see Register); SQL and Args are the statement.
	DB   string
	SQL  string
	Args []any `cbor:",omitempty"`

	// Retry is the retry policy (nil: DefaultRetry).
	Retry *effect.RetryPolicy `cbor:"-" json:"-"`
}

// RetryPolicy returns the op's policy.
func (x ExecOp) RetryPolicy() effect.RetryPolicy { return policy(x.Retry) }

// String renders the op as "exec on DB: SQL".
func (x ExecOp) String() string { return fmt.Sprintf("exec on %s: %s", x.DB, oneLine(x.SQL)) }

// Run runs the statement on the database registered as x.DB.
func (x ExecOp) Run(ctx context.Context) (Result, error) {
	db, err := lookup(ctx, x.DB, x.String())
	if err != nil {
		return Result{}, err
	}
	res, err := db.ExecContext(ctx, x.SQL, args(ctx, x.Args)...)
	if err != nil {
		task, _ := effect.TaskID(ctx)
		return Result{}, fmt.Errorf("sql: task %s: %s: %w", orNone(task), x, err)
	}
	var r Result
	r.RowsAffected, _ = res.RowsAffected()
	r.LastInsertID, _ = res.LastInsertId()
	return r, nil
}

// Query runs a query inside a direct-style body and returns its rows as a
// []T; see QueryOp. A failure fails the body.
func Query[T any](e *effect.Ctx, db, query string, args ...any) []T {
	return effect.Call(e, QueryOp[T]{DB: db, SQL: query, Args: args})
}

// QueryRow runs a query and returns its first row, and whether there was
// one.
func QueryRow[T any](e *effect.Ctx, db, query string, args ...any) (T, bool) {
	rows := effect.Call(e, QueryOp[T]{DB: db, SQL: query, Args: args, First: true})
	if len(rows) == 0 {
		var zero T
		return zero, false
	}
	return rows[0], true
}

// Exec runs a statement inside a direct-style body; see ExecOp.
func Exec(e *effect.Ctx, db, query string, args ...any) Result {
	return effect.Call(e, ExecOp{DB: db, SQL: query, Args: args})
}

// DecodeError reports a row that does not fit T.
type DecodeError struct {
	// Task is the task, if known; Query is the query.
	Task  string
	Query string
	Row   int // from 1
	// Column is the column that does not fit, Into the Go type it was
	// put in, and Err what the conversion said.
	Column string
	Into   string
	Err    error
}

// Error names the task, the query, the row and the column.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("sql: task %s: %s: row %d, column %q: cannot put it in %s: %v", orNone(e.Task), e.Query, e.Row, e.Column, e.Into, e.Err)
}

// Is reports whether target is ErrDecode.
func (e *DecodeError) Is(target error) bool { return target == ErrDecode }

// Unwrap returns the scanner's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// TooManyRowsError reports a query with more rows than its limit.
type TooManyRowsError struct {
	// Task is the task, if known; Query is the query; Limit is the
	// limit it went over.
	Task  string
	Query string
	Limit int
}

// Error names the task, the query and the limit.
func (e *TooManyRowsError) Error() string {
	return fmt.Sprintf("sql: task %s: %s: more than %d rows (page with LIMIT, or raise QueryOp.MaxRows)", orNone(e.Task), e.Query, e.Limit)
}

// Is reports whether target is ErrTooManyRows.
func (e *TooManyRowsError) Is(target error) bool { return target == ErrTooManyRows }

var errNoField = errors.New("no field of the struct takes this column")

// scanAll decodes rows into a []T.
func scanAll[T any](rows *gosql.Rows, limit int, first bool) ([]T, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	t := reflect.TypeFor[T]()
	into := t.String()
	var fields [][]int // index path of each column's field; nil for a scalar T
	if isStruct(t) {
		byName := fieldsOf(t)
		fields = make([][]int, len(cols))
		for i, c := range cols {
			idx, ok := byName[strings.ToLower(c)]
			if !ok {
				return nil, &DecodeError{Row: 1, Column: c, Into: into, Err: errNoField}
			}
			fields[i] = idx
		}
	} else if len(cols) != 1 {
		return nil, &DecodeError{Row: 1, Column: strings.Join(cols, ", "), Into: into, Err: fmt.Errorf("%d columns for a %s, which takes one", len(cols), into)}
	}
	var out []T
	dest := make([]any, len(cols))
	for rows.Next() {
		if len(out) == limit {
			if first {
				break
			}
			return nil, &TooManyRowsError{Limit: limit}
		}
		var v T
		rv := reflect.ValueOf(&v).Elem()
		if fields == nil {
			dest[0] = &v
		} else {
			for i, idx := range fields {
				dest[i] = rv.FieldByIndex(idx).Addr().Interface()
			}
		}
		if err := rows.Scan(dest...); err != nil {
			// database/sql names the column only in its message.
			col := ""
			var n int
			if _, scanErr := fmt.Sscanf(err.Error(), "sql: Scan error on column index %d", &n); scanErr == nil && n < len(cols) {
				col = cols[n]
			}
			return nil, &DecodeError{Row: len(out) + 1, Column: col, Into: into, Err: err}
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

var scannerType = reflect.TypeFor[gosql.Scanner]()

// isStruct reports whether rows map onto T's fields: a struct that does
// not scan itself, and is not a time.
func isStruct(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != reflect.TypeFor[time.Time]() && !reflect.PointerTo(t).Implements(scannerType)
}

// fieldsOf maps the lower-cased column names of T's exported fields to
// their index paths.
func fieldsOf(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous && isStruct(f.Type) {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("sql"); ok {
			name, _, _ = strings.Cut(tag, ",")
		} else if tag, ok := f.Tag.Lookup("json"); ok {
			if n, _, _ := strings.Cut(tag, ","); n != "" {
				name = n
			}
		}
		if name == "-" {
			continue
		}
		key := strings.ToLower(name)
		if _, taken := out[key]; !taken {
			out[key] = f.Index
		}
	}
	return out
}
