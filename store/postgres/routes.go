package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/amberrt/amber/store"
)

var _ store.RouteStore = (*Store)(nil)

// Routes implements store.RouteStore.
func (s *Store) Routes(ctx context.Context) ([]store.Route, error) {
	rows, _ := s.pool.Query(ctx, `SELECT function, policy, seq, at FROM routes ORDER BY function`)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Route, error) {
		var r store.Route
		var seq int64
		err := row.Scan(&r.Function, &r.Policy, &seq, &r.At)
		r.Seq, r.At = uint64(seq), r.At.UTC()
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: routes: %w", err)
	}
	return out, nil
}

// RoutesClock implements store.RouteStore.
func (s *Store) RoutesClock(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM route_history`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: routes clock: %w", err)
	}
	return uint64(n), nil
}

// SetRoute implements store.RouteStore. Changes take turns on an advisory
// lock, so that the history is numbered without gaps.
func (s *Store) SetRoute(ctx context.Context, c store.RouteChange) (store.RouteChange, error) {
	if c.Function == "" {
		return store.RouteChange{}, fmt.Errorf("postgres: set route: empty function name")
	}
	var out store.RouteChange
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "amber.routes:"+s.opts.Schema); err != nil {
			return err
		}
		var cur int64
		var old []byte
		err := tx.QueryRow(ctx, `SELECT seq, policy FROM routes WHERE function = $1`, c.Function).Scan(&cur, &old)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if uint64(cur) != c.Prev {
			return fmt.Errorf("postgres: set route of %s at %d: %w (now at %d)", c.Function, c.Prev, store.ErrStaleRoute, cur)
		}
		var next int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM route_history`).Scan(&next); err != nil {
			return err
		}
		out = c
		out.Seq, out.At, out.Old = uint64(next), time.Now().UTC().Truncate(time.Microsecond), old
		if _, err := tx.Exec(ctx, `INSERT INTO route_history (seq, function, policy, old, prev, who, why, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, next, c.Function, c.Policy, old, int64(c.Prev), c.Who, c.Why, out.At); err != nil {
			return err
		}
		if c.Policy == nil {
			_, err = tx.Exec(ctx, `DELETE FROM routes WHERE function = $1`, c.Function)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO routes (function, policy, seq, at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (function) DO UPDATE SET policy = excluded.policy, seq = excluded.seq, at = excluded.at`,
				c.Function, c.Policy, next, out.At)
		}
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrStaleRoute) {
			return store.RouteChange{}, err
		}
		return store.RouteChange{}, fmt.Errorf("postgres: set route of %s: %w", c.Function, err)
	}
	return out, nil
}

// RouteHistory implements store.RouteStore.
func (s *Store) RouteHistory(ctx context.Context, function string) ([]store.RouteChange, error) {
	rows, _ := s.pool.Query(ctx, `SELECT seq, function, policy, old, prev, who, why, at FROM route_history
		WHERE $1 = '' OR function = $1 ORDER BY seq`, function)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.RouteChange, error) {
		var c store.RouteChange
		var seq, prev int64
		err := row.Scan(&seq, &c.Function, &c.Policy, &c.Old, &prev, &c.Who, &c.Why, &c.At)
		c.Seq, c.Prev, c.At = uint64(seq), uint64(prev), c.At.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: route history: %w", err)
	}
	return out, nil
}

// AddDivergences implements store.RouteStore.
func (s *Store) AddDivergences(ctx context.Context, ds ...store.Divergence) error {
	if len(ds) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, d := range ds {
		b.Queue(`INSERT INTO divergences (function, task, at, noise, data) VALUES ($1, $2, $3, $4, $5)`,
			d.Function, d.Task, d.At, d.Noise, d.Data)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: add divergences: %w", err)
	}
	return nil
}

// Divergences implements store.RouteStore.
func (s *Store) Divergences(ctx context.Context, function string, limit int) ([]store.Divergence, int, int, error) {
	var total, noise int
	if err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE noise) FROM divergences WHERE function = $1`,
		function).Scan(&total, &noise); err != nil {
		return nil, 0, 0, fmt.Errorf("postgres: divergences: %w", err)
	}
	rows, _ := s.pool.Query(ctx, `SELECT seq, function, task, at, noise, data FROM divergences
		WHERE function = $1 ORDER BY seq LIMIT $2`, function, max(limit, 0))
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Divergence, error) {
		var d store.Divergence
		var seq int64
		err := row.Scan(&seq, &d.Function, &d.Task, &d.At, &d.Noise, &d.Data)
		d.Seq, d.At = uint64(seq), d.At.UTC()
		return d, err
	})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("postgres: divergences: %w", err)
	}
	return out, total, noise, nil
}
