package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// Process state: links and monitors in table links, a task's exit flag
// and name in its row, exit signals in mailboxes with a tag. The store has
// one writer, so a link made while its peer ends cannot race with the end:
// one of the two commits first, and the other sees it.

const (
	kindLink    = 1
	kindMonitor = 2
)

// nameFree checks, before a step writes anything, that the name it
// registers is not held by another task.
func (w *wtx) nameFree(id, name string) (refused, err error) {
	if name == "" {
		return errors.New("register an empty name"), nil
	}
	var holder string
	err = w.scan(`SELECT id FROM tasks WHERE name = ? AND id != ?`, []any{name, id}, &holder)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return fmt.Errorf("register %q: %w (task %s)", name, store.ErrNameTaken, holder), nil
}

// live reports whether task id exists and has not finished.
func (w *wtx) live(id string) (bool, error) {
	var n int
	err := w.scan(`SELECT 1 FROM tasks WHERE id = ? AND `+notFinal, []any{id}, &n)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// signal delivers an exit signal to task to, unless it has finished or
// does not exist.
func (w *wtx) signal(to string, sig task.Signal) error {
	b, err := sig.Encode()
	if err != nil {
		return err
	}
	var tag any
	if t := sig.Tag(); t != "" {
		tag = t
	}
	_, err = w.deliverTagged(to, b, false, tag)
	return err
}

// markProc notes that the tasks have process state, for exit to release.
func (w *wtx) markProc(ids ...string) error {
	for _, id := range ids {
		if _, err := w.exec(`UPDATE tasks SET proc = 1 WHERE id = ? AND proc = 0`, id); err != nil {
			return err
		}
	}
	return nil
}

// applyProc applies one process op of task id's step.
func (w *wtx) applyProc(id string, op store.ProcOp) error {
	switch op.Kind {
	case store.ProcLink:
		if op.Peer == id {
			return nil
		}
		if ok, err := w.live(op.Peer); err != nil || !ok {
			if err != nil {
				return err
			}
			return w.signal(id, store.NoProc(op))
		}
		var n int
		err := w.scan(`SELECT 1 FROM links WHERE kind = 1 AND (owner = ?1 AND target = ?2 OR owner = ?2 AND target = ?1)`,
			[]any{id, op.Peer}, &n)
		if err == nil {
			return nil // linked already
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := w.exec(`INSERT INTO links (kind, owner, target) VALUES (1, ?, ?)`, id, op.Peer); err != nil {
			return err
		}
		return w.markProc(id, op.Peer)
	case store.ProcUnlink:
		if _, err := w.exec(`DELETE FROM links WHERE kind = 1 AND (owner = ?1 AND target = ?2 OR owner = ?2 AND target = ?1)`,
			id, op.Peer); err != nil {
			return err
		}
		return w.void(id, task.Signal{Kind: task.SignalLink, From: op.Peer}.Tag())
	case store.ProcMonitor:
		if ok, err := w.live(op.Peer); err != nil || !ok {
			if err != nil {
				return err
			}
			return w.signal(id, store.NoProc(op))
		}
		if _, err := w.exec(`INSERT INTO links (kind, owner, target, ref) VALUES (2, ?, ?, ?)`, id, op.Peer, op.Ref); err != nil {
			return err
		}
		return w.markProc(id, op.Peer)
	case store.ProcDemonitor:
		if _, err := w.exec(`DELETE FROM links WHERE kind = 2 AND owner = ? AND ref = ?`, id, op.Ref); err != nil {
			return err
		}
		return w.void(id, task.Signal{Kind: task.SignalDown, Ref: op.Ref}.Tag())
	case store.ProcTrap:
		_, err := w.exec(`UPDATE tasks SET trap = ? WHERE id = ?`, op.On, id)
		return err
	case store.ProcRegister:
		_, err := w.exec(`UPDATE tasks SET name = ?, proc = 1 WHERE id = ?`, op.Name, id)
		return err
	case store.ProcKill:
		return w.signal(op.Peer, task.Signal{Kind: task.SignalKill, From: id, Reason: op.Reason})
	}
	return fmt.Errorf("unknown process op %d", op.Kind)
}

// void deletes the signals tagged tag from task id's mailbox.
func (w *wtx) void(id, tag string) error {
	_, err := w.exec(`DELETE FROM mailbox WHERE task_id = ? AND tag = ?`, id, tag)
	return err
}

// exit releases the process state of task id, which just finished with
// reason and has some (its proc flag): its links and the monitors of it
// become signals, in the order they were made; the monitors it held and
// its name go.
func (w *wtx) exit(id, reason string) error {
	rows, err := w.query(`SELECT kind, owner, target, ref FROM links WHERE owner = ?1 OR target = ?1 ORDER BY id`, id)
	if err != nil {
		return err
	}
	type out struct {
		to  string
		sig task.Signal
	}
	var sigs []out
	for rows.Next() {
		var (
			kind               int
			owner, target, ref string
		)
		if err := rows.Scan(&kind, &owner, &target, &ref); err != nil {
			rows.Close()
			return err
		}
		switch {
		case kind == kindLink && owner == id:
			sigs = append(sigs, out{target, task.Signal{Kind: task.SignalLink, From: id, Reason: reason}})
		case kind == kindLink:
			sigs = append(sigs, out{owner, task.Signal{Kind: task.SignalLink, From: id, Reason: reason}})
		case kind == kindMonitor && target == id && owner != id:
			sigs = append(sigs, out{owner, task.Signal{Kind: task.SignalDown, From: id, Reason: reason, Ref: ref}})
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if _, err := w.exec(`DELETE FROM links WHERE owner = ?1 OR target = ?1`, id); err != nil {
		return err
	}
	if _, err := w.exec(`UPDATE tasks SET name = '' WHERE id = ? AND name != ''`, id); err != nil {
		return err
	}
	for _, s := range sigs {
		if err := w.signal(s.to, s.sig); err != nil {
			return err
		}
	}
	return nil
}
