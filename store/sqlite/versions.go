package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// schema4 takes version 3 to version 4: versions. The stored current
// version of each program, the retired versions, the change log, the
// workers' heartbeats (the versions they run, as JSON), and each task's
// migrations (a JSON array of task.Migration; NULL for none).
const schema4 = `
ALTER TABLE tasks ADD COLUMN migrations TEXT;
CREATE TABLE program_current (
	program TEXT PRIMARY KEY,
	version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE program_retired (
	program TEXT NOT NULL,
	version INTEGER NOT NULL,
	PRIMARY KEY (program, version)
) WITHOUT ROWID;
CREATE TABLE changes (
	seq     INTEGER PRIMARY KEY,
	at      INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	program TEXT NOT NULL,
	version INTEGER NOT NULL,
	data    TEXT
);
CREATE TABLE workers (
	id       TEXT PRIMARY KEY,
	versions TEXT NOT NULL,
	at       INTEGER NOT NULL,
	stopped  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
`

// claimQueryFor returns the claim query filtered by n (program,
// version) pairs, given as parameters ?3 and ?4, ?5 and ?6, ...: a row
// value IN a VALUES list, which SQLite turns into an index once per run.
// The text depends on n only, so that the writer prepares it once.
func claimQueryFor(n int) string {
	if n == 0 {
		return fmt.Sprintf(claimQuery, "", "", "")
	}
	var b strings.Builder
	b.WriteString(" AND (program, program_version) IN (VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(?%d, ?%d)", 3+2*i, 4+2*i)
	}
	b.WriteString(")")
	c := b.String()
	return fmt.Sprintf(claimQuery, c, c, c)
}

// claimArgs are the parameters of claimQueryFor(len(can)).
func claimArgs(now time.Time, max int, can []task.ProgramVersion) []any {
	args := make([]any, 0, 2+2*len(can))
	args = append(args, now.UnixNano(), max)
	for _, pv := range can {
		args = append(args, pv.Program, pv.Version)
	}
	return args
}

// logChange appends a change to the log, in the writer's transaction.
func (w *wtx) logChange(kind, program string, version int, data any) error {
	var d any
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		d = string(b)
	}
	_, err := w.exec(`INSERT INTO changes (at, kind, program, version, data) VALUES (?, ?, ?, ?, ?)`,
		time.Now().UnixNano(), kind, program, version, d)
	return err
}

// SetCurrent implements store.Store.
func (s *Store) SetCurrent(ctx context.Context, program string, version int) error {
	if err := store.CheckVersion(program, version); err != nil {
		return err
	}
	return s.submit(ctx, func(w *wtx) (refused, err error) {
		var n int
		err = w.scan(`SELECT count(*) FROM program_retired WHERE program = ? AND version = ?`, []any{program, version}, &n)
		if err != nil {
			return nil, fmt.Errorf("sqlite: set current %s v%d: %w", program, version, err)
		}
		if n > 0 {
			return fmt.Errorf("sqlite: set current %s v%d: %w", program, version, store.ErrRetired), nil
		}
		if _, err := w.exec(`INSERT INTO program_current (program, version) VALUES (?, ?)
			ON CONFLICT (program) DO UPDATE SET version = excluded.version`, program, version); err != nil {
			return nil, fmt.Errorf("sqlite: set current %s v%d: %w", program, version, err)
		}
		return nil, w.logChange(store.ChangeSetCurrent, program, version, nil)
	})
}

// Current implements store.Store.
func (s *Store) Current(ctx context.Context) (map[string]int, error) { return current(ctx, s.rdb) }

// current reads the current versions through q.
func current(ctx context.Context, q queryer) (map[string]int, error) {
	pvs, err := queryAll(ctx, q, "current versions", `SELECT program, version FROM program_current`, nil, scanProgramVersion)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(pvs))
	for _, pv := range pvs {
		out[pv.Program] = pv.Version
	}
	return out, nil
}

