package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
	"github.com/jackc/pgx/v5"
)

// logChange appends a change to the log in tx. It first takes a lock that
// every writer of the log takes until it commits, so that changes become
// visible in the order of their numbers: a reader that saw change n never
// misses a change numbered below n later (Changes after n).
func (s *Store) logChange(ctx context.Context, tx pgx.Tx, kind, program string, version int, data any) error {
	var d []byte
	if data != nil {
		var err error
		if d, err = json.Marshal(data); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "amber.changes:"+s.opts.Schema); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO changes (at, kind, program, version, data) VALUES ($1, $2, $3, $4, $5)`,
		nano(time.Now()), kind, program, version, d)
	return err
}

// SetCurrent implements store.Store.
func (s *Store) SetCurrent(ctx context.Context, program string, version int) error {
	if err := store.CheckVersion(program, version); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var retired bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM program_retired WHERE program = $1 AND version = $2)`,
			program, version).Scan(&retired); err != nil {
			return err
		}
		if retired {
			return store.ErrRetired
		}
		if _, err := tx.Exec(ctx, `INSERT INTO program_current (program, version) VALUES ($1, $2)
			ON CONFLICT (program) DO UPDATE SET version = excluded.version`, program, version); err != nil {
			return err
		}
		return s.logChange(ctx, tx, store.ChangeSetCurrent, program, version, nil)
	})
	if err != nil {
		return fmt.Errorf("postgres: set current %s v%d: %w", program, version, err)
	}
	return nil
}

// Current implements store.Store.
func (s *Store) Current(ctx context.Context) (map[string]int, error) { return current(ctx, s.pool) }

// querier is what the reads below run on: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// current reads the current versions through q.
func current(ctx context.Context, q querier) (map[string]int, error) {
	rows, _ := q.Query(ctx, `SELECT program, version FROM program_current`)
	out := map[string]int{}
	var (
		p string
		v int32
	)
	if _, err := pgx.ForEachRow(rows, []any{&p, &v}, func() error {
		out[p] = int(v)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: current versions: %w", err)
	}
	return out, nil
}

// Retire implements store.Store.
func (s *Store) Retire(ctx context.Context, program string, version int, force bool) error {
	if err := store.CheckVersion(program, version); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialize with SetCurrent and Migrate through the log's lock.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "amber.changes:"+s.opts.Schema); err != nil {
			return err
		}
		var cur int32
		err := tx.QueryRow(ctx, `SELECT version FROM program_current WHERE program = $1`, program).Scan(&cur)
		switch {
		case err == nil && int(cur) == version:
			return fmt.Errorf("%w (set another current version first)", store.ErrIsCurrent)
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE program = $1 AND program_version = $2 AND `+notFinal,
			program, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 && !force {
			return fmt.Errorf("%w (%d)", store.ErrInFlight, n)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO program_retired (program, version) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			program, version); err != nil {
			return err
		}
		var data any
		if n > 0 {
			data = store.ChangeRetireData{Force: true, InFlight: n}
		}
		return s.logChange(ctx, tx, store.ChangeRetire, program, version, data)
	})
	if err != nil {
		return fmt.Errorf("postgres: retire %s v%d: %w", program, version, err)
	}
	return nil
}

// Changes implements store.Store.
func (s *Store) Changes(ctx context.Context, since uint64) ([]store.Change, error) {
	rows, _ := s.pool.Query(ctx, `SELECT seq, at, kind, program, version, data FROM changes WHERE seq > $1 ORDER BY seq`, int64(since))
	var (
		out     []store.Change
		c       store.Change
		seq, at int64
		version int32
		data    []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&seq, &at, &c.Kind, &c.Program, &version, &data}, func() error {
		c.Seq, c.At, c.Version, c.Data = uint64(seq), fromNano(at), int(version), nil
		if data != nil {
			c.Data = json.RawMessage(append([]byte(nil), data...))
		}
		out = append(out, c)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: changes: %w", err)
	}
	return out, nil
}

// Heartbeat implements store.Store.
func (s *Store) Heartbeat(ctx context.Context, w store.WorkerInfo) error {
	if w.ID == "" {
		return errors.New("postgres: heartbeat without a worker ID")
	}
	vs := w.Versions
	if vs == nil {
		vs = []task.ProgramVersion{}
	}
	b, err := json.Marshal(vs)
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO workers (id, versions, at, stopped) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET versions = excluded.versions, at = excluded.at, stopped = excluded.stopped`,
		w.ID, b, nano(w.At), w.Stopped); err != nil {
		return fmt.Errorf("postgres: heartbeat of %s: %w", w.ID, err)
	}
	return nil
}

// Workers implements store.Store.
func (s *Store) Workers(ctx context.Context) ([]store.WorkerInfo, error) { return workers(ctx, s.pool) }

