package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Options tune a Store. A nil *Options means the defaults.
type Options struct {
	// Mode says what this process does with the file: ModeWorker (the
	// default) runs tasks, ModeClient adds work beside a worker,
	// ModeReadOnly only reads.
	Mode Mode
	// Synchronous is SQLite's synchronous setting: "FULL" (the default)
	// makes every commit durable before the call returns. "NORMAL" does
	// not sync the WAL on each commit: faster, still consistent, but a
	// power loss can lose the last commits.
	Synchronous string
	// Readers bounds the read-only connections (Load, Messages, List,
	// World); 0 means 4.
	Readers int
	// MaxBatch bounds the writes applied in one transaction; 0 means 1024.
	MaxBatch int
}

// Mode says what a process does with a store's file.
type Mode uint8

// The modes of Open.
const (
	// ModeWorker is the process that runs the tasks: the only one that
	// claims and commits, as a SQLite store has one worker process. Open
	// takes the file's lock (failing with an error matching ErrLocked if
	// another process holds it), creates the file and its schema or
	// migrates it, and takes over the leases of its dead predecessor.
	ModeWorker Mode = iota
	// ModeClient adds work beside a worker (Create, Send, Wake, Cancel)
	// and reads; Claim, ClaimID and Commit fail with ErrNotWorker. It
	// takes no lock, never creates the file, and needs its schema current.
	// The CLI's send and cancel open stores this way.
	ModeClient
	// ModeReadOnly only reads: every write fails with ErrReadOnly. It
	// takes no lock (WAL readers are fine beside the worker), never
	// creates a file or a schema, and fails clearly on a missing file or
	// one that is not an amber database. The CLI's list and show, and the
	// inspector, open stores this way.
	ModeReadOnly
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case ModeWorker:
		return "worker"
	case ModeClient:
		return "client"
	case ModeReadOnly:
		return "read-only"
	}
	return fmt.Sprintf("sqlite.Mode(%d)", uint8(m))
}

// Store is a store.Store in one SQLite file. It is safe for concurrent use.
type Store struct {
	path   string
	mode   Mode
	lock   *fileLock            // the worker's lock on the file
	wdb    *sql.DB              // one connection, used only by the writer goroutine
	wconn  *sql.Conn            // wdb's connection, held by the writer
	wstmts map[string]*sql.Stmt // prepared on wconn, owned by the writer
	// xstmts are the statements that the writer runs through exec,
	// prepared on wconn's driver connection (see wtx.exec), owned by the
	// writer.
	xstmts map[string]driver.Stmt
	// fenceQueries are the forms of a step's fencing update, made by
	// fenceQuery for the writer.
	fenceQueries [fenceVariants]string
	// taskInserts are the INSERTs of new tasks (taskInsert), by the
	// form of their rows, the index in journalChunks of their number,
	// and whether they do nothing on an ID that exists; made by the
	// writer.
	taskInserts [rowForms][len(journalChunks)][2]string
	// statusHint is the status that the last step of a task gave it, for
	// some of the tasks that stepped lately (up to maxStatusHints),
	// owned by the writer: a step that leaves the status as it is need
	// not set it, which would cost an update of the index on status. It
	// is a hint: the update checks the status it leaves.
	statusHint map[string]task.Status
	// rowHint is the rowid of some of the tasks (up to maxStatusHints),
	// learned when the writer inserted or leased them, owned by the
	// writer: a step's fencing update finds the row by it, not through
	// the index on id. It is a hint: the update checks the id as well.
	rowHint map[string]any
	rdb     *sql.DB   // read-only pool
	rstmts  readStmts // prepared on rdb (database/sql prepares them once per connection)

	maxBatch int
	reqs     chan *request
	mu       sync.RWMutex // held for reading while queueing; Close takes it
	closed   bool
	done     chan struct{} // closed when the writer has stopped

	readySeq   int64  // owned by the writer: the order in which tasks became ready
	worldClock uint64 // owned by the writer: the clock of the last world commit
	// waited holds the world vars that may have waits (world_waits),
	// owned by the writer: a write of another var costs no statement
	// for them. It only grows (a transaction that rolls back may leave
	// a name in it: that costs a statement, never a wake-up).
	waited   map[string]bool
	tookOver int // leases of a dead predecessor released by Open
	// txs, txSteps and txStmts count the writer's transactions that
	// committed, the task steps they wrote and the statements they ran,
	// BEGIN and COMMIT included (for the benchmarks).
	txs, txSteps, txStmts atomic.Int64
}

