package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/internal/verdict"
)

// The STM world: one row per var (world), with its version and the clock
// of the commit that wrote it, and the world clock (world_clock, one row).
//
// A commit takes an advisory lock per var its steps touch, exclusive for a
// var written and shared for one only read, in its first round trip (see
// lock), and reads the vars under those locks: no other commit can change
// them until this one ends, so the versions it checks in Go are the ones
// its writes replace. Readers of a var do not wait for each other. A
// commit that writes vars then takes the clock row's lock in its last
// round trip, just before COMMIT, and stamps the rows it writes with the
// new clock: world commits become visible in clock order, so a snapshot
// that reads the clock has every commit up to it and none after.

// worldLocks gathers the world vars of a commit's steps.
type worldLocks map[string]bool // name -> written (else only read)

func (v worldLocks) add(st *store.Step) {
	for _, w := range st.World {
		v[w.Name] = true
	}
	for _, r := range st.WorldReads {
		if !v[r.Name] {
			v[r.Name] = false
		}
	}
	for _, r := range st.WaitWorld {
		if !v[r.Name] {
			v[r.Name] = false
		}
	}
}

func (v worldLocks) empty() bool { return len(v) == 0 }

// worldLockLists is a worldLocks as the columns of the lock statement.
type worldLockLists struct {
	names []string
	write []bool
}

func (v worldLocks) lists() worldLockLists {
	var l worldLockLists
	for name := range v {
		l.names = append(l.names, name)
	}
	slices.Sort(l.names)
	for _, name := range l.names {
		l.write = append(l.write, v[name])
	}
	return l
}

// queueWorldLocks adds to b the advisory locks of the world vars, in key
// order (a var written takes the exclusive lock, and the shared one is not
// taken besides it), and the read of their rows into the returned map.
func queueWorldLocks(b *pgx.Batch, vars worldLockLists) map[string]*store.WorldValue {
	world := map[string]*store.WorldValue{}
	if len(vars.names) == 0 {
		return world
	}
	b.Queue(`SELECT CASE WHEN w THEN pg_advisory_xact_lock(k1, k2) ELSE pg_advisory_xact_lock_shared(k1, k2) END
		FROM (SELECT DISTINCT ON (k2) hashtext('amber.world:' || current_schema()) AS k1, hashtext(n) AS k2, w
			FROM unnest($1::text[], $2::bool[]) AS v(n, w) ORDER BY k2, w DESC) AS keys`, vars.names, vars.write)
	b.Queue(`SELECT name, value, version, clock FROM world WHERE name = ANY($1)`, vars.names).Query(func(rows pgx.Rows) error {
		var v store.WorldValue
		_, err := pgx.ForEachRow(rows, []any{&v.Name, &v.Value, &v.Version, &v.Clock}, func() error {
			x := v
			world[v.Name] = &x
			return nil
		})
		return err
	})
	return world
}

// stale refuses a step whose world reads or writes are not at the current
// versions (as the steps before it in this commit leave them), with the
// current rows of the stale vars.
func (w *commitWriter) stale(st *store.Step) error {
	se, _ := verdict.Stale(st, func(name string) (store.WorldValue, error) {
		if v := w.vars[name]; v != nil {
			return *v, nil
		}
		return store.WorldValue{}, nil
	})
	if se != nil {
		return se
	}
	return nil
}

// queueWorld adds to b the world writes of the commit: the clock's next
// tick, the rows stamped with it, and the notification of the new clock.
func (w *commitWriter) queueWorld(b *pgx.Batch, channel, readyChannel string) {
	names := slices.Clone(w.worldOrd)
	slices.Sort(names)
	values := make([][]byte, len(names))
	versions, tokens := make([]int64, len(names)), make([]int64, len(names))
	for i, n := range names {
		values[i] = nonNilBytes(w.world[n])
		versions[i], tokens[i] = int64(w.vars[n].Version), w.worldTok[n]
	}
	// Wake the tasks waiting (Retry) on the vars written that took no
	// step since they began to wait, in ID order; the vars' waits are
	// used up. Before the clock's lock: a commit that holds a task row
	// this one waits for may need the clock row next.
	b.Queue(`WITH woken AS (
			DELETE FROM world_waits WHERE name = ANY($1) RETURNING task_id, version
		), target AS (
			SELECT t.id FROM tasks t JOIN (SELECT DISTINCT task_id, version FROM woken) k
				ON t.id = k.task_id AND t.version = k.version
			WHERE t.`+notFinal+` ORDER BY t.id FOR UPDATE OF t
		), upd AS (
			UPDATE tasks t SET ready = true,
				ready_seq = CASE WHEN NOT t.ready THEN nextval('tasks_ready_seq') ELSE t.ready_seq END
			FROM target WHERE t.id = target.id RETURNING t.id
		)
		SELECT pg_notify($2, '') FROM (SELECT 1 FROM upd LIMIT 1) AS any_woken`, names, readyChannel)
	b.Queue(`UPDATE world_clock SET clock = clock + 1`)
	b.Queue(`INSERT INTO world (name, value, version, clock, token)
		SELECT n, v, ver, (SELECT clock FROM world_clock), tok
		FROM unnest($1::text[], $2::bytea[], $3::bigint[], $4::bigint[]) AS x(n, v, ver, tok)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, version = excluded.version, clock = excluded.clock,
			token = excluded.token`,
		names, values, versions, tokens)
	b.Queue(`SELECT pg_notify($1, (SELECT clock FROM world_clock)::text)`, channel)
}