// workers reads the worker table through q.
func workers(ctx context.Context, q querier) ([]store.WorkerInfo, error) {
	rows, _ := q.Query(ctx, `SELECT id, versions, at, stopped FROM workers ORDER BY id`)
	var (
		out []store.WorkerInfo
		w   store.WorkerInfo
		vs  []byte
		at  int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&w.ID, &vs, &at, &w.Stopped}, func() error {
		w.Versions = nil
		if err := json.Unmarshal(vs, &w.Versions); err != nil {
			return fmt.Errorf("the versions of %s: %w", w.ID, err)
		}
		w.At = fromNano(at)
		out = append(out, w)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: workers: %w", err)
	}
	return out, nil
}

// Versions implements store.Store: one read transaction (a snapshot of
// the tasks, the current and retired versions and the workers together);
// the task counts come from a scan of
// the tasks (no index on the program: one would cost every step an
// index update, or its HOT update).
func (s *Store) Versions(ctx context.Context, program string) ([]store.VersionInfo, error) {
	var (
		counts  []store.VersionCount
		retired []task.ProgramVersion
		cur     map[string]int
		ws      []store.WorkerInfo
	)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT DISTINCT ON (program, program_version, status)
				program, program_version, status, count(*) OVER (PARTITION BY program, program_version, status), created, id
			FROM tasks WHERE $1 = '' OR program = $1
			ORDER BY program, program_version, status, created, id`, program)
		var (
			c       store.VersionCount
			version int32
			status  string
			n       int64
			created int64
		)
		if _, err := pgx.ForEachRow(rows, []any{&c.Program, &version, &status, &n, &created, &c.Oldest}, func() error {
			c.Version, c.Status, c.Count, c.Created = int(version), task.Status(status), int(n), fromNano(created)
			counts = append(counts, c)
			return nil
		}); err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, `SELECT program, version FROM program_retired`)
		var pv task.ProgramVersion
		if _, err := pgx.ForEachRow(rows, []any{&pv.Program, &version}, func() error {
			pv.Version = int(version)
			retired = append(retired, pv)
			return nil
		}); err != nil {
			return err
		}
		var err error
		if cur, err = current(ctx, tx); err != nil {
			return err
		}
		ws, err = workers(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: versions: %w", err)
	}
	return store.MakeVersions(program, counts, cur, retired, ws, time.Now()), nil
}

// Migrate implements store.Store.
func (s *Store) Migrate(ctx context.Context, r store.Repin) error {
	if r.To < 0 {
		return fmt.Errorf("postgres: migrate %s: negative version %d", r.ID, r.To)
	}
	m, err := json.Marshal([]task.Migration{{From: r.From, To: r.To, At: r.At.UTC()}})
	if err != nil {
		return err
	}
	where := func(err error) error { return fmt.Errorf("postgres: migrate %s to v%d: %w", r.ID, r.To, err) }
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var program string
		err := tx.QueryRow(ctx, `UPDATE tasks SET program_version = $1, version = version + 1,
				lease_owner = NULL, lease_until = NULL,
				migrations = COALESCE(migrations, '[]'::jsonb) || $2::jsonb, `+makeReady+`
			WHERE id = $3 AND lease_owner = $4 AND lease_epoch = $5 AND version = $6 AND program_version = $7 AND `+notFinal+`
			RETURNING program`,
			r.To, m, r.ID, r.Owner, int64(r.Epoch), int64(r.Steps), r.From).Scan(&program)
		if errors.Is(err, pgx.ErrNoRows) {
			var (
				status string
				v      int32
			)
			err := tx.QueryRow(ctx, `SELECT status, program_version FROM tasks WHERE id = $1`, r.ID).Scan(&status, &v)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return store.ErrNotFound
			case err != nil:
				return err
			case task.Status(status).Final():
				return store.ErrFinished
			case int(v) != r.From:
				return fmt.Errorf("it runs version %d, not %d: %w", v, r.From, store.ErrLeaseLost)
			}
			return store.ErrLeaseLost
		}
		if err != nil {
			return err
		}
		if err := s.logChange(ctx, tx, store.ChangeMigrate, program, r.To, store.ChangeMigrateData{Task: r.ID, From: r.From}); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, notifySQL, s.channel)
		return err
	})
	if err != nil {
		return where(err)
	}
	return nil
}

// canArrays are Claim's filter as two arrays, programs and versions (nil:
// any task).
func canArrays(can []task.ProgramVersion) ([]string, []int32) {
	if len(can) == 0 {
		return nil, nil
	}
	ps, vs := make([]string, len(can)), make([]int32, len(can))
	for i, pv := range can {
		ps[i], vs[i] = pv.Program, int32(pv.Version)
	}
	return ps, vs
}