var _ store.Store = (*Store)(nil)

// Errors of a Store.
var (
	// ErrClosed is returned by the calls made after Close.
	ErrClosed = errors.New("sqlite: store is closed")
	// ErrReadOnly is returned by the writes of a store opened with
	// ModeReadOnly.
	ErrReadOnly = errors.New("sqlite: store is open read-only")
	// ErrNotWorker is returned by Claim, ClaimID and Commit of a store
	// opened with ModeClient: only the worker process runs tasks.
	ErrNotWorker = errors.New("sqlite: only the worker process claims and commits (this store is open as a client)")
	// ErrNotAmber is matched by the error of opening, as a client or
	// read-only, a file that is not an amber database.
	ErrNotAmber = errors.New("not an amber database")
)

// schemaVersion is PRAGMA user_version of the schema below.
const schemaVersion = 9

// schemaSteps take a file from the schema version of their index to the
// next (migrate; the tests make files of earlier versions with them).
var schemaSteps = [schemaVersion]string{schema, schema2, schema3, schema4, schemaWorldWaits, schemaRoutes,
	schemaJournalRowid, schemaStatusPartial, schemaRunAtUnleased}

// schema creates version 1. Timestamps are unix nanoseconds; run_at and
// ready are NULL for none (and always NULL for finished tasks), so that
// their partial indexes hold only the tasks Claim may take.
const schema = `
CREATE TABLE tasks (
	id              TEXT PRIMARY KEY,
	program         TEXT NOT NULL,
	program_version INTEGER NOT NULL,
	input           BLOB,
	status          TEXT NOT NULL,
	reason          TEXT NOT NULL DEFAULT '',
	wait            BLOB,
	result          BLOB,
	err             BLOB,
	parent          TEXT NOT NULL DEFAULT '',
	created         INTEGER NOT NULL DEFAULT 0,
	updated         INTEGER NOT NULL DEFAULT 0,
	run_at          INTEGER,
	ready           INTEGER,
	lease_owner     TEXT NOT NULL DEFAULT '',
	lease_epoch     INTEGER NOT NULL DEFAULT 0,
	lease_until     INTEGER NOT NULL DEFAULT 0,
	lease_at        INTEGER NOT NULL DEFAULT 0,
	cancel          INTEGER NOT NULL DEFAULT 0,
	steps           INTEGER NOT NULL DEFAULT 0,
	entries         INTEGER NOT NULL DEFAULT 0,
	msg_seq         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_ready ON tasks (ready) WHERE ready IS NOT NULL;
CREATE INDEX tasks_run_at ON tasks (run_at) WHERE run_at IS NOT NULL;
CREATE INDEX tasks_lease ON tasks (lease_until) WHERE lease_owner != '';
CREATE INDEX tasks_status ON tasks (status);
CREATE TABLE journal (
	task_id TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	entry   BLOB NOT NULL,
	PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;
CREATE TABLE mailbox (
	task_id  TEXT NOT NULL,
	seq      INTEGER NOT NULL,
	envelope BLOB NOT NULL,
	PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;
CREATE TABLE world (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value
) WITHOUT ROWID;
`

// schema2 takes version 1 to version 2: process state. A task's exit flag
// and registered name (unique among the tasks that hold one: a finished
// task's is cleared), whether it ever had links, monitors or a name (so
// that the end of a task that never had any costs nothing), the links and
// monitors themselves, and the tag of an exit signal in a mailbox (so that
// Unlink and Demonitor can void it).
const schema2 = `
ALTER TABLE tasks ADD COLUMN trap INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN proc INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX tasks_name ON tasks (name) WHERE name != '';
ALTER TABLE mailbox ADD COLUMN tag TEXT;
-- A link (kind 1) between owner and target, stored once; a monitor (kind
-- 2) of target by owner under ref. id orders the signals of an end.
CREATE TABLE links (
	id     INTEGER PRIMARY KEY,
	kind   INTEGER NOT NULL,
	owner  TEXT NOT NULL,
	target TEXT NOT NULL,
	ref    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX links_owner ON links (owner);
CREATE INDEX links_target ON links (target);
`