// World returns every world var and the clock, from one snapshot.
func (s *Store) World(ctx context.Context) (store.WorldSnapshot, error) {
	return s.WorldSince(ctx, 0)
}

// WorldSince returns the world vars written after clock, and the clock,
// from one snapshot (REPEATABLE READ): since world commits become visible
// in clock order, it holds every commit up to its clock and none after.
func (s *Store) WorldSince(ctx context.Context, clock uint64) (store.WorldSnapshot, error) {
	var snap store.WorldSnapshot
	build := func() *pgx.Batch {
		snap = store.WorldSnapshot{}
		b := &pgx.Batch{}
		b.Queue(`BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY`)
		b.Queue(`SELECT clock FROM world_clock`).QueryRow(func(row pgx.Row) error { return row.Scan(&snap.Clock) })
		b.Queue(`SELECT name, value, version, clock FROM world WHERE clock > $1 OR $1 = 0 ORDER BY name COLLATE "C"`,
			int64(clock)).Query(func(rows pgx.Rows) error {
			var v store.WorldValue
			_, err := pgx.ForEachRow(rows, []any{&v.Name, &v.Value, &v.Version, &v.Clock}, func() error {
				snap.Vars = append(snap.Vars, v)
				return nil
			})
			return err
		})
		b.Queue(`COMMIT`)
		return b
	}
	for attempt := 0; ; attempt++ {
		err := s.pool.SendBatch(ctx, build()).Close()
		if err == nil {
			return snap, nil
		}
		if attempt == 3 || !connectionLost(err) || ctx.Err() != nil {
			return store.WorldSnapshot{}, fmt.Errorf("postgres: world: %w", err)
		}
	}
}

// WorldClock returns the clock of the last world commit.
func (s *Store) WorldClock(ctx context.Context) (uint64, error) {
	var clock uint64
	if err := s.pool.QueryRow(ctx, `SELECT clock FROM world_clock`).Scan(&clock); err != nil {
		return 0, fmt.Errorf("postgres: world clock: %w", err)
	}
	return clock, nil
}

// WorldCommitted returns a channel that receives the world clock after
// world commits, in this process or another: a world commit NOTIFYs the
// schema's world channel with its clock, and the listener (see Ready)
// forwards it. While the listener is disconnected, the clock is polled
// every PollInterval. The channel holds the latest clock only.
func (s *Store) WorldCommitted() <-chan uint64 {
	s.startListening()
	return s.worldClock
}

// signalWorld passes clock to WorldCommitted's reader, replacing an older
// one it has not read.
func (s *Store) signalWorld(clock uint64) {
	for {
		select {
		case s.worldClock <- clock:
			return
		default:
		}
		select {
		case old := <-s.worldClock:
			clock = max(clock, old)
		default:
		}
	}
}

// pollWorld reads the clock and passes it on.
func (s *Store) pollWorld(ctx context.Context) {
	if clock, err := s.WorldClock(ctx); err == nil {
		s.signalWorld(clock)
	}
}

// worldNotification passes on the clock a world commit notified.
func (s *Store) worldNotification(payload string) error {
	clock, err := strconv.ParseUint(payload, 10, 64)
	if err != nil {
		return errors.New("postgres: a world notification without a clock: " + payload)
	}
	s.signalWorld(clock)
	return nil
}

// Landed tells what became of step st (see store.Store.Landed), from the
// rows as committed.
func (s *Store) Landed(ctx context.Context, st store.Step) (store.Outcome, error) {
	if st.Token == 0 {
		return 0, fmt.Errorf("postgres: landed: %w", store.ErrNoToken)
	}
	if st.ID == "" {
		names := make([]string, len(st.World))
		for i, w := range st.World {
			names[i] = w.Name
		}
		rows, _ := s.pool.Query(ctx, `SELECT name, version, token FROM world WHERE name = ANY($1)`, names)
		type row struct{ version, token uint64 }
		cur := map[string]row{}
		var name string
		var version, token int64
		_, err := pgx.ForEachRow(rows, []any{&name, &version, &token}, func() error {
			cur[name] = row{uint64(version), uint64(token)}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("postgres: landed: %w", err)
		}
		return verdict.LandedWorld(st, func(name string) (uint64, uint64) { return cur[name].version, cur[name].token }), nil
	}
	var (
		steps, epoch, token int64
		owner               *string
	)
	err := s.pool.QueryRow(ctx, `SELECT version, token, lease_owner, lease_epoch FROM tasks WHERE id = $1`, st.ID).
		Scan(&steps, &token, &owner, &epoch)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, fmt.Errorf("postgres: landed %q: %w", st.ID, store.ErrNotFound)
	case err != nil:
		return 0, fmt.Errorf("postgres: landed %q: %w", st.ID, err)
	}
	holder := ""
	if owner != nil {
		holder = *owner
	}
	return verdict.Landed(st, uint64(steps), uint64(token), holder, uint64(epoch)), nil
}
