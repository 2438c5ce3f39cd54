package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/amberrt/amber/store"
)

// schemaRoutes takes version 5 to version 6: the routing table of package
// router (store.RouteStore). A route per function, the history of every
// change (seq is RoutesClock), and the divergences of shadowed calls.
//
// (Numbered 4 on this branch; if another migration takes 4 first, this
// one is the next: it depends on nothing but version 3.)
const schemaRoutes = `
CREATE TABLE routes (
	function TEXT PRIMARY KEY,
	policy   BLOB NOT NULL,
	seq      INTEGER NOT NULL,
	at       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE route_history (
	seq      INTEGER PRIMARY KEY,
	function TEXT NOT NULL,
	policy   BLOB,
	old      BLOB,
	prev     INTEGER NOT NULL DEFAULT 0,
	who      TEXT NOT NULL DEFAULT '',
	why      TEXT NOT NULL DEFAULT '',
	at       INTEGER NOT NULL
);
CREATE INDEX route_history_function ON route_history (function, seq);
CREATE TABLE divergences (
	seq      INTEGER PRIMARY KEY,
	function TEXT NOT NULL,
	task     TEXT NOT NULL,
	at       INTEGER NOT NULL,
	noise    INTEGER NOT NULL,
	data     BLOB NOT NULL
);
CREATE INDEX divergences_function ON divergences (function, seq);
`

var _ store.RouteStore = (*Store)(nil)

// Routes implements store.RouteStore.
func (s *Store) Routes(ctx context.Context) ([]store.Route, error) {
	return queryAll(ctx, s.rdb, "routes", `SELECT function, policy, seq, at FROM routes ORDER BY function`, nil,
		func(rows *sql.Rows) (r store.Route, err error) {
			var seq, at int64
			err = rows.Scan(&r.Function, &r.Policy, &seq, &at)
			r.Seq, r.At = uint64(seq), time.Unix(0, at).UTC()
			return r, err
		})
}

// RoutesClock implements store.RouteStore.
func (s *Store) RoutesClock(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM route_history`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: routes clock: %w", err)
	}
	return uint64(n), nil
}

// SetRoute implements store.RouteStore. It is a write of a client as
// well as of the worker: the CLI changes routes beside a running worker.
func (s *Store) SetRoute(ctx context.Context, c store.RouteChange) (store.RouteChange, error) {
	if c.Function == "" {
		return store.RouteChange{}, fmt.Errorf("sqlite: set route: empty function name")
	}
	var out store.RouteChange
	err := s.submit(ctx, func(w *wtx) (refused, err error) {
		var cur int64
		var old []byte
		err = w.scan(`SELECT seq, policy FROM routes WHERE function = ?`, []any{c.Function}, &cur, &old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		if uint64(cur) != c.Prev {
			return fmt.Errorf("sqlite: set route of %s at %d: %w (now at %d)", c.Function, c.Prev, store.ErrStaleRoute, cur), nil
		}
		var next int64
		if err := w.scan(`SELECT COALESCE(MAX(seq), 0) + 1 FROM route_history`, nil, &next); err != nil {
			return nil, err
		}
		out = c
		out.Seq, out.At, out.Old = uint64(next), time.Now().UTC(), old
		at := out.At.UnixNano()
		if _, err := w.exec(`INSERT INTO route_history (seq, function, policy, old, prev, who, why, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			next, c.Function, c.Policy, old, int64(c.Prev), c.Who, c.Why, at); err != nil {
			return nil, err
		}
		if c.Policy == nil {
			_, err = w.exec(`DELETE FROM routes WHERE function = ?`, c.Function)
		} else {
			_, err = w.exec(`INSERT INTO routes (function, policy, seq, at) VALUES (?, ?, ?, ?)
				ON CONFLICT (function) DO UPDATE SET policy = excluded.policy, seq = excluded.seq, at = excluded.at`,
				c.Function, c.Policy, next, at)
		}
		return nil, err
	})
	if err != nil {
		return store.RouteChange{}, err
	}
	return out, nil
}

// RouteHistory implements store.RouteStore.
func (s *Store) RouteHistory(ctx context.Context, function string) ([]store.RouteChange, error) {
	return queryAll(ctx, s.rdb, "route history", `SELECT seq, function, policy, old, prev, who, why, at FROM route_history
		WHERE ?1 = '' OR function = ?1 ORDER BY seq`, []any{function},
		func(rows *sql.Rows) (c store.RouteChange, err error) {
			var seq, prev, at int64
			err = rows.Scan(&seq, &c.Function, &c.Policy, &c.Old, &prev, &c.Who, &c.Why, &at)
			c.Seq, c.Prev, c.At = uint64(seq), uint64(prev), time.Unix(0, at).UTC()
			return c, err
		})
}

// AddDivergences implements store.RouteStore.
func (s *Store) AddDivergences(ctx context.Context, ds ...store.Divergence) error {
	if len(ds) == 0 {
		return nil
	}
	return s.submit(ctx, func(w *wtx) (refused, err error) {
		for _, d := range ds {
			if _, err := w.exec(`INSERT INTO divergences (function, task, at, noise, data) VALUES (?, ?, ?, ?, ?)`,
				d.Function, d.Task, d.At.UnixNano(), d.Noise, d.Data); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

// Divergences implements store.RouteStore.
func (s *Store) Divergences(ctx context.Context, function string, limit int) ([]store.Divergence, int, int, error) {
	var total, noise int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*), COALESCE(SUM(noise), 0) FROM divergences WHERE function = ?`,
		function).Scan(&total, &noise); err != nil {
		return nil, 0, 0, fmt.Errorf("sqlite: divergences: %w", err)
	}
	out, err := queryAll(ctx, s.rdb, "divergences", `SELECT seq, function, task, at, noise, data FROM divergences
		WHERE function = ? ORDER BY seq LIMIT ?`, []any{function, max(limit, 0)},
		func(rows *sql.Rows) (d store.Divergence, err error) {
			var seq, at int64
			err = rows.Scan(&seq, &d.Function, &d.Task, &at, &d.Noise, &d.Data)
			d.Seq, d.At = uint64(seq), time.Unix(0, at).UTC()
			return d, err
		})
	if err != nil {
		return nil, 0, 0, err
	}
	return out, total, noise, nil
}