// schema3 takes version 2 to version 3.
//
// A checksum beside each journal entry and message (task.Checksum of the
// stored bytes; NULL in rows written before version 3, which are not
// checked).
//
// World vars get a version (writes committed to the var: the old rows
// count as one) and the world clock of the commit that wrote them; the
// clock of the world is the largest, found through the index.
//
// A task and a world var keep the token of the step that last wrote them
// (store.Step.Token), for Landed. A task counts its restarts by
// ContinueAsNew (task.Record.Runs). running records that the task's wait
// has an activity attempt running (task.PhaseRunning): a worker that opens
// the file after its predecessor died resumes those tasks at once (see
// Open). wait_kind is the Kind of the task's wait, for List's filter
// (filled in from the stored waits of older rows); List pages through
// the indexes on (status, id) and (updated, id) by keyset.
const schema3 = `
ALTER TABLE journal ADD COLUMN sum INTEGER;
ALTER TABLE mailbox ADD COLUMN sum INTEGER;
ALTER TABLE world ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE world ADD COLUMN clock INTEGER NOT NULL DEFAULT 0;
ALTER TABLE world ADD COLUMN token INTEGER NOT NULL DEFAULT 0;
CREATE INDEX world_clock ON world (clock);
ALTER TABLE tasks ADD COLUMN token INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN runs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN running INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN wait_kind TEXT NOT NULL DEFAULT '';
DROP INDEX tasks_status;
CREATE INDEX tasks_status ON tasks (status, id);
CREATE INDEX tasks_updated ON tasks (updated, id);
`

// schemaWorldWaits takes version 4 to version 5: the tasks waiting in an
// STM Retry on each world var (store.Step.WaitWorld), with their step
// count when they began to wait; a commit that writes the var wakes those
// that took no step since, and deletes the var's waits.
const schemaWorldWaits = `
CREATE TABLE world_waits (
	name    TEXT NOT NULL,
	task_id TEXT NOT NULL,
	steps   INTEGER NOT NULL,
	PRIMARY KEY (name, task_id)
) WITHOUT ROWID;
`

// schemaJournalRowid takes version 6 to version 7: the journal becomes a
// rowid table, its rows kept in the order they were written, with a
// unique index on (task_id, seq) to find a task's. Before, the journal
// was WITHOUT ROWID, its rows kept in the order of (task_id, seq): a
// transaction of the steps of many tasks wrote as many leaf pages,
// scattered through the table, as it had steps (a row is ~130 bytes);
// now its rows append to the last leaf pages, and only the index, a
// sixth of the size, takes scattered writes. The rows are copied in
// their key order, which is the order in which a task reads its own.
const schemaJournalRowid = `
CREATE TABLE journal_v7 (
	task_id TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	entry   BLOB NOT NULL,
	sum     INTEGER
);
INSERT INTO journal_v7 (task_id, seq, entry, sum) SELECT task_id, seq, entry, sum FROM journal ORDER BY task_id, seq;
DROP TABLE journal;
ALTER TABLE journal_v7 RENAME TO journal;
CREATE UNIQUE INDEX journal_task ON journal (task_id, seq);
`

// schemaStatusPartial takes version 7 to version 8: the index on (status,
// id) leaves out the tasks that are done, as PostgreSQL's migration 0008
// does. The end of every task that ends done wrote an entry in it, for the
// status most tasks end in and keep for ever; now it deletes one, and the
// index holds the tasks that are not done (few, in a store that has run
// for a while). Done tasks are listed through the primary key or
// tasks_updated, skipping the others, and counted as all the tasks less
// those that are not done (Counts). The conditions that want the index
// say notDone in so many words: SQLite uses a partial index only for a
// query whose WHERE has its condition as a term.
const schemaStatusPartial = `
DROP INDEX tasks_status;
CREATE INDEX tasks_status ON tasks (status, id) WHERE ` + notDone + `;
`