// scanProgramVersion reads a row of (program, version).
func scanProgramVersion(rows *sql.Rows) (pv task.ProgramVersion, err error) {
	return pv, rows.Scan(&pv.Program, &pv.Version)
}

// Retire implements store.Store.
func (s *Store) Retire(ctx context.Context, program string, version int, force bool) error {
	if err := store.CheckVersion(program, version); err != nil {
		return err
	}
	return s.submit(ctx, func(w *wtx) (refused, err error) {
		where := func(err error) error { return fmt.Errorf("sqlite: retire %s v%d: %w", program, version, err) }
		var cur int
		err = w.scan(`SELECT version FROM program_current WHERE program = ?`, []any{program}, &cur)
		switch {
		case err == nil && cur == version:
			return where(fmt.Errorf("%w (set another current version first)", store.ErrIsCurrent)), nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return nil, where(err)
		}
		var n int
		if err := w.scan(`SELECT count(*) FROM tasks WHERE program = ? AND program_version = ? AND `+notFinal,
			[]any{program, version}, &n); err != nil {
			return nil, where(err)
		}
		if n > 0 && !force {
			return where(fmt.Errorf("%w (%d)", store.ErrInFlight, n)), nil
		}
		if _, err := w.exec(`INSERT INTO program_retired (program, version) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			program, version); err != nil {
			return nil, where(err)
		}
		var data any
		if n > 0 {
			data = store.ChangeRetireData{Force: true, InFlight: n}
		}
		return nil, w.logChange(store.ChangeRetire, program, version, data)
	})
}

// Changes implements store.Store.
func (s *Store) Changes(ctx context.Context, since uint64) ([]store.Change, error) {
	return queryAll(ctx, s.rdb, "changes", `SELECT seq, at, kind, program, version, data FROM changes WHERE seq > ? ORDER BY seq`,
		[]any{int64(since)}, func(rows *sql.Rows) (c store.Change, err error) {
			var (
				seq, at int64
				data    sql.NullString
			)
			err = rows.Scan(&seq, &at, &c.Kind, &c.Program, &c.Version, &data)
			c.Seq, c.At = uint64(seq), time.Unix(0, at).UTC()
			if data.Valid {
				c.Data = json.RawMessage(data.String)
			}
			return c, err
		})
}

// Heartbeat implements store.Store.
func (s *Store) Heartbeat(ctx context.Context, wi store.WorkerInfo) error {
	if wi.ID == "" {
		return errors.New("sqlite: heartbeat without a worker ID")
	}
	vs := wi.Versions
	if vs == nil {
		vs = []task.ProgramVersion{}
	}
	b, err := json.Marshal(vs)
	if err != nil {
		return err
	}
	return s.submit(ctx, func(w *wtx) (refused, err error) {
		_, err = w.exec(`INSERT INTO workers (id, versions, at, stopped) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET versions = excluded.versions, at = excluded.at, stopped = excluded.stopped`,
			wi.ID, string(b), wi.At.UnixNano(), wi.Stopped)
		if err != nil {
			return nil, fmt.Errorf("sqlite: heartbeat of %s: %w", wi.ID, err)
		}
		return nil, nil
	})
}

// Workers implements store.Store.
func (s *Store) Workers(ctx context.Context) ([]store.WorkerInfo, error) { return workers(ctx, s.rdb) }

// workers reads the worker table through q.
func workers(ctx context.Context, q queryer) ([]store.WorkerInfo, error) {
	return queryAll(ctx, q, "workers", `SELECT id, versions, at, stopped FROM workers ORDER BY id`, nil,
		func(rows *sql.Rows) (wi store.WorkerInfo, err error) {
			var (
				vs string
				at int64
			)
			if err := rows.Scan(&wi.ID, &vs, &at, &wi.Stopped); err != nil {
				return wi, err
			}
			if err := json.Unmarshal([]byte(vs), &wi.Versions); err != nil {
				return wi, fmt.Errorf("the versions of %s: %w", wi.ID, err)
			}
			wi.At = time.Unix(0, at).UTC()
			return wi, nil
		})
}

// Versions implements store.Store: one read transaction, the task counts
// by a scan of the tasks (no index: one on the program would cost every
// step an index update).
func (s *Store) Versions(ctx context.Context, program string) ([]store.VersionInfo, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: versions: %w", err)
	}
	defer tx.Rollback()
	counts, err := queryAll(ctx, tx, "versions", `SELECT program, program_version, status, count(*), min(created), id
		FROM tasks WHERE ?1 = '' OR program = ?1 GROUP BY program, program_version, status`, []any{program},
		func(rows *sql.Rows) (c store.VersionCount, err error) {
			var (
				status  string
				created int64
			)
			err = rows.Scan(&c.Program, &c.Version, &status, &c.Count, &created, &c.Oldest)
			c.Status, c.Created = task.Status(status), time.Unix(0, created).UTC()
			return c, err
		})
	if err != nil {
		return nil, err
	}
	retired, err := queryAll(ctx, tx, "versions", `SELECT program, version FROM program_retired`, nil, scanProgramVersion)
	if err != nil {
		return nil, err
	}
	cur, err := current(ctx, tx)
	if err != nil {
		return nil, err
	}
	ws, err := workers(ctx, tx)
	if err != nil {
		return nil, err
	}
	return store.MakeVersions(program, counts, cur, retired, ws, time.Now()), nil
}

// Migrate implements store.Store.
func (s *Store) Migrate(ctx context.Context, r store.Repin) error {
	if r.To < 0 {
		return fmt.Errorf("sqlite: migrate %s: negative version %d", r.ID, r.To)
	}
	m, err := json.Marshal(task.Migration{From: r.From, To: r.To, At: r.At.UTC()})
	if err != nil {
		return err
	}
	return s.submit(ctx, func(w *wtx) (refused, err error) {
		where := func(err error) error { return fmt.Errorf("sqlite: migrate %s to v%d: %w", r.ID, r.To, err) }
		var program string
		err = w.scan(`UPDATE tasks SET program_version = ?1, steps = steps + 1, lease_owner = '', lease_until = 0,
				migrations = json_insert(COALESCE(migrations, '[]'), '$[#]', json(?2)), `+makeReadyAt3+`
			WHERE id = ?4 AND lease_owner = ?5 AND lease_epoch = ?6 AND steps = ?7 AND program_version = ?8 AND `+notFinal+`
			RETURNING program`,
			[]any{r.To, string(m), w.nextReady(), r.ID, r.Owner, int64(r.Epoch), int64(r.Steps), r.From}, &program)
		if errors.Is(err, sql.ErrNoRows) {
			var (
				status string
				v      int
			)
			err := w.scan(`SELECT status, program_version FROM tasks WHERE id = ?`, []any{r.ID}, &status, &v)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return where(store.ErrNotFound), nil
			case err != nil:
				return nil, where(err)
			case task.Status(status).Final():
				return where(store.ErrFinished), nil
			case v != r.From:
				return where(fmt.Errorf("it runs version %d, not %d: %w", v, r.From, store.ErrLeaseLost)), nil
			}
			return where(store.ErrLeaseLost), nil
		}
		if err != nil {
			return nil, where(err)
		}
		return nil, w.logChange(store.ChangeMigrate, program, r.To, store.ChangeMigrateData{Task: r.ID, From: r.From})
	})
}

// makeReadyAt3 is makeReady with its place as parameter ?3.
const makeReadyAt3 = `ready = COALESCE(ready, ?3)`

// decodeMigrations decodes the column migrations of task id.
func decodeMigrations(id string, col sql.NullString) ([]task.Migration, error) {
	if !col.Valid {
		return nil, nil
	}
	var ms []task.Migration
	if err := json.Unmarshal([]byte(col.String), &ms); err != nil {
		return nil, &store.CorruptError{Task: id, Row: "tasks.migrations", Err: err}
	}
	return ms, nil
}
