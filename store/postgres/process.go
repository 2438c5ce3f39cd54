package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// Process state: links and monitors in table links, a task's exit flag
// (trap) and registered name in its row, exit signals in mailboxes with
// their tag (task.Signal.Tag) beside them so that an Unlink or a
// Demonitor can void them.
//
// Commit plays the steps' process ops and ends in Go, in step order, on
// what it locked and read (as the in-memory reference store does), and
// writes the outcome with the set-based statements of its last round trip.
//
// # Why no exit signal is lost
//
// Every change to process state is made under row locks of the tasks rows
// it concerns, taken before anything about them is read:
//
//   - Link, Unlink, Monitor and Kill lock their peer's row as well as the
//     task's, in Commit's first round trip (all rows in ID order). A link
//     or monitor is made only if the locked peer is unfinished, and marks
//     both rows proc.
//   - The end of a task whose row (read under its lock) says proc locks the
//     peers of its links and the watchers of its monitors, then reads its
//     links (see readLinks): the links of a locked task cannot change
//     until it commits, since making or removing one needs its lock.
//
// So a link to x committed concurrently with x's end is serialized with it
// on x's row: if the link commits first, the end's lock returns x's row as
// the link left it (READ COMMITTED re-reads a row it waited for), with
// proc set, and the end's later read of links sees the link and signals;
// if the end commits first, the link's lock returns x finished and the
// task gets a noproc signal instead. An Unlink locks both ends and a
// Demonitor its watcher, which the end of the watched task locks too, so
// a signal is either never sent or sent before it is voided.
//
// # Why it cannot deadlock
//
// The first round trip locks in ID order, after the advisory locks of the
// names being registered (in key order). The peers of an end are found
// only after the ending task is locked, so they are locked out of that
// order, but with SKIP LOCKED: a commit never waits there. If a peer was
// skipped (another commit holds it), Commit rolls back and starts again
// with the peer in its first round trip (see Commit); after a few such
// restarts it waits for the peers instead, and a deadlock that PostgreSQL
// then reports (40P01) makes Commit start over from the beginning, nothing
// having been applied. Every write after that touches rows the commit has
// locked: the tasks rows it locked, mailbox rows of those tasks, and links
// rows, which are only written by commits that hold the lock of the link's
// both ends, or of the monitor's watcher.

// The kinds of links rows.
const (
	kindLink    = 1
	kindMonitor = 2
)

// restartsBeforeWaiting is how many times a commit starts again because
// the peers of an ending task were locked by other commits, before it
// waits for them.
const restartsBeforeWaiting = 3

// procLink is a link or monitor as a commit sees it: read for the tasks
// whose ends it commits, or made by one of its steps.
type procLink struct {
	id            int64 // in table links; 0 for one made by this commit
	kind          int16
	owner, target string // a link's ends (owner < target); a monitor's watcher and watched task
	ref           string
	gone          bool
}

// between reports whether l is a link between a and b.
func (l *procLink) between(a, b string) bool {
	return l.kind == kindLink && (l.owner == a && l.target == b || l.owner == b && l.target == a)
}

// linkEnds orders the ends of a link as they are stored.
func linkEnds(a, b string) (string, string) {
	if a > b {
		return b, a
	}
	return a, b
}

// procWriter gathers the process-state writes of a commit. It is empty,
// and queues nothing, for steps with no process ops that end tasks that
// never had process state.
type procWriter struct {
	links    []*procLink       // oldest first: those read (by id), then those made
	holders  map[string]string // registered name -> task, for the names steps register
	delIDs   []int64           // links rows removed by ends
	unA      []string          // link pairs removed by Unlink
	unB      []string
	demOwner []string // monitors removed by Demonitor
	demRef   []string
	voidID   []string // signals voided by Unlink and Demonitor
	voidTag  []string
	trap     map[string]bool
	trapOrd  []string
	mark     []string        // tasks that now have process state
	names    map[string]bool // tasks whose name changed (the new one is in their taskState)
	nameOrd  []string
}

// checkNames refuses a step that registers a name another task holds.
func (p *procWriter) checkNames(st *store.Step) error {
	for _, op := range st.Proc {
		if op.Kind != store.ProcRegister {
			continue
		}
		if h := p.holders[op.Name]; h != "" && h != st.ID {
			return fmt.Errorf("postgres: commit task %q: register %q: %w (task %q)", st.ID, op.Name, store.ErrNameTaken, h)
		}
	}
	return nil
}