// schemaRunAtUnleased takes version 8 to version 9: the index on run_at
// leaves out leased tasks. A task that waits for an activity attempt
// running in its worker keeps its lease and stores the attempt's
// deadline in run_at, a new one at every step: each step deleted an
// entry of the index and inserted another (about 13% of the writer's
// instructions a step, in BenchmarkSQLiteCommitSteps). Claim takes a
// leased task only once its lease has run out, whatever its run_at,
// and finds those through tasks_lease; it finds through tasks_run_at
// the unleased tasks whose timer is due. The conditions that want the
// index say so in so many words, as a term of their own (see
// schemaStatusPartial).
const schemaRunAtUnleased = `
DROP INDEX tasks_run_at;
CREATE INDEX tasks_run_at ON tasks (run_at) WHERE run_at IS NOT NULL AND lease_owner = '';
`

// Open opens the store in the SQLite file at path (amber's default is
// "./amber.db"). path may also be a "file:" URI with SQLite's parameters.
// opts may be nil; opts.Mode says what this process does with the file.
//
// As a worker (the default), Open creates the file and its schema if need
// be, or migrates an older schema, and fails, with an error that says so,
// if the file cannot be written or another process holds it (ErrLocked).
// Holding the lock, it knows that every lease in the file belonged to a
// dead process: it releases them, and makes their tasks ready at once, as
// it does the tasks whose activity attempt was running when their worker
// died, so that they resume without waiting out their leases.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	sync := strings.ToUpper(o.Synchronous)
	switch sync {
	case "":
		sync = "FULL"
	case "FULL", "NORMAL", "EXTRA":
	default:
		return nil, fmt.Errorf("sqlite: open %s: Synchronous %q: want FULL or NORMAL", path, o.Synchronous)
	}
	if o.Mode > ModeReadOnly {
		return nil, fmt.Errorf("sqlite: open %s: unknown mode %d", path, o.Mode)
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	s := &Store{path: path, mode: o.Mode, maxBatch: o.MaxBatch, reqs: make(chan *request, 256), done: make(chan struct{})}
	fail := func(err error) (*Store, error) {
		if s.wdb != nil {
			s.wdb.Close()
		}
		s.rstmts.close()
		if s.rdb != nil {
			s.rdb.Close()
		}
		s.lock.release()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	file, memory := filePath(path)
	if o.Mode != ModeWorker && !memory {
		// Never create the file: SQLite would, for a typo.
		if _, err := os.Stat(file); err != nil {
			return fail(fmt.Errorf("no amber database here (%w); a %s open never creates one", err, o.Mode))
		}
	}
	var err error
	if o.Mode == ModeWorker && !memory {
		if s.lock, err = lockFile(file); err != nil {
			fail(err)
			var le *LockedError
			if errors.As(err, &le) {
				return nil, fmt.Errorf("sqlite: %w", err) // it names the file
			}
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
	}
	if o.Mode != ModeReadOnly {
		params := []string{"_pragma=busy_timeout(10000)", "_pragma=journal_mode(WAL)", "_pragma=synchronous(" + sync + ")",
			"_pragma=cache_size(-32768)", "_pragma=temp_store(memory)", "_txlock=immediate"}
		if o.Mode == ModeClient {
			params = append(params, "mode=rw")
		}
		if s.wdb, err = sql.Open("sqlite", dsn(path, params...)); err != nil {
			return fail(err)
		}
		s.wdb.SetMaxOpenConns(1)
		s.wdb.SetMaxIdleConns(1)
		s.wdb.SetConnMaxLifetime(0)
		s.wdb.SetConnMaxIdleTime(0)
		if o.Mode == ModeWorker {
			err = s.migrate()
		} else {
			err = checkSchema(s.wdb)
		}
		if err != nil {
			if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "readonly") || strings.Contains(err.Error(), "read-only") {
				return fail(fmt.Errorf("the database is read-only: %w", err))
			}
			return fail(err)
		}
		if o.Mode == ModeWorker {
			if err := s.takeOver(); err != nil {
				return fail(err)
			}
		}
	}
	// Readers: query_only on a read-write connection (mode=rw never
	// creates the file), so that SQLite can tidy the WAL's files away when
	// the last connection closes; read-only (mode=ro) if the file cannot
	// be written.
	readers := func(mode string) error {
		if s.rdb != nil {
			s.rdb.Close()
		}
		params := []string{"_pragma=busy_timeout(10000)", "_pragma=cache_size(-8192)", "_pragma=temp_store(memory)",
			"_query_only=true"}
		if mode != "" {
			params = append(params, "mode="+mode)
		}
		s.rdb, err = sql.Open("sqlite", dsn(path, params...))
		if err != nil {
			return err
		}
		s.rdb.SetMaxOpenConns(o.Readers)
		s.rdb.SetMaxIdleConns(o.Readers)
		s.rdb.SetConnMaxLifetime(0)
		s.rdb.SetConnMaxIdleTime(0)
		if o.Mode == ModeReadOnly {
			return checkSchema(s.rdb)
		}
		return nil
	}
	rmode := "rw"
	if memory {
		rmode = ""
	}
	if err := readers(rmode); err != nil {
		if o.Mode != ModeReadOnly || errors.Is(err, ErrNotAmber) || memory {
			return fail(err)
		}
		if err := readers("ro"); err != nil {
			return fail(err)
		}
	}
	if err := s.rstmts.prepare(s.rdb); err != nil {
		return fail(err)
	}
	if o.Mode == ModeReadOnly {
		close(s.done)
		return s, nil
	}
	if err := s.wdb.QueryRow(`SELECT COALESCE(MAX(ready), 0) FROM tasks`).Scan(&s.readySeq); err != nil {
		return fail(err)
	}
	if err := s.wdb.QueryRow(worldClockQuery).Scan(&s.worldClock); err != nil {
		return fail(err)
	}
	if s.waited, err = s.waitedVars(); err != nil {
		return fail(err)
	}
	if s.wconn, err = s.wdb.Conn(context.Background()); err != nil {
		return fail(err)
	}
	s.wstmts = map[string]*sql.Stmt{}
	s.xstmts = map[string]driver.Stmt{}
	s.statusHint = map[string]task.Status{}
	s.rowHint = map[string]any{}
	go s.writer()
	return s, nil
}

// filePath returns the file that path (a path or a "file:" URI) names,
// and whether it is an in-memory database instead (no file, no lock).
func filePath(path string) (file string, memory bool) {
	if path == ":memory:" || path == "" {
		return "", true
	}
	rest, ok := strings.CutPrefix(path, "file:")
	if !ok {
		return path, false
	}
	rest, query, _ := strings.Cut(rest, "?")
	if q, err := url.ParseQuery(query); err == nil && q.Get("mode") == "memory" {
		return "", true
	}
	if p, err := url.PathUnescape(rest); err == nil {
		rest = p
	}
	if rest == "" || rest == ":memory:" {
		return "", true
	}
	return rest, false
}

// checkSchema checks that db, opened by a client or read-only, holds an
// amber schema of the version this build reads: it never creates or
// migrates one.
func checkSchema(db *sql.DB) error {
	var v, tables int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("%w (%v)", ErrNotAmber, err)
	}
	err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table'
		AND name IN ('tasks', 'journal', 'mailbox', 'world')`).Scan(&tables)
	switch {
	case err != nil:
		return fmt.Errorf("%w (%v)", ErrNotAmber, err)
	case v == 0 || tables != 4:
		return fmt.Errorf("%w (no amber schema)", ErrNotAmber)
	case v < schemaVersion:
		return fmt.Errorf("schema version %d is older than this amber's (%d): open it once as the worker to migrate it", v, schemaVersion)
	case v > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this amber's (%d)", v, schemaVersion)
	}
	return nil
}

// takeOver releases the leases of the worker that held the file before
// (its process is gone: this one holds the lock), and makes ready at once
// their tasks and the tasks whose activity attempt was running in it.
func (s *Store) takeOver() error {
	rows, err := s.wdb.Query(`SELECT id FROM tasks WHERE (lease_owner != '' OR running = 1) AND ` + notFinal)
	if err != nil {
		return fmt.Errorf("taking over: %w", err)
	}
	ids, err := collectStrings(rows)
	if err != nil {
		return fmt.Errorf("taking over: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	var next int64
	if err := s.wdb.QueryRow(`SELECT COALESCE(MAX(ready), 0) FROM tasks`).Scan(&next); err != nil {
		return fmt.Errorf("taking over: %w", err)
	}
	tx, err := s.wdb.Begin()
	if err != nil {
		return fmt.Errorf("taking over: %w", err)
	}
	defer tx.Rollback()
	for _, id := range ids {
		next++
		if _, err := tx.Exec(`UPDATE tasks SET lease_owner = '', lease_until = 0, ready = COALESCE(ready, ?) WHERE id = ?`,
			next, id); err != nil {
			return fmt.Errorf("taking over %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("taking over: %w", err)
	}
	s.tookOver = len(ids)
	return nil
}

// collectStrings reads a column of strings.
func collectStrings(rows *sql.Rows) ([]string, error) {
	return collect(rows, func(rows *sql.Rows) (v string, err error) {
		return v, rows.Scan(&v)
	})
}

// collect reads every row of rows with scan, and closes rows.
func collect[T any](rows *sql.Rows, scan func(*sql.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryAll runs query on q and reads its rows with scan (collect); an
// error is wrapped as "sqlite: what: ...".
func queryAll[T any](ctx context.Context, q queryer, what, query string, args []any, scan func(*sql.Rows) (T, error)) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	out, err := collect(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return out, nil
}

// TookOver returns the number of tasks that Open took over from the dead
// worker before it: leases released and attempts that were running, now
// ready.
func (s *Store) TookOver() int { return s.tookOver }

// dsn makes a "file:" URI for path with the driver's parameters. A path
// that is a "file:" URI already is kept, with its own parameters.
func dsn(path string, params ...string) string {
	if strings.HasPrefix(path, "file:") {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		return path + sep + strings.Join(params, "&")
	}
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + esc.Replace(path) + "?" + strings.Join(params, "&")
}

// migrate creates the schema of a new file, checks the version of an old
// one, and makes sure the file can be written: a read-only file fails here
// rather than at the first commit.
func (s *Store) migrate() error {
	ctx := context.Background()
	var v int
	if err := s.wdb.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	var mode string
	if err := s.wdb.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL (is the file read-only?)", mode)
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	switch {
	case v >= 0 && v < schemaVersion:
		for i, step := range schemaSteps[v:] {
			if _, err := tx.ExecContext(ctx, step); err != nil {
				return fmt.Errorf("schema version %d: %w", v+i+1, err)
			}
		}
		if v > 0 && v < 3 {
			if err := fillWaitColumns(ctx, tx); err != nil {
				return fmt.Errorf("schema version 3: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
			return err
		}
	case v == schemaVersion:
	default:
		return fmt.Errorf("schema version %d: this amber reads version %d", v, schemaVersion)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('opened', unixepoch())
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`); err != nil {
		return err
	}
	return tx.Commit()
}

