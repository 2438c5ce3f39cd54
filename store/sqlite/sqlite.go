package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/amberrt/amber/store"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Options tune a Store. A nil *Options means the defaults.
type Options struct {
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

// Store is a store.Store in one SQLite file. It is safe for concurrent use.
type Store struct {
	path   string
	wdb    *sql.DB              // one connection, used only by the writer goroutine
	wconn  *sql.Conn            // wdb's connection, held by the writer
	wstmts map[string]*sql.Stmt // prepared on wconn, owned by the writer
	// fenceQueries are the forms of a step's fencing update, made by
	// fenceQuery for the writer.
	fenceQueries [fenceVariants]string
	rdb          *sql.DB   // read-only pool
	rstmts       readStmts // prepared on rdb (database/sql prepares them once per connection)

	maxBatch int
	reqs     chan *request
	mu       sync.RWMutex // held for reading while queueing; Close takes it
	closed   bool
	done     chan struct{} // closed when the writer has stopped

	readySeq   int64  // owned by the writer: the order in which tasks became ready
	worldClock uint64 // owned by the writer: the clock of the last world commit
}

var _ store.Store = (*Store)(nil)

// ErrClosed is returned by the calls made after Close.
var ErrClosed = errors.New("sqlite: store is closed")

// schemaVersion is PRAGMA user_version of the schema below.
const schemaVersion = 3

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
// ContinueAsNew (task.Record.Runs).
const schema3 = `
ALTER TABLE journal ADD COLUMN sum INTEGER;
ALTER TABLE mailbox ADD COLUMN sum INTEGER;
ALTER TABLE world ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE world ADD COLUMN clock INTEGER NOT NULL DEFAULT 0;
ALTER TABLE world ADD COLUMN token INTEGER NOT NULL DEFAULT 0;
CREATE INDEX world_clock ON world (clock);
ALTER TABLE tasks ADD COLUMN token INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN runs INTEGER NOT NULL DEFAULT 0;
`

// Open opens the store in the SQLite file at path (amber's default is
// "./amber.db"), creating the file and its schema if need be. path may also
// be a "file:" URI with SQLite's parameters. opts may be nil.
//
// Open fails, with an error that says so, if the file cannot be written.
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
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	s := &Store{path: path, maxBatch: o.MaxBatch, reqs: make(chan *request, 256), done: make(chan struct{})}
	fail := func(err error) (*Store, error) {
		if s.wdb != nil {
			s.wdb.Close()
		}
		s.rstmts.close()
		if s.rdb != nil {
			s.rdb.Close()
		}
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	var err error
	s.wdb, err = sql.Open("sqlite", dsn(path,
		"_pragma=busy_timeout(10000)", "_pragma=journal_mode(WAL)", "_pragma=synchronous("+sync+")",
		"_pragma=cache_size(-32768)", "_pragma=temp_store(memory)", "_txlock=immediate"))
	if err != nil {
		return fail(err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	if err := s.migrate(); err != nil {
		if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "readonly") || strings.Contains(err.Error(), "read-only") {
			return fail(fmt.Errorf("the database is read-only: %w", err))
		}
		return fail(err)
	}
	s.rdb, err = sql.Open("sqlite", dsn(path, "_pragma=busy_timeout(10000)",
		"_pragma=cache_size(-8192)", "_pragma=temp_store(memory)", "_query_only=true"))
	if err != nil {
		return fail(err)
	}
	s.rdb.SetMaxOpenConns(o.Readers)
	s.rdb.SetMaxIdleConns(o.Readers)
	s.rdb.SetConnMaxLifetime(0)
	s.rdb.SetConnMaxIdleTime(0)
	if err := s.rstmts.prepare(s.rdb); err != nil {
		return fail(err)
	}
	if err := s.wdb.QueryRow(`SELECT COALESCE(MAX(ready), 0) FROM tasks`).Scan(&s.readySeq); err != nil {
		return fail(err)
	}
	if err := s.wdb.QueryRow(worldClockQuery).Scan(&s.worldClock); err != nil {
		return fail(err)
	}
	if s.wconn, err = s.wdb.Conn(context.Background()); err != nil {
		return fail(err)
	}
	s.wstmts = map[string]*sql.Stmt{}
	go s.writer()
	return s, nil
}

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
	switch v {
	case 0, 1, 2:
		for i, step := range []string{schema, schema2, schema3}[v:] {
			if _, err := tx.ExecContext(ctx, step); err != nil {
				return fmt.Errorf("schema version %d: %w", v+i+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
			return err
		}
	case schemaVersion:
	default:
		return fmt.Errorf("schema version %d: this amber reads version %d", v, schemaVersion)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('opened', unixepoch())
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`); err != nil {
		return err
	}
	return tx.Commit()
}

// Path returns the path (or "file:" URI) the store was opened with.
func (s *Store) Path() string { return s.path }

// Close stops the writer once the queued writes are done, and closes the
// database. It is safe to call more than once.
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
	s.rstmts.close()
	return errors.Join(s.wconn.Close(), s.rdb.Close(), s.wdb.Close())
}