func live(states map[string]*taskState, id string) bool {
	ts := states[id]
	return ts != nil && !ts.status.Final()
}

// signal delivers sig to task to if it is unfinished (at this point of the
// commit); unknown tasks get nothing.
func (w *commitWriter) signal(states map[string]*taskState, to string, sig task.Signal) error {
	if !live(states, to) {
		return nil
	}
	data, err := sig.Encode()
	if err != nil {
		return err
	}
	w.sendTo = append(w.sendTo, to)
	w.sendEnv = append(w.sendEnv, data)
	w.sendTag = append(w.sendTag, sig.Tag())
	w.tagged = true
	w.notify = true
	return nil
}

// void removes the signals tagged tag from task id's mailbox: those this
// commit delivered so far, and (by a statement that runs before this
// commit's deliveries) those already there.
func (w *commitWriter) void(id, tag string) {
	k := 0
	for i := range w.sendTo {
		if w.sendTo[i] == id && w.sendTag[i] == tag {
			continue
		}
		w.sendTo[k], w.sendEnv[k], w.sendTag[k] = w.sendTo[i], w.sendEnv[i], w.sendTag[i]
		k++
	}
	w.sendTo, w.sendEnv, w.sendTag = w.sendTo[:k], w.sendEnv[:k], w.sendTag[:k]
	p := &w.proc
	p.voidID = append(p.voidID, id)
	p.voidTag = append(p.voidTag, tag)
}

// markProc notes that the tasks have process state.
func (p *procWriter) markProc(states map[string]*taskState, ids ...string) {
	for _, id := range ids {
		if ts := states[id]; ts != nil && !ts.proc {
			ts.proc = true
			p.mark = append(p.mark, id)
		}
	}
}

// setName gives task id the name (or none), keeping holders in step.
func (p *procWriter) setName(ts *taskState, id, name string) {
	if ts.name == name {
		return
	}
	if ts.name != "" && p.holders[ts.name] == id {
		delete(p.holders, ts.name)
	}
	ts.name = name
	if name != "" {
		if p.holders == nil {
			p.holders = map[string]string{}
		}
		p.holders[name] = id
	}
	if p.names == nil {
		p.names = map[string]bool{}
	}
	if !p.names[id] {
		p.names[id] = true
		p.nameOrd = append(p.nameOrd, id)
	}
}

// applyProc plays a process op of task id's step, which has passed.
func (w *commitWriter) applyProc(states map[string]*taskState, id string, op store.ProcOp) error {
	p := &w.proc
	switch op.Kind {
	case store.ProcLink:
		if op.Peer == id {
			return nil
		}
		if !live(states, op.Peer) {
			return w.signal(states, id, store.NoProc(op))
		}
		if slices.ContainsFunc(p.links, func(l *procLink) bool { return !l.gone && l.between(id, op.Peer) }) {
			return nil
		}
		// A link already in the table that this commit did not read is
		// not inserted again (the insert checks).
		a, b := linkEnds(id, op.Peer)
		p.links = append(p.links, &procLink{kind: kindLink, owner: a, target: b})
		p.markProc(states, id, op.Peer)
	case store.ProcUnlink:
		for _, l := range p.links {
			if l.between(id, op.Peer) {
				l.gone = true
			}
		}
		a, b := linkEnds(id, op.Peer)
		p.unA, p.unB = append(p.unA, a), append(p.unB, b)
		w.void(id, task.Signal{Kind: task.SignalLink, From: op.Peer}.Tag())
	case store.ProcMonitor:
		if !live(states, op.Peer) {
			return w.signal(states, id, store.NoProc(op))
		}
		p.links = append(p.links, &procLink{kind: kindMonitor, owner: id, target: op.Peer, ref: op.Ref})
		p.markProc(states, id, op.Peer)
	case store.ProcDemonitor:
		for _, l := range p.links {
			if l.kind == kindMonitor && l.owner == id && l.ref == op.Ref {
				l.gone = true
			}
		}
		p.demOwner, p.demRef = append(p.demOwner, id), append(p.demRef, op.Ref)
		w.void(id, task.Signal{Kind: task.SignalDown, Ref: op.Ref}.Tag())
	case store.ProcTrap:
		if p.trap == nil {
			p.trap = map[string]bool{}
		}
		if _, ok := p.trap[id]; !ok {
			p.trapOrd = append(p.trapOrd, id)
		}
		p.trap[id] = op.On
	case store.ProcRegister:
		p.setName(states[id], id, op.Name)
		p.markProc(states, id)
	case store.ProcKill:
		return w.signal(states, op.Peer, task.Signal{Kind: task.SignalKill, From: id, Reason: op.Reason})
	}
	return nil
}