// fillWaitColumns fills the columns that version 3 derives from a task's
// wait (wait_kind, running) for the rows written before. A wait that does
// not decode is left for Load to report.
func fillWaitColumns(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, wait FROM tasks WHERE wait IS NOT NULL AND `+notFinal)
	if err != nil {
		return err
	}
	type fill struct {
		id      string
		kind    string
		running bool
	}
	var fills []fill
	for rows.Next() {
		var id string
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			rows.Close()
			return err
		}
		var w task.Wait
		if task.Unmarshal(b, &w) == nil {
			fills = append(fills, fill{id, w.Kind, attemptRunning(&w)})
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, f := range fills {
		if _, err := tx.ExecContext(ctx, `UPDATE tasks SET wait_kind = ?, running = ? WHERE id = ?`, f.kind, f.running, f.id); err != nil {
			return err
		}
	}
	return nil
}

// Path returns the path (or "file:" URI) the store was opened with.
func (s *Store) Path() string { return s.path }

// Close stops the writer once the queued writes are done, closes the
// database and releases the file's lock. It is safe to call more than
// once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	for _, st := range s.wstmts {
		st.Close()
	}
	if s.wconn != nil {
		s.wconn.Raw(func(any) error {
			for _, st := range s.xstmts {
				st.Close()
			}
			return nil
		})
	}
	s.rstmts.close()
	var err error
	if s.mode == ModeReadOnly {
		err = s.rdb.Close()
	} else {
		err = errors.Join(s.wconn.Close(), s.rdb.Close(), s.wdb.Close())
	}
	s.lock.release() // last: the file is closed
	return err
}
