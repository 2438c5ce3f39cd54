package sqlite

import (
	"context"
	"database/sql"

	sqlitedrv "modernc.org/sqlite"
)

// TxStats returns the transactions the writer of s committed, the task
// steps they wrote and the pages the writer's connection wrote (WAL
// frames).
func TxStats(s *Store) (txs, steps, pages int64) {
	return s.txs.Load(), s.txSteps.Load(), ConnPages(s.wconn)
}

// ConnPages returns the pages that connection c has written (WAL frames).
func ConnPages(c *sql.Conn) int64 {
	var n int
	c.Raw(func(dc any) error {
		if st, ok := dc.(sqlitedrv.DBStatus); ok {
			n, _, _ = st.Status(sqlitedrv.DBStatusCacheWrite, false)
		}
		return nil
	})
	return int64(n)
}

// TxStmts returns the statements that the transactions of the writer of
// s that committed ran, BEGIN and COMMIT included.
func TxStmts(s *Store) int64 { return s.txStmts.Load() }

// SwapRowHints gives tasks a and b each other's rowid in the writer's
// hints (Store.rowHint), as hints gone wrong would.
func SwapRowHints(s *Store, a, b string) error {
	return s.submit(context.Background(), func(w *wtx) (refused, err error) {
		var ra, rb int64
		if err := w.scan(`SELECT rowid FROM tasks WHERE id = ?`, []any{a}, &ra); err != nil {
			return nil, err
		}
		if err := w.scan(`SELECT rowid FROM tasks WHERE id = ?`, []any{b}, &rb); err != nil {
			return nil, err
		}
		w.hintRowid(a, rb)
		w.hintRowid(b, ra)
		return nil, nil
	})
}

// TaskSteps returns the steps column of task id.
func TaskSteps(s *Store, id string) (steps int64, err error) {
	err = s.rdb.QueryRow(`SELECT steps FROM tasks WHERE id = ?`, id).Scan(&steps)
	return steps, err
}