// exit plays the end of task id with reason: its links and the monitors of
// it become signals, in the order they were made; they, the monitors it
// held and its name go. For a task that never had process state, and made
// none in this commit, it does nothing.
func (w *commitWriter) exit(states map[string]*taskState, id, reason string) error {
	p := &w.proc
	for _, l := range p.links {
		if l.gone || (l.owner != id && l.target != id) {
			continue
		}
		l.gone = true
		if l.id != 0 {
			p.delIDs = append(p.delIDs, l.id)
		}
		var err error
		switch {
		case l.kind == kindLink && l.owner == id:
			err = w.signal(states, l.target, task.Signal{Kind: task.SignalLink, From: id, Reason: reason})
		case l.kind == kindLink:
			err = w.signal(states, l.owner, task.Signal{Kind: task.SignalLink, From: id, Reason: reason})
		case l.target == id: // a monitor of id (by itself: it has ended, so it gets nothing)
			err = w.signal(states, l.owner, task.Signal{Kind: task.SignalDown, From: id, Reason: reason, Ref: l.ref})
		}
		if err != nil {
			return err
		}
	}
	if ts := states[id]; ts.name != "" {
		p.setName(ts, id, "")
	}
	return nil
}

// queueDeletes adds the link deletions and the voids to b: they run before
// the commit's deliveries and link inserts, so that they remove only what
// was there before.
func (p *procWriter) queueDeletes(b *pgx.Batch) {
	if len(p.delIDs) > 0 {
		b.Queue(`DELETE FROM links WHERE id = ANY($1)`, p.delIDs)
	}
	if len(p.unA) > 0 {
		b.Queue(`DELETE FROM links l USING unnest($1::text[], $2::text[]) AS u(a, b)
			WHERE l.kind = 1 AND l.owner = u.a AND l.target = u.b`, p.unA, p.unB)
	}
	if len(p.demOwner) > 0 {
		b.Queue(`DELETE FROM links l USING unnest($1::text[], $2::text[]) AS d(owner, ref)
			WHERE l.kind = 2 AND l.owner = d.owner AND l.ref = d.ref`, p.demOwner, p.demRef)
	}
	if len(p.voidID) > 0 {
		b.Queue(`DELETE FROM mailbox m USING unnest($1::text[], $2::text[]) AS v(task_id, tag)
			WHERE m.task_id = v.task_id AND m.tag = v.tag`, p.voidID, p.voidTag)
	}
}

// queueWrites adds the new links and the tasks' process columns to b,
// after the commit's spawns (a spawned task can be linked) and deliveries.
func (p *procWriter) queueWrites(b *pgx.Batch, states map[string]*taskState) {
	var kind []int16
	var owner, target, ref []string
	for _, l := range p.links {
		if l.id == 0 && !l.gone {
			kind = append(kind, l.kind)
			owner, target, ref = append(owner, l.owner), append(target, l.target), append(ref, l.ref)
		}
	}
	if len(kind) > 0 {
		// Ids in the order the links were made. Both ends of each are
		// locked, so no other commit makes the same link meanwhile.
		b.Queue(`INSERT INTO links (kind, owner, target, ref)
			SELECT n.kind, n.owner, n.target, n.ref
			FROM unnest($1::smallint[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS n(kind, owner, target, ref, ord)
			WHERE n.kind <> 1 OR NOT EXISTS (
				SELECT 1 FROM links l WHERE l.kind = 1 AND l.owner = n.owner AND l.target = n.target)
			ORDER BY n.ord`, kind, owner, target, ref)
	}
	if len(p.mark) > 0 {
		b.Queue(`UPDATE tasks SET proc = true WHERE id = ANY($1) AND NOT proc`, p.mark)
	}
	if len(p.trapOrd) > 0 {
		on := make([]bool, len(p.trapOrd))
		for i, id := range p.trapOrd {
			on[i] = p.trap[id]
		}
		b.Queue(`UPDATE tasks t SET trap = v.trap FROM unnest($1::text[], $2::bool[]) AS v(id, trap)
			WHERE t.id = v.id`, p.trapOrd, on)
	}
	if len(p.nameOrd) > 0 {
		// Names given up first, so that the unique index never sees a
		// name twice, whatever order the tasks changed in.
		names := make([]string, len(p.nameOrd))
		for i, id := range p.nameOrd {
			names[i] = states[id].name
		}
		b.Queue(`UPDATE tasks SET name = '' WHERE id = ANY($1) AND name <> ''`, p.nameOrd)
		b.Queue(`UPDATE tasks t SET name = n.name FROM unnest($1::text[], $2::text[]) AS n(id, name)
			WHERE t.id = n.id AND n.name <> ''`, p.nameOrd, names)
	}
}

