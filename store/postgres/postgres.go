package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// Options configure a Store. A nil *Options means the defaults.
type Options struct {
	// Schema is the PostgreSQL schema that holds the store's tables; it is
	// created if it does not exist. Default "amber". Stores in different
	// schemas of one database are independent (tests use one each).
	Schema string
	// MaxConns is the size of the connection pool; zero keeps the URL's
	// pool_max_conns or pgxpool's default (the larger of 4 and the number
	// of CPUs). The notification listener uses one more connection.
	MaxConns int32
	// PollInterval is how often Ready signals while the notification
	// connection is down (it reconnects with backoff meanwhile), so that a
	// worker that waits only on Ready keeps polling. Default 1s.
	PollInterval time.Duration
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Schema == "" {
		r.Schema = "amber"
	}
	if r.PollInterval <= 0 {
		r.PollInterval = time.Second
	}
	return r
}

// Store is a store.Store on PostgreSQL. It is safe for concurrent use, and
// any number of Stores (in any number of processes) may share one schema.
type Store struct {
	pool         *pgxpool.Pool
	opts         Options
	channel      string // NOTIFY channel of the schema's ready tasks
	worldChannel string // NOTIFY channel of the schema's world commits

	listenOnce sync.Once
	ready      chan struct{}
	worldClock chan uint64
	stop       context.CancelFunc
	listenDone chan struct{}
	closeOnce  sync.Once

	// beforeCommit, when set (by tests), runs before a Commit's COMMIT.
	beforeCommit func(ctx context.Context)
	// copyMin is the number of tasks from which CreateClaimed copies
	// them (copyMin, but for tests); copies counts those copies, for tests.
	copyMin int
	copies  atomic.Int64
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.Notifier      = (*Store)(nil)
	_ store.WorldNotifier = (*Store)(nil)
)

// Open connects to the database at url (a PostgreSQL URL or keyword/value
// string, as pgx accepts), applies the schema migrations that are missing,
// and returns the store. opts may be nil.
func Open(ctx context.Context, url string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	// Every connection works in the store's schema, so the SQL (and the
	// migrations) use unqualified names.
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{o.Schema}.Sanitize()
	// A connection handed back inside a transaction (a batch that failed
	// half-way) is not reused: its state is unknown.
	cfg.AfterRelease = func(c *pgx.Conn) bool { return c.PgConn().TxStatus() == 'I' }
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{
		pool:         pool,
		opts:         o,
		channel:      "amber_ready." + o.Schema,
		worldChannel: "amber_world." + o.Schema,
		ready:        make(chan struct{}, 1),
		worldClock:   make(chan uint64, 1),
		copyMin:      copyMin,
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

//go:embed migrations/*.sql
var migrations embed.FS

// migration is one embedded .sql file, named NNNN_what.sql.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, path := range names {
		name := strings.TrimPrefix(path, "migrations/")
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %s: name is not NNNN_name.sql", name)
		}
		data, err := migrations.ReadFile(path)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{v, name, string(data)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies the missing migrations in one transaction. The advisory
// lock makes processes that start together take turns: the first applies,
// the others then find everything applied.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	schema := pgx.Identifier{s.opts.Schema}.Sanitize()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "amber.migrate:"+s.opts.Schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY,
			name    text NOT NULL,
			applied timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		done, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		have := map[int]bool{}
		for _, v := range done {
			have[int(v)] = true
		}
		for _, m := range ms {
			if have[m.version] {
				continue
			}
			// No arguments: the simple protocol, so a file may hold many statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return err
			}
			if m.version == 3 {
				if err := fillWaitKinds(ctx, tx); err != nil {
					return fmt.Errorf("migration %s: %w", m.name, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate schema %s: %w", s.opts.Schema, err)
	}
	return nil
}

// fillWaitKinds fills the column wait_kind of version 3 for the rows
// written before, from their stored waits (which SQL cannot read). A wait
// that does not decode is left for Load to report.
func fillWaitKinds(ctx context.Context, tx pgx.Tx) error {
	rows, _ := tx.Query(ctx, `SELECT id, wait FROM tasks WHERE wait IS NOT NULL AND `+notFinal)
	var ids, kinds []string
	var id string
	var data []byte
	_, err := pgx.ForEachRow(rows, []any{&id, &data}, func() error {
		var w task.Wait
		if task.Unmarshal(data, &w) == nil && w.Kind != "" {
			ids, kinds = append(ids, id), append(kinds, w.Kind)
		}
		return nil
	})
	if err != nil || len(ids) == 0 {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE tasks t SET wait_kind = k.kind FROM unnest($1::text[], $2::text[]) AS k(id, kind)
		WHERE t.id = k.id`, ids, kinds)
	return err
}

// Close stops the notification listener and closes the pool.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.listenOnce.Do(func() {}) // a later Ready starts nothing
		if s.stop != nil {
			s.stop()
			<-s.listenDone
		}
		s.pool.Close()
	})
	return nil
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
