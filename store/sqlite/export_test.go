package sqlite

import sqlitedrv "modernc.org/sqlite"

// TxStats returns the transactions the writer of s committed, the task
// steps they wrote and the pages the writer's connection wrote (WAL
// frames).
func TxStats(s *Store) (txs, steps, pages int64) {
	var n int
	s.wconn.Raw(func(dc any) error {
		if st, ok := dc.(sqlitedrv.DBStatus); ok {
			n, _, _ = st.Status(sqlitedrv.DBStatusCacheWrite, false)
		}
		return nil
	})
	return s.txs.Load(), s.txSteps.Load(), int64(n)
}

// TxStmts returns the statements that the transactions of the writer of
// s that committed ran, BEGIN and COMMIT included.
func TxStmts(s *Store) int64 { return s.txStmts.Load() }