// endingWithProc returns the tasks that steps end and that have process
// state in the table: the ones whose links a commit must read.
func endingWithProc(steps []store.Step, errs []error, states map[string]*taskState) []string {
	var ids []string
	for i := range steps {
		st := &steps[i]
		if errs[i] != nil || st.ID == "" || !st.Status.Final() {
			continue
		}
		if ts := states[st.ID]; ts != nil && ts.proc && !ts.spawned && !slices.Contains(ids, st.ID) {
			ids = append(ids, st.ID)
		}
	}
	return ids
}

// readLinks locks the peers of the links and monitors of the ending tasks
// that are not locked yet (the other ends of their links, the watchers
// of them), adding them to states, then reads those links, oldest first.
// Unless wait is set it skips peers that other commits hold; missing
// lists the peers it did not lock (held by others, or unknown).
//
// The links are read after the peers are locked: every link of an ending
// task that the read returns existed when the lock statement ran (making
// one needs the ending task's lock, which the commit holds), so its peer
// was locked then or is listed in missing; and once both ends of a link
// or the watcher of a monitor are locked, no other commit can change it.
func (s *Store) readLinks(ctx context.Context, conn *pgxpool.Conn, ending, locked []string, states map[string]*taskState, wait bool) (links []*procLink, missing []string, err error) {
	lockMode := `FOR UPDATE SKIP LOCKED`
	if wait {
		lockMode = `FOR UPDATE`
	}
	b := &pgx.Batch{}
	b.Queue(lockSelect+` WHERE id IN (
			SELECT owner FROM links WHERE target = ANY($1)
			UNION SELECT target FROM links WHERE owner = ANY($1) AND kind = 1)
		AND id <> ALL($2) ORDER BY id `+lockMode, ending, locked).Query(func(rows pgx.Rows) error {
		return scanStates(rows, states)
	})
	b.Queue(`SELECT id, kind, owner, target, ref FROM links WHERE owner = ANY($1) OR target = ANY($1) ORDER BY id`,
		ending).Query(func(rows pgx.Rows) error {
		var l procLink
		_, err := pgx.ForEachRow(rows, []any{&l.id, &l.kind, &l.owner, &l.target, &l.ref}, func() error {
			x := l
			links = append(links, &x)
			return nil
		})
		return err
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, err
	}
	for _, l := range links {
		var peer string
		switch {
		case l.kind == kindLink && slices.Contains(ending, l.owner):
			peer = l.target
		case l.kind == kindLink:
			peer = l.owner
		case slices.Contains(ending, l.target):
			peer = l.owner
		default:
			continue // a monitor an ending task holds: its row is locked
		}
		if states[peer] == nil && !slices.Contains(missing, peer) {
			missing = append(missing, peer)
		}
	}
	return links, missing, nil
}

// WhereIs returns the unfinished task registered under name, or "".
func (s *Store) WhereIs(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id FROM tasks WHERE name = $1`, name).Scan(&id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("postgres: where is %q: %w", name, err)
	}
	return id, nil
}

// isDeadlock reports whether err is PostgreSQL's deadlock_detected: the
// transaction was rolled back, and may be run again.
func isDeadlock(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40P01"
}
